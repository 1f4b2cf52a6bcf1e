"""The contractive autoencoder: a sigmoid code whose Jacobian is penalised (lecture 06)."""

import keras
from keras import ops

from aekeras.models.autoencoder import Autoencoder

__all__ = ["ContractiveAutoencoder", "contractive_penalty"]


def contractive_penalty(h, kernel):
    """‖∂h/∂x‖²_F of a sigmoid layer h = σ(xW + b), in closed form, per example.

    ∂h_j/∂x_i = h_j(1 - h_j) W_ij, so ‖J‖²_F = Σ_j (h_j(1 - h_j))² Σ_i W_ij²
    (Rifai et al. 2011, "Contractive auto-encoders", the closed form for a sigmoid layer).

    Args:
        h: the layer's sigmoid outputs, (batch, code_dim).
        kernel: its kernel W, (input_dim, code_dim) (Keras's layout).

    Returns:
        Tensor (batch,).
    """
    h = ops.convert_to_tensor(h)
    kernel = ops.cast(ops.convert_to_tensor(kernel), h.dtype)
    if kernel.shape[-1] != h.shape[-1]:
        raise ValueError(
            "`kernel` must be (input_dim, code_dim) with code_dim the last axis of `h`. "
            f"Received: h.shape={h.shape}, kernel.shape={kernel.shape}"
        )
    column_norms = ops.sum(ops.square(kernel), axis=0)
    return ops.sum(ops.square(h * (1.0 - h)) * column_norms, axis=-1)


@keras.saving.register_keras_serializable(package="aekeras")
class ContractiveAutoencoder(Autoencoder):
    """An autoencoder with a sigmoid code h = σ(Wx + b) and the contractive penalty.

    Adds λ‖∂h/∂x‖²_F = λ Σ_j (h_j(1 - h_j))² Σ_i W_ij², averaged over the batch, to the
    reconstruction loss given to `compile` (Rifai et al. 2011). The penalty makes the code
    insensitive to directions the data does not vary in.

    Args:
        input_dim: size of x.
        code_dim: number of sigmoid code units.
        lam: the penalty weight λ ≥ 0.
        output_activation: activation of the linear decoder ("sigmoid" for pixels).

    Call arguments:
        inputs: a batch of x, (batch, input_dim).
        training: Python bool.

    Example:

    ```python
    cae = ContractiveAutoencoder(784, 64, lam=0.1)
    cae.compile(optimizer="adam", loss="binary_crossentropy")
    cae.fit(x_train, x_train, epochs=5)
    ```
    """

    def __init__(self, input_dim, code_dim, lam, output_activation="sigmoid", **kwargs):
        for arg, value in (("input_dim", input_dim), ("code_dim", code_dim)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{arg}` must be a positive integer. Received: {arg}={value!r}")
        if not lam >= 0:
            raise ValueError(f"`lam` must be >= 0. Received: lam={lam!r}")
        encoder = keras.Sequential(
            [keras.Input((input_dim,)), keras.layers.Dense(code_dim, "sigmoid", name="code")],
            name="encoder",
        )
        decoder = keras.Sequential(
            [
                keras.Input((code_dim,)),
                keras.layers.Dense(input_dim, output_activation, name="reconstruction"),
            ],
            name="decoder",
        )
        super().__init__(encoder, decoder, **kwargs)
        self.input_dim = input_dim
        self.code_dim = code_dim
        self.lam = float(lam)
        self.output_activation = output_activation

    @property
    def code_layer(self):
        """The encoder's `Dense` layer, whose kernel W enters the penalty."""
        return self.encoder.layers[-1]

    def call(self, inputs, training=None):
        h = self.encoder(inputs, training=training)
        if self.lam > 0:
            penalty = contractive_penalty(h, self.code_layer.kernel)
            self.add_loss(self.lam * ops.mean(penalty))
        return self.decoder(h, training=training)

    def get_config(self):
        config = keras.Model.get_config(self)
        config.update(
            {
                "input_dim": self.input_dim,
                "code_dim": self.code_dim,
                "lam": self.lam,
                "output_activation": self.output_activation,
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)
