"""Random patch masking of the masked autoencoder (MAE)."""

import keras
from keras import ops


def check_mask_ratio(mask_ratio):
    """Returns `mask_ratio` as a float after checking it lies in [0, 1)."""
    if not 0 <= mask_ratio < 1:
        raise ValueError(
            "Invalid value received for argument `mask_ratio`. Expected a float "
            f"in [0, 1). Received: mask_ratio={mask_ratio}"
        )
    return float(mask_ratio)


@keras.saving.register_keras_serializable(package="aekeras")
class RandomPatchMasking(keras.layers.Layer):
    """Keeps a random subset of the patches of each example, as MAE does.

    Each example draws uniform noise per patch; the patches with the
    `len_keep = int(L * (1 - mask_ratio))` smallest noise values (at least
    one) are kept, in the order of their noise. The layer also returns the binary `mask` (0 for
    kept, 1 for removed, in the original patch order) and `ids_restore`, the
    permutation that puts shuffled tokens back in their original places:
    `take_along_axis(concat([visible, mask_tokens], 1), ids_restore[..., None], 1)`.

    Masking defines the MAE's pretext task rather than regularising it, so
    the layer masks in training and in inference alike (reconstructing masked
    test images needs it); a model that wants features of whole images, e.g.
    for a linear probe, calls its encoder without this layer.

    Formula: `ids_shuffle = argsort(u)`, `u ~ U(0, 1)^L`;
    `ids_restore = argsort(ids_shuffle)`; `mask_l = [ids_restore_l >= len_keep]`
    (`random_masking` of He et al. 2022, "Masked Autoencoders Are Scalable
    Vision Learners").

    At `mask_ratio=0` every patch is kept (`mask` is all 0) and `visible` holds
    all tokens in a random order that `ids_restore` undoes; a model built once
    can thus be run at any ratio (`call(..., mask_ratio=r)`): `len_keep` is a
    static integer, so a new ratio retraces the graph but needs no new weights.

    Args:
        mask_ratio: Float in [0, 1), the fraction of patches removed.
        seed: Integer, optional random seed to enable deterministic behavior.

    Call arguments:
        inputs: Tokens of shape `(batch, L, D)` (patches or their embeddings);
            `L` must be known.
        mask_ratio: Optional float in [0, 1) used instead of the layer's
            `mask_ratio` for this call.

    Input shape:
        3D tensor `(batch, L, D)`.

    Output shape:
        Tuple `(visible, mask, ids_restore)` of shapes `(batch, len_keep, D)`,
        `(batch, L)` (float) and `(batch, L)` (int32).

    Example:

    >>> tokens = keras.ops.ones((2, 49, 16))
    >>> visible, mask, ids_restore = RandomPatchMasking(0.75, seed=0)(tokens)
    >>> [tuple(t.shape) for t in (visible, mask, ids_restore)]
    [(2, 12, 16), (2, 49), (2, 49)]
    """

    def __init__(self, mask_ratio=0.75, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.mask_ratio = check_mask_ratio(mask_ratio)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def num_kept(self, num_patches, mask_ratio=None):
        """How many of `num_patches` patches stay visible (at least one)."""
        ratio = self.mask_ratio if mask_ratio is None else check_mask_ratio(mask_ratio)
        return max(1, int(num_patches * (1 - ratio)))

    def call(self, inputs, mask_ratio=None):
        if len(inputs.shape) != 3 or inputs.shape[1] is None:
            raise ValueError(
                "RandomPatchMasking expects tokens of shape (batch, L, D) with L known. "
                f"Received: input_shape={tuple(inputs.shape)}"
            )
        len_keep = self.num_kept(inputs.shape[1], mask_ratio)
        noise = keras.random.uniform(ops.shape(inputs)[:2], seed=self.seed_generator)
        ids_shuffle = ops.cast(ops.argsort(noise, axis=1), "int32")
        ids_restore = ops.cast(ops.argsort(ids_shuffle, axis=1), "int32")
        ids_keep = ids_shuffle[:, :len_keep]
        visible = ops.take_along_axis(inputs, ops.expand_dims(ids_keep, -1), axis=1)
        mask = ops.cast(ids_restore >= len_keep, self.compute_dtype)
        return visible, mask, ids_restore

    def compute_output_shape(self, input_shape, mask_ratio=None):
        batch, length, dim = input_shape
        kept = self.num_kept(length, mask_ratio)
        return (batch, kept, dim), (batch, length), (batch, length)

    def compute_output_spec(self, inputs, mask_ratio=None):
        batch, length, dim = inputs.shape
        return (
            keras.KerasTensor((batch, self.num_kept(length, mask_ratio), dim), dtype=inputs.dtype),
            keras.KerasTensor((batch, length), dtype=self.compute_dtype),
            keras.KerasTensor((batch, length), dtype="int32"),
        )

    def get_config(self):
        config = {"mask_ratio": self.mask_ratio, "seed": self.seed}
        return {**super().get_config(), **config}
