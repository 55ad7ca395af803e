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
    ClearOutput,
    GetGrades,
    IgnorePattern,
    LimitOutput,
    OverwriteKernelspec,
    SaveAutoGrades,
)

from cnn_course.autograde.executor import SandboxedExecute
from cnn_course.autograde.preprocessors import (
    ClearHiddenTestsInTestCells,
    HideHiddenTestTracebacks,
    RestoreCells,
    SafeDeduplicateIds,
)

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
# $CNN_COURSE_DB_URL (which `cnn-course --db-url` sets for its own process) names another.
if os.environ.get("CNN_COURSE_DB_URL"):
    c.CourseDirectory.db_url = os.environ["CNN_COURSE_DB_URL"]
else:
    _GRADEBOOK_DIR = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "cnn-course")
    os.makedirs(_GRADEBOOK_DIR, exist_ok=True)  # sqlite does not create folders
    c.CourseDirectory.db_url = "sqlite:///" + os.path.join(_GRADEBOOK_DIR, "gradebook.db")
# Editor and Python litter must not be released or copied into submissions.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".pytest_cache", ".cnn-course-*"]
# nbgrader files every assignment under this course; PostgreSQL enforces that the course
# row exists, which nbgrader never creates for the default empty id.
c.CourseDirectory.course_id = "cnn-course"

# --- Executing student code (validate and autograde) ------------------------------------
# One cell may run this long. The heaviest graded cell (a short training run, shortened
# when NBGRADER_EXECUTION is set) needs well under a minute on a laptop CPU.
c.Execute.timeout = 120
# On timeout, interrupt the kernel (KeyboardInterrupt in the student's loop) and record
# an error in that cell instead of aborting the notebook.
c.Execute.interrupt_on_timeout = True
# Kernel start-up on a loaded grading machine can be slow.
c.Execute.startup_timeout = 120
# Autograding runs untrusted code: SandboxedExecute (cnn_course/autograde/executor.py) replaces
# nbgrader's Execute. Each notebook runs in a throw-away work dir with only the
# submission's non-notebook files, its kernel in a bubblewrap sandbox (own uid, no
# network, only /usr, /etc, Python and cnn_course visible; memory, CPU, process and
# file-size limits) or, without bwrap/root, under resource limits alone. Test cells never
# run in that kernel: the grader runs them itself and calls the student's functions in
# the kernel (cnn_course/autograde/judge.py), after a static look at the student's code
# (cnn_course/autograde/static/). A cell that hangs or crashes the kernel costs only its
# exercise: the sandbox is killed, a fresh one replays the cells before, grading goes on.
c.SandboxedExecute.sandbox_mode = "auto"  # "bwrap" to refuse running without the sandbox
c.SandboxedExecute.notebook_timeout = 1200  # wall-clock budget of one notebook (s)
c.SandboxedExecute.interrupt_grace = 5.0  # a timed-out cell's time to stop after the interrupt
c.SandboxedExecute.max_restarts = 6  # fresh kernels per notebook before the rest scores 0
# The grading workers of ``cnn-course autograde`` set SandboxedExecute.sandbox_uid each
# (61000 + worker); plain ``nbgrader autograde`` uses $CNN_COURSE_SANDBOX_UID or 61000.
c.Autograde.autograde_preprocessors = [
    SandboxedExecute,  # in place of nbgrader's Execute; the rest is the stock list
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]
# Before executing, autograde "sanitizes" the submission: stock nbgrader's list with two
# hardened steps. A cell that claims nbgrader metadata without an id loses it (stock
# DeduplicateIds crashes on it); every known cell gets its nbgrader metadata back from the
# gradebook (a test cell turned into an answer cell, or given 100 points, is a test cell
# again; stock OverwriteCells fails on it) and its source if it is locked; a cell the
# gradebook does not know is plain student code.
c.Autograde.sanitize_preprocessors = [
    ClearOutput,
    SafeDeduplicateIds,
    OverwriteKernelspec,
    RestoreCells,
    CheckCellMetadata,
]
# A student who deleted a test cell still gets it back (and run), instead of silently
# losing those points from the gradebook view. RestoreCells is an OverwriteCells, so the
# option keeps nbgrader's name (and puts the cell back where it belongs).
c.OverwriteCells.add_missing_cells = True

# --- Feedback -------------------------------------------------------------------------
# Stock GenerateFeedback is [GetGrades, CSSHTMLHeaderPreprocessor]: it would print the
# hidden tests' source and their tracebacks (nbgrader issues #917, #1363). Tracebacks are
# cleaned first (that needs the hidden-test markers), then the hidden regions removed.
c.GenerateFeedback.preprocessors = [
    GetGrades,
    HideHiddenTestTracebacks,
    ClearHiddenTestsInTestCells,
    CSSHTMLHeaderPreprocessor,
]
