"""`plotting.image_table`: rows of images tiled into one labelled picture."""

import numpy as np
import pytest


def test_image_table_tiles_and_labels():
    import matplotlib

    matplotlib.use("Agg")
    from aekeras import plotting

    rows = [np.full((3, 4, 4), value) for value in (0.0, 1.0)]
    fig = plotting.image_table(rows, ["a", "b"], column_labels=[-1, 0, 1], title="t")
    canvas = fig.axes[0].images[0].get_array()
    assert canvas.shape == (2 * 5 - 1, 3 * 5 - 1)
    assert canvas[:4, :4].max() == 0.0 and canvas[5:, :4].min() == 1.0
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["a", "b"]
    with pytest.raises(ValueError, match="row labels"):
        plotting.image_table(rows, ["a"])
