"""Bernoulli restricted Boltzmann machine trained by contrastive divergence (lecture 08).

Energy E(v, h) = -bᵀv - cᵀh - vᵀWh, free energy F(v) = -bᵀv - Σ_j softplus(c_j + (vW)_j)
(Hinton 2002, "Training products of experts by minimizing contrastive divergence";
Hinton 2010, "A practical guide to training restricted Boltzmann machines").

`RBM.fit(x)` minimises the surrogate loss  mean F(v₀) - mean F(stop_gradient(v_k)). Since
-∂F(v)/∂W = vᵀ p(h=1|v), -∂F/∂b = v and -∂F/∂c = p(h=1|v), one SGD step on it with rate ε is
exactly the CD-k update of the algorithm box, which :func:`cd1_update` writes out in NumPy.
The log-likelihood log p(v) = -F(v) - log Z, with log Z by annealed importance sampling, is in
:mod:`aekeras.ais`.
"""

import keras
import numpy as np
from keras import ops
from sklearn.utils import check_random_state

__all__ = ["RBM", "cd1_update"]


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def cd1_update(W, b, c, v, lr, seed=None, h_sample=None, v_sample=None):
    """One CD-1 update of a Bernoulli RBM, in NumPy, exactly as the lecture's algorithm box.

    With h ~ p(h|v) and v* ~ p(v|h) (Hinton 2002; Hinton 2010, "A practical guide"):

        W ← W + ε [v p(h=1|v)ᵀ - v* p(h*=1|v*)ᵀ]
        b ← b + ε (v - v*)
        c ← c + ε [p(h=1|v) - p(h*=1|v*)]

    averaged over the batch (W is (n_visible, n_hidden), so the box's p(h=1|v) vᵀ is its
    transpose here).

    Args:
        W: weights, (n_visible, n_hidden).
        b: visible bias, (n_visible,).
        c: hidden bias, (n_hidden,).
        v: data, (batch, n_visible) or (n_visible,), binary.
        lr: the learning rate ε.
        seed: seed of the NumPy generator that draws h and v* when they are not given.
        h_sample: the sample h ~ p(h|v), (batch, n_hidden); drawn when None.
        v_sample: the reconstruction v* ~ p(v|h), (batch, n_visible); drawn when None.

    Returns:
        The updated `(W, b, c)` as new float64 arrays.
    """
    W, b, c = (np.asarray(a, dtype=np.float64) for a in (W, b, c))
    v = np.atleast_2d(np.asarray(v, dtype=np.float64))
    if W.ndim != 2 or b.shape != (W.shape[0],) or c.shape != (W.shape[1],):
        raise ValueError(
            "Expected W (n_visible, n_hidden), b (n_visible,) and c (n_hidden,). "
            f"Received: W.shape={W.shape}, b.shape={b.shape}, c.shape={c.shape}"
        )
    if v.ndim != 2 or v.shape[1] != W.shape[0]:
        raise ValueError(f"Expected v of shape (batch, {W.shape[0]}). Received: v.shape={v.shape}")
    rng = np.random.default_rng(seed)
    p_h = _sigmoid(v @ W + c)
    h = (rng.random(p_h.shape) < p_h).astype(np.float64) if h_sample is None else h_sample
    p_v = _sigmoid(np.asarray(h, dtype=np.float64) @ W.T + b)
    v_star = (rng.random(p_v.shape) < p_v).astype(np.float64) if v_sample is None else v_sample
    v_star = np.asarray(v_star, dtype=np.float64)
    if v_star.shape != v.shape:
        raise ValueError(f"Expected v_sample of shape {v.shape}. Received: {v_star.shape}")
    p_h_star = _sigmoid(v_star @ W + c)
    n = v.shape[0]
    W_new = W + lr * (v.T @ p_h - v_star.T @ p_h_star) / n
    b_new = b + lr * (v - v_star).mean(axis=0)
    c_new = c + lr * (p_h - p_h_star).mean(axis=0)
    return W_new, b_new, c_new


