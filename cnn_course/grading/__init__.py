"""Checks that the notebooks' test cells call, one module per topic.

Usage in a notebook test cell::

    from cnn_course.grading import convolution as check
    check.conv_forward(conv_forward)                        # a few small, documented cases
    check.conv_forward(conv_forward, hidden=True, seed=7)   # many random cases (hidden tests)

A failing check raises :class:`CheckFailed` (an ``AssertionError``, so nbgrader counts
the cell as failed) whose message names the case, the expected and received values and
a hint; :class:`NotYourOwnWork` when the function hands the work to a library.
"""

from .core import CheckFailed, NotYourOwnWork

__all__ = ["CheckFailed", "NotYourOwnWork"]
