"""One check for a machine with a GPU: every assignment graded on each backend, two lectures timed.

    bash tools/gpu_check.sh [--quick] [--out build/gpu-report.md] [--budget SECONDS]
                            [--assignments ID ...] [--lectures NN ...]

For each installed backend among TensorFlow, JAX and PyTorch (a backend that is not installed
is skipped, with a line in the report), a scratch course releases every assignment and three
students submit it: the solution (must score full marks), the released notebook (0) and the
solution with the plausible mistake of ``tests/test_exercises.py`` (partial marks). Each
assignment is graded with ``make grade ASSIGNMENT=<id> JOBS=2``, so two workers share the GPU,
under the smoke profile (graded parts use fixed subsets: the profile changes no score). Then
the ``gpu`` profile of lectures 02 and 07 is run and timed (``tools/build_book.py --only``).
``build/gpu-report.md`` gets the device (``nvidia-smi``, or "no GPU visible": then this is the
CPU path), the versions, every score and the seconds.

``--quick`` (what the test suite runs, so the script cannot rot): one assignment, one backend,
the smoke profile for the lecture too. ``--budget`` bounds the whole run (default 460 s, under
8 minutes): what does not fit is reported as not run, never silently left out.
"""

import argparse
import importlib.metadata
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests import nbgrader_helpers as nh  # noqa: E402
from tests.nbgrader_helpers import MISTAKES  # noqa: E402

BACKENDS = ("tensorflow", "jax", "torch")
LECTURES = ("02", "07")
QUICK_ASSIGNMENT = "07_convolutional_autoencoder"
STUDENTS = ("solution", "released", "mistake")

# Printed by a fresh interpreter on one backend: whether Keras sees a GPU there.
PROBE = "from aekeras import profiles; print(profiles.gpu_visible())"
DISTRIBUTIONS = {
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
    "jax": ("jax", "jaxlib", "jax-cuda12-plugin"),
}


def log(message):
    print(f"gpu_check: {message}", flush=True)


def gpu_device():
    """The GPUs nvidia-smi lists ("name, memory, driver" per line), or None."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(
            [
                "nvidia-smi",
                "--query-gpu=name,memory.total,driver_version",
                "--format=csv,noheader",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = [line.strip() for line in out.stdout.splitlines() if line.strip()]
    return "; ".join(lines) if out.returncode == 0 and lines else None


def installed_backends(wanted):
    return [b for b in wanted if importlib.util.find_spec(b) is not None]


def backend_env(backend, profile):
    env = nh.nbgrader_env()
    env.update(
        KERAS_BACKEND=backend,
        AEKERAS_PROFILE=profile,
        AEKERAS_NO_DOWNLOAD=os.environ.get("AEKERAS_NO_DOWNLOAD", "1"),
        PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p),
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    return env


def versions(backend):
    """Installed versions of Keras and the backend's packages (read without importing them)."""
    found = []
    for name in ("keras", *DISTRIBUTIONS.get(backend, (backend,))):
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return ", ".join(found)


