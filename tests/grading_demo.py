"""A demo course for rehearsing the grading: a small NumPy assignment and a generated class.

The assignment ``00_demo`` is a real nbgrader source notebook (a locked, seeded setup cell,
three answer cells, visible and hidden tests, 10 points) that a kernel grades in about a
second. :func:`make_class` writes submissions for it: correct ones, wrong ones (partial
credit) and every kind of broken one an instructor meets, each with the score it must get::

    python tests/grading_demo.py /tmp/course          # writes expected_scores.json too
    cd /tmp/course && python -m aekeras_grader grade 00_demo --jobs 2 --limit 40 --cell-timeout 6

The expected scores of the runaway notebook and the infinite loops assume those two limits.
"""

import json
import os
import shutil
import tempfile

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ASSIGNMENT = "00_demo"
MAX_SCORE = 10.0
POINTS = {"test_center": 3, "test_covariance": 3, "test_top_component": 4}

SETUP = """\
import numpy as np

np.random.seed(0)
rng = np.random.default_rng(0)
X = rng.normal(size=(20, 4)) @ np.diag([3.0, 2.0, 1.0, 0.5])"""

CENTER = '''\
def center(x):
    """Subtracts the mean of each column: x_c = x - mean(x, axis=0)."""
    ### BEGIN SOLUTION
    return x - x.mean(axis=0)
    ### END SOLUTION'''

COVARIANCE = '''\
def covariance(x):
    """Sample covariance of the columns: C = x_cᵀ x_c / (n - 1)."""
    ### BEGIN SOLUTION
    xc = x - x.mean(axis=0)
    return xc.T @ xc / (len(x) - 1)
    ### END SOLUTION'''

TOP_COMPONENT = '''\
def top_component(x):
    """Unit eigenvector of the covariance with the largest eigenvalue, its largest entry > 0."""
    ### BEGIN SOLUTION
    xc = x - x.mean(axis=0)
    w, v = np.linalg.eigh(xc.T @ xc)
    u = v[:, np.argmax(w)]
    return u * np.sign(u[np.argmax(np.abs(u))])
    ### END SOLUTION'''

TEST_CENTER = """\
assert center(X).shape == X.shape
np.testing.assert_allclose(center(np.array([[1.0, 2.0], [3.0, 6.0]])), [[-1.0, -2.0], [1.0, 2.0]])
### BEGIN HIDDEN TESTS
x_hidden_center = np.random.default_rng(11).normal(size=(7, 3)) * 5 + 2
assert np.allclose(center(x_hidden_center), x_hidden_center - x_hidden_center.mean(0))
assert np.allclose(center(x_hidden_center[:1]), 0.0)
### END HIDDEN TESTS"""

TEST_COVARIANCE = """\
assert covariance(X).shape == (4, 4)
np.testing.assert_allclose(covariance(X), covariance(X).T)
### BEGIN HIDDEN TESTS
x_hidden_cov = np.random.default_rng(12).normal(size=(9, 5)) * 2 - 1
assert np.allclose(covariance(x_hidden_cov), np.cov(x_hidden_cov, rowvar=False))
### END HIDDEN TESTS"""

TEST_TOP = """\
u = top_component(X)
assert u.shape == (4,)
np.testing.assert_allclose(np.linalg.norm(u), 1.0, rtol=1e-6)
### BEGIN HIDDEN TESTS
x_hidden_top = np.random.default_rng(13).normal(size=(30, 3)) @ np.diag([1.0, 4.0, 0.5])
w_ref, v_ref = np.linalg.eigh(np.cov(x_hidden_top, rowvar=False))
u_ref = v_ref[:, -1] * np.sign(v_ref[np.argmax(np.abs(v_ref[:, -1])), -1])
assert np.allclose(top_component(x_hidden_top), u_ref, atol=1e-6)
### END HIDDEN TESTS"""


