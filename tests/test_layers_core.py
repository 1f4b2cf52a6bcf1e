"""Tests of the core layers: tied weights, masking noise, KL sparsity, switch pooling, sampling."""

import keras
import numpy as np
import pytest
from keras import ops

from aekeras.layers import (
    DenseTranspose,
    KLSparsity,
    MaskingNoise,
    MaxPoolingWithArgmax2D,
    MaxUnpooling2D,
    Sampling,
)
from aekeras.layers.sparsity import bernoulli_kl_divergence
from tests.layer_checks import run_layer_test

rng = np.random.default_rng(0)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _built_dense(units=3, input_dim=6, name=None, **kwargs):
    dense = keras.layers.Dense(units, name=name, **kwargs)
    dense.build((None, input_dim))
    return dense


# ---------------------------------------------------------------- DenseTranspose


def test_dense_transpose_formula():
    dense = _built_dense(units=3, input_dim=5)
    layer = DenseTranspose(dense, activation="sigmoid")
    h = rng.random((4, 3)).astype("float32")
    y = _np(layer(h))
    w, b = _np(dense.kernel), _np(layer.bias)
    np.testing.assert_allclose(y, 1 / (1 + np.exp(-(h @ w.T + b))), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["functional", "sequential"])
def test_dense_transpose_tie_survives_keras_file(kind, tmp_path):
    x = rng.random((8, 6)).astype("float32")
    if kind == "functional":
        inputs = keras.Input((6,))
        dense = keras.layers.Dense(3, name="encoder_dense")
        code = dense(inputs)
        outputs = DenseTranspose(dense, activation="sigmoid", name="tied")(code)
        model = keras.Model(inputs, outputs)
    else:
        dense = _built_dense(name="encoder_dense")
        model = keras.Sequential(
            [keras.Input((6,)), dense, DenseTranspose(dense, activation="sigmoid", name="tied")]
        )
    model.save(tmp_path / "tied.keras")
    loaded = keras.models.load_model(tmp_path / "tied.keras")
    encoder, decoder = loaded.get_layer("encoder_dense"), loaded.get_layer("tied")
    assert decoder.tied_to is encoder and decoder.kernel is encoder.kernel
    assert len(loaded.trainable_weights) == 3  # kernel counted once, two biases
    np.testing.assert_allclose(_np(loaded(x)), _np(model(x)))


def test_dense_transpose_in_separate_submodels_warns_and_keeps_values(tmp_path):
    dense = keras.layers.Dense(3, name="encoder_dense")
    encoder = keras.Sequential([keras.Input((6,)), dense], name="encoder")
    decoder = keras.Sequential([keras.Input((3,)), DenseTranspose(dense, name="tied")])
    inputs = keras.Input((6,))
    model = keras.Model(inputs, decoder(encoder(inputs)))
    model.save(tmp_path / "nested.keras")
    with pytest.warns(UserWarning, match="could not be re-tied"):
        loaded = keras.models.load_model(tmp_path / "nested.keras")
    x = rng.random((8, 6)).astype("float32")
    np.testing.assert_allclose(_np(loaded(x)), _np(model(x)))
    assert loaded.layers[-1].get_layer("tied").tied_to is None
    # Weights (rebuilt architecture + load_weights) keep the tie.
    model.save_weights(tmp_path / "nested.weights.h5")
    model.load_weights(tmp_path / "nested.weights.h5")
    assert decoder.get_layer("tied").kernel is dense.kernel