def probe(backend):
    """Whether Keras on ``backend`` sees a GPU (a fresh interpreter: the backend starts)."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        env=backend_env(backend, "smoke"),
        timeout=300,
    )
    if result.returncode != 0:
        return f"the backend failed to start: {result.stderr.strip().splitlines()[-1:]}"
    return f"GPU seen by Keras: {result.stdout.strip().splitlines()[-1]}"


def make_shim(scratch):
    """A folder that `make VENV=<it>` accepts as set up, whose python is this interpreter.

    `make grade` depends on `make setup`, which would build ./.venv with the CPU TensorFlow;
    here the environment is already there (the GPU runtime's own).
    """
    venv = os.path.join(scratch, "venv")
    os.makedirs(os.path.join(venv, "bin"), exist_ok=True)
    wrapper = os.path.join(venv, "bin", "python")
    with open(wrapper, "w") as f:
        f.write(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    os.chmod(wrapper, 0o755)
    open(os.path.join(venv, ".installed"), "w").close()
    return venv


def sandbox_flags():
    from aekeras_grader import sandbox

    try:
        sandbox.check()
        return [], "bubblewrap"
    except sandbox.SandboxUnavailable as err:
        return ["--unsafe-no-sandbox"], f"none ({str(err).split('.')[0]}): --unsafe-no-sandbox"


def build_course(scratch, assignments):
    """A released course with the three students' submissions of every assignment."""
    course = nh.Course(os.path.join(scratch, "template"), assignments)
    course.generate()
    for assignment in assignments:
        solution = nh.read_notebook(nh.solution_path(assignment, course.root))
        course.submit("solution", assignment, solution)
        course.submit(
            "released", assignment, nh.read_notebook(nh.release_path(assignment, course.root))
        )
        course.submit("mistake", assignment, nh.substitute(solution, *MISTAKES[assignment]))
    # `make -C <course> grade` checks the course's pyproject.toml against the shim's stamp
    shutil.copy(os.path.join(ROOT, "pyproject.toml"), course.root)
    os.utime(os.path.join(course.root, "pyproject.toml"), (0, 0))
    return course.root


def grade_backend(backend, template, scratch, assignments, args, deadline, flags):
    """{assignment: (verdict, {student: score}, max_score, seconds)} for one backend."""
    root = os.path.join(scratch, f"course-{backend}")
    shutil.copytree(template, root)
    venv = make_shim(scratch)
    env = backend_env(backend, "smoke")
    rows = {}
    for assignment in assignments:
        if time.monotonic() > deadline:
            rows[assignment] = ("not run (time budget)", {}, None, None)
            continue
        command = ["make", "-s", "-C", root, "-f", os.path.join(ROOT, "Makefile"), "grade"]
        command += [f"ASSIGNMENT={assignment}", f"JOBS={args.jobs}", f"VENV={venv}"]
        command += [f"GRADE_LIMIT={args.grade_limit}", f"GRADE_FLAGS={' '.join(flags)}"]
        if shutil.which("make") is None:  # the same command, without make
            command = [sys.executable, "-m", "aekeras_grader", "--root", root, "grade"]
            command += [assignment, "--jobs", str(args.jobs), "--limit", str(args.grade_limit)]
            command += flags
        start = time.monotonic()
        run = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
        seconds = time.monotonic() - start
        grades = nh.read_grades(os.path.join(root, "gradebook.db"))
        scores = {s: grades.get((s, assignment), {}).get("score") for s in STUDENTS}
        full = grades.get(("solution", assignment), {}).get("max_score")
        ok = (
            run.returncode == 0
            and full
            and scores["solution"] == full
            and scores["released"] == 0
            and scores["mistake"] is not None
            and 0 < scores["mistake"] < full
        )
        verdict = "ok" if ok else f"FAILED (make grade exit {run.returncode})"
        if not ok:
            with open(os.path.join(args.log_dir, f"grade-{backend}-{assignment}.log"), "w") as f:
                f.write(f"$ {' '.join(command)}\n{run.stdout}\n{run.stderr}")
        log(f"{backend} {assignment}: {scores} of {full} in {seconds:.0f} s: {verdict}")
        rows[assignment] = (verdict, scores, full, seconds)
    return rows


def time_lecture(backend, number, profile, scratch, limit, args):
    """(verdict, seconds) of one lecture run through tools/build_book.py."""
    if limit <= 0:
        return "not run (time budget)", None
    out = os.path.join(scratch, f"book-{backend}")
    command = [sys.executable, os.path.join(ROOT, "tools", "build_book.py"), "--only", number]
    command += ["--out", out, "--timeout", str(int(limit))]
    env = backend_env(backend, profile)
    env["AEKERAS_CACHE_DIR"] = os.path.join(scratch, f"cache-{backend}")  # trains, no cache
    start = time.monotonic()
    try:
        run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=limit)
    except subprocess.TimeoutExpired:
        return f"stopped after {limit:.0f} s", time.monotonic() - start
    seconds = time.monotonic() - start
    if run.returncode != 0:
        with open(os.path.join(args.log_dir, f"lecture-{backend}-{number}.log"), "w") as f:
            f.write(f"{run.stdout}\n{run.stderr}")
        return f"FAILED (exit {run.returncode})", seconds
    return "ok", seconds


