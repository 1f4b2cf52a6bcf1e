"""Every lecture and solution notebook runs top to bottom, and none is committed with outputs.

Later issues only add notebooks: they are found by globbing. Each runs in its own kernel
with the session's profile (``smoke`` in CI) and a per-notebook time limit.
"""

import glob
import json
import os
import time

import pytest
from conftest import ROOT

NOTEBOOK_TIMEOUT = int(os.environ.get("AEKERAS_NOTEBOOK_TIMEOUT", "600"))
LECTURES = sorted(glob.glob(os.path.join(ROOT, "course", "*.ipynb")))
SOLUTIONS = sorted(glob.glob(os.path.join(ROOT, "solutions", "*", "*.ipynb")))
ALL = LECTURES + SOLUTIONS + sorted(glob.glob(os.path.join(ROOT, "exercises", "*", "*.ipynb")))


def _id(path):
    return os.path.relpath(path, ROOT)


def run_notebook(path, timeout=NOTEBOOK_TIMEOUT):
    """Executes a notebook in a fresh kernel, in its own folder; raises on the first error."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": os.path.dirname(path)}},
    )
    start = time.monotonic()
    client.execute()
    return nb, time.monotonic() - start


@pytest.mark.notebook
@pytest.mark.parametrize(
    "path",
    [pytest.param(p, marks=pytest.mark.lecture, id=_id(p)) for p in LECTURES]
    + [pytest.param(p, marks=pytest.mark.solution, id=_id(p)) for p in SOLUTIONS],
)
def test_notebook_runs(path):
    _, seconds = run_notebook(path)
    print(f"{_id(path)}: {seconds:.1f} s")


@pytest.mark.parametrize("path", ALL, ids=_id)
def test_committed_without_outputs(path):
    with open(path) as f:
        nb = json.load(f)
    dirty = [
        i
        for i, cell in enumerate(nb["cells"])
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count"))
    ]
    assert not dirty, (
        f"{_id(path)} has outputs in cells {dirty}; clear them "
        "(`jupyter nbconvert --clear-output --inplace`) before committing."
    )
