"""Benchmark: grading a generated class of the demo assignment with N workers.

Times ``aekeras_grader`` end to end (record the assignment, autograde, merge, feedback,
``grades.csv``) for each class size and worker count, and reports the time per submission::

    python benchmarks/grading.py                       # 30 with 1 and 2 workers, 100 with 2
    python benchmarks/grading.py --runs 30:1 30:2 100:2
    AEKERAS_PROFILE=cpu python benchmarks/grading.py --assignments   # the ten real ones

The class mixes correct, wrong and broken submissions (``grading_demo``) but leaves
out the cases that only wait for a limit (infinite loops, the runaway notebook), so the
numbers measure throughput, not the limits. ``--assignments`` instead grades each real
assignment of ``solutions/`` with two submissions, its solution and its untouched release
(under the profile ``AEKERAS_PROFILE`` names), and reports the seconds per submission.
Not a test: numbers depend on the machine.
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

from aekeras_grader import runner

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests import grading_demo as demo  # noqa: E402

SKIP = demo.SLOW_CASES
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpu_seconds():
    """CPU time of this process and of the grading processes (the forkserver's reaped tree)."""
    import multiprocessing.forkserver as forkserver

    import psutil

    total = sum(psutil.Process().cpu_times()[:4])
    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)
    if pid:
        total += sum(psutil.Process(pid).cpu_times()[:4])
    return total


def bench(size, jobs, config):
    """Grades a fresh class of ``size`` with ``jobs`` workers; returns the timings."""
    with tempfile.TemporaryDirectory(prefix="aekeras-bench-") as tmp:
        root = os.path.join(tmp, "course")
        cases = [c for c in demo.CASES if c not in SKIP][:size]
        expected = demo.write_demo(root, size, config=config, cases=cases)
        grader = runner.ClassGrader(
            demo.ASSIGNMENT, root, jobs=jobs, log=lambda *a: None, workdir=os.path.join(tmp, "work")
        )
        cpu, start = cpu_seconds(), time.monotonic()
        results = grader.run()
        graded = time.monotonic()
        grader.feedback()
        fed = time.monotonic()
        grader.export()
        end = time.monotonic()
        cpu = cpu_seconds() - cpu
        wrong = [s for s, r in results.items() if r.score != expected[s]]
        return {
            "size": len(results),
            "jobs": jobs,
            "grade_s": graded - start,
            "feedback_s": fed - graded,
            "export_s": end - fed,
            "total_s": end - start,
            "cpu_s": cpu,
            "median_submission_s": statistics.median(r.seconds for r in results.values()),
            "wrong_scores": wrong,
        }


def _mistakes():
    from tests.nbgrader_helpers import MISTAKES

    return MISTAKES


def bench_assignment(assignment, tmp, judged=True):
    """Grades the solution and the untouched release of one real assignment, one worker.

    ``judged=False`` is the baseline: test cells in the student's kernel, no sandbox (the
    grading before the judge), in the same run so that the two compare on the same load.
    """
    root = os.path.join(tmp, f"{assignment}-{'judged' if judged else 'in-kernel'}")
    os.makedirs(root)
    with open(os.path.join(ROOT, "nbgrader_config.py")) as f:
        config = f.read()
    if not judged:
        config = config.replace("configure(c)", "configure(c, judged=False)")
    with open(os.path.join(root, "nbgrader_config.py"), "w") as f:
        f.write(config)
    shutil.copytree(
        os.path.join(ROOT, "solutions", assignment), os.path.join(root, "solutions", assignment)
    )
    for student, folder in (("solution", "solutions"), ("release", "exercises")):
        target = os.path.join(root, "submitted", student, assignment)
        shutil.copytree(os.path.join(ROOT, folder, assignment), target)
    mistake = _mistakes().get(assignment)
    if mistake:  # the plausible mistake of tests/test_exercises.py: its partial score
        from tests import nbgrader_helpers as nh

        solution = nh.read_notebook(nh.solution_path(assignment))
        target = os.path.join(root, "submitted", "mistake", assignment)
        os.makedirs(target)
        with open(os.path.join(target, f"{assignment}.ipynb"), "w") as f:
            json.dump(nh.substitute(solution, *mistake), f)
    grader = runner.ClassGrader(
        assignment,
        root,
        jobs=1,
        log=lambda *a: None,
        workdir=os.path.join(root, "work"),
        unsafe=not judged,
    )
    results = grader.run()
    return {s: (r.score, r.max_score, r.seconds) for s, r in results.items()}


