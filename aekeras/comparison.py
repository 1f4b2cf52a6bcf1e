"""Like-for-like runs of an aekeras model beside a scikit-learn baseline (lecture 08).

A comparison is fair when both sides see the same mini-batches in the same order, when the
seconds per epoch leave out one-off costs (Keras compiles its training step in the first
epoch; scikit-learn compiles nothing) or show them apart, and when each column names the
hardware it ran on. scikit-learn's `BernoulliRBM.fit` visits the data in order, in
consecutive batches, every epoch, and has no option to reshuffle; `fit_in_order` makes Keras
do the same (`shuffle=False`, whole batches only), and `EpochTimer` times every epoch so the
first can be reported apart.

Example:

```python
timer = fit_in_order(rbm, x, epochs=5, batch_size=100)
epoch_seconds(timer.times)  # {"first": ..., "later": ...}
seconds = fit_timed(BernoulliRBM(batch_size=100, n_iter=5), whole_batches(x, 100))
```
"""

import os
import platform
import statistics
import time

import keras

__all__ = [
    "EpochTimer",
    "epoch_seconds",
    "fit_in_order",
    "fit_timed",
    "hardware",
    "whole_batches",
]


class EpochTimer(keras.callbacks.Callback):
    """Collects the wall time of every epoch of `fit`, in seconds, in `.times`."""

    def __init__(self):
        super().__init__()
        self.times = []
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)


def epoch_seconds(times):
    """`{"first": s, "later": mean s of the other epochs or None}` from `EpochTimer.times`.

    Keras's first epoch includes compiling the training step; the later ones do not.
    """
    if not times:
        raise ValueError("`times` is empty: no epoch was timed.")
    later = statistics.mean(times[1:]) if len(times) > 1 else None
    return {"first": float(times[0]), "later": None if later is None else float(later)}


def whole_batches(x, batch_size):
    """The first `len(x) // batch_size * batch_size` rows of `x`: whole batches only.

    scikit-learn's `BernoulliRBM` divides the last, smaller batch's negative statistics (from
    all `batch_size` persistent chains) by that smaller size; whole batches avoid that step.
    """
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be positive. Received: batch_size={batch_size}")
    n = len(x) // batch_size * batch_size
    if n == 0:
        raise ValueError(
            f"`x` holds fewer rows than one batch. Received: len(x)={len(x)}, "
            f"batch_size={batch_size}"
        )
    return x[:n]


def fit_in_order(model, x, epochs, batch_size, y=None, callbacks=(), **fit_kwargs):
    """`model.fit(x)` in scikit-learn's order: consecutive whole batches, no reshuffling.

    Args:
        model: a compiled Keras model trained by `fit(x)` alone (e.g. `aekeras.models.RBM`).
        x: the training data; rows past the last whole batch are dropped.
        epochs, batch_size: as for `fit`.
        y: targets, if the model needs them (cut like `x`).
        callbacks: more callbacks for `fit`.
        **fit_kwargs: passed on to `fit` (not `shuffle`).

    Returns:
        The `EpochTimer` of the run (`.times`, one entry per epoch).
    """
    if "shuffle" in fit_kwargs:
        raise ValueError("`fit_in_order` never shuffles; do not pass `shuffle`.")
    timer = EpochTimer()
    fit_kwargs.setdefault("verbose", 0)
    x = whole_batches(x, batch_size)
    model.fit(
        x,
        None if y is None else y[: len(x)],
        epochs=epochs,
        batch_size=batch_size,
        shuffle=False,
        callbacks=[timer, *callbacks],
        **fit_kwargs,
    )
    return timer


def fit_timed(estimator, x):
    """Fits a scikit-learn estimator; returns its seconds per epoch (`n_iter`), fit time / epochs."""
    start = time.perf_counter()
    estimator.fit(x)
    return (time.perf_counter() - start) / estimator.n_iter


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware():
    """What each column ran on: `{"cpu": "<model>, <n> cores", "keras": "<backend> on <device>"}`."""
    from aekeras.profiles import gpu_visible

    cpu = f"{_cpu_name()}, {os.cpu_count()} logical cores"
    backend = keras.backend.backend()
    device = "GPU" if gpu_visible() else "CPU"
    if device == "GPU" and backend == "torch":
        import torch

        device = torch.cuda.get_device_name(0)
    elif device == "GPU":
        device = ", ".join(str(d) for d in keras.distribution.list_devices("gpu"))
    return {"cpu": cpu, "keras": f"Keras {keras.__version__} ({backend}) on {device}"}
