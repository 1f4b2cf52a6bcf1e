"""Regenerates ``exercises/`` from ``solutions/`` with nbgrader (``make exercises``).

Every folder ``solutions/<id>/`` is released into ``exercises/<id>/`` by nbgrader's own
``generate_assignment <id> --force``, run from the course root so that ``nbgrader_config.py``
applies, with a throwaway gradebook: the repository never holds a ``gradebook.db``. Nothing
is normalised by hand, so ``exercises/`` is exactly what nbgrader makes, and
``tests/test_exercises.py`` checks that it stays so. Folders of ``exercises/`` without a
solution are removed.

Usage::

    python tools/release_exercises.py                 # every assignment
    python tools/release_exercises.py 01_pca 03_text_retrieval
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def assignment_ids(root=ROOT):
    """The assignment ids: the folders of ``solutions/`` (an id names its folder and notebook)."""
    source = os.path.join(root, "solutions")
    return sorted(
        name
        for name in os.listdir(source)
        if os.path.isdir(os.path.join(source, name)) and not name.startswith((".", "_"))
    )


def nbgrader_env(extra=None):
    """The environment for nbgrader: this Python's ``bin/`` first on PATH (it runs ``alembic``)."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.update(extra or {})
    return env


def nbgrader(args, course_root, db_path, timeout=600, env=None, check=True):
    """Runs ``nbgrader <args>`` in ``course_root`` (whose nbgrader_config.py applies) on ``db_path``."""
    command = [sys.executable, "-m", "nbgrader", *args, f"--db=sqlite:///{db_path}"]
    result = subprocess.run(
        command,
        cwd=course_root,
        env=env or nbgrader_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"`nbgrader {' '.join(args)}` failed with exit code {result.returncode} in "
            f"{course_root}:\n{result.stdout}\n{result.stderr}"
        )
    return result


def generate(course_root, db_path, ids=None):
    """``nbgrader generate_assignment <id> --force`` into the course's release folder.

    With ``ids=None`` one nbgrader run releases every folder of the course's source
    directory (the id ``"*"``, which nbgrader globs); that is what it would make one id at a
    time, byte for byte, in a fraction of the time.
    """
    for assignment in ids or ["*"]:
        nbgrader(
            ["generate_assignment", assignment, "--force", f"--CourseDirectory.root={course_root}"],
            course_root,
            db_path,
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "ids", nargs="*", help="assignment ids (default: every folder of solutions/)"
    )
    args = parser.parse_args(argv)
    ids = args.ids or assignment_ids()
    unknown = sorted(set(ids) - set(assignment_ids()))
    if unknown:
        parser.error(f"no such folder in solutions/: {', '.join(unknown)}")
    with tempfile.TemporaryDirectory(prefix="aekeras-release-") as scratch:
        generate(ROOT, os.path.join(scratch, "gradebook.db"), args.ids or None)
    if not args.ids:
        release = os.path.join(ROOT, "exercises")
        for name in sorted(os.listdir(release)):
            path = os.path.join(release, name)
            if os.path.isdir(path) and name not in ids:
                print(f"removing {os.path.relpath(path, ROOT)}: no solutions/{name}")
                shutil.rmtree(path)
    for assignment in ids:
        print(f"released exercises/{assignment}/ from solutions/{assignment}/")


if __name__ == "__main__":
    main()
