"""The topic-3 checks (batch norm): correct submissions pass, every catalogued bug fails with its hint."""

import io
import re
import sys
import time
from contextlib import redirect_stdout

import numpy as np
import pytest

from cnn_course.grading import CheckFailed, NotYourOwnWork
from cnn_course.grading import batch_norm as check
from cnn_course.grading import batch_norm_torch as torch_check
from cnn_course.grading.core import float_dtypes
from submissions import namespace
from submissions.batch_norm import ALTERNATIVE, BUGS, CORRECT, FEEDBACK_BUG, MISBEHAVING, PIPELINE_BUGS

EXERCISES = list(CORRECT)
SEED = 3091
# exercise -> its checks, each (check name, the exercises passed after it, label in the ✓ line)
CHECKS = {
    "batchnorm_forward": [("batchnorm_forward_train", (), "batchnorm_forward (train mode)"),
                          ("batchnorm_forward_eval", (), "batchnorm_forward (eval mode)")],
    "batchnorm_backward": [("batchnorm_backward", ("batchnorm_forward",), "batchnorm_backward")],
    "spatial_batchnorm_forward": [("spatial_batchnorm_forward", (), "spatial_batchnorm_forward")],
    "spatial_batchnorm_backward": [("spatial_batchnorm_backward", ("spatial_batchnorm_forward",),
                                    "spatial_batchnorm_backward")],
    "BNConvNet": [("bn_conv_net", (), "BNConvNet")],
    "evaluate_accuracy": [("evaluate_accuracy", (), "evaluate_accuracy")],
}
ALL_CHECKS = [(ex, name, deps, label) for ex, checks in CHECKS.items() for name, deps, label in checks]
HIDDEN_CASES = {"bn_conv_net": 4, "evaluate_accuracy": 6}  # the NumPy checks have 20
CHEATS = {"bn_forward_calls_torch", "bn_forward_calls_ref", "bn_backward_autograd", "spatial_forward_calls_ref",
          "net_calls_course_bn", "eval_calls_library"}
TORCH_EXERCISES = {"BNConvNet", "evaluate_accuracy"}


def _check(name):
    return getattr(torch_check, name) if name in HIDDEN_CASES else getattr(check, name)


def run(name, ns, exercise, deps=(), **kw):
    """Run one check on the namespace's functions; return its printed output."""
    buf = io.StringIO()
    with redirect_stdout(buf):
        _check(name)(ns[exercise], *(ns[d] for d in deps), **kw)
    return buf.getvalue()


def failure(name, ns, exercise, deps=(), **kw) -> CheckFailed:
    with pytest.raises(CheckFailed) as info, redirect_stdout(io.StringIO()):
        _check(name)(ns[exercise], *(ns[d] for d in deps), **kw)
    return info.value


def bug(name):
    return next(b for b in BUGS if b.name == name)


def bug_ns(name):
    b = bug(name)
    return namespace(CORRECT, {b.function: b.source})


@pytest.fixture(scope="module")
def correct_ns():
    return namespace(CORRECT)


@pytest.mark.parametrize("exercise, name, deps, label", ALL_CHECKS, ids=[c[1] for c in ALL_CHECKS])
def test_correct_solution_passes_visible_and_hidden(correct_ns, exercise, name, deps, label):
    visible = run(name, correct_ns, exercise, deps)
    assert re.search(rf"(^|\n)✓ {re.escape(label)}: \d visible cases passed\n$", visible), visible
    for seed in (SEED, 7, 301):
        hidden = run(name, correct_ns, exercise, deps, hidden=True, seed=seed)
        assert hidden == f"✓ {label}: {HIDDEN_CASES.get(name, 20)} hidden cases passed\n", hidden
    assert sys.getprofile() is None, "the profile hook was left installed"


@pytest.mark.parametrize("exercise, name, deps, label", ALL_CHECKS, ids=[c[1] for c in ALL_CHECKS])
def test_alternative_solutions_pass(exercise, name, deps, label):
    ns = namespace(CORRECT, ALTERNATIVE)
    run(name, ns, exercise, deps)
    run(name, ns, exercise, deps, hidden=True, seed=SEED + 1)


