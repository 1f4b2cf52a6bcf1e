"""A class graded on a Dask cluster (issue 15): the same grades as the local workers, and a
worker killed mid-grade loses and doubles nothing.

The class is two students of ``01_pca``, built as ``tests/test_exercises.py`` builds them:
the solution (full marks) and the solution with its plausible mistake (partial marks); the
release's 0 is checked there. It is graded twice from the same ungraded course: by the local
workers (``jobs=2``) and on a ``distributed.LocalCluster`` of two worker processes, one of which
is killed while it grades; Dask gives that submission to a worker again.
"""

import contextlib
import csv
import itertools
import os
import shutil
import threading
import time

import psutil
import pytest

import aekeras_grader as grading
from aekeras_grader import cluster
from tests import nbgrader_helpers as nh
from tests.nbgrader_helpers import MISTAKES

pytestmark = pytest.mark.grading

ASSIGNMENT = "01_pca"
LIMIT = 900.0  # seconds per notebook: generous, the machine running the tests may be busy
STUDENTS = ("ada_solution", "cy_mistake")
KILLED = "ada_solution"  # whose worker is killed while it grades


def scores(root):
    """{student: {cell: (auto_score, needs_manual_grade)}}, totals, and submissions per
    student in the course gradebook."""
    from nbgrader.api import Gradebook

    course = grading.runner.Course(root)
    cells, totals, count = {}, {}, {}
    with Gradebook(course.db_url) as gb:
        for sub in gb.find_assignment(ASSIGNMENT).submissions:
            student = sub.student.id
            count[student] = count.get(student, 0) + 1
            cells[student] = {
                g.name: (g.auto_score, g.needs_manual_grade)
                for nb in sub.notebooks
                for g in nb.grades
            }
            totals[student] = sub.score
    return cells, totals, count


@pytest.fixture(scope="module")
def ungraded(tmp_path_factory):
    """A course with the two submissions, not graded yet."""
    root = os.path.join(str(tmp_path_factory.mktemp("cluster")), "ungraded")
    course = nh.Course(root, [ASSIGNMENT])
    solution = nh.read_notebook(nh.solution_path(ASSIGNMENT, root))
    course.submit("ada_solution", ASSIGNMENT, solution)
    course.submit("cy_mistake", ASSIGNMENT, nh.substitute(solution, *MISTAKES[ASSIGNMENT]))
    return root


def _copy(root, name):
    target = os.path.join(os.path.dirname(root), name)
    shutil.copytree(root, target)
    return target


@pytest.fixture(scope="module")
def local(ungraded):
    root = _copy(ungraded, "local")
    results = grading.grade(ASSIGNMENT, root, jobs=2, limit=LIMIT, env=nh.SINGLE_THREAD)
    return root, results


def _kill_dask_worker_of(student, stop, killed):
    """Kills, once, the Dask worker process grading ``student`` (its nanny starts a new one).

    The worker is the ancestor of the student's kernel or judge whose parent is this process
    (a ``LocalCluster`` runs its nannies here); the run id and scratch course of the killed
    grading are kept.
    """
    me = os.getpid()
    while not stop.is_set():
        for proc in psutil.process_iter():
            try:
                env = proc.environ()
                if env.get(grading.runner.STUDENT_ENV) != student:
                    continue
                worker = proc
                while worker.ppid() != me:
                    worker = worker.parent()
                    if worker is None:
                        break
                    if "aekeras_grader.cluster" in worker.cmdline():
                        killed["scratch"] = worker.cmdline()[-1]  # its scratch course
                if worker is None or worker.pid == me:
                    continue
                killed["run"] = env.get(grading.runner.RUN_ENV)
                time.sleep(1.0)  # mid-grade: the kernel runs the notebook
                worker.kill()
                killed["pid"] = worker.pid
                return
            except psutil.Error:
                continue
        time.sleep(0.1)


def _marked(run_id):
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.environ().get(grading.runner.RUN_ENV) == run_id:
                found.append(proc.pid)
    return found


@pytest.fixture(scope="module")
def on_cluster(ungraded):
    from distributed import LocalCluster

    root = _copy(ungraded, "on_cluster")
    stop, killed = threading.Event(), {}
    killer = threading.Thread(target=_kill_dask_worker_of, args=(KILLED, stop, killed), daemon=True)
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as dask_cluster:
        killer.start()
        try:
            results = grading.grade(
                ASSIGNMENT,
                root,
                limit=LIMIT,
                env=nh.SINGLE_THREAD,
                scheduler=dask_cluster.scheduler_address,
            )
        finally:
            stop.set()
            killer.join()
    return root, results, killed


def test_cluster_grades_equal_local_grades(local, on_cluster):
    local_cells, local_totals, _ = scores(local[0])
    cells, totals, count = scores(on_cluster[0])
    assert cells == local_cells
    assert totals == local_totals
    full = max(local_totals.values())
    assert local_totals["ada_solution"] == full > local_totals["cy_mistake"] > 0
    assert count == {s: 1 for s in STUDENTS}, "one submission per student, none doubled"
    assert all(r.status == "graded" for r in on_cluster[1].values()), on_cluster[1]


