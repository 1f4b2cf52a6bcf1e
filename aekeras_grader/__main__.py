"""Command line: ``python -m aekeras_grader grade|feedback|check-feedback ...``."""

import argparse
import os
import sys

from . import runner


def _grade(args):
    results = runner.grade(
        args.assignment,
        args.root,
        jobs=args.jobs,
        limit=args.limit,
        cell_timeout=args.cell_timeout,
        students=args.student,
        force=args.force,
        feedback=not args.no_feedback,
        memory=args.memory,
        unsafe=args.unsafe_no_sandbox,
        gpu_memory=args.gpu_memory,
        scheduler=args.scheduler,
    )
    return 0 if all(r.recorded for r in results.values()) else 1


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m aekeras_grader", description=__doc__)
    parser.add_argument("--root", default=".", help="course folder (with nbgrader_config.py)")
    commands = parser.add_subparsers(dest="command", required=True)

    grade = commands.add_parser("grade", help="autograde a class, write feedback and grades.csv")
    grade.add_argument("assignment")
    grade.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    grade.add_argument(
        "--limit",
        type=float,
        default=runner.DEFAULT_LIMIT,
        help="seconds for a whole notebook; longer scores 0 (default %(default)g)",
    )
    grade.add_argument("--cell-timeout", type=int, help="seconds per cell (Execute.timeout)")
    grade.add_argument("--student", action="append", help="grade only this student (repeatable)")
    grade.add_argument("--force", action="store_true", help="regrade graded submissions too")
    grade.add_argument("--no-feedback", action="store_true", help="skip generate_feedback")
    grade.add_argument(
        "--memory",
        default=None,
        help="memory per submission, e.g. 3G (default: $GRADE_MEMORY or 4G); more scores 0",
    )
    grade.add_argument(
        "--gpu-memory",
        default=None,
        help="GPU memory per worker, e.g. 8G (default: $GRADE_GPU_MEMORY, or no cap); more "
        "scores 0",
    )
    grade.add_argument(
        "--scheduler",
        default=None,
        help="grade on a Dask cluster: its scheduler's address, e.g. tcp://host:8786 "
        "(default: $GRADE_SCHEDULER, or --jobs local workers)",
    )
    grade.add_argument(
        "--unsafe-no-sandbox",
        action="store_true",
        help="grade without the sandbox (students' code runs with your rights); marked in "
        "grades.csv",
    )

    feedback = commands.add_parser("feedback", help="regenerate feedback without hidden tests")
    feedback.add_argument("assignment")

    check = commands.add_parser("check-feedback", help="fail if feedback shows a hidden test")
    check.add_argument("assignment")

    args = parser.parse_args(argv)
    if args.command == "grade" and not args.scheduler:
        args.scheduler = os.environ.get("GRADE_SCHEDULER") or None
    if args.command == "grade":
        from .sandbox import SandboxUnavailable

        try:
            return _grade(args)
        except SandboxUnavailable as err:
            print(f"make grade: cannot sandbox students' code: {err}", file=sys.stderr)
            return 3
    if args.command == "feedback":
        return 0 if runner.generate_feedback(args.assignment, args.root) else 1
    if args.command == "check-feedback":
        leaks = runner.check_feedback(args.assignment, args.root)
        for path, line in leaks:
            print(f"{os.path.relpath(path, args.root)}: {line}")
        print(f"{len(leaks)} hidden test line(s) in the feedback of {args.assignment}")
        return 1 if leaks else 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
