"""The topic-1 checks: correct submissions pass, every catalogued bug fails with its hint."""

import io
import re
import sys
import time
from contextlib import redirect_stdout

import numpy as np
import pytest

from cnn_course.grading import CheckFailed, NotYourOwnWork
from cnn_course.grading import convolution as check
from cnn_course.grading import pooling
from cnn_course.grading.core import float_dtypes
from submissions import local_and_judged, namespace
from submissions.convolution import BUGS, CHECKS, CORRECT, VECTORISED

EXERCISES = list(CORRECT)
SEED = 2031


def checks_of(name):
    return CHECKS.get(name, (name,))


def run(name, func, **kw):
    """Run one check; return its printed output."""
    buf = io.StringIO()
    with redirect_stdout(buf):
        getattr(check, name)(func, **kw)
    return buf.getvalue()


def failure(name, func, **kw) -> CheckFailed:
    with pytest.raises(CheckFailed) as info, redirect_stdout(io.StringIO()):
        getattr(check, name)(func, **kw)
    return info.value


@pytest.fixture(scope="module")
def correct_ns():
    return namespace(CORRECT)


@pytest.mark.parametrize("name", EXERCISES)
def test_correct_solution_passes_visible_and_hidden(correct_ns, name):
    (check_name,) = checks_of(name)[:1]
    visible = run(check_name, correct_ns[name])
    hidden = run(check_name, correct_ns[name], hidden=True, seed=SEED)
    assert re.fullmatch(rf"✓ {name}: \d visible cases? passed\n", visible), visible
    assert re.fullmatch(rf"✓ {name}: ([34]|2\d|30|48) hidden cases passed\n", hidden), hidden
    assert sys.getprofile() is None, "the profile hook was left installed"


def test_unknown_modes_pass_for_a_correct_pool_forward(correct_ns):
    assert run("pool_forward_unknown_mode", correct_ns["pool_forward"]) == \
        "✓ pool_forward (unknown modes): 1 visible case passed\n"
    assert run("pool_forward_unknown_mode", correct_ns["pool_forward"], hidden=True, seed=SEED) == \
        "✓ pool_forward (unknown modes): 5 hidden cases passed\n"


@pytest.mark.parametrize("name", list(VECTORISED))
def test_vectorised_solutions_are_not_flagged(name):
    ns = namespace(CORRECT, VECTORISED)
    for check_name in checks_of(name):
        run(check_name, ns[name])
        run(check_name, ns[name], hidden=True, seed=SEED + 1)


def outcome(check_name, func, **kw) -> CheckFailed | None:
    """The failure of one check, or None when it passes."""
    try:
        run(check_name, func, **kw)
    except CheckFailed as err:
        return err
    return None


@pytest.mark.parametrize("bug", BUGS, ids=[b.name for b in BUGS])
def test_bug_fails_its_checks_with_the_hint(bug):
    """A broken exercise fails at least one of its checks, visible and hidden, and the
    failures carry the bug's hint; every other exercise passes all of its checks."""
    ns = namespace(CORRECT, {bug.function: bug.source})
    for name in EXERCISES:
        if name in bug.breaks:
            for hidden in (False, True):
                errs = [e for c in checks_of(name) if (e := outcome(c, ns[name], hidden=hidden, seed=SEED))]
                assert errs, f"{bug.name}: every {'hidden' if hidden else 'visible'} check of {name} passes"
                if name == bug.function:
                    text = "\n".join(map(str, errs))
                    assert bug.hint in text, f"hint {bug.hint!r} missing from:\n{text}"
        else:
            for c in checks_of(name):
                run(c, ns[name], hidden=True, seed=SEED)


