"""The masked autoencoder (MAE) of He et al. (2022), small enough for MNIST on a CPU."""

import weakref

import keras
import numpy as np
from keras import ops

from aekeras.layers.masking import RandomPatchMasking, check_mask_ratio
from aekeras.layers.patches import Patchify, Unpatchify
from aekeras.layers.position import sincos_position_embedding
from aekeras.layers.transformer import TransformerBlock

# encode()'s feature extractors, one per model, kept beside the models and not on them: Keras
# refuses a new sub-layer on a built model ("You cannot add new elements of state ... to a layer
# that is already built"), and one made in build() would become part of the model (its summary,
# its weight files) although it only shares the encoder's layers. Keras has no public way to
# leave an attribute untracked, so a weak key (dropped with its model) it is. A cached extractor
# never goes stale: it holds the MAE's own layers, and no variable's value (see __init__).
_FEATURE_EXTRACTORS = weakref.WeakKeyDictionary()


def _transformer_stack(prefix, dim, heads, depth, mlp_ratio, dtype):
    """``depth`` transformer blocks and their final LayerNorm, named ``<prefix>_block_i``."""
    blocks = [
        TransformerBlock(dim, heads, mlp_ratio, name=f"{prefix}_block_{i}", dtype=dtype)
        for i in range(depth)
    ]
    return blocks, keras.layers.LayerNormalization(epsilon=1e-6, name=f"{prefix}_norm", dtype=dtype)


