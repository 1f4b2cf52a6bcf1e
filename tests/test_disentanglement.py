"""The mutual information gap against answers known in closed form or counted by hand."""

import itertools

import numpy as np
import pytest
from scipy.stats import entropy

from aekeras import disentanglement as dis


def _grid(*sizes):
    """Every combination of the given numbers of values, once: exactly independent columns."""
    return np.array(list(itertools.product(*(range(s) for s in sizes))))


def test_copies_of_the_factors_score_one():
    # Factors and an extra "noise" column form a full factorial grid, so in the empirical
    # distribution every latent is exactly independent of every factor but its own copy:
    # I(copy_k; v_k) = H(v_k), all other I = 0, and MIG = 1 exactly.
    grid = _grid(3, 6, 4, 5)
    factors, noise = grid[:, :3], grid[:, 3:]
    z = np.concatenate([factors * 0.7 - 1.0, noise], axis=1).astype(float)
    np.testing.assert_allclose(dis.mig_per_factor(z, factors, n_bins=20), 1.0, atol=1e-12)
    assert dis.mutual_information_gap(z, factors) == pytest.approx(1.0, abs=1e-12)


def test_binning_a_32_valued_factor_loses_what_the_bins_merge():
    # 32 equally spaced values in 20 equal-width bins: some bins hold two values. The binned
    # copy is a function of v, so I(bin(v); v) = H(bin(v)), and the gap is H(bin(v)) / H(v).
    grid = _grid(32, 4)
    factors, noise = grid[:, :1], grid[:, 1:].astype(float)
    z = np.concatenate([factors.astype(float), noise], axis=1)
    width = 31 / 20
    bins = np.minimum(np.floor(np.arange(32) / width), 19).astype(int)  # the last edge is closed
    expected = entropy(np.bincount(bins)) / np.log(32)
    assert dis.mig_per_factor(z, factors, n_bins=20)[0] == pytest.approx(expected, abs=1e-12)
    assert expected < 1  # the test would not notice a missing binning step otherwise


def test_a_factor_duplicated_in_two_latents_has_no_gap():
    grid = _grid(4, 6)
    z = np.stack([grid[:, 0], grid[:, 0], grid[:, 1]], axis=1).astype(float)
    gaps = dis.mig_per_factor(z, grid)
    assert gaps[0] == pytest.approx(0.0, abs=1e-12)
    assert gaps[1] == pytest.approx(1.0, abs=1e-12)
    assert dis.mutual_information_gap(z, grid) == pytest.approx(0.5, abs=1e-12)


def test_latents_independent_of_the_factors_score_near_zero():
    rng = np.random.default_rng(0)
    factors = rng.integers(0, [3, 6, 10], size=(20_000, 3))
    z = rng.standard_normal((20_000, 6))
    mig = dis.mutual_information_gap(z, factors)
    assert 0.0 <= mig < 0.01  # plug-in bias alone: about (bins-1)(values-1)/(2n) nats


def test_hand_computed_example():
    # Eight examples, one binary factor v and two latents, 2 bins each:
    #   v  = 0 0 0 0 1 1 1 1;  z0 = v;  z1 = 0 0 0 1 1 1 1 0 (v with one flip per half).
    # H(v) = ln 2; I(z0; v) = ln 2; I(z1; v) = H(z1) - H(z1 | v) = ln 2 - H(1/4, 3/4).
    # MIG = [ln 2 - (ln 2 - H(1/4, 3/4))] / ln 2 = H(1/4, 3/4) / ln 2 = 0.8112781 (bits).
    v = np.array([0, 0, 0, 0, 1, 1, 1, 1])[:, None]
    z = np.stack([v[:, 0], [0, 0, 0, 1, 1, 1, 1, 0]], axis=1).astype(float)
    h_quarter = -(0.25 * np.log(0.25) + 0.75 * np.log(0.75))
    mi = dis.mutual_information_matrix(dis.discretize(z, n_bins=2), v)
    np.testing.assert_allclose(mi[:, 0], [np.log(2), np.log(2) - h_quarter], atol=1e-12)
    assert dis.mutual_information_gap(z, v, n_bins=2) == pytest.approx(0.8112781, abs=1e-7)


def test_mutual_information_matches_a_numpy_reference():
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 5, size=(300, 2))
    factors = (codes[:, :1] + rng.integers(0, 3, size=(300, 1))) % 4
    joint = np.zeros((5, 4))
    np.add.at(joint, (codes[:, 0], factors[:, 0]), 1)
    p = joint / joint.sum()
    outer = p.sum(1, keepdims=True) @ p.sum(0, keepdims=True)
    reference = np.sum(p[p > 0] * np.log(p[p > 0] / outer[p > 0]))
    assert dis.mutual_information_matrix(codes, factors)[0, 0] == pytest.approx(reference)
    assert dis.factor_entropies(factors)[0] == pytest.approx(-np.sum(p.sum(0) * np.log(p.sum(0))))


def test_discretize_uses_equal_width_bins_per_latent():
    z = np.array([[0.0, 10.0], [0.49, 20.0], [0.5, 30.0], [1.0, 40.0]])
    np.testing.assert_array_equal(dis.discretize(z, n_bins=2), [[1, 1], [1, 1], [2, 2], [2, 2]])


def test_clear_errors():
    with pytest.raises(ValueError, match="single value"):
        dis.mig_per_factor(np.random.default_rng(0).normal(size=(10, 2)), np.zeros((10, 1)))
    with pytest.raises(ValueError, match="at least 2 latents"):
        dis.mig_per_factor(np.arange(10.0)[:, None], np.arange(10)[:, None])
    with pytest.raises(ValueError, match="one row per example"):
        dis.mutual_information_gap(np.zeros((10, 2)), np.zeros((9, 1)))
