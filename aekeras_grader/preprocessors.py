"""nbgrader preprocessors that close the holes a large class falls into.

* :class:`RestoreCells` (sanitize step, before ``OverwriteCells``): gives cells the student
  tampered with their nbgrader metadata back, drops metadata with ids the gradebook does not
  know, and puts deleted locked cells (the seeded setup cell) back in place.
* :class:`ScoreDeletedTests` (autograde step, after ``Execute``): a test cell the student
  deleted, which ``OverwriteCells.add_missing_cells`` added back, scores 0.
* :class:`SaveAutoGradesOnErrors` (instead of ``SaveAutoGrades``): only an error fails a test
  cell; a warning or a TensorFlow log line on stderr does not.
* :class:`BoundedExecute` (instead of ``Execute``) and :class:`LimitOutputSize` (instead of
  ``LimitOutput``): printed output is capped while a cell runs and in what is kept.
* :class:`HideHiddenTests` (feedback): strips ``### BEGIN/END HIDDEN TESTS`` blocks, cuts errors
  of test cells with hidden tests to ``ename: evalue`` and redacts hidden lines from outputs.

:func:`configure` puts them into an nbgrader ``Config``; ``nbgrader_config.py`` calls it.
"""

import re

import nbformat
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.api import Gradebook
from nbgrader.preprocessors import (
    Execute,
    LimitOutput,
    NbGraderPreprocessor,
    OverwriteCells,
    SaveAutoGrades,
)
from traitlets import Integer, Unicode

from .kernel import MAX_CHARS, TRUNCATED

BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"
END_HIDDEN = "END HIDDEN TESTS"
# Hidden lines shorter than this (")", "else:") say nothing and occur everywhere.
MIN_HIDDEN_LINE = 8
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def split_hidden(source, begin=BEGIN_HIDDEN, end=END_HIDDEN):
    """Returns ``(visible_source, hidden_lines)`` of a cell source (markers are dropped).

    Raises ``ValueError`` on a nested, unmatched or unterminated block, as nbgrader's
    ``ClearHiddenTests`` does: such a cell would otherwise show hidden lines or hide visible ones.
    """
    visible, hidden, inside = [], [], False
    for number, line in enumerate(source.split("\n"), 1):
        if begin in line:
            if inside:
                raise ValueError(f"line {number}: {begin} inside a hidden block (nested)")
            inside = True
        elif end in line:
            if not inside:
                raise ValueError(f"line {number}: {end} without {begin}")
            inside = False
        elif inside:
            hidden.append(line)
        else:
            visible.append(line)
    if inside:
        raise ValueError(f"{begin} is never closed by {end}")
    return "\n".join(visible), hidden


def hidden_lines(nb, begin=BEGIN_HIDDEN, end=END_HIDDEN, min_length=MIN_HIDDEN_LINE):
    """The lines of a source notebook that only its hidden tests contain (stripped, set).

    Lines that also occur outside hidden blocks (which a student sees, or writes as the
    answer) and lines shorter than ``min_length`` are left out.
    """
    hidden, seen = set(), set()
    for cell in nb.cells:
        visible, lines = split_hidden(cell.source, begin, end)
        hidden.update(line.strip() for line in lines)
        seen.update(line.strip() for line in visible.split("\n"))
    return {line for line in hidden - seen if len(line) >= max(1, min_length)}


def _redact(text, hidden):
    lines = text.split("\n")
    out = []
    for line in lines:
        plain = _ANSI.sub("", line)
        out.append("[hidden test line]" if any(h in plain for h in hidden) else line)
    return "\n".join(out)


class HideHiddenTests(NbGraderPreprocessor):
    """Feedback without hidden tests: for ``GenerateFeedback.preprocessors``, after ``GetGrades``.

    Every cell keeps only its visible source; an error in a cell that had hidden tests is cut
    to one ``ename: evalue`` line; any output line that shows a hidden line (a warning, a
    traceback through a helper defined in a hidden block) is replaced by ``[hidden test line]``.
    The autograded notebook (the instructor's record) is not touched: nbgrader converts a copy.
    """

    begin_hidden = Unicode(BEGIN_HIDDEN, help="Marker that opens a hidden test block.").tag(
        config=True
    )
    end_hidden = Unicode(END_HIDDEN, help="Marker that closes a hidden test block.").tag(
        config=True
    )

    def preprocess(self, nb, resources):
        self._hidden = hidden_lines(nb, self.begin_hidden, self.end_hidden)
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        visible, lines = split_hidden(cell.source, self.begin_hidden, self.end_hidden)
        cell.source = visible
        if cell.cell_type != "code":
            return cell, resources
        outputs = []
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                if lines:
                    message = f"{output.ename}: {output.evalue}".rstrip(": ")
                    output.traceback = [_redact(message, self._hidden)]
                    output.evalue = _redact(output.evalue, self._hidden)
                else:
                    output.traceback = [_redact(line, self._hidden) for line in output.traceback]
            elif output.output_type == "stream":
                output.text = _redact(output.text, self._hidden)
            elif "data" in output:
                for mime, value in list(output.data.items()):
                    if mime.startswith("text/") and isinstance(value, str):
                        output.data[mime] = _redact(value, self._hidden)
            outputs.append(output)
        cell.outputs = outputs
        return cell, resources


