"""A class graded on a Dask cluster: submissions go to the workers as bytes, grades come back.

``python -m aekeras_grader grade 01_pca --scheduler tcp://host:8786`` (``make grade ...
GRADE_SCHEDULER=...``) sends each submission to a ``distributed`` worker as one task holding
bytes only: the submission's files, the assignment's source folder, the course's
``nbgrader_config.py`` and a snapshot of the gradebook reduced to this assignment (its
notebooks, cells and due date; no student, no other assignment). The worker writes them into a
scratch course of its own (a temporary folder), grades the submission there exactly as a local
worker does (:meth:`runner.ClassGrader.grade_one`: nbgrader in a child process, the kernel in
the sandbox, the judge beside it, the same limits) and returns the autograded folder and the
grade rows. The client alone merges them into ``gradebook.db`` and ``autograded/``
(:meth:`runner.ClassGrader.merge`), so workers need the environment (the installed packages,
bubblewrap, the dataset cache) and no shared filesystem.

A worker killed mid-run: the scheduler gives its task to another worker (a task may take
part in ``distributed.scheduler.allowed-failures`` worker deaths, 3 by default); a grading
that ends without a verdict on a worker (killed process, nbgrader's own failure) raises, and
Dask runs it again (``retries``). Merging replaces a student's scores, so no grade is
doubled, and one that never came back is not recorded: running the command again grades it.
"""

import dataclasses
import datetime
import itertools
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import uuid

from . import gpu, runner

RETRIES = 2  # more runs of a submission whose grading ended without a verdict
MAX_BYTES = 200 * 1024**2  # of one folder sent either way (as the sandbox copies at most)
MAX_LOG = 2 * 1024**2  # bytes of a worker's log sent back
SKIP_DIRS = (".ipynb_checkpoints", "__pycache__")


class GradingIncomplete(RuntimeError):
    """A submission's grading ended on a worker without a verdict (Dask retries it)."""


# --- bytes of folders -------------------------------------------------------------------------


def read_folder(folder, limit=MAX_BYTES):
    """``{relative path: bytes}`` of the regular files under ``folder`` (no links)."""
    files, total = {}, 0
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(
            d for d in dirs if d not in SKIP_DIRS and not os.path.islink(os.path.join(root, d))
        )
        for name in sorted(names):
            path = os.path.join(root, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            total += os.path.getsize(path)
            if total > limit:
                raise ValueError(f"{folder} holds more than {limit / 1024**2:g} MiB")
            with open(path, "rb") as f:
                files[os.path.relpath(path, folder)] = f.read()
    return files


def write_folder(folder, files):
    """Writes ``{relative path: bytes}`` under ``folder``, refusing paths that leave it."""
    folder = os.path.abspath(folder)
    os.makedirs(folder, exist_ok=True)
    for rel, data in files.items():
        path = os.path.normpath(os.path.join(folder, rel))
        if os.path.isabs(rel) or not path.startswith(folder + os.sep):
            raise ValueError(f"refusing to write {rel!r} outside {folder}")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)


def snapshot_gradebook(db_url, assignment, folder):
    """The bytes of a copy of the gradebook with ``assignment`` only: its notebooks, cells and
    due date, and no student (compacted, so nothing deleted lingers in the file)."""
    import warnings

    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    path = os.path.join(folder, "gradebook-snapshot.db")
    shutil.copyfile(runner._db_path(db_url), path)
    with Gradebook("sqlite:///" + path) as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)
        for other in [a.name for a in gb.assignments if a.name != assignment]:
            gb.remove_assignment(other)
        for student in [s.id for s in gb.students]:
            gb.remove_student(student)
    connection = sqlite3.connect(path)
    try:
        connection.execute("VACUUM")
    finally:
        connection.close()
    with open(path, "rb") as f:
        return f.read()


def _record_to_json(record):
    if record is None:
        return None
    stamp = record.get("timestamp")
    return {**record, "timestamp": stamp.isoformat() if stamp else None}


def _record_from_json(record):
    if record is None:
        return None
    stamp = record.get("timestamp")
    out = {**record, "timestamp": datetime.datetime.fromisoformat(stamp) if stamp else None}
    for nb in out.get("notebooks", {}).values():
        nb["grades"] = {name: tuple(value) for name, value in nb.get("grades", {}).items()}
    return out


# --- the client ---------------------------------------------------------------------------------


def task_for(grader, student, common):
    """What one worker needs to grade ``student``: bytes and the run's limits."""
    submitted = grader.course.path("submitted", student, grader.assignment)
    return {
        **common,
        "student": student,
        "submission": read_folder(submitted),
    }


