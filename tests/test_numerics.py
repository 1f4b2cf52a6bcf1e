"""pin_numerics sets, for the active backend, every flag that varies with the device.

Each backend is checked in its own interpreter (the settings are process-wide, and
TensorFlow's op determinism would make unseeded random ops of later tests raise); backends
that are not installed are skipped.
"""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from tests import ROOT

# Runs in a fresh interpreter: the flags before and after pin_numerics, and which
# deep-learning backends got imported.
PROBE = r"""
import json, os, sys
import keras
from aekeras.numerics import pin_numerics

backend = keras.backend.backend()


def flags():
    if backend == "tensorflow":
        import tensorflow as tf
        from tensorflow.python.framework import config

        return {
            "tf32": tf.config.experimental.tensor_float_32_execution_enabled(),
            "deterministic": config.is_op_determinism_enabled(),
        }
    if backend == "torch":
        import torch

        return {
            "matmul_tf32": torch.backends.cuda.matmul.allow_tf32,
            "cudnn_tf32": torch.backends.cudnn.allow_tf32,
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "deterministic": torch.are_deterministic_algorithms_enabled(),
            "warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
        }
    import jax

    return {"matmul_precision": jax.config.jax_default_matmul_precision}


before = flags()
pin_numerics()
after = flags()
loaded = sorted({"tensorflow", "torch", "jax"} & set(sys.modules))
print(json.dumps({
    "backend": backend, "before": before, "after": after, "loaded": loaded,
    "cublas": os.environ.get("CUBLAS_WORKSPACE_CONFIG"), "xla": os.environ.get("XLA_FLAGS", ""),
}))
"""

EXPECTED = {
    "tensorflow": {"tf32": False, "deterministic": True},
    "torch": {
        "matmul_tf32": False,
        "cudnn_tf32": False,
        "cudnn_benchmark": False,
        "deterministic": True,
        "warn_only": True,
    },
    "jax": {"matmul_precision": "highest"},
}


@pytest.mark.parametrize("backend", sorted(EXPECTED))
def test_pin_numerics_sets_the_flags_of_the_active_backend(backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    env = {k: v for k, v in os.environ.items() if k not in ("CUBLAS_WORKSPACE_CONFIG", "XLA_FLAGS")}
    env.update(KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["backend"] == backend
    # the default is what pin_numerics must change (or, for cuDNN's TF32, what it must keep off)
    assert report["after"] == EXPECTED[backend], report
    if backend == "tensorflow":
        assert report["before"]["tf32"] is True and report["before"]["deterministic"] is False
    if backend == "torch":
        assert report["before"]["cudnn_tf32"] is True and not report["before"]["deterministic"]
    if backend == "jax":
        assert report["before"]["matmul_precision"] != "highest"
        assert "--xla_gpu_deterministic_ops=true" in report["xla"].split()
    assert report["cublas"] == ":4096:8"
    # only the active backend is imported (Keras may import TensorFlow for tf.data: allowed
    # only where TensorFlow is installed, never as a requirement)
    assert backend in report["loaded"]
    if importlib.util.find_spec("tensorflow") is None:
        assert "tensorflow" not in report["loaded"]


def test_pin_numerics_prints_nothing_and_keeps_existing_settings(monkeypatch):
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    code = (
        "import os, keras; from aekeras.numerics import pin_numerics; "
        "assert pin_numerics() is None; print(os.environ['CUBLAS_WORKSPACE_CONFIG'])"
    )
    # the backend under test (Keras's "numpy" backend would need JAX installed for its FFTs)
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=ROOT)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout == ":16:8\n"  # the user's own workspace setting wins; nothing else printed
