"""The generic grading machinery: comparison, feedback, in-place and anti-cheat checks."""

import io
import sys
from contextlib import redirect_stdout

import numpy as np
import pytest

from cnn_course.grading import CheckFailed, NotYourOwnWork
from cnn_course.grading.core import (
    Case, Out, Variant, compare, find_forbidden_static, run_check, watch_forbidden_calls,
)
from submissions import namespace


def double_case(x, note=""):
    return Case(args=[("x", x)], outputs=[Out("y", 2 * x)], describe=f"x.shape={x.shape}", dtype=x.dtype,
                note=note, hint="y is twice x.",
                variants=lambda: [Variant("you returned x itself: multiply by 2.", {"y": x})])


CASES = [double_case(np.arange(6.0).reshape(2, 3)), double_case(np.ones((1, 4), np.float32), "ones")]


def check(func, **kw):
    buf = io.StringIO()
    with redirect_stdout(buf):
        run_check("double", func, CASES, **{"hidden": False, **kw})
    return buf.getvalue()


def failure(func, **kw):
    with pytest.raises(CheckFailed) as info, redirect_stdout(io.StringIO()):
        run_check("double", func, CASES, **{"hidden": True, **kw})
    return str(info.value)


def test_success_prints_one_line():
    assert check(lambda x: x * 2) == "✓ double: 2 visible cases passed\n"
    assert check(lambda x: x * 2, hidden=True, label="double (x)") == "✓ double (x): 2 hidden cases passed\n"


def test_variant_hint_and_positions():
    msg = failure(lambda x: x.copy())
    assert msg.startswith("double failed hidden case 1 of 2: x.shape=(2, 3)\n")
    assert "y[0, 1]: expected 2, got 1" in msg and "wrong values at 5 of 6 positions" in msg
    assert msg.rstrip().endswith("Hint: you returned x itself: multiply by 2.")


def test_generic_hint_and_note():
    msg = failure(lambda x: x * 2 if x.dtype == np.float64 else x * 3)
    assert "failed hidden case 2 of 2 (ones)" in msg and "Hint: y is twice x." in msg


@pytest.mark.parametrize("func, text", [
    (lambda x: (x * 2).tolist(), "y must be a NumPy array, got list"),
    (lambda x: np.zeros((3, 3)), "y has the wrong shape: expected (2, 3), got (3, 3)."),
    (lambda x: (x * 2).astype(int), "y has dtype int64, but it must be a floating-point array"),
])
def test_type_shape_and_dtype_messages(func, text):
    assert text in failure(func)


def test_float64_for_float32_is_accepted_and_float32_tolerance_is_looser():
    check(lambda x: (x * 2).astype(np.float64))
    check(lambda x: x * 2 + (1e-5 if x.dtype == np.float32 else 0))
    assert "wrong values" in failure(lambda x: x * 2 + 1e-5)  # too far for float64


def test_in_place_modification_is_reported():
    def sneaky(x):
        x *= 2
        return x

    msg = failure(sneaky)
    assert "double modified its input x in place (5 of 6 entries changed)" in msg


def test_exception_shows_student_line_not_a_grader_traceback():
    src = "import numpy as np\n\ndef double(x):\n    y = x * 2\n    return y[10, 10]\n"
    ns = namespace({"double": src})
    msg = failure(ns["double"])
    assert "double raised IndexError: index 10 is out of bounds" in msg
    assert "at line 5, in double:  return y[10, 10]" in msg
    assert "Traceback" not in msg
    assert sys.getprofile() is None


def test_not_implemented_gets_its_own_hint():
    def stub(x):
        raise NotImplementedError()

    assert "replace the `raise NotImplementedError()` line" in failure(stub)


def test_not_callable():
    assert "Run the cell that defines it first" in failure(None)


