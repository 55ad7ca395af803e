"""The generic grading machinery: comparison, feedback, in-place and anti-cheat checks."""

import io
import sys
from contextlib import redirect_stdout

import numpy as np
import pytest

from cnn_course.autograde.codec import make_unsupported

from cnn_course.grading import CheckFailed, NotYourOwnWork
from cnn_course.grading.core import (
    FORBIDDEN, Case, Out, Variant, compare, find_forbidden_static, run_check, watch_forbidden_calls,
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
    (lambda x: (x * 2).astype(object), "y must be a NumPy array of numbers (float, int or bool), got an array of dtype object."),
    # what the grader receives from the sandbox for an object array (the codec cannot carry one)
    (lambda x: make_unsupported("ndarray", "array([None], dtype=object)"),
     "y must be a NumPy array of numbers (float, int or bool), got an array of dtype object, text or structured."),
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


# ---------------------------------------------------------------- dict, list and state outputs


@pytest.mark.parametrize("out, got, text", [
    (Out("state", {"v": np.ones(2), "t": 1}, kind="dict"), {"v": np.ones(2), "t": 1}, None),
    (Out("state", {"v": np.ones(2), "t": 1}, kind="dict"), {"t": 1, "v": np.ones(2)}, None),  # any key order
    (Out("state", {"v": np.ones(2)}, kind="dict"), np.ones(2),
     "state must be a dict with the keys ['v'], got an array"),
    (Out("state", {"v": np.ones(2), "t": 1}, kind="dict"), {"v": np.ones(2)}, "state has the wrong keys: no 't'"),
    (Out("state", {"v": np.ones(2)}, kind="dict"), {"v": np.ones(2), "s": 0},
     "state has the wrong keys: unexpected 's' (expected exactly ['v'], got ['v', 's'])"),
    (Out("state", {"v": np.ones(2)}, kind="dict"), {"v": np.array([1.0, 2.0])},
     'state["v"] has wrong values at 1 of 2 positions'),
    (Out("state", {"v": np.ones(2)}, kind="dict"), {"v": np.ones(3)},
     'state["v"] has the wrong shape: expected (2,), got (3,).'),
    (Out("state", {"t": 2}, kind="dict"), {"t": 2.0}, 'state["t"] must be an int, got 2.0 (float); expected 2.'),
    (Out("state", {"t": 2}, kind="dict"), {"t": np.int64(3)}, 'state["t"] is wrong: expected 2, got 3.'),
    (Out("b", [(np.ones((2, 1)), np.arange(2))], kind="list", parts=("X_b", "y_b")),
     [(np.ones((2, 1)), np.arange(2))], None),
    (Out("b", [(np.ones((2, 1)), np.arange(2))], kind="list", parts=("X_b", "y_b")),
     [[np.ones((2, 1)), np.arange(2)]], None),  # a list for a pair is fine
    (Out("b", [(np.ones((2, 1)), np.arange(2))], kind="list", parts=("X_b", "y_b")),
     [(np.ones((2, 1)), np.arange(2))] * 2, "b has 2 entries, expected 1."),
    (Out("b", [(np.ones((2, 1)), np.arange(2))], kind="list", parts=("X_b", "y_b")),
     [(np.ones((2, 1)),)], "b[0] must be a tuple (X_b, y_b), got tuple of length 1."),
    (Out("b", [(np.ones((2, 1)), np.arange(2))], kind="list", parts=("X_b", "y_b")),
     [(np.ones((2, 1)), np.array([1, 0]))], "b[0][1] (y_b) has wrong values at 2 of 2 positions"),
    (Out("b", [(np.ones((2, 1)), np.arange(2))], kind="list", parts=("X_b", "y_b")),
     [(np.ones((2, 1)), np.arange(2.0))], "b[0][1] (y_b) must keep the integer dtype of its input (int64)"),
    (Out("b", [(np.ones((2, 1)), np.arange(2))], kind="list"), 5, "b must be a list of 1 entries, got int."),
])
def test_compare_dict_and_list(out, got, text):
    lines = compare(out, got, np.float64)
    if text is None:
        assert lines is None
    else:
        assert lines is not None and text in "\n".join(lines), lines


def test_dict_entry_hint_replaces_the_generic_type_hint():
    lines = compare(Out("state", {"t": 1}, kind="dict", hints={"t": "t counts steps."}), {"t": 1.0}, np.float64)
    text = "\n".join(lines)
    assert "floor division" not in text and text.endswith("Hint: t counts steps.")


def test_nan_message_and_nan_variants():
    case = Case(args=[("x", np.ones(3))], outputs=[Out("y", np.ones(3))], describe="x", hint="y is ones.",
                variants=lambda: [Variant("you divided by zero.", {"y": np.full(3, np.nan)}),
                                  Variant("never used.", {"y": np.zeros(3)})])
    with pytest.raises(CheckFailed) as info, redirect_stdout(io.StringIO()):
        run_check("f", lambda x: np.full(3, np.nan), [case], hidden=False)
    msg = str(info.value)
    assert "max abs difference nan or inf" in msg and "y[0]: expected 1, got nan" in msg
    assert msg.endswith("Hint: you divided by zero.")


def _state_case(inplace_ok=frozenset({"state"}), **kw):
    state = {"v": np.zeros(2)}
    return Case(args=[("w", np.ones(2)), ("state", state)],
                outputs=[Out("w_next", np.full(2, 0.5)), Out("state", {"v": np.full(2, 0.5)}, kind="dict")],
                describe="one step", hint="v = 0.5; w − v.", inplace_ok=inplace_ok, **kw)


def test_inplace_ok_lets_a_function_update_its_state():
    def mutating(w, state):
        state["v"] += 0.5
        return w - state["v"], state

    def fresh(w, state):
        return w - 0.5, {"v": state["v"] + 0.5}

    for f in (mutating, fresh):
        with redirect_stdout(io.StringIO()):
            run_check("step", f, [_state_case()], hidden=False)
    with pytest.raises(CheckFailed, match=r'step modified its input state\["v"\] in place \(2 of 2'), \
            redirect_stdout(io.StringIO()):
        run_check("step", mutating, [_state_case(frozenset())], hidden=False)


@pytest.mark.parametrize("body, text", [
    ("d['a'] = d['a'] + 1", "modified its input d in place: it replaced its entry 'a'"),
    ("d['c'] = 1", "modified its input d in place: it added the key 'c'"),
    ("del d['b']", "modified its input d in place: it removed the key 'b'"),
    ("d['a'] += 1", 'modified its input d["a"] in place (2 of 2 entries changed)'),
    ("e = d.copy(); e['a'] *= 2", 'modified its input d["a"] in place'),
])
def test_dict_arguments_are_checked_for_in_place_changes(body, text):
    ns = namespace({"f": f"import numpy as np\n\ndef f(d):\n    {body}\n    return 1.0\n"})
    case = Case(args=[("d", {"a": np.ones(2), "b": np.zeros(1)})], outputs=[Out("r", 1.0, kind="scalar")],
                describe="d")
    with pytest.raises(CheckFailed) as info, redirect_stdout(io.StringIO()):
        run_check("f", ns["f"], [case], hidden=False)
    assert text in str(info.value) and "build a new dict" in str(info.value), str(info.value)


def test_call_runs_several_steps_and_inspect_explains():
    def twice(func, values):
        x = values[0]
        for _ in range(2):
            x = func(x)
        return x

    case = Case(args=[("x", np.ones(2))], outputs=[Out("y", np.full(2, 4.0))], describe="two steps",
                hint="double x.", call=twice,
                inspect=lambda got: "you tripled." if np.allclose(got["y"], 9.0) else None)
    with redirect_stdout(io.StringIO()):
        run_check("double", lambda x: 2 * x, [case], hidden=False)
    with pytest.raises(CheckFailed, match="Hint: you tripled."), redirect_stdout(io.StringIO()):
        run_check("double", lambda x: 3 * x, [case], hidden=False)


def test_a_failing_variant_or_inspection_never_reaches_the_student():
    def boom():
        raise RuntimeError("grader bug")

    case = Case(args=[("x", np.ones(2))], outputs=[Out("y", np.full(2, 2.0))], describe="x", hint="y is 2x.",
                variants=boom, inspect=lambda got: 1 / 0)
    with pytest.raises(CheckFailed) as info, redirect_stdout(io.StringIO()):
        run_check("double", lambda x: x, [case], hidden=False)
    assert str(info.value).endswith("Hint: y is 2x.")


def test_extra_forbidden_modules_are_named_in_the_message():
    import scipy.special

    def cheat(x):
        return scipy.special.softmax(x)

    cases = [double_case(np.arange(6.0).reshape(2, 3))]
    with pytest.raises(NotYourOwnWork, match=r"scipy\.signal / scipy\.ndimage / scipy\.special does the work"):
        run_check("double", cheat, cases, hidden=False, forbidden=FORBIDDEN + ("scipy.special",))
    with redirect_stdout(io.StringIO()):
        run_check("double", lambda x: scipy.special.xlogy(0, x) + 2 * x, cases, hidden=False)  # allowed by default


def _running_case(prepare=None):
    """A function that returns (y, cache) and updates ``running`` in place: y and running are compared."""
    return Case(args=[("x", np.arange(3.0)), ("running", np.zeros(3))], returns=("y", "cache"),
                outputs=[Out("y", 2 * np.arange(3.0)), Out("running", np.arange(3.0))],
                observe=lambda values: {"running": values[1]}, inplace_ok=frozenset({"running"}),
                inplace_hint="only running may change.", describe="x", prepare=prepare)


def test_returns_observe_and_inplace_hint():
    def right(x, running):
        running[:] = x
        return 2 * x, "anything: the cache is not compared"

    with redirect_stdout(io.StringIO()):
        run_check("f", right, [_running_case()], hidden=False)

    def rebinds(x, running):
        running = x  # noqa: F841  (the caller's array does not change)
        return 2 * x, None

    with pytest.raises(CheckFailed, match=r"running has wrong values"), redirect_stdout(io.StringIO()):
        run_check("f", rebinds, [_running_case()], hidden=False)

    def overwrites_x(x, running):
        running[:] = x
        x *= 2
        return x, None

    with pytest.raises(CheckFailed) as info, redirect_stdout(io.StringIO()):
        run_check("f", overwrites_x, [_running_case()], hidden=False)
    assert "f modified its input x in place" in str(info.value) and "Hint: only running may change." in str(info.value)
    with pytest.raises(CheckFailed, match=r"must return a tuple \(y, cache\), got None \(did you forget"), \
            redirect_stdout(io.StringIO()):
        run_check("f", lambda x, running: None, [_running_case()], hidden=False)


def test_prepare_supplies_arguments_or_fails_the_case():
    seen = []

    def prepare(watched):
        seen.append(watched)
        return {"x": np.arange(3.0)}

    case = _running_case(prepare)
    case.args[0] = ("x", None)  # supplied by prepare

    def right(x, running):
        running[:] = x
        return 2 * x, None

    with redirect_stdout(io.StringIO()):
        run_check("f", right, [case, _running_case(prepare)], hidden=False)
    assert seen == [True, False]

    def broken(watched):
        raise CheckFailed("your g does not work yet: fix it first")

    with pytest.raises(CheckFailed) as info, redirect_stdout(io.StringIO()):
        run_check("f", right, [_running_case(broken)], hidden=True, label="f (mode)")
    assert str(info.value) == "f (mode) failed hidden case 1 of 1: x\n  your g does not work yet: fix it first"


def _size(n):
    return Case(args=[("n", n)], outputs=[Out("half", n // 2, kind="int")], describe=f"n={n}",
                variants=lambda: [Variant("you went through a float.", {"half": int(n / 2)})])


def _negative(n):
    return Case(args=[("n", n)], outputs=[], describe=f"n={n}", raises=ValueError, hint="n must be >= 0.",
                inspect=lambda got: "you returned the floor of a negative half." if got["returned"] == n // 2 else None,
                exception_hint=lambda exc, line: "raise ValueError, not TypeError." if isinstance(exc, TypeError)
                else None)


def _half_checks(func):
    with redirect_stdout(io.StringIO()) as buf:
        run_check("half", func, [_size(4), _negative(-3), _size(10 ** 17 + 2)], hidden=False)
    return buf.getvalue()


def _half_failure(func):
    with pytest.raises(CheckFailed) as info, redirect_stdout(io.StringIO()):
        run_check("half", func, [_size(4), _negative(-3), _size(10 ** 17 + 2)], hidden=False)
    return str(info.value)


def _half(n):
    if n < 0:
        raise ValueError("n must be >= 0")
    return n // 2


def test_raises_passes_when_the_function_raises_that_type_or_a_subclass():
    assert _half_checks(_half) == "✓ half: 3 visible cases passed\n"

    class NegativeError(ValueError):
        pass

    def half(n):
        if n < 0:
            raise NegativeError("no")
        return n // 2

    assert _half_checks(half) == "✓ half: 3 visible cases passed\n"


def test_raises_explains_a_return_and_another_exception_type():
    msg = _half_failure(lambda n: n // 2)
    assert "half failed visible case 2 of 3: n=-3\n  half returned -2 instead of raising ValueError." in msg, msg
    assert msg.endswith("Hint: you returned the floor of a negative half.")
    msg = _half_failure(lambda n: n // 2 if n >= 0 else 0)
    assert "returned 0 instead of raising ValueError.\n  Hint: n must be >= 0." in msg, msg

    def half(n):
        if n < 0:
            raise TypeError("negative")
        return n // 2

    msg = _half_failure(half)
    assert "half raised TypeError: negative, but it must raise ValueError here." in msg
    assert 'raise TypeError("negative")' in msg and msg.endswith("Hint: raise ValueError, not TypeError."), msg


def test_raises_reports_not_implemented_as_usual():
    def half(n):
        raise NotImplementedError()

    assert "replace the `raise NotImplementedError()` line" in _half_failure(half)


def test_integer_variants_are_compared_exactly():
    def half(n):
        if n < 0:
            raise ValueError("n must be >= 0")
        return int(n / 2)

    msg = _half_failure(half)
    assert "expected 50000000000000001, got 50000000000000000." in msg and "went through a float" in msg, msg


def test_forward_cache_says_fix_the_forward_first_for_each_way_a_forward_can_fail():
    from cnn_course.grading.core import forward_cache

    x = np.arange(6.0).reshape(2, 3)
    ok = forward_cache("f_forward", lambda: (x * 2, {"x": x}), x * 2, np.float64, FORBIDDEN, True)
    assert ok["cache"]["x"] is x

    def raises():
        raise ValueError("boom")

    def cheats():
        import scipy.signal
        return scipy.signal.correlate(x, x, mode="same"), None

    failures = {
        "raised ValueError: boom": raises,
        "which is not your own work": cheats,
        "must return a tuple (out, cache), got": lambda: x * 2,
        "f_forward's out has wrong values": lambda: (x * 3, None),
    }
    for expected, forward in failures.items():
        with pytest.raises(CheckFailed) as err:
            forward_cache("f_forward", forward, x * 2, np.float64, FORBIDDEN, True, mode=" (train mode)",
                          own_check="test_f_forward")
        msg = str(err.value)
        assert expected in msg, (expected, msg)
        assert "the cache comes from your f_forward (train mode)" in msg, msg
        assert "fix f_forward first (its own check, test_f_forward, explains" in msg, msg


def test_require_forward_names_the_missing_function_and_a_forward_that_is_not_own_work():
    import scipy.signal
    from cnn_course.grading.core import require_forward

    def backward(dout, cache):
        return dout

    def forward(x):
        return x, None

    def cheating_forward(x):
        return scipy.signal.correlate(x, x), None

    require_forward("g_backward", backward, "g_forward", forward, FORBIDDEN)
    for args, expected in [((None, forward), "needs your function g_backward, got None"),
                           ((backward, 3), "needs your function g_forward, got int"),
                           ((backward, cheating_forward), "your g_forward, whose cache it needs, calls scipy.signal")]:
        with pytest.raises(CheckFailed) as err:
            require_forward("g_backward", args[0], "g_forward", args[1], FORBIDDEN)
        assert expected in str(err.value), (expected, str(err.value))