def test_dense_transpose_gradient_sums_both_paths():
    """One SGD step moves the tied kernel by the sum of the encoder's and decoder's steps."""
    x = rng.random((16, 5)).astype("float32")
    lr = 0.5

    def sgd_step(model):
        model.compile(optimizer=keras.optimizers.SGD(lr), loss="mse", jit_compile=False)
        model.fit(x, x, batch_size=16, epochs=1, shuffle=False, verbose=0)

    inputs = keras.Input((5,))
    dense = keras.layers.Dense(3, activation="tanh")
    code = dense(inputs)
    tied = DenseTranspose(dense, activation="sigmoid")
    tied_model = keras.Model(inputs, tied(code))
    w0 = _np(dense.kernel).copy()

    # The same network with two independent kernels, W and W.T, as the reference.
    enc = keras.layers.Dense(3, activation="tanh")
    dec = keras.layers.Dense(5, activation="sigmoid")
    untied_model = keras.Model(inputs, dec(enc(inputs)))
    enc.set_weights([w0, _np(dense.bias)])
    dec.set_weights([w0.T, _np(tied.bias)])

    sgd_step(tied_model)
    sgd_step(untied_model)
    encoder_step = _np(enc.kernel) - w0
    decoder_step = _np(dec.kernel).T - w0
    assert np.abs(decoder_step).max() > 1e-4 and np.abs(encoder_step).max() > 1e-4
    np.testing.assert_allclose(
        _np(dense.kernel) - w0, encoder_step + decoder_step, rtol=1e-4, atol=1e-6
    )


def test_dense_transpose_errors():
    with pytest.raises(ValueError, match="Expected a built `keras.layers.Dense`.*Received"):
        DenseTranspose(keras.layers.Conv2D(4, 3))
    with pytest.raises(ValueError, match="Received: tied_to='encoder'"):
        DenseTranspose("encoder")
    with pytest.raises(ValueError, match="not built yet.*Call it on an input"):
        DenseTranspose(keras.layers.Dense(3))
    layer = DenseTranspose(_built_dense(units=3))
    with pytest.raises(ValueError, match="last dimension is 3.*Received: input_shape"):
        layer(np.zeros((2, 4), "float32"))


# ------------------------------------------------------------------ MaskingNoise


@pytest.mark.parametrize("shape", [(32, 784), (8, 28, 28, 1)])
def test_masking_noise_drops_exact_fraction_without_rescaling(shape):
    x = rng.random(shape).astype("float32") + 0.5  # no zeros to start with
    layer = MaskingNoise(0.25, seed=3)
    y = _np(layer(x, training=True))
    dropped = (y == 0).reshape(shape[0], -1)
    np.testing.assert_array_equal(dropped.sum(axis=1), round(0.25 * 784))
    np.testing.assert_array_equal(y[y != 0], x[y != 0])  # kept values are not rescaled
    assert not np.array_equal(dropped[0], dropped[1])  # each example has its own mask
    np.testing.assert_array_equal(_np(layer(x, training=False)), x)
    np.testing.assert_array_equal(_np(MaskingNoise(0.0)(x, training=True)), x)


def test_masking_noise_seed_is_reproducible():
    x = np.ones((4, 50), "float32")
    a = _np(MaskingNoise(0.3, seed=7)(x, training=True))
    b = _np(MaskingNoise(0.3, seed=7)(x, training=True))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("rate", [1.0, 1.5, -0.1])
def test_masking_noise_rate_errors(rate):
    with pytest.raises(ValueError, match=rf"Received: rate={rate}"):
        MaskingNoise(rate)


# -------------------------------------------------------------------- KLSparsity


def _np_kl(rho, rho_hat):
    return rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))


def test_bernoulli_kl_divergence_values():
    np.testing.assert_allclose(
        _np(bernoulli_kl_divergence(0.05, 0.2)),
        0.05 * np.log(0.25) + 0.95 * np.log(0.95 / 0.8),
        rtol=1e-6,
    )
    rho_hat = np.array([0.01, 0.1, 0.5, 0.9], "float32")
    np.testing.assert_allclose(
        _np(bernoulli_kl_divergence(0.1, rho_hat)), _np_kl(0.1, rho_hat), rtol=1e-5
    )
    assert float(_np(bernoulli_kl_divergence(0.3, 0.3))) == pytest.approx(0.0, abs=1e-7)


def test_kl_sparsity_layer_checks_without_momentum():
    # With momentum (a running average) in test_layer_checks.py, float32 and mixed_float16.
    run_layer_test(
        KLSparsity,
        {"rho": 0.1, "beta": 3.0, "momentum": 0.0},
        (8, 5),
        expected_output_shape=(8, 5),
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=0,
        expected_num_losses=1,
    )


