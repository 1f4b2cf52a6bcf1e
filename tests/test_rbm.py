"""The Bernoulli RBM: its formulas against NumPy, CD-1 as the algorithm box, and training."""

import itertools

import keras
import numpy as np
import pytest
from keras import ops
from sklearn.neural_network import BernoulliRBM

from aekeras.models import RBM
from aekeras.models.rbm import cd1_update


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_free_energy(v, W, b, c):
    return -v @ b - np.logaddexp(0, v @ W + c).sum(axis=1)


@pytest.fixture(scope="module")
def binary_mnist(mnist):
    """A small real subset, binarised at 0.5 as `load_mnist(binarize=True)` does."""
    train = (mnist.x_train[:1500] > 0.5).astype("float32")
    test = (mnist.x_test[:500] > 0.5).astype("float32")
    return train, test


def small_rbm():
    """3 visible, 2 hidden units with hand-picked parameters."""
    W = np.array([[0.5, -1.0], [2.0, 0.25], [-0.75, 1.5]], dtype="float32")
    b = np.array([0.1, -0.2, 0.3], dtype="float32")
    c = np.array([-0.5, 0.4], dtype="float32")
    rbm = RBM(3, 2, seed=0)
    rbm.build((None, 3))
    rbm.set_weights([W, b, c])
    return rbm, W.astype(float), b.astype(float), c.astype(float)


def test_energy_and_free_energy_worked_example():
    rbm, W, b, c = small_rbm()
    v = np.array([[1.0, 0.0, 1.0]])
    h = np.array([[0.0, 1.0]])
    # E = -(0.1 + 0.3) - 0.4 - (W[0, 1] + W[2, 1]) = -0.4 - 0.4 - 0.5 = -1.3
    np.testing.assert_allclose(ops.convert_to_numpy(rbm.energy(v, h)), [-1.3], rtol=1e-6)

    states_v = np.array(list(itertools.product([0.0, 1.0], repeat=3)))
    states_h = np.array(list(itertools.product([0.0, 1.0], repeat=2)))
    energy = np.stack(
        [ops.convert_to_numpy(rbm.energy(states_v, np.tile(hh, (8, 1)))) for hh in states_h], 1
    )
    brute_free_energy = -np.log(np.exp(-energy).sum(axis=1))  # F(v) = -log Σ_h exp(-E(v, h))
    free_energy = ops.convert_to_numpy(rbm.free_energy(states_v))
    np.testing.assert_allclose(free_energy, brute_free_energy, rtol=1e-5)
    np.testing.assert_allclose(free_energy, np_free_energy(states_v, W, b, c), rtol=1e-5)


def test_conditionals_against_numpy():
    rbm, W, b, c = small_rbm()
    v = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    h = np.array([[1.0, 0.0], [1.0, 1.0]])
    np.testing.assert_allclose(
        ops.convert_to_numpy(rbm.prob_h_given_v(v)), sigmoid(c + v @ W), rtol=1e-6
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(rbm.prob_v_given_h(h)), sigmoid(b + h @ W.T), rtol=1e-6
    )
    # p(h|v) is the ratio of Boltzmann weights: p(h1=1|v) = Σ_{h2} e^{-E(v,1,h2)} / Σ_h e^{-E}.
    weights = np.array(
        [
            np.exp(-ops.convert_to_numpy(rbm.energy(v[:1], [hh]))[0])
            for hh in [[0, 0], [0, 1], [1, 0], [1, 1]]
        ]
    )
    p_h1 = (weights[2] + weights[3]) / weights.sum()
    assert ops.convert_to_numpy(rbm.prob_h_given_v(v[:1]))[0, 0] == pytest.approx(p_h1, rel=1e-5)


def test_samples_are_binary_and_follow_the_probabilities():
    rbm, W, b, c = small_rbm()
    v = np.tile([[1.0, 0.0, 1.0]], (4000, 1))
    prob, sample = rbm.sample_h_given_v(v)
    sample = ops.convert_to_numpy(sample)
    assert set(np.unique(sample)) <= {0.0, 1.0}
    np.testing.assert_allclose(sample.mean(axis=0), sigmoid(c + v[0] @ W), atol=0.03)
    prob_v, sample_v = rbm.sample_v_given_h(sample)
    assert ops.convert_to_numpy(sample_v).shape == (4000, 3)
    prob_g, sample_g = rbm.gibbs(v[:5], steps=3)
    assert ops.convert_to_numpy(sample_g).shape == (5, 3)
    with pytest.raises(ValueError, match="steps"):
        rbm.gibbs(v, steps=0)
    with pytest.raises(ValueError, match="3 units"):
        rbm.free_energy(np.zeros((2, 4)))