def assignments_table(only=()):
    profile = os.environ.get("AEKERAS_PROFILE", "auto")
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    print(f"profile {profile}, backend {backend}, cpus {os.cpu_count()}, one worker")
    print(
        "Per submission: seconds (score) graded in-kernel (before the judge: tests in the "
        "student's kernel, no sandbox) -> judged (sandbox + judge), side by side in this run."
    )
    # Wall time only: the sandboxed kernel's CPU time is not reaped into this process tree
    # (bwrap's init is killed, not waited for), so a CPU sum would undercount the judged side.
    print(
        f"{'assignment':<28}{'solution':>24}{'release':>22}{'mistake':>22}{'judged/in-kernel':>18}"
    )
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    from release_exercises import assignment_ids

    ids = [a for a in assignment_ids(ROOT) if not only or a in only]
    totals = {False: 0.0, True: 0.0}
    same = True
    with tempfile.TemporaryDirectory(prefix="aekeras-bench-") as tmp:
        for assignment in ids:
            runs = {judged: bench_assignment(assignment, tmp, judged) for judged in (False, True)}
            students = [s for s in ("solution", "release", "mistake") if s in runs[True]]
            cells = []
            for student in ("solution", "release", "mistake"):
                if student not in students:
                    cells.append("-")
                    continue
                (s0, _, t0), (s1, _, t1) = runs[False][student], runs[True][student]
                same = same and s0 == s1
                cells.append(f"{t0:.1f}->{t1:.1f} s ({s0:g}|{s1:g})")
            wall = [sum(runs[j][s][2] for s in students) for j in (False, True)]
            for judged in (False, True):
                totals[judged] += wall[judged]
            print(
                f"{assignment:<28}{cells[0]:>24}{cells[1]:>22}{cells[2]:>22}"
                f"{wall[1] / wall[0]:18.2f}",
                flush=True,
            )
    print(
        f"all {len(ids)} assignments: {totals[False]:.0f} s in-kernel -> {totals[True]:.0f} s "
        f"judged (x{totals[True] / totals[False]:.2f}); same scores both ways: {same}"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--runs", nargs="+", default=["30:1", "30:2", "100:2"], help="SIZE:JOBS pairs"
    )
    parser.add_argument(
        "--assignments",
        nargs="*",
        default=None,
        help="time the real assignments instead (all, or the ones named)",
    )
    args = parser.parse_args(argv)
    if args.assignments is not None:
        assignments_table(args.assignments)
        return 0
    config = os.path.join(os.path.dirname(os.path.dirname(__file__)), "nbgrader_config.py")
    print(f"cpus: {os.cpu_count()}, load average: {os.getloadavg()}")
    print("(cpu_s counts the grader, workers and judges; not the sandboxed kernels)")
    print(
        "size jobs  grade_s feedback_s export_s total_s per_submission_s median_one_s"
        "   cpu_s cpu_per_submission_s"
    )
    for run in args.runs:
        size, jobs = (int(x) for x in run.split(":"))
        r = bench(size, jobs, config)
        print(
            f"{r['size']:4d} {r['jobs']:4d} {r['grade_s']:8.1f} {r['feedback_s']:10.1f} "
            f"{r['export_s']:8.1f} {r['total_s']:7.1f} {r['total_s'] / r['size']:16.2f} "
            f"{r['median_submission_s']:12.2f} {r['cpu_s']:7.1f} {r['cpu_s'] / r['size']:20.2f}",
            flush=True,
        )
        if r["wrong_scores"]:
            print(f"  unexpected scores: {r['wrong_scores']}")
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