def test_kl_sparsity_penalty_value_and_identity():
    h = rng.uniform(0.01, 0.99, (16, 4)).astype("float32")
    layer = KLSparsity(rho=0.05, beta=2.0)
    np.testing.assert_array_equal(_np(layer(h, training=True)), h)
    expected = 2.0 * _np_kl(0.05, h.mean(axis=0)).sum()
    np.testing.assert_allclose(float(_np(layer.losses[0])), expected, rtol=1e-5)


def test_kl_sparsity_running_average_over_two_batches():
    rho, beta, lam = 0.1, 1.5, 0.8
    batch1 = rng.uniform(0.0, 0.6, (10, 3)).astype("float32")
    batch2 = rng.uniform(0.2, 0.9, (10, 3)).astype("float32")
    layer = KLSparsity(rho=rho, beta=beta, momentum=lam)

    layer(batch1, training=True)
    tilde1 = lam * rho + (1 - lam) * batch1.mean(axis=0)  # starts at the target rho
    np.testing.assert_allclose(_np(layer.running_rho), tilde1, rtol=1e-6)
    np.testing.assert_allclose(float(_np(layer.losses[0])), beta * _np_kl(rho, tilde1).sum(), 1e-5)

    layer(batch2, training=True)
    tilde2 = lam * tilde1 + (1 - lam) * batch2.mean(axis=0)
    np.testing.assert_allclose(_np(layer.running_rho), tilde2, rtol=1e-6)
    np.testing.assert_allclose(float(_np(layer.losses[0])), beta * _np_kl(rho, tilde2).sum(), 1e-5)

    layer(batch1, training=False)  # inference uses, but does not update, the average
    np.testing.assert_allclose(_np(layer.running_rho), tilde2, rtol=1e-6)