def report(path, facts, grading, lectures, total):
    lines = ["# GPU check", ""]
    lines += [f"- {k}: {v}" for k, v in facts]
    lines += [f"- total: {total:.0f} s", "", "## Grading (solution / released / mistake)", ""]
    lines += ["| backend | assignment | solution | released | mistake | max | seconds | verdict |"]
    lines += ["| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for backend, rows in grading.items():
        if isinstance(rows, str):
            lines.append(f"| {backend} | — | | | | | | {rows} |")
            continue
        for assignment, (verdict, scores, full, seconds) in rows.items():
            cells = [scores.get(s) for s in STUDENTS]
            cells = ["—" if c is None else f"{c:g}" for c in cells]
            secs = "—" if seconds is None else f"{seconds:.0f}"
            full = "—" if full is None else f"{full:g}"
            lines.append(
                f"| {backend} | {assignment} | {' | '.join(cells)} | {full} | {secs} | {verdict} |"
            )
    lines += ["", "## Lectures", "", "| backend | lecture | profile | seconds | verdict |"]
    lines += ["| --- | --- | --- | --- | --- |"]
    for (backend, number, profile), (verdict, seconds) in lectures.items():
        secs = "—" if seconds is None else f"{seconds:.0f}"
        lines.append(f"| {backend} | {number} | {profile} | {secs} | {verdict} |")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one assignment, one backend, smoke")
    parser.add_argument("--out", default=os.path.join(ROOT, "build", "gpu-report.md"))
    parser.add_argument("--budget", type=float, default=460, help="seconds for the whole run")
    parser.add_argument("--lecture-limit", type=float, default=100, help="seconds per lecture")
    parser.add_argument("--grade-limit", type=int, default=600, help="seconds per submission")
    parser.add_argument("--jobs", type=int, default=2, help="grading workers sharing the GPU")
    parser.add_argument("--backends", nargs="*", default=list(BACKENDS))
    parser.add_argument("--assignments", nargs="*", help="default: every one (--quick: 07)")
    parser.add_argument("--lectures", nargs="*", help="default: 02 and 07 (--quick: 07)")
    args = parser.parse_args(argv)
    start = time.monotonic()
    deadline = start + args.budget

    device = gpu_device()
    log(f"device: {device or 'no GPU visible: the CPU path'}")
    backends = installed_backends(args.backends)
    skipped = [b for b in args.backends if b not in backends]
    for backend in skipped:
        log(f"{backend}: not installed, skipped")
    if args.quick:
        backends = backends[:1]
    assignments = args.assignments or ([QUICK_ASSIGNMENT] if args.quick else nh.ASSIGNMENTS)
    profile = "smoke" if args.quick else "gpu"
    lectures_wanted = tuple(args.lectures or (("07",) if args.quick else LECTURES))
    lecture_backends = backends[:1]  # one backend's timings fit the budget; grading covers all
    reserve = args.lecture_limit * len(lectures_wanted) * len(lecture_backends)

    flags, sandbox = sandbox_flags()
    facts = [
        ("device", device or "no GPU visible (the CPU path)"),
        (
            "machine",
            f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        ),
        ("grading", f"make grade JOBS={args.jobs}, sandbox {sandbox}, smoke profile"),
    ]
    # --quick (CI) skips starting each backend once more just to ask it about GPUs
    facts += [(b, versions(b) + ("" if args.quick else f"; {probe(b)}")) for b in backends]
    facts += [(b, "not installed: skipped") for b in skipped]
    if args.quick:
        facts.append(("mode", "--quick: one assignment, one backend, smoke profile"))

    grading, lectures = {}, {}
    scratch = tempfile.mkdtemp(prefix="gpu-check-")
    args.log_dir = os.path.join(os.path.dirname(os.path.abspath(args.out)), "gpu-check-logs")
    os.makedirs(args.log_dir, exist_ok=True)
    try:
        if backends:
            template = build_course(scratch, assignments)
            for backend in backends:
                grading[backend] = grade_backend(
                    backend, template, scratch, assignments, args, deadline - reserve, flags
                )
        for backend in lecture_backends:
            for number in lectures_wanted:
                limit = min(args.lecture_limit, deadline - time.monotonic())
                lectures[(backend, number, profile)] = time_lecture(
                    backend, number, profile, scratch, limit, args
                )
                log(
                    f"{backend} lecture {number} ({profile}): {lectures[(backend, number, profile)]}"
                )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        for backend in skipped:
            grading[backend] = "not installed: skipped"
        report(args.out, facts, grading, lectures, time.monotonic() - start)
    log(f"report: {args.out}")
    failed = [
        (b, a)
        for b, rows in grading.items()
        if not isinstance(rows, str)
        for a, row in rows.items()
        if row[0].startswith("FAILED")
    ]
    failed += [k for k, (verdict, _) in lectures.items() if verdict.startswith("FAILED")]
    if not backends:
        log("no backend installed")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
