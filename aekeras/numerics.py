"""Numerics that do not change with the device: full float32 matmuls and deterministic ops.

On NVIDIA Ampere and later GPUs, TensorFlow (and PyTorch's cuDNN convolutions) run float32
matrix products and convolutions in TF32 by default: inputs rounded to a 10-bit mantissa, so
results differ from a CPU's by about 1e-3 relative -- enough for a correct submission to fail a
test at ``rtol=1e-5`` on a GPU and pass on a CPU. XLA (JAX) may do the same under its
``default`` matmul precision. GPU kernels may also sum in a different order from run to run
(atomics, cuBLAS workspaces). ``pin_numerics`` turns both off for the active Keras backend;
every graded assignment calls it in its locked setup cell, so a submission gets the same score
on every device.

Sources: NVIDIA, "TensorFloat-32 in the A100 GPU" (2020); TensorFlow
``tf.config.experimental.enable_tensor_float_32_execution`` and ``enable_op_determinism``;
PyTorch "Reproducibility" and "TensorFloat-32 (TF32) on Ampere (and later) devices" notes;
JAX ``jax_default_matmul_precision``.
"""

import os

# cuBLAS is deterministic only with a fixed workspace (PyTorch's reproducibility notes); read
# when cuBLAS starts, so this must be in the environment before the first matmul on a GPU.
CUBLAS_WORKSPACE_CONFIG = ":4096:8"
XLA_DETERMINISTIC_FLAG = "--xla_gpu_deterministic_ops=true"


def pin_numerics():
    """Turns off TF32 and turns on deterministic ops for the active Keras backend.

    Imports only the active backend (``keras.backend.backend()``):

    * TensorFlow: ``tf.config.experimental.enable_tensor_float_32_execution(False)`` and
      ``tf.config.experimental.enable_op_determinism()`` (random ops then need a seed:
      call it after ``keras.utils.set_random_seed``).
    * PyTorch: ``torch.backends.cuda.matmul.allow_tf32 = False``,
      ``torch.backends.cudnn.allow_tf32 = False``, ``torch.backends.cudnn.benchmark = False``,
      ``torch.use_deterministic_algorithms(True, warn_only=True)`` and
      ``CUBLAS_WORKSPACE_CONFIG=:4096:8``.
    * JAX: ``jax.config.update("jax_default_matmul_precision", "highest")``, and
      ``--xla_gpu_deterministic_ops=true`` added to ``XLA_FLAGS`` (read when JAX first
      starts its GPU backend).

    Formula: TF32 keeps 10 of float32's 23 mantissa bits, a relative rounding error of
    2**-11 ~ 5e-4 per input, about 1e-3 on a product (NVIDIA, "TensorFloat-32 in the A100
    GPU", 2020); with it off, GPU float32 agrees with CPU float32 to summation order.

    Returns:
        None. Prints nothing.

    Example (not a doctest: it changes process-wide settings)::

        keras.utils.set_random_seed(0)
        aekeras.numerics.pin_numerics()
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE_CONFIG)
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_tensor_float_32_execution(False)
        tf.config.experimental.enable_op_determinism()
    elif backend == "torch":
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)
    elif backend == "jax":
        import jax

        jax.config.update("jax_default_matmul_precision", "highest")
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_gpu_deterministic_ops" not in flags:
            os.environ["XLA_FLAGS"] = f"{flags} {XLA_DETERMINISTIC_FLAG}".strip()