@pytest.mark.parametrize("compare_args, ok", [
    ((Out("n", 3, kind="int"), 3), True),
    ((Out("n", 3, kind="int"), np.int64(3)), True),
    ((Out("n", 3, kind="int"), 3.0), False),
    ((Out("n", 3, kind="int"), True), False),
    ((Out("z", 1.5, kind="scalar"), np.float32(1.5)), True),
    ((Out("z", 1.5, kind="scalar"), np.array(1.5)), True),
    ((Out("z", 1.5, kind="scalar"), np.array([1.5])), False),
    ((Out("z", 2.0, kind="scalar"), 2), False),
    ((Out("m", np.array([True, False]), kind="mask"), np.array([True, False])), True),
    ((Out("m", np.array([True, False]), kind="mask"), np.array([1, 0])), False),
    ((Out("c", (np.ones(2), 1), kind="cache"), (np.ones(2), 1)), True),
    ((Out("c", (np.ones(2), 1), kind="cache"), (np.ones(2),)), False),
    ((Out("c", (np.ones(2), 1), kind="cache"), (np.ones(2), 2)), False),
])
def test_compare_kinds(compare_args, ok):
    out, got = compare_args
    assert (compare(out, got, np.float64) is None) == ok


# ---------------------------------------------------------------- anti-cheat


def test_static_finds_aliases_closures_nested_code_and_helpers():
    import scipy.signal
    import cnn_course.ref as R
    from cnn_course.ref import conv2d_forward as my_conv
    import cnn_course

    def direct(x):
        return my_conv(x)

    def via_module(x):
        return R.zero_pad(x, 1)

    def via_parent(x):
        return cnn_course.ref.zero_pad(x, 1)

    def nested(x):
        return [scipy.signal.convolve2d(a, a) for a in x]

    def helper(x):
        return direct(x)

    def outer(x):
        return helper(x)

    assert find_forbidden_static(my_conv) == "cnn_course.ref.conv.conv2d_forward"
    assert find_forbidden_static(direct) == "cnn_course.ref.conv.conv2d_forward"
    assert find_forbidden_static(via_module) == "cnn_course.ref.zero_pad"
    assert find_forbidden_static(via_parent) == "cnn_course.ref.zero_pad"
    assert find_forbidden_static(nested) == "scipy.signal.convolve2d"
    assert "through your function" in find_forbidden_static(outer)


def test_static_accepts_numpy_and_own_helpers():
    src = ("import numpy as np\nfrom numpy.lib.stride_tricks import sliding_window_view\n"
           "def helper(x):\n    return np.pad(x, 1)\n"
           "def f(x):\n    w = sliding_window_view(helper(x), 2)\n    return np.einsum('ij,ij->', w[0], w[0])\n")
    ns = namespace({"f": src})
    assert find_forbidden_static(ns["f"]) is None
    assert find_forbidden_static(np.pad) is None


def test_dynamic_watcher_sees_hidden_calls_and_restores_profiler():
    import importlib

    def hidden(x):
        mod = importlib.import_module("cnn_course." + "ref")
        return getattr(mod, "zero_" + "pad")(x, 1)

    assert find_forbidden_static(hidden) is None
    calls = []
    previous = lambda frame, event, arg: calls.append(event)  # noqa: E731
    sys.setprofile(previous)
    try:
        with watch_forbidden_calls() as w:
            hidden(np.ones((1, 1, 2, 2)))
        assert sys.getprofile() is previous
    finally:
        sys.setprofile(None)
    assert w.found == "cnn_course.ref.conv.zero_pad"


def test_watcher_sees_torch_builtins():
    import torch
    with watch_forbidden_calls() as w:
        torch.from_numpy(np.ones(2))
    assert w.found == "torch.from_numpy"


def test_run_check_flags_dynamic_cheat_and_removes_hook_when_student_raises():
    import importlib

    def cheat(x):
        mod = importlib.import_module("cnn_" + "course.ref")
        mod.zero_pad(x[None, None], 0)
        return 2 * x

    with pytest.raises(NotYourOwnWork, match=r"double earns no points: it calls cnn_course\.ref\.conv\.zero_pad"):
        run_check("double", cheat, CASES, hidden=False)
    assert sys.getprofile() is None

    def boom(x):
        raise RuntimeError("student bug")

    with pytest.raises(CheckFailed, match="RuntimeError: student bug"):
        run_check("double", boom, CASES, hidden=False)
    assert sys.getprofile() is None


def test_not_your_own_work_is_an_assertion_error():
    assert issubclass(NotYourOwnWork, CheckFailed) and issubclass(CheckFailed, AssertionError)
