"""A throwaway nbgrader course for tests: release, submit as students, autograde, read grades.

Everything happens in a temporary course directory with the repository's own
``nbgrader_config.py`` and its own gradebook file, through nbgrader's command line (the
commands an instructor types), so the repository's ``gradebook.db``, ``submitted/`` and
``autograded/`` are never touched. Assignments are found by globbing ``solutions/*``.
"""

import copy
import importlib.util
import json
import os
import shutil
import time

import nbformat

import aekeras_grader as grading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COURSE_ID = "aekeras"

_spec = importlib.util.spec_from_file_location(
    "release_exercises", os.path.join(ROOT, "tools", "release_exercises.py")
)
release_exercises = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(release_exercises)

ASSIGNMENTS = release_exercises.assignment_ids()

# Each kernel does its linear algebra on one thread: grading runs several kernels side by side,
# and BLAS or torch threads that spin-wait for a busy core make a kernel many times slower.
SINGLE_THREAD = {
    var: "1"
    for var in (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "TF_NUM_INTRAOP_THREADS",
        "TF_NUM_INTEROP_THREADS",
    )
}

MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def solution_path(assignment, root=ROOT):
    return os.path.join(root, "solutions", assignment, f"{assignment}.ipynb")


def release_path(assignment, root=ROOT):
    return os.path.join(root, "exercises", assignment, f"{assignment}.ipynb")