def test_killed_worker_is_retried_and_leaves_nothing_behind(on_cluster):
    root, results, killed = on_cluster
    assert killed.get("pid"), "the worker grading the student was never seen, so never killed"
    assert results[KILLED].status == "graded" and results[KILLED].score > 0
    for _ in range(60):  # the killed grading's kernel and judge ended with their worker
        if not _marked(killed["run"]) and not os.path.exists(killed["scratch"]):
            break
        time.sleep(0.5)
    assert _marked(killed["run"]) == []
    assert not os.path.exists(killed["scratch"]), "the killed grading's scratch course is left"


def test_the_client_writes_autograded_feedback_and_csv(local, on_cluster):
    for root in (local[0], on_cluster[0]):
        for student in STUDENTS:
            folder = os.path.join(root, "autograded", student, ASSIGNMENT)
            assert os.path.isfile(os.path.join(folder, f"{ASSIGNMENT}.ipynb")), (root, student)
            assert os.path.isfile(os.path.join(folder, "timestamp.txt"))
            html = os.path.join(root, "feedback", student, ASSIGNMENT, f"{ASSIGNMENT}.html")
            assert os.path.isfile(html), html
        assert grading.check_feedback(ASSIGNMENT, root) == []
    csv_scores = []
    for root in (local[0], on_cluster[0]):
        with open(os.path.join(root, "grades.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        assert {r["sandbox"] for r in rows} == {"bubblewrap"}
        csv_scores.append({r["student_id"]: float(r["score"]) for r in rows})
    assert csv_scores[0] == csv_scores[1] and set(csv_scores[1]) == set(STUDENTS)


def test_the_snapshot_holds_the_assignment_and_no_student(local, tmp_path):
    from nbgrader.api import Gradebook

    db_url = grading.runner.Course(local[0]).db_url
    data = cluster.snapshot_gradebook(db_url, ASSIGNMENT, str(tmp_path))
    for student in STUDENTS:
        assert student.encode() not in data, f"{student} is in the bytes sent to workers"
    path = tmp_path / "received.db"
    path.write_bytes(data)
    with Gradebook(f"sqlite:///{path}") as gb:
        assert [a.name for a in gb.assignments] == [ASSIGNMENT]
        assert gb.students == []
        assert gb.find_assignment(ASSIGNMENT).max_score > 0


def test_folders_cross_as_bytes_and_stay_inside(tmp_path):
    src = tmp_path / "src"
    (src / "data").mkdir(parents=True)
    (src / "a.ipynb").write_bytes(b"{}")
    (src / "data" / "x.npy").write_bytes(b"\x00\x01")
    (src / ".ipynb_checkpoints").mkdir()
    (src / ".ipynb_checkpoints" / "a-checkpoint.ipynb").write_bytes(b"{}")
    os.symlink("/etc/passwd", src / "link")
    files = cluster.read_folder(str(src))
    assert files == {"a.ipynb": b"{}", os.path.join("data", "x.npy"): b"\x00\x01"}
    cluster.write_folder(str(tmp_path / "dst"), files)
    assert (tmp_path / "dst" / "data" / "x.npy").read_bytes() == b"\x00\x01"
    for bad in ("../escape", "/tmp/abs", "data/../../escape"):
        with pytest.raises(ValueError):
            cluster.write_folder(str(tmp_path / "dst"), {bad: b""})
    with pytest.raises(ValueError):
        cluster.read_folder(str(src), limit=1)


def test_a_worker_shares_its_gpus_among_its_tasks(monkeypatch):
    from aekeras_grader import gpu

    two = [gpu.Gpu("0", 16 * 1024**3), gpu.Gpu("1", 16 * 1024**3)]
    monkeypatch.setattr(gpu, "visible_gpus", lambda: two)
    monkeypatch.setattr(cluster, "_SLOTS", itertools.count())
    envs = [cluster._slot_env("4G") for _ in range(3)]
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == ["0", "1", "0"]
    assert envs[0]["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "0.250"
    monkeypatch.setattr(gpu, "visible_gpus", lambda: [])
    assert cluster._slot_env("4G") == {}


def test_grade_rows_cross_as_json():
    import datetime
    import json

    record = {
        "timestamp": datetime.datetime(2026, 1, 1, 12, 0, 0, 123456),
        "notebooks": {"01_pca": {"grades": {"test_center": (2.0, False)}, "comments": {}}},
    }
    back = cluster._record_from_json(json.loads(json.dumps(cluster._record_to_json(record))))
    assert back == record
    zero = {"zero": True, "timestamp": None}
    assert cluster._record_from_json(cluster._record_to_json(zero)) == zero
