"""Attacks on the grading, as a hostile student would write them, in ONE run per assignment.

Tampering (``TAMPERING``): each is wrapped around the same wrong answers, for three kinds of
assignment (NumPy functions: 01_pca; a Keras layer: 09_vae's ``Sampling``; Keras models:
02_deep_autoencoder), and must score exactly what those wrong answers score alone. Before
the judge, these turned wrong answers into full marks: the test code ran in the student's
kernel, where these lines rewrite or silence it.

Files and processes (``INTRUSIONS``): each is added to a correct answer of 01_pca, graded in
the same run as a correct control student and a wrong one. None may change a byte outside
its own outputs, let a private file (a canary in the course folder, ``solutions/``, the
gradebooks) reach any output, or cost another student a grade; one that kills its kernel or
breaks a limit scores 0 with the reason.
"""

import base64
import glob
import hashlib
import json
import os
import shutil
import sqlite3
import uuid

import pytest

import aekeras_grader as grading
from tests import ROOT
from tests import nbgrader_helpers as nh

pytestmark = pytest.mark.grading

WRONG = {  # assignment -> edits of the solution that make some tests fail
    "01_pca": [
        (
            "return np.asarray(codes) @ np.asarray(components) + mean",
            "return np.asarray(codes) @ np.asarray(components)",
        ),
        (
            "return int(np.searchsorted(cumulative, target) + 1)",
            "return int(np.searchsorted(cumulative, target))",
        ),
    ],
    "09_vae": [("ops.exp(0.5 * z_log_var)", "ops.exp(z_log_var)")],
    "02_deep_autoencoder": [
        (
            "return ops.sum(ops.reshape(ops.square(diff), (ops.shape(diff)[0], -1)), axis=1)",
            "return ops.mean(ops.reshape(ops.square(diff), (ops.shape(diff)[0], -1)), axis=1)",
        )
    ],
}

AST = """\
import ast
class _StripAsserts(ast.NodeTransformer):
    def visit_Assert(self, node):
        return ast.Pass()
get_ipython().ast_transformers.append(_StripAsserts())
"""
INPUT = """\
def _swallow(lines):
    return ["try:\\n"] + ["    " + line for line in lines] + ["\\nexcept BaseException:\\n    pass\\n"]
get_ipython().input_transformers_post.append(_swallow)
"""
OUTPUT = """\
import sys
_ip = get_ipython()
_ip.showtraceback = lambda *args, **kwargs: None
_ip._showtraceback = lambda *args, **kwargs: None
_ip.display_formatter.formatters["text/plain"].for_type(object, lambda o, p, cycle: p.text("10"))
sys.displayhook = lambda value: print(10)
"""
RUN_CELL = """\
import textwrap
_ip = get_ipython()
def _wrap(cell):
    return "try:\\n" + textwrap.indent(cell, "    ") + "\\n    pass\\nexcept BaseException:\\n    pass\\n"
_run_cell, _run_cell_async = _ip.run_cell, _ip.run_cell_async
_ip.run_cell = lambda raw_cell, *a, **k: _run_cell(_wrap(raw_cell), *a, **k)
_ip.run_cell_async = lambda raw_cell, *a, **k: _run_cell_async(_wrap(raw_cell), *a, **k)
"""
EXCEPTIONS = """\
get_ipython().set_custom_exc((BaseException,), lambda shell, etype, value, tb, tb_offset=None: None)
"""
# The patches below cheat only where the tests used to run (code of the notebook's cells, in
# files /tmp/ipykernel_*/), so that the student's own code and the libraries keep working:
# an attack that broke its own answers would prove nothing.
FROM_CELL = """\
import sys
def _from_cell(depth=2):
    name = sys._getframe(depth).f_code.co_filename
    return name.startswith(("/tmp/ipykernel", "<ipython-input"))
def _cheat(original, fake):
    def patched(*args, **kwargs):
        return fake(*args, **kwargs) if _from_cell() else original(*args, **kwargs)
    return patched
"""
SETTRACE = """\
import linecache, sys, threading
def _skip_asserts(frame, event, arg):
    if not frame.f_code.co_filename.startswith(("/tmp/ipykernel", "<ipython-input")):
        return None
    if event == "line":
        line = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
        if line.startswith("assert"):
            try:
                frame.f_lineno = frame.f_lineno + 1
            except ValueError:
                pass
    return _skip_asserts
sys.settrace(_skip_asserts)
threading.settrace(_skip_asserts)
"""
NUMPY = (
    FROM_CELL
    + """\
import numpy as np
np.allclose = _cheat(np.allclose, lambda *args, **kwargs: True)
np.array_equal = _cheat(np.array_equal, lambda *args, **kwargs: True)
np.isclose = _cheat(np.isclose, lambda a, b, *args, **kwargs: np.ones(np.broadcast(a, b).shape, bool))
np.testing.assert_allclose = _cheat(np.testing.assert_allclose, lambda *args, **kwargs: None)
np.all = _cheat(np.all, lambda *args, **kwargs: True)
"""
)
KERAS = (
    FROM_CELL
    + """\
import keras
import numpy as np
class _Anything(np.ndarray):
    def __eq__(self, other):
        return np.ones(self.shape, bool)
    __ne__ = lambda self, other: np.zeros(self.shape, bool)
_to_numpy = keras.ops.convert_to_numpy
keras.ops.convert_to_numpy = _cheat(_to_numpy, lambda x: np.asarray(_to_numpy(x)).view(_Anything))
"""
)
BUILTINS = (
    FROM_CELL
    + """\
import builtins
builtins.all = _cheat(builtins.all, lambda iterable: True)
builtins.any = _cheat(builtins.any, lambda iterable: True)
builtins.abs = _cheat(builtins.abs, lambda x: 0)
"""
)
EQ_ALWAYS = """\
import numpy as np
class _Always(int):
    def __eq__(self, other):
        return True
    __hash__ = int.__hash__
class _Same(np.ndarray):
    def __eq__(self, other):
        return np.ones(self.shape, bool)
_choose_k, _decode = choose_k, decode
choose_k = lambda X, target=0.9: _Always(_choose_k(X, target))
decode = lambda codes, mean, components: np.asarray(_decode(codes, mean, components)).view(_Same)
"""
TAMPERING = {
    "ast_transformer": AST,
    "input_transformer": INPUT,
    "output_transformer": OUTPUT,
    "wrapped_run_cell": RUN_CELL,
    "exception_handler": EXCEPTIONS,
    "settrace": SETTRACE,
    "patched_numpy": NUMPY,
    "patched_keras": KERAS,
    "patched_builtins": BUILTINS,
}
# For the layer and the models, one student combines the tricks (any of them alone, before,
# was enough); 01 has one student per trick, and the __eq__ one (it needs 01's names).
# settrace is left out there: tracing every line of a Keras training step only makes it slow.
COMBINED = "\n".join(v for k, v in TAMPERING.items() if k != "settrace")

