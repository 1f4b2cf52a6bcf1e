"""The fairness of lecture 08's comparison with scikit-learn: same batches, same order, timing."""

import keras
import numpy as np
import pytest
from keras import ops
from sklearn.neural_network import BernoulliRBM

from aekeras.comparison import (
    EpochTimer,
    epoch_seconds,
    fit_in_order,
    fit_timed,
    hardware,
    whole_batches,
)
from aekeras.models import RBM

N, BATCH, EPOCHS = 70, 16, 3  # 4 whole batches of 16; 6 rows dropped


@keras.saving.register_keras_serializable(package="aekeras_tests")
class BatchRecorder(keras.layers.Layer):
    """Identity layer that notes column 0 (the row number) of each batch it sees eagerly."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen = []

    def call(self, x):
        try:
            self.seen.append(ops.convert_to_numpy(x[:, 0]).astype(int).tolist())
        except Exception:  # symbolic build: nothing to note
            pass
        return x


class RecordingBernoulliRBM(BernoulliRBM):
    """scikit-learn's RBM, noting the row numbers of each mini-batch its `fit` trains on."""

    def _fit(self, v_pos, rng):
        self.seen = getattr(self, "seen", [])
        self.seen.append(v_pos[:, 0].astype(int).tolist())
        return super()._fit(v_pos, rng)


def _rows():
    x = np.zeros((N, 5), "float32")
    x[:, 0] = np.arange(N)
    return x


def _keras_batches(**fit):
    keras.utils.set_random_seed(0)
    recorder = BatchRecorder()
    inputs = keras.Input((5,))
    model = keras.Model(inputs, keras.layers.Dense(1)(recorder(inputs)))
    model.compile(optimizer="sgd", loss=lambda y, p: ops.mean(p) * 0.0, run_eagerly=True)
    if fit.pop("in_order", False):
        timer = fit_in_order(model, _rows(), EPOCHS, BATCH, y=np.zeros((N, 1)))
    else:
        timer = None
        model.fit(_rows(), np.zeros((N, 1)), epochs=EPOCHS, batch_size=BATCH, verbose=0, **fit)
    return recorder.seen, timer


def test_keras_and_sklearn_see_the_same_batches_in_the_same_order():
    sklearn_rbm = RecordingBernoulliRBM(n_components=2, batch_size=BATCH, n_iter=EPOCHS)
    sklearn_rbm.fit(whole_batches(_rows(), BATCH))
    expected = [list(range(i, i + BATCH)) for i in range(0, N - BATCH + 1, BATCH)] * EPOCHS
    assert sklearn_rbm.seen == expected  # scikit-learn: in order, every epoch

    seen, timer = _keras_batches(in_order=True)
    assert seen == expected
    assert len(timer.times) == EPOCHS and all(t > 0 for t in timer.times)

    shuffled, _ = _keras_batches(shuffle=True)  # Keras's default order is not scikit-learn's
    assert shuffled != expected


def test_fit_in_order_trains_the_rbm_as_fit_without_shuffling(mnist):
    x = (mnist.x_train[:300] > 0.5).astype("float32")
    weights = []
    for in_order in (True, False):
        keras.utils.set_random_seed(1)
        rbm = RBM(784, 16, persistent=True, n_chains=100, seed=1)
        rbm.compile(optimizer=keras.optimizers.SGD(0.05))
        if in_order:
            fit_in_order(rbm, x, epochs=2, batch_size=100)
        else:
            rbm.fit(x, epochs=2, batch_size=100, shuffle=False, verbose=0)
        weights.append([ops.convert_to_numpy(w) for w in rbm.weights])
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_epoch_seconds_reports_the_first_epoch_apart():
    assert epoch_seconds([5.0, 1.0, 2.0]) == {"first": 5.0, "later": 1.5}
    assert epoch_seconds([3.0]) == {"first": 3.0, "later": None}
    with pytest.raises(ValueError, match="empty"):
        epoch_seconds([])


def test_whole_batches_and_fit_timed():
    assert len(whole_batches(_rows(), BATCH)) == 64
    with pytest.raises(ValueError, match="batch_size=0"):
        whole_batches(_rows(), 0)
    with pytest.raises(ValueError, match="fewer rows"):
        whole_batches(_rows()[:3], BATCH)
    with pytest.raises(ValueError, match="shuffle"):
        fit_in_order(None, _rows(), 1, BATCH, shuffle=True)
    seconds = fit_timed(BernoulliRBM(n_components=2, batch_size=BATCH, n_iter=2), _rows())
    assert seconds > 0
    assert isinstance(EpochTimer().times, list)


def test_hardware_names_the_cpu_and_the_keras_device():
    info = hardware()
    assert "cores" in info["cpu"]
    assert keras.backend.backend() in info["keras"] and " on " in info["keras"]
