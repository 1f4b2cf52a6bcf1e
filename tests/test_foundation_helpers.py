"""Figures, recorded results and the load-or-train cache on small real inputs."""

import json
import os
import sys

import numpy as np
import pytest

from aekeras import plotting, results, training
from tests import ROOT


def test_image_grid_and_rows(mnist):
    fig = plotting.image_grid(mnist.x_test[:12], ncols=5, titles=mnist.y_test[:12])
    assert len(fig.axes) == 15  # 3 rows of 5, the last three blank
    assert fig.axes[0].get_title() == str(mnist.y_test[0])
    fig = plotting.reconstruction_rows(mnist.x_test, mnist.x_test * 0.5, labels=["x", "x/2"], n=6)
    assert len(fig.axes) == 12
    with pytest.raises(ValueError, match="2 rows but 1 labels"):
        plotting.reconstruction_rows(mnist.x_test, mnist.x_test, labels=["x"])


def test_as_images_rejects_non_square_vectors():
    with pytest.raises(ValueError, match="pass image_shape"):
        plotting.as_images(np.zeros((2, 10)))
    assert plotting.as_images(np.zeros((2, 10)), image_shape=(2, 5)).shape == (2, 2, 5)


def test_code_scatter_and_manifold(mnist):
    codes = mnist.x_test[:300, [300, 400]]  # two real pixel intensities as a 2-D "code"
    fig = plotting.code_scatter(codes, mnist.y_test[:300], class_names=[f"d{i}" for i in range(10)])
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == [f"d{i}" for i in np.unique(mnist.y_test[:300])]
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        plotting.code_scatter(mnist.x_test[:5, :3], mnist.y_test[:5])
    seen = []

    def decode(z):
        seen.append(z)
        return np.repeat(z[:, :1], 784, axis=1)

    fig = plotting.manifold_grid(decode, n=4, extent=(-1, 1, -1, 1))
    assert seen[0].shape == (16, 2)
    canvas = fig.axes[0].images[0].get_array()
    assert canvas.shape == (4 * 28, 4 * 28)


def test_history_plot_ticks_whole_epochs():
    """A one-epoch smoke run gets the tick 1, not 0.95, 0.975, ...; a long run integer ticks."""
    fig = plotting.history_plot({"loss": [0.3]}, {"loss": [0.2], "val_loss": [0.25]})
    assert list(fig.axes[0].get_xticks()) == [1]
    assert [line.get_label() for line in fig.axes[0].lines] == ["run 1", "run 2", "run 2 (val)"]
    fig = plotting.history_plot({"loss": list(np.linspace(1, 0, 40))})
    ticks = fig.axes[0].get_xticks()
    assert len(ticks) > 1 and np.all(ticks == np.round(ticks))


def test_record_and_markdown_table(tmp_path, monkeypatch):
    monkeypatch.setenv(results.RESULTS_ENV, str(tmp_path))
    results.record("err", 1.0, note="first", lecture="02", source="mnist")
    results.record("err", np.float32(2.5), note="second", lecture="02", source="mnist")
    rows = results.load()
    assert len(rows) == 1 and rows[0]["value"] == 2.5  # the latest run wins
    text = results.write_markdown(tmp_path / "results.md")
    assert "| 02 | err | 2.5 |  |  | second | smoke |" in text


