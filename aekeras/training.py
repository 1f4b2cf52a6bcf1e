"""Load-or-train: expensive training runs once per profile and backend, then loads.

Re-running a lecture in the same environment reloads the trained weights instead of
training again (uvadlc's load-or-train habit). The cache lives in ``$AEKERAS_CACHE_DIR``
(default ``~/.cache/aekeras``), keyed by the run's name, profile, backend, the model's
architecture (every layer's config), optimizer (with its learning-rate schedule) and loss,
and the shapes and arguments of the fit, so a changed experiment trains afresh.
``AEKERAS_RETRAIN=1`` ignores the cache.
"""

import hashlib
import json
import os
import re
import warnings

import numpy as np

CACHE_ENV = "AEKERAS_CACHE_DIR"
RETRAIN_ENV = "AEKERAS_RETRAIN"


def weights_cache_dir() -> str:
    """Where trained weights are cached: ``$AEKERAS_CACHE_DIR``, else ``~/.cache/aekeras``."""
    return os.path.expanduser(os.environ.get(CACHE_ENV, os.path.join("~", ".cache", "aekeras")))


def _described(obj):
    """A JSON-able description of a loss, metric or optimizer: its name or its config."""
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, (list, tuple)):
        return [_described(o) for o in obj]
    if isinstance(obj, dict):
        return {str(k): _described(v) for k, v in obj.items()}
    try:
        return [type(obj).__name__, obj.get_config()]
    except Exception:  # noqa: BLE001 - a plain function, or an object with no config
        return getattr(obj, "__qualname__", type(obj).__name__)


def _recipe(model):
    """What makes two fits differ besides the data: the architecture, optimizer and loss.

    Keras numbers the default names of a session's later layers and optimizers on
    (``dense``, ``dense_1``, ...); the numbers are dropped, so a model rebuilt by re-running
    a cell keys as before.
    """
    layers, stack = [], [model]
    while stack:
        layer = stack.pop(0)
        layers.append(layer)
        stack.extend(getattr(layer, "layers", None) or [])
    configs = []
    for layer in layers:
        try:
            configs.append([type(layer).__name__, layer.get_config()])
        except Exception:  # noqa: BLE001 - a layer without a config keys by its class only
            configs.append([type(layer).__name__])
    parts = {
        "layers": configs,
        "optimizer": _described(getattr(model, "optimizer", None)),
        "loss": _described(getattr(model, "loss", None)),
    }
    text = json.dumps(parts, sort_keys=True, default=repr)
    text = re.sub(r'"([A-Za-z]\w*?)_\d+"', r'"\1"', text)  # "dense_7" -> "dense"
    # No memory addresses: a repr such as "<function f at 0x7f...>" would differ every session.
    return re.sub(r" at 0x[0-9a-fA-F]+", "", text)


def _fingerprint(model, x, fit_kwargs):
    parts = {
        "model": model.__class__.__name__,
        "params": int(model.count_params()) if model.built else -1,
        "recipe": _recipe(model),
        "x": [list(np.shape(a)) for a in (x if isinstance(x, (list, tuple)) else [x])],
        "x_sum": float(
            np.sum(np.asarray(x[0] if isinstance(x, (list, tuple)) else x)[:64], dtype="float64")
        ),
        "fit": {
            k: repr(v) for k, v in sorted(fit_kwargs.items()) if k not in ("verbose", "callbacks")
        },
    }
    return hashlib.sha1(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]


def fit_or_load(model, name, x, y=None, profile=None, **fit_kwargs):
    """Fits ``model`` (``model.fit(x, y, **fit_kwargs)``) or loads the weights of an identical earlier fit.

    The model must be built or buildable by calling it on ``x[:1]``. The starting weights
    are not part of the key (re-running a cell must not retrain), so give a fine-tune from
    other starting weights (e.g. after pretraining) a name of its own.

    Without a ``verbose`` argument, training shows one live progress line
    (`aekeras.progress.EpochProgress`) instead of Keras's per-step bar.

    Returns:
        the training history as a dict (``History.history``), also when loaded.
    """
    import keras

    from aekeras.profiles import get_profile

    profile = profile or get_profile()
    if not model.built:
        sample = [a[:1] for a in x] if isinstance(x, (list, tuple)) else x[:1]
        model(sample)
    key = f"{name}-{profile.name}-{keras.backend.backend()}-{_fingerprint(model, x, fit_kwargs)}"
    folder = weights_cache_dir()
    weights = os.path.join(folder, key + ".weights.h5")
    history_path = os.path.join(folder, key + ".history.json")
    retrain = os.environ.get(RETRAIN_ENV, "") in ("1", "true", "yes")
    if not retrain and os.path.exists(weights) and os.path.exists(history_path):
        try:
            with warnings.catch_warnings():
                # The optimizer's slots are not needed to use a trained model.
                warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
                model.load_weights(weights)
            with open(history_path) as f:
                history = json.load(f)
            print(
                f"Loaded trained weights of '{name}' from {weights} (set {RETRAIN_ENV}=1 to retrain)."
            )
            return history
        except Exception as err:  # noqa: BLE001 - a stale or broken cache file means: train again
            print(f"Could not load cached '{name}' ({err}); training again.")
    if "verbose" not in fit_kwargs:
        from aekeras.progress import EpochProgress

        callbacks = [*(fit_kwargs.get("callbacks") or []), EpochProgress(name)]
        fit_kwargs = {**fit_kwargs, "verbose": 0, "callbacks": callbacks}
    history = model.fit(x, y, **fit_kwargs).history
    history = {k: [float(v) for v in vals] for k, vals in history.items()}
    os.makedirs(folder, exist_ok=True)
    # Written under a temporary name, then renamed: a kernel stopped mid-save, or a second
    # notebook loading the same fit meanwhile, never sees a half-written file.
    partial = f"{key}.{os.getpid()}.partial"
    model.save_weights(os.path.join(folder, partial + ".weights.h5"))
    os.replace(os.path.join(folder, partial + ".weights.h5"), weights)
    with open(os.path.join(folder, partial + ".json"), "w") as f:
        json.dump(history, f)
    os.replace(os.path.join(folder, partial + ".json"), history_path)
    return history
