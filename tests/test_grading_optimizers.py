"""The topic-2 checks: correct submissions pass, every catalogued bug fails with its hint."""

import io
import json
import re
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from cnn_course.grading import CheckFailed, NotYourOwnWork
from cnn_course.grading import optimizers as check
from submissions import namespace
from submissions.optimizers import (
    ALTERNATIVE, BUGS, CORRECT, FEEDBACK_BUG, GIVEN_SOFTMAX, MISBEHAVING, PIPELINE_BUGS,
)

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = list(CORRECT)
TORCH_EXERCISES = {"train_adam"}
SEED = 2021
BY_NAME = {b.name: b for b in BUGS}


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


def buggy(bug_name):
    bug = BY_NAME[bug_name]
    return namespace(CORRECT, {bug.function: bug.source})[bug.function]


@pytest.fixture(scope="module")
def correct_ns():
    return namespace(CORRECT)


def test_checks_match_the_exercises_in_notebook_order():
    assert EXERCISES == check.__all__
    assert len(EXERCISES) == 10


@pytest.mark.parametrize("name", EXERCISES)
def test_correct_solution_passes_visible_and_hidden(correct_ns, name):
    visible = run(name, correct_ns[name])
    hidden = run(name, correct_ns[name], hidden=True, seed=SEED)
    assert re.fullmatch(rf"✓ {name}: \d visible cases passed\n", visible), visible
    many = "6" if name in TORCH_EXERCISES else "(1\\d|2\\d|30)"  # a PyTorch case trains a network: fewer
    assert re.fullmatch(rf"✓ {name}: {many} hidden cases passed\n", hidden), hidden
    assert sys.getprofile() is None, "the profile hook was left installed"


@pytest.mark.parametrize("alt", list(ALTERNATIVE))
def test_alternative_solutions_pass(alt):
    ns = namespace(CORRECT, ALTERNATIVE[alt])
    for name in ALTERNATIVE[alt]:
        run(name, ns[name])
        for seed in (SEED, SEED + 1):
            run(name, ns[name], hidden=True, seed=seed)


@pytest.mark.parametrize("bug", BUGS, ids=[b.name for b in BUGS])
def test_bug_fails_its_checks_with_the_hint(bug):
    ns = namespace(CORRECT, {bug.function: bug.source})
    for name in EXERCISES:
        if name in bug.breaks:
            for hidden in (False, True):
                err = failure(name, ns[name], hidden=hidden, seed=SEED)
                if name == bug.function:
                    assert bug.hint in str(err), f"hint {bug.hint!r} missing from:\n{err}"
        else:
            run(name, ns[name], hidden=True, seed=SEED)


def test_every_exercise_has_bugs_and_cheats_are_caught():
    per_exercise = {name: [b for b in BUGS if b.function == name] for name in EXERCISES}
    assert all(len(bugs) >= 2 for bugs in per_exercise.values()), {k: len(v) for k, v in per_exercise.items()}
    cheats = [b for b in BUGS if "_calls_" in b.name]
    assert len(cheats) >= 6
    for bug in cheats:
        err = failure(bug.function, buggy(bug.name))
        assert isinstance(err, NotYourOwnWork), bug.name
        own = "build it yourself from torch.nn" if bug.function in TORCH_EXERCISES else "your own NumPy implementation"
        assert own in str(err), (bug.name, str(err))
    for bug in BUGS:
        if bug.name not in {c.name for c in cheats}:
            assert bug.function in bug.breaks and bug.hint, bug.name


def test_the_given_softmax_is_the_notebooks():
    """Submissions here may call GIVEN_SOFTMAX; in the notebook they call the worked cell's softmax."""
    nb = json.loads((ROOT / "solutions" / "02_optimizers" / "02_optimizers.ipynb").read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if c.get("id") == "softmax-worked")
    assert cell["metadata"]["nbgrader"]["locked"] and not cell["metadata"]["nbgrader"]["solution"]
    given, notebook = namespace({"softmax": GIVEN_SOFTMAX}), {"np": np}
    exec("".join(cell["source"]).split("\n\n\nz = ")[0], notebook)
    Z = np.random.default_rng(0).standard_normal((5, 4)) * 400
    assert np.array_equal(given["softmax"](Z), notebook["softmax"](Z))


