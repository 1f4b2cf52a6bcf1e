"""Units of the grading that need no nbgrader run: the wire format, the judge's proxies, the
sandbox's view of the machine, the one hidden-block splitter."""

import base64
import contextlib
import io
import json
import os
import pickle
import subprocess
import sys
import time

import numpy as np
import pytest

from aekeras_grader import bridge, judge, sandbox, wire
from aekeras_grader.preprocessors import split_hidden

# --- the wire: data only --------------------------------------------------------------------


def _roundtrip(value):
    return wire.decode_value(json.loads(json.dumps(bridge.encode(value))), lambda spec: spec)


def test_values_cross_as_data():
    value = {
        "n": 3,
        "x": 2.5,
        "nan": float("nan"),
        "t": (1, [np.float32(1.5), np.int64(7)]),
        "a": np.arange(6, dtype="float32").reshape(2, 3),
        "s": np.array(0.25),
    }
    out = _roundtrip(value)
    assert out["n"] == 3 and out["x"] == 2.5 and np.isnan(out["nan"])
    assert out["t"][0] == 1 and isinstance(out["t"], tuple)
    assert type(out["t"][1][0]) is np.float32 and type(out["t"][1][1]) is np.int64
    assert out["a"].dtype == np.float32 and np.array_equal(out["a"], value["a"])
    assert out["s"].shape == (), "a 0-d array keeps its shape"


def test_objects_stay_in_the_kernel_as_handles():
    class Answer(int):
        def __eq__(self, other):
            return True

    spec = bridge.encode(Answer(3))
    assert set(spec) == {"$h", "cls"}, "an int subclass is not data: it stays a handle"
    same = object()
    assert bridge.encode(same)["$h"] == bridge.encode(same)["$h"], "one object, one handle"


def test_the_judge_refuses_pickles_and_object_arrays():
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    tagged = {"$a": base64.b64encode(buffer.getvalue()).decode()}
    with pytest.raises(ValueError):  # np.load refuses the pickle before any code runs
        wire.decode_value(tagged, lambda spec: spec)
    raw = {"$a": base64.b64encode(pickle.dumps(np.zeros(3))).decode()}
    with pytest.raises(ValueError):
        wire.decode_value(raw, lambda spec: spec)
    with pytest.raises(wire.WireError):
        wire.decode_value({"__reduce__": "os.system"}, lambda spec: spec)
    with pytest.raises(wire.WireError):
        wire.decode_value({"$f": "1e309; import os"}, lambda spec: spec)


# --- the judge's proxies ----------------------------------------------------------------------


class FakeLink:
    """A kernel link that answers from a dict, to test the proxy without a kernel."""

    def __init__(self, answers):
        self.answers, self.requests = answers, []
        self.real = judge.KernelLink.__new__(judge.KernelLink)
        self.real.proxies, self.real._classes = {}, {}

    def request(self, op, target=None, **fields):
        self.requests.append(op)
        return self.answers[op]

    def resolve_class(self, name):
        return judge.KernelLink.resolve_class(self.real, name)

    def encode(self, value):
        return value


def test_a_proxy_is_equal_only_to_itself():
    link = FakeLink({"array": np.ones(3)})
    proxy = judge.Remote({"$h": 1, "cls": "__main__.Cheat"}, link)
    assert (proxy == 3) is False and proxy != 3
    assert np.array_equal(np.asarray(proxy), np.ones(3))
    assert link.requests == ["array"]


def test_isinstance_holds_for_keras_classes_only():
    import keras

    link = FakeLink({})
    dense = judge.Remote({"$h": 1, "cls": "keras.src.layers.core.dense.Dense"}, link)
    fake = judge.Remote({"$h": 2, "cls": "os.system"}, link)
    assert isinstance(dense, keras.layers.Dense) and isinstance(dense, keras.layers.Layer)
    assert not isinstance(fake, keras.layers.Dense)
    assert type(dense) is judge.Remote


def test_defined_names_of_answer_cells():
    source = "import numpy as np\nfrom x import y as z\ndef f():\n    pass\nclass C:\n    pass\na, (b, c) = 1, (2, 3)\nd: int = 4\n"
    assert judge.defined_names(source) == {"np", "z", "f", "C", "a", "b", "c", "d"}
    assert judge.defined_names("def broken(:\n") == set()


# --- one splitter of hidden blocks ------------------------------------------------------------


def test_split_hidden():
    visible, hidden = split_hidden(
        "a = 1\n### BEGIN HIDDEN TESTS\nassert a\n### END HIDDEN TESTS\nb = 2"
    )
    assert visible == "a = 1\nb = 2" and hidden == ["assert a"]