def common_task(grader, folder):
    """The part of every task that is the same for the whole class."""
    coursedir = grader.course.coursedir
    source = coursedir.format_path(coursedir.source_directory, ".", grader.assignment)
    config = os.path.join(grader.course.root, "nbgrader_config.py")
    config_bytes = None
    if os.path.isfile(config):
        with open(config, "rb") as f:
            config_bytes = f.read()
    return {
        "assignment": grader.assignment,
        "config": config_bytes,
        "source": read_folder(source),
        "gradebook": snapshot_gradebook(grader.course.db_url, grader.assignment, folder),
        "limit": grader.limit,
        "argv": list(grader.argv),
        "memory": str(grader.memory),
        "gpu_memory": grader.gpu_memory,
        "unsafe": grader.unsafe,
        # the instructor's backend and profile, not whatever each worker was started with
        "env": {
            **{k: os.environ[k] for k in ("KERAS_BACKEND", "AEKERAS_PROFILE") if k in os.environ},
            **{k: v for k, v in grader.env.items() if k != runner.RUN_ENV},
        },
    }


def grade_on_cluster(grader, todo, retries=RETRIES):
    """Grades ``todo`` on the Dask cluster at ``grader.scheduler``; yields ``(Result, record)``
    as each submission comes back, for the caller to merge."""
    try:
        from distributed import Client, as_completed
    except ImportError as err:
        raise RuntimeError(
            "grading on a Dask cluster needs `distributed`: pip install 'aekeras[grader]'"
        ) from err

    pending = []
    for student in todo:
        if grader.precheck(student):  # nothing to run: a 0 with its reason, here
            yield grader.grade_one(student, None)
        else:
            pending.append(student)
    if not pending:
        return
    common = common_task(grader, grader.workdir)
    with Client(grader.scheduler, timeout="60s") as client:
        workers = client.scheduler_info().get("workers", {})
        grader.log(f"Dask: {len(workers)} worker(s) at {grader.scheduler}")
        futures = {}
        for student in pending:
            try:
                task = task_for(grader, student, common)
            except (OSError, ValueError) as err:  # too big to send: reported, not graded
                yield runner.Result(student, "error", reason=str(err)), None
                continue
            key = f"aekeras-grade-{grader.assignment}-{student}-{uuid.uuid4().hex[:8]}"
            futures[client.submit(grade_remote, task, key=key, retries=retries)] = student
        try:
            for future in as_completed(futures):
                yield _collect(grader, futures[future], future)
        except (KeyboardInterrupt, GeneratorExit):
            client.cancel(list(futures))
            raise


def _collect(grader, student, future):
    """A finished task's result, installed in ``autograded/``; the record to merge."""
    log_path = os.path.join(grader.workdir, "logs", f"{student}.log")
    try:
        out = future.result()
    except Exception as err:  # noqa: BLE001 - a lost submission is reported, not fatal
        grader._clear(student)
        reason = f"not graded on the cluster: {type(err).__name__}: {err}"
        return runner.Result(student, "error", reason=reason[:2000], log=log_path), None
    with open(log_path, "wb") as f:
        f.write(out["log"])
    result = runner.Result(**{**out["result"], "log": log_path})
    if out["files"]:
        grader.install(student, out["files"])
    else:
        grader._clear(student)
    return result, _record_from_json(out["record"])


# --- the worker ---------------------------------------------------------------------------------

_SLOTS = itertools.count()
_SLOTS_LOCK = threading.Lock()


def _slot_env(gpu_memory):
    """This worker's GPU for the next task: its visible GPUs round-robin (``dask worker``
    started with ``CUDA_VISIBLE_DEVICES`` set gets that one)."""
    gpus = gpu.visible_gpus()
    with _SLOTS_LOCK:
        slot = next(_SLOTS)
    if not gpus:
        return {}
    from_smi = gpu.VISIBLE_ENV not in os.environ
    envs = gpu.worker_environments(len(gpus), gpus, gpu_memory, from_smi=from_smi)
    return envs[slot % len(envs)]