def test_catalog_for_the_pipeline_is_consistent():
    # Bugs of different exercises share one graded submission, so the pipeline's time grows with the
    # number of bugs per exercise (3 submissions for these 18: about 3 minutes), not with their count.
    assert set(PIPELINE_BUGS) <= set(BY_NAME) and 8 <= len(PIPELINE_BUGS) <= 18
    assert FEEDBACK_BUG in PIPELINE_BUGS
    for name in ("adam_no_bias_correction", "adam_moments_swapped", "momentum_no_one_minus",
                 "rmsprop_eps_inside", "dropout_no_scale", "mini_batches_drop_last"):
        assert name in PIPELINE_BUGS
    for answers, failing in MISBEHAVING.values():
        assert set(answers) <= set(EXERCISES)
        assert failing == {f"test_{name}" for name in answers}


# ----------------------------------------------------------------------------- messages


def test_value_message_names_case_expected_and_got():
    msg = str(failure("adam_update", buggy("adam_no_bias_correction"), hidden=True, seed=SEED))
    assert re.search(r"adam_update failed hidden case \d+ of 20: (one step|3 steps in a row[^:]*): "
                     r"w\.shape=\([\d, ]+\), state \{v: (zeros|nonzero), s: (zeros|nonzero), t=\d+\}, lr=", msg), msg
    assert re.search(r"w_next\[[\d, ]+\]: expected -?[\d.]+(e-?\d+)?, got", msg), msg
    assert "max abs difference" in msg and "Hint: you skipped the bias correction" in msg


def test_visible_adam_case_is_the_first_step_and_nan_is_explained():
    msg = str(failure("adam_update", buggy("adam_t_after_correction")))
    assert "visible case 1 of 3 (the first step from adam_init's state (t = 0)" in msg, msg
    assert "max abs difference nan or inf" in msg and "got nan" in msg
    assert "increment t before the bias correction" in msg


def test_state_messages_name_the_key():
    msg = str(failure("adam_update", buggy("adam_stores_corrected")))
    assert 'state["v"] has wrong values' in msg and "keep the raw averages v and s" in msg, msg
    msg = str(failure("adam_update", buggy("adam_float_t")))
    assert 'state["t"] must be an int, got 1.0 (float); expected 1.' in msg, msg
    assert "floor division" not in msg and "counts the steps" in msg


def test_state_may_be_updated_in_place_but_must_hold_the_new_values(correct_ns):
    def stale(w, dw, state, lr=0.01, beta=0.9):
        v = beta * state["v"] + (1 - beta) * dw
        return w - lr * v, state  # the caller's state, never updated

    msg = str(failure("momentum_update", stale))
    assert 'state["v"] has wrong values' in msg, msg

    def extra_key(w, dw, state, lr=0.01, beta=0.9):
        w_next, new = correct_ns["momentum_update"](w, dw, state, lr, beta)
        return w_next, {**new, "lr": lr}

    assert "state has the wrong keys: unexpected 'lr'" in str(failure("momentum_update", extra_key))

    def no_dict(w, dw, state, lr=0.01, beta=0.9):
        w_next, new = correct_ns["momentum_update"](w, dw, state, lr, beta)
        return w_next, new["v"]

    assert "state must be a dict with the keys ['v'], got an array" in str(failure("momentum_update", no_dict))


def test_multi_step_case_feeds_the_state_back():
    calls = []

    def counting(w, dw, state, lr=0.01, beta=0.9):
        calls.append(state.get("v").copy())
        v = beta * state["v"] + (1 - beta) * dw
        return w - lr * v, {"v": v}

    run("momentum_update", counting)
    assert len(calls) == 1 + 1 + 3 and np.any(calls[-1]) and not np.any(calls[2])

    def broken_second_step(w, dw, state, lr=0.01, beta=0.9):
        if np.any(state["v"]):
            return None
        v = beta * state["v"] + (1 - beta) * dw
        return w - lr * v, {"v": v}

    msg = str(failure("momentum_update", broken_second_step))
    assert "must return a tuple (w_next, state), got None" in msg, msg


def test_dict_inputs_modified_in_place_are_reported():
    msg = str(failure("l2_regularization", buggy("l2_backward_in_place")))
    assert 'l2_regularization modified its input grads["dW1"] in place' in msg, msg
    msg = str(failure("l2_regularization", buggy("l2_backward_entries_replaced")))
    assert "l2_regularization modified its input grads in place: it replaced its entry 'dW1'" in msg, msg
    msg = str(failure("gradient_check", buggy("gradient_check_nudges_params")))
    assert 'modified its input params["W1"] in place' in msg, msg