def test_paper_numbers_stand_beside_ours_with_their_ratio(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(results.RESULTS_ENV, str(tmp_path))
    rows = {"AE-30": {"test SSE": 4.5}, "PCA-30": {"test SSE": 13.87}}
    papers = {"AE-30": {"test SSE": (3.00, "H&S 2006, Fig. 2")}}
    results.table(rows, lecture="02", source="mnist", prefix="mnist", papers=papers, fmt=".2f")
    printed = capsys.readouterr().out.splitlines()  # the paper's number and the ratio beside ours
    assert printed[0].split() == ["test", "SSE", "paper", "ours/paper"]
    assert printed[1].split() == ["AE-30", "4.50", "3.00", "1.50"]
    assert printed[2].split() == ["PCA-30", "13.87", "—", "—"]
    assert printed[3] == "paper: H&S 2006, Fig. 2"
    text = results.write_markdown(tmp_path / "results.md")
    assert "| 02 | mnist_ae_30_test_sse | 4.5 | 3 (H&S 2006, Fig. 2) | 1.5 |" in text
    assert "| 02 | mnist_pca_30_test_sse | 13.87 |  |  |" in text
    with pytest.raises(ValueError, match="not in `rows`"):
        results.table(rows, lecture="02", source="m", papers={"AE-10": {"test SSE": (3, "x")}})
    with pytest.raises(ValueError, match="pair"):
        results.record("k", 1.0, lecture="02", paper=3.0)


def test_fit_or_load_trains_once(mnist, tmp_path, monkeypatch, capsys):
    import keras

    monkeypatch.setenv(training.CACHE_ENV, str(tmp_path))
    x = mnist.x_train[:256]

    def build(activation=None, learning_rate=1e-3):
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [keras.Input((784,)), keras.layers.Dense(8, activation), keras.layers.Dense(784)]
        )
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
        return model

    def fit(model, epochs=2):
        return training.fit_or_load(model, "tiny", x, x, epochs=epochs, batch_size=64, verbose=0)

    first = build()
    history = fit(first)
    assert len(history["loss"]) == 2
    assert any(p.name.endswith(".weights.h5") for p in tmp_path.iterdir())
    assert not [p.name for p in tmp_path.iterdir() if ".partial" in p.name]  # renamed in place
    assert "Loaded" not in capsys.readouterr().out
    # The same experiment again: loaded, not trained; same weights and history.
    second = build()
    assert fit(second) == json.loads(json.dumps(history))
    assert "Loaded trained weights of 'tiny'" in capsys.readouterr().out
    np.testing.assert_allclose(
        second.predict(x[:4], verbose=0), first.predict(x[:4], verbose=0), atol=1e-6
    )
    # A changed experiment (more epochs) is trained afresh.
    fourth = build()
    assert len(fit(fourth, epochs=3)["loss"]) == 3
    assert "Loaded" not in capsys.readouterr().out
    # So is one with the same shapes and weights count but another recipe: an activation,
    # a learning rate, a schedule or a loss.
    schedule = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=8)
    changed = [build(activation="gelu"), build(learning_rate=3e-3), build(learning_rate=schedule)]
    changed.append(build())
    changed[-1].compile(optimizer="adam", loss="binary_crossentropy")
    for model in changed:
        fit(model)
        assert "Loaded" not in capsys.readouterr().out


def test_table_prints_and_records_every_number(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(results.RESULTS_ENV, str(tmp_path))
    rows = {
        "VAE (β = 1)": {"reconstruction": 95.2234, "KL": np.float32(15.5), "runs on": "CPU"},
        "β-VAE": {"reconstruction": 123.7, "KL": None},
    }
    shown = results.table(rows, lecture="09", source="mnist", prefix="vae8d", note="test nats")
    assert shown is None  # a lecture cell that ends with a table shows no stray value
    text = capsys.readouterr().out.rstrip("\n")
    lines = text.splitlines()
    assert lines[0].split() == ["reconstruction", "KL", "runs", "on"]
    assert lines[1].split() == ["VAE", "(β", "=", "1)", "95.2234", "15.5000", "CPU"]
    assert lines[2].split() == ["β-VAE", "123.7000", "—", "—"]  # missing cells too
    assert len({len(line) for line in lines[:2]}) == 1  # aligned columns
    recorded = {e["key"]: e for e in results.load()}
    assert set(recorded) == {
        "vae8d_vae_β_1_reconstruction",
        "vae8d_vae_β_1_kl",
        "vae8d_β_vae_reconstruction",
    }
    entry = recorded["vae8d_vae_β_1_kl"]
    assert entry["value"] == 15.5 and entry["lecture"] == "09" and entry["source"] == "mnist"
    assert entry["note"] == "test nats: VAE (β = 1), KL"

    results.table({"x": {"y": 1.0}}, lecture="09", source="mnist", record_values=False)
    assert len(results.load()) == 3
    with pytest.raises(ValueError, match="empty"):
        results.table({}, lecture="09", source="mnist")


def test_partial_book_builds_keep_the_other_lectures_rows(tmp_path):
    """`build_book.py --only 10` after a whole build keeps 01–09's rows; another profile does not."""
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    try:
        import build_book
    finally:
        sys.path.remove(os.path.join(ROOT, "tools"))
    rows = {"01_pca": ("01_pca", "PCA", 88.0, ""), "10_mae": ("10_mae", "MAE", 600.0, "")}
    build_book.write_entries(str(tmp_path), "cpu", rows)
    assert build_book.read_entries(str(tmp_path), "cpu") == rows
    assert build_book.read_entries(str(tmp_path), "smoke") == {}
    assert build_book.read_entries(str(tmp_path / "nothing-built"), "cpu") == {}
