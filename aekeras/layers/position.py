"""The fixed 2-D sine-cosine position embedding of the masked autoencoder."""

import numpy as np


def _sincos_1d(dim, positions):
    """`[sin(pos * omega), cos(pos * omega)]` for each position: shape `(len(positions), dim)`."""
    omega = np.arange(dim // 2, dtype=np.float64) / (dim / 2.0)
    omega = 1.0 / 10000.0**omega
    angles = np.outer(positions.reshape(-1).astype(np.float64), omega)
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)


def sincos_position_embedding(grid_size, dim):
    """Fixed 2-D sine-cosine position embedding of a square grid of patches.

    Patches are numbered in row-major order (as `Patchify` emits them):
    patch `k` sits at row `k // grid_size` and column `k % grid_size`. The
    first `dim // 2` features encode the column, the last `dim // 2` the row,
    each as `[sin(pos * omega_i), cos(pos * omega_i)]` for
    `i = 0 .. dim // 4 - 1`.

    Formula: `omega_i = 1 / 10000^(i / (dim / 4))`; the order (column half
    first, then row half; sines before cosines) follows
    `get_2d_sincos_pos_embed` of He et al. (2022), "Masked Autoencoders Are
    Scalable Vision Learners" (facebookresearch/mae, `util/pos_embed.py`).

    Args:
        grid_size: Positive integer, patches per side of the grid.
        dim: Positive integer divisible by 4, the embedding size.

    Returns:
        A float32 NumPy array of shape `(grid_size**2, dim)`.

    Example:

    >>> emb = sincos_position_embedding(7, 64)
    >>> emb.shape
    (49, 64)
    >>> float(emb[0, 16])  # cos(0) of the column half
    1.0
    """
    if not isinstance(grid_size, (int, np.integer)) or grid_size < 1:
        raise ValueError(
            f"Argument `grid_size` must be a positive integer. Received: grid_size={grid_size}"
        )
    if not isinstance(dim, (int, np.integer)) or dim < 4 or dim % 4 != 0:
        raise ValueError(
            f"Argument `dim` must be a positive integer divisible by 4. Received: dim={dim}"
        )
    # np.meshgrid(w, h) with its default "xy" indexing: the first grid holds the
    # column index, the second the row index, each flattened row-major.
    columns, rows = np.meshgrid(np.arange(grid_size), np.arange(grid_size))
    embedding = np.concatenate([_sincos_1d(dim // 2, columns), _sincos_1d(dim // 2, rows)], axis=1)
    return embedding.astype(np.float32)