def _meta(grade_id, *, grade=False, solution=False, locked=False, points=None):
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def source_notebook():
    """The nbgrader source notebook of ``00_demo`` (as ``solutions/00_demo/00_demo.ipynb``)."""
    cells = [
        new_markdown_cell(
            "# 00 demo: PCA by hand (10 points)\n\nImplement `center`, `covariance` and "
            "`top_component` with NumPy.",
            metadata=_meta("title", locked=True),
        ),
        new_code_cell(SETUP, metadata=_meta("setup", locked=True)),
        new_code_cell(CENTER, metadata=_meta("center", solution=True)),
        new_code_cell(
            TEST_CENTER, metadata=_meta("test_center", grade=True, locked=True, points=3)
        ),
        new_code_cell(COVARIANCE, metadata=_meta("covariance", solution=True)),
        new_code_cell(
            TEST_COVARIANCE, metadata=_meta("test_covariance", grade=True, locked=True, points=3)
        ),
        new_code_cell(TOP_COMPONENT, metadata=_meta("top_component", solution=True)),
        new_code_cell(
            TEST_TOP, metadata=_meta("test_top_component", grade=True, locked=True, points=4)
        ),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "display_name": "Python 3",
        "language": "python",
        "name": "python3",
    }
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def make_course(root, config=None):
    """Writes a course folder with ``solutions/00_demo`` and an ``nbgrader_config.py``.

    ``config`` is the ``nbgrader_config.py`` to copy (default: a minimal one with the
    course's layout); returns ``root``.
    """
    os.makedirs(os.path.join(root, "solutions", ASSIGNMENT), exist_ok=True)
    nbformat.write(
        source_notebook(), os.path.join(root, "solutions", ASSIGNMENT, ASSIGNMENT + ".ipynb")
    )
    target = os.path.join(root, "nbgrader_config.py")
    if config:
        shutil.copy(config, target)
    else:
        with open(target, "w") as f:
            f.write(
                "c = get_config()  # noqa: F821\n"
                'c.CourseDirectory.course_id = "aekeras-demo"\n'
                'c.CourseDirectory.source_directory = "solutions"\n'
                'c.CourseDirectory.release_directory = "exercises"\n'
                "c.OverwriteCells.add_missing_cells = True\n"
                "c.Execute.timeout = 300\n"
                "from aekeras_grader import configure  # noqa: E402\n"
                "configure(c)\n"
            )
    return root


def release(root):
    """``nbgrader generate_assignment 00_demo`` into ``exercises/``, with a throwaway gradebook."""
    from aekeras_grader.runner import run_app

    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "release.log")
        argv = [ASSIGNMENT, "--force", "--db", f"sqlite:///{tmp}/gradebook.db"]
        code, _, _ = run_app("generate_assignment", argv, os.path.abspath(root), log)
        if code != 0:
            with open(log) as f:
                raise RuntimeError(f"generate_assignment failed:\n{f.read()}")


def write_demo(root, n_students=None, config=None, cases=None):
    """A demo course in ``root``: source, release and a class; returns {student: expected}."""
    make_course(root, config)
    release(root)
    return make_class(root, n_students, cases)


# --- the class -------------------------------------------------------------------------------


def _answer(nb, grade_id, body):
    """Replaces the body of an answer cell (keeps the signature line)."""
    cell = _cell(nb, grade_id)
    head = cell.source.split("\n")[0]
    cell.source = head + "\n" + "\n".join("    " + line for line in body.strip().split("\n"))


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _drop(nb, grade_id):
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != grade_id]


def _checksum(cell):
    from nbgrader.utils import compute_checksum

    return compute_checksum(cell)


def _correct(nb):
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = "\n".join(line for line in cell.source.split("\n") if "### " not in line)


def _wrong_center(nb):
    _answer(nb, "center", "return x - x.mean()")


def _flipped_top(nb):  # passes the visible tests, fails the hidden one
    _answer(
        nb,
        "top_component",
        "xc = x - x.mean(axis=0)\nw, v = np.linalg.eigh(xc.T @ xc)\n"
        "u = v[:, np.argmax(w)]\nreturn -u * np.sign(u[np.argmax(np.abs(u))])",
    )


def _hardcoded(nb):  # visible answers written out: no hidden test passes
    _answer(
        nb,
        "center",
        "if x.shape == (2, 2):\n    return np.array([[-1.0, -2.0], [1.0, 2.0]])\nreturn np.zeros_like(X)",
    )


def _biased_cov(nb):
    _answer(nb, "covariance", "xc = x - x.mean(axis=0)\nreturn xc.T @ xc / len(x)")


