"""Grading a real class (issue 7): hidden tests never reach a student, runaway notebooks are
stopped, a class is graded in parallel with nothing lost, and grades are repeatable.

The class is ``grading_demo``: a small NumPy assignment (a seeded locked setup cell,
three answers, visible and hidden tests, 10 points) and one submission per case an instructor
meets, each with the score it must get. It is graded twice, serially and with two workers (one
of which is killed mid-run and resumed); the tests below read those two runs.
"""

import contextlib
import glob
import os
import shutil
import threading
import time

import nbformat
import pytest

import aekeras_grader as grading
from tests import ROOT
from tests import grading_demo as demo

pytestmark = pytest.mark.grading

CELL_TIMEOUT = 6  # seconds per cell: stops the infinite loops
LIMIT = 40.0  # seconds per whole notebook: stops runaway_notebook (120 cells of 1 s)
ZERO_REASONS = {
    "missing_notebook": "the submission folder is empty",
    "renamed_notebook": "found: my_work.ipynb",
    "not_json": "not a notebook",
    "kernel_dies": "kernel died",
    "runaway_notebook": f"longer than the {LIMIT:g} s allowed for the whole notebook",
}
SOLUTIONS = sorted(glob.glob(os.path.join(ROOT, "solutions", "*", "*.ipynb")))


def scores(root, assignment=demo.ASSIGNMENT):
    """{student: {cell: (auto_score, needs_manual_grade)}} and totals from a course gradebook."""
    from nbgrader.api import Gradebook

    course = grading.runner.Course(root)
    cells, totals = {}, {}
    with Gradebook(course.db_url) as gb:
        for sub in gb.find_assignment(assignment).submissions:
            cells[sub.student.id] = {
                g.name: (g.auto_score, g.needs_manual_grade)
                for nb in sub.notebooks
                for g in nb.grades
            }
            totals[sub.student.id] = sub.score
    return cells, totals


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("grading") / "course")
    expected = demo.write_demo(root, config=os.path.join(ROOT, "nbgrader_config.py"))
    return root, expected


def _copy(course, name):
    root = os.path.join(os.path.dirname(course[0]), name)
    shutil.copytree(course[0], root)
    return root


@pytest.fixture(scope="module")
def serial(course):
    root = _copy(course, "serial")
    results = grading.grade(
        demo.ASSIGNMENT, root, jobs=1, limit=LIMIT, cell_timeout=CELL_TIMEOUT, log=print
    )
    return root, results


def _kill_worker_of(student, stop):
    """Kills, once, the grading worker of ``student`` (as a crash or an instructor would)."""
    import psutil

    while not stop.is_set():
        for proc in psutil.process_iter():
            try:
                env = proc.environ()
            except psutil.Error:
                continue
            # the worker is a fork: its kernel and judge, which it started, show the variable
            if env.get(grading.runner.STUDENT_ENV) == student and proc.pid != os.getpid():
                with contextlib.suppress(psutil.Error):
                    proc.parent().kill()
                    return
        time.sleep(0.05)


@pytest.fixture(scope="module")
def parallel(course):
    """Two workers; the worker of ``worker_killed`` is killed from outside once, then a resume."""
    root = _copy(course, "parallel")
    work = os.path.join(root, "..", "parallel-work")
    kwargs = dict(jobs=2, limit=LIMIT, cell_timeout=CELL_TIMEOUT, log=print, workdir=work)
    stop = threading.Event()
    killer = threading.Thread(target=_kill_worker_of, args=("worker_killed", stop), daemon=True)
    killer.start()
    try:
        first = grading.grade(demo.ASSIGNMENT, root, **kwargs)
    finally:
        stop.set()
        killer.join()
    after_kill = scores(root)
    second = grading.grade(demo.ASSIGNMENT, root, **kwargs)
    return root, first, after_kill, second


# --- 2. every case graded right -------------------------------------------------------------


@pytest.mark.parametrize("student", list(demo.CASES))
def test_case_score(serial, course, student):
    root, results = serial
    result = results[student]
    assert result.recorded, f"{student}: {result.status} {result.reason} (log {result.log})"
    cells, totals = scores(root)
    assert totals[student] == course[1][student], (student, cells[student])
    assert not any(needs for _, needs in cells[student].values()), "left to manual grading"


def test_deleted_test_cell_scores_zero_not_manual(serial):
    cells, _ = scores(serial[0])
    assert cells["deleted_test"]["test_covariance"] == (0.0, False)
    assert cells["deleted_test"]["test_center"] == (3.0, False)


@pytest.mark.parametrize("student", sorted(ZERO_REASONS))
def test_zero_has_its_reason_in_feedback(serial, student):
    root, results = serial
    assert results[student].status == "zero"
    assert ZERO_REASONS[student] in results[student].reason
    html = os.path.join(root, "feedback", student, demo.ASSIGNMENT, demo.ASSIGNMENT + ".html")
    with open(html) as f:
        text = grading.html_text(f.read())
    assert ZERO_REASONS[student] in text
    assert "Score: 0.0 / 10.0" in text