def _checks_fail(ns, exercise, hidden) -> list[CheckFailed]:
    errors = []
    for name, deps, _ in CHECKS[exercise]:
        try:
            run(name, ns, exercise, deps, hidden=hidden, seed=SEED)
        except CheckFailed as err:
            errors.append(err)
    return errors


@pytest.mark.parametrize("b", BUGS, ids=[b.name for b in BUGS])
def test_bug_fails_its_checks_with_the_hint(b):
    """Every exercise in ``breaks`` fails (visible and hidden), the others pass: the sets are honest."""
    ns = namespace(CORRECT, {b.function: b.source})
    for exercise in EXERCISES:
        for hidden in (False, True):
            errors = _checks_fail(ns, exercise, hidden)
            if exercise not in b.breaks:
                assert not errors, f"{b.name} breaks {exercise} ({'hidden' if hidden else 'visible'}):\n{errors[0]}"
                continue
            assert errors, f"{b.name}: the {'hidden' if hidden else 'visible'} checks of {exercise} pass"
            if exercise == b.function:
                text = "\n".join(map(str, errors))
                assert b.hint in text, f"hint {b.hint!r} missing from:\n{text}"
                if b.name in CHEATS:
                    assert isinstance(errors[0], NotYourOwnWork), b.name
                    own = "build it yourself from torch.nn" if b.function in TORCH_EXERCISES \
                        else "your own NumPy implementation"
                    assert own in text, text
            elif b.function == "batchnorm_forward" and exercise == "batchnorm_backward" and b.name not in CHEATS:
                assert "fix batchnorm_forward first" in str(errors[0]), str(errors[0])
    assert sys.getprofile() is None


def test_catalog_covers_every_exercise_and_lists_known_names():
    per_exercise = {ex: [b for b in BUGS if b.function == ex] for ex in EXERCISES}
    assert all(len(bugs) >= 3 for bugs in per_exercise.values()), {k: len(v) for k, v in per_exercise.items()}
    names = {b.name for b in BUGS}
    assert len(names) == len(BUGS)
    assert set(PIPELINE_BUGS) <= names and 8 <= len(PIPELINE_BUGS) <= 12
    assert FEEDBACK_BUG in PIPELINE_BUGS
    assert CHEATS <= names
    for answers, failing in MISBEHAVING.values():
        assert set(answers) <= set(EXERCISES)
        assert all(f.startswith("test_") for f in failing)


def test_backward_with_a_broken_forward_says_fix_the_forward_first():
    ns = bug_ns("bn_forward_eps_outside_sqrt")
    msg = str(failure("batchnorm_backward", ns, "batchnorm_backward", ("batchnorm_forward",)))
    assert "batchnorm_backward failed visible case 1 of 3" in msg
    assert "fix batchnorm_forward first" in msg and "out has wrong values" in msg, msg
    ns = bug_ns("spatial_forward_no_transpose_back")
    msg = str(failure("spatial_batchnorm_backward", ns, "spatial_batchnorm_backward", ("spatial_batchnorm_forward",),
                      hidden=True, seed=SEED))
    assert "fix spatial_batchnorm_forward first" in msg, msg
    ns = bug_ns("bn_forward_calls_torch")
    msg = str(failure("batchnorm_backward", ns, "batchnorm_backward", ("batchnorm_forward",)))
    assert "fix batchnorm_forward first" in msg and "torch" in msg


def test_visible_backward_prints_the_gradient_check(correct_ns):
    out = run("batchnorm_backward", correct_ns, "batchnorm_backward", ("batchnorm_forward",))
    lines = out.splitlines()
    assert lines[0].startswith("Gradient check of batchnorm_backward against centred differences of your "
                               "batchnorm_forward"), out
    assert re.fullmatch(r"  relative errors dx < 1e-\d\d, dgamma (< 1e-\d\d|0), dbeta (< 1e-\d\d|0) — below 1e-7: "
                        r"your gradients agree with the numerical ones", lines[1]), lines[1]
    out = run("spatial_batchnorm_backward", correct_ns, "spatial_batchnorm_backward", ("spatial_batchnorm_forward",))
    assert "Gradient check of spatial_batchnorm_backward" in out and "agree" in out
    hidden = run("batchnorm_backward", correct_ns, "batchnorm_backward", ("batchnorm_forward",), hidden=True)
    assert "Gradient check" not in hidden
    ns = bug_ns("bn_backward_constant_stats")
    buf = io.StringIO()
    with redirect_stdout(buf), pytest.raises(CheckFailed):
        check.batchnorm_backward(ns["batchnorm_backward"], ns["batchnorm_forward"])
    assert "far above 1e-7: the analytic and numerical gradients disagree" in buf.getvalue(), buf.getvalue()
    assert re.search(r"relative errors dx \d\.\de[-+]\d\d, dgamma", buf.getvalue())


