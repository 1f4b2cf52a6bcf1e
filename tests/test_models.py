"""Autoencoder models: shapes and saving, the contractive and VAE formulas, and training."""

import keras
import numpy as np
import pytest
from keras import ops
from scipy.linalg import subspace_angles
from sklearn.decomposition import PCA

from aekeras.models import VAE, Autoencoder, ContractiveAutoencoder, dense_autoencoder
from aekeras.models.contractive import contractive_penalty
from aekeras.models.vae import dense_vae, gaussian_kl_divergence
from aekeras.pretraining import greedy_layerwise


def to_numpy(x):
    return ops.convert_to_numpy(x)


@pytest.fixture(scope="module")
def digits(mnist):
    """1,000 real MNIST training images, flattened, in [0, 1]."""
    return mnist.x_train[:1000]


class FullBatch(keras.utils.PyDataset):
    """The whole (small) training set as every batch: plain gradient descent through `fit`."""

    def __init__(self, x, steps):
        super().__init__()
        self.x, self.steps = x, steps

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        return self.x, self.x


# --- Autoencoder and dense_autoencoder ----------------------------------------------------


def test_dense_autoencoder_is_the_hinton_salakhutdinov_shape():
    ae = dense_autoencoder()
    assert isinstance(ae, Autoencoder)
    assert [layer.units for layer in ae.encoder.layers[1:]] == [1000, 500, 250, 30]
    assert [layer.units for layer in ae.decoder.layers[1:]] == [250, 500, 1000, 784]
    assert ae.decoder.layers[-1].activation is keras.activations.sigmoid
    encoder_params = 785 * 1000 + 1001 * 500 + 501 * 250 + 251 * 30
    decoder_params = 31 * 250 + 251 * 500 + 501 * 1000 + 1001 * 784
    assert ae.count_params() == encoder_params + decoder_params
    tied = dense_autoencoder(tied=True)
    assert tied.count_params() == encoder_params + 250 + 500 + 1000 + 784  # own biases only

    x = np.random.default_rng(0).random((5, 784), dtype=np.float32)
    assert ae.encode(x).shape == (5, 30)
    assert ae.decode(np.zeros((3, 30), "float32")).shape == (3, 784)
    assert tuple(ae(x).shape) == (5, 784)


def test_code_l2_adds_the_activity_penalty():
    ae = dense_autoencoder(20, hidden=(8,), code_dim=3, code_l2=0.5)
    x = np.random.default_rng(0).random((4, 20), dtype=np.float32)
    code = ae.encode(x)
    ae(x)  # eager: its losses are now the penalties of this call
    assert float(sum(to_numpy(loss) for loss in ae.losses)) == pytest.approx(
        0.5 * np.sum(code**2) / len(x), rel=1e-5
    )


def test_dense_autoencoder_arguments_are_checked():
    with pytest.raises(ValueError, match="hidden"):
        dense_autoencoder(hidden=(100, 0))
    with pytest.raises(ValueError, match="code_l2"):
        dense_autoencoder(code_l2=-1.0)
    with pytest.raises(ValueError, match="encoder"):
        Autoencoder("not a model", keras.layers.Dense(3))


@pytest.mark.parametrize("tied", [False, True])
def test_autoencoder_keras_round_trip(digits, tmp_path, tied):
    ae = dense_autoencoder(784, hidden=(32,), code_dim=4, tied=tied, code_l2=1e-3)
    ae.save(tmp_path / "ae.keras")
    loaded = keras.models.load_model(tmp_path / "ae.keras")
    assert isinstance(loaded, Autoencoder) and loaded.get_config() == ae.get_config()
    np.testing.assert_allclose(to_numpy(loaded(digits[:8])), to_numpy(ae(digits[:8])), rtol=1e-6)
    if tied:  # still one kernel shared by the encoder and the decoder
        assert loaded.decoder.layers[-1].kernel is loaded.encoder.layers[1].kernel

    plain = Autoencoder(
        keras.Sequential([keras.Input((784,)), keras.layers.Dense(3)]),
        keras.Sequential([keras.Input((3,)), keras.layers.Dense(784, "sigmoid")]),
    )
    plain.save(tmp_path / "plain.keras")
    loaded = keras.models.load_model(tmp_path / "plain.keras")
    np.testing.assert_allclose(loaded.encode(digits[:8]), plain.encode(digits[:8]), rtol=1e-6)


