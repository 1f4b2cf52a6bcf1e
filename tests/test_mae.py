"""The masked autoencoder: patches, masking, position embedding and the model."""

import keras
import numpy as np
import pytest
from keras import ops

from aekeras.datasets import load_mnist
from aekeras.layers import Patchify, RandomPatchMasking, Unpatchify, sincos_position_embedding
from aekeras.models import MaskedAutoencoder

SMALL = dict(encoder_dim=16, encoder_depth=1, encoder_heads=2, decoder_dim=8, decoder_depth=1)


def np_sincos(grid_size, dim):
    """MAE's 2-D sine-cosine embedding written out from the formula, one entry at a time."""
    quarter = dim // 4
    emb = np.zeros((grid_size * grid_size, dim))
    for k in range(grid_size * grid_size):
        row, col = divmod(k, grid_size)
        for i in range(quarter):
            omega = 1.0 / 10000 ** (i / quarter)
            emb[k, i] = np.sin(col * omega)  # first half: the column
            emb[k, quarter + i] = np.cos(col * omega)
            emb[k, 2 * quarter + i] = np.sin(row * omega)  # second half: the row
            emb[k, 3 * quarter + i] = np.cos(row * omega)
    return emb


def np_patchify(images, p):
    """MAE's `patchify`, channels last: (n, h*p, w*p, c) -> (n, h*w, p*p*c)."""
    n, height, width, c = images.shape
    x = images.reshape(n, height // p, p, width // p, p, c)
    return np.einsum("nhpwqc->nhwpqc", x).reshape(n, -1, p * p * c)


# --- sincos_position_embedding ------------------------------------------------------------


@pytest.mark.parametrize("grid_size, dim", [(2, 4), (4, 16), (7, 64), (14, 32)])
def test_sincos_matches_formula(grid_size, dim):
    emb = sincos_position_embedding(grid_size, dim)
    assert emb.shape == (grid_size**2, dim) and emb.dtype == np.float32
    np.testing.assert_allclose(emb, np_sincos(grid_size, dim), atol=1e-6)


def test_sincos_worked_example():
    # grid 2x2, dim 4: omega_0 = 1; patch k = (row, col) -> [sin c, cos c, sin r, cos r]
    s, c = np.sin(1.0), np.cos(1.0)
    expected = [[0, 1, 0, 1], [s, c, 0, 1], [0, 1, s, c], [s, c, s, c]]
    np.testing.assert_allclose(sincos_position_embedding(2, 4), expected, atol=1e-7)


@pytest.mark.parametrize("grid_size, dim", [(7, 6), (7, 0), (0, 8), (7, 18)])
def test_sincos_rejects_bad_arguments(grid_size, dim):
    with pytest.raises(ValueError):
        sincos_position_embedding(grid_size, dim)


# --- Patchify / Unpatchify ----------------------------------------------------------------


def test_patchify_worked_example():
    image = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    patches = ops.convert_to_numpy(Patchify(2)(image))
    expected = [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]]
    np.testing.assert_array_equal(patches[0], expected)


@pytest.mark.parametrize("image_shape, p", [((28, 28, 1), 4), ((28, 28, 3), 7), ((8, 12, 2), 4)])
def test_patchify_order_and_round_trip(image_shape, p):
    images = np.random.default_rng(0).random((3, *image_shape)).astype("float32")
    patches = Patchify(p)(images)
    np.testing.assert_array_equal(ops.convert_to_numpy(patches), np_patchify(images, p))
    back = Unpatchify(p, image_shape)(patches)
    np.testing.assert_array_equal(ops.convert_to_numpy(back), images)


def test_patch_layers_shapes():
    # Serialization and the rest of the layer contract: tests/test_layer_checks.py.
    patchify, unpatchify = Patchify(4), Unpatchify(4, (28, 28, 1))
    assert patchify.compute_output_shape((None, 28, 28, 1)) == (None, 49, 16)
    assert unpatchify.compute_output_shape((None, 49, 16)) == (None, 28, 28, 1)
    assert patchify(keras.Input((28, 28, 1))).shape == (None, 49, 16)


