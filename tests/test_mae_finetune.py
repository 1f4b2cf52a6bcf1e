"""Fine-tuning an MAE's encoder, and one built MAE run at several mask ratios."""

import os

import keras
import numpy as np
import pytest
from keras import ops

from aekeras.layers import RandomPatchMasking
from aekeras.models import MaskedAutoencoder, mae_classifier

SMALL = dict(encoder_dim=16, encoder_depth=1, encoder_heads=2, decoder_dim=8, decoder_depth=1)


@pytest.fixture(scope="module")
def fashion():
    from aekeras import datasets

    where = os.path.join(datasets.keras_datasets_dir(), "fashion-mnist")
    if not os.path.isdir(where):
        pytest.skip(f"Fashion-MNIST is not in the Keras cache ({where}); run `make data` first.")
    return datasets.load_fashion_mnist()


def _adam_classifier(mae, learning_rate=1e-3):
    classifier = mae_classifier(mae, num_classes=10)
    classifier.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return classifier


# --- RandomPatchMasking at a ratio chosen per call ---------------------------------------


def test_masking_at_ratio_zero_keeps_every_token():
    tokens = np.random.default_rng(0).normal(size=(3, 16, 5)).astype("float32")
    layer = RandomPatchMasking(0.75, seed=1)
    visible, mask, ids_restore = (ops.convert_to_numpy(t) for t in layer(tokens, mask_ratio=0.0))
    assert visible.shape == tokens.shape  # all 16 tokens, only shuffled
    np.testing.assert_array_equal(mask, 0.0)
    np.testing.assert_array_equal(np.sort(ids_restore, axis=1), np.tile(np.arange(16), (3, 1)))
    assert not np.array_equal(ids_restore, np.tile(np.arange(16), (3, 1)))  # a real shuffle
    unshuffled = np.take_along_axis(visible, ids_restore[..., None], axis=1)
    np.testing.assert_array_equal(unshuffled, tokens)  # ids_restore undoes the shuffle exactly


def test_masking_ratio_per_call_overrides_the_layer():
    tokens = np.ones((2, 49, 4), "float32")
    layer = RandomPatchMasking(0.75, seed=0)
    assert layer(tokens)[0].shape[1] == 12
    visible, mask, _ = layer(tokens, mask_ratio=0.5)
    assert visible.shape[1] == 24 and float(ops.sum(mask)) == 2 * 25
    symbolic = layer(keras.KerasTensor((None, 49, 4)), mask_ratio=0.0)
    assert symbolic[0].shape == (None, 49, 4)
    assert layer.mask_ratio == 0.75  # the call did not change the layer
    with pytest.raises(ValueError, match="mask_ratio"):
        layer(tokens, mask_ratio=1.0)


# --- one built MAE at mask ratio 0.75 and 0 ----------------------------------------------


def test_one_model_trains_at_two_ratios_without_new_weights(fashion):
    mae = MaskedAutoencoder(patch_size=7, seed=0, **SMALL)
    mae.compile(optimizer=keras.optimizers.Adam(1e-3))
    batch = fashion.x_train[:32]
    weights = [id(w) for w in mae.weights]
    loss_masked = float(np.ravel(mae.train_on_batch(batch))[0])
    pred, mask = mae.predict_on_batch(batch)
    assert pred.shape == (32, 16, 49) and float(np.mean(mask)) == 12 / 16
    mae.set_mask_ratio(0.0)
    pred, mask = mae.predict_on_batch(batch)  # a new trace: no patch removed
    np.testing.assert_array_equal(ops.convert_to_numpy(mask), 0.0)
    loss_unmasked = float(np.ravel(mae.train_on_batch(batch))[0])
    assert loss_masked > 0 and loss_unmasked == 0.0  # nothing removed, nothing to predict
    mae.set_mask_ratio(0.75)
    assert float(np.ravel(mae.train_on_batch(batch))[0]) > 0
    assert [id(w) for w in mae.weights] == weights  # the same variables throughout
    assert mae.get_config()["mask_ratio"] == 0.75 and mae.masking.mask_ratio == 0.75
    with pytest.raises(ValueError, match="mask_ratio"):
        mae.set_mask_ratio(1.0)


