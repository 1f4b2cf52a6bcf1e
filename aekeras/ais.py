"""The log-likelihood of a Bernoulli RBM: log Z by annealed importance sampling (lecture 08).

log p(v) = -F(v) - log Z needs the partition function Z = Σ_v e^{-F(v)}, a sum over 2^D
visible states. :func:`exact_log_partition` sums over the 2^H hidden states instead (tiny H);
:func:`ais_log_partition` estimates it for any size by annealed importance sampling from a
base-rate RBM to the target, as Salakhutdinov & Murray (2008), "On the quantitative analysis
of deep belief networks" (ICML), did for MNIST RBMs, following Neal (2001), "Annealed
importance sampling" (Statistics and Computing 11). :func:`rbm_log_likelihood` subtracts it.

The AIS loop is written with `keras.ops` and `keras.random` (one seed generator) only, and is
batched over the AIS runs, so it runs on TensorFlow, JAX and PyTorch alike.
"""

import collections
import math

import keras
import numpy as np
from keras import ops
from scipy.special import logsumexp

__all__ = [
    "AISEstimate",
    "ais_betas",
    "ais_log_partition",
    "base_rate_bias",
    "exact_log_partition",
    "rbm_log_likelihood",
]

AISEstimate = collections.namedtuple("AISEstimate", ["log_z", "log_weights", "log_z_base"])
AISEstimate.__doc__ = """The result of :func:`ais_log_partition`.

Fields:
    log_z: the estimate log Ẑ = log mean_r exp(log w_r) + log Z_A (a float).
    log_weights: the log importance weight log w_r of each AIS run, NumPy (n_runs,);
        log w_r + log Z_A is run r's own estimate, so their spread shows the estimate's.
    log_z_base: log Z_A of the base-rate RBM (exact).
"""


def _parameters(rbm):
    """(W, b, c) as NumPy float64 from an `aekeras.models.RBM` or a triple."""
    if hasattr(rbm, "kernel") or hasattr(rbm, "visible_bias"):
        rbm._ensure_built()
        arrays = (rbm.kernel, rbm.visible_bias, rbm.hidden_bias)
        W, b, c = (np.asarray(ops.convert_to_numpy(a), dtype=np.float64) for a in arrays)
    else:
        try:
            W, b, c = (np.asarray(a, dtype=np.float64) for a in rbm)
        except (TypeError, ValueError):
            raise ValueError(
                "Expected an `aekeras.models.RBM` or a triple (W, b_v, b_h). "
                f"Received: {type(rbm).__name__}"
            ) from None
    if W.ndim != 2 or b.shape != (W.shape[0],) or c.shape != (W.shape[1],):
        raise ValueError(
            "Expected W (n_visible, n_hidden), b_v (n_visible,) and b_h (n_hidden,). "
            f"Received: W.shape={W.shape}, b_v.shape={b.shape}, b_h.shape={c.shape}"
        )
    return W, b, c


def exact_log_partition(rbm, chunk_size=4096):
    """log Z of a Bernoulli RBM, exactly, by summing over its 2^H hidden states (H ≤ 25).

    Formula:
        log Z = log Σ_h exp(b_hᵀh + Σ_i softplus(b_v,i + (Wh)_i))
        (the visible units summed out as the hidden ones are in F(v)), in float64 NumPy.

    Args:
        rbm: an `aekeras.models.RBM`, or a triple `(W, b_v, b_h)` with W (n_visible, n_hidden).
        chunk_size: hidden states per block, to bound memory.

    Returns:
        log Z as a Python float.
    """
    W, b, c = _parameters(rbm)
    n_hidden = W.shape[1]
    if n_hidden > 25:
        raise ValueError(
            "`exact_log_partition` enumerates 2^n_hidden states; use it for n_hidden <= 25. "
            f"Received: n_hidden={n_hidden}"
        )
    bits = 1 << np.arange(n_hidden)
    blocks = []
    for start in range(0, 2**n_hidden, chunk_size):
        index = np.arange(start, min(start + chunk_size, 2**n_hidden))
        h = ((index[:, None] & bits) > 0).astype(np.float64)  # every hidden state once
        blocks.append(logsumexp(h @ c + np.logaddexp(0, h @ W.T + b).sum(axis=1)))
    return float(logsumexp(blocks))


