"""One progress line per `fit`: live in JupyterLab, one clean line in the built book.

Keras's own `verbose=1` bar writes a carriage-return frame per step, which a rendered
notebook (nbconvert HTML) shows as hundreds of overlapping frames; `verbose=2` prints two
lines per epoch and no live feedback. `EpochProgress` shows one line, updated in place
through an IPython display handle: JupyterLab redraws it as training runs, and the saved
notebook keeps only its last state. Outside a kernel it prints one line per epoch.
"""

import time

import keras

_WIDTH = 20
_REFRESH_SECONDS = 0.5


def _in_kernel():
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


class EpochProgress(keras.callbacks.Callback):
    """A one-line progress bar with the epoch, the latest metrics and the elapsed time.

    Args:
        label: what is being trained, shown first on the line (e.g. ``"02_ae30"``).

    Example:

    >>> callback = EpochProgress("autoencoder")
    >>> callback.format_line(epoch=2, epochs=4, step=None, steps=None, logs={"loss": 0.25})
    'autoencoder [##########..........]  epoch 2/4  loss 0.25  0.0 s'
    """

    def __init__(self, label="fit"):
        super().__init__()
        self.label = str(label)
        self._handle = None
        self._start = None
        self._last_refresh = 0.0
        self._epoch = 0
        self._logs = {}

    def format_line(self, epoch, epochs, step, steps, logs):
        """The line after `step` of `steps` in `epoch` of `epochs` (`step=None`: epoch end)."""
        done = (epoch - 1 + (step / steps if step and steps else 1.0)) / max(epochs, 1)
        filled = min(_WIDTH, round(done * _WIDTH))
        bar = "#" * filled + "." * (_WIDTH - filled)
        position = f"epoch {epoch}/{epochs}" + (f" step {step}/{steps}" if step else "")
        metrics = "  ".join(f"{k} {v:.4g}" for k, v in sorted((logs or {}).items()))
        elapsed = time.perf_counter() - self._start if self._start else 0.0
        parts = (f"{self.label} [{bar}]", position, metrics, f"{elapsed:.1f} s")
        return "  ".join(p for p in parts if p)

    def _show(self, line, final=False):
        if self._handle is not None:
            from IPython.display import Pretty

            self._handle.update(Pretty(line))
        elif final:
            print(line, flush=True)

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()
        self._epoch = 0
        self._logs = {}
        if _in_kernel():
            from IPython.display import Pretty, display

            self._handle = display(Pretty(f"{self.label}  starting"), display_id=True)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if self._handle is None or now - self._last_refresh < _REFRESH_SECONDS:
            return
        self._last_refresh = now
        line = self.format_line(
            self._epoch, self.params.get("epochs", 1), batch + 1, self.params.get("steps"), logs
        )
        self._show(line)

    def on_epoch_end(self, epoch, logs=None):
        self._logs = {k: float(v) for k, v in (logs or {}).items()}
        line = self.format_line(epoch + 1, self.params.get("epochs", 1), None, None, self._logs)
        self._show(line, final=True)
