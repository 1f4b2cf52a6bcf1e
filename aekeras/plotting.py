"""Figure helpers the lectures share (matplotlib).

Each helper draws one kind of picture and returns the ``Figure`` so a notebook can show
it, save it, or add to it. Images may be ``(n, 784)``, ``(n, 28, 28)`` or ``(n, 28, 28, 1)``.
"""

import numpy as np


def _plt():
    import matplotlib.pyplot as plt

    return plt


def as_images(x, image_shape=None):
    """Reshapes a batch of flat or channel-last images to ``(n, h, w)`` or ``(n, h, w, 3)``."""
    x = np.asarray(x)
    if x.ndim == 2:
        if image_shape is None:
            side = int(round(np.sqrt(x.shape[1])))
            if side * side != x.shape[1]:
                raise ValueError(
                    f"Cannot guess the image shape of vectors of length {x.shape[1]}; "
                    "pass image_shape=(h, w)."
                )
            image_shape = (side, side)
        x = x.reshape((len(x),) + tuple(image_shape))
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim not in (3, 4):
        raise ValueError(f"Expected a batch of images of rank 2, 3 or 4. Received shape {x.shape}.")
    return x


def image_grid(
    images, ncols=10, titles=None, cmap="gray", scale=1.0, suptitle=None, vmin=None, vmax=None
):
    """Shows images on a grid, ``ncols`` per row, with optional per-image titles."""
    plt = _plt()
    images = as_images(images)
    n = len(images)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(scale * ncols, scale * nrows * 1.05), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap=cmap, vmin=vmin, vmax=vmax)
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def reconstruction_rows(originals, *reconstructions, labels=None, n=10, scale=1.0):
    """Originals on the first row, each reconstruction below it: ``labels`` names the rows."""
    plt = _plt()
    rows = [as_images(originals[:n])] + [as_images(r[:n]) for r in reconstructions]
    labels = labels or ["original"] + [
        f"reconstruction {i + 1}" for i in range(len(reconstructions))
    ]
    if len(labels) != len(rows):
        raise ValueError(f"Got {len(rows)} rows but {len(labels)} labels.")
    n = len(rows[0])
    fig, axes = plt.subplots(
        len(rows), n, figsize=(scale * n, scale * len(rows) * 1.05), squeeze=False
    )
    for r, (row, label) in enumerate(zip(rows, labels)):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(row[c], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    fig.tight_layout()
    return fig


def code_scatter(codes, labels, class_names=None, ax=None, title=None, s=3, max_points=5000):
    """Scatters 2-D codes coloured by label, with a legend of class names."""
    plt = _plt()
    codes = np.asarray(codes)
    labels = np.asarray(labels)
    if codes.ndim != 2 or codes.shape[1] != 2:
        raise ValueError(
            f"code_scatter needs 2-D codes of shape (n, 2). Received shape {codes.shape}."
        )
    if len(codes) != len(labels):
        raise ValueError(f"Got {len(codes)} codes but {len(labels)} labels.")
    if len(codes) > max_points:
        keep = np.random.default_rng(0).choice(len(codes), max_points, replace=False)
        codes, labels = codes[keep], labels[keep]
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 5))
    classes = np.unique(labels)
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    for i, k in enumerate(classes):
        pts = codes[labels == k]
        name = class_names[k] if class_names is not None and 0 <= k < len(class_names) else str(k)
        ax.scatter(pts[:, 0], pts[:, 1], s=s, color=cmap(i % cmap.N), label=name)
    ax.legend(markerscale=4, fontsize=7, loc="best", frameon=False)
    if title:
        ax.set_title(title)
    return ax.figure