def test_value_message_names_case_expected_and_got():
    ns = bug_ns("bn_forward_momentum_swapped")
    msg = str(failure("batchnorm_forward_train", ns, "batchnorm_forward", hidden=True, seed=SEED))
    assert re.search(r"batchnorm_forward \(train mode\) failed hidden case \d+ of 20: x\.shape=\(\d, \d\), "
                     r"train=True, momentum=[\d.]+, eps=[\de.-]+, dtype=float(32|64)", msg), msg
    assert re.search(r"running_mean\[\d\]: expected -?[\d.]+(e-?\d+)?, got", msg), msg
    assert "max abs difference" in msg and "Hint:" in msg
    msg = str(failure("batchnorm_forward_train", ns, "batchnorm_forward"))
    assert "visible case 1 of 3 (the notebook's 4×3 example batch" in msg


def test_running_arrays_updated_in_place_are_accepted_but_inputs_are_not(correct_ns):
    run("batchnorm_forward_train", correct_ns, "batchnorm_forward", hidden=True, seed=SEED)
    src = CORRECT["batchnorm_forward"].replace("        x_hat = (x - mu) / std\n",
                                               "        x -= mu\n        x_hat = x / std\n", 1)
    ns = namespace(CORRECT, {"batchnorm_forward": src})
    msg = str(failure("batchnorm_forward_train", ns, "batchnorm_forward"))
    assert "batchnorm_forward modified its input x in place" in msg and "x -= mu overwrites" in msg, msg


def test_rebinding_and_missing_update_get_different_hints():
    rebind = str(failure("batchnorm_forward_train", bug_ns("bn_forward_rebinds_running"), "batchnorm_forward"))
    missing = str(failure("batchnorm_forward_train", bug_ns("bn_forward_no_running_update"), "batchnorm_forward"))
    assert "only rebinds the local name" in rebind and "running_mean[:] =" in rebind
    assert "was not updated" in missing and "assigns a new array" not in missing


@pytest.mark.parametrize("source, expected", [
    ("def batchnorm_forward(x, gamma, beta, running_mean, running_var, train=True, momentum=0.1, eps=1e-5):\n"
     "    pass\n", "must return a tuple (out, cache), got None (did you forget the return statement?)"),
    ("def batchnorm_forward(x, gamma, beta, running_mean, running_var, train=True, momentum=0.1, eps=1e-5):\n"
     "    return 'out', 'cache'\n", "out must be a NumPy array, got str"),
    ("def batchnorm_forward(x, gamma, beta, running_mean, running_var, train=True, momentum=0.1, eps=1e-5):\n"
     "    return x[:, 0], None\n", "out has the wrong shape: expected (4, 3), got (4,)"),
    ("def batchnorm_forward(x, gamma, beta, running_mean, running_var, train=True, momentum=0.1, eps=1e-5):\n"
     "    raise NotImplementedError()\n", "replace the `raise NotImplementedError()` line"),
    ("def batchnorm_forward(x, gamma, beta, running_mean, running_var):\n    return x, None\n",
     "TypeError"),
    ("import numpy as np\n\ndef batchnorm_forward(x, gamma, beta, running_mean, running_var, train=True, "
     "momentum=0.1, eps=1e-5):\n    return np.zeros(x.shape, dtype=int), None\n", "floating-point"),
])
def test_bad_results_give_a_readable_message(source, expected):
    ns = namespace(CORRECT, {"batchnorm_forward": source})
    for name in ("batchnorm_forward_train", "batchnorm_forward_eval"):
        msg = str(failure(name, ns, "batchnorm_forward"))
        assert expected in msg, msg
        assert "Traceback" not in msg and "grading/" not in msg
    msg = str(failure("batchnorm_backward", ns, "batchnorm_backward", ("batchnorm_forward",)))
    assert "fix batchnorm_forward first" in msg