def test_linear_autoencoder_spans_the_pca_subspace(digits):
    """Gradient descent on x̂ = W₂W₁x finds the span of the top principal directions."""
    x = digits - digits.mean(axis=0)
    k = 3
    keras.utils.set_random_seed(0)
    ae = dense_autoencoder(
        784, hidden=(), code_dim=k, activation=None, output_activation=None, tied=True
    )
    ae.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    ae.fit(FullBatch(x, 150), epochs=1, verbose=0)
    kernel = to_numpy(ae.encoder.layers[-1].kernel)  # (784, k), shared with the decoder
    pca = PCA(k).fit(x)
    angles = np.degrees(subspace_angles(kernel, pca.components_.T))
    assert angles.max() < 1.0, angles
    pca_error = np.mean((x - pca.inverse_transform(pca.transform(x))) ** 2)
    assert np.mean((x - to_numpy(ae(x))) ** 2) == pytest.approx(pca_error, rel=0.01)


def test_autoencoder_loss_falls_on_mnist(digits):
    keras.utils.set_random_seed(1)
    ae = dense_autoencoder(784, hidden=(64,), code_dim=8)
    ae.compile(optimizer="adam", loss="binary_crossentropy")
    losses = ae.fit(digits, digits, epochs=3, batch_size=100, verbose=0).history["loss"]
    assert losses[-1] < 0.8 * losses[0]


# --- Contractive autoencoder --------------------------------------------------------------


def test_contractive_penalty_is_the_jacobian_norm():
    """Σ_j (h_j(1-h_j))² Σ_i W_ij² equals ‖∂h/∂x‖²_F from central finite differences."""
    keras.utils.set_random_seed(2)
    cae = ContractiveAutoencoder(20, 5, lam=0.1)
    rng = np.random.default_rng(2)
    kernel = rng.normal(0, 0.5, (20, 5)).astype("float32")
    cae.code_layer.set_weights([kernel, rng.normal(0, 0.5, 5).astype("float32")])
    x = rng.random((3, 20), dtype=np.float32)

    step = 3e-3
    jacobian = np.zeros((3, 5, 20))
    for i in range(20):
        shift = np.zeros(20, "float32")
        shift[i] = step
        up, down = to_numpy(cae.encoder(x + shift)), to_numpy(cae.encoder(x - shift))
        jacobian[:, :, i] = (up - down) / (2 * step)
    h = to_numpy(cae.encoder(x))
    penalty = to_numpy(contractive_penalty(h, kernel))
    np.testing.assert_allclose(penalty, (jacobian**2).sum(axis=(1, 2)), rtol=2e-3)

    cae(x)  # the model adds λ · mean penalty to its losses
    assert float(sum(to_numpy(loss) for loss in cae.losses)) == pytest.approx(
        0.1 * penalty.mean(), rel=1e-5
    )
    with pytest.raises(ValueError, match="code_dim"):
        contractive_penalty(h, kernel.T)


def test_contractive_autoencoder_trains_and_saves(digits, tmp_path):
    keras.utils.set_random_seed(3)
    cae = ContractiveAutoencoder(784, 32, lam=0.1)
    cae.compile(optimizer="adam", loss="binary_crossentropy")
    losses = cae.fit(digits, digits, epochs=3, batch_size=100, verbose=0).history["loss"]
    assert losses[-1] < 0.8 * losses[0]
    cae.save(tmp_path / "cae.keras")
    loaded = keras.models.load_model(tmp_path / "cae.keras")
    assert isinstance(loaded, ContractiveAutoencoder) and loaded.lam == 0.1
    np.testing.assert_allclose(to_numpy(loaded(digits[:8])), to_numpy(cae(digits[:8])), rtol=1e-5)
    with pytest.raises(ValueError, match="lam"):
        ContractiveAutoencoder(784, 32, lam=-1)


