"""cnn-course: the library behind the notebooks.

``cnn_course.ref`` is the NumPy reference (forward and backward of every layer),
``cnn_course.pt`` the same operations written in PyTorch. The two mirror each other
module for module: ``cnn_course.ref.conv`` and ``cnn_course.pt.conv`` hold the
convolution, ``cnn_course.ref.pool`` and ``cnn_course.pt.pool`` the pooling. Data,
figures and widgets are ``cnn_course.data``, ``.plot`` and ``.widgets``.

Two layers sit on top of the library: ``cnn_course.grading``, the exercise checks the
notebooks' test cells call (one module per topic), and ``cnn_course.autograde``, the
autograder that grades submissions with them (nbgrader, the sandbox, the judge, the
``cnn-course`` command).
"""

import os

from . import numerics as _numerics

# Pin torch's CPU code paths before anything computes, so training runs give the same numbers
# on every x86-64 machine (see cnn_course.numerics); variables already set are left alone.
_numerics.apply_portable_env()

__version__ = "0.1.0"

#: nbgrader sets this variable while it validates or autogrades a notebook.
GRADING_ENV_VAR = "NBGRADER_EXECUTION"


def grading_run() -> bool:
    """True while nbgrader executes a notebook: training cells then take a short run,
    because grading checks the exercises, not the models, across hundreds of submissions."""
    return bool(os.environ.get(GRADING_ENV_VAR))