def test_kl_sparsity_clips_and_trains_through_current_batch():
    layer = KLSparsity(rho=0.05, beta=1.0)
    layer(np.zeros((4, 3), "float32"))
    assert np.isfinite(float(_np(layer.losses[0])))
    layer(np.ones((4, 3), "float32"))
    assert np.isfinite(float(_np(layer.losses[0])))

    # The penalty alone (the data loss is 0) moves the encoder's weights, with momentum too.
    x = rng.random((32, 6)).astype("float32")
    steps = {}
    for momentum in (0.0, 0.9):
        keras.utils.set_random_seed(1)
        inputs = keras.Input((6,))
        dense = keras.layers.Dense(4, activation="sigmoid")
        model = keras.Model(inputs, KLSparsity(0.05, 1.0, momentum)(dense(inputs)))
        w0 = _np(dense.kernel).copy()
        model.compile(
            optimizer=keras.optimizers.SGD(1.0),
            loss=lambda y, p: ops.sum(p) * 0.0,  # the penalty is the only loss
            jit_compile=False,
        )
        model.fit(x, np.zeros((32, 4), "float32"), batch_size=32, verbose=0)
        steps[momentum] = _np(dense.kernel) - w0
        if momentum:  # fit calls the layer with training=True: the average moved
            assert not np.allclose(_np(model.layers[-1].running_rho), 0.05)
    assert np.abs(steps[0.0]).max() > 1e-4 and np.abs(steps[0.9]).max() > 1e-5
    assert not np.allclose(steps[0.0], steps[0.9])


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_kl_sparsity_gradient_has_the_stated_beta(momentum):
    # One SGD step on the penalty alone equals Ng's update, beta * KL'(rho || rho_tilde) times
    # d rho_hat / d W, whatever the momentum: differentiating the running average would
    # scale it by (1 - momentum), an effective beta ten times too small at 0.9.
    rho, beta, n = 0.05, 3.0, 32
    x = rng.random((n, 6)).astype("float32")
    keras.utils.set_random_seed(2)
    inputs = keras.Input((6,))
    dense = keras.layers.Dense(4, activation="sigmoid")
    model = keras.Model(inputs, KLSparsity(rho, beta, momentum)(dense(inputs)))
    w0, b0 = (_np(v).astype("float64") for v in (dense.kernel, dense.bias))
    model.compile(
        optimizer=keras.optimizers.SGD(1.0), loss=lambda y, p: ops.sum(p) * 0.0, jit_compile=False
    )
    model.fit(x, np.zeros((n, 4), "float32"), batch_size=n, verbose=0)

    h = 1.0 / (1.0 + np.exp(-(x @ w0 + b0)))
    rho_tilde = momentum * rho + (1 - momentum) * h.mean(axis=0)  # the average starts at rho
    dloss_drho_hat = beta * (-rho / rho_tilde + (1 - rho) / (1 - rho_tilde))
    dloss_dz = dloss_drho_hat / n * h * (1 - h)
    np.testing.assert_allclose(_np(dense.kernel) - w0, -x.T @ dloss_dz, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(_np(dense.bias) - b0, -dloss_dz.sum(axis=0), rtol=1e-3, atol=1e-6)


def test_kl_sparsity_brings_rho_hat_to_its_target_on_mnist(mnist):
    # Lecture 06's sparse autoencoder under the cpu profile (784-1000-784, rho = 0.05,
    # beta = 0.03, momentum 0.9; 20,000 digits, 3 epochs). On the 10,000 test digits the
    # units' mean activation is within 0.005 of rho on average and every unit within 0.02
    # (seeds 0, 1, 2 give means 0.0528, 0.0521, 0.0517 and worst units 0.009-0.015 away;
    # with the gradient scaled by 1 - momentum the mean stayed near 0.15).
    rho = 0.05
    keras.utils.set_random_seed(0)
    inputs = keras.Input((784,))
    code = keras.layers.Dense(1000, activation="sigmoid", name="code")(inputs)
    outputs = keras.layers.Dense(784, activation="sigmoid")(KLSparsity(rho, 0.03, 0.9)(code))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    x = mnist.x_train[:20_000]
    model.fit(x, x, epochs=3, batch_size=128, verbose=0)
    W, b = model.get_layer("code").get_weights()
    rho_hat = (1.0 / (1.0 + np.exp(-(mnist.x_test @ W + b)))).mean(axis=0)
    assert abs(rho_hat.mean() - rho) < 0.005, rho_hat.mean()
    assert np.abs(rho_hat - rho).max() < 0.02, np.abs(rho_hat - rho).max()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"rho": 0.0, "beta": 1.0}, "Received: rho=0.0"),
        ({"rho": 1.0, "beta": 1.0}, "Received: rho=1.0"),
        ({"rho": 1.5, "beta": 1.0}, "Received: rho=1.5"),
        ({"rho": 0.1, "beta": -1.0}, "Received: beta=-1.0"),
        ({"rho": 0.1, "beta": 1.0, "momentum": 1.0}, "Received: momentum=1.0"),
        ({"rho": 0.1, "beta": 1.0, "momentum": -0.5}, "Received: momentum=-0.5"),
    ],
)
def test_kl_sparsity_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        KLSparsity(**kwargs)


# ------------------------------------------------- MaxPoolingWithArgmax2D / Unpooling