def test_huge_output_is_bounded(serial):
    root = serial[0]
    for step, ext in (("autograded", ".ipynb"), ("feedback", ".html")):
        path = os.path.join(root, step, "huge_output", demo.ASSIGNMENT, demo.ASSIGNMENT + ext)
        assert os.path.getsize(path) < 1_000_000, step


def _run_cells(sources, timeout=60):
    """Runs code cells in a kernel with the grading output stream; returns the notebook."""
    from nbclient import NotebookClient

    from aekeras_grader.preprocessors import BOUNDED_STREAM, OUTSTREAM

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Py"}
    client = NotebookClient(
        nb,
        timeout=timeout,
        interrupt_on_timeout=True,
        allow_errors=True,
        extra_arguments=[f"--{OUTSTREAM}={BOUNDED_STREAM}"],
    )
    client.execute()
    return nb


def test_kernel_bounds_a_flood_of_flushed_prints():
    """``print(..., flush=True)`` in a loop: one message per line, unless the kernel coalesces
    them (thousands a second otherwise, which the grader cannot keep up with)."""
    from aekeras_grader.kernel import BoundedOutStream

    nb = _run_cells(
        [
            "import time\nt = time.time()\n"
            "while time.time() - t < 3:\n    print('still centering', flush=True)",
            "for i in range(3000):\n    print(i, flush=True)\nprint('done')",
            "import sys\nprint(type(sys.stdout).__name__)",
        ]
    )
    flood, counted, kind = (cell.outputs for cell in nb.cells)
    assert kind[0].text.strip() == "BoundedOutStream"
    # max_flushes immediate ones, as many timed flushes they had scheduled, then 5 a second
    # (about 15 000 messages without the bound).
    assert len(flood) < 2 * BoundedOutStream.max_flushes + 3 / 0.2 + 10, len(flood)
    lines = "".join(o.text for o in counted).split()
    assert lines == [*map(str, range(3000)), "done"]  # nothing lost, in order


def test_kernel_caps_the_characters_of_a_cell(monkeypatch):
    from aekeras_grader.kernel import MAX_CHARS_ENV, TRUNCATED

    monkeypatch.setenv(MAX_CHARS_ENV, "1000")
    nb = _run_cells(["print('x' * 600)\nprint('y' * 600)\nprint('z')", "print('next cell')"])
    first = "".join(o.text for o in nb.cells[0].outputs)
    assert first == "x" * 600 + "\n" + TRUNCATED
    assert nb.cells[1].outputs[0].text == "next cell\n"


def test_output_the_grader_cannot_read_is_the_students_zero(tmp_path):
    """Should an IOPub timeout still happen, it is recorded as a 0 with its reason, not as
    an unrecorded error of the run."""
    log = tmp_path / "student.log"
    log.write_text(
        "nbclient.exceptions.CellTimeoutError: A cell timed out while it was being executed, "
        "after 30 seconds.\nThe message was: Timeout waiting for IOPub output.\n"
    )
    assert "endless print loop" in grading.runner._student_failure(str(log))
    log.write_text("sqlite3.OperationalError: database is locked\n")
    assert grading.runner._student_failure(str(log)) is None


