"""Dataset loaders on the real files, the loud fallback, and the clear errors."""

import os
import warnings

import numpy as np
import pytest

from aekeras import datasets


def test_mnist_real_files(mnist_images):
    d = mnist_images
    assert d.source == "mnist" and not d.is_fallback
    assert d.x_train.shape == (60000, 28, 28, 1) and d.x_test.shape == (10000, 28, 28, 1)
    assert d.x_train.dtype == np.float32
    assert d.x_train.min() == 0.0 and d.x_train.max() == 1.0
    assert d.y_train.shape == (60000,) and set(np.unique(d.y_train)) == set(range(10))
    # The published class counts of MNIST's training set (SOURCES.md).
    counts = np.bincount(d.y_train)
    assert counts.tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert abs(d.x_train.mean() * 255 - 33.3184) < 1e-3


def test_mnist_flatten_and_binarize(mnist):
    assert mnist.x_train.shape == (60000, 784)
    b = datasets.load_mnist(flatten=True, binarize=True)
    assert set(np.unique(b.x_test)) == {0.0, 1.0}
    np.testing.assert_array_equal(b.x_test, (mnist.x_test > 0.5).astype("float32"))


def test_fashion_mnist_real_files():
    folder = os.path.join(datasets.keras_datasets_dir(), "fashion-mnist")
    if not os.path.isdir(folder):
        pytest.skip(f"Fashion-MNIST is not in {folder}; run `make data` first.")
    d = datasets.load_fashion_mnist()
    assert d.source == "fashion-mnist"
    assert d.x_train.shape == (60000, 28, 28, 1) and d.x_test.shape == (10000, 28, 28, 1)
    assert 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    assert np.bincount(d.y_train).tolist() == [6000] * 10
    assert np.bincount(d.y_test).tolist() == [1000] * 10
    assert d.class_names[9] == "Ankle boot"


def test_empty_cache_falls_back_to_sklearn_digits_loudly(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv(datasets.NO_DOWNLOAD_ENV, "1")
    with pytest.warns(datasets.DatasetFallbackWarning) as caught:
        d = datasets.load_mnist()
    message = str(caught[0].message)
    assert "mnist.npz" in message and str(tmp_path) in message and "KERAS_HOME" in message
    assert d.is_fallback and d.source.startswith("sklearn-digits")
    assert d.x_train.shape[1:] == (28, 28, 1) and d.x_train.dtype == np.float32
    assert len(d.x_train) + len(d.x_test) == 1797
    assert 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        f = datasets.load_fashion_mnist(flatten=True)
    assert f.is_fallback and f.x_train.shape[1] == 784


def test_corrupt_mnist_is_a_clear_error(tmp_path, monkeypatch):
    (tmp_path / "datasets").mkdir()
    np.savez(tmp_path / "datasets" / "mnist.npz", x_train=np.zeros((5, 28, 27), "uint8"),
             y_train=np.zeros(5, "uint8"), x_test=np.zeros((2, 28, 28), "uint8"), y_test=np.zeros(2, "uint8"))  # fmt: skip
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(ValueError, match=r"expected \(n, 28, 28\) images"):
        datasets.load_mnist()


def test_missing_reuters_names_the_file_and_how_to_provide_it(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv(datasets.NO_DOWNLOAD_ENV, "1")
    with pytest.raises(datasets.DatasetNotFoundError) as err:
        datasets.load_reuters()
    text = str(err.value)
    assert "reut2-000.sgm" in text
    assert str(tmp_path / "datasets" / "reuters21578") in text
    assert "reuters21578.tar.gz" in text and "KERAS_HOME" in text


def test_reuters_modapte_bag_of_words(reuters):
    r = reuters
    assert r.x_train.shape == (9603, 2000) and r.x_test.shape == (3299, 2000)
    assert r.x_train.dtype == np.float32 and r.x_train.min() == 0.0
    assert len(r.vocabulary) == 2000 and len(set(r.vocabulary)) == 2000
    assert "the" not in r.vocabulary  # stop words removed
    assert len(r.topics_train) == 9603 and len(r.y_test) == 3299
    # 90 categories have at least one training and one test story (SOURCES.md).
    train_topics = {t for ts in r.topics_train for t in ts}
    test_topics = {t for ts in r.topics_test for t in ts}
    assert len(train_topics & test_topics) == 90
    earn = r.topic_names.index("earn")
    assert (r.y_train == earn).sum() > 2000  # the largest topic
    assert np.all((r.y_train == -1) == np.array([len(t) == 0 for t in r.topics_train]))


def test_reuters_sparse_and_vocabulary_size(reuters):
    small = datasets.load_reuters(num_words=500, sparse=True)
    assert small.x_train.shape == (9603, 500)
    assert hasattr(small.x_train, "tocsr")
    # The 500 most frequent words are the top of the 2000.
    assert set(small.vocabulary) <= set(reuters.vocabulary)
    with pytest.raises(ValueError, match="num_words"):
        datasets.load_reuters(num_words=0)