def manifold_grid(
    decode, n=15, extent=None, grid_x=None, grid_y=None, image_shape=(28, 28), scale=6
):
    """Decodes a regular ``n x n`` grid of 2-D codes and tiles the images into one picture.

    Args:
        decode: maps codes ``(m, 2)`` to images (e.g. ``model.decoder.predict``).
        extent: ``(xmin, xmax, ymin, ymax)`` of the grid; default ``(-3, 3, -3, 3)``.
        grid_x, grid_y: explicit coordinates instead of ``extent`` (e.g. normal quantiles).
    """
    plt = _plt()
    xmin, xmax, ymin, ymax = extent or (-3, 3, -3, 3)
    grid_x = np.linspace(xmin, xmax, n) if grid_x is None else np.asarray(grid_x)
    grid_y = np.linspace(ymax, ymin, n) if grid_y is None else np.asarray(grid_y)
    codes = np.array([[x, y] for y in grid_y for x in grid_x], dtype="float32")
    images = as_images(np.asarray(decode(codes)), image_shape)
    h, w = images.shape[1:3]
    canvas = np.zeros((len(grid_y) * h, len(grid_x) * w))
    for idx, img in enumerate(images):
        r, c = divmod(idx, len(grid_x))
        canvas[r * h : (r + 1) * h, c * w : (c + 1) * w] = img
    fig, ax = plt.subplots(figsize=(scale, scale))
    extent = (grid_x[0], grid_x[-1], grid_y[-1], grid_y[0])
    ax.imshow(canvas, cmap="gray", extent=extent, aspect="auto")
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    return fig


def history_plot(*histories, labels=None, key="loss", ax=None, title=None):
    """Plots ``key`` (and ``val_`` + key when present) of Keras ``History`` objects."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    labels = labels or [f"run {i + 1}" for i in range(len(histories))]
    longest = 0
    for h, label in zip(histories, labels):
        hist = getattr(h, "history", h)
        epochs = range(1, len(hist[key]) + 1)
        longest = max(longest, len(epochs))
        ax.plot(epochs, hist[key], marker="o", markersize=3, label=f"{label}")
        if "val_" + key in hist:
            ax.plot(
                epochs, hist["val_" + key], "--", marker="o", markersize=3, label=f"{label} (val)"
            )
    if longest <= 10:  # a short (smoke) run: one tick per epoch, never fractional ones
        ax.set_xticks(range(1, longest + 1))
    else:
        ax.xaxis.set_major_locator(_plt().MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(key)
    ax.legend(frameon=False)
    if title:
        ax.set_title(title)
    return ax.figure


def image_table(rows, row_labels, column_labels=None, title=None, scale=0.8):
    """Tiles rows of images into one picture, labelled by row and column (e.g. latent traversals).

    One axes, not one per image, so a 10 x 9 traversal draws in a fraction of a second.

    Args:
        rows: a list of image batches, one per row, all with the same number of images.
        row_labels: one label per row (e.g. ``"z[3]"``), shown as the row's tick label.
        column_labels: one label per column (e.g. the traversal values), or ``None``.
        title: the figure's title.
        scale: inches per image.
    """
    plt = _plt()
    rows = [as_images(r) for r in rows]
    if len(row_labels) != len(rows):
        raise ValueError(f"Got {len(rows)} rows but {len(row_labels)} row labels.")
    n, (h, w) = len(rows[0]), rows[0].shape[1:3]
    if any(len(r) != n for r in rows):
        raise ValueError(f"Every row needs {n} images. Received {[len(r) for r in rows]}.")
    canvas = np.ones((len(rows) * (h + 1) - 1, n * (w + 1) - 1))  # one white pixel between images
    for i, row in enumerate(rows):
        for j, image in enumerate(row):
            canvas[i * (h + 1) : i * (h + 1) + h, j * (w + 1) : j * (w + 1) + w] = image
    fig, ax = plt.subplots(figsize=(scale * n + 1.5, scale * len(rows)))
    ax.imshow(canvas, cmap="gray", vmin=0, vmax=1)
    ax.set_yticks([i * (h + 1) + h / 2 for i in range(len(rows))], [str(t) for t in row_labels])
    if column_labels is None:
        ax.set_xticks([])
    else:
        ax.set_xticks([j * (w + 1) + w / 2 for j in range(n)], [str(t) for t in column_labels])
        ax.xaxis.tick_top()
    ax.tick_params(length=0)
    if title:
        ax.set_title(title)
    return fig
