"""The graded exercises: released as nbgrader makes them, leaking nothing, grading as they should.

Assignments are found by globbing ``solutions/*``; each is ``solutions/<id>/<id>.ipynb`` and is
released into ``exercises/<id>/`` by ``make exercises`` (``tools/release_exercises.py``).

* Form and leaks (no nbgrader run): every assignment has the agreed cell layout, and no file of
  ``exercises/`` holds a solution or a line of a hidden test.
* Grading (``-m grading``): in a temporary course with the repository's ``nbgrader_config.py``,
  nbgrader regenerates the release (it must equal the committed one) and autogrades, per
  assignment in ONE run, three students: the solution (full marks), the released notebook
  untouched (0) and the solution with one plausible mistake (partial marks). The first
  assignment's run also grades broken submissions -- a cell that raises, an infinite loop, a
  kernel that dies, tampered test cells, a misnamed notebook, a file that is not JSON -- beside
  the others, whose grades must survive. The whole instructor workflow (generate, release,
  fetch and submit as two students, collect, autograde, feedback, CSV export) runs once through
  nbgrader's own commands. The autograde runs go two at a time, one thread per kernel.

Only the assignments whose grading tests are selected are graded, so
``pytest tests/test_exercises.py -k 01_pca`` grades one assignment.

Adding an assignment: write ``solutions/<id>/<id>.ipynb``, run ``make exercises``, and add a
plausible mistake for it to ``MISTAKES``.
"""

import ast
import concurrent.futures
import copy
import csv
import json
import os
import subprocess
import sys
import time

import pytest

import aekeras_grader as grading
from tests import nbgrader_helpers as nh

ASSIGNMENTS = nh.ASSIGNMENTS
FIRST = ASSIGNMENTS[0] if ASSIGNMENTS else None
# Per-cell limit of the run with the broken submissions: it ends the infinite loop.
BAD_CELL_TIMEOUT = int(os.environ.get("AEKERAS_GRADING_CELL_TIMEOUT", "60"))
GRADING_JOBS = int(os.environ.get("AEKERAS_GRADING_JOBS", "2"))

# One plausible mistake per assignment: nh.MISTAKES.
MISTAKES = nh.MISTAKES
NBGRADER_KEYS = {"grade", "grade_id", "locked", "schema_version", "solution", "task"}


def _id_set(items, name):
    return {
        item.callspec.params["assignment"]
        for item in items
        if getattr(item, "originalname", None) == name and hasattr(item, "callspec")
    }


# --------------------------------------------------------------------------- form and leaks