def np_cd1_box(W, b, c, v, h, v_star, lr):
    """The algorithm box, one example at a time: ΔW = p(h=1|v) vᵀ - p(h*=1|v*) v*ᵀ."""
    dW, db, dc = np.zeros_like(W), np.zeros_like(b), np.zeros_like(c)
    for v_n, v_star_n in zip(v, v_star):
        p_h = sigmoid(c + v_n @ W)
        p_h_star = sigmoid(c + v_star_n @ W)
        dW += (np.outer(p_h, v_n) - np.outer(p_h_star, v_star_n)).T
        db += v_n - v_star_n
        dc += p_h - p_h_star
    n = len(v)
    return W + lr * dW / n, b + lr * db / n, c + lr * dc / n


def test_cd1_update_matches_the_algorithm_box():
    rbm, W, b, c = small_rbm()
    v = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    h = np.array([[1.0, 0.0], [0.0, 1.0]])
    v_star = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    new = cd1_update(W, b, c, v, 0.1, h_sample=h, v_sample=v_star)
    for got, want in zip(new, np_cd1_box(W, b, c, v, h, v_star, 0.1)):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    # Drawn samples: the same seed gives the same update, and the update is a CD-1 step.
    assert all(
        np.array_equal(x, y)
        for x, y in zip(cd1_update(W, b, c, v, 0.1, seed=3), cd1_update(W, b, c, v, 0.1, seed=3))
    )
    with pytest.raises(ValueError, match="batch, 3"):
        cd1_update(W, b, c, np.zeros((2, 4)), 0.1)


class GivenSampleRBM(RBM):
    """Lecture 08's check: the library's surrogate with the negative sample v* handed in as y."""

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        # On PyTorch, `train_on_batch` hands over NumPy arrays as they are, and
        # `ops.stop_gradient` of an array raised AttributeError: no attribute 'detach'.
        v_star = ops.stop_gradient(ops.convert_to_tensor(y))
        return ops.mean(self.free_energy(x)) - ops.mean(self.free_energy(v_star))