@keras.saving.register_keras_serializable(package="aekeras")
class MaskedAutoencoder(keras.Model):
    """Masked autoencoder: a ViT encoder on the visible patches, a small decoder.

    The image is cut into patches (`Patchify`), each patch is embedded by a
    `Dense` layer and given a fixed sine-cosine position
    (`sincos_position_embedding`). `RandomPatchMasking` removes `mask_ratio`
    of the patches, and the transformer encoder runs on the visible ones only
    (its cost falls with the mask ratio). The decoder embeds the encoded
    tokens, fills the removed places with a learned mask token, adds its own
    fixed position embedding, runs a few transformer blocks and predicts the
    pixels of every patch. The loss is the mean squared error over the
    removed patches only. `fit(x)` trains it on any backend (the loss is
    computed in `compute_loss`, so `compile` needs only an optimizer).

    Formula: `loss = sum_l mask_l * mean_j (pred_lj - target_lj)^2 / sum_l mask_l`,
    the target being the patch pixels, or with `norm_pix_loss` the pixels
    normalised by their patch's mean and (unbiased) variance (He et al.
    2022, "Masked Autoencoders Are Scalable Vision Learners", Sec. 3 and
    `forward_loss` in facebookresearch/mae). The ViT's class token is left out:
    `encode` mean-pools the patch tokens (MAE's global pooling).

    Args:
        image_shape: Tuple `(H, W, C)` of square images, `H == W`.
        patch_size: Integer dividing `H`; 4 gives 49 patches of 28x28 images.
        encoder_dim: Token size of the encoder, divisible by 4 and by
            `encoder_heads`.
        encoder_depth: Number of encoder transformer blocks.
        encoder_heads: Attention heads per encoder block.
        decoder_dim: Token size of the decoder, divisible by 4 and by
            `decoder_heads`.
        decoder_depth: Number of decoder transformer blocks.
        decoder_heads: Attention heads per decoder block.
        mlp_ratio: Hidden size of each block's MLP, as a multiple of its dim.
        mask_ratio: Float in [0, 1), the fraction of patches removed (0
            keeps all patches; the loss is then 0). `set_mask_ratio` changes
            it on the built model.
        norm_pix_loss: Boolean; predict per-patch normalised pixels.
        seed: Integer, optional seed of the random masking.
        **kwargs: Base `keras.Model` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: Images `(batch, H, W, C)`, float in [0, 1].
        training: Python boolean, passed to the attention layers.
        mask_ratio: Optional float in [0, 1) used instead of `mask_ratio`
            for this call.

    Input shape:
        4D tensor `(batch, H, W, C)`.

    Output shape:
        Tuple `(pred, mask)`: predicted patches
        `(batch, num_patches, patch_size**2 * C)` and the mask
        `(batch, num_patches)`, 1 where a patch was removed.

    Example:

    ```python
    data = aekeras.datasets.load_mnist()
    mae = MaskedAutoencoder(image_shape=(28, 28, 1), patch_size=4)
    mae.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=0.05))
    mae.fit(data.x_train, epochs=10, batch_size=128)
    features = mae.encode(data.x_test)  # (10000, 64), for a linear probe
    reconstruction, mask = mae.reconstruct(data.x_test[:8])
    masked_input = data.x_test[:8] * (1 - mask)
    ```
    """

    def __init__(
        self,
        image_shape=(28, 28, 1),
        patch_size=4,
        encoder_dim=64,
        encoder_depth=4,
        encoder_heads=4,
        decoder_dim=32,
        decoder_depth=2,
        decoder_heads=4,
        mlp_ratio=4.0,
        mask_ratio=0.75,
        norm_pix_loss=False,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        image_shape = tuple(int(d) for d in image_shape)
        if len(image_shape) != 3 or image_shape[0] != image_shape[1]:
            raise ValueError(
                "Argument `image_shape` must be `(H, W, C)` with H == W. "
                f"Received: image_shape={image_shape}"
            )
        if not isinstance(patch_size, int) or patch_size < 1 or image_shape[0] % patch_size:
            raise ValueError(
                "Argument `patch_size` must be a positive integer dividing the image side. "
                f"Received: patch_size={patch_size}, image_shape={image_shape}"
            )
        for name, value in (("encoder_dim", encoder_dim), ("decoder_dim", decoder_dim)):
            if value % 4:
                raise ValueError(
                    f"Argument `{name}` must be divisible by 4 (sine-cosine position "
                    f"embedding). Received: {name}={value}"
                )
        self.image_shape = image_shape
        self.patch_size = patch_size
        self.encoder_dim = encoder_dim
        self.encoder_depth = encoder_depth
        self.encoder_heads = encoder_heads
        self.decoder_dim = decoder_dim
        self.decoder_depth = decoder_depth
        self.decoder_heads = decoder_heads
        self.mlp_ratio = mlp_ratio
        self.mask_ratio = check_mask_ratio(mask_ratio)
        self.norm_pix_loss = norm_pix_loss
        self.seed = seed
        self.grid_size = image_shape[0] // patch_size
        self.num_patches = self.grid_size**2
        self.patch_dim = patch_size * patch_size * image_shape[2]

        policy = self.dtype_policy
        self.patchify = Patchify(patch_size, dtype=policy)
        self.unpatchify = Unpatchify(patch_size, image_shape, dtype=policy)
        self.masking = RandomPatchMasking(mask_ratio, seed=seed, dtype=policy)
        self.patch_embed = keras.layers.Dense(encoder_dim, name="patch_embed", dtype=policy)
        self.encoder_blocks, self.encoder_norm = _transformer_stack(
            "encoder", encoder_dim, encoder_heads, encoder_depth, mlp_ratio, policy
        )
        self.decoder_embed = keras.layers.Dense(decoder_dim, name="decoder_embed", dtype=policy)
        self.decoder_blocks, self.decoder_norm = _transformer_stack(
            "decoder", decoder_dim, decoder_heads, decoder_depth, mlp_ratio, policy
        )
        self.decoder_pred = keras.layers.Dense(self.patch_dim, name="decoder_pred", dtype=policy)
        # The fixed position embeddings (MAE's `requires_grad=False` tables) are constants, not
        # variables: a graph built on the encoder (`feature_extractor`) then holds its own copy,
        # never a variable's buffer, which JAX's `fit` donates (the buffer is deleted).
        self.encoder_pos_embed = ops.convert_to_tensor(
            sincos_position_embedding(self.grid_size, encoder_dim)
        )
        self.decoder_pos_embed = ops.convert_to_tensor(
            sincos_position_embedding(self.grid_size, decoder_dim)
        )
        self.build((None, *image_shape))

    def build(self, input_shape=None):
        if self.built:
            return
        tokens, dim = (None, self.num_patches), self.encoder_dim
        self.patch_embed.build((*tokens, self.patch_dim))
        for block in self.encoder_blocks:
            block.build((*tokens, dim))
        self.encoder_norm.build((*tokens, dim))
        self.decoder_embed.build((*tokens, dim))
        for block in self.decoder_blocks:
            block.build((*tokens, self.decoder_dim))
        self.decoder_norm.build((*tokens, self.decoder_dim))
        self.decoder_pred.build((*tokens, self.decoder_dim))
        self.mask_token = self.add_weight(
            shape=(1, 1, self.decoder_dim),
            initializer=keras.initializers.RandomNormal(stddev=0.02),
            name="mask_token",
        )
        self.built = True

    def _embed(self, images):
        """Images -> position-embedded patch tokens `(batch, num_patches, encoder_dim)`."""
        tokens = self.patch_embed(self.patchify(images))
        return tokens + ops.cast(self.encoder_pos_embed, tokens.dtype)

    def _encode_tokens(self, tokens, training=None):
        for block in self.encoder_blocks:
            tokens = block(tokens, training=training)
        return self.encoder_norm(tokens)

    def _decode(self, latent, ids_restore, training=None):
        x = self.decoder_embed(latent)
        num_masked = self.num_patches - x.shape[1]
        mask_tokens = ops.tile(self.mask_token, (ops.shape(x)[0], num_masked, 1))
        x = ops.concatenate([x, ops.cast(mask_tokens, x.dtype)], axis=1)
        x = ops.take_along_axis(x, ops.expand_dims(ids_restore, -1), axis=1)  # unshuffle
        x = x + ops.cast(self.decoder_pos_embed, x.dtype)
        for block in self.decoder_blocks:
            x = block(x, training=training)
        return self.decoder_pred(self.decoder_norm(x))

    def call(self, inputs, training=None, mask_ratio=None):
        ratio = self.mask_ratio if mask_ratio is None else mask_ratio
        visible, mask, ids_restore = self.masking(self._embed(inputs), mask_ratio=ratio)
        latent = self._encode_tokens(visible, training=training)
        return self._decode(latent, ids_restore, training=training), mask

    def patch_targets(self, images):
        """The patches the decoder learns to predict (normalised with `norm_pix_loss`)."""
        target = ops.cast(self.patchify(images), "float32")
        if self.norm_pix_loss:
            mean, std = self._patch_statistics(target)
            target = (target - mean) / std
        return target

    def _patch_statistics(self, patches):
        """Per-patch mean and `sqrt(unbiased variance + 1e-6)`, as MAE's `forward_loss`."""
        mean = ops.mean(patches, axis=-1, keepdims=True)
        var = ops.var(patches, axis=-1, keepdims=True) * (self.patch_dim / (self.patch_dim - 1))
        return mean, ops.sqrt(var + 1e-6)

    def masked_patch_loss(self, images, pred, mask):
        """Mean squared error per patch, averaged over the removed patches only."""
        per_patch = ops.mean(ops.square(ops.cast(pred, "float32") - self.patch_targets(images)), -1)
        mask = ops.cast(mask, "float32")
        return ops.sum(per_patch * mask) / ops.maximum(ops.sum(mask), 1.0)  # 0 if none removed

    def set_mask_ratio(self, mask_ratio):
        """Sets the mask ratio of later `fit`, `evaluate`, `predict` and calls.

        The model and its weights stay as they are: only the number of
        visible tokens (a static integer) changes, so the next `fit` or
        `train_on_batch` traces its step function again. This is how one model
        is timed at mask ratio 0 and 0.75 (lecture 10).

        Args:
            mask_ratio: Float in [0, 1).
        """
        self.mask_ratio = self.masking.mask_ratio = check_mask_ratio(mask_ratio)
        # Compiled step functions read the ratio when traced: drop them (as `compile` does).
        self.train_function = self.test_function = self.predict_function = None

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The MAE loss of `y_pred = (pred, mask)` on images `x`; `y` is ignored."""
        pred, mask = y_pred
        loss = self.masked_patch_loss(x, pred, mask)
        for extra in self.losses:
            loss = loss + ops.cast(extra, "float32")
        return loss

    def feature_extractor(self):
        """A functional `keras.Model`: images -> mean-pooled encoder tokens.

        All patches go through the encoder (no masking), as in MAE's linear
        probing. The model shares this MAE's layers and weights, so setting its
        `trainable` also freezes or unfreezes the MAE's encoder.

        Returns:
            A `keras.Model` from `(batch, H, W, C)` to `(batch, encoder_dim)`.
        """
        images = keras.Input(self.image_shape, name="images")
        features = ops.mean(self._encode_tokens(self._embed(images)), axis=1)
        return keras.Model(images, features, name=f"{self.name}_features")

    def encode(self, x, batch_size=256):
        """Features of the whole (unmasked) images, for a linear probe.

        Args:
            x: Images `(n, H, W, C)`.
            batch_size: Images per forward pass.

        Returns:
            float32 NumPy array `(n, encoder_dim)`: the encoder's tokens of
            all patches, mean-pooled (see `feature_extractor`).
        """
        extractor = _FEATURE_EXTRACTORS.get(self)
        if extractor is None:  # built once: each new functional model costs a graph build
            extractor = _FEATURE_EXTRACTORS[self] = self.feature_extractor()
        features = extractor.predict(x, batch_size=batch_size, verbose=0)
        return features.astype("float32")

    def reconstruct(self, x, batch_size=256, paste_visible=False):
        """Masks images at random and reconstructs them, for plotting.

        With `norm_pix_loss` the predicted patches are mapped back to pixels
        with each true patch's mean and standard deviation (as MAE's demo does).

        Args:
            x: Images `(n, H, W, C)`.
            batch_size: Images per forward pass.
            paste_visible: If True, the visible patches show the input pixels
                and only the removed ones the prediction.

        Returns:
            Tuple `(reconstruction, mask)` of float32 NumPy arrays
            `(n, H, W, C)`; `mask` is 1 on removed patches, so
            `x * (1 - mask)` is the masked input the encoder saw.
        """
        pred, mask = self.predict(x, batch_size=batch_size, verbose=0)
        pred, mask = pred.astype("float32"), mask.astype("float32")
        images = np.asarray(ops.convert_to_numpy(x), dtype="float32")
        if self.norm_pix_loss:
            mean, std = self._patch_statistics(ops.cast(self.patchify(images), "float32"))
            pred = pred * ops.convert_to_numpy(std) + ops.convert_to_numpy(mean)
        patch_mask = np.repeat(mask[..., None], self.patch_dim, axis=-1)
        reconstruction = ops.convert_to_numpy(self.unpatchify(pred)).astype("float32")
        mask_image = ops.convert_to_numpy(self.unpatchify(patch_mask)).astype("float32")
        if paste_visible:
            reconstruction = images * (1 - mask_image) + reconstruction * mask_image
        return reconstruction, mask_image

    def get_config(self):
        config = {
            "image_shape": self.image_shape,
            "patch_size": self.patch_size,
            "encoder_dim": self.encoder_dim,
            "encoder_depth": self.encoder_depth,
            "encoder_heads": self.encoder_heads,
            "decoder_dim": self.decoder_dim,
            "decoder_depth": self.decoder_depth,
            "decoder_heads": self.decoder_heads,
            "mlp_ratio": self.mlp_ratio,
            "mask_ratio": self.mask_ratio,
            "norm_pix_loss": self.norm_pix_loss,
            "seed": self.seed,
        }
        return {**super().get_config(), **config}


def mae_classifier(mae, num_classes, name=None):
    """A classifier on an MAE's encoder, for fine-tuning end to end.

    The model is `mae.feature_extractor()` (all patches, no masking, the
    encoder's tokens mean-pooled) followed by one `Dense(num_classes)` head
    that returns logits. It shares the MAE's encoder layers and weights:
    training it changes `mae`'s encoder, and freezing `mae`'s encoder layers
    (or the feature extractor) turns it into a probe with a trainable head.
    Built on a fresh `MaskedAutoencoder` of the same configuration, it is the
    same network trained from scratch.

    Formula: `logits = W · mean_l encoder(x)_l + b`, `W` drawn from a truncated
    normal with standard deviation 2e-5, as MAE's fine-tuning head (He et al.
    2022, "Masked Autoencoders Are Scalable Vision Learners", Sec. 4 and
    `main_finetune.py` in facebookresearch/mae, with global pooling).

    Args:
        mae: A `MaskedAutoencoder`, pretrained or not.
        num_classes: Integer, the number of classes.
        name: Optional name of the model (default `"<mae name>_classifier"`).

    Returns:
        A functional `keras.Model` from images `(batch, H, W, C)` to logits
        `(batch, num_classes)`; compile it with
        `SparseCategoricalCrossentropy(from_logits=True)`.

    Example:

    ```python
    classifier = mae_classifier(mae, num_classes=10)
    classifier.compile(
        optimizer=keras.optimizers.AdamW(1e-3, weight_decay=0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    classifier.fit(x_labelled, y_labelled, epochs=20)
    ```
    """
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(
            f"Argument `num_classes` must be an integer >= 2. Received: num_classes={num_classes}"
        )
    features = mae.feature_extractor()
    head = keras.layers.Dense(
        num_classes,
        kernel_initializer=keras.initializers.TruncatedNormal(stddev=2e-5),
        name="head",
        dtype=mae.dtype_policy,
    )
    return keras.Model(features.input, head(features.output), name=name or f"{mae.name}_classifier")