def test_every_solution_is_released():
    released = sorted(
        name
        for name in os.listdir(os.path.join(nh.ROOT, "exercises"))
        if os.path.isdir(os.path.join(nh.ROOT, "exercises", name))
    )
    assert released == ASSIGNMENTS, (
        "exercises/ is out of date with solutions/: run `make exercises`"
    )


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_assignment_form(assignment):
    folder = os.path.join(nh.ROOT, "solutions", assignment)
    files = sorted(
        os.path.relpath(os.path.join(d, f), folder)
        for d, dirs, names in os.walk(folder)
        for f in names
        if ".ipynb_checkpoints" not in d
    )
    assert files == [f"{assignment}.ipynb"], (
        f"solutions/{assignment}/ must hold only {assignment}.ipynb: nbgrader copies every other "
        f"file into the release. Found {files}"
    )
    nb = nh.read_notebook(nh.solution_path(assignment))
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    cells = nb["cells"]
    grade_ids = [nh.nbgrader_meta(c).get("grade_id") for c in cells if nh.nbgrader_meta(c)]
    assert len(grade_ids) == len(set(grade_ids)), "grade_ids must be unique"
    for cell in cells:
        meta = nh.nbgrader_meta(cell)
        if not meta:
            continue
        expected = NBGRADER_KEYS | ({"points"} if meta.get("grade") else set())
        assert set(meta) == expected, (meta.get("grade_id"), sorted(meta))
        assert meta["schema_version"] == 3 and meta["task"] is False
    title, setup = cells[0], cells[1]
    assert title["cell_type"] == "markdown" and nh.nbgrader_meta(title).get("locked")
    setup_meta = nh.nbgrader_meta(setup)
    assert setup["cell_type"] == "code" and setup_meta.get("locked"), "cell 2 is the locked setup"
    assert not setup_meta.get("grade") and not setup_meta.get("solution")
    assert "keras.utils.set_random_seed(" in nh.source(setup)
    assert "np.random.seed(" in nh.source(setup)
    # TF32 off and deterministic ops, after the seeds: the same score on CPU and GPU
    assert "numerics.pin_numerics()" in nh.source(setup)

    answers, tests = nh.cells_of(nb, "answer"), nh.cells_of(nb, "test")
    assert 3 <= len(tests) <= 6, f"3-5 graded parts expected, found {len(tests)} test cells"
    total = sum(nh.nbgrader_meta(c)["points"] for c in tests)
    assert 8 <= total <= 12, f"about 10 points expected, found {total}"
    for cell in answers:
        meta, text = nh.nbgrader_meta(cell), nh.source(cell)
        assert not meta["locked"] and not meta["grade"], meta["grade_id"]
        assert "### BEGIN SOLUTION" in text and "### END SOLUTION" in text, meta["grade_id"]
    for cell in tests:
        meta, text = nh.nbgrader_meta(cell), nh.source(cell)
        assert meta["locked"] and not meta["solution"] and meta["points"] > 0, meta["grade_id"]
        visible_source, hidden = grading.split_hidden(text)
        visible = visible_source.splitlines()
        assert any(line.strip().startswith("assert") for line in visible), (
            f"{meta['grade_id']}: visible asserts teach what is expected"
        )
        assert any(line.strip() for line in hidden), f"{meta['grade_id']}: hidden tests decide"
        last = ast.parse(text).body[-1]
        is_print = isinstance(last, ast.Expr) and isinstance(last.value, ast.Call)
        assert not isinstance(last, ast.Expr) or (
            is_print and getattr(last.value.func, "id", "") == "print"
        ), (
            f"{meta['grade_id']}: a test cell must not end with a value (nbgrader reads partial credit)"
        )


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_leaks_nothing(assignment):
    """No file of exercises/<id>/ holds a solution marker or a line of any hidden test."""
    folder = os.path.join(nh.ROOT, "exercises", assignment)
    assert os.path.isdir(folder), f"exercises/{assignment} is missing: run `make exercises`"
    solutions = {a: nh.read_notebook(nh.solution_path(a)) for a in ASSIGNMENTS}
    own_visible = set()
    for cell in solutions[assignment]["cells"]:
        own_visible.update(
            line.strip() for line in grading.split_hidden(nh.source(cell))[0].splitlines()
        )
    hidden = set().union(*(nh.hidden_only_lines(nb) for nb in solutions.values())) - own_visible
    assert nh.hidden_only_lines(solutions[assignment]), "the solution has no hidden test lines"
    checked = 0
    for dirpath, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(dirpath, name)
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            for marker in nh.MARKERS:
                assert marker not in text, f"{path} contains {marker!r}"
            lines = text.splitlines()
            if name.endswith(".ipynb"):
                nb = json.loads(text)
                lines = [
                    line
                    for cell in nb["cells"]
                    for part in [nh.source(cell)] + [json.dumps(o) for o in cell.get("outputs", [])]
                    for line in part.splitlines()
                ]
            leaked = sorted({line.strip() for line in lines} & hidden)
            assert not leaked, f"{path} shows hidden test lines: {leaked[:5]}"
            checked += 1
    assert checked, f"exercises/{assignment} holds no file"


# --------------------------------------------------------------------------- grading


def _blank_answer(cell):
    cell = copy.deepcopy(cell)
    cell["source"] = "# YOUR CODE HERE\nraise NotImplementedError()"
    return cell


