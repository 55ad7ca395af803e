"""Checks that the notebooks' test cells call, one module per topic.

Usage in a notebook test cell::

    from cnn_course.grading import convolution as check
    check.conv_forward(conv_forward)                        # a few small, documented cases
    check.conv_forward(conv_forward, hidden=True, seed=7)   # many random cases (hidden tests)

A failing check raises :class:`CheckFailed` (an ``AssertionError``, so nbgrader counts
the cell as failed) whose message names the case, the expected and received values and
a hint; :class:`NotYourOwnWork` when the function hands the work to a library.

Inside IPython (a notebook), a failed check is shown as its message alone: the grader's
own frames would only bury the part that helps the student.
"""

from .core import CheckFailed, NotYourOwnWork

__all__ = ["CheckFailed", "NotYourOwnWork"]


def show_check_failure(shell, etype, value, tb, tb_offset=None):
    """IPython custom-exception handler: display ``CheckFailed: <message>`` and nothing else.

    The kernel still reports the cell as an error (ename, evalue, this one-line
    traceback), which is what nbgrader grades and what feedback shows.
    """
    stb = [f"\x1b[0;31m{etype.__name__}\x1b[0m: {value}"]
    shell._showtraceback(etype, value, stb)
    return stb


def _install_ipython_handler() -> None:
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: nothing to install
        return
    shell = get_ipython()
    # Leave a handler that someone else installed alone.
    if shell is not None and not shell.custom_exceptions:
        shell.set_custom_exc((CheckFailed,), show_check_failure)


_install_ipython_handler()
