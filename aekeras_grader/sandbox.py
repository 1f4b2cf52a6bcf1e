"""An OS sandbox for a student's kernel: bubblewrap (``bwrap``) plus resource limits.

Inside, the kernel sees:

* read-only: the system (``/usr``, ``/lib*``, a few files of ``/etc``), the Python
  environment (``sys.prefix`` and ``sys.base_prefix``), the ``aekeras`` and
  ``aekeras_grader`` packages (not the folder that holds them) and the dataset cache;
* writable: a private copy of its one submission (its working folder), the folder of its
  kernel's sockets, and a private, empty ``/tmp``;
* nothing else: not the course (``solutions/``, ``source``, ``gradebook.db``, the exchange,
  other students), not ``$HOME``, not the rest of ``/tmp``;
* no network (its own network namespace: only a loopback of its own), its own PID, IPC and
  UTS namespaces (it cannot see or signal the grader), a new session, user ``nobody``
  (65534) in a user namespace with no capabilities;
* limits: memory (``GRADE_MEMORY``) and processes through cgroups where this user may create
  them (root), else ``RLIMIT_DATA`` and ``RLIMIT_NPROC``; file size (``RLIMIT_FSIZE``) and
  open files always;
* a GPU only when the worker was given one (``CUDA_VISIBLE_DEVICES``, see
  :mod:`aekeras_grader.gpu`): then the NVIDIA device nodes (``/dev/nvidia*``, ``/dev/dri``)
  are bound in, and read-only the PCI attributes in ``/sys`` that CUDA reads; the driver's
  ``/proc/driver/nvidia`` comes with the sandbox's own ``/proc`` and its libraries with
  ``/usr``. Which of the machine's GPUs a kernel uses is ``CUDA_VISIBLE_DEVICES``'s choice.

The kernel talks to the grader over Unix sockets (ZeroMQ ``ipc``) in the shared socket
folder, which is how it is reached without a network.

bubblewrap is Debian's ``bubblewrap`` package (``apt-get install bubblewrap``), the one
Flatpak uses. A sandbox binary should come from the distribution that patches it, not from
a wheel, so the grader does not install one.
"""

import contextlib
import dataclasses
import functools
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import uuid

DEFAULT_MEMORY = "4G"
DEFAULT_PROCESSES = 256
DEFAULT_FILE_SIZE = "1G"
SANDBOX_UID = 65534  # nobody
CGROUP_ROOT = "/sys/fs/cgroup"
# /etc files a Python kernel reads; /etc itself holds secrets (shadow) and is not mounted.
ETC_FILES = (
    "alternatives",
    "fonts",
    "group",
    "host.conf",
    "hosts",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "nsswitch.conf",
    "passwd",
)
PACKAGES = ("aekeras", "aekeras_grader")
PACKAGE_ROOT = "/opt/aekeras-packages"  # where the sandbox sees them (PYTHONPATH)
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


class SandboxUnavailable(RuntimeError):
    """No sandbox can be made on this machine; the message says why and what to do."""


def parse_size(text):
    """Bytes in ``"3G"``, ``"512M"``, ``"2048K"`` or ``"1000000"`` (powers of 1024)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*", str(text), re.I)
    if not match:
        raise ValueError(f"not a size: {text!r} (use e.g. 3G, 512M or a number of bytes)")
    power = " KMGT".index(match[2].upper() or " ")
    return int(float(match[1]) * 1024**power)


@dataclasses.dataclass
class Limits:
    """What one submission's kernel may use."""

    memory: int = parse_size(DEFAULT_MEMORY)
    processes: int = DEFAULT_PROCESSES
    file_size: int = parse_size(DEFAULT_FILE_SIZE)
    open_files: int = 1024

    def describe(self):
        return (
            f"memory {self.memory / 1024**3:g} GiB, {self.processes} processes, "
            f"files up to {self.file_size / 1024**3:g} GiB"
        )


def find_bwrap():
    """The ``bwrap`` program: ``$AEKERAS_BWRAP`` or the one on ``PATH``; ``None`` if absent."""
    return os.environ.get("AEKERAS_BWRAP") or shutil.which("bwrap")


