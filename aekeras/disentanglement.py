"""Disentanglement metrics against known factors of variation: the mutual information gap.

MIG (Chen, Li, Grosse & Duvenaud 2018, "Isolating Sources of Disentanglement in Variational
Autoencoders", Sec. 5) asks, for each ground-truth factor v_k, how much more the most
informative latent z_j knows about it than the runner-up, in units of the factor's entropy.
A disentangled code has one latent per factor (gap near 1); a code that spreads a factor
over several latents, or ignores it, has a gap near 0.

Chen et al. estimate I(z_j; v_k) by sampling from q(z|x) over the whole dataset. Here the
estimator is the discretised one of Locatello et al. 2019's ``disentanglement_lib``
(``evaluation/metrics/mig.py`` with its ``histogram_discretizer``, 20 bins in its configs):
each latent's mean μ_j(x) is binned into ``n_bins`` equal-width bins over its range, and I
and H are the plug-in (empirical-frequency) mutual information and entropy of the resulting
discrete variables, in nats, from scikit-learn's ``mutual_info_score`` and SciPy's
``entropy``. The two estimators give different numbers;
compare a MIG only with one computed the same way.
"""

import numpy as np


def discretize(z, n_bins=20):
    """Bins each column of ``z`` into ``n_bins`` equal-width bins over its own range.

    Formula:
        b_j(x) = the index of the bin of ``np.histogram(z[:, j], n_bins)`` that holds z_j(x)
        (``np.digitize`` on the bins' left edges, as disentanglement_lib does): 1 … n_bins.

    Args:
        z: ``(n, n_latents)`` codes, e.g. the encoder's means μ(x).
        n_bins: bins per latent.

    Returns:
        int64 ``(n, n_latents)``.
    """
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"`z` must be 2-D (n, n_latents). Received shape {z.shape}.")
    if int(n_bins) < 2:
        raise ValueError(f"`n_bins` must be at least 2. Received: n_bins={n_bins}")
    out = np.empty(z.shape, dtype=np.int64)
    for j in range(z.shape[1]):
        edges = np.histogram(z[:, j], bins=int(n_bins))[1]
        out[:, j] = np.digitize(z[:, j], edges[:-1])
    return out


def mutual_information_matrix(codes, factors):
    """Plug-in mutual information I(c_j; v_k) in nats between discrete columns.

    Formula:
        I(c; v) = Σ_{a,b} p(a, b) log[p(a, b) / (p(a) p(b))], p the empirical frequencies
        (``sklearn.metrics.mutual_info_score``).

    Args:
        codes: ``(n, n_latents)`` discrete codes (e.g. from :func:`discretize`).
        factors: ``(n, n_factors)`` discrete factor values.

    Returns:
        ``(n_latents, n_factors)`` float64.
    """
    from sklearn.metrics import mutual_info_score

    codes, factors = _check_pair(codes, factors)
    return np.array(
        [
            [mutual_info_score(factors[:, k], codes[:, j]) for k in range(factors.shape[1])]
            for j in range(codes.shape[1])
        ]
    )


def factor_entropies(factors):
    """Plug-in entropy H(v_k) in nats of each column of ``factors``.

    Formula:
        H(v) = -Σ_b p(b) log p(b), p the empirical frequencies (``scipy.stats.entropy``).
    """
    from scipy.stats import entropy

    factors = np.asarray(factors)
    if factors.ndim != 2:
        raise ValueError(f"`factors` must be 2-D (n, n_factors). Received shape {factors.shape}.")
    return np.array(
        [entropy(np.unique(factors[:, k], return_counts=True)[1]) for k in range(factors.shape[1])]
    )


def mig_per_factor(z, factors, n_bins=20):
    """The gap of each factor: the top two normalised mutual informations, subtracted.

    Formula (Chen et al. 2018, Eq. 6, per factor):
        gap_k = [I(z_{j(k)}; v_k) - max_{j ≠ j(k)} I(z_j; v_k)] / H(v_k),
        j(k) = argmax_j I(z_j; v_k),
    with I and H estimated on binned latent means (see the module's docstring).

    Args:
        z: ``(n, n_latents)`` latent codes (continuous: binned into ``n_bins``), at least 2.
        factors: ``(n, n_factors)`` discrete ground-truth factors (indices or values).
        n_bins: bins per latent.

    Returns:
        float64 ``(n_factors,)``, each in [0, 1].
    """
    z, factors = _check_pair(z, factors)
    if z.shape[1] < 2:
        raise ValueError(f"MIG needs at least 2 latents. Received {z.shape[1]}.")
    entropies = factor_entropies(factors)
    constant = np.flatnonzero(entropies == 0)
    if constant.size:
        raise ValueError(
            f"Factor column(s) {constant.tolist()} take a single value in `factors`: their "
            "entropy is 0 and the gap is undefined. Sample every factor."
        )
    mi = mutual_information_matrix(discretize(z, n_bins), factors)
    top_two = np.sort(mi, axis=0)[-2:]
    return (top_two[1] - top_two[0]) / entropies


def mutual_information_gap(z, factors, n_bins=20):
    """MIG: the mean over factors of :func:`mig_per_factor` (Chen et al. 2018, Eq. 6).

    Formula:
        MIG = (1/K) Σ_k [I(z_{j(k)}; v_k) - max_{j ≠ j(k)} I(z_j; v_k)] / H(v_k).

    Example:

    >>> v = np.repeat(np.arange(4), 24)[:, None]  # one factor with 4 values
    >>> noise = np.tile(np.arange(4.0), 24)  # independent of v in every block of 24
    >>> z = np.stack([v[:, 0] * 1.0, noise], axis=1)  # a copy of v, and noise
    >>> round(mutual_information_gap(z, v, n_bins=4), 6)
    1.0
    """
    return float(np.mean(mig_per_factor(z, factors, n_bins)))


def _check_pair(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 2 or b.ndim != 2 or len(a) != len(b):
        raise ValueError(
            "Expected 2-D arrays with one row per example. "
            f"Received shapes {a.shape} and {b.shape}."
        )
    return a, b