def test_patch_layers_value_errors():
    with pytest.raises(ValueError, match="patch_size"):
        Patchify(0)
    with pytest.raises(ValueError, match="rank 4"):
        Patchify(4)(np.zeros((2, 28, 28), "float32"))
    with pytest.raises(ValueError, match="divisible"):
        Patchify(5)(np.zeros((2, 28, 28, 1), "float32"))
    with pytest.raises(ValueError, match="divisible"):
        Unpatchify(5, (28, 28, 1))
    with pytest.raises(ValueError, match="expects patches"):  # channels: 16 = 4*4*1, not 4*4*3
        Unpatchify(4, (28, 28, 3))(np.zeros((2, 49, 16), "float32"))
    with pytest.raises(ValueError, match="expects patches"):  # patch count
        Unpatchify(4, (28, 28, 1))(np.zeros((2, 48, 16), "float32"))


# --- RandomPatchMasking -------------------------------------------------------------------


def position_tokens(batch, length, dim=3):
    """tokens[b, l, :] == l, so a token says where it came from."""
    return np.broadcast_to(np.arange(length, dtype="float32")[None, :, None], (batch, length, dim))


@pytest.mark.parametrize("mask_ratio", [0.25, 0.5, 0.75, 0.9])
def test_masking_shapes_counts_and_restore(mask_ratio):
    batch, length = 8, 49
    len_keep = int(length * (1 - mask_ratio))
    tokens = position_tokens(batch, length)
    visible, mask, ids_restore = (
        ops.convert_to_numpy(t) for t in RandomPatchMasking(mask_ratio, seed=0)(tokens)
    )
    assert visible.shape == (batch, len_keep, 3)
    assert mask.shape == ids_restore.shape == (batch, length)
    np.testing.assert_array_equal(mask.sum(axis=1), length - len_keep)  # exact count
    assert set(np.unique(mask)) == {0.0, 1.0}
    for b in range(batch):  # the kept tokens are those with mask 0, original order
        kept = visible[b, :, 0].astype(int)
        np.testing.assert_array_equal(np.sort(kept), np.flatnonzero(mask[b] == 0))
        np.testing.assert_array_equal(np.sort(ids_restore[b]), np.arange(length))
    # Unshuffling [visible, mask tokens] puts every visible token back in place.
    filler = np.full((batch, length - len_keep, 3), -1.0, "float32")
    full = np.concatenate([visible, filler], axis=1)
    restored = np.take_along_axis(full, ids_restore[..., None], axis=1)
    expected = np.where(mask[..., None] == 1, -1.0, tokens)
    np.testing.assert_array_equal(restored, expected)
    # keras.ops does the same on the backend.
    np.testing.assert_array_equal(
        ops.convert_to_numpy(ops.take_along_axis(full, ids_restore[..., None], axis=1)), restored
    )


def test_masking_random_per_example_and_seeded(tmp_path):
    tokens = position_tokens(16, 49)
    _, mask_a, _ = RandomPatchMasking(0.75, seed=7)(tokens)
    layer = RandomPatchMasking(0.75, seed=7)
    _, mask_b, _ = layer(tokens)
    _, mask_c, _ = layer(tokens)
    mask_a, mask_b, mask_c = (ops.convert_to_numpy(m) for m in (mask_a, mask_b, mask_c))
    np.testing.assert_array_equal(mask_a, mask_b)  # same seed, same masks
    assert not np.array_equal(mask_b, mask_c)  # the seed generator moves on
    assert len({row.tobytes() for row in mask_a}) == 16  # different per example
    outputs = layer(keras.Input((49, 3)))
    assert [tuple(o.shape) for o in outputs] == [(None, 12, 3), (None, 49), (None, 49)]
    clone = RandomPatchMasking.from_config(layer.get_config())
    assert clone.mask_ratio == 0.75 and clone.seed == 7


@pytest.mark.parametrize("mask_ratio", [1.0, 1.5, -0.1])
def test_masking_rejects_bad_ratio(mask_ratio):
    with pytest.raises(ValueError, match="mask_ratio"):
        RandomPatchMasking(mask_ratio)


# --- MaskedAutoencoder --------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist():
    return load_mnist()


