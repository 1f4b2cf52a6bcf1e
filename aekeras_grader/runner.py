"""Autograding a class: one ``nbgrader autograde`` per submission, N at a time, merged safely.

Each submission is graded by nbgrader's own ``AutogradeApp`` (``nbgrader autograde <id>
--student <s> --db sqlite:///<tmp>/worker-k.db``) in a process of its own, forked from a
server that has nbgrader imported already; worker ``k`` has its own copy of the course
gradebook. A process that runs past the whole-notebook limit is killed with its kernel and
the submission is recorded as 0 with the reason. The main process alone writes the course
``gradebook.db``, one submission per transaction as each finishes, so killing a worker
loses nothing but the submission it held, and running the command again resumes.

Worker slot ``k`` gets its GPU and memory settings from :mod:`aekeras_grader.gpu`; with a
Dask scheduler (``scheduler=``) the submissions go to :mod:`aekeras_grader.cluster` instead
of the local workers, and their results are merged here the same way.
"""

import concurrent.futures
import contextlib
import dataclasses
import glob
import html
import multiprocessing
import os
import queue
import re
import shutil
import sys
import tempfile
import time
import uuid

from . import gpu

DEFAULT_LIMIT = 1800.0  # seconds per submission (whole notebook): fits the gpu profile
JOB_ENV = "AEKERAS_GRADING_JOB"
RUN_ENV = "AEKERAS_GRADING_RUN"
STUDENT_ENV = "AEKERAS_GRADING_STUDENT"
JUDGE_SOCKET_ENV = "AEKERAS_JUDGE_SOCKET"  # as aekeras_grader.execute reads it
SANDBOX_COLUMN = "sandbox"

# What nbgrader's log says when a submission, not the machine, is at fault.
STUDENT_FAILURES = (
    ("UnresponsiveKernelError", "the kernel stopped responding and could not be interrupted"),
    ("DeadKernelError", "the kernel died while running the notebook (a crash or an exit)"),
    ("Kernel died", "the kernel died while running the notebook (a crash or an exit)"),
    ("NotJSONError", "the submitted file is not a notebook (not JSON)"),
    ("JSONDecodeError", "the submitted file is not a notebook (not JSON)"),
    ("ValidationError", "the submitted notebook is not a valid notebook file"),
    ("SchemaTooNewError", "the notebook's nbgrader metadata was edited and cannot be read"),
    ("SchemaTooOldError", "the notebook's nbgrader metadata was edited and cannot be read"),
    ("Inconsistent checksums", "the nbgrader metadata of a locked cell was edited"),
    (
        "Timeout waiting for IOPub output",
        "a cell printed more output than the grader could read (an endless print loop?)",
    ),
)


@dataclasses.dataclass
class Result:
    """How one submission went.

    ``status``: ``graded`` (nbgrader graded it), ``zero`` (recorded as 0, see ``reason``),
    ``skipped`` (already in the gradebook), ``interrupted`` (its worker was killed: not
    recorded, run again to resume) or ``error`` (nbgrader failed for a reason that is not
    the student's: not recorded, see ``log``).
    """

    student: str
    status: str
    score: float | None = None
    max_score: float | None = None
    reason: str = ""
    seconds: float = 0.0
    log: str = ""

    @property
    def recorded(self):
        return self.status in ("graded", "zero", "skipped")


# --- nbgrader apps in forked processes --------------------------------------------------------

_APPS = {
    "autograde": "AutogradeApp",
    "generate_assignment": "GenerateAssignmentApp",
    "generate_feedback": "GenerateFeedbackApp",
    "export": "ExportApp",
}
_CONTEXT = None


def _context():
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(["aekeras_grader.runner", "nbgrader.apps"])
    return _CONTEXT


