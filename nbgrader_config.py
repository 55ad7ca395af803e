"""nbgrader configuration of the cnn-course repository.

Used by the ``cnn-course`` CLI (which loads this file and then points the root and the
gradebook at throw-away folders for generate/check-sync/tests) and by plain
``nbgrader ...`` commands run from the repository root.
"""

import os
import sys

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    ClearHiddenTests,
    GetGrades,
    IgnorePattern,
    LimitOutput,
    SaveAutoGrades,
)

from cnn_course.nbgrader_ext import HideHiddenTestTracebacks, ResilientExecute

c = get_config()  # noqa: F821 (injected by traitlets' config loader)

HERE = os.path.dirname(os.path.abspath(__file__))

# nbgrader's gradebook runs the ``alembic`` tool by name. Put the scripts folder of the
# Python running nbgrader on PATH, so a virtual environment works without activation.
_SCRIPTS = os.path.dirname(sys.executable)
if _SCRIPTS not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _SCRIPTS + os.pathsep + os.environ.get("PATH", "")

# --- Where things live -------------------------------------------------------------
# The repository is the course directory, whatever the working directory is.
c.CourseDirectory.root = HERE
# Instructor notebooks (solutions + hidden tests) are the nbgrader "source" step...
c.CourseDirectory.source_directory = "solutions"
# ...and the student notebooks we commit are the "release" step. With the default
# directory_structure "{nbgrader_step}/{student_id}/{assignment_id}" and student "." this
# maps solutions/01_convolution/01_convolution.ipynb -> course/01_convolution/01_convolution.ipynb.
c.CourseDirectory.release_directory = "course"
# The gradebook holds student data: never inside the tracked tree. gradebook.db is also
# gitignored, but a per-user cache path keeps it out of the checkout altogether.
_GRADEBOOK_DIR = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "cnn-course")
os.makedirs(_GRADEBOOK_DIR, exist_ok=True)  # sqlite does not create folders
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(_GRADEBOOK_DIR, "gradebook.db")
# Editor and Python litter must not be released or copied into submissions.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".pytest_cache"]

# --- Executing student code (validate and autograde) ------------------------------------
# One cell may run this long. The heaviest graded cell (a short training run, shortened
# when NBGRADER_EXECUTION is set) needs well under a minute on a laptop CPU.
c.Execute.timeout = 120
# On timeout, interrupt the kernel (KeyboardInterrupt in the student's loop) and record
# a CellTimeoutError in that cell instead of aborting the notebook.
c.Execute.interrupt_on_timeout = True
# Kernel start-up on a loaded grading machine can be slow.
c.Execute.startup_timeout = 120
# Survive a kernel that dies (os._exit, out of memory) or ignores the interrupt
# (``except KeyboardInterrupt`` in a loop): record the error, restart, replay, go on.
# Stock nbgrader would drop the student's whole autograded notebook instead.
c.Autograde.autograde_preprocessors = [
    ResilientExecute,  # in place of nbgrader's Execute; the rest is the stock list
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]
# A student who deleted a test cell still gets it back (and run), instead of silently
# losing those points from the gradebook view.
c.OverwriteCells.add_missing_cells = True

# --- Feedback -------------------------------------------------------------------------
# Stock GenerateFeedback is [GetGrades, CSSHTMLHeaderPreprocessor]: it would print the
# hidden tests' source and their tracebacks (nbgrader issues #917, #1363). Tracebacks are
# cleaned first (that needs the hidden-test markers), then the hidden regions removed.
c.GenerateFeedback.preprocessors = [
    GetGrades,
    HideHiddenTestTracebacks,
    ClearHiddenTests,
    CSSHTMLHeaderPreprocessor,
]
