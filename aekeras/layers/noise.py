"""Masking noise: the corruption of a denoising autoencoder."""

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="aekeras")
class MaskingNoise(keras.layers.Layer):
    """Sets a random fraction `rate` of each example's inputs to 0.

    The corruption of a denoising autoencoder: for every example, exactly
    `round(rate * d)` of its `d` input values, chosen at random, are forced to 0.
    Unlike `Dropout`, the kept values are NOT rescaled by `1 / (1 - rate)`: the
    decoder must reconstruct the clean input from what survives.
    As it is a regularization layer, it is only active at training time.

    Formula: `x~ = x * m`, `m` in {0, 1}^d with `sum(1 - m) = round(rate * d)`
    ("masking noise": Vincent et al., "Stacked Denoising Autoencoders", JMLR 2010).

    Args:
        rate: Float in `[0, 1)`, the fraction of each example's inputs set to 0.
        seed: Integer, optional random seed to enable deterministic behavior.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: Input tensor of rank >= 2 with static feature dimensions.
        training: Python boolean indicating whether the layer should behave in
            training mode (masking) or in inference mode (doing nothing).

    Input shape:
        Arbitrary: `(batch_size, ...)`.

    Output shape:
        Same shape as input.

    Example:

    >>> x = keras.ops.ones((2, 10))
    >>> y = MaskingNoise(0.3, seed=1)(x, training=True)
    >>> int(keras.ops.sum(y == 0))  # three of ten values in each of the two rows
    6
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(
                "Invalid value received for argument `rate`. Expected a float "
                f"value in [0, 1) (the fraction of inputs set to 0). Received: rate={rate}"
            )
        self.rate = rate
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) < 2 or any(dim is None for dim in input_shape[1:]):
            raise ValueError(
                "MaskingNoise expects inputs of shape (batch_size, ...) with known "
                f"feature dimensions. Received: input_shape={tuple(input_shape)}"
            )

    def call(self, inputs, training=False):
        features = math.prod(inputs.shape[1:])
        num_masked = round(self.rate * features)
        if not training or num_masked == 0:
            return inputs
        noise = keras.random.uniform((ops.shape(inputs)[0], features), seed=self.seed_generator)
        # The num_masked largest noise values of each example mark what is masked.
        threshold = ops.top_k(noise, num_masked)[0][:, -1:]
        keep = ops.reshape(ops.less(noise, threshold), ops.shape(inputs))
        return inputs * ops.cast(keep, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        base_config = super().get_config()
        config = {"rate": self.rate, "seed": self.seed}
        return {**base_config, **config}
