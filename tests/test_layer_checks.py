"""Every layer that `aekeras.layers` exports goes through `run_layer_test`, in float32 and in
mixed_float16 (float16 outputs, finite, close to float32). The registry test keeps this list
complete: a new exported layer fails it until it has a case here.
"""

import inspect

import keras
import numpy as np
import pytest

from aekeras import layers
from tests.layer_checks import run_layer_test


def _dense_transpose():
    dense = keras.layers.Dense(3, activation="sigmoid")
    dense.build((None, 6))
    case = dict(
        init_kwargs={"tied_to": dense, "activation": "sigmoid"},
        input_shape=(4, 6),
        upstream=dense,
        expected_output_shape=(4, 6),
        expected_num_trainable_weights=2,  # the shared kernel and its own bias
    )

    def check(layer):
        assert layer.kernel is dense.kernel and layer.tied_to is dense

    return case, check


def _max_unpooling():
    x = np.random.default_rng(0).random((2, 4, 6, 3)).astype("float32")
    pooled, switches = (keras.ops.convert_to_numpy(t) for t in layers.MaxPoolingWithArgmax2D(2)(x))
    case = dict(
        init_kwargs={"pool_size": 2},
        input_shape=[(2, 2, 3, 3), (2, 4, 6, 3)],
        input_data=[pooled, switches],
        expected_output_shape=(2, 4, 6, 3),
        expected_num_trainable_weights=0,
    )
    return case, None


def _case(**kwargs):
    return lambda: (kwargs, None)


CASES = {
    layers.DenseTranspose: _dense_transpose,
    layers.KLSparsity: _case(
        init_kwargs={"rho": 0.1, "beta": 3.0, "momentum": 0.9},
        input_shape=(8, 5),
        expected_output_shape=(8, 5),
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=1,  # the running average of the mean activation
        expected_num_losses=1,
    ),
    layers.MaskingNoise: _case(
        init_kwargs={"rate": 0.5, "seed": 1},
        input_shape=(4, 10),
        expected_output_shape=(4, 10),
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=0,
        training_changes_output=True,
    ),
    layers.MaxPoolingWithArgmax2D: _case(
        init_kwargs={"pool_size": 2},
        input_shape=(2, 4, 6, 3),
        expected_output_shape=[(2, 2, 3, 3), (2, 4, 6, 3)],
        expected_num_trainable_weights=0,
    ),
    layers.MaxUnpooling2D: _max_unpooling,
    layers.Patchify: _case(
        init_kwargs={"patch_size": 4},
        input_shape=(2, 8, 8, 1),
        expected_output_shape=(2, 4, 16),
        expected_num_trainable_weights=0,
    ),
    layers.RandomPatchMasking: _case(
        init_kwargs={"mask_ratio": 0.75, "seed": 0},
        input_shape=(2, 16, 4),
        expected_output_shape=[(2, 4, 4), (2, 16), (2, 16)],
        expected_num_trainable_weights=0,
        deterministic=False,  # a new mask at every call
        run_fit=False,  # outputs only indices and a mask: nothing to fit
    ),
    layers.Sampling: _case(
        init_kwargs={"seed": 1},
        input_shape=[(4, 2), (4, 2)],
        expected_output_shape=(4, 2),
        expected_num_trainable_weights=0,
        deterministic=False,
    ),
    layers.TransformerBlock: _case(
        init_kwargs={"dim": 8, "num_heads": 2, "mlp_ratio": 2.0},
        input_shape=(2, 5, 8),
        expected_output_shape=(2, 5, 8),
        # two LayerNorms (2 each), attention (query, key, value, output: 8), MLP (4)
        expected_num_trainable_weights=16,
    ),
    layers.Unpatchify: _case(
        init_kwargs={"patch_size": 4, "image_shape": (8, 8, 1)},
        input_shape=(2, 4, 16),
        expected_output_shape=(2, 8, 8, 1),
        expected_num_trainable_weights=0,
    ),
}

EXPORTED_LAYERS = [
    obj
    for obj in (getattr(layers, name) for name in layers.__all__)
    if inspect.isclass(obj) and issubclass(obj, keras.layers.Layer)
]


def _jax_on_cpu():
    if keras.backend.backend() != "jax":
        return False
    import jax

    return jax.default_backend() == "cpu"


@pytest.mark.parametrize("dtype", ["float32", "mixed_float16"])
@pytest.mark.parametrize("layer_cls", list(CASES), ids=lambda cls: cls.__name__)
def test_layer_checks(layer_cls, dtype):
    case, check = CASES[layer_cls]()
    if layer_cls is layers.TransformerBlock and dtype == "mixed_float16" and _jax_on_cpu():
        # Keras's own MultiHeadAttention cannot be trained in float16 by JAX on a CPU:
        # "The precision 'F16_F16_F32' is not supported by dot_general on CPU" (its einsum
        # gradient). The forward checks still run; the fit step runs on GPU.
        case["run_fit"] = False
    layer = run_layer_test(layer_cls, dtype=dtype, **case)
    if check is not None:
        check(layer)


def test_every_exported_layer_is_registered_documented_and_checked():
    names = sorted(cls.__name__ for cls in EXPORTED_LAYERS)
    assert names == sorted(cls.__name__ for cls in CASES), "add a case for each exported layer"
    for cls in EXPORTED_LAYERS:
        assert keras.saving.get_registered_name(cls) == f"aekeras>{cls.__name__}"
        assert cls.__doc__ and "Formula:" in cls.__doc__ and "Example:" in cls.__doc__, cls
