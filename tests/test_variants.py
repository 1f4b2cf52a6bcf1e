"""The Larochelle et al. (2007) variants: rotation, random background, rectangles."""

import numpy as np
import pytest

from aekeras import datasets


def _centre_of_mass(image):
    """(x right, y up) of the pixel mass relative to the image centre."""
    rows, cols = np.indices(image.shape)
    c = (np.array(image.shape) - 1) / 2
    m = image.sum()
    return np.array([(image * (cols - c[1])).sum() / m, -(image * (rows - c[0])).sum() / m])


@pytest.mark.parametrize("angle", [np.pi / 2, 1.0, 4.0])
def test_rotation_moves_the_mass_centre_by_the_angle(angle):
    image = np.zeros((28, 28), "float32")
    image[4:8, 18:21] = 1.0  # a block up and to the right of the centre
    (rotated,) = datasets.rotate_digits(image[None], [angle])
    before, after = _centre_of_mass(image), _centre_of_mass(rotated)
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    np.testing.assert_allclose(after, turn @ before, atol=0.05)  # counter-clockwise
    assert abs(rotated.sum() - image.sum()) < 0.5  # mass kept (inside the frame)


def test_rotating_back_gives_the_digit(mnist_images):
    digits = mnist_images.x_test[:20]
    angles = np.random.default_rng(0).uniform(0, 2 * np.pi, 20)
    there = datasets.rotate_digits(digits, angles)
    back = datasets.rotate_digits(there, -angles)
    assert there.shape == digits.shape and there.dtype == np.float32
    assert 0.0 <= there.min() and there.max() <= 1.0
    # Two bilinear resamplings blur, but the digit comes back: correlation near 1 ...
    corr = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(digits, back)]
    assert min(corr) > 0.85
    # ... while the rotated digit itself is a different image.
    moved = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(digits, there)]
    assert np.median(moved) < 0.6


def test_random_background_keeps_the_digit_and_is_uniform_behind_it(mnist_images):
    digits = mnist_images.x_test[:200, ..., 0]
    out = datasets.random_background(digits, np.random.default_rng(0))
    on, off = digits > 0, digits == 0
    np.testing.assert_array_equal(out[on], digits[on])
    noise = out[off]
    assert abs(noise.mean() - 0.5) < 0.01  # U[0, 1]: mean 1/2, variance 1/12
    assert abs(noise.var() - 1 / 12) < 0.005
    assert 0.0 <= noise.min() and noise.max() <= 1.0


def test_rectangles_labels_match_the_drawn_shape():
    x, y = datasets.rectangles(500, np.random.default_rng(0))
    assert x.shape == (500, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64
    assert set(np.unique(x)) == {0.0, 1.0} and set(np.unique(y)) == {0, 1}
    for image, label in zip(x, y):
        rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
        height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
        assert label == int(height > width) and abs(height - width) >= 3
        box = image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        assert box[[0, -1]].all() and box[:, [0, -1]].all()  # a closed outline ...
        assert not box[1:-1, 1:-1].any()  # ... with nothing inside
    assert 0.3 < y.mean() < 0.7  # both classes, about equally often


@pytest.mark.parametrize("name", ["basic", "rot", "bg-rand", "rot+bg-rand"])
def test_mnist_variants_shapes_labels_and_seed(mnist_images, name):
    kwargs = dict(n_train=300, n_valid=50, n_test=200, images=mnist_images)
    d = datasets.load_mnist_variant(name, seed=3, **kwargs)
    assert d.x_train.shape == (300, 28, 28, 1) and d.x_valid.shape == (50, 28, 28, 1)
    assert d.x_test.shape == (200, 28, 28, 1) and d.x_train.dtype == np.float32
    assert 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    assert name in d.source and "seed 3" in d.source and d.source.startswith("mnist")
    # Labels are the digits': the same seed picks the same digits in every variant.
    basic = datasets.load_mnist_variant("basic", seed=3, **kwargs)
    for split in ("y_train", "y_valid", "y_test"):
        np.testing.assert_array_equal(getattr(d, split), getattr(basic, split))
    # Test digits come from MNIST's test set, and no training digit is a test digit.
    mnist_test = {t.tobytes() for t in mnist_images.x_test}
    assert all(t.tobytes() in mnist_test for t in basic.x_test)
    assert not any(t.tobytes() in mnist_test for t in basic.x_train)
    again = datasets.load_mnist_variant(name, seed=3, **kwargs)
    np.testing.assert_array_equal(d.x_train, again.x_train)
    np.testing.assert_array_equal(d.x_test, again.x_test)
    other = datasets.load_mnist_variant(name, seed=4, **kwargs)
    assert not np.array_equal(d.x_train, other.x_train)
    # A smaller split is a prefix of the larger one (profiles take subsets).
    small = datasets.load_mnist_variant(name, seed=3, n_train=100, n_valid=50, n_test=200,
                                        images=mnist_images)  # fmt: skip
    np.testing.assert_array_equal(small.x_train, d.x_train[:100])


def test_paper_sizes_and_test_digits_beyond_mnist_test(mnist_images):
    d = datasets.load_mnist_variant("basic", images=mnist_images, flatten=True)
    assert (len(d.x_train), len(d.x_valid), len(d.x_test)) == (10_000, 2_000, 50_000)
    assert d.x_train.shape[1] == 784
    # 10,000 test digits from MNIST's test set, 40,000 from unused training digits: all distinct.
    pool = np.concatenate([d.x_train, d.x_valid, d.x_test])
    keys = {row.tobytes() for row in (pool * 255).round().astype(np.uint8)}
    assert len(keys) > 0.995 * len(pool)  # MNIST has a few duplicate images, no more
    rect = datasets.load_mnist_variant("rect", n_test=1000)
    assert (len(rect.x_train), len(rect.x_valid)) == (1_000, 200)
    assert rect.class_names == ("wide", "tall") and rect.source.startswith("rectangles")


def test_variant_arguments_are_checked(mnist_images):
    with pytest.raises(ValueError, match="Unknown variant"):
        datasets.load_mnist_variant("rotated")
    with pytest.raises(ValueError, match="n_train"):
        datasets.load_mnist_variant("rot", n_train=-1, images=mnist_images)
    with pytest.raises(ValueError, match="too few"):
        datasets.load_mnist_variant("rot", n_train=60_000, images=mnist_images)