def broken_submissions(assignment, solution):
    """Student id -> (notebook, raw text, file name): broken submissions made from ``solution``.

    Student ids sort so that the broken ones are graded before the control student.
    """
    answers = [i for i, c in enumerate(solution["cells"]) if nh.nbgrader_meta(c).get("solution")]
    tests = [i for i, c in enumerate(solution["cells"]) if nh.nbgrader_meta(c).get("grade")]
    out = {}

    nb = copy.deepcopy(solution)
    nb["cells"][answers[0]]["source"] = "import os\nos._exit(1)"
    out["s1_kernel_dies"] = (nb, None, None)

    out["s2_not_json"] = (None, "this is not a notebook {", None)

    out["s3_renamed"] = (solution, None, f"{assignment} (copy).ipynb")

    nb = copy.deepcopy(solution)
    nb["cells"][answers[0]]["source"] = 'raise RuntimeError("a bug in my code")'
    out["s4_raises"] = (nb, None, None)

    nb = copy.deepcopy(solution)
    cell = nb["cells"][answers[-1]]
    # sleeps rather than spins, so that it does not slow down the run graded beside it
    cell["source"] = "import time\n\nwhile True:\n    time.sleep(0.1)\n" + nh.source(cell)
    out["s5_loops"] = (nb, None, None)

    # Wrong answers (the stubs) to parts 1 and 2, whose test cells the student then deletes
    # and rewrites to pass.
    nb = copy.deepcopy(solution)
    nb["cells"][answers[0]] = _blank_answer(nb["cells"][answers[0]])
    nb["cells"][answers[1]] = _blank_answer(nb["cells"][answers[1]])
    nb["cells"][tests[1]]["source"] = "pass"
    del nb["cells"][tests[0]]
    out["s6_tampered"] = (nb, None, None)

    out["s9_control"] = (solution, None, None)
    return out


def _grade_ids(assignment):
    nb = nh.read_notebook(nh.solution_path(assignment))
    return [nh.nbgrader_meta(c)["grade_id"] for c in nh.cells_of(nb, "test")]