def test_kernel_stream_imports_no_nbgrader():
    """Every graded notebook starts a kernel that imports the stream: nbgrader (1.5 s of
    imports, twice the CPU time of grading a submission) must stay out of it."""
    import subprocess
    import sys

    code = (
        "import sys, aekeras_grader.kernel\n"
        "heavy = ('nbgrader', 'nbconvert', 'keras')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- 3. the whole-notebook limit --------------------------------------------------------------


def test_runaway_notebook_is_stopped_and_the_run_goes_on(serial):
    results = list(serial[1].values())
    runaway = serial[1]["runaway_notebook"]
    assert runaway.status == "zero" and runaway.seconds < LIMIT + 30
    after = results[results.index(runaway) + 1 :]
    assert after and all(r.recorded for r in after)


# --- 4. a class in parallel -------------------------------------------------------------------


def test_parallel_grades_equal_serial_grades(serial, parallel):
    assert scores(parallel[0]) == scores(serial[0])


def test_killed_worker_loses_no_other_grade_and_resumes(serial, parallel):
    root, first, after_kill, second = parallel
    assert first["worker_killed"].status == "interrupted"
    assert all(r.recorded for s, r in first.items() if s != "worker_killed")
    serial_cells, _ = scores(serial[0])
    expected = {s: c for s, c in serial_cells.items() if s != "worker_killed"}
    assert {s: c for s, c in after_kill[0].items() if s != "worker_killed"} == expected
    assert second["worker_killed"].status == "graded"
    assert {s for s, r in second.items() if r.status != "skipped"} == {"worker_killed"}


def test_grades_csv_has_every_student(parallel, course):
    with open(os.path.join(parallel[0], "grades.csv")) as f:
        rows = [line.split(",") for line in f.read().strip().split("\n")]
    header, rows = rows[0], rows[1:]
    score = {r[header.index("student_id")]: float(r[header.index("score")]) for r in rows}
    assert score == course[1]


# --- 5. seeded --------------------------------------------------------------------------------


def test_same_submission_graded_twice_scores_the_same(serial, course):
    root = serial[0]
    before = scores(root)
    again = grading.grade(
        demo.ASSIGNMENT,
        root,
        jobs=2,
        cell_timeout=CELL_TIMEOUT,
        force=True,
        feedback=False,
        students=["random_answer", "wrong_hidden"],
        log=print,
    )
    assert {r.status for r in again.values()} == {"graded"}
    after = scores(root)
    assert after == before
    assert after[1]["random_answer"] == course[1]["random_answer"]


# --- 1. feedback without hidden tests -----------------------------------------------------------


def test_feedback_has_no_hidden_test_line(serial, parallel):
    for root in (serial[0], parallel[0]):
        hidden = grading.runner.source_hidden_lines(demo.ASSIGNMENT, root)
        assert len(hidden) >= 6
        files = glob.glob(os.path.join(root, "feedback", "*", demo.ASSIGNMENT, "*"))
        assert len(files) >= 30
        assert grading.find_leaks(files, hidden) == []
        assert grading.check_feedback(demo.ASSIGNMENT, root) == []


def test_feedback_keeps_visible_tests_and_cuts_hidden_errors(serial):
    path = os.path.join(serial[0], "feedback", "wrong_hidden", demo.ASSIGNMENT, "00_demo.html")
    with open(path) as f:
        text = grading.html_text(f.read())
    assert "np.testing.assert_allclose(np.linalg.norm(u), 1.0, rtol=1e-6)" in text
    assert "AssertionError" in text
    assert "Traceback" not in text and "----&gt;" not in text and "---->" not in text


def test_leak_check_catches_what_nbgrader_leaves(serial):
    """The check is not vacuous: the instructor's autograded record and a plain nbconvert
    rendering of it (what nbgrader's feedback shows) both hold hidden lines."""
    from nbconvert import HTMLExporter

    root = serial[0]
    hidden = grading.runner.source_hidden_lines(demo.ASSIGNMENT, root)
    record = os.path.join(root, "autograded", "wrong_hidden", demo.ASSIGNMENT, "00_demo.ipynb")
    assert grading.find_leaks([record], hidden)
    body, _ = HTMLExporter().from_filename(record)
    rendered = os.path.join(os.path.dirname(root), "plain.html")
    with open(rendered, "w") as f:
        f.write(body)
    leaks = {line for _, line in grading.find_leaks([rendered], hidden)}
    assert "assert np.allclose(top_component(x_hidden_top), u_ref, atol=1e-6)" in leaks


def _worst_case(nb):
    """Outputs that would leak every hidden line: tracebacks, warnings and prints quoting them."""
    hidden = sorted(grading.hidden_lines(nb))
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        quoted = [f"\x1b[0;32m----> {i}\x1b[0m {line}" for i, line in enumerate(hidden, 1)]
        cell.outputs = [
            nbformat.v4.new_output("stream", name="stderr", text="\n".join(hidden)),
            nbformat.v4.new_output("stream", name="stdout", text="\n".join(hidden)),
            nbformat.v4.new_output(
                "error", ename="AssertionError", evalue="", traceback=["Traceback", *quoted]
            ),
        ]
    return nb


@pytest.mark.parametrize(
    "path",
    SOLUTIONS or [pytest.param(None, marks=pytest.mark.skip("no solutions/ yet"))],
    ids=lambda p: p and os.path.relpath(p, ROOT),
)
def test_real_assignment_feedback_has_no_hidden_line(path, tmp_path):
    from nbconvert import HTMLExporter

    nb = nbformat.read(path, as_version=4)
    hidden = grading.hidden_lines(nb)
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert graded, "no test cells"
    if not hidden:
        pytest.skip("no hidden tests")
    exporter = HTMLExporter()
    exporter.register_preprocessor(grading.HideHiddenTests(), enabled=True)
    body, _ = exporter.from_notebook_node(_worst_case(nb))
    (tmp_path / "feedback.html").write_text(body)
    assert grading.find_leaks([str(tmp_path / "feedback.html")], hidden) == []
    unprotected, _ = HTMLExporter().from_notebook_node(
        _worst_case(nbformat.read(path, as_version=4))
    )
    (tmp_path / "plain.html").write_text(unprotected)
    assert grading.find_leaks([str(tmp_path / "plain.html")], hidden)


def test_repo_config_uses_the_grading_preprocessors():
    """nbgrader_config.py wires them in, so formgrader's feedback is safe too."""
    from traitlets.config.loader import PyFileConfigLoader

    c = PyFileConfigLoader("nbgrader_config.py", path=ROOT).load_config()
    hint = "nbgrader_config.py should call aekeras_grader.configure(c)"
    assert grading.HideHiddenTests in c.GenerateFeedback.get("preprocessors", []), hint
    assert grading.RestoreCells in c.Autograde.get("sanitize_preprocessors", []), hint
    assert c.OverwriteCells.add_missing_cells is True
