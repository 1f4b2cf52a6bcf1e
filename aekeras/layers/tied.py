"""Tied weights: a decoder layer that reuses an encoder `Dense` layer's kernel."""

import warnings

import keras
from keras import activations, ops


class _TiedLayerRef:
    """Holds the tied `Dense` layer out of sight of Keras's layer and saving walks.

    Kept as a plain attribute, the `Dense` would become a sub-layer of this one, and its
    bias would count among this layer's weights. Only its kernel is shared, and that one
    variable is tracked directly (`self.kernel`).
    """

    def __init__(self, layer):
        self.layer = layer
        self.shared = True


@keras.saving.register_keras_serializable(package="aekeras")
class DenseTranspose(keras.layers.Layer):
    """Dense layer whose kernel is the transpose of another `Dense` layer's kernel.

    The layer uses the very kernel variable of `tied_to` (not a copy), so both
    layers train one matrix; only the bias is its own. Tied weights halve the
    parameters of an autoencoder (lectures 01-02).

    Formula: `outputs = activation(inputs @ W.T + b)`, `W = tied_to.kernel`
    (tied weights `W' = W^T`: Vincent et al., "Stacked Denoising Autoencoders", JMLR
    2010; Hinton & Salakhutdinov's unrolled decoder, Science 2006, starts from `W^T`).

    Saving: `keras.models.load_model()` restores the tie (Keras's object sharing)
    when the `Dense` layer and this layer sit in the same Functional or Sequential
    model. When they sit in two sub-models (an encoder model and a decoder model),
    Keras writes each sub-model's config on its own: the loaded layer then keeps the
    saved kernel values as its own variable, untied, warns, and `tied_to` is `None`.
    Rebuild such models in code and restore them with `load_weights()`.
    Note that `trainable = False` on this layer freezes the shared kernel too.

    Args:
        tied_to: A built `keras.layers.Dense` layer (call or build it first).
        activation: Activation function to use. If `None`, no activation.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: Tensor whose last dimension is `tied_to.units`.

    Input shape:
        N-D tensor with shape `(batch_size, ..., tied_to.units)`.

    Output shape:
        N-D tensor with shape `(batch_size, ..., input_dim)`, where `input_dim`
        is the last dimension of the inputs of `tied_to`.

    Example:

    >>> x = keras.Input((784,))
    >>> encoder = keras.layers.Dense(30, activation="relu")
    >>> code = encoder(x)  # builds the encoder's kernel, shape (784, 30)
    >>> decoder = DenseTranspose(encoder, activation="sigmoid")
    >>> autoencoder = keras.Model(x, decoder(code))
    >>> decoder.kernel is encoder.kernel
    True
    """

    def __init__(self, tied_to, activation=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(tied_to, keras.layers.Dense):
            raise ValueError(
                "Invalid value for argument `tied_to`. Expected a built "
                "`keras.layers.Dense` layer whose kernel is to be transposed. "
                f"Received: tied_to={tied_to!r} of type {type(tied_to).__name__}"
            )
        if not tied_to.built:
            raise ValueError(
                f"The Dense layer '{tied_to.name}' passed as `tied_to` is not built yet, "
                "so it has no kernel to tie to. Call it on an input (or call its "
                "`build(input_shape)`) before creating the `DenseTranspose`. "
                f"Received: tied_to={tied_to.name!r} with built=False"
            )
        self._tied = _TiedLayerRef(tied_to)
        self._restored = False
        self.activation = activations.get(activation)
        # Tracked here too, so this layer's gradients and saved weights reach the
        # shared variable; models count it once (they de-duplicate by identity).
        self.kernel = tied_to.kernel

    @property
    def tied_to(self):
        """The `Dense` layer whose kernel this layer shares (`None` once untied)."""
        return self._tied.layer if self._tied.shared else None

    def __call__(self, *args, **kwargs):
        # Not in build(): `load_model` builds a restored layer from its build config before
        # the enclosing model calls its layers, so only at this first call has the re-tied
        # Dense layer run (it has an `output`) when both sit in the same saved model.
        if self._restored and not hasattr(self._tied.layer, "output"):
            # Loaded with its own copy of the Dense layer, which the enclosing model
            # did not call first: the original was not in the same saved model config.
            self._tied.shared = False
            warnings.warn(
                f"Layer '{self.name}' could not be re-tied to Dense layer "
                f"'{self._tied.layer.name}', which is not in the same saved model; it "
                "keeps the saved kernel values as its own, no longer shared, variable.",
                stacklevel=2,
            )
        self._restored = False
        return super().__call__(*args, **kwargs)

    def build(self, input_shape):
        units, output_dim = self.kernel.shape[1], self.kernel.shape[0]
        if input_shape[-1] is not None and input_shape[-1] != units:
            raise ValueError(
                f"Layer '{self.name}' uses the transpose of a {units}-unit Dense kernel, "
                f"so it expects inputs whose last dimension is {units}. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.bias = self.add_weight(name="bias", shape=(output_dim,), initializer="zeros")

    def call(self, inputs):
        kernel = ops.cast(self.kernel, self.compute_dtype)
        return self.activation(ops.matmul(inputs, ops.transpose(kernel)) + self.bias)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.kernel.shape[0],)

    def get_config(self):
        base_config = super().get_config()
        config = {
            # Keras's object sharing maps this entry back to the model's own layer.
            "tied_to": keras.saving.serialize_keras_object(self._tied.layer),
            "activation": activations.serialize(self.activation),
        }
        return {**base_config, **config}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["tied_to"] = keras.saving.deserialize_keras_object(config["tied_to"])
        layer = cls(**config)
        layer._restored = True
        return layer
