"""Moving MNIST and the sequence autoencoder: the generator, the target helpers against NumPy,
shapes, saving, training, and the reversed-target convention."""

import keras
import numpy as np
import pytest
from keras import ops

from aekeras.datasets import moving_mnist
from aekeras.models import (
    SequenceAutoencoder,
    reverse_time,
    sequence_targets,
    teacher_forcing_inputs,
)


@pytest.fixture(scope="module")
def small_moving(mnist_images):
    """64 quarter-size Moving MNIST sequences (32x32, 8 frames) from real training digits."""
    return moving_mnist(64, n_frames=8, size=32, digit_size=14, images=mnist_images)


# --- Moving MNIST ------------------------------------------------------------------------


def test_moving_mnist_is_the_paper_dataset(mnist_images):
    data = moving_mnist(6, images=mnist_images, seed=3)
    assert data.x.shape == (6, 20, 64, 64, 1) and data.x.dtype == np.float32
    assert data.digits.shape == (6, 2) and set(data.digits.ravel()) <= set(range(10))
    assert 0.0 <= data.x.min() and data.x.max() <= 1.0
    assert data.source == "moving-mnist from mnist (train)"
    again = moving_mnist(6, images=mnist_images, seed=3)
    assert np.array_equal(again.x, data.x) and np.array_equal(again.digits, data.digits)
    assert not np.array_equal(moving_mnist(6, images=mnist_images, seed=4).x, data.x)
    # every frame holds both digits: at least the ink of the brighter one, at most the sum
    ink = data.x.sum(axis=(2, 3, 4))
    assert np.all(ink > 0)


def test_moving_mnist_frames_are_real_digits_that_move(mnist_images):
    data = moving_mnist(1, n_frames=12, n_digits=1, images=mnist_images, seed=1)
    digit = mnist_images.x_train[:, :, :, 0]
    frames = data.x[0, :, :, :, 0]
    positions = []
    for frame in frames:
        rows, cols = np.nonzero(frame)
        # the frame is one MNIST digit pasted at some corner: find it and compare pixels
        r0, c0 = rows.min(), cols.min()
        positions.append(np.array([rows.mean(), cols.mean()]))
        assert frame.sum() == pytest.approx(digit[data_pick(data, mnist_images)].sum(), rel=1e-5)
        assert r0 >= 0 and c0 >= 0
    steps = np.linalg.norm(np.diff(positions, axis=0), axis=1)
    assert np.all(steps < 5) and np.mean(steps) > 1.5, "about 3 pixels a frame, no jumps"


def data_pick(data, images):
    """The index of the training image whose label and ink match the one-digit sequence."""
    frame = data.x[0, 0, :, :, 0]
    ink = images.x_train[:, :, :, 0].sum(axis=(1, 2))
    candidates = np.nonzero(
        (images.y_train == data.digits[0, 0]) & np.isclose(ink, frame.sum(), rtol=1e-5)
    )[0]
    assert len(candidates) >= 1
    return candidates[0]


def test_moving_mnist_small_and_test_split(mnist_images):
    data = moving_mnist(5, n_frames=4, size=32, digit_size=14, split="test", images=mnist_images)
    assert data.x.shape == (5, 4, 32, 32, 1)
    assert data.source.endswith("(test)")
    with pytest.raises(ValueError, match="digit_size"):
        moving_mnist(2, digit_size=10, images=mnist_images)
    with pytest.raises(ValueError, match="size"):
        moving_mnist(2, size=20, images=mnist_images)
    with pytest.raises(ValueError, match="split"):
        moving_mnist(2, split="valid", images=mnist_images)


