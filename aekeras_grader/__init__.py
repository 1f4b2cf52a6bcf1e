"""Grading a class with nbgrader: hidden tests stay hidden, runaway notebooks stop, N workers.

For instructors, from the course root (where ``nbgrader_config.py`` is)::

    python -m aekeras_grader grade 01_pca --jobs 4          # autograde, feedback, grades.csv
    python -m aekeras_grader check-feedback 01_pca          # no hidden test line in feedback/
    nbgrader release_feedback 01_pca                         # then hand the feedback out

``grade`` records the assignment from ``solutions/`` in ``gradebook.db``, autogrades every
``submitted/<student>/<id>/`` with nbgrader (each in its own process and worker gradebook,
under a whole-notebook time limit), merges the grades into ``gradebook.db`` as each
finishes, writes ``feedback/`` without hidden tests and exports ``grades.csv``. Run it again
after an interruption: graded submissions are skipped (``--force`` regrades them).
"""

import importlib

# Loaded on first use: the grading kernel imports ``aekeras_grader.kernel``, and each
# kernel start should not pay for importing nbgrader.
_EXPORTS = {
    "preprocessors": (
        "HideHiddenTests",
        "LimitOutputSize",
        "RestoreCells",
        "SaveAutoGradesOnErrors",
        "ScoreDeletedTests",
        "configure",
        "hidden_lines",
        "split_hidden",
    ),
    "runner": (
        "DEFAULT_LIMIT",
        "ClassGrader",
        "Result",
        "check_feedback",
        "find_leaks",
        "generate_feedback",
        "grade",
        "html_text",
    ),
}
_SUBMODULES = ("judge", "kernel", "preprocessors", "runner", "sandbox")

__all__ = sorted(name for names in _EXPORTS.values() for name in names)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    for module, names in _EXPORTS.items():
        if name in names:
            value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
            globals()[name] = value
            return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(__all__) + list(_SUBMODULES))
