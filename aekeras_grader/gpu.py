"""GPUs for grading workers: which device each worker slot gets, how much of its memory, and
how a submission that runs out of it is told apart.

Worker slot ``k`` of ``make grade JOBS=N`` gets the visible GPUs round-robin, GPU ``k mod G``
(visible: ``$CUDA_VISIBLE_DEVICES`` when set, else every GPU ``nvidia-smi`` lists; none: the
CPU, and nothing is set). Its kernel allocates on demand instead of taking the device:

* TensorFlow: ``TF_FORCE_GPU_ALLOW_GROWTH=true`` (TensorFlow's own switch for memory growth);
* JAX: ``XLA_PYTHON_CLIENT_PREALLOCATE=false`` (JAX preallocates 75 % otherwise);
* PyTorch allocates on demand already (its caching allocator).

With a cap (``GRADE_GPU_MEMORY``, e.g. ``8G``), each backend gets the limit it honours:
JAX the fraction ``XLA_PYTHON_CLIENT_MEM_FRACTION = cap / device memory`` (and its newer
name ``XLA_CLIENT_MEM_FRACTION``; with preallocation off it is the BFC allocator's limit),
TensorFlow a logical device with ``memory_limit`` and PyTorch
``torch.cuda.set_per_process_memory_fraction``. The last two are calls, not variables: the
kernel makes them at start-up, before any cell runs (:func:`apply_memory_cap`, given the cap
in bytes as ``$AEKERAS_GRADING_GPU_MEMORY``), so no student cell can skip them.
``PYTORCH_CUDA_ALLOC_CONF`` has no memory limit among its options; it reaches the kernel as
the instructor set it. The judge runs on the same device, without a cap.

The cap is cooperative: it stops a submission that asks for too much by mistake (a batch too
large), and a process on a GPU could still allocate past it through the driver itself.

Reference: JAX, "GPU memory allocation"; TensorFlow, "Use a GPU: limiting GPU memory growth";
PyTorch, ``torch.cuda.set_per_process_memory_fraction``.
"""

import dataclasses
import glob
import math
import os
import re
import shutil
import subprocess
import sys

VISIBLE_ENV = "CUDA_VISIBLE_DEVICES"
CAP_ENV = "AEKERAS_GRADING_GPU_MEMORY"  # bytes per worker's kernel, read by apply_memory_cap
NO_DEVICE = ("", "-1", "none", "NoDevFiles", "void")
# What TensorFlow (ResourceExhaustedError: OOM when allocating ...), JAX (XlaRuntimeError:
# RESOURCE_EXHAUSTED: Out of memory ...) and PyTorch (OutOfMemoryError: CUDA out of memory)
# say when a device allocation fails; CUDA itself says CUDA_ERROR_OUT_OF_MEMORY.
OUT_OF_MEMORY = re.compile(
    r"RESOURCE_EXHAUSTED|ResourceExhaustedError|OutOfMemoryError|OOM when allocating"
    r"|out of memory|CUDA_ERROR_OUT_OF_MEMORY|cudaErrorMemoryAllocation",
    re.I,
)


@dataclasses.dataclass(frozen=True)
class Gpu:
    """One device as ``CUDA_VISIBLE_DEVICES`` names it (an index or a UUID), and its memory
    in bytes when ``nvidia-smi`` says."""

    id: str
    memory: int | None = None


