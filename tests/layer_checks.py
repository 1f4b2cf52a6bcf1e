"""`run_layer_test`: the standard checks every aekeras layer passes, on the public Keras API.

Modelled on Keras's own `testing.TestCase.run_layer_test` (which lives in `keras.src`
and is not public): build, symbolic and eager call, output shape against
`compute_output_shape`, `get_config`/`from_config`, a `.keras` round trip inside a
small model with identical outputs, training vs inference, and one `fit` step. With
`dtype="mixed_float16"` the same checks run under that policy, and the layer's outputs are
compared with those of a float32 twin holding the same weights.
"""

import os
import tempfile
import warnings

import keras
import numpy as np


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _shapes(structure):
    """Shapes of a tensor or of a tuple/list of tensors, as tuples."""
    if isinstance(structure, (list, tuple)):
        return [tuple(t.shape) for t in structure]
    return tuple(structure.shape)


def _plain(config):
    """The config as JSON would store it (tuples become lists), for comparisons."""
    if isinstance(config, dict):
        return {key: _plain(value) for key, value in config.items()}
    if isinstance(config, (list, tuple)):
        return [_plain(value) for value in config]
    return config


def _without_batch(shape):
    if isinstance(shape, list):
        return [tuple(s)[1:] for s in shape]
    return tuple(shape)[1:]


