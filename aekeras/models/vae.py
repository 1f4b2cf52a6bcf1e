"""The variational autoencoder and its β variant (lecture 09)."""

import keras
import numpy as np
from keras import ops

from aekeras.layers.sampling import Sampling
from aekeras.models.autoencoder import Autoencoder

__all__ = ["VAE", "conv_vae", "dense_vae", "gaussian_kl_divergence"]


def gaussian_kl_divergence(z_mean, z_log_var):
    """KL(N(μ, σ²) ‖ N(0, I)) per example: -½ Σ_j (1 + log σ_j² - μ_j² - σ_j²).

    (Kingma & Welling 2014, "Auto-Encoding Variational Bayes", appendix B.)

    Args:
        z_mean: μ, (batch, latent_dim).
        z_log_var: log σ², same shape.

    Returns:
        Tensor (batch,).

    Example:

    >>> kl = gaussian_kl_divergence([[1.0, 0.0], [0.0, 2.0]], [[0.0, 0.0], [0.0, 0.0]])
    >>> [float(v) for v in keras.ops.convert_to_numpy(kl)]  # unit variances: KL = |mu|^2 / 2
    [0.5, 2.0]
    """
    z_mean, z_log_var = ops.convert_to_tensor(z_mean), ops.convert_to_tensor(z_log_var)
    if tuple(z_mean.shape) != tuple(z_log_var.shape):
        raise ValueError(
            "`z_mean` and `z_log_var` must have the same shape. "
            f"Received: z_mean.shape={z_mean.shape}, z_log_var.shape={z_log_var.shape}"
        )
    terms = 1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var)
    return -0.5 * ops.sum(ops.reshape(terms, (ops.shape(terms)[0], -1)), axis=-1)


def _sum_per_example(values):
    return ops.sum(ops.reshape(values, (ops.shape(values)[0], -1)), axis=-1)


