"""The autograder: nbgrader underneath, every student's code in a sandbox, verdicts outside it.

The third layer of the package. The library (``cnn_course.ref``, ``.pt``, data, plots,
widgets) is what the notebooks teach with; the exercise checks (``cnn_course.grading``)
are what their test cells call; this package grades submissions with them. What runs
where:

**The instructor's process** (``cnn-course ...``, :mod:`.cli`)
    :mod:`.course`      the course on disk: root, assignments, ``nbgrader_config.py``,
                        release generation, the hidden-test markers, the CLI's errors
    :mod:`.gradebook`   the gradebook and the completion records the commands share
    :mod:`.collect`     ``collect``: check and file the students' notebooks
    :mod:`.workers`     ``autograde``: grading worker processes, resumable
    :mod:`.export`      ``export``: the grades as CSV
    :mod:`.feedback`    ``feedback``: nbgrader's feedback plus a summary per student

**A grading worker** (one per core; or plain ``nbgrader autograde``): nbgrader's
``Autograde`` with the preprocessors ``nbgrader_config.py`` names
    :mod:`.preprocessors`  sanitizing the submission (cells restored from the gradebook);
                           feedback without hidden tests
    :mod:`.executor`    ``SandboxedExecute``: one notebook, its kernel in a sandbox
    :mod:`.sandbox`     bubblewrap (own uid, no network, read-only system) and limits
    :mod:`.kernel`      the sandboxed kernel, and :class:`~.kernel.KernelLink` to it
    :mod:`.outputs`     the caps on what a cell may print
    :mod:`.static`      the static look at the student's code before each test cell
    :mod:`.judge`       the test cell run in the worker, the student's functions
                        called in the kernel through proxies
    :mod:`.links`       how a request reaches the kernel (the ``Link`` protocol)
    :mod:`.codec`       the messages: JSON plus NumPy arrays, never pickle

**The sandboxed kernel** (the student's code)
    :mod:`.agent`       answers the judge's requests (with :mod:`.codec`, and
                        ``cnn_course.grading.core`` to watch for forbidden calls)

Nothing is imported here: the kernel imports :mod:`.agent` through this package.
"""
