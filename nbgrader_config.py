"""nbgrader configuration for the aekeras course (read from the repository root).

JupyterLab, formgrader and the Validate button read this file from the server's working
directory, so the course is served from the repository root (``make lab``).

The exchange (where released assignments, submissions and feedback pass between instructor
and students) is ``$AEKERAS_EXCHANGE`` when set (a shared folder, e.g. on a JupyterHub),
else ``nbgrader_exchange/`` in this checkout (ignored by git). A student's fetched
assignments land in the server's root folder, ``<assignment>/`` (also ignored by git).
"""

import os

c = get_config()  # noqa: F821 - provided by nbgrader

_here = os.path.dirname(os.path.abspath(__file__))
exchange = os.environ.get("AEKERAS_EXCHANGE") or os.path.join(_here, "nbgrader_exchange")
try:  # JupyterLab's panels report a missing exchange instead of creating it
    os.makedirs(exchange, exist_ok=True)
except OSError:
    pass  # read-only here (e.g. inside the grading sandbox); nbgrader says so if it matters
c.Exchange.root = exchange

c.CourseDirectory.course_id = "aekeras"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = "sqlite:///gradebook.db"

# A deleted test cell scores 0 instead of being flagged for manual grading.
c.OverwriteCells.add_missing_cells = True
# Seconds per cell; a whole-notebook limit is enforced by aekeras_grader's wrapper.
c.Execute.timeout = 300
c.Execute.interrupt_on_timeout = True
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# aekeras_grader: feedback without hidden tests; tampered or deleted cells restored, deleted
# test cells scored 0, only errors fail a test cell (not stray stderr), printed output capped.
from aekeras_grader import configure  # noqa: E402

configure(c)