def _app_main(app, argv, root, log_path, env):
    """Child process: ``nbgrader <app> <argv>`` in ``root``, output to ``log_path``."""
    os.chdir(root)
    os.environ.update(env)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    from nbgrader import apps
    from traitlets.config import Config

    from .preprocessors import configure

    instance = getattr(apps, _APPS[app])()
    instance.initialize(argv)
    instance.update_config(configure(Config()))
    instance.start()


def _kill_marked(name, value):
    """Kills every process whose environment has ``name=value`` (a job's kernel included)."""
    import psutil

    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.pid != os.getpid() and proc.environ().get(name) == value:
                proc.kill()


def run_app(app, argv, root, log_path, env=None, limit=None):
    """Runs an nbgrader app in a child process; returns ``(exitcode, timed_out, seconds)``.

    ``exitcode`` is 0 on success, 1 when nbgrader failed, ``-signal`` when the process was
    killed; after ``limit`` seconds the process and its kernel are killed (``timed_out``).
    """
    job = uuid.uuid4().hex
    env = {
        **(env or {}),
        JOB_ENV: job,
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
        "PYTHONHASHSEED": "0",
    }
    process = _context().Process(target=_app_main, args=(app, argv, root, log_path, env))
    start = time.monotonic()
    process.start()
    process.join(limit)
    timed_out = process.is_alive()
    if timed_out:
        process.kill()
        process.join()
    _kill_marked(JOB_ENV, job)
    return process.exitcode, timed_out, time.monotonic() - start


class JudgeServers:
    """One judge server per worker slot (``python -m aekeras_grader.judge --serve``): Keras
    and the setup's imports load once per slot, not once per submission. Each submission
    still gets a fresh namespace; a worker that cannot reach its server starts its own judge.
    """

    def __init__(self):
        self.folder = tempfile.mkdtemp(prefix="aekeras-judge-")  # mode 700: ours alone
        self.processes = []

    def start(self, k, env):
        import subprocess

        path = os.path.join(self.folder, f"judge-{k}.sock")
        self.processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "aekeras_grader.judge", "--serve", path],
                env={**env, "NBGRADER_EXECUTION": "autograde"},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=self.folder,
            )
        )
        return path

    def stop(self):
        for process in self.processes:
            process.kill()
        for process in self.processes:
            process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


# --- the course ---------------------------------------------------------------------------------


class Course:
    """A course folder as ``nbgrader_config.py`` (in ``root``) lays it out."""

    def __init__(self, root="."):
        from nbgrader.coursedir import CourseDirectory
        from traitlets.config import Config
        from traitlets.config.loader import PyFileConfigLoader

        self.root = os.path.abspath(root)
        config = Config()
        if os.path.exists(os.path.join(self.root, "nbgrader_config.py")):
            config = PyFileConfigLoader("nbgrader_config.py", path=self.root).load_config()
        self.coursedir = CourseDirectory(config=config, root=self.root)
        url = self.coursedir.db_url
        if url.startswith("sqlite:///") and not url[len("sqlite:///") :].startswith("/"):
            url = "sqlite:///" + os.path.join(self.root, url[len("sqlite:///") :])
        self.db_url = url

    def path(self, step, student, assignment):
        """``<step>/<student>/<assignment>`` (``step``: submitted, autograded, feedback...)."""
        directory = getattr(self.coursedir, f"{step}_directory")
        return self.coursedir.format_path(directory, student, assignment)

    def students(self, assignment):
        """Students with a submission folder for ``assignment``, sorted."""
        pattern = re.escape(self.path("submitted", "\0", assignment)).replace(
            re.escape("\0"), "(?P<student>[^/]+)"
        )
        found = []
        for folder in glob.glob(self.path("submitted", "*", assignment)):
            match = re.fullmatch(pattern, folder)
            if match and os.path.isdir(folder):
                found.append(match["student"])
        return sorted(found)


def _db_path(url):
    return url[len("sqlite:///") :]


def notebook_names(db_url, assignment):
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        return sorted(nb.name for nb in gb.find_assignment(assignment).notebooks)