@keras.saving.register_keras_serializable(package="aekeras")
class RBM(keras.Model):
    """A Bernoulli restricted Boltzmann machine trained by CD-k or persistent CD with `fit(x)`.

    E(v, h) = -bᵀv - cᵀh - vᵀWh;  p(h_j=1|v) = σ(c_j + (vW)_j);  p(v_i=1|h) = σ(b_i + (hWᵀ)_i)
    (Hinton 2002; Tieleman 2008 for persistent CD). Training minimises
    mean F(v₀) - mean F(stop_gradient(v_k)), whose SGD step is the CD-k update; with
    `persistent=True` the negative chain carries over between batches as in scikit-learn's
    `BernoulliRBM`. Calling the model returns p(h=1|v), the features of a DBN layer.

    Args:
        n_visible: number of visible (binary) units.
        n_hidden: number of hidden (binary) units.
        k: Gibbs steps per update (CD-k, or PCD-k).
        persistent: keep the negative chain between updates (persistent CD / SML).
        n_chains: persistent chains; default the size of the batch that builds the model
            (the first `fit` batch), 32 if that is unknown.
        seed: seed of the weight initialiser (N(0, 0.01²), as scikit-learn) and of the sampler.

    Call arguments:
        inputs: binary visible vectors, (batch, n_visible).

    Example:

    ```python
    rbm = RBM(784, 256, seed=0)
    rbm.compile(optimizer=keras.optimizers.SGD(0.05))
    rbm.fit(x_binary, epochs=5, batch_size=100)
    rbm.pseudo_likelihood(x_test_binary, seed=0).mean()
    ```
    """

    def __init__(
        self, n_visible, n_hidden, k=1, persistent=False, n_chains=None, seed=None, **kwargs
    ):
        super().__init__(**kwargs)
        for name, value in (("n_visible", n_visible), ("n_hidden", n_hidden), ("k", k)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
        if n_chains is not None and (not isinstance(n_chains, (int, np.integer)) or n_chains < 1):
            raise ValueError(
                f"`n_chains` must be a positive integer or None. Received: n_chains={n_chains!r}"
            )
        self.n_visible = int(n_visible)
        self.n_hidden = int(n_hidden)
        self.k = int(k)
        self.persistent = bool(persistent)
        self.n_chains = None if n_chains is None else int(n_chains)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_error")

    def build(self, input_shape=None):
        if input_shape is not None and input_shape[-1] not in (None, self.n_visible):
            raise ValueError(
                f"Expected inputs of shape (batch, {self.n_visible}). "
                f"Received: input_shape={input_shape}"
            )
        self.kernel = self.add_weight(
            shape=(self.n_visible, self.n_hidden),
            initializer=keras.initializers.RandomNormal(0.0, 0.01, seed=self.seed),
            name="kernel",
        )
        self.visible_bias = self.add_weight(
            shape=(self.n_visible,), initializer="zeros", name="visible_bias"
        )
        self.hidden_bias = self.add_weight(
            shape=(self.n_hidden,), initializer="zeros", name="hidden_bias"
        )
        if self.persistent:
            if self.n_chains is None:
                batch = None if input_shape is None else input_shape[0]
                self.n_chains = int(batch) if isinstance(batch, (int, np.integer)) else 32
            # The hidden state of each chain, zeros at the start as in scikit-learn.
            self.persistent_chain = self.add_weight(
                shape=(self.n_chains, self.n_hidden),
                initializer="zeros",
                trainable=False,
                name="persistent_chain",
            )

    def _ensure_built(self):
        if not self.built:
            self.build((None, self.n_visible))

    def _visible(self, v):
        self._ensure_built()
        v = ops.convert_to_tensor(v)
        if v.shape[-1] != self.n_visible:
            raise ValueError(
                f"Expected visible vectors with {self.n_visible} units. Received: shape={v.shape}"
            )
        return ops.cast(v, self.kernel.dtype)

    def _bernoulli(self, prob, seed=None):
        seed = self.seed_generator if seed is None else seed
        noise = keras.random.uniform(ops.shape(prob), dtype=prob.dtype, seed=seed)
        return ops.cast(ops.less(noise, prob), prob.dtype)

    def energy(self, v, h):
        """E(v, h) = -bᵀv - cᵀh - vᵀWh for each example, shape (batch,)."""
        v = self._visible(v)
        h = ops.cast(ops.convert_to_tensor(h), v.dtype)
        return (
            -ops.matmul(v, self.visible_bias)
            - ops.matmul(h, self.hidden_bias)
            - ops.sum(ops.matmul(v, self.kernel) * h, axis=-1)
        )

    def _hidden_input(self, v):
        return ops.matmul(v, self.kernel) + self.hidden_bias

    def _free_energy(self, v, hidden_input):
        return -ops.matmul(v, self.visible_bias) - ops.sum(ops.softplus(hidden_input), axis=-1)

    def free_energy(self, v):
        """F(v) = -log Σ_h exp(-E(v, h)) = -bᵀv - Σ_j softplus(c_j + (vW)_j), shape (batch,)."""
        v = self._visible(v)
        return self._free_energy(v, self._hidden_input(v))

    def prob_h_given_v(self, v):
        """p(h_j = 1 | v) = σ(c_j + (vW)_j)."""
        return ops.sigmoid(self._hidden_input(self._visible(v)))

    def prob_v_given_h(self, h):
        """p(v_i = 1 | h) = σ(b_i + (hWᵀ)_i)."""
        self._ensure_built()
        h = ops.cast(ops.convert_to_tensor(h), self.kernel.dtype)
        return ops.sigmoid(ops.matmul(h, ops.transpose(self.kernel)) + self.visible_bias)

    def sample_h_given_v(self, v, seed=None):
        """Returns `(p(h=1|v), h)` with h ~ p(h|v); `seed` defaults to the model's generator."""
        prob = self.prob_h_given_v(v)
        return prob, self._bernoulli(prob, seed)

    def sample_v_given_h(self, h, seed=None):
        """Returns `(p(v=1|h), v)` with v ~ p(v|h); `seed` defaults to the model's generator."""
        prob = self.prob_v_given_h(h)
        return prob, self._bernoulli(prob, seed)

    def gibbs(self, v, steps=1):
        """Runs `steps` full Gibbs steps v → h → v; returns `(p(v=1|h), v)` of the last one."""
        if not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ValueError(f"`steps` must be a positive integer. Received: steps={steps!r}")
        v = self._visible(v)
        for _ in range(steps):
            _, h = self.sample_h_given_v(v)
            prob, v = self.sample_v_given_h(h)
        return prob, v

    def call(self, inputs):
        return self.prob_h_given_v(inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.n_hidden,)

    def negative_phase(self, h, visible_prob=None):
        """k Gibbs steps from the hidden state h: returns the negative sample v_k.

        v ~ p(v|h), then k - 1 times h ~ p(h|v), v ~ p(v|h). The chain starts at h₀ ~ p(h|v₀)
        for CD-k and at the persistent state for PCD-k. `visible_prob` is p(v=1|h) when the
        caller has it already. v_k is returned under `stop_gradient`: the surrogate loss
        differentiates F(v_k) with the sample held fixed.
        """
        prob = self.prob_v_given_h(h) if visible_prob is None else visible_prob
        v = self._bernoulli(prob)
        for _ in range(self.k - 1):
            _, h = self.sample_h_given_v(v)
            _, v = self.sample_v_given_h(h)
        return ops.stop_gradient(v)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The CD surrogate mean F(v₀) - mean F(v_k); also tracks `reconstruction_error`.

        `reconstruction_error` is the mean squared error between v₀ and p(v=1|h₀),
        h₀ ~ p(h|v₀). With `persistent=True` (and `training`) the chain moves on to
        h ~ p(h|v_k). Each product with W is computed once and shared.
        """
        v0 = self._visible(x)
        hidden_input_0 = self._hidden_input(v0)  # for h₀ and for F(v₀)
        h0 = self._bernoulli(ops.sigmoid(ops.stop_gradient(hidden_input_0)))
        reconstruction = ops.stop_gradient(self.prob_v_given_h(h0))
        if self.persistent:
            v_k = self.negative_phase(ops.convert_to_tensor(self.persistent_chain))
        else:
            v_k = self.negative_phase(h0, visible_prob=reconstruction)
        hidden_input_k = self._hidden_input(v_k)  # for F(v_k) and the chain's next state
        if self.persistent and training:
            prob = ops.sigmoid(ops.stop_gradient(hidden_input_k))
            self.persistent_chain.assign(self._bernoulli(prob))
        self.reconstruction_tracker.update_state(ops.mean(ops.square(v0 - reconstruction), axis=-1))
        positive = ops.mean(self._free_energy(v0, hidden_input_0))
        return positive - ops.mean(self._free_energy(v_k, hidden_input_k))

    def pseudo_likelihood(self, v, seed=None):
        """Per-example pseudo-likelihood, exactly as scikit-learn's `BernoulliRBM.score_samples`.

        One randomly chosen bit i of each example is flipped (v → ṽ) and
        PL(v) = n_visible · log σ(F(ṽ) - F(v)), the usual stochastic estimate of
        Σ_i log p(v_i | v_-i) (Besag 1975). The bit is drawn by
        `check_random_state(seed).randint(0, n_visible, n)` as scikit-learn draws it, so the
        same `seed` and `random_state` flip the same bits. Computed in float64 NumPy.

        Args:
            v: binary data, (n, n_visible).
            seed: int, `np.random.RandomState` or None (NumPy's global generator).

        Returns:
            float64 array (n,).
        """
        v = np.array(v, dtype=np.float64)
        if v.ndim != 2 or v.shape[1] != self.n_visible:
            raise ValueError(
                f"Expected v of shape (n, {self.n_visible}). Received: v.shape={v.shape}"
            )
        self._ensure_built()
        W, b, c = (
            ops.convert_to_numpy(w).astype(np.float64)
            for w in (self.kernel, self.visible_bias, self.hidden_bias)
        )
        rng = check_random_state(seed)
        index = (np.arange(v.shape[0]), rng.randint(0, v.shape[1], v.shape[0]))
        flipped = v.copy()
        flipped[index] = 1 - flipped[index]

        def free_energy(x):
            return -x @ b - np.logaddexp(0, x @ W + c).sum(axis=1)

        return -v.shape[1] * np.logaddexp(0, -(free_energy(flipped) - free_energy(v)))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "n_visible": self.n_visible,
                "n_hidden": self.n_hidden,
                "k": self.k,
                "persistent": self.persistent,
                "n_chains": self.n_chains,
                "seed": self.seed,
            }
        )
        return config
