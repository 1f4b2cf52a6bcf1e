"""Every lecture and solution notebook runs top to bottom, and none is committed with outputs.

Later issues only add notebooks: they are found by globbing. Each runs in its own kernel
with the session's profile (``smoke`` in CI) and a per-notebook time limit.
"""

import glob
import json
import os
import time

import pytest

from tests import ROOT

NOTEBOOK_TIMEOUT = int(os.environ.get("AEKERAS_NOTEBOOK_TIMEOUT", "600"))
LECTURES = sorted(glob.glob(os.path.join(ROOT, "course", "*.ipynb")))
SOLUTIONS = sorted(glob.glob(os.path.join(ROOT, "solutions", "*", "*.ipynb")))
ALL = LECTURES + SOLUTIONS + sorted(glob.glob(os.path.join(ROOT, "exercises", "*", "*.ipynb")))


def _id(path):
    return os.path.relpath(path, ROOT)


# Run before a lecture's first cell: every figure drawn for display is checked for a title
# (of the figure or of an axes) or an axis label, and unlabelled ones are listed.
FIGURE_AUDIT = """
import matplotlib.backend_bases as _backend_bases

_aekeras_unlabelled = []
_aekeras_print_figure = _backend_bases.FigureCanvasBase.print_figure


def _aekeras_audit(self, *args, **kwargs):
    fig = self.figure
    axes = fig.get_axes()
    texts = [fig._suptitle.get_text() if fig._suptitle else ""] + [
        t for ax in axes for t in (ax.get_title(), ax.get_xlabel(), ax.get_ylabel())
    ]
    if axes and not any(t.strip() for t in texts):
        _aekeras_unlabelled.append(len(axes))
    return _aekeras_print_figure(self, *args, **kwargs)


_backend_bases.FigureCanvasBase.print_figure = _aekeras_audit
"""
FIGURE_REPORT = "print(_aekeras_unlabelled)"


def run_notebook(path, timeout=NOTEBOOK_TIMEOUT, audit_figures=False):
    """Executes a notebook in a fresh kernel, in its own folder; raises on the first error.

    With ``audit_figures``, returns as a third value the number of figures shown without
    any title or axis label (the audit cells are removed from the returned notebook).
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    if audit_figures:
        nb.cells.insert(0, nbformat.v4.new_code_cell(FIGURE_AUDIT))
        nb.cells.append(nbformat.v4.new_code_cell(FIGURE_REPORT))
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": os.path.dirname(path)}},
    )
    env = dict(os.environ)
    if audit_figures:  # figures are drawn (inline) only without a non-interactive backend
        env.pop("MPLBACKEND", None)
    start = time.monotonic()
    client.execute(env=env)
    seconds = time.monotonic() - start
    if not audit_figures:
        return nb, seconds
    report = nb.cells.pop()
    nb.cells.pop(0)
    unlabelled = json.loads(report.outputs[0]["text"])
    return nb, seconds, unlabelled


@pytest.mark.notebook
@pytest.mark.parametrize(
    "path",
    [pytest.param(p, marks=pytest.mark.lecture, id=_id(p)) for p in LECTURES]
    + [pytest.param(p, marks=pytest.mark.solution, id=_id(p)) for p in SOLUTIONS],
)
def test_notebook_runs(path):
    if path not in LECTURES:
        _, seconds = run_notebook(path)
        print(f"{_id(path)}: {seconds:.1f} s")
        return
    nb, seconds, unlabelled = run_notebook(path, audit_figures=True)
    print(f"{_id(path)}: {seconds:.1f} s")
    assert_reads_cleanly(nb, _id(path))
    assert not unlabelled, (
        f"{_id(path)} shows {len(unlabelled)} figure(s) with no title and no axis label "
        f"(axes per figure: {unlabelled})"
    )


def assert_reads_cleanly(nb, name):
    """A lecture's outputs are what a student should see: no stderr, no stray bare values.

    TensorFlow's C++ log lines, Python warnings and ``Out[n]: 0.99...`` from a helper's
    return value all land in the page a student reads and in the built book.
    """
    found = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                found.append(f"cell {index}: stderr {output['text'][:300]!r}")
            elif output.get("output_type") == "execute_result":
                shown = output.get("data", {}).get("text/plain", "")[:120]
                found.append(f"cell {index}: bare value Out[{cell.execution_count}]: {shown}")
    assert not found, f"{name} shows output a student should not see:\n" + "\n".join(found)


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
