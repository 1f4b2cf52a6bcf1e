"""Load-or-train: expensive training runs once per profile and backend, then loads.

Re-running a lecture in the same environment reloads the trained weights instead of
training again (uvadlc's load-or-train habit). The cache lives in ``$AEKERAS_CACHE_DIR``
(default ``~/.cache/aekeras``), keyed by the run's name, profile, backend and the shapes
and arguments of the fit, so a changed experiment trains afresh. ``AEKERAS_RETRAIN=1``
ignores the cache.
"""

import hashlib
import json
import os
import warnings

import numpy as np

CACHE_ENV = "AEKERAS_CACHE_DIR"
RETRAIN_ENV = "AEKERAS_RETRAIN"


def weights_cache_dir() -> str:
    """Where trained weights are cached: ``$AEKERAS_CACHE_DIR``, else ``~/.cache/aekeras``."""
    return os.path.expanduser(os.environ.get(CACHE_ENV, os.path.join("~", ".cache", "aekeras")))


def _fingerprint(model, x, fit_kwargs):
    parts = {
        "model": model.__class__.__name__,
        "params": int(model.count_params()) if model.built else -1,
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