class RestoreCells(NbGraderPreprocessor):
    """Sanitize step, before ``OverwriteCells``: the gradebook's cells win over the student's.

    * a cell whose ``grade_id`` the gradebook knows gets its ``grade``, ``solution``,
      ``locked`` and ``points`` flags back (so un-marking a test cell does not skip it);
    * nbgrader metadata with an unknown ``grade_id`` is dropped (the cell stays, ungraded);
    * a locked cell the student deleted (the seeded setup cell, the title) is inserted again
      after the cell that precedes it in the source notebook. Deleted *test* cells are left
      to ``OverwriteCells.add_missing_cells`` and :class:`ScoreDeletedTests`.
    """

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gb:
            source = gb.find_notebook(info["notebook"], info["assignment"])
            cells = {c.name: c for c in source.source_cells}
            order = [c.name for c in source.source_cells]
            graded = {c.name: c.max_score for c in source.grade_cells}
            solutions = {c.name for c in source.solution_cells}
            tasks = {c.name for c in source.task_cells}
            for cell in nb.cells:
                meta = cell.metadata.get("nbgrader")
                if not meta or "grade_id" not in meta:
                    if meta is not None and (meta.get("grade") or meta.get("solution")):
                        del cell.metadata["nbgrader"]
                    continue
                name = meta["grade_id"]
                if name not in cells:
                    self.log.warning("Dropping nbgrader metadata of unknown cell %s", name)
                    del cell.metadata["nbgrader"]
                    continue
                meta["grade"] = name in graded
                meta["solution"] = name in solutions
                meta["locked"] = bool(cells[name].locked)
                meta["task"] = name in tasks
                if name in graded:
                    meta["points"] = graded[name]
                else:
                    meta.pop("points", None)
            self._restore_locked(nb, cells, order, graded, tasks)
        return nb, resources

    def _restore_locked(self, nb, cells, order, graded, tasks):
        present = {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells}
        for position, name in enumerate(order):
            cell = cells[name]
            if name in present or not cell.locked or name in graded or name in tasks:
                continue
            self.log.warning("Locked cell %s was deleted; putting it back", name)
            new = nbformat.from_dict(
                {
                    "cell_type": cell.cell_type,
                    "metadata": {
                        "deletable": False,
                        "editable": False,
                        "nbgrader": {
                            "grade": False,
                            "grade_id": name,
                            "locked": True,
                            "schema_version": 3,
                            "solution": False,
                            "task": False,
                            "checksum": cell.checksum,
                        },
                    },
                    "source": cell.source,
                }
            )
            if cell.cell_type == "code":
                new["outputs"], new["execution_count"] = [], None
            index = 0
            for previous in reversed(order[:position]):
                hits = [
                    i
                    for i, c in enumerate(nb.cells)
                    if c.metadata.get("nbgrader", {}).get("grade_id") == previous
                ]
                if hits:
                    index = hits[0] + 1
                    break
            nb.cells.insert(index, new)
            present.add(name)


class ScoreDeletedTests(NbGraderPreprocessor):
    """Autograde step, after ``Execute``: a deleted test cell that nbgrader added back scores 0.

    ``OverwriteCells.add_missing_cells`` re-inserts the cell (so it is not left to manual
    grading); this gives it one error output, ``DeletedTestCell``, whatever its run printed.
    """

    def preprocess(self, nb, resources):
        self._notice = OverwriteCells(parent=self.parent).missing_cell_notification
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and utils.is_grade(cell):
            name = cell.metadata.nbgrader["grade_id"]
            if cell.source.startswith("# " + self._notice.format(cell_id=name).split("\n")[0]):
                cell.outputs = [
                    NotebookNode(
                        output_type="error",
                        ename="DeletedTestCell",
                        evalue="this test cell was deleted from the submission; it scores 0",
                        traceback=[
                            "DeletedTestCell: this test cell was deleted from the submission"
                        ],
                    )
                ]
        return cell, resources


OUTSTREAM = "IPKernelApp.outstream_class"
BOUNDED_STREAM = "aekeras_grader.kernel.BoundedOutStream"