CANARY = f"AEKERAS-CANARY-{uuid.uuid4().hex}"


def _encodings(secret):
    raw = secret.encode()
    return {
        "plain": secret,
        "base64": base64.b64encode(raw).decode()[:-4],
        "hex": raw.hex(),
        "reversed": secret[::-1],
    }


def intrusions(root):
    other = os.path.join(root, "submitted", "control", "01_pca")
    return {
        "reads_private_files": f"""\
import base64, glob, os
_found = []
for _pattern in ["{root}/**", "/tmp/**", os.path.expanduser("~") + "/**", "/root/**", "/home/**", "/etc/shadow"]:
    for _path in glob.glob(_pattern, recursive=True)[:2000]:
        try:
            with open(_path, "rb") as _f:
                _data = _f.read(200_000)
        except OSError:
            continue
        _found.append(_path)
        print(_path, _data[:3000])
        print(base64.b64encode(_data).decode()[:20000])
        print(_data.hex()[:20000])
        print(_data.decode("latin-1")[::-1][:20000])
print("files read:", len(_found))
""",
        "writes_outside": f"""\
import os, sqlite3
for _path in ["{root}/pwned.txt", "{other}/pwned.txt", "{other}/01_pca.ipynb", "{root}/gradebook.db",
              "/tmp/aekeras-pwned.txt", os.path.expanduser("~/pwned.txt")]:
    try:
        with open(_path, "a") as _f:
            _f.write("pwned")
    except OSError as _err:
        print("refused:", _path, type(_err).__name__)
try:
    _db = sqlite3.connect("{root}/gradebook.db")
    _db.execute("create table pwned (x int)")
    _db.commit()
except Exception as _err:
    print("refused: gradebook", type(_err).__name__)
for _folder in [os.environ.get("KERAS_HOME", ""), os.path.dirname(os.__file__)]:
    try:
        open(os.path.join(_folder, "pwned.txt"), "w").write("pwned")
    except OSError as _err:
        print("refused:", _folder, type(_err).__name__)
""",
        # symlinks in the folder the kernel shares with the judge, to the grader's files:
        # a judge that followed them would overwrite the course, or read it as a reply
        "plants_symlinks": f"""\
import os
_io = os.environ.get("AEKERAS_BRIDGE_DIR") or __aekeras_bridge__.IO_DIR
for _n in range(1, 400):
    for _name, _target in ((f"req-{{_n}}.json", "{root}/secret.txt"), (f"rep-{{_n}}.json", "{root}/gradebook.db")):
        try:
            os.symlink(_target, os.path.join(_io, _name))
        except OSError as _err:
            pass
print("planted in", _io)
""",
        "kills_parent": """\
import os, signal
for _pid in (os.getppid(), 1):
    try:
        os.kill(_pid, signal.SIGKILL)
    except OSError as _err:
        print("refused:", _pid, type(_err).__name__)
""",
        # the grader's group is not in its PID namespace; kill(-1) reaches only the sandbox
        "kills_process_group": """\
import os, signal
for _kill in (lambda: os.killpg(os.getpgid(0), signal.SIGKILL), lambda: os.kill(0, signal.SIGKILL),
              lambda: os.kill(-1, signal.SIGKILL)):
    try:
        _kill()
    except OSError as _err:
        print("refused:", type(_err).__name__)
""",
        "fork_bomb": """\
import os, time
_children = 0
_deadline = time.time() + 30
while time.time() < _deadline:
    try:
        if os.fork() == 0:
            time.sleep(120)
            os._exit(0)
        _children += 1
    except OSError:
        break
print("children:", _children)
""",
        "memory": """\
import numpy as np
_hog = np.ones(10 * 1024**3 // 8)
print(_hog.sum())
""",
    }


