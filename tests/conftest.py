"""Shared fixtures: the real datasets (loaded once per session) and scratch folders.

Tests never write into the user's caches: trained-weight caches and recorded results go
to a temporary folder for the session, which notebook kernels inherit.
"""

import os
import tempfile

import pytest

_SCRATCH = tempfile.mkdtemp(prefix="aekeras-tests-")
os.environ.setdefault("AEKERAS_CACHE_DIR", os.path.join(_SCRATCH, "cache"))
os.environ.setdefault("AEKERAS_RESULTS_DIR", os.path.join(_SCRATCH, "results"))
os.environ.setdefault("AEKERAS_PROFILE", "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")


def _mnist_file():
    from aekeras.datasets import keras_datasets_dir

    return os.path.join(keras_datasets_dir(), "mnist.npz")


@pytest.fixture(scope="session")
def mnist():
    """Real MNIST, flattened, float32 in [0, 1]; skipped when the cache lacks it."""
    from aekeras import datasets

    if not os.path.exists(_mnist_file()):
        pytest.skip(f"MNIST is not in the Keras cache ({_mnist_file()}); run `make data` first.")
    return datasets.load_mnist(flatten=True)


@pytest.fixture(scope="session")
def mnist_images():
    """Real MNIST as (n, 28, 28, 1) images."""
    from aekeras import datasets

    if not os.path.exists(_mnist_file()):
        pytest.skip(f"MNIST is not in the Keras cache ({_mnist_file()}); run `make data` first.")
    return datasets.load_mnist()


@pytest.fixture(scope="session")
def reuters():
    """Reuters-21578 (ModApte) bag-of-words; skipped with the loader's message when missing."""
    from aekeras import datasets

    os.environ.setdefault(datasets.NO_DOWNLOAD_ENV, "1")
    try:
        return datasets.load_reuters()
    except datasets.DatasetNotFoundError as err:
        pytest.skip(str(err))
