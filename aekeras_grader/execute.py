"""Executing a submission: its kernel in a sandbox, its test cells in the judge.

* :class:`SandboxedKernelManager` starts each kernel inside :mod:`aekeras_grader.sandbox`,
  with a private copy of the submission folder, reached over Unix sockets.
* :class:`JudgedExecute` (nbgrader's ``Execute`` with the bounded output stream) runs the
  notebook's cells in that kernel, except test cells: those run, visible and hidden lines
  alike, in :mod:`aekeras_grader.judge`, a clean process on the grader's side that also runs
  the locked setup itself. The judge's outputs become the test cell's outputs, so nbgrader's
  own scoring (an error fails the cell, a number is partial credit) reads the judge's verdict.
"""

import contextlib
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile

from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import DeadKernelError
from nbformat.notebooknode import NotebookNode, from_dict
from nbgrader import utils
from nbgrader.api import Gradebook
from traitlets import Bool, Unicode

from . import gpu, sandbox
from .preprocessors import BoundedExecute

MEMORY_ENV = "AEKERAS_GRADING_MEMORY"
UNSAFE_ENV = "AEKERAS_GRADING_UNSAFE"
MAX_COPY = 200 * 1024**2  # bytes of a submission folder copied into its sandbox
LIMIT_NEEDLE = "AekerasLimitExceeded"


class LimitExceeded(RuntimeError):
    """A submission broke a sandbox limit; the message names it (and scores 0)."""


def limits_from_env():
    return sandbox.Limits(
        memory=sandbox.parse_size(os.environ.get(MEMORY_ENV, sandbox.DEFAULT_MEMORY)),
        processes=int(os.environ.get("AEKERAS_GRADING_PROCESSES", sandbox.DEFAULT_PROCESSES)),
    )


def _copy_folder(src, dst):
    total = 0
    for root, dirs, files in os.walk(src):
        rel = os.path.relpath(root, src)
        os.makedirs(os.path.join(dst, rel), exist_ok=True)
        for name in files:
            path = os.path.join(root, name)
            if os.path.islink(path):
                continue
            total += os.path.getsize(path)
            if total > MAX_COPY:
                return
            shutil.copy2(path, os.path.join(dst, rel, name))
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels run in a fresh sandbox each (ZeroMQ over ``ipc``)."""

    unsafe = Bool(False, help="Run the kernel without a sandbox (not for students' code).")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.unsafe = self.unsafe or os.environ.get(UNSAFE_ENV) == "1"
        self.scratch = tempfile.mkdtemp(prefix="aekeras-sandbox-")
        os.chmod(self.scratch, 0o755)
        self.io_dir = os.path.join(self.scratch, "io")
        self.work_dir = os.path.join(self.scratch, "work")
        os.makedirs(self.io_dir)
        os.makedirs(self.work_dir)
        self.transport = "ipc"
        self.ip = os.path.join(self.io_dir, "kernel")
        self.connection_file = os.path.join(self.io_dir, "kernel.json")
        self.sandbox = None

    async def _async_pre_start_kernel(self, **kw):
        self.kernel_spec.interrupt_mode = "message"  # signals do not cross into the sandbox
        cwd = kw.get("cwd")
        if cwd and os.path.isdir(cwd):
            _copy_folder(cwd, self.work_dir)
        kernel_cmd, kw = await super()._async_pre_start_kernel(**kw)
        return kernel_cmd, kw

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        env = dict(kw.get("env") or os.environ)
        env["AEKERAS_BRIDGE_DIR"] = self.io_dir
        env.pop("JPY_PARENT_PID", None)
        if not self.unsafe:
            devices = gpu.device_nodes() if gpu.has_gpu(env) else ()
            self.sandbox = sandbox.Sandbox(
                self.work_dir, self.io_dir, limits_from_env(), devices=devices
            )
            kernel_cmd = self.sandbox.wrap(kernel_cmd)
            env = self.sandbox.environment(env)
            env["AEKERAS_BRIDGE_DIR"] = self.io_dir
        kw["env"] = env
        kw["cwd"] = self.work_dir
        await super()._async_launch_kernel(kernel_cmd, **kw)

    def limit_hit(self):
        """Which sandbox limit the kernel hit, as words, or ``None``."""
        if self.sandbox is None:
            return None
        if self.sandbox.memory_exceeded():
            return f"memory limit ({self.sandbox.limits.memory / 1024**3:g} GiB, GRADE_MEMORY)"
        if self.sandbox.processes_exceeded():
            return f"process limit ({self.sandbox.limits.processes} processes)"
        return None

    async def _async_cleanup_resources(self, restart=False):
        with contextlib.suppress(Exception):
            await super()._async_cleanup_resources(restart=restart)
        if self.sandbox is not None:
            self.sandbox.cleanup()
        shutil.rmtree(self.scratch, ignore_errors=True)


JUDGE_SOCKET_ENV = "AEKERAS_JUDGE_SOCKET"


class JudgeProcess:
    """The judge, spoken to in JSON lines: the grading worker's judge server when
    ``make grade`` started one (``$AEKERAS_JUDGE_SOCKET``), else a process of its own
    (``python -m aekeras_grader.judge``)."""

    def __init__(self, km):
        self.process = self.socket = None
        path = os.environ.get(JUDGE_SOCKET_ENV)
        if path:
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                connection.connect(path)
            except OSError:  # no server: this worker starts a judge of its own
                connection.close()
            else:
                self.socket = connection
                self.reader, self.writer = connection.makefile("r"), connection.makefile("w")
        if self.socket is None:
            env = {**os.environ, "NBGRADER_EXECUTION": "autograde"}
            self.process = subprocess.Popen(
                [sys.executable, "-m", "aekeras_grader.judge"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
                text=True,
                cwd=km.scratch,
            )
            self.reader, self.writer = self.process.stdout, self.process.stdin
        pid = km.provisioner.process.pid if km.provisioner and km.provisioner.has_process else None
        self.send(
            {"op": "start", "connection_file": km.connection_file, "io_dir": km.io_dir, "pid": pid}
        )
        self.receive()

    def send(self, request):
        self.writer.write(json.dumps(request) + "\n")
        self.writer.flush()

    def receive(self, timeout=None):
        """The judge's answer; ``timeout`` seconds at most (it bounds the student's calls
        itself, this is the grader's own safety net)."""
        if timeout is not None:
            ready, _, _ = select.select([self.reader], [], [], timeout)
            if not ready:
                self.kill()
                raise RuntimeError(f"the judge did not answer within {timeout:g} s")
        line = self.reader.readline()
        if not line:
            raise RuntimeError("the judge process ended unexpectedly")
        return json.loads(line)

    def kill(self):
        if self.process is not None:
            self.process.kill()
        if self.socket is not None:
            with contextlib.suppress(OSError):
                self.socket.close()

    def close(self):
        with contextlib.suppress(Exception):
            self.send({"op": "quit"})
        if self.socket is not None:
            with contextlib.suppress(OSError):
                self.reader.close()
                self.writer.close()
                self.socket.close()
            return
        with contextlib.suppress(Exception):
            self.process.wait(timeout=5)
        if self.process.poll() is None:
            self.process.kill()


