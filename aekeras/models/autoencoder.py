"""The autoencoder model x̂ = g(f(x)) and the deep dense autoencoder of lectures 01-02."""

import keras
import numpy as np
from keras import ops

from aekeras.layers.tied import DenseTranspose

__all__ = ["Autoencoder", "DenseAutoencoder", "dense_autoencoder"]


@keras.saving.register_keras_serializable(package="aekeras")
class Autoencoder(keras.Model):
    """An encoder and a decoder trained together to reconstruct their input: x̂ = g(f(x)).

    The code c = f(x) is the encoder's output; the decoder maps it back, x̂ = g(c), and
    `fit(x, x)` minimises the reconstruction loss given to `compile` plus any losses the
    layers add (Hinton & Salakhutdinov 2006, "Reducing the dimensionality of data with
    neural networks"; Goodfellow et al. 2016, ch. 14).

    Args:
        encoder: a Keras model (or layer) mapping x to the code.
        decoder: a Keras model (or layer) mapping the code to x̂.

    Call arguments:
        inputs: a batch of x.
        training: Python bool, passed on to the encoder and the decoder.

    Example:

    ```python
    model = Autoencoder(encoder, decoder)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(x_train, x_train, epochs=10)
    codes = model.encode(x_test)
    ```
    """

    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        for name, part in (("encoder", encoder), ("decoder", decoder)):
            if not isinstance(part, keras.layers.Layer):
                raise ValueError(
                    f"`{name}` must be a Keras model or layer. "
                    f"Received: {name}={part!r} of type {type(part).__name__}"
                )
        self.encoder = encoder
        self.decoder = decoder
        # Built parts (functional models) make a built model: no data needed to save it.
        self.built = bool(getattr(encoder, "built", False) and getattr(decoder, "built", False))

    def call(self, inputs, training=None):
        return self.decoder(self.encoder(inputs, training=training), training=training)

    @staticmethod
    def _in_batches(layer, x, batch_size):
        """NumPy in, NumPy out: eager calls on batches (no tracing, so cheap on small data)."""
        x = np.asarray(x)
        if batch_size < 1:
            raise ValueError(f"`batch_size` must be positive. Received: batch_size={batch_size}")
        parts = [layer(x[i : i + batch_size]) for i in range(0, max(len(x), 1), batch_size)]
        return keras.tree.map_structure(
            lambda *p: np.concatenate([ops.convert_to_numpy(q) for q in p]), *parts
        )

    def encode(self, x, batch_size=1024):
        """The codes f(x) of a NumPy batch, as NumPy (inside a graph call `.encoder(x)`)."""
        return self._in_batches(self.encoder, x, batch_size)

    def decode(self, z, batch_size=1024):
        """The reconstructions g(z) of a NumPy batch of codes, as NumPy."""
        return self._in_batches(self.decoder, z, batch_size)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "encoder": keras.saving.serialize_keras_object(self.encoder),
                "decoder": keras.saving.serialize_keras_object(self.decoder),
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**deserialize_submodels(config, custom_objects))


def deserialize_submodels(config, custom_objects=None, names=("encoder", "decoder")):
    """A copy of ``config`` with its serialised sub-models (``names``) rebuilt."""
    config = dict(config)
    for name in names:
        config[name] = keras.saving.deserialize_keras_object(
            config[name], custom_objects=custom_objects
        )
    return config


def _positive_ints(name, values):
    values = tuple(values)
    if not all(isinstance(v, (int, np.integer)) and v >= 1 for v in values):
        raise ValueError(f"`{name}` must hold positive integers. Received: {name}={values!r}")
    return tuple(int(v) for v in values)


@keras.saving.register_keras_serializable(package="aekeras")
class DenseAutoencoder(Autoencoder):
    """The deep autoencoder of Hinton & Salakhutdinov (2006): 784-1000-500-250-30 and back.

    The encoder is `input_dim → hidden... → code_dim`, the decoder the mirror image. With
    `hidden=()` and no activations it is the linear autoencoder x̂ = W₂(W₁x), whose optimum
    spans the PCA subspace (Baldi & Hornik 1989; lecture 01).

    Args:
        input_dim: size of x.
        hidden: widths of the encoder's hidden layers (the decoder uses them reversed).
        code_dim: size of the code.
        activation: activation of the hidden layers.
        code_activation: activation of the code layer (None: linear, as in the paper).
        output_activation: activation of the reconstruction ("sigmoid" for pixels in [0, 1]).
        code_l2: weight λ of an L2 activity penalty λ‖c‖² on the code (mean over the batch),
            which keeps the codes in a compact region the decoder can be sampled from.
        tied: decoder layers use the transposed encoder kernels (`layers.DenseTranspose`).
        name: the model's name; the parts are `{name}_encoder` and `{name}_decoder`.

    Its config is these arguments (not the two sub-models), so a `.keras` file rebuilds the
    model in code and tied weights (`layers.DenseTranspose`) stay tied after `load_model`.
    `dense_autoencoder(...)` is the same class, under the name the lectures use.
    """

    def __init__(
        self,
        input_dim=784,
        hidden=(1000, 500, 250),
        code_dim=30,
        activation="relu",
        code_activation=None,
        output_activation="sigmoid",
        code_l2=0.0,
        tied=False,
        **kwargs,
    ):
        hidden = _positive_ints("hidden", hidden)
        (input_dim,) = _positive_ints("input_dim", (input_dim,))
        (code_dim,) = _positive_ints("code_dim", (code_dim,))
        if not code_l2 >= 0:
            raise ValueError(f"`code_l2` must be >= 0. Received: code_l2={code_l2!r}")
        name = kwargs["name"] = kwargs.get("name") or "dense_autoencoder"
        self._builder_args = {
            "input_dim": input_dim,
            "hidden": list(hidden),
            "code_dim": code_dim,
            "activation": activation,
            "code_activation": code_activation,
            "output_activation": output_activation,
            "code_l2": float(code_l2),
            "tied": bool(tied),
        }

        inputs = keras.Input((input_dim,), name="inputs")
        x, encoder_layers = inputs, []
        for i, units in enumerate(hidden):
            encoder_layers.append(keras.layers.Dense(units, activation, name=f"encoder_dense_{i}"))
            x = encoder_layers[-1](x)
        regularizer = keras.regularizers.L2(code_l2) if code_l2 > 0 else None
        encoder_layers.append(
            keras.layers.Dense(
                code_dim, code_activation, activity_regularizer=regularizer, name="code"
            )
        )
        encoder = keras.Model(inputs, encoder_layers[-1](x), name=f"{name}_encoder")

        codes = keras.Input((code_dim,), name="codes")
        y = codes
        widths = (input_dim, *hidden)
        for i, (layer, units) in enumerate(zip(reversed(encoder_layers), reversed(widths))):
            last = i == len(hidden)
            act = output_activation if last else activation
            layer_name = "reconstruction" if last else f"decoder_dense_{i}"
            if tied:
                y = DenseTranspose(layer, activation=act, name=layer_name)(y)
            else:
                y = keras.layers.Dense(units, act, name=layer_name)(y)
        decoder = keras.Model(codes, y, name=f"{name}_decoder")
        super().__init__(encoder, decoder, **kwargs)

    def get_config(self):
        config = keras.Model.get_config(self)
        config.update(self._builder_args)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)


# The builder under the name the lectures use; the class itself builds the model.
dense_autoencoder = DenseAutoencoder
