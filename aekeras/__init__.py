"""aekeras: the autoencoder course's library of Keras 3 layers, models, data and plots.

Everything here is written with ``keras.ops`` so it runs on the TensorFlow, JAX and
PyTorch backends alike. Submodules load on first use, so ``import aekeras`` stays fast
and does not import a deep-learning backend until one is needed.
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "ais",
    "datasets",
    "disentanglement",
    "layers",
    "models",
    "numerics",
    "plotting",
    "pretraining",
    "profiles",
    "results",
    "retrieval",
    "training",
)

__all__ = list(_SUBMODULES)


def __getattr__(name):
    if name in _SUBMODULES:
        module = importlib.import_module(f"aekeras.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'aekeras' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))