def test_train_on_batch_with_a_given_sample_is_the_cd1_box():
    rng = np.random.default_rng(0)
    W, b, c = rng.normal(0, 0.1, (6, 4)), rng.normal(0, 0.1, 6), rng.normal(0, 0.1, 4)
    v = (rng.random((5, 6)) < 0.5).astype("float32")
    v_star = (rng.random((5, 6)) < 0.5).astype("float32")
    rbm = GivenSampleRBM(6, 4)
    rbm.build((None, 6))
    for variable, value in zip((rbm.kernel, rbm.visible_bias, rbm.hidden_bias), (W, b, c)):
        variable.assign(value.astype("float32"))
    rbm.compile(optimizer=keras.optimizers.SGD(0.1))
    rbm.train_on_batch(v, v_star)  # NumPy arrays, as the lecture passes them
    want = cd1_update(W, b, c, v, 0.1, v_sample=v_star)
    got = [ops.convert_to_numpy(w) for w in (rbm.kernel, rbm.visible_bias, rbm.hidden_bias)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("persistent", [False, True])
def test_fit_with_sgd_is_the_cd_update(binary_mnist, persistent):
    """One `fit` step with SGD(ε) on the surrogate = the CD-1 update on the same chain sample."""
    v = binary_mnist[0][:64]
    rbm = RBM(784, 32, persistent=persistent, seed=1)
    rbm.build((64, 784))
    rng = np.random.default_rng(0)
    W0 = rng.normal(0, 0.1, (784, 32)).astype("float32")
    b0 = rng.normal(0, 0.1, 784).astype("float32")
    c0 = rng.normal(0, 0.1, 32).astype("float32")
    rbm.kernel.assign(W0)
    rbm.visible_bias.assign(b0)
    rbm.hidden_bias.assign(c0)

    negatives = []
    phase = rbm.negative_phase

    def recording_phase(h, visible_prob=None):
        v_k = phase(h, visible_prob=visible_prob)
        negatives.append(ops.convert_to_numpy(v_k))
        return v_k

    rbm.negative_phase = recording_phase
    rbm.compile(optimizer=keras.optimizers.SGD(0.1), run_eagerly=True)
    rbm.fit(v, batch_size=64, epochs=1, shuffle=False, verbose=0)
    assert len(negatives) == 1 and set(np.unique(negatives[0])) <= {0.0, 1.0}

    W1, b1, c1 = cd1_update(W0, b0, c0, v, 0.1, v_sample=negatives[0])
    np.testing.assert_allclose(ops.convert_to_numpy(rbm.kernel), W1, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(rbm.visible_bias), b1, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(rbm.hidden_bias), c1, rtol=1e-4, atol=1e-6)


def test_pseudo_likelihood_equals_sklearn(binary_mnist):
    v = binary_mnist[1][:200]
    rbm = RBM(784, 16, seed=2)
    rbm.build((None, 784))
    rng = np.random.default_rng(1)
    rbm.set_weights(
        [
            rng.normal(0, 0.3, (784, 16)).astype("float32"),
            rng.normal(0, 0.3, 784).astype("float32"),
            rng.normal(0, 0.3, 16).astype("float32"),
        ]
    )
    W, b, c = (w.astype(np.float64) for w in rbm.get_weights())
    reference = BernoulliRBM(n_components=16, random_state=7)
    reference.components_ = W.T
    reference.intercept_hidden_ = c
    reference.intercept_visible_ = b
    reference.n_features_in_ = 784
    np.testing.assert_allclose(
        rbm.pseudo_likelihood(v, seed=7), reference.score_samples(v), rtol=1e-10
    )
    reference.random_state = np.random.RandomState(11)
    np.testing.assert_allclose(
        rbm.pseudo_likelihood(v, seed=np.random.RandomState(11)),
        reference.score_samples(v),
        rtol=1e-10,
    )
    with pytest.raises(ValueError, match=r"\(n, 784\)"):
        rbm.pseudo_likelihood(v[:, :10])


def test_training_improves_pseudo_likelihood(binary_mnist):
    train, test = binary_mnist
    rbm = RBM(784, 64, seed=3)
    rbm.compile(optimizer=keras.optimizers.SGD(0.1))
    before = rbm.pseudo_likelihood(test, seed=0).mean()
    history = rbm.fit(train, epochs=3, batch_size=25, verbose=0).history
    after = rbm.pseudo_likelihood(test, seed=0).mean()
    assert after > before + 200, (before, after)  # about -545 at the start
    errors = history["reconstruction_error"]
    assert errors[-1] < errors[0] and errors[-1] < 0.1


def test_pcd_and_cdk_run_and_save(binary_mnist, tmp_path):
    train, test = binary_mnist
    rbm = RBM(784, 32, k=2, persistent=True, seed=4)
    rbm.compile(optimizer=keras.optimizers.SGD(0.05))
    history = rbm.fit(train[:500], epochs=2, batch_size=50, verbose=0).history
    assert rbm.n_chains == 50 and tuple(rbm.persistent_chain.shape) == (50, 32)
    assert ops.convert_to_numpy(rbm.persistent_chain).sum() > 0
    assert np.all(np.isfinite(history["loss"]))

    path = tmp_path / "rbm.keras"
    rbm.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, RBM) and loaded.get_config() == rbm.get_config()
    for a, b in zip(loaded.get_weights(), rbm.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(
        ops.convert_to_numpy(loaded.prob_h_given_v(test[:8])),
        ops.convert_to_numpy(rbm(test[:8])),
        rtol=1e-6,
    )
    np.testing.assert_array_equal(
        loaded.pseudo_likelihood(test, seed=0), rbm.pseudo_likelihood(test, seed=0)
    )
    loaded.compile(optimizer=keras.optimizers.SGD(0.05))
    loaded.fit(train[:100], epochs=1, batch_size=50, verbose=0)

    cd3 = RBM(784, 16, k=3, seed=5)
    cd3.compile(optimizer=keras.optimizers.SGD(0.05))
    assert np.isfinite(cd3.fit(train[:200], batch_size=50, verbose=0).history["loss"][0])


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="n_hidden"):
        RBM(784, 0)
    with pytest.raises(ValueError, match="n_chains"):
        RBM(784, 10, persistent=True, n_chains=-1)