def test_every_exercise_has_a_bug_and_cheats_are_caught():
    assert set(EXERCISES) <= {b.function for b in BUGS}
    for bug in BUGS:
        if "calls" in bug.name or bug.name in ("conv_forward_hidden_import", "pool_forward_scipy"):
            ns = namespace(CORRECT, {bug.function: bug.source})
            err = failure(checks_of(bug.function)[0], ns[bug.function])
            assert isinstance(err, NotYourOwnWork), bug.name
            torch_exercise = bug.function in ("ConvNet", "train_step")
            assert ("build it yourself from torch.nn" if torch_exercise else "your own NumPy implementation") in str(err)


def test_value_message_names_case_expected_and_got(correct_ns):
    ns = namespace(CORRECT, {"conv_forward": next(b for b in BUGS if b.name == "conv_forward_no_bias").source})
    msg = str(failure("conv_forward", ns["conv_forward"], hidden=True, seed=SEED))
    assert re.search(r"conv_forward failed hidden case \d+ of 25: A_prev\.shape=\(\d, \d, \d, \d\), "
                     r"W\.shape=.*stride=\d, pad=\d, dtype=float(32|64)", msg), msg
    assert re.search(r"Z\[\d, \d, \d, \d\]: expected -?[\d.]+(e-?\d+)?, got", msg), msg
    assert "max abs difference" in msg


def test_visible_edge_example_is_the_course_one(correct_ns):
    ns = namespace(CORRECT, {"conv_forward": next(b for b in BUGS if b.name == "conv_forward_int_output").source})
    msg = str(failure("conv_forward", ns["conv_forward"]))
    assert "visible case 1 of 3 (the course's 6×6 vertical-edge example" in msg
    A = np.array(check.EDGE_IMAGE, float).reshape(1, 1, 6, 6)
    W = np.array(check.EDGE_FILTER, float).reshape(1, 1, 3, 3)
    Z, _ = correct_ns["conv_forward"](A, W, np.zeros(1))
    assert Z.shape == (1, 1, 4, 4) and Z[0, 0, 3, 3] == -16


def test_shape_message_gives_the_size_formula():
    ns = namespace(CORRECT, {"conv_forward": next(b for b in BUGS if b.name == "conv_forward_off_by_one").source})
    msg = str(failure("conv_forward", ns["conv_forward"], hidden=True, seed=SEED))
    assert "Z has the wrong shape: expected (" in msg and "+ 1" in msg, msg


def test_exception_is_reported_with_the_student_line():
    ns = namespace(CORRECT, {"pool_forward": next(b for b in BUGS if b.name == "pool_forward_avg_name").source})
    msg = str(failure("pool_forward", ns["pool_forward"], mode="average"))
    assert "visible case 1 of 2" in msg
    assert 'raise ValueError(f"unknown mode {mode}")' in msg
    assert "Traceback" not in msg
    assert 'this course spells the mode "average"' in msg, msg


def test_mode_filter_and_label(correct_ns):
    out = run("pool_forward", correct_ns["pool_forward"], hidden=True, seed=3, mode="average")
    assert out == '✓ pool_forward (mode="average"): 24 hidden cases passed\n'
    ns = namespace(CORRECT, {"pool_forward": next(b for b in BUGS if b.name == "pool_forward_avg_name").source})
    run("pool_forward", ns["pool_forward"], hidden=True, mode="max")  # the average bug is invisible here
    run("pool_backward", correct_ns["pool_backward"], mode="max")
    with pytest.raises(ValueError, match="mode must be one of"):
        check.pool_forward(correct_ns["pool_forward"], mode="avg")


def test_hidden_cases_are_deterministic_per_seed():
    ns = namespace(CORRECT, {"conv_forward": next(b for b in BUGS if b.name == "conv_forward_no_bias").source})
    a = str(failure("conv_forward", ns["conv_forward"], hidden=True, seed=5))
    b = str(failure("conv_forward", ns["conv_forward"], hidden=True, seed=5))
    c = str(failure("conv_forward", ns["conv_forward"], hidden=True, seed=6))
    assert a == b and a != c