def _add_cell(nb, source, after=None):
    cell = new_code_cell(source)
    index = len(nb.cells) if after is None else nb.cells.index(_cell(nb, after)) + 1
    nb.cells.insert(index, cell)


def _showtraceback(value):
    def edit(nb):
        _wrong_center(nb)
        _biased_cov(nb)
        _add_cell(
            nb,
            "import IPython.core.interactiveshell\n"
            f"IPython.core.interactiveshell.InteractiveShell.showtraceback = {value}",
            after="setup",
        )

    return edit


def _edit_test(nb, forge_checksum=False):
    _wrong_center(nb)
    cell = _cell(nb, "test_center")
    cell.source = "pass"
    if forge_checksum:
        cell.metadata.nbgrader["checksum"] = _checksum(cell)


def _edit_points(nb):
    cell = _cell(nb, "test_center")
    cell.metadata.nbgrader["points"] = 30


def _edit_setup(nb):
    _wrong_center(nb)
    _cell(nb, "setup").source += (
        "\nnp.testing.assert_allclose = lambda *args, **kwargs: None"
        "\nnp.allclose = lambda *args, **kwargs: True"
    )


def _unlock_test(nb):
    _wrong_center(nb)
    meta = _cell(nb, "test_center").metadata.nbgrader
    meta["grade"] = False
    meta["locked"] = False


def _rename_test(nb):
    _cell(nb, "test_covariance").metadata.nbgrader["grade_id"] = "my_cell"


def _strip_metadata(nb):
    del _cell(nb, "test_covariance").metadata["nbgrader"]


def _set_kernelspec(nb):
    nb.metadata["kernelspec"] = {"display_name": "Blah", "language": "blah", "name": "blah"}


def _answer_raises(nb):
    _answer(nb, "covariance", 'raise ValueError("not done yet")')


def _syntax_error(nb):
    _answer(nb, "covariance", "return x.T @ x) / len(x")


def _loop(nb):
    _answer(nb, "center", "while True:\n    pass")


def _loop_output(nb):
    _answer(nb, "center", 'while True:\n    print("still centering", flush=True)')


def _recursion(nb):
    _answer(nb, "center", "return center(x)")


def _huge_output(nb):
    _add_cell(nb, "for i in range(200_000):\n    print(i)\nprint('x' * 2_000_000)", after="center")


def _runaway(nb):  # trains "forever" in small cells: only the whole-notebook limit stops it
    for _ in range(120):
        _add_cell(nb, "import time\ntime.sleep(1.0)")


def _kernel_dies(nb):
    _add_cell(nb, "import os\nos._exit(1)", after="covariance")


def _random_answer(nb):  # depends on the RNG: the seeded setup cell makes it repeatable
    _answer(
        nb,
        "center",
        "noise = 1e-3 if np.random.rand() < 0.55 else 0.0\nreturn x - x.mean(axis=0) + noise",
    )


def _stderr_in_test(nb):  # a warning and a C-level log line while a correct answer is tested
    _answer(
        nb,
        "center",
        'import os, warnings\nwarnings.warn("center: slow path")\n'
        'os.write(2, b"E0000 util.cc:131] oneDNN supports DT_INT64 only on AVX-512\\n")\n'
        "return x - x.mean(axis=0)",
    )


def _kill_parent(nb):  # the grader is out of reach: the sandbox has its own PID namespace
    _add_cell(
        nb,
        "import os, signal\ntry:\n    os.kill(os.getppid(), signal.SIGKILL)\nexcept OSError:\n    pass",
        after="setup",
    )


