"""Keras 3 layers of the course, written with ``keras.ops`` only (any backend)."""

from aekeras.layers.masking import RandomPatchMasking
from aekeras.layers.noise import MaskingNoise
from aekeras.layers.patches import Patchify, Unpatchify
from aekeras.layers.pooling import MaxPoolingWithArgmax2D, MaxUnpooling2D
from aekeras.layers.position import sincos_position_embedding
from aekeras.layers.sampling import Sampling
from aekeras.layers.sparsity import KLSparsity
from aekeras.layers.tied import DenseTranspose
from aekeras.layers.transformer import TransformerBlock

__all__ = [
    "DenseTranspose",
    "KLSparsity",
    "MaskingNoise",
    "MaxPoolingWithArgmax2D",
    "MaxUnpooling2D",
    "Patchify",
    "RandomPatchMasking",
    "Sampling",
    "TransformerBlock",
    "Unpatchify",
    "sincos_position_embedding",
]