@pytest.mark.parametrize("norm_pix_loss", [False, True])
def test_loss_on_masked_patches_only(norm_pix_loss, mnist):
    mae = MaskedAutoencoder(norm_pix_loss=norm_pix_loss, seed=0, **SMALL)
    images = mnist.x_test[:8]
    pred, mask = mae(images)
    pred, mask = ops.convert_to_numpy(pred), ops.convert_to_numpy(mask)
    loss = float(mae.compute_loss(x=images, y_pred=(pred, mask)))

    target = np_patchify(images, 4)
    if norm_pix_loss:
        target = (target - target.mean(-1, keepdims=True)) / np.sqrt(
            target.var(-1, ddof=1, keepdims=True) + 1e-6
        )
    per_patch = ((pred - target) ** 2).mean(-1)
    np.testing.assert_allclose(loss, (per_patch * mask).sum() / mask.sum(), rtol=1e-5)

    at_visible = pred + 5.0 * (1 - mask)[..., None]
    assert float(mae.compute_loss(x=images, y_pred=(at_visible, mask))) == pytest.approx(loss)
    at_masked = pred + 5.0 * mask[..., None]
    assert float(mae.compute_loss(x=images, y_pred=(at_masked, mask))) > loss + 1.0


def test_mae_loss_falls_on_mnist(mnist):
    keras.utils.set_random_seed(0)
    mae = MaskedAutoencoder(image_shape=(28, 28, 1), patch_size=4, seed=0)
    mae.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = mae.fit(mnist.x_train[:1024], epochs=3, batch_size=128, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < 0.5 * losses[0], losses


def test_encode_and_reconstruct(mnist):
    mae = MaskedAutoencoder(patch_size=7, seed=0, **SMALL)
    images = mnist.x_test[:10]
    features = mae.encode(images, batch_size=4)
    assert features.shape == (10, 16)
    np.testing.assert_allclose(mae.encode(images), features, atol=1e-5)  # all patches, no mask
    extractor = mae.feature_extractor()  # shares the MAE's weights, e.g. for a Keras probe
    np.testing.assert_allclose(ops.convert_to_numpy(extractor(images)), features, atol=1e-5)
    assert {id(w) for w in extractor.weights} <= {id(w) for w in mae.weights}
    reconstruction, mask = mae.reconstruct(images, batch_size=4)
    assert reconstruction.shape == mask.shape == images.shape
    np.testing.assert_array_equal(mask.reshape(10, -1).mean(axis=1), 12 / 16)  # 4 of 16 kept
    pasted, mask = mae.reconstruct(images, paste_visible=True)
    np.testing.assert_allclose(pasted[mask == 0], images[mask == 0])
    normed = MaskedAutoencoder(patch_size=7, norm_pix_loss=True, **SMALL)
    assert normed.reconstruct(images)[0].shape == images.shape


def test_save_and_load(tmp_path, mnist):
    mae = MaskedAutoencoder(mask_ratio=0.5, seed=3, **SMALL)
    path = tmp_path / "mae.keras"
    mae.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, MaskedAutoencoder)
    assert loaded.get_config() == mae.get_config()
    np.testing.assert_allclose(loaded.encode(mnist.x_test[:8]), mae.encode(mnist.x_test[:8]))
    pos = ops.convert_to_numpy(loaded.encoder_pos_embed)
    np.testing.assert_allclose(pos, sincos_position_embedding(7, 16))
    assert mae.count_params() == loaded.count_params()


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(image_shape=(28, 32, 1)),  # not square
        dict(patch_size=5),  # does not divide 28
        dict(patch_size=0),
        dict(encoder_dim=18, encoder_heads=3),  # not divisible by 4
        dict(encoder_dim=64, encoder_heads=3),  # heads do not divide the dim
        dict(mask_ratio=1.0),
    ],
)
def test_mae_value_errors(kwargs):
    with pytest.raises(ValueError):
        MaskedAutoencoder(**kwargs)


def test_encode_before_and_after_fit(mnist):
    # Lecture 10 with an empty weights cache: encode() on a fresh MAE, then fit, then encode()
    # again on a new batch shape. On JAX, fit donates the buffers of the model's variables; a
    # feature extractor that had captured one of them (the position embedding) as a constant
    # then raised "RuntimeError: Array has been deleted" when it traced the new shape.
    mae = MaskedAutoencoder(patch_size=7, seed=0, **SMALL)
    images = mnist.x_test[:8]
    before = mae.encode(images, batch_size=4)
    mae.compile(optimizer=keras.optimizers.Adam(1e-2))
    mae.fit(mnist.x_train[:32], epochs=1, batch_size=16, verbose=0)
    after = mae.encode(images)
    assert np.all(np.isfinite(after)) and not np.allclose(after, before)
    fresh = ops.convert_to_numpy(mae.feature_extractor()(images))
    np.testing.assert_allclose(after, fresh, atol=1e-5)  # the features of the trained weights
