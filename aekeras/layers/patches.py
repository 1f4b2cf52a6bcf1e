"""Cut images into flat patches, and put them back together (ViT / MAE)."""

import keras
from keras import ops


def _check_patch_size(patch_size):
    if not isinstance(patch_size, int) or isinstance(patch_size, bool) or patch_size < 1:
        raise ValueError(
            f"Argument `patch_size` must be a positive integer. Received: patch_size={patch_size}"
        )


@keras.saving.register_keras_serializable(package="aekeras")
class Patchify(keras.layers.Layer):
    """Cuts images into non-overlapping square patches, each flattened.

    Patches come in row-major order (left to right, then top to bottom), and
    each patch is flattened as `(row, column, channel)`, as in MAE's `patchify`.

    Formula: `patches[b, r * (W/p) + c, (i * p + j) * C + k] =
    images[b, r * p + i, c * p + j, k]` (Dosovitskiy et al. 2021; He et al. 2022).

    Args:
        patch_size: Positive integer `p`, the side of each square patch.

    Call arguments:
        inputs: Images of shape `(batch, H, W, C)` with `H` and `W` divisible
            by `patch_size`.

    Input shape:
        4D tensor `(batch, H, W, C)`.

    Output shape:
        3D tensor `(batch, (H // p) * (W // p), p * p * C)`.

    Example:

    >>> x = keras.ops.ones((2, 28, 28, 1))
    >>> tuple(Patchify(4)(x).shape)
    (2, 49, 16)
    """

    def __init__(self, patch_size, **kwargs):
        super().__init__(**kwargs)
        _check_patch_size(patch_size)
        self.patch_size = patch_size

    def _check_input_shape(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                "Patchify expects images of rank 4 `(batch, H, W, C)`. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        height, width, channels = input_shape[1:]
        p = self.patch_size
        if height is None or width is None or channels is None or height % p or width % p:
            raise ValueError(
                f"Image height and width must be known and divisible by patch_size={p}. "
                f"Received: input_shape={tuple(input_shape)}"
            )

    def call(self, inputs):
        self._check_input_shape(inputs.shape)
        _, height, width, channels = inputs.shape
        p = self.patch_size
        x = ops.reshape(inputs, (-1, height // p, p, width // p, p, channels))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, (height // p) * (width // p), p * p * channels))

    def compute_output_shape(self, input_shape):
        self._check_input_shape(input_shape)
        batch, height, width, channels = input_shape
        p = self.patch_size
        return (batch, (height // p) * (width // p), p * p * channels)

    def get_config(self):
        return {**super().get_config(), "patch_size": self.patch_size}


@keras.saving.register_keras_serializable(package="aekeras")
class Unpatchify(keras.layers.Layer):
    """Puts flat patches back into images: the exact inverse of `Patchify`.

    Formula: `images[b, r * p + i, c * p + j, k] =
    patches[b, r * (W/p) + c, (i * p + j) * C + k]` (MAE's `unpatchify`,
    He et al. 2022).

    Args:
        patch_size: Positive integer `p`, the side of each square patch.
        image_shape: Tuple `(H, W, C)` of the images to rebuild; `H` and `W`
            divisible by `patch_size`.

    Call arguments:
        inputs: Patches of shape `(batch, (H // p) * (W // p), p * p * C)`.

    Input shape:
        3D tensor `(batch, (H // p) * (W // p), p * p * C)`.

    Output shape:
        4D tensor `(batch, H, W, C)`.

    Example:

    >>> x = keras.ops.ones((2, 49, 16))
    >>> tuple(Unpatchify(4, (28, 28, 1))(x).shape)
    (2, 28, 28, 1)
    """

    def __init__(self, patch_size, image_shape, **kwargs):
        super().__init__(**kwargs)
        _check_patch_size(patch_size)
        image_shape = tuple(int(d) for d in image_shape)
        if len(image_shape) != 3 or min(image_shape) < 1:
            raise ValueError(
                "Argument `image_shape` must be `(H, W, C)` of positive integers. "
                f"Received: image_shape={image_shape}"
            )
        if image_shape[0] % patch_size or image_shape[1] % patch_size:
            raise ValueError(
                f"Image height and width must be divisible by patch_size={patch_size}. "
                f"Received: image_shape={image_shape}"
            )
        self.patch_size = patch_size
        self.image_shape = image_shape

    def _check_input_shape(self, input_shape):
        height, width, channels = self.image_shape
        p = self.patch_size
        expected = ((height // p) * (width // p), p * p * channels)
        if len(input_shape) != 3 or tuple(input_shape[1:]) != expected:
            raise ValueError(
                f"Unpatchify(patch_size={p}, image_shape={self.image_shape}) expects "
                f"patches of shape (batch, {expected[0]}, {expected[1]}). "
                f"Received: input_shape={tuple(input_shape)}"
            )

    def call(self, inputs):
        self._check_input_shape(inputs.shape)
        height, width, channels = self.image_shape
        p = self.patch_size
        x = ops.reshape(inputs, (-1, height // p, width // p, p, p, channels))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, height, width, channels))

    def compute_output_shape(self, input_shape):
        self._check_input_shape(input_shape)
        return (input_shape[0], *self.image_shape)

    def get_config(self):
        config = {"patch_size": self.patch_size, "image_shape": self.image_shape}
        return {**super().get_config(), **config}