def _check_against_float32(layer, twin, inputs, outputs, deterministic, tolerance):
    """Mixed precision: float32 variables, outputs in the compute dtype, finite, close to float32."""
    compute_dtype = layer.compute_dtype
    assert all(keras.backend.standardize_dtype(w.dtype) == "float32" for w in layer.weights)
    twin(inputs, training=False)  # builds the twin
    twin.set_weights(layer.get_weights())
    reference = _as_list(twin(inputs, training=False))
    for got, want in zip(_as_list(outputs), reference):
        want_dtype = keras.backend.standardize_dtype(want.dtype)
        got_dtype = keras.backend.standardize_dtype(got.dtype)
        if "float" in want_dtype:
            assert got_dtype == compute_dtype, f"output dtype {got_dtype}, not {compute_dtype}"
            got_np = keras.ops.convert_to_numpy(got).astype("float32")
            assert np.all(np.isfinite(got_np)), "non-finite output under " + layer.dtype_policy.name
            if deterministic:
                want_np = keras.ops.convert_to_numpy(want)
                np.testing.assert_allclose(got_np, want_np, rtol=tolerance, atol=tolerance)
        else:
            assert got_dtype == want_dtype, f"output dtype {got_dtype}, not {want_dtype}"
    for got, want in zip(layer.losses, twin.losses):
        got_np = float(keras.ops.convert_to_numpy(got))
        assert np.isfinite(got_np), "non-finite loss under " + layer.dtype_policy.name
        np.testing.assert_allclose(got_np, float(keras.ops.convert_to_numpy(want)), rtol=tolerance)


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_shape,
    *,
    input_data=None,
    upstream=None,
    expected_output_shape=None,
    expected_num_trainable_weights=None,
    expected_num_non_trainable_weights=None,
    expected_num_losses=0,
    training_changes_output=False,
    deterministic=True,
    run_fit=True,
    seed=0,
    dtype=None,
    tolerance=2e-2,
):
    """Runs the standard layer checks and returns the layer built in the small model.

    Args:
        layer_cls: The layer class.
        init_kwargs: Dict of constructor arguments.
        input_shape: Shape with batch size (a tuple) or a list of such shapes for a
            layer called on a list of tensors; the shape of the model's inputs.
        input_data: Optional array (or list of arrays) of `input_shape`; uniform
            values in [0, 1) by default.
        upstream: Optional callable applied to the model's inputs before the layer
            (for instance an encoder `Dense` layer that the layer is tied to), so
            that it is saved in the same model.
        expected_output_shape: Shape (or list of shapes) of the eager output.
        expected_num_trainable_weights: Number of the layer's trainable weights.
        expected_num_non_trainable_weights: Number of its non-trainable weights.
        expected_num_losses: Number of losses an eager call adds (`layer.losses`).
        training_changes_output: Whether `training=True` changes the output.
        deterministic: Whether two inference calls give the same output; random
            layers skip the output comparisons of the round trips.
        run_fit: Whether to run one `fit` step of the small model.
        seed: Seed of the default input data.
        dtype: Optional dtype policy name passed to the layer, e.g. `"mixed_float16"`.
            Under a policy that computes in another dtype than float32, the variables
            must stay float32, floating outputs must have the compute dtype, outputs and
            losses must be finite, and a deterministic layer's outputs must agree with a
            float32 twin's (same weights) within `tolerance` (absolute and relative).
        tolerance: See `dtype`.
    """
    float32_kwargs = dict(init_kwargs)
    if dtype is not None:
        init_kwargs = {**init_kwargs, "dtype": dtype}
    shapes = input_shape if isinstance(input_shape, list) else [input_shape]
    if input_data is None:
        rng = np.random.default_rng(seed)
        input_data = [rng.random(s).astype("float32") for s in shapes]
        input_data = input_data if isinstance(input_shape, list) else input_data[0]
    apply_upstream = upstream or (lambda x: x)

    # Construction, config and from_config before any build.
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    for key in init_kwargs:
        assert key in config, f"get_config() lacks the constructor argument {key!r}"
    revived = layer_cls.from_config(config)
    assert _plain(revived.get_config()) == _plain(config), "from_config changed the config"
    serialized = keras.saving.serialize_keras_object(layer)
    assert type(keras.saving.deserialize_keras_object(serialized)) is layer_cls

    # Symbolic call inside a small model: output shapes agree with compute_output_shape.
    inputs = [keras.Input(s[1:], batch_size=None) for s in shapes]
    inputs = inputs if isinstance(input_shape, list) else inputs[0]
    layer_inputs = apply_upstream(inputs)
    outputs = layer(layer_inputs)
    assert layer.built
    symbolic_shape = _shapes(outputs)
    computed = layer.compute_output_shape(_shapes(layer_inputs))
    computed = [tuple(s) for s in computed] if isinstance(outputs, (list, tuple)) else computed
    assert _without_batch(symbolic_shape) == _without_batch(computed), (symbolic_shape, computed)
    model = keras.Model(inputs, outputs)

    if expected_num_trainable_weights is not None:
        assert len(layer.trainable_weights) == expected_num_trainable_weights
    if expected_num_non_trainable_weights is not None:
        assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights

    # Eager call: shapes, losses, training vs inference.
    eager_inputs = apply_upstream(
        [keras.ops.convert_to_tensor(x) for x in _as_list(input_data)]
        if isinstance(input_data, list)
        else keras.ops.convert_to_tensor(input_data)
    )
    inference = layer(eager_inputs, training=False)
    eager_shape = _shapes(inference)
    assert _without_batch(eager_shape) == _without_batch(symbolic_shape)
    if expected_output_shape is not None:
        assert eager_shape == expected_output_shape, (eager_shape, expected_output_shape)
    assert len(layer.losses) == expected_num_losses, layer.losses
    if dtype is not None and keras.dtype_policies.get(dtype).compute_dtype != "float32":
        _check_against_float32(
            layer, layer_cls(**float32_kwargs), eager_inputs, inference, deterministic, tolerance
        )
    training = layer(eager_inputs, training=True)
    inference_np = [keras.ops.convert_to_numpy(t) for t in _as_list(inference)]
    training_np = [keras.ops.convert_to_numpy(t) for t in _as_list(training)]
    same = all(np.allclose(a, b) for a, b in zip(inference_np, training_np))
    if deterministic:
        assert same != training_changes_output, "training=True vs False: unexpected output"

    # .keras round trip inside the small model.
    expected = [keras.ops.convert_to_numpy(y) for y in _as_list(model(input_data))]
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        loaded = keras.models.load_model(path)
    assert type(loaded.get_layer(layer.name)) is layer_cls
    assert _plain(loaded.get_layer(layer.name).get_config()) == _plain(layer.get_config())
    for saved, restored in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(saved, restored)
    if deterministic:
        got = [keras.ops.convert_to_numpy(y) for y in _as_list(loaded(input_data))]
        for want, have in zip(expected, got):
            np.testing.assert_allclose(have, want, rtol=1e-6, atol=1e-6)

    # One fit step: the layer trains inside `fit` on this backend.
    if run_fit:
        model.compile(optimizer="sgd", loss="mse")
        targets = [np.zeros_like(y) for y in expected]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*does not have any trainable weights")
            history = model.fit(
                input_data, targets if len(targets) > 1 else targets[0], epochs=1, verbose=0
            )
        assert np.isfinite(history.history["loss"][0])
    return layer
