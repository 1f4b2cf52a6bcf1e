"""The dSprites-like generator: shapes and ranges, determinism, and what each factor does."""

import numpy as np
import pytest

from aekeras import datasets


def _centre(image):
    rows, cols = np.nonzero(image[..., 0])
    return rows.mean(), cols.mean()


def _one(shape=0, scale=5, orientation=0, x=16, y=16, size=64):
    return datasets.render_sprites([[shape, scale, orientation, x, y]], size=size)[0]


def test_shapes_and_ranges():
    data = datasets.dsprites_like(500, size=32, seed=0)
    assert data.x.shape == (500, 32, 32, 1) and data.x.dtype == np.float32
    assert set(np.unique(data.x)) == {0.0, 1.0}
    assert data.factor_names == ("shape", "scale", "orientation", "x", "y")
    assert data.factor_sizes == (3, 6, 40, 32, 32)
    assert data.factors.shape == data.values.shape == (500, 5)
    assert (data.factors >= 0).all() and (data.factors < np.array(data.factor_sizes)).all()
    assert len(np.unique(data.factors, axis=0)) == 500  # sampled without replacement
    values = data.values
    assert set(np.unique(values[:, 0])) <= {0.0, 1.0, 2.0}
    assert 0.5 <= values[:, 1].min() and values[:, 1].max() <= 1.0
    assert 0.0 <= values[:, 2].min() and values[:, 2].max() < 2 * np.pi
    assert 0.0 <= values[:, 3:].min() and values[:, 3:].max() <= 1.0
    # No sprite touches the border: the margin keeps every shape one pixel inside.
    assert data.x[:, [0, -1]].sum() == 0 and data.x[:, :, [0, -1]].sum() == 0
    assert (data.x.reshape(500, -1).sum(1) > 0).all()


def test_full_grid():
    data = datasets.dsprites_like(None, size=16, n_orientations=2, n_positions=3)
    assert len(data.x) == 3 * 6 * 2 * 3 * 3
    assert len(np.unique(data.factors, axis=0)) == len(data.x)


def test_same_seed_same_images():
    a, b = (datasets.dsprites_like(200, size=32, seed=3) for _ in range(2))
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.factors, b.factors)
    c = datasets.dsprites_like(200, size=32, seed=4)
    assert not np.array_equal(a.factors, c.factors)


@pytest.mark.parametrize("shape", [0, 1, 2])
@pytest.mark.parametrize("orientation", [0, 7, 23])
def test_moving_x_moves_the_mass_centre(shape, orientation):
    size = 64
    margin = 0.15 * size + 1.0
    step = (size - 2 * margin) / 31  # pixels per x index
    row0, col0 = _centre(_one(shape, orientation=orientation, x=3))
    row1, col1 = _centre(_one(shape, orientation=orientation, x=27))
    assert col1 - col0 == pytest.approx(24 * step, abs=0.5)
    assert row1 == pytest.approx(row0, abs=0.5)
    row2, col2 = _centre(_one(shape, orientation=orientation, x=3, y=30))
    assert row2 - row0 == pytest.approx(14 * step, abs=0.5)  # y runs top to bottom
    assert col2 == pytest.approx(col0, abs=0.5)


@pytest.mark.parametrize("shape", [0, 1, 2])
def test_scale_changes_area(shape):
    areas = [_one(shape, scale=s, size=128).sum() for s in range(6)]  # fine enough a grid
    assert all(np.diff(areas) > 0)
    assert areas[-1] / areas[0] == pytest.approx(4.0, rel=0.1)  # area ~ scale², 1 / 0.5


def test_shapes_differ_with_their_analytic_areas():
    square, ellipse, heart = (_one(s, scale=5) for s in range(3))
    assert not np.array_equal(square, ellipse) and not np.array_equal(ellipse, heart)
    assert not np.array_equal(square, heart)
    radius = 0.15 * 64
    # pixel centres inside: a side of 13.6 px covers 13 or 14 rows, so allow 10 %
    assert square.sum() == pytest.approx(2 * radius**2, rel=0.1)  # side r·√2
    assert ellipse.sum() == pytest.approx(np.pi * radius**2 / 2, rel=0.1)  # semi-axes r, r/2
    assert heart.sum() == pytest.approx(3.66 / 1.25**2 * radius**2, rel=0.1)  # area 3.66 unscaled


def test_orientation_rotates():
    # A quarter turn (10 of 40 steps) about the image centre (x = y = 0.5 sits on it).
    sizes = dict(size=64, n_positions=3)
    ellipse = datasets.render_sprites([[1, 5, 0, 1, 1]], **sizes)[0, ..., 0]
    turned = datasets.render_sprites([[1, 5, 10, 1, 1]], **sizes)[0, ..., 0]
    assert not np.array_equal(ellipse, turned)
    assert np.mean(np.rot90(ellipse) == turned) > 0.995
    heart = datasets.render_sprites([[2, 5, 0, 1, 1]], **sizes)[0, ..., 0]
    upside_down = datasets.render_sprites([[2, 5, 20, 1, 1]], **sizes)[0, ..., 0]
    assert np.mean(np.rot90(heart, 2) == upside_down) > 0.995


def test_clear_errors():
    with pytest.raises(ValueError, match="exceeds"):
        datasets.dsprites_like(100, size=16, n_orientations=1, n_positions=2)
    with pytest.raises(ValueError, match="positive integer"):
        datasets.dsprites_like(0)
    with pytest.raises(ValueError, match="Factor indices"):
        datasets.render_sprites([[3, 0, 0, 0, 0]])
