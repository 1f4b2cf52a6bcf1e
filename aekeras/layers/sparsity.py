"""KL sparsity: the penalty of a sparse autoencoder, as an identity layer."""

import keras
from keras import ops


def bernoulli_kl_divergence(rho, rho_hat):
    """KL divergence between Bernoulli distributions of means `rho` and `rho_hat`.

    `KL(rho || rho_hat) = rho log(rho / rho_hat) + (1 - rho) log((1 - rho) / (1 - rho_hat))`,
    elementwise (Ng, "Sparse autoencoder", CS294A lecture notes, 2011).

    Args:
        rho: Float or tensor in (0, 1), the target mean activation.
        rho_hat: Float or tensor in (0, 1), the observed mean activation.

    Returns:
        A tensor of the broadcast shape of `rho` and `rho_hat`.

    Example:

    >>> round(float(bernoulli_kl_divergence(0.05, 0.2)), 4)  # a unit 4x too active
    0.0939
    >>> float(bernoulli_kl_divergence(0.05, 0.05))
    0.0
    """
    rho = ops.convert_to_tensor(rho, "float32")
    rho_hat = ops.convert_to_tensor(rho_hat, "float32")
    return rho * ops.log(rho / rho_hat) + (1 - rho) * ops.log((1 - rho) / (1 - rho_hat))


@keras.saving.register_keras_serializable(package="aekeras")
class KLSparsity(keras.layers.Layer):
    """Identity layer that adds a KL sparsity penalty on its activations.

    For each unit `j` (the last axis) the mean activation `rho_hat_j` over the batch
    (and over any axes between the batch and the last) is pushed towards a small
    target `rho`. With `momentum > 0`, `rho_hat` is smoothed across batches by a
    running average (a non-trainable variable, which starts at `rho` and is updated
    in training only). The gradient flows through the current batch's `rho_hat` at
    full weight, as if `rho_tilde` were `rho_hat`: `d loss / d rho_hat_j =
    beta * KL'(rho || rho_tilde_j)`, so `beta` means the same with or without momentum
    (differentiating the average itself would scale it by `1 - momentum`).
    `rho_tilde` is clipped to `[eps, 1 - eps]` so the logarithms stay finite.

    Formula: `loss = beta * sum_j KL(rho || rho_tilde_j)`, with
    `rho_tilde_t = momentum * rho_tilde_{t-1} + (1 - momentum) * rho_hat_t`
    (penalty and its gradient `beta * (-rho / rho_tilde + (1 - rho) / (1 - rho_tilde))`
    with an estimate of the mean activation over the data: Ng, "Sparse autoencoder",
    CS294A lecture notes, 2011; running average: Hinton, "A Practical Guide to Training
    Restricted Boltzmann Machines", 2010).

    Args:
        rho: Float in (0, 1), the target mean activation of each unit.
        beta: Float >= 0, the weight of the penalty.
        momentum: Float in [0, 1), the running average's momentum `lambda`;
            `0` uses the current batch alone.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: Activations in (0, 1), e.g. the output of a sigmoid layer.
        training: Python boolean; the running average is updated in training only.

    Input shape:
        Arbitrary: `(batch_size, ..., units)`.

    Output shape:
        Same shape as input (the inputs, unchanged).

    Example:

    >>> x = keras.Input((784,))
    >>> code = keras.layers.Dense(200, activation="sigmoid")(x)
    >>> code = KLSparsity(rho=0.05, beta=3.0, momentum=0.9)(code)
    """

    def __init__(self, rho, beta, momentum=0.0, **kwargs):
        super().__init__(**kwargs)
        if not 0 < rho < 1:
            raise ValueError(
                "Invalid value received for argument `rho`. Expected a float value "
                f"in (0, 1) (a target mean activation). Received: rho={rho}"
            )
        if not beta >= 0:
            raise ValueError(
                "Invalid value received for argument `beta`. Expected a float "
                f"value >= 0. Received: beta={beta}"
            )
        if not 0 <= momentum < 1:
            raise ValueError(
                "Invalid value received for argument `momentum`. Expected a float "
                f"value in [0, 1). Received: momentum={momentum}"
            )
        self.rho = rho
        self.beta = beta
        self.momentum = momentum
        self.supports_masking = True

    def build(self, input_shape):
        if self.momentum > 0:
            self.running_rho = self.add_weight(
                name="running_rho",
                shape=(input_shape[-1],),
                initializer=keras.initializers.Constant(self.rho),
                trainable=False,
                autocast=False,
            )

    def call(self, inputs, training=False):
        axes = tuple(range(len(inputs.shape) - 1))
        rho_hat = ops.mean(ops.cast(inputs, "float32"), axis=axes)
        rho_tilde = ops.stop_gradient(rho_hat)
        if self.momentum > 0:
            rho_tilde = self.momentum * self.running_rho + (1 - self.momentum) * rho_tilde
            if training:
                self.running_rho.assign(rho_tilde)
        eps = keras.config.epsilon()
        rho_tilde = ops.clip(rho_tilde, eps, 1 - eps)
        # Value: rho_tilde. Gradient: that of the current batch's rho_hat, at full weight,
        # so d loss / d rho_hat = beta * KL'(rho_tilde) whatever the momentum (Ng's notes).
        rho_tilde = rho_tilde + (rho_hat - ops.stop_gradient(rho_hat))
        self.add_loss(self.beta * ops.sum(bernoulli_kl_divergence(self.rho, rho_tilde)))
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        base_config = super().get_config()
        config = {"rho": self.rho, "beta": self.beta, "momentum": self.momentum}
        return {**base_config, **config}
