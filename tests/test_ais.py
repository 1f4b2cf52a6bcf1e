"""AIS estimates of an RBM's log Z against exact enumeration and a closed form (lecture 08).

Salakhutdinov & Murray (2008), "On the quantitative analysis of deep belief networks";
Neal (2001), "Annealed importance sampling". Runs on any KERAS_BACKEND.
"""

import numpy as np
import pytest
from scipy.special import logsumexp

from aekeras.ais import (
    ais_betas,
    ais_log_partition,
    base_rate_bias,
    exact_log_partition,
    rbm_log_likelihood,
)
from aekeras.models import RBM


@pytest.fixture(scope="module")
def digits(mnist):
    """2,000 real training digits, binarised at 0.5, and their labels."""
    return (mnist.x_train[:2000] > 0.5).astype("float32"), mnist.y_train[:2000]


@pytest.fixture(scope="module")
def class_rbm(digits):
    """784 × 15 RBM whose weights are real digits: centred class means (10) and 5 halved ones.

    Its visible biases are the data's base rates shifted by half the weights, so each hidden
    unit switches a digit's strokes on against an average background: far from the
    independent-pixel model (log Z differs from the W = 0 value by tens of nats).
    """
    x, y = digits
    centred = [x[y == k].mean(0) - x.mean(0) for k in range(10)]
    centred += [0.5 * (x[y == k][:200].mean(0) - x.mean(0)) for k in range(5)]
    W = np.stack(centred, axis=1)
    return W, base_rate_bias(x) - 0.5 * W.sum(axis=1), np.full(15, -3.0)


def independent_log_partition(b, c):
    """log Z of an RBM with W = 0: every unit on its own, Σ softplus(b) + Σ softplus(c)."""
    return np.logaddexp(0, b).sum() + np.logaddexp(0, c).sum()


def test_exact_log_partition_against_brute_force():
    rng = np.random.default_rng(0)
    W, b, c = rng.normal(size=(5, 3)), rng.normal(size=5), rng.normal(size=3)
    states = lambda n: ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(float)  # noqa: E731
    v, h = states(5), states(3)
    energy = -(v @ b)[:, None] - (h @ c)[None, :] - v @ W @ h.T  # E(v, h), all 256 pairs
    brute = np.log(np.exp(-energy).sum())
    assert exact_log_partition((W, b, c), chunk_size=3) == pytest.approx(brute, abs=1e-10)


def test_base_rate_bias_and_betas():
    x = np.array([[1, 0, 1], [1, 0, 0], [1, 0, 1], [1, 0, 0]], dtype=float)
    # p = (count + 1) / (4 + 2) = 5/6, 1/6, 3/6
    np.testing.assert_allclose(base_rate_bias(x), np.log([5.0, 1 / 5, 1.0]), atol=1e-12)
    betas = ais_betas(14_500)  # S&M 2008: 500 in [0, .5), 4,000 in [.5, .9), 10,000 in [.9, 1]
    assert len(betas) == 14_500 and betas[0] == 0 and betas[-1] == 1
    assert np.sum(betas < 0.5) == 500 and np.sum((betas >= 0.5) & (betas < 0.9)) == 4_000
    assert np.all(np.diff(betas) > 0)


def test_ais_is_exact_without_weights():
    """W = 0: log Z in closed form; with the base rate at b the weights are constant."""
    rng = np.random.default_rng(1)
    W, b, c = np.zeros((784, 15)), rng.normal(size=784), rng.normal(size=15)
    exact = independent_log_partition(b, c)
    assert exact_log_partition((W, b, c)) == pytest.approx(exact, abs=1e-9)
    same_base = ais_log_partition((W, b, c), n_runs=20, n_betas=50, base_bias=b, seed=0)
    assert same_base.log_z == pytest.approx(exact, abs=1e-3)
    assert np.ptp(same_base.log_weights) < 1e-3  # every run carries the same weight
    # Another base (b_A = b + N(0, 0.2²) noise): every intermediate distribution is factorial,
    # so each Gibbs step samples it exactly, and 300 evenly spaced temperatures leave a small
    # variance (sd of log w about 0.15).
    other = b + rng.normal(0, 0.2, size=784)
    betas = np.linspace(0, 1, 300)
    other_base = ais_log_partition((W, b, c), n_runs=100, betas=betas, base_bias=other, seed=0)
    assert other_base.log_z == pytest.approx(exact, abs=0.05)