# --- VAE ----------------------------------------------------------------------------------


def test_gaussian_kl_divergence_against_numpy():
    rng = np.random.default_rng(4)
    mean = rng.normal(size=(6, 3)).astype("float32")
    log_var = rng.normal(size=(6, 3)).astype("float32")
    sigma = np.exp(0.5 * log_var.astype(float))
    # KL(N(μ, σ²) ‖ N(0, 1)) = log(1/σ) + (σ² + μ²)/2 - 1/2, summed over dimensions.
    reference = (np.log(1 / sigma) + (sigma**2 + mean.astype(float) ** 2) / 2 - 0.5).sum(axis=1)
    np.testing.assert_allclose(
        to_numpy(gaussian_kl_divergence(mean, log_var)), reference, rtol=1e-5
    )
    np.testing.assert_allclose(
        to_numpy(gaussian_kl_divergence(np.zeros((2, 3)), np.zeros((2, 3)))), 0.0
    )
    with pytest.raises(ValueError, match="same shape"):
        gaussian_kl_divergence(mean, log_var[:, :2])


def test_reparameterisation_draws_from_q():
    vae = dense_vae(latent_dim=2, hidden=(8,), seed=0)
    mean = np.tile([[1.0, -2.0]], (20000, 1)).astype("float32")
    log_var = np.tile([[0.0, np.log(0.25)]], (20000, 1)).astype("float32")
    z = to_numpy(vae.sampling([mean, log_var]))
    np.testing.assert_allclose(z.mean(axis=0), [1.0, -2.0], atol=0.03)
    np.testing.assert_allclose(z.std(axis=0), [1.0, 0.5], rtol=0.03)


def test_vae_loss_is_bce_sum_plus_beta_kl():
    vae = dense_vae(input_dim=6, hidden=(4,), latent_dim=2, beta=2.0)
    rng = np.random.default_rng(5)
    x = (rng.random((3, 6)) > 0.5).astype("float32")
    x_hat = rng.uniform(0.05, 0.95, (3, 6)).astype("float32")
    mean, log_var = rng.normal(size=(2, 3, 2)).astype("float32")
    y_pred = {"reconstruction": x_hat, "z_mean": mean, "z_log_var": log_var}
    loss = to_numpy(
        vae.compute_loss(x=x, y_pred={k: ops.convert_to_tensor(v) for k, v in y_pred.items()})
    )
    bce = -(x * np.log(x_hat) + (1 - x) * np.log(1 - x_hat)).sum(axis=1).mean()
    kl = (-0.5 * (1 + log_var - mean**2 - np.exp(log_var)).sum(axis=1)).mean()
    assert float(loss) == pytest.approx(bce + 2.0 * kl, rel=1e-5)


def test_vae_trains_reports_and_saves(digits, tmp_path):
    keras.utils.set_random_seed(6)
    vae = dense_vae(hidden=(64,), latent_dim=2, seed=6)
    vae.compile(optimizer="adam")
    history = vae.fit(digits, epochs=3, batch_size=100, verbose=0).history
    assert {"loss", "reconstruction_loss", "kl_loss"} <= set(history)
    assert history["loss"][-1] < 0.8 * history["loss"][0]
    np.testing.assert_allclose(
        history["loss"], np.add(history["reconstruction_loss"], history["kl_loss"]), rtol=1e-4
    )

    test = digits[:300]
    elbo = vae.elbo(test)
    assert elbo.shape == (300,) and np.all(elbo < 0)
    loss = float(to_numpy(vae.compute_loss(x=test, y_pred=vae(test), training=False)))
    assert -elbo.mean() == pytest.approx(loss, rel=0.05)  # one sample of z each

    vae.save(tmp_path / "vae.keras")
    loaded = keras.models.load_model(tmp_path / "vae.keras")
    assert isinstance(loaded, VAE) and loaded.beta == vae.beta
    np.testing.assert_allclose(loaded.encode(test[:8])[0], vae.encode(test[:8])[0], rtol=1e-5)
    assert loaded.decode(np.zeros((2, 2), "float32")).shape == (2, 784)


