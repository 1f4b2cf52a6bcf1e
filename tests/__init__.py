"""The test suite, a package: helpers are imported as ``tests.nbgrader_helpers``,
``tests.layer_checks`` and ``tests.grading_demo``, the checkout's root as ``tests.ROOT``."""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