def test_exception_is_reported_with_the_student_line():
    ns = bug_ns("bn_forward_axis1")
    msg = str(failure("batchnorm_forward_train", ns, "batchnorm_forward"))
    assert "batchnorm_forward raised ValueError" in msg
    assert "running_mean[:] = (1 - momentum) * running_mean + momentum * mu" in msg, msg
    assert "taken over axis=0" in msg and "Traceback" not in msg


def test_backward_bad_results_and_missing_forward(correct_ns):
    ns = namespace(CORRECT, {"batchnorm_backward": "def batchnorm_backward(dout, cache):\n    return dout\n"})
    msg = str(failure("batchnorm_backward", ns, "batchnorm_backward", ("batchnorm_forward",)))
    assert "batchnorm_backward must return a tuple (dx, dgamma, dbeta), got an array of shape (4, 3)" in msg
    with pytest.raises(CheckFailed, match="expected your function batchnorm_forward, got None"):
        check.batchnorm_backward(correct_ns["batchnorm_backward"], None)
    with pytest.raises(CheckFailed, match="expected your function batchnorm_forward, got int"):
        check.batchnorm_forward_train(3)


def test_hidden_cases_differ_from_the_visible_ones(correct_ns):
    """A function that has memorised the visible answers fails the hidden cases."""
    seen = {}

    def recorder(x, *rest):
        result = correct_ns["batchnorm_forward"](x, *rest)
        seen[(x.tobytes(), rest[4])] = (result[0].copy(), rest[2].copy(), rest[3].copy())
        return result

    recorder.__module__ = "__main__"
    with redirect_stdout(io.StringIO()):
        check.batchnorm_forward_train(recorder)

    def memorised(x, gamma, beta, running_mean, running_var, train=True, momentum=0.1, eps=1e-5):
        out, rm, rv = seen.get((x.tobytes(), train), (np.zeros_like(x), running_mean, running_var))
        running_mean[:], running_var[:] = rm, rv
        return out, None

    memorised.__module__ = "__main__"
    with redirect_stdout(io.StringIO()):
        check.batchnorm_forward_train(memorised)
    with pytest.raises(CheckFailed), redirect_stdout(io.StringIO()):
        check.batchnorm_forward_train(memorised, hidden=True, seed=SEED)


def test_hidden_cases_are_deterministic_per_seed():
    ns = bug_ns("bn_forward_momentum_swapped")
    a = str(failure("batchnorm_forward_train", ns, "batchnorm_forward", hidden=True, seed=5))
    b = str(failure("batchnorm_forward_train", ns, "batchnorm_forward", hidden=True, seed=5))
    c = str(failure("batchnorm_forward_train", ns, "batchnorm_forward", hidden=True, seed=6))
    assert a == b and a != c


def test_hidden_cases_cover_the_edge_cases():
    rng = np.random.default_rng(SEED)
    train = [check._random_2d(rng, k, dt, True) for k, dt in enumerate(float_dtypes(rng, 40))]
    evals = [check._random_2d(rng, k, dt, False) for k, dt in enumerate(float_dtypes(rng, 40))]
    shapes = [c.args[0][1].shape for c in train]
    assert min(n for n, _ in shapes) == 2 and any(d == 1 for _, d in shapes) and any(n != d for n, d in shapes)
    assert min(c.args[0][1].shape[0] for c in evals) == 1
    assert {c.dtype for c in train} == {np.dtype(np.float32), np.dtype(np.float64)}
    assert {"eps=0.5", "eps=1e-05", "momentum=0.9"} <= {p for c in train for p in c.describe.split(", ")}
    rng = np.random.default_rng(SEED)
    xs = [check._random_4d_x(rng, True) for _ in range(40)]
    assert any(x.shape[0] == 1 for x in xs) and any(x.shape[1] == 1 for x in xs)
    assert all(x.shape[0] * x.shape[2] * x.shape[3] >= 3 for x in xs)


def test_checks_are_fast(correct_ns):
    for exercise, name, deps, _ in ALL_CHECKS:
        start = time.perf_counter()
        run(name, correct_ns, exercise, deps, hidden=True, seed=SEED)
        run(name, correct_ns, exercise, deps)
        assert time.perf_counter() - start < 2.0, name