def np_pool_with_switches(x, ph, pw):
    """NumPy reference: max per window and a 1 at its first (row-major) maximum."""
    n, h, w, c = x.shape
    pooled = np.zeros((n, h // ph, w // pw, c), x.dtype)
    switches = np.zeros_like(x)
    for b, i, j, k in np.ndindex(n, h // ph, w // pw, c):
        window = x[b, i * ph : (i + 1) * ph, j * pw : (j + 1) * pw, k]
        r, s = np.unravel_index(np.argmax(window), window.shape)  # first maximum
        pooled[b, i, j, k] = window[r, s]
        switches[b, i * ph + r, j * pw + s, k] = 1
    return pooled, switches


def test_pooling_worked_example_4x4():
    x = np.array(
        [[1, 2, 0, 1],
         [3, 0, 1, 4],
         [5, 5, 2, 2],
         [1, 0, 2, 1]], "float32",
    )  # fmt: skip
    pooled, switches = MaxPoolingWithArgmax2D(2)(x[None, :, :, None])
    np.testing.assert_array_equal(_np(pooled)[0, :, :, 0], [[3, 4], [5, 2]])
    expected_switches = np.array(
        [[0, 0, 0, 0],
         [1, 0, 0, 1],
         [1, 0, 1, 0],   # ties: the first maximum in row-major order wins
         [0, 0, 0, 0]], "float32",
    )  # fmt: skip
    np.testing.assert_array_equal(_np(switches)[0, :, :, 0], expected_switches)
    decoded = np.array([[10, 20], [30, 40]], "float32")[None, :, :, None]
    unpooled = _np(MaxUnpooling2D(2)([decoded, switches]))[0, :, :, 0]
    np.testing.assert_array_equal(
        unpooled, [[0, 0, 0, 0], [10, 0, 0, 20], [30, 0, 40, 0], [0, 0, 0, 0]]
    )


@pytest.mark.parametrize("pool_size, shape", [(2, (3, 8, 6, 4)), ((2, 3), (2, 6, 9, 2))])
def test_pooling_matches_numpy_reference_with_ties(pool_size, shape):
    ph, pw = (pool_size, pool_size) if isinstance(pool_size, int) else pool_size
    x = rng.integers(0, 3, shape).astype("float32")  # few values: many ties
    want_pooled, want_switches = np_pool_with_switches(x, ph, pw)
    pooled, switches = MaxPoolingWithArgmax2D(pool_size)(x)
    np.testing.assert_array_equal(_np(pooled), want_pooled)
    np.testing.assert_array_equal(_np(switches), want_switches)
    values = rng.normal(size=want_pooled.shape).astype("float32")
    unpooled = _np(MaxUnpooling2D(pool_size)([values, switches]))
    np.testing.assert_array_equal(unpooled, want_switches * values.repeat(ph, 1).repeat(pw, 2))
    # Each window holds exactly one nonzero, at its argmax; pooling it gives the values back.
    np.testing.assert_allclose(_np(MaxPoolingWithArgmax2D(pool_size)(np.abs(unpooled))[0]),
                               np.abs(values))  # fmt: skip


def test_pooling_errors():
    with pytest.raises(
        ValueError, match=r"divisible by 2.*ZeroPadding2D.*input_shape=\(None, 5, 4, 1\)"
    ):
        MaxPoolingWithArgmax2D(2)(keras.Input((5, 4, 1)))
    with pytest.raises(ValueError, match="expects 4D inputs.*Received: input_shape"):
        MaxPoolingWithArgmax2D(2)(keras.Input((4, 4)))
    with pytest.raises(ValueError, match="Received: pool_size=0"):
        MaxPoolingWithArgmax2D(0)
    with pytest.raises(ValueError, match="Received: pooled shape"):
        MaxUnpooling2D(2)([keras.Input((3, 3, 1)), keras.Input((4, 4, 1))])
    with pytest.raises(ValueError, match="list of two inputs"):
        MaxUnpooling2D(2)(keras.Input((4, 4, 1)))


# ---------------------------------------------------------------------- Sampling


def test_sampling_reparameterisation():
    z_mean = rng.normal(size=(5, 3)).astype("float32")
    z_log_var = rng.normal(size=(5, 3)).astype("float32")
    z = _np(Sampling(seed=42)([z_mean, z_log_var]))
    eps = _np(keras.random.normal((5, 3), seed=keras.random.SeedGenerator(42)))
    np.testing.assert_allclose(z, z_mean + np.exp(z_log_var / 2) * eps, rtol=1e-5, atol=1e-6)


def test_sampling_statistics():
    n = 20000
    z_mean = np.tile(np.array([[1.0, -2.0]], "float32"), (n, 1))
    z_log_var = np.tile(np.log(np.array([[1.0, 4.0]], "float32")), (n, 1))
    z = _np(Sampling(seed=0)([z_mean, z_log_var]))
    np.testing.assert_allclose(z.mean(axis=0), [1.0, -2.0], atol=0.05)
    np.testing.assert_allclose(z.std(axis=0), [1.0, 2.0], rtol=0.03)


def test_sampling_errors():
    with pytest.raises(ValueError, match=r"same shape.*z_mean shape=\(None, 2\)"):
        Sampling()([keras.Input((2,)), keras.Input((3,))])
    with pytest.raises(ValueError, match="list of two inputs"):
        Sampling()(keras.Input((2,)))
