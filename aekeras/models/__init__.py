"""Keras 3 models of the course; each trains with ``model.fit`` on any backend."""

from aekeras.models.autoencoder import Autoencoder, dense_autoencoder
from aekeras.models.contractive import ContractiveAutoencoder, contractive_penalty
from aekeras.models.mae import MaskedAutoencoder, mae_classifier
from aekeras.models.rbm import RBM, cd1_update
from aekeras.models.sequence import (
    SequenceAutoencoder,
    reverse_time,
    sequence_targets,
    teacher_forcing_inputs,
)
from aekeras.models.vae import VAE, conv_vae, dense_vae, gaussian_kl_divergence

__all__ = [
    "RBM",
    "VAE",
    "Autoencoder",
    "ContractiveAutoencoder",
    "MaskedAutoencoder",
    "SequenceAutoencoder",
    "cd1_update",
    "contractive_penalty",
    "conv_vae",
    "dense_vae",
    "gaussian_kl_divergence",
    "mae_classifier",
    "dense_autoencoder",
    "reverse_time",
    "sequence_targets",
    "teacher_forcing_inputs",
]