def read_notebook(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def source(cell):
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else text


def nbgrader_meta(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def hidden_only_lines(notebook):
    """Stripped lines of hidden tests that appear nowhere else in the solution notebook."""
    nb = nbformat.reads(json.dumps(notebook), as_version=4)  # sources as one string each
    return grading.hidden_lines(nb, min_length=1)


def substitute(notebook, old, new):
    """A copy of ``notebook`` with the one occurrence of ``old`` in a cell source replaced."""
    notebook = copy.deepcopy(notebook)
    hits = [cell for cell in notebook["cells"] if old in source(cell)]
    count = sum(source(cell).count(old) for cell in hits)
    if count != 1:
        raise AssertionError(f"expected exactly one occurrence of {old!r}, found {count}")
    cell = hits[0]
    cell["source"] = source(cell).replace(old, new)
    return notebook


def cells_of(notebook, kind):
    """Cells that are nbgrader answer cells (``"answer"``) or test cells (``"test"``)."""
    if kind == "answer":
        return [c for c in notebook["cells"] if nbgrader_meta(c).get("solution")]
    return [c for c in notebook["cells"] if nbgrader_meta(c).get("grade")]


def nbgrader_env(**extra):
    env = release_exercises.nbgrader_env(SINGLE_THREAD)
    env.update(extra)
    return env


class Course(grading.runner.Course):
    """The grader's ``Course`` in a temporary folder with the repository's configuration,
    driven through nbgrader's command line."""

    def __init__(self, root, assignments=None):
        self.db = os.path.join(root, "gradebook.db")
        os.makedirs(os.path.join(root, "solutions"), exist_ok=True)
        shutil.copy(os.path.join(ROOT, "nbgrader_config.py"), root)
        for assignment in assignments if assignments is not None else ASSIGNMENTS:
            shutil.copytree(
                os.path.join(ROOT, "solutions", assignment),
                os.path.join(root, "solutions", assignment),
            )
        super().__init__(root)

    def nbgrader(self, *args, db=None, env=None, timeout=900, check=True):
        return release_exercises.nbgrader(
            list(args),
            self.root,
            db or self.db,
            timeout=timeout,
            env=env or nbgrader_env(),
            check=check,
        )

    def generate(self):
        """Releases every assignment of the course in one nbgrader run."""
        release_exercises.generate(self.root, self.db)

    def copy_db(self, name):
        path = os.path.join(self.root, name)
        shutil.copy(self.db, path)
        return path

    def submit(self, student, assignment, notebook=None, raw=None, name=None):
        """Puts a submission where ``nbgrader collect`` would: submitted/<student>/<assignment>/."""
        folder = os.path.join(self.root, "submitted", student, assignment)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, name or f"{assignment}.ipynb")
        if raw is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(raw)
        else:
            with open(path, "w", encoding="utf-8") as f:
                json.dump(notebook, f, indent=1, ensure_ascii=False)
        with open(os.path.join(folder, "timestamp.txt"), "w") as f:
            f.write("2026-01-01 12:00:00.000000 UTC")
        return path

    def autograde(self, assignment, db=None, cell_timeout=None, check=False):
        """One ``nbgrader autograde`` run grading every student's submission of ``assignment``."""
        args = ["autograde", assignment, "--force"]
        if cell_timeout is not None:
            args.append(f"--Execute.timeout={int(cell_timeout)}")
        start = time.monotonic()
        result = self.nbgrader(*args, db=db, check=check)
        return result, time.monotonic() - start


def read_grades(db_path):
    """{(student, assignment): {"score", "max_score", "cells": {grade_id: (auto_score, needs_manual)}}}."""
    from nbgrader.api import Gradebook

    grades = {}
    with Gradebook(f"sqlite:///{db_path}", COURSE_ID) as gb:
        for assignment in gb.assignments:
            for submission in assignment.submissions:
                cells = {}
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        cells[grade.name] = (grade.auto_score, grade.needs_manual_grade)
                grades[(submission.student.id, assignment.name)] = {
                    "score": submission.score,
                    "max_score": submission.max_score,
                    "cells": cells,
                }
    return grades


def student_workspace(base, student):
    """A student's own folder and environment: HOME there, so nbgrader's cache is theirs."""
    home = os.path.join(base, student)
    os.makedirs(home, exist_ok=True)
    return home, nbgrader_env(HOME=home, JUPYTER_DATA_DIR=os.path.join(home, ".jupyter-data"))


# One plausible mistake per assignment: a targeted edit of the solution's source that a
# student could make, (text in the solution, what the student wrote). It must cost some
# points but not all (tests/test_exercises.py checks it).
MISTAKES = {
    "01_pca": (  # forgets to add the mean back in the decoder
        "return np.asarray(codes) @ np.asarray(components) + mean",
        "return np.asarray(codes) @ np.asarray(components)",
    ),
    "02_deep_autoencoder": (  # mean over pixels instead of the sum per image
        "return ops.sum(ops.reshape(ops.square(diff), (ops.shape(diff)[0], -1)), axis=1)",
        "return ops.mean(ops.reshape(ops.square(diff), (ops.shape(diff)[0], -1)), axis=1)",
    ),
    "03_text_retrieval": (  # normalises the queries but not the documents: a dot product
        "    d = d / np.where(d_norm == 0, 1.0, d_norm)\n",
        "",
    ),
    "04_image_retrieval": (  # thresholds the sigmoid at 0, like a sign function
        "(activations > 0.5)",
        "(activations > 0)",
    ),
    "05_pretraining": (  # stacks the pretrained layers without freezing them
        "    for layer in encoder_layers:\n        layer.trainable = False\n",
        "",
    ),
    "06_regularised_autoencoders": (  # rescales the kept inputs like Dropout
        "return x * keep\n",
        "return x * keep / (1 - rate)\n",
    ),
    "07_convolutional_autoencoder": (  # a switch at every maximum of a window, not the first
        "first_max = ops.one_hot(first, p * p, dtype=x.dtype)",
        "first_max = ops.cast(is_max, x.dtype)",
    ),
    "08_rbm": (  # the sampled h instead of p(h=1|v) in the positive statistics
        "positive = ops.matmul(ops.transpose(v), p_h)",
        "positive = ops.matmul(ops.transpose(v), h)",
    ),
    "09_vae": (  # mean over pixels instead of the sum in the reconstruction term
        "log_lik = ops.sum(ops.reshape(",
        "log_lik = ops.mean(ops.reshape(",
    ),
    "10_mae": (  # averages the loss over every patch, not the masked ones only
        "return ops.sum(per_patch * mask) / ops.sum(mask)",
        "return ops.mean(per_patch)",
    ),
    "11_sequence_autoencoder": (  # teacher forcing off by one step: reads the target it must output next
        "return ops.concatenate([start, targets[:, :-1]], axis=1)",
        "return ops.concatenate([start, targets[:, 1:]], axis=1)",
    ),
}
