"""Greedy layer-wise pretraining with shallow autoencoders (lecture 05).

Each layer is trained as the encoder of a one-hidden-layer autoencoder on the codes of the
layers below it, then frozen in place and used to encode the data for the next layer
(Bengio et al. 2007, "Greedy layer-wise training of deep networks"; Vincent et al. 2010
with `noise > 0` or `masking > 0`). An over-complete layer (units ≥ its input size) could
learn the identity, so it gets an L1 penalty on its activity, which makes its code sparse.

Example:

```python
layers = greedy_layerwise(x_unlabelled, units=(1000, 1000, 500), epochs=5)
classifier = keras.Sequential([keras.Input((784,)), *layers, keras.layers.Dense(10, "softmax")])
```
"""

import keras
import numpy as np

from .layers import MaskingNoise
from .progress import EpochProgress

__all__ = ["greedy_layerwise"]


def _fresh_optimizer(optimizer):
    """A new optimizer for every layer: a copy of a given instance, or one made from its name."""
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return optimizer.__class__.from_config(optimizer.get_config())
    return keras.optimizers.get(optimizer)


def greedy_layerwise(
    x,
    units,
    activation="relu",
    epochs=5,
    batch_size=256,
    l1=0.0,
    overcomplete_l1=1e-4,
    noise=0.0,
    masking=0.0,
    optimizer="adam",
    verbose=0,
    name="pretrained",
    return_histories=False,
):
    """Trains one shallow autoencoder per layer, each on the previous layer's codes.

    Layer k is `Dense(units[k], activation)` trained to reconstruct its input h_{k-1} through
    a `Dense` decoder (sigmoid when the input lies in [0, 1], linear otherwise) with the mean
    squared error; its input is h_0 = x, then h_k = layer_k(h_{k-1}).

    Args:
        x: training data, (n, d), NumPy.
        units: widths of the layers, e.g. (1000, 1000, 500).
        activation: activation of every layer.
        epochs: epochs per layer.
        batch_size: batch size.
        l1: L1 activity penalty (mean over the batch of λ Σ_j |h_j|) on under-complete layers.
        overcomplete_l1: the same on over-complete layers (units ≥ input size), so that they
            do not learn to copy.
        noise: standard deviation of Gaussian noise on each layer's input while it is
            trained (a denoising autoencoder); 0 for none.
        masking: fraction of each example's inputs set to 0 while a layer is trained
            (`aekeras.layers.MaskingNoise`, the masking noise of a stacked denoising
            autoencoder); 0 for none. Applied after the Gaussian noise when both are set.
        optimizer: optimizer identifier; a fresh one is made for every layer.
        verbose: truthy: one live progress line per layer (`aekeras.progress.EpochProgress`).
        name: prefix of the layers' names (`{name}_dense_{k}`).
        return_histories: also return each layer's `keras.callbacks.History` (its
            reconstruction loss per epoch).

    Returns:
        The list of trained, built encoder `Dense` layers (activity penalties removed),
        ready to stack into a network and fine-tune; with `return_histories=True`, the
        tuple `(layers, histories)`.
    """
    x = np.asarray(x, dtype="float32")
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"`x` must be a non-empty 2-D array (n, d). Received: x.shape={x.shape}")
    units = tuple(units)
    if not units or not all(isinstance(u, (int, np.integer)) and u >= 1 for u in units):
        raise ValueError(
            f"`units` must be a non-empty sequence of positive integers. Received: units={units!r}"
        )
    for arg, value in (("l1", l1), ("overcomplete_l1", overcomplete_l1), ("noise", noise)):
        if not value >= 0:
            raise ValueError(f"`{arg}` must be >= 0. Received: {arg}={value!r}")
    if not 0 <= masking < 1:
        raise ValueError(f"`masking` must be in [0, 1). Received: masking={masking!r}")

    trained, histories, codes = [], [], x
    for k, width in enumerate(units):
        input_dim = codes.shape[1]
        penalty = overcomplete_l1 if width >= input_dim else l1
        layer = keras.layers.Dense(
            int(width),
            activation,
            activity_regularizer=keras.regularizers.L1(penalty) if penalty > 0 else None,
            name=f"{name}_dense_{k}",
        )
        in_unit_range = bool(codes.min() >= 0.0 and codes.max() <= 1.0)
        reconstruction = keras.layers.Dense(input_dim, "sigmoid" if in_unit_range else None)
        inputs = keras.Input((input_dim,))
        h = keras.layers.GaussianNoise(noise)(inputs) if noise > 0 else inputs
        h = MaskingNoise(masking)(h) if masking > 0 else h
        shallow = keras.Model(inputs, reconstruction(layer(h)), name=f"{name}_autoencoder_{k}")
        shallow.compile(optimizer=_fresh_optimizer(optimizer), loss="mse")
        label = f"layer {k + 1} of {len(units)}: {input_dim} → {width}"
        progress = [EpochProgress(label)] if verbose else []
        histories.append(
            shallow.fit(
                codes, codes, epochs=epochs, batch_size=batch_size, callbacks=progress, verbose=0
            )
        )

        layer.activity_regularizer = None
        codes = np.concatenate(
            [
                keras.ops.convert_to_numpy(layer(codes[i : i + 4096]))
                for i in range(0, len(codes), 4096)
            ]
        )
        trained.append(layer)
    return (trained, histories) if return_histories else trained
