"""The reparameterisation trick of a variational autoencoder."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="aekeras")
class Sampling(keras.layers.Layer):
    """Draws a code `z ~ N(z_mean, exp(z_log_var))` by the reparameterisation trick.

    The noise `eps ~ N(0, I)` comes from outside the network, so gradients flow to
    `z_mean` and `z_log_var`. It samples in training and in inference alike, as the
    VAE's encoder defines a distribution; use `z_mean` for a deterministic code.

    Formula: `z = z_mean + exp(z_log_var / 2) * eps`, `eps ~ N(0, I)`
    (Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014, Sec. 2.4).

    Args:
        seed: Integer, optional random seed to enable deterministic behavior.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: A list `[z_mean, z_log_var]` of two tensors of the same shape.

    Input shape:
        Two tensors of shape `(batch_size, latent_dim)` (any equal shapes work).

    Output shape:
        The shape of `z_mean`.

    Example:

    >>> h = keras.Input((256,))
    >>> z_mean = keras.layers.Dense(2)(h)
    >>> z_log_var = keras.layers.Dense(2)(h)
    >>> z = Sampling(seed=0)([z_mean, z_log_var])  # (None, 2)
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(
            ops.shape(z_mean), dtype=z_mean.dtype, seed=self.seed_generator
        )
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2 or not all(isinstance(s, (list, tuple)) for s in input_shape):
            raise ValueError(
                f"Layer '{self.name}' expects a list of two inputs [z_mean, z_log_var]. "
                f"Received: input_shape={input_shape}"
            )
        mean_shape, log_var_shape = (tuple(shape) for shape in input_shape)
        compatible = len(mean_shape) == len(log_var_shape) and all(
            a is None or b is None or a == b for a, b in zip(mean_shape, log_var_shape)
        )
        if not compatible:
            raise ValueError(
                f"Layer '{self.name}' expects `z_mean` and `z_log_var` of the same "
                f"shape. Received: z_mean shape={mean_shape}, "
                f"z_log_var shape={log_var_shape}"
            )
        return mean_shape

    def get_config(self):
        base_config = super().get_config()
        return {**base_config, "seed": self.seed}