def is_graded(gb, assignment, student):
    """Whether every test cell of a submission has an autograder score in ``gb``."""
    from nbgrader.api import MissingEntry

    try:
        submission = gb.find_submission(assignment, student)
    except MissingEntry:
        return False
    for notebook in submission.notebooks:
        answers = {cell.name for cell in notebook.notebook.solution_cells}
        if any(g.auto_score is None for g in notebook.grades if g.name not in answers):
            return False
    return True


def read_submission(db_url, assignment, student):
    """A submission's autograder results in a gradebook, as plain data."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        submission = gb.find_submission(assignment, student)
        return {
            "timestamp": submission.timestamp,
            "notebooks": {
                nb.name: {
                    "late_submission_penalty": nb.late_submission_penalty,
                    "grades": {g.name: (g.auto_score, g.needs_manual_grade) for g in nb.grades},
                    "comments": {c.name: c.auto_comment for c in nb.comments},
                }
                for nb in submission.notebooks
            },
        }


def write_submission(db_url, assignment, student, record):
    """Merges a record (or a zero: ``record["zero"]``) into a gradebook; returns the score.

    Manual scores already there are kept (and flagged for review, as nbgrader does).
    """
    import warnings

    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    with Gradebook(db_url) as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)  # nbgrader's own autoflush noise
        gb.update_or_create_student(student)
        submission = gb.update_or_create_submission(
            assignment, student, timestamp=record.get("timestamp")
        )
        for nb in submission.notebooks:
            data = record.get("notebooks", {}).get(nb.name, {})
            nb.late_submission_penalty = data.get("late_submission_penalty")
            for grade in nb.grades:
                auto, needs = data.get("grades", {}).get(grade.name, (0.0, False))
                grade.auto_score = 0.0 if record.get("zero") else auto
                grade.needs_manual_grade = bool(
                    (needs and not record.get("zero")) or grade.manual_score is not None
                )
            for comment in nb.comments:
                comment.auto_comment = data.get("comments", {}).get(comment.name)
        gb.db.commit()
        submission = gb.find_submission(assignment, student)
        return submission.score, submission.max_score


# --- grading ---------------------------------------------------------------------------------


class ClassGrader:
    """Grades every submission of one assignment; see :func:`grade`."""

    def __init__(
        self,
        assignment,
        root=".",
        jobs=2,
        limit=DEFAULT_LIMIT,
        cell_timeout=None,
        env=None,
        log=print,
        workdir=None,
        memory=None,
        unsafe=False,
        gpu_memory=None,
        scheduler=None,
    ):
        from . import sandbox

        self.unsafe = bool(unsafe)
        self.scheduler = scheduler or None  # a Dask scheduler's address: its workers grade
        if not self.unsafe and not self.scheduler:
            sandbox.check()  # raises SandboxUnavailable with what to do
        self.memory = memory or os.environ.get("GRADE_MEMORY") or sandbox.DEFAULT_MEMORY
        sandbox.parse_size(self.memory)  # a bad size fails here, not in every worker
        self.gpu_memory = gpu_memory or os.environ.get("GRADE_GPU_MEMORY") or None
        if self.gpu_memory:
            sandbox.parse_size(self.gpu_memory)
        self.assignment = assignment
        self.course = Course(root)
        self.jobs = max(1, int(jobs))
        self.limit = limit
        self.argv = [] if cell_timeout is None else [f"--Execute.timeout={int(cell_timeout)}"]
        self.run_id = uuid.uuid4().hex
        self.env = {
            **(env or {}),
            RUN_ENV: self.run_id,
            "AEKERAS_GRADING_MEMORY": str(self.memory),
            "AEKERAS_GRADING_UNSAFE": "1" if self.unsafe else "0",
        }
        self.log = log
        self.workdir = workdir or tempfile.mkdtemp(prefix=f"aekeras-grading-{assignment}-")
        os.makedirs(os.path.join(self.workdir, "logs"), exist_ok=True)

    def _app(self, app, argv, name, limit=None, env=None):
        log_path = os.path.join(self.workdir, "logs", f"{name}.log")
        code, timed_out, seconds = run_app(
            app, argv, self.course.root, log_path, env={**self.env, **(env or {})}, limit=limit
        )
        return code, timed_out, seconds, log_path

    def sync(self):
        """Records the assignment (from the source folder) in the course gradebook."""
        release = os.path.join(self.workdir, "release")
        code, _, _, log_path = self._app(
            "generate_assignment",
            [
                self.assignment,
                "--force",
                "--db",
                self.course.db_url,
                f"--CourseDirectory.release_directory={release}",
            ],
            "generate_assignment",
        )
        if code != 0:
            raise RuntimeError(
                f"nbgrader generate_assignment {self.assignment} failed:\n{_tail(log_path)}"
            )
        self.notebooks = notebook_names(self.course.db_url, self.assignment)

    def todo(self, students=None, force=False):
        """The students to grade: all with a submission, less those already graded."""
        from nbgrader.api import Gradebook

        found = self.course.students(self.assignment)
        if students:
            missing = sorted(set(students) - set(found))
            if missing:
                raise ValueError(f"no submission of {self.assignment} for: {', '.join(missing)}")
            found = [s for s in found if s in set(students)]
        with Gradebook(self.course.db_url) as gb:
            done = set() if force else {s for s in found if is_graded(gb, self.assignment, s)}
            for student in found:
                gb.update_or_create_student(student)
        return [s for s in found if s not in done], sorted(done)

    def precheck(self, student):
        """A reason to record 0 without running anything, or ``None``."""
        import nbformat

        folder = self.course.path("submitted", student, self.assignment)
        wanted = [f"{name}.ipynb" for name in self.notebooks]
        present = [name for name in wanted if os.path.isfile(os.path.join(folder, name))]
        if not present:
            others = sorted(
                os.path.relpath(p, folder)
                for p in glob.glob(os.path.join(folder, "**", "*.ipynb"), recursive=True)
            )
            found = f"found: {', '.join(others)}" if others else "the submission folder is empty"
            return f"no notebook named {', '.join(wanted)} was submitted ({found})"
        for name in present:
            try:
                nbformat.read(os.path.join(folder, name), as_version=4)
            except Exception as err:  # noqa: BLE001 - any unreadable file is the same case
                return f"{name} is not a notebook that can be read ({type(err).__name__})"
        return None

    def worker_environments(self, n):
        """The GPU settings of ``n`` worker slots (:func:`gpu.worker_environments`), logged."""
        gpus = gpu.visible_gpus()
        from_smi = bool(gpus) and gpu.VISIBLE_ENV not in os.environ
        envs = gpu.worker_environments(n, gpus, self.gpu_memory, from_smi=from_smi)
        self.log(gpu.describe(envs))
        if self.gpu_memory and not gpus:
            self.log(f"GRADE_GPU_MEMORY={self.gpu_memory} has no effect: no GPU is visible")
        for device, caps, total in gpu.oversubscribed(envs, gpus):
            self.log(
                f"WARNING: the workers on GPU {device} may take {caps / 1024**3:g} GiB together, "
                f"more than its {total / 1024**3:g} GiB: lower GRADE_GPU_MEMORY or JOBS"
            )
        return envs

    def grade_one(self, student, db_url, judge=None, env=None):
        """Autogrades one submission into the worker gradebook ``db_url``.

        ``env``: the worker slot's variables (its GPU). Returns ``(Result, record)``;
        ``record`` is what to merge into the course gradebook, ``None`` when nothing may be
        recorded (interrupted, error).
        """
        start = time.monotonic()
        result = Result(student, "zero", log=os.path.join(self.workdir, "logs", f"{student}.log"))
        result.reason = self.precheck(student) or ""
        record = None
        if not result.reason:
            argv = [self.assignment, "--student", student, "--db", db_url, "--force", *self.argv]
            code, timed_out, _, result.log = self._app(
                "autograde",
                argv,
                student,
                self.limit,
                env={
                    **(env or {}),
                    STUDENT_ENV: student,
                    **({JUDGE_SOCKET_ENV: judge} if judge else {}),
                },
            )
            if timed_out:
                result.reason = (
                    f"the notebook ran longer than the {self.limit:g} s allowed for the whole "
                    "notebook and was stopped"
                )
            elif code == 0:
                result.status = "graded"
                record = read_submission(db_url, self.assignment, student)
            elif code is not None and code < 0:
                result.status = "interrupted"
                result.reason = f"its worker was killed (signal {-code})"
            else:
                slot_env = {**os.environ, **self.env, **(env or {})}
                result.reason = _student_failure(result.log, slot_env) or ""
                if not result.reason:
                    result.status, result.reason = "error", "nbgrader failed, see the log"
        if result.status == "zero":
            self._write_notice(student, result.reason)
            folder = self.course.path("submitted", student, self.assignment)
            record = {
                "zero": True,
                "timestamp": self.course.coursedir.get_existing_timestamp(folder),
            }
        elif record is None:
            self._clear(student)
        result.seconds = time.monotonic() - start
        return result, record

    def install(self, student, files):
        """Writes an autograded folder made elsewhere (``{relative path: bytes}``)."""
        from .cluster import write_folder

        self._clear(student)
        write_folder(self.course.path("autograded", student, self.assignment), files)

    def merge(self, result, record):
        """Records one finished submission in the course gradebook (the main process only).

        Idempotent: a record replaces the submission's autograder scores, so merging the same
        student twice leaves one submission with the same grades.
        """
        if record is not None:
            result.score, result.max_score = write_submission(
                self.course.db_url, self.assignment, result.student, record
            )
        return result

    def _clear(self, student):
        shutil.rmtree(self.course.path("autograded", student, self.assignment), ignore_errors=True)

    def _write_notice(self, student, reason):
        """The autograded notebook of a submission recorded as 0: one cell with the reason."""
        import nbformat
        from nbformat.v4 import new_markdown_cell, new_notebook

        self._clear(student)
        folder = self.course.path("autograded", student, self.assignment)
        os.makedirs(folder)
        for name in self.notebooks:
            text = f"# {name}: not graded, score 0\n\nThis submission was not graded: {reason}."
            nb = new_notebook(cells=[new_markdown_cell(text)])
            nb.metadata["aekeras_grading"] = {"status": "zero", "reason": reason}
            nbformat.write(nb, os.path.join(folder, f"{name}.ipynb"))

    def run(self, students=None, force=False):
        """Grades the class; returns {student: Result} in the order they finished."""
        self.sync()
        todo, done = self.todo(students, force)
        results = {s: Result(s, "skipped") for s in done}
        workers = (
            f"the Dask cluster at {self.scheduler}" if self.scheduler else f"{self.jobs} worker(s)"
        )
        self.log(
            f"{self.assignment}: {len(todo)} to grade, {len(done)} already graded, "
            f"{workers}, whole-notebook limit {self.limit:g} s"
        )
        if not todo:
            return results
        if self.scheduler:
            from .cluster import grade_on_cluster

            finished = grade_on_cluster(self, todo)
        else:
            finished = self._grade_locally(todo)
        for i, (result, record) in enumerate(finished, 1):
            results[result.student] = self.merge(result, record)
            self.log(f"[{i}/{len(todo)}] {_line(result)}")
        return results

    def _grade_locally(self, todo):
        """Grades ``todo`` in ``jobs`` local workers; yields ``(Result, record)`` as each ends."""
        slots = queue.Queue()
        course_db = _db_path(self.course.db_url)
        judges = JudgeServers()
        n = min(self.jobs, len(todo))
        for k, env in enumerate(self.worker_environments(n)):
            path = os.path.join(self.workdir, f"worker-{k}.db")
            shutil.copyfile(course_db, path)
            socket_path = judges.start(k, {**os.environ, **self.env, **env})
            slots.put(("sqlite:///" + path, socket_path, env))

        def job(student):
            db_url, judge, env = slots.get()
            try:
                return self.grade_one(student, db_url, judge, env)
            except Exception as err:  # noqa: BLE001 - one student's failure never stops the class
                self._clear(student)
                return Result(student, "error", reason=f"{type(err).__name__}: {err}"), None
            finally:
                slots.put((db_url, judge, env))

        with (
            contextlib.ExitStack() as stack,
            concurrent.futures.ThreadPoolExecutor(self.jobs) as pool,
        ):
            stack.callback(judges.stop)
            futures = [pool.submit(job, s) for s in todo]
            try:
                for future in concurrent.futures.as_completed(futures):
                    yield future.result()
            except (KeyboardInterrupt, GeneratorExit):
                for future in futures:
                    future.cancel()
                _kill_marked(RUN_ENV, self.run_id)
                raise

    def feedback(self):
        """``nbgrader generate_feedback`` for the assignment, hidden tests stripped."""
        code, _, _, log_path = self._app(
            "generate_feedback",
            [self.assignment, "--db", self.course.db_url, "--force"],
            "generate_feedback",
        )
        if code != 0:
            self.log(f"generate_feedback reported errors, see {log_path}:\n{_tail(log_path)}")
        return code == 0

    def export(self, path=None):
        """``nbgrader export`` of the course gradebook to a CSV file (default ``grades.csv``)."""
        path = path or os.path.join(self.course.root, "grades.csv")
        code, _, _, log_path = self._app(
            "export", ["--db", self.course.db_url, "--to", path], "export"
        )
        if code != 0:
            raise RuntimeError(f"nbgrader export failed:\n{_tail(log_path)}")
        self._mark_sandbox(path)
        return path

    def _mark_sandbox(self, path):
        """Adds the ``sandbox`` column: how this run graded (``bubblewrap`` or ``NONE``)."""
        import csv

        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        if not rows:
            return
        value = "NONE (--unsafe-no-sandbox)" if self.unsafe else "bubblewrap"
        if SANDBOX_COLUMN in rows[0]:
            column = rows[0].index(SANDBOX_COLUMN)
            for row in rows[1:]:
                row[column] = value
        else:
            rows[0].append(SANDBOX_COLUMN)
            for row in rows[1:]:
                row.append(value)
        with open(path, "w", newline="") as f:
            csv.writer(f).writerows(rows)


def _line(result):
    score = "" if result.score is None else f" {result.score:g}/{result.max_score:g}"
    reason = f" -- {result.reason}" if result.reason else ""
    return f"{result.student}: {result.status}{score} ({result.seconds:.1f} s){reason}"


def _tail(path, lines=15):
    with contextlib.suppress(OSError), open(path, errors="replace") as f:
        return "".join(f.readlines()[-lines:])
    return ""


def _student_failure(log_path, env=None):
    text = _tail(log_path, 400)
    limit = re.search(r"AekerasLimitExceeded: (.*)", text)
    if limit:
        return limit[1].strip().rstrip("'\"")
    if "DeadKernelError" in text or "Kernel died" in text:
        # a kernel that died of a failed device allocation (CUDA aborts) said so on stderr
        oom = [line for line in text.splitlines() if gpu.out_of_memory(line)]
        if oom:
            return gpu.limit_reason(oom[-1].strip(), env)
    for needle, reason in STUDENT_FAILURES:
        if needle in text:
            return reason
    return None


def grade(
    assignment,
    root=".",
    jobs=2,
    limit=DEFAULT_LIMIT,
    cell_timeout=None,
    students=None,
    force=False,
    feedback=True,
    export=True,
    env=None,
    log=print,
    workdir=None,
    memory=None,
    unsafe=False,
    gpu_memory=None,
    scheduler=None,
):
    """Autogrades every submission of ``assignment`` in ``jobs`` workers; returns the Results.

    Submissions already graded in the course gradebook are skipped unless ``force``; a
    submission that runs past ``limit`` seconds (the whole notebook) scores 0 with the
    reason in its feedback. Then feedback (hidden tests stripped) and ``grades.csv``.
    Logs and worker gradebooks go to ``workdir`` (default: a temporary folder), which is
    kept only when a submission could not be graded. ``gpu_memory`` caps each worker's GPU
    memory (default ``$GRADE_GPU_MEMORY``); ``scheduler`` (a Dask scheduler's address) grades
    on that cluster's workers instead of ``jobs`` local ones.
    """
    grader = ClassGrader(
        assignment,
        root,
        jobs,
        limit,
        cell_timeout,
        env,
        log,
        workdir,
        memory,
        unsafe,
        gpu_memory=gpu_memory,
        scheduler=scheduler,
    )
    if unsafe:
        log(
            "WARNING: --unsafe-no-sandbox: students' code runs with your own rights, can read "
            "solutions/ and gradebook.db and write anywhere you can. grades.csv says so."
        )
    else:
        where = " (on the Dask workers)" if scheduler else ""
        log(f"sandbox{where}: bubblewrap, memory limit {grader.memory} per submission")
    results = grader.run(students, force)
    if feedback:
        grader.feedback()
    if export:
        log(f"grades: {grader.export()}")
    missed = [r for r in results.values() if not r.recorded]
    if missed:
        log(
            f"{len(missed)} submission(s) not graded ({', '.join(r.student for r in missed)}); "
            f"logs in {grader.workdir}/logs. Run the same command again to resume."
        )
    else:
        shutil.rmtree(grader.workdir, ignore_errors=True)
    return results


# --- feedback ---------------------------------------------------------------------------------


def generate_feedback(assignment, root=".", log=print):
    """Regenerates the feedback of ``assignment`` from ``autograded/`` (hidden tests stripped)."""
    grader = ClassGrader(assignment, root, log=log, unsafe=True)  # runs no student code
    ok = grader.feedback()
    shutil.rmtree(grader.workdir, ignore_errors=True)
    return ok


def html_text(text):
    """The text a reader sees in an HTML page (tags dropped, entities decoded)."""
    text = re.sub(r"<(script|style)\b.*?</\1>", "", text, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def source_hidden_lines(assignment, root="."):
    """Every hidden test line of an assignment's source notebooks."""
    import nbformat

    from .preprocessors import hidden_lines

    course = Course(root)
    folder = course.coursedir.format_path(course.coursedir.source_directory, ".", assignment)
    lines = set()
    for path in sorted(glob.glob(os.path.join(folder, "*.ipynb"))):
        lines |= hidden_lines(nbformat.read(path, as_version=4))
    return lines


def find_leaks(paths, hidden):
    """``[(path, line)]`` for each hidden line (or hidden-test marker) found in the files."""
    hits = []
    for path in paths:
        with open(path, errors="replace") as f:
            text = f.read()
        if path.endswith((".html", ".htm")):
            text = html_text(text)
        for line in sorted(hidden | {"BEGIN HIDDEN TESTS", "END HIDDEN TESTS"}):
            if line in text:
                hits.append((path, line))
    return hits


def check_feedback(assignment, root="."):
    """Leaks of hidden tests into the feedback of ``assignment``: ``[(path, line)]``."""
    course = Course(root)
    files = [
        p
        for p in glob.glob(
            os.path.join(course.path("feedback", "*", assignment), "**"), recursive=True
        )
        if os.path.isfile(p)
    ]
    return find_leaks(files, source_hidden_lines(assignment, root))