def _cli(args, cwd, env, timeout=900):
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"`nbgrader {' '.join(args)}` failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def instructor_workflow(base, assignment):
    """generate -> release -> fetch + submit (ada: the solution, bob: untouched) -> collect ->
    autograde -> generate_feedback -> export, each through nbgrader's command line."""
    start = time.monotonic()
    course = nh.Course(os.path.join(base, "course"), [assignment])
    exchange = os.path.join(base, "exchange")
    os.makedirs(exchange)
    ex = f"--Exchange.root={exchange}"
    env = nh.nbgrader_env()
    _cli(["generate_assignment", assignment], course.root, env)
    _cli(["release_assignment", assignment, ex], course.root, env)
    for student in ("ada", "bob"):
        home, student_env = nh.student_workspace(os.path.join(base, "students"), student)
        _cli(["fetch_assignment", assignment, "--course=aekeras", ex], home, student_env)
        fetched = os.path.join(home, assignment, f"{assignment}.ipynb")
        assert os.path.exists(fetched), f"{student} did not fetch {fetched}"
        if student == "ada":
            with open(fetched, "w", encoding="utf-8") as f:
                json.dump(nh.read_notebook(nh.solution_path(assignment, course.root)), f, indent=1)
        _cli(
            ["submit", assignment, "--course=aekeras", ex, f"--student={student}"],
            home,
            student_env,
        )
    _cli(["collect", assignment, ex], course.root, env)
    _cli(["autograde", assignment], course.root, env)
    _cli(["generate_feedback", assignment], course.root, env)
    grades_csv = os.path.join(course.root, "grades.csv")
    _cli(["export", f"--to={grades_csv}"], course.root, env)
    with open(grades_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    feedback = {
        student: os.path.join(course.root, "feedback", student, assignment, f"{assignment}.html")
        for student in ("ada", "bob")
    }
    return {"rows": rows, "feedback": feedback, "seconds": time.monotonic() - start}


class Graded:
    """What the module's nbgrader runs produced."""

    def __init__(self):
        self.course = None
        self.grades = {}  # assignment -> read_grades() of its run
        self.logs = {}
        self.seconds = {}  # assignment -> (wall seconds of its autograde run, submissions)
        self.workflow = None
        self.errors = {}

    def grade(self, student, assignment):
        key = (student, assignment)
        grades = self.grades.get(assignment, {})
        assert key in grades, (
            f"no grade for {student} on {assignment}; autograde log:\n"
            + self.logs.get(assignment, "")[-3000:]
        )
        return grades[key]


@pytest.fixture(scope="module")
def graded(request, tmp_path_factory):
    items = request.session.items
    drift = _id_set(items, "test_release_matches_solutions")
    to_grade = set()
    for name in (
        "test_solution_scores_full_marks",
        "test_released_notebook_scores_zero",
        "test_plausible_mistake_scores_partial",
    ):
        to_grade |= _id_set(items, name)
    # doctest items of aekeras/ have no originalname
    names = {getattr(item, "originalname", None) for item in items}
    bad = FIRST if "test_bad_submissions_graded_without_losing_others" in names else None
    if bad:
        to_grade.add(bad)
    run_workflow = "test_instructor_workflow" in names and FIRST is not None

    result = Graded()
    base = str(tmp_path_factory.mktemp("nbgrader"))
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=GRADING_JOBS)
    workflow = (
        pool.submit(instructor_workflow, os.path.join(base, "workflow"), FIRST)
        if run_workflow
        else None
    )
    ids = sorted(drift | to_grade)
    course = result.course = nh.Course(os.path.join(base, "course"), ids)
    if ids:
        course.generate()

    def grade(assignment):
        solution = nh.read_notebook(nh.solution_path(assignment, course.root))
        course.submit("solution", assignment, solution)
        course.submit(
            "released", assignment, nh.read_notebook(nh.release_path(assignment, course.root))
        )
        if assignment in MISTAKES:
            course.submit("mistake", assignment, nh.substitute(solution, *MISTAKES[assignment]))
        timeout = None
        if assignment == bad:
            for student, (nb, raw, name) in broken_submissions(assignment, solution).items():
                course.submit(student, assignment, nb, raw=raw, name=name)
            timeout = BAD_CELL_TIMEOUT
        students = len(os.listdir(os.path.join(course.root, "submitted")))
        db = course.copy_db(f"gradebook-{assignment}.db")
        run, seconds = course.autograde(assignment, db=db, cell_timeout=timeout)
        return assignment, run, seconds, students, nh.read_grades(db)

    # the slowest runs first: the one with the broken submissions, then the trained models
    order = sorted(to_grade, key=lambda a: (a != bad, a))
    futures = [pool.submit(grade, a) for a in order]
    for future in futures:
        assignment, run, seconds, _, grades = future.result()
        n = sum(1 for (_, a) in grades if a == assignment)
        result.grades[assignment] = grades
        result.logs[assignment] = f"exit code {run.returncode}\n{run.stdout}\n{run.stderr}"
        result.seconds[assignment] = (seconds, n)
        print(
            f"\nautograde {assignment}: {n} submissions in {seconds:.0f} s "
            f"({seconds / max(n, 1):.1f} s per submission, "
            f"profile {os.environ.get('AEKERAS_PROFILE', 'auto')})"
        )
    if workflow is not None:
        try:
            result.workflow = workflow.result()
            print(f"\ninstructor workflow: {result.workflow['seconds']:.0f} s")
        except Exception as err:  # reported by the workflow test
            result.errors["workflow"] = err
    pool.shutdown()
    return result