def test_ais_agrees_with_exact_log_partition(class_rbm, digits):
    """784 × 15 RBM from real digits: 500 intermediate distributions, 200 runs, within 0.1 nats."""
    exact = exact_log_partition(class_rbm)
    assert abs(exact - independent_log_partition(*class_rbm[1:])) > 10  # not a trivial model
    estimate = ais_log_partition(class_rbm, n_runs=200, n_betas=500, data=digits[0], seed=0)
    print(f"exact log Z {exact:.3f}, AIS {estimate.log_z:.3f}, sd of log w "
          f"{estimate.log_weights.std():.3f}")  # fmt: skip
    assert estimate.log_z == pytest.approx(exact, abs=0.1)
    assert estimate.log_weights.shape == (200,)
    assert estimate.log_z_base == pytest.approx(
        np.logaddexp(0, base_rate_bias(digits[0])).sum() + 15 * np.log(2)
    )


def test_ais_is_a_stochastic_lower_bound(class_rbm, digits):
    """E[Ẑ] = Z, so E[log Ẑ] ≤ log Z (Jensen): with a short schedule the shortfall shows.

    100 runs of 20 intermediate distributions: each run's own estimate log w_r + log Z_A
    lies below log Z on average (a sign error in a weight would put it above), their spread
    is the nats such a short schedule gives, and pooling them (log-mean-exp) comes closer.
    """
    exact = exact_log_partition(class_rbm)
    estimate = ais_log_partition(class_rbm, n_runs=100, n_betas=20, data=digits[0], seed=0)
    single_runs = estimate.log_weights + estimate.log_z_base
    print(f"exact {exact:.2f}; single runs: mean {single_runs.mean():.2f}, sd "
          f"{single_runs.std():.2f}; pooled {estimate.log_z:.2f}")  # fmt: skip
    assert single_runs.mean() < exact - 0.5
    assert 0.5 < single_runs.std() < 5.0
    assert abs(estimate.log_z - exact) < exact - single_runs.mean()
    assert abs(estimate.log_z - exact) < 1.0


def test_rbm_log_likelihood_matches_enumeration(digits):
    rng = np.random.default_rng(2)
    W, b, c = rng.normal(0, 0.1, size=(784, 8)), rng.normal(size=784), rng.normal(size=8)
    rbm = RBM(784, 8)
    rbm.build((None, 784))
    rbm.set_weights([W.astype("float32"), b.astype("float32"), c.astype("float32")])
    x = digits[0][:50]
    log_z = exact_log_partition(rbm)
    h = ((np.arange(256)[:, None] >> np.arange(8)) & 1).astype(float)
    # log p(v) = log Σ_h exp(-E(v, h)) - log Z, summed over the 256 hidden states by brute force
    log_joint = (x @ b)[:, None] + (h @ c)[None, :] + x @ W.astype("float32") @ h.T
    expected = np.mean(logsumexp(log_joint, axis=1))
    assert rbm_log_likelihood(rbm, x, log_z) == pytest.approx(expected - log_z, abs=1e-3)
    assert rbm_log_likelihood((W, b, c), x, log_z) == pytest.approx(expected - log_z, abs=1e-3)


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="n_hidden <= 25"):
        exact_log_partition((np.zeros((3, 26)), np.zeros(3), np.zeros(26)))
    with pytest.raises(ValueError, match="from 0 to 1"):
        ais_log_partition((np.zeros((3, 2)), np.zeros(3), np.zeros(2)), betas=[0.0, 0.5])
    with pytest.raises(ValueError, match="Received: W.shape"):
        ais_log_partition((np.zeros((3, 2)), np.zeros(2), np.zeros(2)))