def test_hidden_cases_cover_the_edge_cases():
    cases = [c for s in range(3) for c in _conv_cases(s)]
    strides = {c.args[3][1] for c in cases}
    pads = {c.args[4][1] for c in cases}
    fs = {c.args[1][1].shape[2] for c in cases}
    dtypes = {c.args[0][1].dtype for c in cases}
    assert strides == {1, 2, 3} and pads == {0, 1, 2} and fs == {1, 2, 3, 4}
    assert dtypes == {np.dtype(np.float32), np.dtype(np.float64)}
    assert any(c.args[0][1].shape[0] == 1 for c in cases) and any(c.args[0][1].shape[1] == 1 for c in cases)
    assert all(c.args[0][1].shape[2] != c.args[0][1].shape[3] for c in cases)  # never square


def _conv_cases(seed):
    rng = np.random.default_rng(seed)
    return [check._conv_forward_case(*check._random_conv_args(rng, dt)) for dt in float_dtypes(rng, 25)]


def test_hidden_pool_backward_has_ties_and_overlaps():
    rng = np.random.default_rng(SEED)
    ties = overlaps = 0
    for k in range(24):
        A, f, stride = pooling._random_pool_args(rng, np.float64, "max")
        overlaps += stride < f
        for i, c in np.ndindex(A.shape[:2]):
            for h in range(0, A.shape[2] - f + 1, stride):
                for w in range(0, A.shape[3] - f + 1, stride):
                    win = A[i, c, h:h + f, w:w + f]
                    ties += int(np.sum(win == win.max()) > 1)
    assert ties >= 5 and overlaps >= 5


def test_float64_result_for_float32_input_is_accepted_but_int_is_not():
    ns = namespace(CORRECT, {"conv_forward": next(b for b in BUGS if b.name == "conv_forward_float64_for_float32").source})
    run("conv_forward", ns["conv_forward"], hidden=True, seed=SEED)


def test_checks_are_fast_for_loop_solutions(correct_ns):
    for name in EXERCISES:
        for check_name in checks_of(name):
            start = time.perf_counter()
            run(check_name, correct_ns[name], hidden=True, seed=SEED)
            assert time.perf_counter() - start < 2.0, check_name


def test_hidden_size_cases_cover_raising_exact_padded_and_huge_inputs():
    cases = check._random_size_cases(np.random.default_rng(SEED))
    args = [dict(c.args) for c in cases]
    assert sum(c.raises is ValueError for c in cases) == 6
    assert all(a["f"] > a["n"] + 2 * a["pad"] for c, a in zip(cases, args) if c.raises)
    assert sum(a["f"] == a["n"] + 2 * a["pad"] for a in args) == 4
    assert sum(a["n"] < a["f"] < a["n"] + 2 * a["pad"] for a in args) >= 1
    assert sum(a["n"] > 10 ** 16 for a in args) == 4


def test_pool_mode_names_agree_with_the_library():
    """One spelling everywhere: the checks, cnn_course.ref and cnn_course.pt call it "average"."""
    from cnn_course.pt import pool as pt_pool
    from cnn_course.ref import pool as ref_pool

    assert check.MODES == ref_pool.MODES == pt_pool._MODES == ("max", "average")


TORCH_BUGS = [b for b in BUGS if b.function in ("ConvNet", "train_step")]


@pytest.mark.parametrize("bug", [None, *TORCH_BUGS], ids=["correct", *(b.name for b in TORCH_BUGS)])
def test_torch_checks_judged_as_in_the_notebook(bug):
    """The PyTorch checks give the same verdict and message in the student's kernel and in
    the autograder's judge (the class or function behind LoopbackLink and the message codec)."""
    overrides = {} if bug is None else {bug.function: bug.source}
    functions = ("ConvNet", "train_step") if bug is None else (bug.function,)
    for fn in functions:
        local, judged = local_and_judged("convolution", checks_of(fn)[0], fn, CORRECT, overrides)
        assert judged == local, f"local:  {local}\njudged: {judged}"
        assert judged.passed is (bug is None), judged
        if bug is not None:
            assert bug.hint in judged.evalue, judged.evalue
