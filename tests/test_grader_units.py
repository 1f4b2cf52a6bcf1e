"""Units of the grading that need no nbgrader run: the wire format, the judge's proxies, the
sandbox's view of the machine, the one hidden-block splitter."""

import base64
import io
import json
import os
import pickle
import subprocess
import sys

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


@pytest.mark.skipif(sandbox.find_bwrap() is None, reason="bubblewrap is not installed")
def test_the_sandbox_sees_only_its_own_files(tmp_path):
    work, io_dir = tmp_path / "work", tmp_path / "io"
    work.mkdir()
    io_dir.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("canary")
    host_tmp = f"/tmp/aekeras-host-{os.getpid()}"
    open(host_tmp, "w").close()
    box = sandbox.Sandbox(str(work), str(io_dir), sandbox.Limits(memory=sandbox.parse_size("1G")))
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
        out = subprocess.run(
            box.wrap([sys.executable, "-c", code]),
            env=box.environment(os.environ),
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        box.cleanup()
        os.remove(host_tmp)
    lines = out.stdout.strip().splitlines()
    assert out.returncode == 0, out.stderr
    uid, sees_secret, cwd, shadow, tmp = json.loads(lines[0])
    assert uid == sandbox.SANDBOX_UID and not sees_secret and not shadow
    assert cwd == str(work) and (work / "mine.txt").read_text() == "ok"
    assert lines[1] == "no net"
    assert "home" in tmp and os.path.basename(host_tmp) not in tmp, "a private, empty /tmp"