class JudgedExecute(BoundedExecute):
    """nbgrader's ``Execute``: kernel in a sandbox, test cells judged outside it."""

    bridge_module = Unicode("aekeras_grader.bridge", help="Kernel side of the judge's calls.")

    def __init__(self, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(**kwargs)

    def preprocess(self, nb, resources, km=None):
        self._judge = None
        self._names, self._setup = self._plan(nb, resources)
        lines = [f"import {self.bridge_module} as __aekeras_bridge__"]
        if os.environ.get(gpu.CAP_ENV):  # the GPU memory cap, before any cell (gpu.py)
            lines.insert(0, "import aekeras_grader.gpu as _g; _g.apply_memory_cap(); del _g")
        line = f"--IPKernelApp.exec_lines={lines!r}"
        if line not in self.extra_arguments:
            self.extra_arguments = [*self.extra_arguments, line]
        try:
            return super().preprocess(nb, resources, km=km)
        finally:
            if self._judge is not None:
                self._judge.close()

    def _plan(self, nb, resources):
        """Names the answer cells define (from the gradebook) and the setup cells' ids."""
        info = resources.get("nbgrader", {})
        names, setup = set(), set()
        from .judge import defined_names

        with Gradebook(info["db_url"]) as gb:
            source = gb.find_notebook(info["notebook"], info["assignment"])
            solutions = {c.name for c in source.solution_cells}
            for cell in source.source_cells:
                if cell.name in solutions and cell.cell_type == "code":
                    names |= defined_names(cell.source)
            order = [c.name for c in source.source_cells]
            first = min((order.index(n) for n in solutions if n in order), default=len(order))
            graded = {c.name for c in source.grade_cells}
            for cell in source.source_cells[:first]:
                if cell.cell_type == "code" and cell.locked and cell.name not in graded:
                    setup.add(cell.name)
        return sorted(names), setup

    def _ensure_judge(self):
        if self._judge is None:
            self._judge = JudgeProcess(self.km)
        return self._judge

    def _check_limits(self, outputs=()):
        hit = self.km.limit_hit() if hasattr(self.km, "limit_hit") else None
        if hit is None and any(o.get("ename") == "MemoryError" for o in outputs):
            hit = "memory limit (MemoryError)"
        if hit:
            raise LimitExceeded(f"{LIMIT_NEEDLE}: the notebook went over the sandbox's {hit}")
        for o in outputs:
            error = f"{o.get('ename', '')}: {o.get('evalue', '')}"
            if o.get("output_type") == "error" and gpu.out_of_memory(error):
                raise LimitExceeded(f"{LIMIT_NEEDLE}: {gpu.limit_reason(error)}")

    def preprocess_cell(self, cell, resources, index):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "code" and utils.is_grade(cell):
            judge = self._ensure_judge()
            judge.send(
                {"op": "run", "source": cell.source, "names": self._names, "timeout": self.timeout}
            )
            wait = None if self.timeout is None else self.timeout + 120
            outputs = judge.receive(wait)["outputs"]
            if any(o.get("ename") == "KernelDied" for o in outputs):
                self._check_limits()
                raise DeadKernelError("Kernel died while the judge ran a test cell")
            self._check_limits(outputs)
            cell.outputs = [from_dict(o) for o in outputs]
            self.code_cells_executed += 1
            cell.execution_count = self.code_cells_executed
            return cell, resources
        if grade_id in self._setup and cell.cell_type == "code":
            judge = self._ensure_judge()
            judge.send({"op": "run", "source": cell.source, "names": [], "timeout": None})
            cell, resources = super().preprocess_cell(cell, resources, index)
            outputs = judge.receive()["outputs"]
            errors = [o for o in outputs if o.get("output_type") == "error"]
            if errors:
                raise RuntimeError(
                    f"the judge could not run the setup cell {grade_id}: "
                    f"{errors[0]['ename']}: {errors[0]['evalue']}"
                )
            return cell, resources
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._check_limits()
            raise
        self._check_limits([NotebookNode(o) for o in cell.get("outputs", [])])
        return cell, resources


__all__ = ["JudgedExecute", "LimitExceeded", "SandboxedKernelManager"]