def grade_remote(task):
    """Runs on a Dask worker: grades one submission in a scratch course; returns bytes.

    Returns ``{"result", "record", "files", "log", "host"}``: the Result's fields, the grade
    rows (as :func:`runner.read_submission` gives them, JSON-safe), the autograded folder and
    the grading log. Raises :class:`GradingIncomplete` when no verdict was reached.
    """
    scratch = tempfile.mkdtemp(prefix="aekeras-cluster-")
    run_id = uuid.uuid4().hex
    try:
        course = os.path.join(scratch, "course")
        os.makedirs(course)
        if task["config"] is not None:
            with open(os.path.join(course, "nbgrader_config.py"), "wb") as f:
                f.write(task["config"])
        layout = runner.Course(course)
        coursedir = layout.coursedir
        write_folder(
            coursedir.format_path(coursedir.source_directory, ".", task["assignment"]),
            task["source"],
        )
        write_folder(
            layout.path("submitted", task["student"], task["assignment"]), task["submission"]
        )
        with open(os.path.join(scratch, "gradebook.db"), "wb") as f:
            f.write(task["gradebook"])
        job = {
            key: task[key]
            for key in ("assignment", "student", "limit", "argv", "memory", "unsafe", "env")
        }
        job.update(run_id=run_id, slot_env=_slot_env(task["gpu_memory"]))
        with open(os.path.join(scratch, "task.json"), "w") as f:
            json.dump(job, f)
        log_path = os.path.join(scratch, "worker.log")
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "aekeras_grader.cluster", scratch],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=scratch,
            )
            try:
                process.wait(timeout=task["limit"] + 600)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            finally:
                _kill_tree(process.pid)
                runner._kill_marked(runner.RUN_ENV, run_id)
        answer = os.path.join(scratch, "result.json")
        if not os.path.exists(answer):
            raise GradingIncomplete(
                f"{task['student']}: the grading process ended without a result on "
                f"{socket.gethostname()} (exit code {process.returncode}):\n{runner._tail(log_path)}"
            )
        with open(answer) as f:
            done = json.load(f)
        result = done["result"]
        if result["status"] in ("interrupted", "error"):
            raise GradingIncomplete(
                f"{task['student']}: {result['status']} on {socket.gethostname()}: "
                f"{result['reason']}\n{runner._tail(result['log'])}"
            )
        autograded = layout.path("autograded", task["student"], task["assignment"])
        files = read_folder(autograded) if os.path.isdir(autograded) else {}
        with open(result["log"] if os.path.exists(result["log"]) else log_path, "rb") as f:
            text = f.read()[-MAX_LOG:]
        return {
            "result": result,
            "record": done["record"],
            "files": files,
            "log": text,
            "host": socket.gethostname(),
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _kill_tree(pid):
    import psutil

    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return
    for child in children:
        try:
            child.kill()
        except psutil.Error:
            pass


def _supervise(scratch):
    """The process a worker starts: grades in a child, and outlives a killed worker.

    When the worker that started it dies, the grading's whole tree (nbgrader, kernel, judge) is
    killed first and only then is the scratch course removed, so that nothing is left to write
    into it afterwards (a watcher thread beside the grading raced with the grading's own last
    writes). Returns the child's exit code, or 1 after a worker's death.
    """
    with open(os.path.join(scratch, "task.json")) as f:
        run_id = json.load(f)["run_id"]
    parent = os.getppid()
    child = subprocess.Popen(
        [sys.executable, "-m", "aekeras_grader.cluster", "--grade", scratch],
        stdin=subprocess.DEVNULL,
        cwd=scratch,
    )
    while True:
        try:
            return child.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            pass
        if os.getppid() != parent:
            _kill_tree(os.getpid())
            child.wait()
            runner._kill_marked(runner.RUN_ENV, run_id)
            shutil.rmtree(scratch, ignore_errors=True)
            return 1


def _grade_scratch(scratch):
    """The grading process on a worker: one submission of the scratch course."""
    from nbgrader.api import Gradebook

    with open(os.path.join(scratch, "task.json")) as f:
        job = json.load(f)
    grader = runner.ClassGrader(
        job["assignment"],
        os.path.join(scratch, "course"),
        jobs=1,
        limit=job["limit"],
        env=job["env"],
        log=print,
        workdir=os.path.join(scratch, "work"),
        memory=job["memory"],
        unsafe=job["unsafe"],
    )
    grader.argv = list(job["argv"])
    grader.run_id = job["run_id"]
    grader.env[runner.RUN_ENV] = job["run_id"]
    db_url = "sqlite:///" + os.path.join(scratch, "gradebook.db")
    grader.notebooks = runner.notebook_names(db_url, job["assignment"])
    with Gradebook(db_url) as gb:
        gb.update_or_create_student(job["student"])
    result, record = grader.grade_one(job["student"], db_url, env=job["slot_env"])
    with open(os.path.join(scratch, "result.json.tmp"), "w") as f:
        json.dump({"result": dataclasses.asdict(result), "record": _record_to_json(record)}, f)
    os.replace(os.path.join(scratch, "result.json.tmp"), os.path.join(scratch, "result.json"))


if __name__ == "__main__":
    if sys.argv[1] == "--grade":
        _grade_scratch(sys.argv[2])
    else:
        sys.exit(_supervise(sys.argv[1]))