@functools.lru_cache(maxsize=1)
def check():
    """Raises :class:`SandboxUnavailable` unless a sandbox can be made here; returns ``bwrap``."""
    if not sys.platform.startswith("linux"):
        raise SandboxUnavailable(
            f"grading sandboxes need Linux (bubblewrap and namespaces); this is {sys.platform}. "
            "Grade on a Linux machine (see README: grading on another machine), or pass "
            "--unsafe-no-sandbox to run students' code with your own rights."
        )
    bwrap = find_bwrap()
    if bwrap is None:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed. Install it (Debian/Ubuntu: "
            "`sudo apt-get install bubblewrap`; Fedora: `sudo dnf install bubblewrap`) or "
            "set AEKERAS_BWRAP to its path; or pass --unsafe-no-sandbox to run students' "
            "code with your own rights."
        )
    probe = subprocess.run(
        [bwrap, *_namespace_args(), "--ro-bind", "/", "/", "--", "true"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if probe.returncode != 0:
        raise SandboxUnavailable(
            f"bubblewrap cannot create namespaces here: {probe.stderr.strip()}. Unprivileged "
            "user namespaces are probably disabled (sysctl kernel.unprivileged_userns_clone=1 "
            "or user.max_user_namespaces > 0; in a container, allow them or grade outside it); "
            "or pass --unsafe-no-sandbox to run students' code with your own rights."
        )
    return bwrap


def _namespace_args():
    return [
        "--unshare-user",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--uid",
        str(SANDBOX_UID),
        "--gid",
        str(SANDBOX_UID),
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
    ]


def _package_dirs(*names):
    dirs = []
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec and spec.submodule_search_locations:
            dirs += list(spec.submodule_search_locations)
    return dirs


def readonly_paths(data_dirs=()):
    """Host paths the kernel may read: system, Python environment, packages, datasets."""
    paths = [p for p in SYSTEM_DIRS if os.path.exists(p)]
    paths += [os.path.join("/etc", name) for name in ETC_FILES]
    paths += [sys.prefix, sys.base_prefix, os.path.realpath(sys.prefix)]
    paths += list(data_dirs)
    seen, out = set(), []
    for path in paths:
        path = os.path.abspath(path)
        if path not in seen and os.path.exists(path):
            seen.add(path)
            out.append(path)
    return out


def dataset_dirs():
    """The Keras dataset cache (``$KERAS_HOME/datasets``), read-only in the sandbox."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return [os.path.join(home, "datasets")]


class Sandbox:
    """Wraps a command so that it runs in a fresh sandbox with ``workdir`` as its only files.

    ``workdir`` (the private copy of one submission) and ``io_dir`` (the kernel's sockets)
    are writable and mounted at their own paths, so the connection file holds for both sides.
    """

    def __init__(self, workdir, io_dir, limits=None, data_dirs=None, bwrap=None, devices=()):
        self.workdir = os.path.abspath(workdir)
        # [(host path, path inside)] of GPU device nodes (gpu.device_nodes()); none: no GPU
        self.devices = list(devices)
        self.io_dir = os.path.abspath(io_dir)
        self.limits = limits or Limits()
        self.data_dirs = dataset_dirs() if data_dirs is None else list(data_dirs)
        self.bwrap = bwrap or check()
        self.cgroups = []

    def environment(self, env):
        """The kernel's environment: no host secrets, HOME and caches in its private /tmp."""
        keep = ("PATH", "LANG", "LC_ALL", "KERAS_BACKEND", "AEKERAS_PROFILE", "PYTHONHASHSEED")
        out = {k: v for k, v in env.items() if k in keep or k.endswith("_NUM_THREADS")}
        out.update(
            {
                k: v
                for k, v in env.items()
                if k.startswith(
                    ("TF_", "XLA_", "JAX_", "CUDA_", "PYTORCH_", "AEKERAS_GRADING", "NBGRADER_")
                )
            }
        )
        if self.devices and "LD_LIBRARY_PATH" in env:  # where some GPU images keep libcuda
            out["LD_LIBRARY_PATH"] = env["LD_LIBRARY_PATH"]
        out.update(
            HOME="/tmp/home",
            TMPDIR="/tmp",
            MPLCONFIGDIR="/tmp/matplotlib",
            AEKERAS_CACHE_DIR="/tmp/aekeras-cache",
            AEKERAS_RESULTS_DIR="/tmp/aekeras-results",
            AEKERAS_NO_DOWNLOAD="1",
            PYTHONDONTWRITEBYTECODE="1",
            MPLBACKEND="Agg",
        )
        home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
        out["KERAS_HOME"] = home
        out["PYTHONPATH"] = PACKAGE_ROOT
        return out

    def bwrap_args(self):
        # the grader's PID means nothing inside: ipykernel would take it for a dead parent
        args = [self.bwrap, *_namespace_args(), "--unsetenv", "JPY_PARENT_PID"]
        # the private /tmp first: a checkout, environment or cache under /tmp is mounted on it
        args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        if self.devices:
            from .gpu import DRIVER_PATHS

            for host, inside in self.devices:
                args += ["--dev-bind", host, inside]
            for path in DRIVER_PATHS:
                args += ["--ro-bind-try", path, path]
        for path in readonly_paths(self.data_dirs):
            args += ["--ro-bind", path, path]
        # the packages the kernel imports, wherever this grader found them (an editable
        # checkout, a worktree on PYTHONPATH), without the folder around them
        for name in PACKAGES:
            for path in _package_dirs(name):
                args += ["--ro-bind", path, os.path.join(PACKAGE_ROOT, name)]
        args += ["--dir", "/tmp/home", "--bind", self.io_dir, self.io_dir]
        args += ["--bind", self.workdir, self.workdir, "--chdir", self.workdir]
        return args

    def _make_cgroups(self):
        """Memory and process cgroups (v2 or v1) when this user may create them, else []."""
        name = f"aekeras-grading/{uuid.uuid4().hex[:12]}"
        made = []
        unified = os.path.join(CGROUP_ROOT, "cgroup.controllers")
        try:
            if os.path.exists(unified):
                path = os.path.join(CGROUP_ROOT, name)
                os.makedirs(path)
                made.append(path)
                _write(os.path.join(path, "memory.max"), self.limits.memory)
                _write(os.path.join(path, "memory.swap.max"), 0, missing_ok=True)
                _write(os.path.join(path, "pids.max"), self.limits.processes)
            else:
                for controller, files in (
                    ("memory", {"memory.limit_in_bytes": self.limits.memory}),
                    ("pids", {"pids.max": self.limits.processes}),
                ):
                    path = os.path.join(CGROUP_ROOT, controller, name)
                    os.makedirs(path)
                    made.append(path)
                    for file, value in files.items():
                        _write(os.path.join(path, file), value)
                    if controller == "memory":
                        _write(
                            os.path.join(path, "memory.memsw.limit_in_bytes"),
                            self.limits.memory,
                            missing_ok=True,
                        )
        except OSError:
            for path in reversed(made):
                with contextlib.suppress(OSError):
                    os.rmdir(path)
            return []
        return made

    def wrap(self, cmd):
        """``cmd`` (a list) run inside the sandbox, under the limits."""
        self.cgroups = self._make_cgroups()
        limits = [
            "prlimit",
            f"--fsize={self.limits.file_size}",
            f"--nofile={self.limits.open_files}",
            "--core=0",
        ]
        if not self.cgroups:
            limits += [f"--data={self.limits.memory}", f"--nproc={self.limits.processes}"]
        inner = [*limits, "--", *self.bwrap_args(), "--", *cmd]
        if not self.cgroups:
            return inner
        procs = " ".join(f"{p}/cgroup.procs" for p in self.cgroups)
        script = f'for f in {procs}; do echo $$ > "$f" || exit 97; done; exec "$@"'
        return ["/bin/sh", "-c", script, "aekeras-sandbox", *inner]

    def memory_exceeded(self):
        """Whether the memory cgroup hit its limit (v2: oom events; v1: failcnt)."""
        for path in self.cgroups:
            for file, key in (
                ("memory.events", "oom_kill"),
                ("memory.oom_control", "oom_kill"),
                ("memory.failcnt", None),
            ):
                with contextlib.suppress(OSError, ValueError):
                    with open(os.path.join(path, file)) as f:
                        text = f.read()
                    if key is None and int(text) > 0:
                        return True
                    if key and re.search(rf"^{key} [1-9]", text, re.M):
                        return True
        return False

    def processes_exceeded(self):
        for path in self.cgroups:
            with contextlib.suppress(OSError, ValueError):
                with open(os.path.join(path, "pids.events")) as f:
                    if re.search(r"^max [1-9]", f.read(), re.M):
                        return True
        return False

    def cleanup(self):
        """Kills what is left in the cgroups and removes them."""
        for path in self.cgroups:
            procs = os.path.join(path, "cgroup.procs")
            for _ in range(50):
                with contextlib.suppress(OSError):
                    with open(procs) as f:
                        pids = [int(p) for p in f.read().split()]
                    if not pids:
                        break
                    for pid in pids:
                        with contextlib.suppress(OSError):
                            os.kill(pid, 9)
            with contextlib.suppress(OSError):
                os.rmdir(path)
        self.cgroups = []


def _write(path, value, missing_ok=False):
    try:
        with open(path, "w") as f:
            f.write(str(value))
    except FileNotFoundError:
        if not missing_ok:
            raise
