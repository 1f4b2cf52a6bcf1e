"""The LSTM/GRU sequence autoencoder and the composite model of Srivastava et al. (2015)."""

import keras
import numpy as np
from keras import ops

__all__ = ["SequenceAutoencoder", "reverse_time", "sequence_targets", "teacher_forcing_inputs"]


def reverse_time(x):
    """The sequences ``x`` ``(batch, time, ...)`` in reverse order: ``y[:, t] = x[:, T-1-t]``.

    The reconstruction decoder of a sequence autoencoder rebuilds its input backwards: its
    first output is the last frame the encoder read, the one its state remembers best, so
    the short-range dependencies come first (Sutskever et al. 2014; Srivastava et al. 2015).
    """
    return ops.flip(ops.convert_to_tensor(x), axis=1)


def teacher_forcing_inputs(targets, start_value=0.0):
    """The inputs of a conditional decoder trained with teacher forcing.

    At step ``t`` the decoder reads the true target of step ``t - 1`` (not its own output);
    at step 0 it reads a start frame filled with ``start_value``:
    ``inputs[:, 0] = start_value`` and ``inputs[:, t] = targets[:, t - 1]``.

    Args:
        targets: ``(batch, time, ...)``, the sequence the decoder must output.
        start_value: the value of the start frame.

    Returns:
        a tensor of the shape of ``targets``.
    """
    targets = ops.convert_to_tensor(targets)
    start = ops.full_like(targets[:, :1], start_value)
    return ops.concatenate([start, targets[:, :-1]], axis=1)


def sequence_targets(past, future=None, reconstruct=True):
    """The targets of :class:`SequenceAutoencoder`: the reversed ``past``, then ``future``.

    ``reconstruct=False`` (prediction only) gives ``future`` alone.
    """
    parts = [reverse_time(past)] if reconstruct else []
    if future is not None:
        parts.append(ops.convert_to_tensor(future))
    if not parts:
        raise ValueError("A prediction-only target needs `future`. Received: future=None")
    return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=1)


@keras.saving.register_keras_serializable(package="aekeras")
class SequenceAutoencoder(keras.Model):
    """An RNN encoder reads a sequence into a code; RNN decoders rebuild and predict from it.

    The encoder LSTM (or GRU) reads the frames ``x[:, 0..T-1]`` (flattened to vectors of
    size ``features``); its final state is the code. A reconstruction decoder, started from
    that state, outputs the input frames in reverse order (see :func:`reverse_time`); a
    future decoder, started from the same state, outputs the next ``future_steps`` frames.
    Both are unconditioned (they read no frames, only their own state), the variant that
    Srivastava, Mansimov & Salakhutdinov (2015, "Unsupervised learning of video
    representations using LSTMs") found as good or better on Moving MNIST. With both
    decoders it is their composite model: the code must keep what the past looked like
    and how it moves.

    The output concatenates the decoders along time: ``(batch, T, features)`` reversed
    reconstruction, then ``(batch, future_steps, features)`` prediction; fit it against
    :func:`sequence_targets` ``(past, future, reconstruct)`` with one per-frame loss.

    Args:
        features: size of one frame (e.g. 32 * 32 = 1024 pixels).
        units: width of the encoder's and the decoders' state.
        cell: ``"lstm"`` or ``"gru"``.
        future_steps: frames the future decoder predicts (0: no future decoder).
        reconstruct: whether there is a reconstruction decoder.
        output_activation: activation of the frames ("sigmoid" for pixels in [0, 1]).

    Call arguments:
        inputs: ``(batch, T, features)``.
        training: Python bool, passed on to the layers.

    Example:

    ```python
    model = SequenceAutoencoder(1024, units=256, future_steps=10)   # composite
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(past, sequence_targets(past, future), epochs=10)
    codes = model.encode(past)
    ```
    """

    def __init__(
        self,
        features,
        units=256,
        cell="lstm",
        future_steps=0,
        reconstruct=True,
        output_activation="sigmoid",
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value, low in (("features", features, 1), ("units", units, 1)):
            if not (isinstance(value, int) and value >= low):
                raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
        if not (isinstance(future_steps, int) and future_steps >= 0):
            raise ValueError(
                f"`future_steps` must be an integer >= 0. Received: future_steps={future_steps!r}"
            )
        if cell not in ("lstm", "gru"):
            raise ValueError(f"`cell` must be 'lstm' or 'gru'. Received: cell={cell!r}")
        if not reconstruct and future_steps == 0:
            raise ValueError(
                "The model needs a decoder: reconstruct=True or future_steps > 0. "
                "Received: reconstruct=False, future_steps=0"
            )
        self.features, self.units, self.cell = features, units, cell
        self.future_steps, self.reconstruct = future_steps, bool(reconstruct)
        self.output_activation = output_activation
        rnn = keras.layers.LSTM if cell == "lstm" else keras.layers.GRU
        self.encoder = rnn(units, return_state=True, name="encoder")
        self.reconstruction_decoder = (
            rnn(units, return_sequences=True, name="reconstruction_decoder")
            if reconstruct
            else None
        )
        self.future_decoder = (
            rnn(units, return_sequences=True, name="future_decoder") if future_steps else None
        )
        self.reconstruction_frames = (
            keras.layers.Dense(features, output_activation, name="reconstruction_frames")
            if reconstruct
            else None
        )
        self.future_frames = (
            keras.layers.Dense(features, output_activation, name="future_frames")
            if future_steps
            else None
        )

    def encoder_states(self, inputs, training=None):
        """The encoder's final states: ``[h, c]`` (LSTM) or ``[h]`` (GRU)."""
        return list(self.encoder(inputs, training=training)[1:])

    def call(self, inputs, training=None):
        states = self.encoder_states(inputs, training=training)
        # unconditioned decoders read a constant (zero) input of one feature per step
        blank = ops.zeros_like(inputs[:, :1, :1])
        outputs = []
        if self.reconstruct:
            steps = ops.zeros_like(inputs[:, :, :1])
            h = self.reconstruction_decoder(steps, initial_state=states, training=training)
            outputs.append(self.reconstruction_frames(h))
        if self.future_steps:
            steps = ops.repeat(blank, self.future_steps, axis=1)
            h = self.future_decoder(steps, initial_state=states, training=training)
            outputs.append(self.future_frames(h))
        return outputs[0] if len(outputs) == 1 else ops.concatenate(outputs, axis=1)

    def encode(self, x, batch_size=256):
        """The codes of a NumPy batch ``(n, T, features)``: the encoder's final states
        concatenated (``[h, c]`` for an LSTM, ``h`` for a GRU), as NumPy."""
        parts = []
        for i in range(0, len(x), batch_size):
            states = self.encoder_states(ops.convert_to_tensor(x[i : i + batch_size]))
            parts.append(ops.convert_to_numpy(ops.concatenate(states, axis=-1)))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def compute_output_shape(self, input_shape):
        steps = self.future_steps
        if self.reconstruct:
            steps = None if input_shape[1] is None else input_shape[1] + steps
        return (input_shape[0], steps, self.features)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "features": self.features,
                "units": self.units,
                "cell": self.cell,
                "future_steps": self.future_steps,
                "reconstruct": self.reconstruct,
                "output_activation": self.output_activation,
            }
        )
        return config
