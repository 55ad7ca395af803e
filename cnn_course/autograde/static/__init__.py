"""Static anti-cheat in the judge: an AST look at what the student wrote.

Runs in the grader process (never in the student's kernel), on the autograded notebook
after nbgrader restored its locked cells, next to the release notebook. Only
*student-authored* code is judged: code cells whose source is not, verbatim, a code cell
of the release notebook (test cells, whose hidden tests nbgrader put back, are recognised
by their grade id and their visible part).

Two questions, answered per test cell by :meth:`StaticReport.problem`:

* **Is the graded function the student's own work?** The graded functions are the names
  a test cell hands to a check (``check.conv_forward(conv_forward)``). For each, the
  definition live when that test cell runs (the last top-level ``def NAME`` /
  ``NAME = ...`` / ``import ... as NAME`` above it; every branch of an ``if``/``try``
  counts) is read, and every function of the notebook it calls is followed,
  transitively. A reference to a forbidden module (``core.FORBIDDEN``: the course
  library ``cnn_course.ref``/``cnn_course.pt``, ``torch``, ``scipy.signal``,
  ``scipy.ndimage``) through an import in the function, a module-level import or alias
  (also in instructor cells: the notebook's own ``from cnn_course import ref``), an
  attribute chain (``import cnn_course`` + ``cnn_course.ref.conv.conv2d_forward``), or
  a module-level object built from one, costs that exercise, with core's
  "earns no points" message. A dynamic import (``importlib``, ``__import__``) inside
  a graded function or a helper it calls hides what it calls and costs that exercise
  the same way (and only that one).

* **Does the notebook tamper with the grader?** Anywhere in student code: the profiler
  and tracer hooks the kernel-side watcher uses (``sys.setprofile``/``settrace``/
  ``getprofile``, ``threading.setprofile``), the grading package
  (``cnn_course.grading``: anything but importing a topic module and calling its
  public checks, which a student may re-run in a scratch cell), the autograder
  (``cnn_course.autograde``) and its kernel agent (``__cnn_agent__``, also as a string),
  ``gc`` (finds and rewrites any live object), ``importlib``/``__import__`` outside the
  graded functions, ``exec``/``eval``/``compile``/``globals()``, the ``builtins`` module
  and ``__builtins__``, the module table and import hooks (``sys.modules``,
  ``sys.meta_path``, ...), stack frames (``sys._getframe``, ``inspect.currentframe``,
  ``f_back``, ``tb_frame``, ...), function internals (``__globals__``, ``__code__``,
  ``__subclasses__``), IPython's internals (``user_ns``, ``run_cell``, input/AST
  transformers, event hooks), replacing attributes of an imported module
  (monkeypatching ``np.allclose``), ``getattr(sys, <computed name>)`` on such modules,
  ``%run``/``%load``, and, in a notebook that writes files or runs shell commands, an
  import of a module that is not installed (one the notebook may have written itself,
  whose code this analysis cannot read). Tampering costs every graded
  exercise whose test cell comes after the tampering cell; the message says which cell
  and what, and asks the student to have the instructor review the notebook by hand.

Deliberately *not* tampering: ``ctypes``, ``os._exit``, ``os.kill``, ``signal``,
``socket``, ``sqlite3``, ``open``, ``subprocess`` and shell escapes (``!cmd``). They
can crash or hang the kernel, or try to reach files and the network, which the sandbox
(no network, no gradebook or solutions in sight) and the executor (timeouts, restart
and replay) already contain at the cost of the exercise they break; a segfault through
``ctypes`` inside a graded function must cost that exercise only. Nor is shadowing a
builtin name (``sum = 0``): the test code runs in the judge, where builtins are the
real ones.

The analysis is a second line of defence: verdicts are computed outside the kernel
(:mod:`..judge`), so nothing the kernel does can change how a result is compared; what
tampering could still hide is a forbidden call from the kernel-side watcher. It is
exact on what it reads, conservative where code is conditional (any branch counts),
and blind to what no static analysis can see (strings built at run time, data read
from files); the kernel-side watcher remains for those.

The package's parts: :mod:`.rules` (what is flagged), :mod:`.cells` (which cells are the
student's, parsing them, the names a test cell grades), :mod:`.scope` (the notebook's
module-level bindings and the scanner that reads one piece of code), :mod:`.report`
(:func:`analyze` and the :class:`StaticReport` that answers per test cell).
"""

from .cells import graded_checks, graded_names, student_cells
from .report import Finding, StaticReport, analyze

__all__ = ["graded_checks", "graded_names", "student_cells", "analyze", "StaticReport", "Finding"]