def _query_smi():
    """``nvidia-smi``'s ``index, uuid, memory.total`` (MiB) rows, or ``None`` without one."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        out = subprocess.run(
            [smi, "--query-gpu=index,uuid,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def _smi_rows(text):
    rows = []
    for line in (text or "").splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3 and parts[0].isdigit():
            memory = int(parts[2]) * 1024**2 if parts[2].isdigit() else None
            rows.append((parts[0], parts[1], memory))
    return rows


def visible_gpus(env=None, smi=_query_smi):
    """The GPUs grading may use: ``$CUDA_VISIBLE_DEVICES`` when set, else ``nvidia-smi``'s.

    ``smi`` returns ``nvidia-smi --query-gpu=index,uuid,memory.total`` rows (or ``None``);
    tests pass a fake. Memory is matched by index or UUID; it stays ``None`` where no row
    matches (a MIG instance, no ``nvidia-smi``).
    """
    env = os.environ if env is None else env
    rows = _smi_rows(smi())
    memory = {key: mem for index, uuid, mem in rows for key in (index, uuid)}
    if VISIBLE_ENV in env:
        value = env[VISIBLE_ENV].strip()
        if value in NO_DEVICE:
            return []
        ids = [part.strip() for part in value.split(",") if part.strip()]
        return [Gpu(i, memory.get(i)) for i in ids]
    return [Gpu(index, mem) for index, _, mem in rows]


def has_gpu(env):
    """Whether ``env`` assigns a GPU (``CUDA_VISIBLE_DEVICES`` names one)."""
    return env.get(VISIBLE_ENV, "").strip() not in NO_DEVICE


def worker_environments(jobs, gpus, gpu_memory=None, from_smi=False):
    """The variables each of ``jobs`` worker slots adds to its kernel's environment.

    Slot ``k`` gets ``gpus[k % len(gpus)]``; without GPUs every slot gets ``{}``.
    ``gpu_memory`` (bytes or a size such as ``"8G"``) caps each worker; ``from_smi``: the
    ids are ``nvidia-smi`` indices, which CUDA numbers the same way only in PCI bus order.
    """
    from .sandbox import parse_size

    cap = None if gpu_memory in (None, "") else parse_size(gpu_memory)
    envs = []
    for k in range(max(1, int(jobs))):
        if not gpus:
            envs.append({})
            continue
        gpu = gpus[k % len(gpus)]
        env = {
            VISIBLE_ENV: gpu.id,
            "TF_FORCE_GPU_ALLOW_GROWTH": "true",
            "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
        }
        if from_smi:
            env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
        if cap is not None:
            env[CAP_ENV] = str(cap)
            if gpu.memory:
                # rounded down, so the fraction never allows more than the cap
                fraction = f"{math.floor(min(1.0, cap / gpu.memory) * 1000) / 1000:.3f}"
                env["XLA_PYTHON_CLIENT_MEM_FRACTION"] = fraction
                env["XLA_CLIENT_MEM_FRACTION"] = fraction
        envs.append(env)
    return envs


def oversubscribed(envs, gpus):
    """``[(gpu id, caps in bytes, device bytes)]`` for GPUs whose workers' caps add up to
    more than the device has."""
    total = {}
    for env in envs:
        if CAP_ENV in env:
            total[env[VISIBLE_ENV]] = total.get(env[VISIBLE_ENV], 0) + int(env[CAP_ENV])
    return [
        (gpu.id, total[gpu.id], gpu.memory)
        for gpu in gpus
        if gpu.memory and total.get(gpu.id, 0) > gpu.memory
    ]


def describe(envs):
    """One line for the log: which worker uses which device, and the cap."""
    if not envs or not any(envs):
        return "GPUs: none visible, the kernels run on the CPU"
    slots = ", ".join(f"worker {k} -> GPU {env[VISIBLE_ENV]}" for k, env in enumerate(envs))
    cap = envs[0].get(CAP_ENV)
    cap = f"; at most {int(cap) / 1024**3:g} GiB each (GRADE_GPU_MEMORY)" if cap else ""
    return f"GPUs: {slots}; memory on demand{cap}"


def device_nodes(dev="/dev"):
    """``[(host path, path in the sandbox)]`` of the NVIDIA device nodes and ``dri``.

    ``/dev/nvidia0``..., ``nvidiactl``, ``nvidia-uvm``, ``nvidia-uvm-tools``,
    ``nvidia-modeset``, ``nvidia-caps/`` (MIG) and ``dri/`` where they exist; ``dev`` is the
    folder to look in (tests pass a fake one).
    """
    found = sorted(glob.glob(os.path.join(dev, "nvidia*")))
    if os.path.isdir(os.path.join(dev, "dri")):
        found.append(os.path.join(dev, "dri"))
    return [(path, os.path.join("/dev", os.path.relpath(path, dev))) for path in found]


# Read-only host paths CUDA and the frameworks read beside the device nodes (the driver's
# libraries are under /usr, mounted already): the driver's /proc entries come with the
# sandbox's own /proc; the PCI attributes (NUMA node, bus id) live in /sys.
DRIVER_PATHS = ("/sys/bus/pci", "/sys/devices", "/sys/module/nvidia")


def out_of_memory(text):
    """Whether an error's text says a device (or XLA) allocation failed."""
    return bool(text) and OUT_OF_MEMORY.search(text) is not None


def limit_reason(error_text, env=None):
    """The reason recorded for a submission that ran out of (GPU) memory."""
    env = os.environ if env is None else env
    where = "GPU memory" if has_gpu(env) else "memory"
    cap = env.get(CAP_ENV)
    cap = f", {int(cap) / 1024**3:g} GiB per worker (GRADE_GPU_MEMORY)" if cap else ""
    first = " ".join(str(error_text).split())[:300]
    return f"{where} (the notebook ran out of it{cap}: {first})"


def apply_memory_cap(environ=None):
    """Caps this process's GPU memory at ``$AEKERAS_GRADING_GPU_MEMORY`` bytes.

    The grading kernel calls it at start-up, before any cell, for the backend Keras will
    load (``$KERAS_BACKEND``, TensorFlow when unset): TensorFlow gets a logical device with
    ``memory_limit`` (it must be set before TensorFlow touches the GPU), PyTorch
    ``set_per_process_memory_fraction(cap / device memory)``; JAX reads its fraction from
    the environment itself. Returns what it did, or ``None`` when there was nothing to do.
    """
    environ = os.environ if environ is None else environ
    cap = environ.get(CAP_ENV)
    if not cap or not has_gpu(environ):
        return None
    cap = int(cap)
    backend = environ.get("KERAS_BACKEND", "tensorflow")
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            devices = tf.config.list_physical_devices("GPU")
            for device in devices:
                tf.config.set_logical_device_configuration(
                    device, [tf.config.LogicalDeviceConfiguration(memory_limit=cap // 1024**2)]
                )
            return f"tensorflow: memory_limit {cap // 1024**2} MiB on {len(devices)} GPU(s)"
        if backend == "torch":
            import torch

            if not torch.cuda.is_available():
                return None
            for i in range(torch.cuda.device_count()):
                total = torch.cuda.get_device_properties(i).total_memory
                torch.cuda.set_per_process_memory_fraction(min(1.0, cap / total), i)
            return f"torch: per-process memory fraction for {cap // 1024**2} MiB"
    except Exception as err:  # noqa: BLE001 - a kernel without the cap still runs
        print(f"aekeras_grader: GPU memory cap not applied: {err}", file=sys.__stderr__)
        return None
    return None