# student id -> (edits applied after the correct answers, or a special kind; expected score)
CASES = {
    "correct": ([], 10),
    "correct_2": ([], 10),
    "wrong_center": ([_wrong_center], 7),
    "wrong_cov": ([_biased_cov], 7),
    "wrong_two": ([_wrong_center, _biased_cov], 4),
    "wrong_hidden": ([_flipped_top], 6),
    "hardcoded": ([_hardcoded], 7),
    "random_answer": ([_random_answer], 7),
    "answer_raises": ([_answer_raises], 7),
    "syntax_error": ([_syntax_error], 7),
    "blank": ("release", 0),
    "edited_test": ([lambda nb: _edit_test(nb)], 7),
    "edited_test_checksum": ([lambda nb: _edit_test(nb, forge_checksum=True)], 7),
    "edited_points": ([_edit_points], 10),
    "edited_setup": ([_edit_setup], 7),
    "deleted_setup": ([lambda nb: _drop(nb, "setup")], 10),
    "deleted_test": ([lambda nb: _drop(nb, "test_covariance")], 7),
    "unmarked_test": ([_unlock_test], 7),
    "renamed_test": ([_rename_test], 7),
    "stripped_test_metadata": ([_strip_metadata], 7),
    "showtraceback_lambda": ([_showtraceback("lambda *args, **kwargs: None")], 4),
    "showtraceback_none": ([_showtraceback("None")], 4),
    "wrong_kernelspec": ([_set_kernelspec], 10),
    "stderr_in_test": ([_stderr_in_test], 10),
    "extra_notebook": ("extra", 10),
    "renamed_notebook": ("renamed", 0),
    "missing_notebook": ("missing", 0),
    "not_json": ("not_json", 0),
    "infinite_loop": ([_loop], 7),
    "infinite_loop_output": ([_loop_output], 7),
    "infinite_recursion": ([_recursion], 7),
    "huge_output": ([_huge_output], 10),
    "kernel_dies": ([_kernel_dies], 0),
    "runaway_notebook": ([_runaway], 0),
    "kills_parent": ([_kill_parent], 10),
    # a correct submission whose worker the test of resuming kills from outside
    "worker_killed": ([], 10),
}
# Students whose grading needs a kernel that runs into a limit (slow on purpose).
SLOW_CASES = ("infinite_loop", "infinite_loop_output", "runaway_notebook")


def released_notebook(root):
    """The student version, as ``nbgrader generate_assignment`` wrote it."""
    path = os.path.join(root, "exercises", ASSIGNMENT, ASSIGNMENT + ".ipynb")
    return nbformat.read(path, as_version=4)


def submission(root, case):
    """The notebook of one case, built from the released notebook; ``None`` for file cases."""
    edits = CASES[case][0]
    nb = released_notebook(root)
    if edits == "release":
        return nb
    src = source_notebook()
    _correct(src)
    answers = {
        c.metadata.nbgrader["grade_id"]: c.source
        for c in src.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    for edit in edits if isinstance(edits, list) else []:
        edit(nb)
    return nb


def make_class(root, n_students=None, cases=None):
    """Writes ``submitted/<student>/00_demo/`` for each case; returns {student: expected score}.

    ``cases`` picks case names (default: all); with ``n_students`` larger than the number of
    cases, the list is filled up with copies of the correct and wrong cases
    (``correct_003``, ...) so a benchmark can grade a class of any size.
    """
    names = list(cases or CASES)
    fill = [c for c in CASES if c.startswith(("correct", "wrong"))]
    students = {name: name for name in names}
    i = 0
    while n_students and len(students) < n_students:
        base = fill[i % len(fill)]
        students[f"{base}_{i:03d}"] = base
        i += 1
    expected = {}
    for student, case in students.items():
        folder = os.path.join(root, "submitted", student, ASSIGNMENT)
        os.makedirs(folder, exist_ok=True)
        kind = CASES[case][0]
        target = os.path.join(folder, ASSIGNMENT + ".ipynb")
        if kind == "missing":
            pass
        elif kind == "not_json":
            with open(target, "w") as f:
                f.write("{ this is not a notebook")
        elif kind == "renamed":
            nbformat.write(submission(root, "correct"), os.path.join(folder, "my_work.ipynb"))
        else:
            nbformat.write(submission(root, "correct" if kind == "extra" else case), target)
            if kind == "extra":
                with open(os.path.join(folder, "scratch.ipynb"), "w") as f:
                    json.dump(nbformat.v4.new_notebook(), f)
        expected[student] = float(CASES[case][1])
    return expected


if __name__ == "__main__":
    import sys

    folder = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="aekeras-demo-")
    scores = write_demo(folder, int(sys.argv[2]) if len(sys.argv) > 2 else None)
    with open(os.path.join(folder, "expected_scores.json"), "w") as f:
        json.dump(scores, f, indent=1)
    print(f"{folder}: assignment {ASSIGNMENT}, {len(scores)} submissions")
