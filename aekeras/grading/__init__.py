"""Grading a class with nbgrader: hidden tests stay hidden, runaway notebooks stop, N workers.

For instructors, from the course root (where ``nbgrader_config.py`` is)::

    python -m aekeras.grading grade 01_pca --jobs 4          # autograde, feedback, grades.csv
    python -m aekeras.grading check-feedback 01_pca          # no hidden test line in feedback/
    nbgrader release_feedback 01_pca                         # then hand the feedback out

``grade`` records the assignment from ``solutions/`` in ``gradebook.db``, autogrades every
``submitted/<student>/<id>/`` with nbgrader (each in its own process and worker gradebook,
under a whole-notebook time limit), merges the grades into ``gradebook.db`` as each
finishes, writes ``feedback/`` without hidden tests and exports ``grades.csv``. Run it again
after an interruption: graded submissions are skipped (``--force`` regrades them).
"""

from .preprocessors import (
    HideHiddenTests,
    LimitOutputSize,
    RestoreCells,
    SaveAutoGradesOnErrors,
    ScoreDeletedTests,
    configure,
    hidden_lines,
    split_hidden,
)
from .runner import (
    DEFAULT_LIMIT,
    ClassGrader,
    Result,
    check_feedback,
    find_leaks,
    generate_feedback,
    grade,
    html_text,
)

__all__ = [
    "DEFAULT_LIMIT",
    "ClassGrader",
    "HideHiddenTests",
    "LimitOutputSize",
    "RestoreCells",
    "Result",
    "SaveAutoGradesOnErrors",
    "ScoreDeletedTests",
    "check_feedback",
    "configure",
    "find_leaks",
    "generate_feedback",
    "grade",
    "hidden_lines",
    "html_text",
    "split_hidden",
]
