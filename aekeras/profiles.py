"""Run budgets: one environment variable, ``AEKERAS_PROFILE``, scales every notebook.

* ``smoke`` -- CI: seconds per notebook, tiny subsets of the real data, one epoch.
* ``cpu``   -- a laptop: minutes per notebook.
* ``gpu``   -- the full experiments behind the headline numbers.

Unset (or ``auto``), the profile is ``gpu`` when Keras sees a GPU and ``cpu`` otherwise.
A notebook never tests for CI itself; it asks the profile::

    profile = aekeras.profiles.get_profile()
    x_train = x_train[: profile.n_train(60_000)]
    model.fit(x_train, x_train, epochs=profile.epochs(50), batch_size=profile.batch_size)
"""

import dataclasses
import os

PROFILE_ENV = "AEKERAS_PROFILE"


@dataclasses.dataclass(frozen=True)
class Profile:
    """Sizes and epochs for one run budget.

    Args:
        name: ``"smoke"``, ``"cpu"`` or ``"gpu"``.
        max_train: cap on training examples (``None``: use all).
        max_test: cap on test examples (``None``: use all).
        epoch_fraction: share of the full experiment's epochs to run.
        max_epochs: cap on epochs (``None``: no cap).
        batch_size: mini-batch size for ``fit``.
        max_datasets: cap on how many datasets a comparison across datasets runs (``None``:
            all), e.g. lecture 06's table over the MNIST variants.
    """

    name: str
    max_train: int | None
    max_test: int | None
    epoch_fraction: float
    max_epochs: int | None
    batch_size: int
    max_datasets: int | None = None

    def n_train(self, full: int) -> int:
        """Number of training examples to use out of ``full``."""
        return full if self.max_train is None else min(full, self.max_train)

    def n_test(self, full: int) -> int:
        """Number of test examples to use out of ``full``."""
        return full if self.max_test is None else min(full, self.max_test)

    def epochs(self, full: int) -> int:
        """Epochs to run where the full experiment runs ``full`` (always at least 1)."""
        n = max(1, round(full * self.epoch_fraction))
        return n if self.max_epochs is None else min(n, self.max_epochs)

    def datasets(self, names):
        """The first ``max_datasets`` of ``names`` (all of them when uncapped), as a tuple."""
        names = tuple(names)
        return names if self.max_datasets is None else names[: self.max_datasets]

    @property
    def is_full(self) -> bool:
        """True when this profile runs the full experiment (numbers comparable with papers)."""
        return self.max_train is None and self.epoch_fraction >= 1.0


PROFILES = {
    "smoke": Profile(
        "smoke",
        max_train=2_000,
        max_test=500,
        epoch_fraction=0.0,
        max_epochs=1,
        batch_size=128,
        max_datasets=1,
    ),
    "cpu": Profile(
        "cpu", max_train=20_000, max_test=10_000, epoch_fraction=0.2, max_epochs=10, batch_size=128
    ),
    "gpu": Profile(
        "gpu", max_train=None, max_test=None, epoch_fraction=1.0, max_epochs=None, batch_size=256
    ),
}


def gpu_visible() -> bool:
    """Whether the current Keras backend sees a GPU."""
    import keras

    try:
        if keras.backend.backend() == "torch":  # keras.distribution does not cover torch
            import torch

            return torch.cuda.is_available()
        devices = keras.distribution.list_devices()
        return any(str(d).lower().startswith(("gpu", "cuda")) for d in devices)
    except Exception:  # a broken driver is "no GPU", not a crash
        return False


def get_profile(name: str | None = None) -> Profile:
    """Returns the run budget named by ``name`` or by ``$AEKERAS_PROFILE``.

    Args:
        name: ``"smoke"``, ``"cpu"``, ``"gpu"`` or ``"auto"``; ``None`` reads the
            environment variable, and an unset variable means ``"auto"``.
    """
    if name is None:
        name = os.environ.get(PROFILE_ENV, "auto")
    name = name.strip().lower() or "auto"
    if name == "auto":
        name = "gpu" if gpu_visible() else "cpu"
    if name not in PROFILES:
        raise ValueError(
            f"{PROFILE_ENV} must be one of {sorted(PROFILES)} or 'auto'. Received: {name!r}"
        )
    return PROFILES[name]


# Lecture 09's β-VAE on dSprites-like shapes (aekeras.datasets.dsprites_like).
@dataclasses.dataclass(frozen=True)
class DisentanglementBudget:
    """Sizes of lecture 09's disentanglement runs under one profile.

    Args:
        n_images: training images sampled from the factor grid (737,280 combinations).
        size: image side in pixels (64 as in dSprites; 32 where time is short).
        n_eval: images (another sample) on which MIG is measured.
        epochs: training epochs per model.
        seeds: training runs per β (each with its own seed).
    """

    n_images: int
    size: int
    n_eval: int
    epochs: int
    seeds: int


DISENTANGLEMENT = {
    "smoke": DisentanglementBudget(n_images=1_000, size=32, n_eval=1_000, epochs=1, seeds=1),
    "cpu": DisentanglementBudget(n_images=20_000, size=32, n_eval=10_000, epochs=10, seeds=3),
    "gpu": DisentanglementBudget(n_images=200_000, size=64, n_eval=10_000, epochs=30, seeds=3),
}


def disentanglement_budget(profile=None) -> DisentanglementBudget:
    """The :class:`DisentanglementBudget` of ``profile`` (default: :func:`get_profile`)."""
    return DISENTANGLEMENT[(profile or get_profile()).name]