def test_mae_call_accepts_a_ratio(fashion):
    mae = MaskedAutoencoder(patch_size=7, seed=0, **SMALL)
    _, mask = mae(fashion.x_test[:4], mask_ratio=0.5)
    assert float(ops.mean(mask)) == 8 / 16
    assert mae.mask_ratio == 0.75


# --- mae_classifier -----------------------------------------------------------------------


def test_classifier_shares_the_encoder_weights(fashion):
    mae = MaskedAutoencoder(patch_size=7, seed=0, **SMALL)
    classifier = mae_classifier(mae, num_classes=10)
    images = fashion.x_test[:8]
    assert classifier.output.shape == (None, 10)
    mae_ids = {id(w) for w in mae.weights}
    shared = [w for w in classifier.weights if id(w) in mae_ids]
    own = [w for w in classifier.weights if id(w) not in mae_ids]
    encoder_layers = [mae.patch_embed, *mae.encoder_blocks, mae.encoder_norm]
    assert {id(w) for w in shared} == {id(w) for layer in encoder_layers for w in layer.weights}
    assert sorted(tuple(w.shape) for w in own) == [(10,), (16, 10)]  # only the head is new
    before = ops.convert_to_numpy(classifier(images))
    kernel = mae.patch_embed.kernel
    # a change to the MAE shows in the classifier (a random one: the LayerNorms would remove
    # a shift shared by all of a token's features)
    noise = np.random.default_rng(0).normal(size=tuple(kernel.shape)).astype("float32")
    kernel.assign(kernel + noise)
    after = ops.convert_to_numpy(classifier(images))  # logits ~1e-5 (MAE's tiny head init)
    assert not np.allclose(after, before, rtol=1e-2, atol=0)


def test_fine_tuning_updates_head_and_encoder_and_freezing_keeps_the_encoder(fashion):
    mae = MaskedAutoencoder(patch_size=7, seed=0, **SMALL)
    x, y = fashion.x_train[:64], fashion.y_train[:64]
    classifier = _adam_classifier(mae)
    before = [ops.convert_to_numpy(w).copy() for w in classifier.trainable_weights]
    decoder_before = ops.convert_to_numpy(mae.decoder_pred.kernel).copy()
    classifier.train_on_batch(x, y)
    changed = [
        not np.array_equal(b, ops.convert_to_numpy(w))
        for b, w in zip(before, classifier.trainable_weights, strict=True)
    ]
    assert all(changed), [w.path for w, c in zip(classifier.trainable_weights, changed) if not c]
    np.testing.assert_array_equal(ops.convert_to_numpy(mae.decoder_pred.kernel), decoder_before)
    features = mae.encode(x[:8])  # the MAE sees the fine-tuned encoder

    frozen = MaskedAutoencoder(patch_size=7, seed=0, **SMALL)
    frozen.set_weights(mae.get_weights())
    frozen.trainable = False  # a linear probe trained in Keras: only the head learns
    probe = _adam_classifier(frozen)
    assert [tuple(w.shape) for w in probe.trainable_weights] == [(16, 10), (10,)]
    probe.train_on_batch(x, y)
    np.testing.assert_allclose(frozen.encode(x[:8]), features, atol=1e-6)


def test_fine_tuning_on_fashion_mnist_reduces_the_training_loss(fashion):
    keras.utils.set_random_seed(0)
    mae = MaskedAutoencoder(patch_size=7, seed=0, **SMALL)
    classifier = _adam_classifier(mae, learning_rate=3e-3)
    x, y = fashion.x_train[:512], fashion.y_train[:512]
    history = classifier.fit(x, y, epochs=4, batch_size=64, verbose=0).history
    assert history["loss"][0] > np.log(10) - 0.3  # starts near chance (a tiny head)
    assert history["loss"][-1] < history["loss"][0] - 0.2, history["loss"]  # TF ~0.5, torch ~0.3
    assert history["accuracy"][-1] > 0.2, history["accuracy"]  # 10 classes: chance is 0.1


def test_classifier_rejects_bad_num_classes():
    mae = MaskedAutoencoder(patch_size=7, **SMALL)
    with pytest.raises(ValueError, match="num_classes"):
        mae_classifier(mae, num_classes=1)