@keras.saving.register_keras_serializable(package="aekeras")
class VAE(Autoencoder):
    """A variational autoencoder trained by `fit(x)` on the negative ELBO (β-weighted).

    q(z|x) = N(μ(x), diag σ²(x)) from the encoder, z = μ + σ ⊙ ε (`layers.Sampling`), and a
    Bernoulli decoder p(x|z) with means x̂(z) ∈ [0, 1]. The loss per example is
    -E_q[log p(x|z)] + β KL(q(z|x) ‖ N(0, I)): the binary cross-entropy summed over pixels
    plus β times the KL, averaged over the batch (Kingma & Welling 2014; β-VAE: Higgins et
    al. 2017). `fit` reports `reconstruction_loss`, `kl_loss` (unweighted) and `loss`.

    Args:
        encoder: model mapping x to `[z_mean, z_log_var]`.
        decoder: model mapping z to x̂ with values in [0, 1] (a sigmoid output).
        beta: weight β ≥ 0 of the KL term (1: the ELBO).
        seed: seed of the sampler.

    Call arguments:
        inputs: a batch of x with values in [0, 1].
        training: Python bool, passed on to the encoder and decoder.

    Returns (call):
        A dict with `reconstruction` (x̂ of a sampled z), `z_mean` and `z_log_var`.

    Example:

    ```python
    vae = dense_vae(latent_dim=2)
    vae.compile(optimizer="adam")
    vae.fit(x_train, epochs=10, batch_size=128)
    vae.elbo(x_test).mean()
    ```
    """

    def __init__(self, encoder, decoder, beta=1.0, seed=None, **kwargs):
        if not beta >= 0:
            raise ValueError(f"`beta` must be >= 0. Received: beta={beta!r}")
        super().__init__(encoder, decoder, **kwargs)
        self.beta = float(beta)
        self.seed = seed
        self.sampling = Sampling(seed=seed, name="sampling")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl_loss")

    def _encode(self, inputs, training=None):
        outputs = self.encoder(inputs, training=training)
        if not isinstance(outputs, (list, tuple)) or len(outputs) != 2:
            raise ValueError(
                "The encoder must return two tensors [z_mean, z_log_var]. "
                f"Received: {type(outputs).__name__} of length "
                f"{len(outputs) if isinstance(outputs, (list, tuple)) else 1}"
            )
        return outputs

    def call(self, inputs, training=None):
        z_mean, z_log_var = self._encode(inputs, training=training)
        z = self.sampling([z_mean, z_log_var])
        reconstruction = self.decoder(z, training=training)
        return {"reconstruction": reconstruction, "z_mean": z_mean, "z_log_var": z_log_var}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Binary cross-entropy summed over pixels + β KL, both averaged over the batch."""
        x = ops.cast(x, y_pred["reconstruction"].dtype)
        reconstruction_loss = ops.mean(
            _sum_per_example(ops.binary_crossentropy(x, y_pred["reconstruction"]))
        )
        kl_loss = ops.mean(gaussian_kl_divergence(y_pred["z_mean"], y_pred["z_log_var"]))
        self.reconstruction_tracker.update_state(reconstruction_loss)
        self.kl_tracker.update_state(kl_loss)
        total = reconstruction_loss + self.beta * kl_loss
        for loss in self.losses:  # regularisers of the encoder or decoder, if any
            total = total + ops.sum(loss)
        return total

    def encode(self, x, batch_size=1024):
        """`(z_mean, z_log_var)` of a NumPy batch, as NumPy."""
        return tuple(super().encode(x, batch_size))

    def elbo(self, x, batch_size=1024):
        """Per-example ELBO, log p(x|z) - KL(q(z|x) ‖ p(z)) with one sample z ~ q(z|x).

        The negative of the loss with β = 1 (same clipping of x̂ to [ε, 1-ε] as
        `keras.ops.binary_crossentropy`), in nats; NumPy in, float64 NumPy out. It is a
        lower bound on log p(x) only for binary x: on grey values the Bernoulli likelihood
        is not normalised (binarise first, e.g. `datasets.load_mnist(binarize=True)`).
        """
        x = np.asarray(x)
        outputs = self._in_batches(self, x, batch_size)
        eps = keras.config.epsilon()
        x_hat = np.clip(outputs["reconstruction"].astype(np.float64), eps, 1 - eps)
        x = x.reshape(x_hat.shape).astype(np.float64)
        log_likelihood = x * np.log(x_hat) + (1 - x) * np.log(1 - x_hat)
        log_likelihood = log_likelihood.reshape(len(x), -1).sum(axis=1)
        mean, log_var = (outputs[k].astype(np.float64) for k in ("z_mean", "z_log_var"))
        kl = -0.5 * (1 + log_var - mean**2 - np.exp(log_var)).reshape(len(x), -1).sum(axis=1)
        return log_likelihood - kl

    def get_config(self):
        return {**super().get_config(), "beta": self.beta, "seed": self.seed}


def dense_vae(
    input_dim=784, hidden=(512, 256), latent_dim=2, beta=1.0, activation="relu", seed=None
):
    """A dense VAE: x → hidden... → (μ, log σ²) ∈ R^latent_dim, and z → hidden reversed → x̂.

    Args:
        input_dim: size of x (flattened images in [0, 1]).
        hidden: widths of the encoder's hidden layers (the decoder's, reversed).
        latent_dim: size of z (2 for the manifold pictures of lecture 09).
        beta: weight of the KL term.
        activation: activation of the hidden layers.
        seed: seed of the sampler.

    Returns:
        A `VAE`, not compiled.
    """
    inputs = keras.Input((input_dim,), name="inputs")
    h = inputs
    for i, units in enumerate(hidden):
        h = keras.layers.Dense(units, activation, name=f"encoder_dense_{i}")(h)
    z_mean = keras.layers.Dense(latent_dim, name="z_mean")(h)
    z_log_var = keras.layers.Dense(latent_dim, name="z_log_var")(h)
    encoder = keras.Model(inputs, [z_mean, z_log_var], name="encoder")

    z = keras.Input((latent_dim,), name="z")
    h = z
    for i, units in enumerate(reversed(hidden)):
        h = keras.layers.Dense(units, activation, name=f"decoder_dense_{i}")(h)
    outputs = keras.layers.Dense(input_dim, "sigmoid", name="reconstruction")(h)
    decoder = keras.Model(z, outputs, name="decoder")
    return VAE(encoder, decoder, beta=beta, seed=seed, name="vae")


def conv_vae(
    image_shape=(28, 28, 1), filters=(32, 64), dense_units=16, latent_dim=2, beta=1.0, seed=None
):
    """The convolutional VAE of the keras-io example: two stride-2 convolutions and their mirror.

    Args:
        image_shape: (height, width, channels), height and width divisible by 2**len(filters).
        filters: filters of the encoder's stride-2 3×3 convolutions (decoder: reversed).
        dense_units: width of the dense layer before (μ, log σ²).
        latent_dim: size of z.
        beta: weight of the KL term.
        seed: seed of the sampler.

    Returns:
        A `VAE`, not compiled.
    """
    height, width, channels = image_shape
    factor = 2 ** len(filters)
    if height % factor or width % factor:
        raise ValueError(
            f"`image_shape` height and width must be divisible by {factor} for "
            f"{len(filters)} stride-2 convolutions. Received: image_shape={image_shape}"
        )
    inputs = keras.Input(image_shape, name="inputs")
    h = inputs
    for n in filters:
        h = keras.layers.Conv2D(n, 3, strides=2, padding="same", activation="relu")(h)
    h = keras.layers.Dense(dense_units, "relu")(keras.layers.Flatten()(h))
    z_mean = keras.layers.Dense(latent_dim, name="z_mean")(h)
    z_log_var = keras.layers.Dense(latent_dim, name="z_log_var")(h)
    encoder = keras.Model(inputs, [z_mean, z_log_var], name="encoder")

    z = keras.Input((latent_dim,), name="z")
    small = (height // factor, width // factor, filters[-1])
    h = keras.layers.Dense(int(np.prod(small)), "relu")(z)
    h = keras.layers.Reshape(small)(h)
    for n in reversed(filters):
        h = keras.layers.Conv2DTranspose(n, 3, strides=2, padding="same", activation="relu")(h)
    outputs = keras.layers.Conv2D(channels, 3, padding="same", activation="sigmoid")(h)
    decoder = keras.Model(z, outputs, name="decoder")
    return VAE(encoder, decoder, beta=beta, seed=seed, name="vae")