@pytest.mark.parametrize(
    "source",
    [
        "### BEGIN HIDDEN TESTS\n### BEGIN HIDDEN TESTS\nx\n### END HIDDEN TESTS",
        "### BEGIN HIDDEN TESTS\nassert secret",
        "x\n### END HIDDEN TESTS",
    ],
)
def test_split_hidden_refuses_nested_or_open_blocks(source):
    with pytest.raises(ValueError):
        split_hidden(source)


# --- the sandbox's view -----------------------------------------------------------------------


def test_parse_size():
    assert sandbox.parse_size("3G") == 3 * 1024**3
    assert sandbox.parse_size("512M") == 512 * 1024**2
    assert sandbox.parse_size("1000") == 1000
    with pytest.raises(ValueError):
        sandbox.parse_size("lots")


def test_the_sandbox_mounts_no_course_file(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    paths = sandbox.readonly_paths(sandbox.dataset_dirs())
    for private in ("solutions", "gradebook.db", "exercises", "tests", ".git"):
        assert os.path.join(root, private) not in paths
    assert root not in paths, "the repository root itself is never mounted"
    assert "/etc" not in paths and "/root" not in paths and "/home" not in paths


def _run_sandboxed(work, io_dir, code):
    """Runs Python ``code`` in a sandbox over ``work`` (1 GiB); returns the CompletedProcess."""
    box = sandbox.Sandbox(str(work), str(io_dir), sandbox.Limits(memory=sandbox.parse_size("1G")))
    try:
        return subprocess.run(
            box.wrap([sys.executable, "-c", code]),
            env=box.environment(os.environ),
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        box.cleanup()


@pytest.mark.skipif(sandbox.find_bwrap() is None, reason="bubblewrap is not installed")
def test_the_sandbox_sees_only_its_own_files(tmp_path):
    work, io_dir = tmp_path / "work", tmp_path / "io"
    work.mkdir()
    io_dir.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("canary")
    host_tmp = f"/tmp/aekeras-host-{os.getpid()}"
    open(host_tmp, "w").close()
    code = (
        "import os, json\n"
        f"print(json.dumps([os.getuid(), os.path.exists({str(secret)!r}), os.getcwd(),"
        " os.path.exists('/etc/shadow'), sorted(os.listdir('/tmp'))]))\n"
        "open('mine.txt', 'w').write('ok')\n"
        "import socket\n"
        "try:\n    socket.create_connection(('1.1.1.1', 53), timeout=2)\n    print('net')\n"
        "except OSError:\n    print('no net')\n"
    )
    try:
        out = _run_sandboxed(work, io_dir, code)
    finally:
        os.remove(host_tmp)
    lines = out.stdout.strip().splitlines()
    assert out.returncode == 0, out.stderr
    uid, sees_secret, cwd, shadow, tmp = json.loads(lines[0])
    assert uid == sandbox.SANDBOX_UID and not sees_secret and not shadow
    assert cwd == str(work) and (work / "mine.txt").read_text() == "ok"
    assert lines[1] == "no net"
    assert "home" in tmp and os.path.basename(host_tmp) not in tmp, "a private, empty /tmp"


@pytest.mark.skipif(sandbox.find_bwrap() is None, reason="bubblewrap is not installed")
def test_a_kernel_cannot_reach_the_graders_loopback(tmp_path):
    """A Dask scheduler (or the judge, or Jupyter) listening on the grading host's loopback is
    out of reach: a student who reached a scheduler could run code on a worker, unsandboxed."""
    import socket

    work, io_dir = tmp_path / "work", tmp_path / "io"
    work.mkdir()
    io_dir.mkdir()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    code = (
        "import socket\n"
        f"try:\n    socket.create_connection(('127.0.0.1', {port}), timeout=3)\n    print('reached')\n"
        "except OSError as e:\n    print('refused', e.errno)\n"
    )
    try:
        out = _run_sandboxed(work, io_dir, code)
        try:
            listener.accept()
            accepted = True
        except TimeoutError:
            accepted = False
    finally:
        listener.close()
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == "refused" and not accepted


@pytest.mark.skipif(sandbox.find_bwrap() is None, reason="bubblewrap is not installed")
def test_a_detached_process_dies_with_the_sandbox(tmp_path):
    """A student's process that leaves its session and drops the grading's run mark from its
    environment (so that no kill by mark finds it) still ends with the sandbox: it lives in
    the sandbox's PID namespace, which ends with the sandbox's first process."""
    import psutil

    work, io_dir = tmp_path / "work", tmp_path / "io"
    work.mkdir()
    io_dir.mkdir()
    token = f"aekeras-escapee-{os.getpid()}"
    code = (
        "import subprocess, sys, time\n"
        'subprocess.Popen([sys.executable, \'-c\', \'import time; open("started", "w"); '
        f"time.sleep(30)  # {token}'], env={{}}, start_new_session=True,\n"
        "                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "for _ in range(100):\n"
        "    time.sleep(0.05)\n"
        "    try:\n        open('started').close()\n        break\n"
        "    except OSError:\n        pass\n"
        "print('left behind')\n"
    )
    out = _run_sandboxed(work, io_dir, code)
    assert out.returncode == 0 and out.stdout.strip() == "left behind", out.stderr
    assert (work / "started").exists(), "the detached process never ran"

    def escapees():
        found = []
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if token in " ".join(proc.cmdline()):
                    found.append(proc.pid)
        return found

    for _ in range(20):
        if not escapees():
            break
        time.sleep(0.25)
    assert escapees() == [], "a detached process outlived its sandbox"


# --- GPU workers (no GPU needed: the devices are fakes) --------------------------------------

SMI_TWO = "0, GPU-aaaa, 16384\n1, GPU-bbbb, 16384\n"


def _fake_smi(text):
    return lambda: text


@pytest.mark.parametrize("n_gpus", [0, 1, 2])
@pytest.mark.parametrize("cap", [None, "8G"])
def test_each_worker_gets_its_gpu_environment(n_gpus, cap):
    from aekeras_grader import gpu

    rows = "".join(SMI_TWO.splitlines(keepends=True)[:n_gpus])
    gpus = gpu.visible_gpus(env={}, smi=_fake_smi(rows or None))
    assert [g.id for g in gpus] == [str(i) for i in range(n_gpus)]
    envs = gpu.worker_environments(3, gpus, cap, from_smi=True)
    assert len(envs) == 3
    if n_gpus == 0:
        assert envs == [{}, {}, {}], "no GPU: the CPU, and nothing set"
        return
    # round-robin: worker k on GPU k mod G
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == [str(k % n_gpus) for k in range(3)]
    for env in envs:
        assert env["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
        assert env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
        assert env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID", "nvidia-smi's indices are PCI order"
        if cap is None:
            assert not {gpu.CAP_ENV, "XLA_PYTHON_CLIENT_MEM_FRACTION"} & set(env)
        else:
            assert env[gpu.CAP_ENV] == str(8 * 1024**3)
            # 8 GiB of a 16 GiB device; JAX reads both names of the variable
            assert env["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "0.500"
            assert env["XLA_CLIENT_MEM_FRACTION"] == "0.500"


def test_cuda_visible_devices_decides_which_gpus():
    from aekeras_grader import gpu

    smi = _fake_smi(SMI_TWO)
    assert gpu.visible_gpus(env={"CUDA_VISIBLE_DEVICES": ""}, smi=smi) == []
    assert gpu.visible_gpus(env={"CUDA_VISIBLE_DEVICES": "-1"}, smi=smi) == []
    gpus = gpu.visible_gpus(env={"CUDA_VISIBLE_DEVICES": "GPU-bbbb, 0"}, smi=smi)
    assert gpus == [gpu.Gpu("GPU-bbbb", 16 * 1024**3), gpu.Gpu("0", 16 * 1024**3)]
    mig = gpu.visible_gpus(env={"CUDA_VISIBLE_DEVICES": "MIG-cccc"}, smi=_fake_smi(None))
    envs = gpu.worker_environments(2, mig, "4G")
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == ["MIG-cccc", "MIG-cccc"]
    assert "CUDA_DEVICE_ORDER" not in envs[0], "the instructor's own ids keep their order"
    assert "XLA_PYTHON_CLIENT_MEM_FRACTION" not in envs[0], "no device size: no fraction"
    assert envs[0][gpu.CAP_ENV] == str(4 * 1024**3), "TensorFlow and PyTorch still capped"


def test_caps_that_do_not_fit_the_gpu_are_reported():
    from aekeras_grader import gpu

    gpus = gpu.visible_gpus(env={}, smi=_fake_smi(SMI_TWO))
    assert gpu.oversubscribed(gpu.worker_environments(4, gpus, "8G"), gpus) == []
    over = gpu.oversubscribed(gpu.worker_environments(5, gpus, "8G"), gpus)
    assert over == [("0", 24 * 1024**3, 16 * 1024**3)]
    assert gpu.worker_environments(1, gpus, "32G")[0]["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "1.000"


def test_the_memory_cap_hook_does_nothing_without_a_gpu():
    from aekeras_grader import gpu

    assert gpu.apply_memory_cap({gpu.CAP_ENV: str(2**30)}) is None
    assert gpu.apply_memory_cap({gpu.CAP_ENV: str(2**30), "CUDA_VISIBLE_DEVICES": ""}) is None
    assert gpu.apply_memory_cap({"CUDA_VISIBLE_DEVICES": "0"}) is None


def _fake_dev(tmp_path):
    dev = tmp_path / "dev"
    (dev / "dri").mkdir(parents=True)
    for name in ("nvidia0", "nvidiactl", "nvidia-uvm", "null"):
        (dev / name).write_text("")
    return str(dev)


def test_gpu_device_nodes_are_bound_only_when_a_gpu_is_assigned(tmp_path):
    from aekeras_grader import gpu

    dev = _fake_dev(tmp_path)
    nodes = gpu.device_nodes(dev)
    assert [inside for _, inside in nodes] == [
        "/dev/nvidia-uvm",
        "/dev/nvidia0",
        "/dev/nvidiactl",
        "/dev/dri",
    ]
    args = sandbox.Sandbox(tmp_path, tmp_path, bwrap="bwrap", devices=nodes).bwrap_args()
    binds = [args[i + 1 : i + 3] for i, a in enumerate(args) if a == "--dev-bind"]
    assert [os.path.join(dev, "nvidia0"), "/dev/nvidia0"] in binds
    assert [os.path.join(dev, "dri"), "/dev/dri"] in binds and len(binds) == 4
    assert args.index("--dev-bind") > args.index("--dev"), "after the sandbox's own /dev"
    assert ["--ro-bind-try", "/sys/bus/pci", "/sys/bus/pci"] == args[
        args.index("/sys/bus/pci") - 1 : args.index("/sys/bus/pci") + 2
    ]
    plain = sandbox.Sandbox(tmp_path, tmp_path, bwrap="bwrap").bwrap_args()
    assert "--dev-bind" not in plain and "/sys/bus/pci" not in plain
    assert not any("nvidia" in a for a in plain)


def test_the_kernel_environment_keeps_the_gpu_settings(tmp_path):
    from aekeras_grader import gpu

    (env,) = gpu.worker_environments(1, [gpu.Gpu("1", 16 * 1024**3)], "8G")
    host = {**env, "LD_LIBRARY_PATH": "/usr/lib64-nvidia", "AWS_SECRET_ACCESS_KEY": "x"}
    nodes = gpu.device_nodes(_fake_dev(tmp_path))
    inside = sandbox.Sandbox(tmp_path, tmp_path, bwrap="bwrap", devices=nodes).environment(host)
    assert {k: inside[k] for k in env} == env
    assert (
        inside["LD_LIBRARY_PATH"] == "/usr/lib64-nvidia" and "AWS_SECRET_ACCESS_KEY" not in inside
    )
    cpu = sandbox.Sandbox(tmp_path, tmp_path, bwrap="bwrap").environment(host)
    assert "LD_LIBRARY_PATH" not in cpu


@pytest.mark.parametrize(
    "ename, evalue",
    [
        ("ResourceExhaustedError", "OOM when allocating tensor with shape[60000,784]"),
        ("XlaRuntimeError", "RESOURCE_EXHAUSTED: Out of memory while trying to allocate 3.1GiB"),
        ("OutOfMemoryError", "CUDA out of memory. Tried to allocate 2.00 GiB"),
        ("StudentError", "RuntimeError: CUDA error: out of memory"),
    ],
)
def test_out_of_gpu_memory_scores_zero_with_its_reason(ename, evalue):
    from aekeras_grader import gpu
    from aekeras_grader.execute import LIMIT_NEEDLE, JudgedExecute, LimitExceeded

    class Km:  # a kernel manager whose sandbox hit no limit of its own
        def limit_hit(self):
            return None

    execute = JudgedExecute.__new__(JudgedExecute)
    execute.km = Km()
    error = {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": []}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CUDA_VISIBLE_DEVICES", "0")
        mp.setenv(gpu.CAP_ENV, str(8 * 1024**3))
        with pytest.raises(LimitExceeded) as raised:
            execute._check_limits([error])
    message = str(raised.value)
    assert message.startswith(f"{LIMIT_NEEDLE}: GPU memory (")
    assert "8 GiB per worker (GRADE_GPU_MEMORY)" in message and evalue[:20] in message
    execute._check_limits([{**error, "ename": "AssertionError", "evalue": "wrong shape"}])


def test_a_kernel_killed_by_a_cuda_abort_is_a_gpu_memory_zero(tmp_path):
    from aekeras_grader import runner

    log = tmp_path / "student.log"
    log.write_text(
        "2026-01-01 F external/xla/stream_executor/cuda/cuda_driver.cc:123] "
        "CUDA_ERROR_OUT_OF_MEMORY: out of memory\n"
        "nbclient.exceptions.DeadKernelError: Kernel died\n"
    )
    reason = runner._student_failure(str(log), {"CUDA_VISIBLE_DEVICES": "1"})
    assert reason.startswith("GPU memory (the notebook ran out of it: ")
    log.write_text("nbclient.exceptions.DeadKernelError: Kernel died\n")
    assert "kernel died" in runner._student_failure(str(log), {"CUDA_VISIBLE_DEVICES": "1"})