@pytest.mark.parametrize("name, func, text", [
    ("softmax_cross_entropy", lambda Z, y: [1.0], "must return a tuple (cost, dZ), got a list of length 1"),
    ("softmax_cross_entropy", lambda Z, y: ([1.0], Z), "cost must be a float, got list"),
    ("l2_regularization", lambda c, g, p, lam, m: c, "must return a tuple (cost, grads), got float"),
    ("dropout_forward", lambda A, kp, rng: A, "must return a tuple (out, mask), got an array"),
    ("random_mini_batches", lambda X, y, b, rng: (X, y), "mini_batches has 2 entries, expected 3"),
    ("initialize_parameters_he", lambda dims, rng: [np.zeros(2)], "parameters must be a dict with the keys"),
    ("momentum_update", lambda w, dw, state, lr=0.01, beta=0.9: 1 // 0, "momentum_update raised ZeroDivisionError"),
    ("train_adam", lambda model, X, y, *args, **kw: None, "the type of the result must be 'list', got 'NoneType'"),
])
def test_bad_return_values_give_readable_messages(name, func, text):
    msg = str(failure(name, func))
    assert text in msg, msg
    assert "Traceback" not in msg


def test_exceptions_show_the_student_line():
    msg = str(failure("softmax_cross_entropy", buggy("cross_entropy_no_keepdims")))
    assert "softmax_cross_entropy raised ValueError: operands could not be broadcast" in msg
    assert "Z_shift = Z - np.max(Z, axis=1)" in msg and "keepdims=True" in msg

    def bad_cost_call(cost, params, grads, epsilon=1e-7):
        return cost(np.concatenate([v.ravel() for v in params.values()]))

    msg = str(failure("gradient_check", bad_cost_call))
    assert "cost(params) takes a dict of arrays like params" in msg, msg
    assert "return cost(np.concatenate(" in msg


def test_rng_misuse_is_named():
    for bug in ("he_global_random", "dropout_global_random", "mini_batches_global_random"):
        msg = str(failure(BY_NAME[bug].function, buggy(bug), hidden=True, seed=3))
        assert "np.random.* functions" in msg and "use the rng argument" in msg, (bug, msg)


def test_random_functions_make_exactly_the_documented_draws(correct_ns):
    def extra_draw(X, y, batch_size, rng):
        rng.random()  # one draw too many shifts the permutation
        return correct_ns["random_mini_batches"](X, y, batch_size, rng)

    assert "your shuffle is not rng.permutation(m)" in str(failure("random_mini_batches", extra_draw))


def test_hidden_cases_differ_from_the_visible_ones(monkeypatch, correct_ns):
    seen = {}

    def capture(name, func, cases, *, hidden, **kw):
        seen.setdefault(name, {})[hidden] = cases

    _patch_run_check(monkeypatch, capture)
    for name in EXERCISES:
        getattr(check, name)(correct_ns[name])
        getattr(check, name)(correct_ns[name], hidden=True, seed=SEED)
    for name, by_mode in seen.items():
        visible = {_fingerprint(c) for c in by_mode[False]}
        hidden = [_fingerprint(c) for c in by_mode[True]]
        assert not visible & set(hidden), name
        assert len(set(hidden)) == len(hidden), name


def _patch_run_check(monkeypatch, replacement):
    """Replace run_check in every check module (the package re-exports the checks)."""
    for module in check.SECTIONS:
        monkeypatch.setattr(module, "run_check", replacement)


def _fingerprint(case) -> str:
    """The arguments of a case as text (arrays by value, generators by their state)."""
    def text(v):
        if isinstance(v, np.ndarray):
            return f"{v.dtype}{v.shape}{v.tobytes().hex()}"
        if isinstance(v, dict):
            return "{" + ",".join(f"{k}:{text(x)}" for k, x in v.items()) + "}"
        if isinstance(v, (list, tuple)):
            return "[" + ",".join(text(x) for x in v) + "]"
        if isinstance(v, np.random.Generator):
            return repr(v.bit_generator.state)
        return repr(v)

    return text([v for _, v in case.args])


def test_hard_coded_visible_answers_fail_hidden(correct_ns):
    def memorised(layer_dims, rng):  # right for the three visible networks only
        if list(layer_dims) in ([3, 2, 1], [4, 5, 3, 2], [6, 4]):
            return correct_ns["initialize_parameters_he"](layer_dims, rng)
        return {f"{p}{l}": np.zeros(1) for l in range(1, len(layer_dims)) for p in "Wb"}

    run("initialize_parameters_he", memorised)
    failure("initialize_parameters_he", memorised, hidden=True)


def test_hidden_cases_are_deterministic_per_seed():
    f = buggy("momentum_no_one_minus")
    a = str(failure("momentum_update", f, hidden=True, seed=5))
    b = str(failure("momentum_update", f, hidden=True, seed=5))
    c = str(failure("momentum_update", f, hidden=True, seed=6))
    assert a == b and a != c


def _capture_cases(monkeypatch, name, seeds):
    got = []
    _patch_run_check(monkeypatch, lambda n, f, cases, **kw: got.extend(cases))
    for seed in seeds:
        getattr(check, name)(None, hidden=True, seed=seed)
    return got


def test_hidden_cases_cover_the_edge_cases(monkeypatch):
    cases = _capture_cases(monkeypatch, "adam_update", range(3))
    ts = {c.args[2][1]["t"] for c in cases}
    assert 0 in ts and max(ts) >= 10
    assert {np.dtype(c.dtype) for c in cases} == {np.dtype(np.float32), np.dtype(np.float64)}
    assert any(c.call is not None for c in cases) and any(len(c.args) == 4 for c in cases)
    assert {c.args[0][1].ndim for c in cases} == {1, 2}
    assert any(dict(c.args[3:]).get("eps", 0) >= 1e-2 for c in cases)

    batches = _capture_cases(monkeypatch, "random_mini_batches", range(3))
    ms = [(c.args[0][1].shape[0], c.args[2][1]) for c in batches]
    assert any(m % b for m, b in ms) and any(m % b == 0 for m, b in ms) and any(b > m for m, b in ms)
    assert any(c.args[0][1].ndim > 2 for c in batches)

    rms = _capture_cases(monkeypatch, "rmsprop_update", range(3))
    assert any(dict(c.args[3:]).get("eps", 0) >= 1e-3 for c in rms)

    drop = _capture_cases(monkeypatch, "dropout_forward", range(3))
    assert {c.args[1][1] for c in drop} >= {0.1, 0.99} and any(c.args[0][1].ndim == 3 for c in drop)

    grad = _capture_cases(monkeypatch, "gradient_check", range(3))
    assert any(len(c.args) == 3 for c in grad) and any(c.args[3][1] >= 1e-3 for c in grad if len(c.args) == 4)
    assert any(c.outputs[0].expected > 1e-3 for c in grad) and any(c.outputs[0].expected < 1e-6 for c in grad)

    sce = _capture_cases(monkeypatch, "softmax_cross_entropy", range(3))
    assert any(np.abs(c.args[0][1]).max() > 500 for c in sce) and any(c.args[0][1].shape[0] == 1 for c in sce)
    assert {np.dtype(c.dtype) for c in sce} == {np.dtype(np.float32), np.dtype(np.float64)}


def test_checks_are_fast(correct_ns):
    for name in EXERCISES:
        start = time.perf_counter()
        run(name, correct_ns[name], hidden=True, seed=SEED)
        # the PyTorch check trains six small networks (the first Adam of a process also imports a lot)
        assert time.perf_counter() - start < (8.0 if name in TORCH_EXERCISES else 2.0), name


# ----------------------------------------------------------------------------- merged exercises, Adam's names


def test_adam_moments_swapped_is_diagnosed():
    """The issue's case: state["v"] expected 0.05 (the average of the gradients), got 0.00025
    (the average of their squares): the message must say that v and s were swapped."""
    msg = str(failure("adam_update", buggy("adam_moments_swapped")))
    assert "visible case 1 of 3" in msg and 'state["v"]' in msg, msg
    assert "expected 0.05, got 0.00025" in msg, msg
    assert "you swapped v and s" in msg and "average of the gradients" in msg, msg

    def read_swapped(w, dw, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        t = state["t"] + 1
        v = beta1 * state["s"] + (1 - beta1) * dw   # reads the first moment from "s" and returns it there
        s = beta2 * state["v"] + (1 - beta2) * dw ** 2
        w_next = w - lr * (v / (1 - beta1 ** t)) / (np.sqrt(s / (1 - beta2 ** t)) + eps)
        return w_next, {"v": s, "s": v, "t": t}

    for hidden in (False, True):
        assert "you swapped v and s" in str(failure("adam_update", read_swapped, hidden=hidden, seed=SEED))


def test_adam_with_kingma_ba_names_is_told_the_course_names():
    msg = str(failure("adam_update", buggy("adam_kingma_ba_names")))
    assert "adam_update raised KeyError: 'm'" in msg, msg
    assert "Kingma & Ba's paper calls them m and v; here they are v and s" in msg, msg

    def returns_m(w, dw, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        w_next, new = CORRECT_NS["adam_update"](w, dw, state, lr, beta1, beta2, eps)
        return w_next, {"m": new["v"], "v": new["s"], "t": new["t"]}

    msg = str(failure("adam_update", returns_m))
    assert "state has the wrong keys" in msg and "Rename m to v and v to s" in msg, msg


def test_softmax_cross_entropy_reports_the_output_that_is_wrong():
    msg = str(failure("softmax_cross_entropy", buggy("dz_no_m")))
    assert "dZ has wrong values" in msg and "divide dZ by m" in msg and "cost" not in msg.split("\n")[1], msg
    msg = str(failure("softmax_cross_entropy", buggy("cross_entropy_sum")))
    assert msg.split("\n")[1].strip().startswith("cost is wrong") and "you summed the losses" in msg, msg


def test_l2_regularization_checks_cost_and_gradients():
    msg = str(failure("l2_regularization", buggy("l2_cost_lambda_over_m")))
    assert "cost is wrong: expected 1.23125" in msg and "you used λ/m" in msg, msg
    msg = str(failure("l2_regularization", buggy("l2_backward_bias")))
    assert 'grads["db1"] has wrong values' in msg and "biases are not regularised" in msg, msg


CORRECT_NS = namespace(CORRECT)


# ----------------------------------------------------------------------------- the PyTorch training loop


def test_train_adam_matches_the_numpy_adam_it_is_compared_with():
    """The expected values are the notebook's NumPy Adam and decay (float64); a float32 torch
    run of the same loop agrees far inside the tolerance, and every catalogued mistake lands
    far outside it."""
    import torch

    from cnn_course.grading.optimizers import torch_training as tt
    from cnn_course.grading.pytorch import random_weights

    rng = np.random.default_rng(0)
    hyper = dict(epochs=3, batch_size=5, lr0=0.05, decay_rate=0.5, betas=(0.8, 0.95), eps=1e-6)
    for _ in range(5):
        weights = random_weights([(7, 4), (7,), (3, 7), (3,)], rng, scale=1.0)
        X, y = rng.standard_normal((13, 4)).astype(np.float32), rng.integers(0, 3, 13)
        losses, params = tt._numpy_adam(weights, X, y, **hyper)
        model = torch.nn.Sequential(torch.nn.Linear(4, 7), torch.nn.ReLU(), torch.nn.Linear(7, 3))
        with torch.no_grad():
            for p, w in zip(model.parameters(), weights):
                p.copy_(torch.tensor(w))
        got = CORRECT_NS["train_adam"](model, torch.tensor(X), torch.tensor(y), **hyper)
        assert np.allclose(got, losses, atol=1e-5, rtol=0)
        assert max(np.abs(p.detach().numpy() - q).max() for p, q in zip(model.parameters(), params)) < 1e-5
        for mode, _ in tt.MISTAKES:
            if mode == "defaults":
                continue
            _, wrong = tt._numpy_adam(weights, X, y, mode=mode, **hyper)
            assert max(np.abs(a - b).max() for a, b in zip(wrong, params)) > 1e-3, mode


def test_train_adam_feedback_names_the_mistake():
    msg = str(failure("train_adam", buggy("train_adam_scheduler_per_batch")))
    assert "visible case 1 of 2" in msg and "losses[2] is wrong" in msg and "not after every mini-batch" in msg, msg
    msg = str(failure("train_adam", buggy("train_adam_returns_tensors")))
    assert "the type of each loss must be 'float', got 'tensor or NumPy array'" in msg and "loss.item()" in msg, msg
    msg = str(failure("train_adam", buggy("train_adam_loss_per_epoch")))
    assert "losses has 3 entries, expected 9" in msg and "not one per epoch" in msg, msg
