"""Max pooling that remembers where each maximum was, and the unpooling that uses it."""

import keras
from keras import ops


def _pool_size(pool_size):
    size = (pool_size, pool_size) if isinstance(pool_size, int) else tuple(pool_size)
    if len(size) != 2 or not all(isinstance(s, int) and s >= 1 for s in size):
        raise ValueError(
            "Invalid value received for argument `pool_size`. Expected a positive "
            f"integer or a tuple of 2 positive integers. Received: pool_size={pool_size}"
        )
    return size


def _check_image_shape(layer, shape, pool_size):
    if len(shape) != 4:
        raise ValueError(
            f"Layer '{layer.name}' expects 4D inputs (batch_size, height, width, "
            f"channels), channels_last. Received: input_shape={tuple(shape)}"
        )
    height, width, channels = shape[1:]
    if None in (height, width, channels) or height % pool_size[0] or width % pool_size[1]:
        raise ValueError(
            f"Layer '{layer.name}' needs a known height, width and channels, with the "
            f"height divisible by {pool_size[0]} and the width by {pool_size[1]} "
            f"(pool_size={pool_size}). Crop or pad the input first, e.g. with "
            f"`keras.layers.ZeroPadding2D`. Received: input_shape={tuple(shape)}"
        )


def _windows(x, pool_size):
    """(batch, h, w, c) -> (batch, h / ph, ph, w / pw, pw, c): a reshape, no copy."""
    _, height, width, channels = x.shape
    ph, pw = pool_size
    return ops.reshape(x, (-1, height // ph, ph, width // pw, pw, channels))


@keras.saving.register_keras_serializable(package="aekeras")
class MaxPoolingWithArgmax2D(keras.layers.Layer):
    """Max pooling for 2D images that also returns the position of each maximum.

    Non-overlapping windows (strides equal to `pool_size`, no padding). The
    `switches` hold a 1 at the first maximum of each window (in row-major order
    within the window, so ties go to the top-left-most) and 0 elsewhere; feed
    them to `MaxUnpooling2D` to put values back where the maxima were.

    Formula: `pooled[i, j] = max over the window of x`, `switches = 1[x is the
    window's first argmax]` (max-unpooling "switches": Zeiler & Fergus, ECCV 2014;
    SegNet, Badrinarayanan et al., TPAMI 2017).

    Args:
        pool_size: Int or tuple of 2 ints, the window size (and strides).
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: A 4D tensor, channels_last.

    Input shape:
        4D tensor `(batch_size, height, width, channels)`, with height and width
        divisible by the pool size.

    Output shape:
        A tuple `(pooled, switches)`: `pooled` has shape
        `(batch_size, height // ph, width // pw, channels)`, `switches` has the
        input's shape.

    Example:

    >>> x = keras.Input((28, 28, 16))
    >>> pooled, switches = MaxPoolingWithArgmax2D(2)(x)
    >>> unpooled = MaxUnpooling2D(2)([pooled, switches])  # (None, 28, 28, 16)
    """

    def __init__(self, pool_size=2, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = _pool_size(pool_size)

    def build(self, input_shape):
        _check_image_shape(self, input_shape, self.pool_size)

    def call(self, inputs):
        pooled = ops.max_pool(inputs, self.pool_size, self.pool_size, data_format="channels_last")
        windows = _windows(ops.stop_gradient(inputs), self.pool_size)
        maxima = ops.stop_gradient(pooled)
        # Visit the window positions in row-major order; a position is the switch
        # when it holds the maximum and no earlier position did. Elementwise ops
        # only: measured faster than argmax + one_hot or cumulative sums.
        found, rows = None, []
        for i in range(self.pool_size[0]):
            row = []
            for j in range(self.pool_size[1]):
                is_max = ops.equal(windows[:, :, i, :, j, :], maxima)
                if found is not None:
                    is_max = ops.logical_and(is_max, ops.logical_not(found))
                found = is_max if found is None else ops.logical_or(found, is_max)
                row.append(is_max)
            rows.append(ops.stack(row, axis=3))
        switches = ops.cast(ops.stack(rows, axis=2), inputs.dtype)
        return pooled, ops.reshape(switches, ops.shape(inputs))

    def compute_output_shape(self, input_shape):
        _check_image_shape(self, input_shape, self.pool_size)
        batch, height, width, channels = input_shape
        ph, pw = self.pool_size
        return (batch, height // ph, width // pw, channels), tuple(input_shape)

    def get_config(self):
        base_config = super().get_config()
        return {**base_config, "pool_size": self.pool_size}


@keras.saving.register_keras_serializable(package="aekeras")
class MaxUnpooling2D(keras.layers.Layer):
    """Max unpooling: puts each pooled value back at the position of its maximum.

    The inverse of `MaxPoolingWithArgmax2D` up to the values lost by pooling:
    each value of `pooled` goes to the position where `switches` is 1 in its
    window, and every other position is 0 (unlike `UpSampling2D`, which copies
    the value to the whole window).

    Formula: `outputs = switches * repeat(pooled, pool_size)` (max-unpooling with
    switches: Zeiler & Fergus, ECCV 2014; SegNet, Badrinarayanan et al., TPAMI 2017).

    Args:
        pool_size: Int or tuple of 2 ints, the pool size used by the pooling layer.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: A list `[pooled, switches]` as returned by `MaxPoolingWithArgmax2D`.

    Input shape:
        `pooled`: `(batch_size, height, width, channels)`;
        `switches`: `(batch_size, height * ph, width * pw, channels)`.

    Output shape:
        4D tensor with the shape of `switches`.

    Example:

    >>> x = keras.Input((28, 28, 16))
    >>> pooled, switches = MaxPoolingWithArgmax2D(2)(x)
    >>> unpooled = MaxUnpooling2D(2)([pooled, switches])  # (None, 28, 28, 16)
    """

    def __init__(self, pool_size=2, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = _pool_size(pool_size)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def call(self, inputs):
        pooled, switches = inputs
        copied = ops.repeat(
            ops.repeat(pooled, self.pool_size[0], axis=1), self.pool_size[1], axis=2
        )
        return switches * ops.cast(copied, switches.dtype)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2 or not all(isinstance(s, (list, tuple)) for s in input_shape):
            raise ValueError(
                f"Layer '{self.name}' expects a list of two inputs [pooled, switches]. "
                f"Received: input_shape={input_shape}"
            )
        pooled_shape, switches_shape = (tuple(shape) for shape in input_shape)
        _check_image_shape(self, switches_shape, self.pool_size)
        ph, pw = self.pool_size
        _, height, width, channels = switches_shape
        expected = (height // ph, width // pw, channels)
        if len(pooled_shape) != 4 or pooled_shape[1:] != expected:
            raise ValueError(
                f"Layer '{self.name}' expects `pooled` of shape (batch_size, "
                f"{', '.join(map(str, expected))}) for `switches` of shape "
                f"{switches_shape} and pool_size={self.pool_size}. "
                f"Received: pooled shape={pooled_shape}"
            )
        return switches_shape

    def get_config(self):
        base_config = super().get_config()
        return {**base_config, "pool_size": self.pool_size}