# --------------------------------------------------------------------------------------------


def _course(base, assignments):
    root = os.path.join(base, "course")
    os.makedirs(os.path.join(root, "solutions"))
    shutil.copy(os.path.join(ROOT, "nbgrader_config.py"), root)
    for assignment in assignments:
        shutil.copytree(
            os.path.join(ROOT, "solutions", assignment), os.path.join(root, "solutions", assignment)
        )
    return root


def _insert_after(nb, grade_id, source):
    """A copy of ``nb`` with a cell of the student's own after the cell ``grade_id``."""
    nb = json.loads(json.dumps(nb))
    index = next(
        i for i, c in enumerate(nb["cells"]) if nh.nbgrader_meta(c).get("grade_id") == grade_id
    )
    cell = {"cell_type": "code", "metadata": {}, "source": source, "outputs": []}
    nb["cells"].insert(index + 1, {**cell, "execution_count": None})
    return nb


def _submit(root, student, assignment, nb):
    folder = os.path.join(root, "submitted", student, assignment)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"{assignment}.ipynb"), "w") as f:
        json.dump(nb, f, indent=1)
    with open(os.path.join(folder, "timestamp.txt"), "w") as f:
        f.write("2026-01-01 12:00:00.000000 UTC")


def _wrong(assignment):
    nb = nh.read_notebook(nh.solution_path(assignment))
    for old, new in WRONG[assignment]:
        nb = nh.substitute(nb, old, new)
    return nb


def _snapshot(root, skip):
    out = {}
    for path in glob.glob(os.path.join(root, "**"), recursive=True):
        rel = os.path.relpath(path, root)
        if os.path.isfile(path) and not any(rel.startswith(s) for s in skip):
            with open(path, "rb") as f:
                out[rel] = hashlib.sha256(f.read()).hexdigest()
    return out


def _scores(root, assignment):
    from nbgrader.api import Gradebook

    course = grading.runner.Course(root)
    with Gradebook(course.db_url) as gb:
        return {s.student.id: s.score for s in gb.find_assignment(assignment).submissions}


@pytest.fixture(scope="module")
def tampering(tmp_path_factory):
    """One grading run per assignment: the wrong answers alone, then with each trick."""
    base = str(tmp_path_factory.mktemp("tampering"))
    root = _course(base, list(WRONG))
    expected = {}
    for assignment in WRONG:
        wrong = _wrong(assignment)
        _submit(root, "wrong", assignment, wrong)
        _submit(root, "solution", assignment, nh.read_notebook(nh.solution_path(assignment)))
        tricks = dict(TAMPERING) if assignment == "01_pca" else {"every_trick": COMBINED}
        for name, source in tricks.items():
            _submit(root, name, assignment, _insert_after(wrong, "setup", source))
        if assignment == "01_pca":
            _submit(root, "eq_always_true", assignment, _insert_after(wrong, "choose_k", EQ_ALWAYS))
            tricks["eq_always_true"] = EQ_ALWAYS
        expected[assignment] = sorted(tricks)
    results, scores = {}, {}
    for assignment in WRONG:
        results[assignment] = grading.grade(
            assignment, root, jobs=2, limit=900, cell_timeout=300, feedback=False, log=print
        )
        scores[assignment] = _scores(root, assignment)
    return root, expected, results, scores