class BoundedExecute(Execute):
    """nbgrader's ``Execute`` that stops recording a cell's printed output past a budget.

    A loop that prints forever otherwise fills the grader's memory until the cell timeout,
    and its backlog outlasts the wait for the kernel's last output (``iopub_timeout``). The
    kernel is started with :class:`aekeras_grader.kernel.BoundedOutStream`, so the flood is
    also cut where it is made.
    """

    max_stream_chars = Integer(
        MAX_CHARS, help="Characters of printed output recorded per cell while it runs."
    ).tag(config=True)
    iopub_timeout = Integer(30, help=Execute.iopub_timeout.help).tag(config=True)

    def preprocess(self, nb, resources, km=None):
        self._printed = {}
        language = nb.metadata.get("kernelspec", {}).get("language", "python")
        if language == "python" and not any(OUTSTREAM in a for a in self.extra_arguments):
            # Capped at the source too: the kernel drops a cell's output past its budget.
            self.extra_arguments = [*self.extra_arguments, f"--{OUTSTREAM}={BOUNDED_STREAM}"]
        return super().preprocess(nb, resources, km=km)

    def output(self, outs, msg, display_id, cell_index):
        if msg["msg_type"] == "stream":
            used = self._printed.get(cell_index, 0)
            self._printed[cell_index] = used + len(msg["content"].get("text", ""))
            if self._printed[cell_index] > self.max_stream_chars:
                if used <= self.max_stream_chars:
                    outs.append(nbformat.v4.new_output("stream", name="stdout", text=TRUNCATED))
                return None
        return super().output(outs, msg, display_id, cell_index)


class SaveAutoGradesOnErrors(SaveAutoGrades):
    """nbgrader's ``SaveAutoGrades``, except that only an error fails a test cell.

    nbgrader also gives 0 to a test cell that wrote anything to stderr, so a Python warning
    or a TensorFlow log line (``oneDNN supports DT_INT64 only on ... AVX-512``) printed while
    a correct answer is tested costs its points. A test cell passes when it raises nothing.
    """

    def _add_score(self, cell, resources):
        if cell.cell_type != "code":
            return super()._add_score(cell, resources)
        outputs = cell.outputs
        cell.outputs = [
            o for o in outputs if not (o.output_type == "stream" and o.name == "stderr")
        ]
        try:
            return super()._add_score(cell, resources)
        finally:
            cell.outputs = outputs


class LimitOutputSize(LimitOutput):
    """nbgrader's ``LimitOutput`` (lines) plus a cap on the characters of each output."""

    max_chars = Integer(
        100_000, help="Maximum characters kept of each output text (-1: no limit)."
    ).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        cell, resources = super().preprocess_cell(cell, resources, index)
        if self.max_chars < 0 or cell.cell_type != "code":
            return cell, resources
        note = TRUNCATED
        for output in cell.outputs:
            if output.output_type == "stream" and len(output.text) > self.max_chars:
                output.text = output.text[: self.max_chars] + note
            for mime, value in output.get("data", {}).items():
                if isinstance(value, str) and len(value) > self.max_chars:
                    output.data[mime] = value[: self.max_chars] + note
        return cell, resources


def configure(c, judged=True):
    """Puts the preprocessors into an nbgrader config ``c`` (in ``nbgrader_config.py``).

    ``judged=False`` runs test cells in the student's own kernel, unsandboxed, as before the
    judge existed: only for ``benchmarks/grading.py``, to measure the judge's cost against it.
    """
    from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
    from nbgrader import preprocessors as pp

    c.Autograde.sanitize_preprocessors = [
        pp.ClearOutput,
        pp.DeduplicateIds,
        pp.OverwriteKernelspec,
        RestoreCells,
        pp.OverwriteCells,
        pp.CheckCellMetadata,
    ]
    from .execute import JudgedExecute

    c.Autograde.autograde_preprocessors = [
        JudgedExecute if judged else BoundedExecute,
        ScoreDeletedTests,
        pp.IgnorePattern,
        ClearMetadataPreprocessor,
        LimitOutputSize,
        SaveAutoGradesOnErrors,
        pp.AssignLatePenalties,
        pp.CheckCellMetadata,
    ]
    c.GenerateFeedback.preprocessors = [pp.GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
    c.OverwriteCells.add_missing_cells = True
    return c


__all__ = [
    "BoundedExecute",
    "HideHiddenTests",
    "LimitOutputSize",
    "RestoreCells",
    "SaveAutoGradesOnErrors",
    "ScoreDeletedTests",
    "configure",
    "hidden_lines",
    "split_hidden",
]
