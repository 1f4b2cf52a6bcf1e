"""Keras 3 models of the course; each trains with ``model.fit`` on any backend."""

from aekeras.models.autoencoder import Autoencoder, dense_autoencoder
from aekeras.models.contractive import ContractiveAutoencoder
from aekeras.models.mae import MaskedAutoencoder
from aekeras.models.rbm import RBM, cd1_update
from aekeras.models.vae import VAE

__all__ = [
    "RBM",
    "VAE",
    "Autoencoder",
    "ContractiveAutoencoder",
    "MaskedAutoencoder",
    "cd1_update",
    "dense_autoencoder",
]