@pytest.mark.parametrize("assignment", list(WRONG))
def test_tampering_scores_what_the_wrong_answer_scores(tampering, assignment):
    _, expected, results, scores = tampering
    score = scores[assignment]
    full = score["solution"]
    assert full == 10.0, (assignment, results[assignment]["solution"])
    assert 0 < score["wrong"] < full, (assignment, score["wrong"])
    for trick in expected[assignment]:
        result = results[assignment][trick]
        assert result.recorded, (trick, result.status, result.reason)
        assert score[trick] == score["wrong"], (assignment, trick, score[trick], score["wrong"])


@pytest.fixture(scope="module")
def intruded(tmp_path_factory):
    """01_pca: correct answers with each intrusion, a correct control and a wrong student."""
    base = str(tmp_path_factory.mktemp("intrusion"))
    root = _course(base, ["01_pca"])
    with open(os.path.join(root, "secret.txt"), "w") as f:
        f.write(CANARY)
    solution = nh.read_notebook(nh.solution_path("01_pca"))
    _submit(root, "control", "01_pca", solution)
    _submit(root, "wrong", "01_pca", _wrong("01_pca"))
    attacks = intrusions(root)
    for name, source in attacks.items():
        _submit(root, name, "01_pca", _insert_after(solution, "center", source))
    # the course as it is before grading (grading writes only these, per student)
    grading.grade(
        "01_pca",
        root,
        jobs=2,
        limit=600,
        cell_timeout=300,
        feedback=False,
        log=print,
        students=["control"],
    )
    skip = ("autograded", "feedback", "gradebook.db", "grades.csv")
    before = _snapshot(root, skip)
    tmp_before = set(os.listdir("/tmp"))
    results = grading.grade(
        "01_pca", root, jobs=2, limit=600, cell_timeout=40, memory="2G", log=print
    )
    return root, attacks, results, before, tmp_before, skip


def test_intrusions_cost_no_one_a_grade(intruded):
    root, _, results, *_ = intruded
    scores = _scores(root, "01_pca")
    assert scores["control"] == 10.0, results.get("control")
    assert 0 < scores["wrong"] < 10.0
    assert all(r.recorded for r in results.values()), {
        s: (r.status, r.reason) for s, r in results.items() if not r.recorded
    }
    # nothing it may do stops a correct answer from counting, unless it kills its own kernel
    for student in ("reads_private_files", "writes_outside", "kills_parent", "plants_symlinks"):
        assert scores[student] == 10.0, (student, results[student].status, results[student].reason)


@pytest.mark.parametrize(
    "student,reason",
    [
        ("kills_process_group", "kernel died"),
        ("fork_bomb", "process limit"),
        ("memory", "memory limit"),
    ],
)
def test_breaking_a_limit_scores_zero_with_the_reason(intruded, student, reason):
    root, _, results, *_ = intruded
    result = results[student]
    assert result.status == "zero" and reason in result.reason, (result.status, result.reason)
    assert _scores(root, "01_pca")[student] == 0.0
    html = os.path.join(root, "feedback", student, "01_pca", "01_pca.html")
    with open(html) as f:
        assert reason in grading.html_text(f.read())


def test_no_byte_changes_outside_a_submissions_outputs(intruded):
    root, _, _, before, tmp_before, skip = intruded
    assert _snapshot(root, skip) == before
    assert not [p for p in set(os.listdir("/tmp")) - tmp_before if "pwned" in p]
    with sqlite3.connect(os.path.join(root, "gradebook.db")) as db:
        tables = {row[0] for row in db.execute("select name from sqlite_master where type='table'")}
    assert "pwned" not in tables
    keras_home = os.environ.get("KERAS_HOME", os.path.expanduser("~/.keras"))
    assert not os.path.exists(os.path.join(keras_home, "pwned.txt"))
    assert not os.path.exists(os.path.expanduser("~/pwned.txt"))


def test_no_private_content_reaches_any_output(intruded):
    root = intruded[0]
    hidden = grading.runner.source_hidden_lines("01_pca", root)
    outputs = [
        p
        for step in ("autograded", "feedback")
        for p in glob.glob(os.path.join(root, step, "reads_private_files", "**"), recursive=True)
        if os.path.isfile(p)
    ]
    assert outputs
    for path in outputs:
        with open(path, errors="replace") as f:
            text = f.read()
        for kind, secret in _encodings(CANARY).items():
            assert secret not in text, (path, kind)
        if path.endswith(".html"):
            assert grading.find_leaks([path], hidden) == [], path
    # the kernel read nothing but its own files: it printed no path of the course
    autograded = os.path.join(root, "autograded", "reads_private_files", "01_pca", "01_pca.ipynb")
    with open(autograded) as f:
        text = f.read()
    assert "secret.txt" not in text and "gradebook" not in text
    assert "solutions/01_pca" not in text