def test_hidden_imports_are_caught_while_running():
    """An import inside the function body escapes the static look; the first case's watcher sees it."""
    src = '''\
def batchnorm_forward(x, gamma, beta, running_mean, running_var, train=True, momentum=0.1, eps=1e-5):
    import torch
    t = torch.nn.functional.batch_norm(torch.from_numpy(x), torch.from_numpy(running_mean),
                                       torch.from_numpy(running_var), torch.from_numpy(gamma),
                                       torch.from_numpy(beta), training=train, momentum=momentum, eps=eps)
    return t.numpy(), None
'''
    ns = namespace(CORRECT, {"batchnorm_forward": src})
    err = failure("batchnorm_forward_train", ns, "batchnorm_forward")
    assert isinstance(err, NotYourOwnWork) and "seen while running your function" in str(err), str(err)
    err = failure("batchnorm_backward", ns, "batchnorm_backward", ("batchnorm_forward",))
    assert not isinstance(err, NotYourOwnWork) and "fix batchnorm_forward first" in str(err), str(err)
    src = '''\
def batchnorm_backward(dout, cache):
    from cnn_course.ref import batchnorm
    return batchnorm.batchnorm_backward(dout, cache)
'''
    ns = namespace(CORRECT, {"batchnorm_backward": src})
    err = failure("batchnorm_backward", ns, "batchnorm_backward", ("batchnorm_forward",), hidden=True, seed=SEED)
    assert isinstance(err, NotYourOwnWork), str(err)
    assert sys.getprofile() is None


def test_backward_must_not_modify_dout():
    src = CORRECT["batchnorm_backward"].replace("    dx_hat = dout * gamma\n", "    dout *= gamma\n    dx_hat = dout\n")
    ns = namespace(CORRECT, {"batchnorm_backward": src})
    msg = str(failure("batchnorm_backward", ns, "batchnorm_backward", ("batchnorm_forward",)))
    assert "batchnorm_backward modified its input dout in place" in msg, msg


def test_hidden_cases_include_a_constant_feature():
    for seed in (SEED, 0, 301):
        rng = np.random.default_rng(seed)
        cases = [check._random_2d(rng, k, dt, True) for k, dt in enumerate(float_dtypes(rng, 20))]
        assert any(np.ptp(c.args[0][1][:, -1]) == 0 for c in cases), seed


def test_spatial_axis_mistakes_get_their_own_hints():
    msg = str(failure("spatial_batchnorm_forward", bug_ns("spatial_forward_axes01"), "spatial_batchnorm_forward"))
    assert "statistics over axes (0, 1) mix the channels" in msg, msg
    msg = str(failure("spatial_batchnorm_forward", bug_ns("spatial_forward_axis0"), "spatial_batchnorm_forward"))
    assert "per (C, H, W) position (over axis 0 only)" in msg, msg


def test_an_unrecognised_mistake_gets_the_step_by_step_recipe():
    """The exercise text gives the maths, not the code: the visible checks' fallback hints walk through the steps."""
    src = CORRECT["batchnorm_forward"].replace("out = gamma * x_hat + beta", "out = gamma * x_hat + beta + 0.1", 1)
    msg = str(failure("batchnorm_forward_train", namespace(CORRECT, {"batchnorm_forward": src}), "batchnorm_forward"))
    assert "step by step, in train mode" in msg and "x_hat = (x - mu) / np.sqrt(var + eps)" in msg, msg
    assert "running_mean[:] = (1 - momentum) * running_mean + momentum * mu" in msg
    src = CORRECT["batchnorm_forward"].replace("out = gamma * x_hat + beta", "out = gamma * x_hat + beta + 0.1", 2)
    msg = str(failure("batchnorm_forward_eval", namespace(CORRECT, {"batchnorm_forward": src}), "batchnorm_forward"))
    assert "step by step, in eval mode" in msg, msg
    src = CORRECT["spatial_batchnorm_forward"].replace("return out, cache", "return out + 0.1, cache")
    msg = str(failure("spatial_batchnorm_forward", namespace(CORRECT, {"spatial_batchnorm_forward": src}),
                      "spatial_batchnorm_forward"))
    assert "x.transpose(0, 2, 3, 1).reshape(-1, C)" in msg and ".reshape(N, H, W, C).transpose(0, 3, 1, 2)" in msg, msg