def _tiny_vae(pixels=3):
    """A VAE with a 1-D latent whose log p(x) can be integrated on a grid."""
    x = keras.Input((pixels,))
    encoder = keras.Model(x, [keras.layers.Dense(1)(x), keras.layers.Dense(1)(x)])
    z = keras.Input((1,))
    decoder = keras.Model(z, keras.layers.Dense(pixels, "sigmoid")(z))
    return VAE(encoder, decoder, seed=3)


def test_vae_elbo_bounds_log_likelihood_on_binary_data():
    # On binary pixels the Bernoulli p(x|z) is a probability: log p(x) = log E_p(z) p(x|z),
    # integrated on a grid, sums to 1 over the 8 images of 3 pixels, and the mean ELBO
    # (one z per call, averaged over 20,000 calls) lies below it for every image.
    keras.utils.set_random_seed(3)
    vae = _tiny_vae()
    for layer, scale in ((vae.encoder, 0.5), (vae.decoder, 2.0)):
        layer.set_weights(
            [scale * np.random.default_rng(1).normal(size=w.shape) for w in layer.get_weights()]
        )
    images = np.array([[(i >> k) & 1 for k in range(3)] for i in range(8)], "float32")

    z = np.linspace(-12, 12, 24_001)[:, None]
    prior = np.exp(-0.5 * z[:, 0] ** 2) / np.sqrt(2 * np.pi)
    p = to_numpy(vae.decoder(z.astype("float32"))).astype("float64")  # (grid, 3)
    likelihood = np.prod(np.where(images[:, None, :] == 1, p[None], 1 - p[None]), axis=-1)
    log_px = np.log((likelihood * prior).sum(axis=1) * (z[1, 0] - z[0, 0]))
    assert np.exp(log_px).sum() == pytest.approx(1.0, abs=1e-6)

    draws = 20_000
    elbo = vae.elbo(np.repeat(images, draws, axis=0)).reshape(8, draws)
    mean, stderr = elbo.mean(axis=1), elbo.std(axis=1) / np.sqrt(draws)
    assert np.all(mean <= log_px + 3 * stderr), (mean, log_px)
    assert np.all(mean < log_px - 1e-3)  # a strict bound: q(z|x) is not the posterior here


# --- greedy layer-wise pretraining --------------------------------------------------------


def test_greedy_layerwise_returns_trained_layers_to_stack(digits):
    keras.utils.set_random_seed(7)
    layers = greedy_layerwise(digits[:500], units=(32, 16), epochs=1, batch_size=100)
    assert [tuple(layer.kernel.shape) for layer in layers] == [(784, 32), (32, 16)]
    assert all(layer.built and layer.activity_regularizer is None for layer in layers)
    classifier = keras.Sequential([keras.Input((784,)), *layers, keras.layers.Dense(10, "softmax")])
    assert tuple(classifier(digits[:4]).shape) == (4, 10)
    with pytest.raises(ValueError, match="units"):
        greedy_layerwise(digits[:10], units=())


def test_greedy_layerwise_with_masking_noise_returns_each_layers_history(digits):
    keras.utils.set_random_seed(9)
    layers, histories = greedy_layerwise(
        digits[:1000], units=(64, 16), epochs=3, masking=0.25, return_histories=True
    )
    assert len(layers) == len(histories) == 2
    for history in histories:
        losses = history.history["loss"]
        assert len(losses) == 3 and losses[-1] < losses[0], losses
    with pytest.raises(ValueError, match="masking"):
        greedy_layerwise(digits[:10], units=(4,), masking=1.0)


def test_overcomplete_layers_get_the_l1_penalty(digits):
    """Units ≥ input size: the L1 activity penalty makes the over-complete code sparse."""
    x = digits[:500]
    activity = {}
    for penalty in (0.0, 0.1):
        keras.utils.set_random_seed(8)
        (layer,) = greedy_layerwise(x, units=(800,), epochs=2, overcomplete_l1=penalty)
        activity[penalty] = np.abs(to_numpy(layer(x))).mean()
    assert activity[0.1] < 0.25 * activity[0.0], activity