@pytest.mark.grading
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_matches_solutions(graded, assignment):
    """exercises/<id>/ is exactly what `nbgrader generate_assignment` makes from solutions/ now."""
    fresh_dir = os.path.join(graded.course.root, "exercises", assignment)
    committed_dir = os.path.join(nh.ROOT, "exercises", assignment)
    hint = "exercises/ is out of date: run `make exercises` and commit the result"
    assert os.path.isdir(committed_dir), hint
    assert sorted(os.listdir(fresh_dir)) == sorted(os.listdir(committed_dir)), hint
    fresh = nh.read_notebook(os.path.join(fresh_dir, f"{assignment}.ipynb"))
    committed = nh.read_notebook(os.path.join(committed_dir, f"{assignment}.ipynb"))

    def shape(nb):
        return [(c["cell_type"], nh.source(c), c.get("metadata", {})) for c in nb["cells"]]

    assert committed["metadata"] == fresh["metadata"], hint
    assert len(shape(committed)) == len(shape(fresh)), hint
    for index, (old, new) in enumerate(zip(shape(committed), shape(fresh))):
        assert old == new, f"cell {index} differs. {hint}"


@pytest.mark.grading
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_scores_full_marks(graded, assignment):
    grade = graded.grade("solution", assignment)
    failed = {k: v for k, v in grade["cells"].items() if v[0] is None or v[1]}
    assert grade["max_score"] > 0
    assert grade["score"] == grade["max_score"], (grade, failed, graded.logs[assignment][-3000:])


@pytest.mark.grading
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_released_notebook_scores_zero(graded, assignment):
    grade = graded.grade("released", assignment)
    assert grade["score"] == 0, grade
    assert all(score == 0 and not manual for score, manual in grade["cells"].values()), grade


@pytest.mark.grading
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_plausible_mistake_scores_partial(graded, assignment):
    assert assignment in MISTAKES, f"add a plausible mistake for {assignment} to MISTAKES"
    grade = graded.grade("mistake", assignment)
    assert 0 < grade["score"] < grade["max_score"], grade


@pytest.mark.grading
@pytest.mark.skipif(FIRST is None, reason="no assignment in solutions/")
def test_bad_submissions_graded_without_losing_others(graded):
    """One autograde run of many students, some of whose submissions are broken."""
    a = FIRST
    grades = graded.grades[a]
    ids = _grade_ids(a)
    log = graded.logs[a][-4000:]

    def score(student):
        grade = grades.get((student, a))
        return None if grade is None else (grade["score"] or 0)

    full = graded.grade("solution", a)["max_score"]
    # the other students, graded before and after the broken ones, keep their grades
    for student in ("s9_control", "solution"):
        assert score(student) == full, (student, grades.get((student, a)), log)
    assert score("released") == 0
    assert 0 < score("mistake") < full
    # a kernel that dies, a file that is not a notebook and a misnamed notebook: plain
    # nbgrader scores no cell and leaves them to manual grading (make grade records a 0 with
    # the reason instead: tests/test_grading.py)
    for student in ("s1_kernel_dies", "s2_not_json", "s3_renamed"):
        grade = grades.get((student, a))
        assert grade is not None and grade["score"] == 0, (student, grade)
        assert all(auto is None and manual for auto, manual in grade["cells"].values()), grade
    # a cell that raises costs the parts that need it, not the run
    assert score("s4_raises") < full, grades.get(("s4_raises", a))
    # the infinite loop is ended by the per-cell timeout; the parts before it still count
    assert 0 < score("s5_loops") < full, (grades.get(("s5_loops", a)), log)
    # a deleted test cell is put back and run, an edited one restored: both score 0 here
    cells = graded.grade("s6_tampered", a)["cells"]
    for grade_id in ids[:2]:
        assert cells[grade_id] == (0, False), (grade_id, cells[grade_id])


@pytest.mark.grading
@pytest.mark.skipif(FIRST is None, reason="no assignment in solutions/")
def test_instructor_workflow(graded):
    if "workflow" in graded.errors:
        raise graded.errors["workflow"]
    workflow = graded.workflow
    rows = {row["student_id"]: row for row in workflow["rows"] if row["assignment"] == FIRST}
    assert set(rows) == {"ada", "bob"}, workflow["rows"]
    assert float(rows["ada"]["score"]) == float(rows["ada"]["max_score"]) > 0, rows["ada"]
    assert float(rows["bob"]["score"]) == 0, rows["bob"]
    for student, path in workflow["feedback"].items():
        assert os.path.exists(path), f"no feedback for {student}: {path}"