# --- the target helpers against NumPy ------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 5, 3), (1, 1, 4), (3, 4, 2, 2)])
def test_reverse_time_and_teacher_forcing_against_numpy(shape):
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    assert np.array_equal(ops.convert_to_numpy(reverse_time(x)), x[:, ::-1])
    forced = ops.convert_to_numpy(teacher_forcing_inputs(x, start_value=0.5))
    reference = np.concatenate([np.full_like(x[:, :1], 0.5), x[:, :-1]], axis=1)
    assert np.array_equal(forced, reference)
    future = np.random.default_rng(1).random(shape, dtype=np.float32)
    both = ops.convert_to_numpy(sequence_targets(x, future))
    assert np.array_equal(both, np.concatenate([x[:, ::-1], future], axis=1))
    assert np.array_equal(ops.convert_to_numpy(sequence_targets(x, future, False)), future)


# --- SequenceAutoencoder --------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("future_steps,reconstruct", [(0, True), (3, False), (3, True)])
def test_sequence_autoencoder_shapes(cell, future_steps, reconstruct):
    model = SequenceAutoencoder(12, units=5, cell=cell, future_steps=future_steps,
                                reconstruct=reconstruct)  # fmt: skip
    x = np.random.default_rng(0).random((4, 6, 12), dtype=np.float32)
    steps = (6 if reconstruct else 0) + future_steps
    assert tuple(model(x).shape) == (4, steps, 12)
    assert model.compute_output_shape((None, 6, 12)) == (None, steps, 12)
    assert model.encode(x).shape == (4, 10 if cell == "lstm" else 5)


def test_sequence_autoencoder_arguments_are_checked():
    with pytest.raises(ValueError, match="cell"):
        SequenceAutoencoder(4, cell="rnn")
    with pytest.raises(ValueError, match="decoder"):
        SequenceAutoencoder(4, reconstruct=False)
    with pytest.raises(ValueError, match="future_steps"):
        SequenceAutoencoder(4, future_steps=-1)


def test_sequence_autoencoder_keras_round_trip(tmp_path):
    model = SequenceAutoencoder(12, units=5, future_steps=2)
    x = np.random.default_rng(0).random((3, 4, 12), dtype=np.float32)
    expected = ops.convert_to_numpy(model(x))
    path = str(tmp_path / "sequence.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, SequenceAutoencoder)
    assert loaded.get_config()["future_steps"] == 2
    np.testing.assert_allclose(ops.convert_to_numpy(loaded(x)), expected, atol=1e-6)


def flat(x):
    return x.reshape(x.shape[0], x.shape[1], -1)


def test_composite_training_lowers_the_loss(small_moving):
    past, future = flat(small_moving.x[:, :4]), flat(small_moving.x[:, 4:])
    targets = ops.convert_to_numpy(sequence_targets(past, future))
    keras.utils.set_random_seed(0)
    model = SequenceAutoencoder(32 * 32, units=64, future_steps=4)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="binary_crossentropy")
    before = model.evaluate(past, targets, verbose=0)
    model.fit(past, targets, epochs=15, batch_size=32, verbose=0)
    after = model.evaluate(past, targets, verbose=0)
    assert after < 0.8 * before, (before, after)


def test_reconstruction_comes_out_reversed():
    """The reversed-target convention: trained on :func:`sequence_targets`, output step t
    rebuilds input step T-1-t. Random binary sequences have no order to guess from, so the
    code must hold every step (on MNIST frames a short run only learns the mean frame)."""
    past = (np.random.default_rng(0).random((64, 4, 8)) > 0.5).astype("float32")
    targets = ops.convert_to_numpy(sequence_targets(past))
    assert np.array_equal(targets[:, 0], past[:, -1])
    keras.utils.set_random_seed(0)
    model = SequenceAutoencoder(8, units=16)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy")
    model.fit(past, targets, epochs=300, batch_size=64, verbose=0)
    out = ops.convert_to_numpy(model(past))
    errors = np.array(
        [[np.mean((out[:, t] - past[:, s]) ** 2) for s in range(4)] for t in range(4)]
    )
    assert list(np.argmin(errors, axis=1)) == [3, 2, 1, 0], errors