def base_rate_bias(x, smoothing=1.0):
    """Visible biases of the base-rate model: the log-odds of the data's smoothed marginals.

    Formula:
        p_i = (Σ_n x_ni + α) / (N + 2α),  b_A,i = log p_i - log(1 - p_i)
        (Salakhutdinov & Murray 2008, §4.2: the base-rate model; α keeps always-off pixels
        finite).

    Args:
        x: binary data, (N, n_visible).
        smoothing: the pseudo-count α > 0.

    Returns:
        float64 NumPy array (n_visible,).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"Expected x of shape (N, n_visible). Received: x.shape={x.shape}")
    if not smoothing > 0:
        raise ValueError(f"`smoothing` must be positive. Received: smoothing={smoothing!r}")
    p = (x.sum(axis=0) + smoothing) / (len(x) + 2 * smoothing)
    return np.log(p) - np.log1p(-p)


def ais_betas(n_betas):
    """The inverse temperatures 0 = β_0 < … < β_K = 1 of Salakhutdinov & Murray (2008).

    Their schedule for MNIST: 14,500 values, spaced uniformly, 500 in [0, 0.5), 4,000 in
    [0.5, 0.9) and 10,000 in [0.9, 1]; `ais_betas(14_500)` gives it, and a smaller `n_betas`
    the same shape with proportionally fewer steps.

    Returns:
        float64 NumPy array (n_betas,), starting at 0 and ending at 1.
    """
    if not isinstance(n_betas, (int, np.integer)) or n_betas < 3:
        raise ValueError(f"`n_betas` must be an integer >= 3. Received: n_betas={n_betas!r}")
    first = max(1, round(n_betas * 500 / 14_500))
    second = max(1, round(n_betas * 4_000 / 14_500))
    third = n_betas - first - second
    return np.concatenate(
        [
            np.linspace(0.0, 0.5, first, endpoint=False),
            np.linspace(0.5, 0.9, second, endpoint=False),
            np.linspace(0.9, 1.0, third),
        ]
    )


def ais_log_partition(
    rbm, n_runs=100, n_betas=1_000, betas=None, base_bias=None, data=None, seed=None
):
    """log Z of a Bernoulli RBM by annealed importance sampling (Neal 2001; S&M 2008).

    Formula:
        p*_β(v) = exp((1-β) b_Aᵀv + β b_vᵀv) Π_j (1 + exp(β (b_h + vW)_j)), from the base-rate
        RBM A (p*_0, with Z_A = 2^H Π_i (1 + e^{b_A,i})) to the target B (p*_1, Z_B = Z).
        Each run draws v ~ p_0, then for k = 1…K adds log p*_{β_k}(v) - log p*_{β_{k-1}}(v)
        to its log weight and moves v by one Gibbs step h ~ p(h|v), v ~ p(v|h) that leaves
        p_{β_k} invariant. E[w] = Z_B / Z_A, so log Ẑ = log mean_r w_r + log Z_A
        (Salakhutdinov & Murray 2008, "On the quantitative analysis of deep belief networks",
        Algorithm 2 and §4.2; Neal 2001). Ẑ is unbiased, so log Ẑ underestimates log Z in
        expectation (Jensen), and a log-likelihood computed with it overestimates.

    Args:
        rbm: an `aekeras.models.RBM`, or a triple `(W, b_v, b_h)` with W (n_visible, n_hidden).
        n_runs: independent AIS runs (S&M: 100), all advanced together as one batch.
        n_betas: the number of intermediate distributions β_0…β_K, spaced as in S&M 2008
            (see :func:`ais_betas`); ignored when `betas` is given.
        betas: the inverse temperatures, increasing from 0 to 1.
        base_bias: visible biases b_A of the base-rate RBM; default from `data` with
            :func:`base_rate_bias`, or zeros (the uniform distribution) without data.
        data: binary training data for the base rate (S&M: the training set).
        seed: seed of the sampler (a `keras.random.SeedGenerator` is made from it).

    Returns:
        An :class:`AISEstimate` `(log_z, log_weights, log_z_base)`.
    """
    W, b, c = _parameters(rbm)
    n_visible, n_hidden = W.shape
    if not isinstance(n_runs, (int, np.integer)) or n_runs < 1:
        raise ValueError(f"`n_runs` must be a positive integer. Received: n_runs={n_runs!r}")
    betas = ais_betas(n_betas) if betas is None else np.asarray(betas, dtype=np.float64)
    if betas.ndim != 1 or len(betas) < 2 or betas[0] != 0 or betas[-1] != 1:
        raise ValueError("`betas` must run from 0 to 1. Received: " + np.array2string(betas[:5]))
    if np.any(np.diff(betas) <= 0):
        raise ValueError("`betas` must be strictly increasing.")
    if base_bias is None:
        base_bias = np.zeros(n_visible) if data is None else base_rate_bias(data)
    base_bias = np.asarray(base_bias, dtype=np.float64)
    if base_bias.shape != (n_visible,):
        raise ValueError(f"Expected base_bias of shape ({n_visible},). Received: {base_bias.shape}")
    log_z_base = float(np.logaddexp(0, base_bias).sum() + n_hidden * math.log(2))

    dtype = "float32"
    W_, W_t, c_, b_a, gap = (
        ops.convert_to_tensor(a, dtype=dtype) for a in (W, W.T, c, base_bias, b - base_bias)
    )
    generator = keras.random.SeedGenerator(seed)
    chunk = 64  # Gibbs steps whose noise is drawn at once: one random call per chunk
    # Fixed shapes and tensor indices, so JAX compiles each operation once, not once per step.
    noise = {}

    def bernoulli(logits, step):  # u < σ(a) ⇔ log u - log(1 - u) < a
        units = logits.shape[-1]
        if step % chunk == 0:
            shape = (chunk, n_runs, units)
            u = keras.random.uniform(
                shape, minval=1e-7, maxval=1 - 1e-7, dtype=dtype, seed=generator
            )
            noise[units] = ops.log(u) - ops.log1p(-u)
        index = ops.convert_to_tensor(step % chunk, dtype="int32")
        return ops.cast(ops.less(ops.take(noise[units], index, axis=0), logits), dtype)

    # Exact samples of p_0: independent pixels with log-odds b_A.
    v = bernoulli(ops.broadcast_to(b_a, (n_runs, n_visible)), 0)
    visible_gap = ops.matmul(v, gap)  # (b_v - b_A)ᵀv
    hidden_input = ops.matmul(v, W_) + c_
    log_w = ops.zeros((n_runs,), dtype=dtype)
    for k in range(1, len(betas)):
        beta, previous = float(betas[k]), float(betas[k - 1])
        # log p*_β(v) - log p*_β'(v) = (β - β')(b_v - b_A)ᵀv + Σ_j [softplus(β a_j) - softplus(β' a_j)]
        softplus_gap = ops.softplus(beta * hidden_input) - ops.softplus(previous * hidden_input)
        log_w = log_w + (beta - previous) * visible_gap + ops.sum(softplus_gap, axis=-1)
        if k == len(betas) - 1:
            break
        # One Gibbs step that leaves p_β invariant: h ~ p_β(h|v), v ~ p_β(v|h).
        h = bernoulli(beta * hidden_input, k - 1)
        v = bernoulli(b_a + beta * (ops.matmul(h, W_t) + gap), k)
        visible_gap = ops.matmul(v, gap)
        hidden_input = ops.matmul(v, W_) + c_
    log_weights = np.asarray(ops.convert_to_numpy(log_w), dtype=np.float64)
    log_z = float(logsumexp(log_weights) - math.log(n_runs) + log_z_base)
    return AISEstimate(log_z, log_weights, log_z_base)


def rbm_log_likelihood(rbm, x, log_z):
    """The mean log-likelihood of binary data under a Bernoulli RBM, given log Z.

    Formula:
        (1/N) Σ_n log p(v_n) = (1/N) Σ_n -F(v_n) - log Z,
        F(v) = -b_vᵀv - Σ_j softplus(b_h,j + (vW)_j)  (the RBM's free energy).

    Args:
        rbm: an `aekeras.models.RBM` (its `free_energy`), or a triple `(W, b_v, b_h)`.
        x: binary data, (N, n_visible).
        log_z: log Z, e.g. `ais_log_partition(...).log_z` or `exact_log_partition(...)`.

    Returns:
        nats per example, a Python float.
    """
    x = np.asarray(x)
    if hasattr(rbm, "free_energy"):
        free_energy = np.concatenate(
            [ops.convert_to_numpy(rbm.free_energy(x[i : i + 4096])) for i in range(0, len(x), 4096)]
        ).astype(np.float64)
    else:
        W, b, c = _parameters(rbm)
        x = np.asarray(x, dtype=np.float64)
        free_energy = -x @ b - np.logaddexp(0, x @ W + c).sum(axis=1)
    return float(np.mean(-free_energy) - log_z)
