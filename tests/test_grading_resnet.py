"""The topic-5 checks (ResNet): correct submissions pass, every catalogued bug fails with its hint."""

import re
import sys
import time
from contextlib import redirect_stdout

import numpy as np
import pytest

from cnn_course.grading import CheckFailed, NotYourOwnWork
from cnn_course.grading import resnet as check
from cnn_course.grading import resnet_torch as torch_check
from submissions import Catalogue, namespace
from submissions.resnet import BUGS, CORRECT, FEEDBACK_BUG, MISBEHAVING, PIPELINE_BUGS

EXERCISES = list(CORRECT)
SEED = 5091
# exercise -> (check, the exercises passed after it, label in the ✓ line, hidden cases)
CHECKS = {
    "residual_block_forward": (check.residual_block_forward, (), 10),
    "residual_block_backward": (check.residual_block_backward, ("residual_block_forward",), 6),
    "IdentityBlock": (torch_check.identity_block, (), 4),
    "ConvolutionalBlock": (torch_check.convolutional_block, (), 4),
    "block_parameters": (check.block_parameters, (), 8),
    "SmallResNet": (torch_check.small_resnet, (), 3),
}
cat = Catalogue(CHECKS, CORRECT, BUGS, seed=SEED)
run, failure, bug_ns, _fails = cat.run, cat.failure, cat.bug_ns, cat.fails
CHEATS = {"fwd_calls_torch", "fwd_calls_library_block", "id_uses_course_layers", "count_with_torch",
          "net_uses_zoo_block"}
TORCH_EXERCISES = {"IdentityBlock", "ConvolutionalBlock", "SmallResNet"}


@pytest.fixture(scope="module")
def correct_ns():
    return namespace(CORRECT)


@pytest.mark.parametrize("exercise", EXERCISES)
def test_correct_solution_passes_visible_and_hidden(correct_ns, exercise):
    visible = run(correct_ns, exercise)
    report = (r"Gradient check of residual_block_backward's dx against centred differences of your "
              r"residual_block_forward \(visible case 1, 8 entries of x\):\n  relative error \d\.\de-\d\d — below 1e-7: your dx agrees "
              r"with the numerical gradient\n") if exercise == "residual_block_backward" else ""
    assert re.fullmatch(rf"{report}✓ {exercise}: \d visible cases passed\n", visible), visible
    for seed in (SEED, 7):
        hidden = run(correct_ns, exercise, hidden=True, seed=seed)
        assert hidden == f"✓ {exercise}: {CHECKS[exercise][2]} hidden cases passed\n", hidden
    assert sys.getprofile() is None, "the profile hook was left installed"


@pytest.mark.parametrize("b", BUGS, ids=[b.name for b in BUGS])
def test_bug_fails_its_checks_with_the_hint(b):
    """Every exercise in ``breaks`` fails (visible and hidden), the others pass: the sets are honest."""
    ns = namespace(CORRECT, {b.function: b.source})
    for exercise in EXERCISES:
        for hidden in (False, True):
            err = _fails(ns, exercise, hidden)
            if exercise not in b.breaks:
                assert err is None, f"{b.name} breaks {exercise} ({'hidden' if hidden else 'visible'}):\n{err}"
                continue
            assert err is not None, f"{b.name}: the {'hidden' if hidden else 'visible'} checks of {exercise} pass"
            if exercise == b.function:
                assert b.hint in str(err), f"hint {b.hint!r} missing from:\n{err}"
                if b.name in CHEATS:
                    assert isinstance(err, NotYourOwnWork), b.name
            elif b.function == "residual_block_forward" and exercise == "residual_block_backward" \
                    and b.name not in CHEATS:
                assert "fix residual_block_forward first" in str(err), str(err)
    assert sys.getprofile() is None


def test_catalog_covers_every_exercise_and_lists_known_names():
    per_exercise = {ex: [b for b in BUGS if b.function == ex] for ex in EXERCISES}
    assert all(len(bugs) >= 4 for bugs in per_exercise.values()), {k: len(v) for k, v in per_exercise.items()}
    names = {b.name for b in BUGS}
    assert len(names) == len(BUGS)
    assert set(PIPELINE_BUGS) <= names and 6 <= len(PIPELINE_BUGS) <= 12
    assert FEEDBACK_BUG in PIPELINE_BUGS
    assert CHEATS <= names
    for answers, failing in MISBEHAVING.values():
        assert set(answers) <= set(EXERCISES)
        assert all(f.startswith("test_") for f in failing)


def test_the_issue_s_mistakes_are_in_the_catalog():
    """Grading with teeth: each mistake the issue names has a catalogued bug."""
    names = {b.name for b in BUGS}
    for wanted in ("fwd_add_after_relu", "id_add_after_relu",            # shortcut added after the final ReLU
                   "conv_no_projection", "fwd_projection_missing",        # projection missing
                   "conv_projection_stride_1", "fwd_projection_stride_1",  # projection with the wrong stride
                   "fwd_relu_on_shortcut", "id_relu_on_shortcut", "conv_relu_on_shortcut",  # ReLU on the shortcut
                   "fwd_bn_eval_in_training", "id_bn_eval_in_training",   # BN in eval mode during training
                   "fwd_padding_0", "id_padding_0",                       # wrong padding in 3x3 same convolutions
                   "count_conv_bias", "count_no_bn", "count_running_stats"):  # counting biases wrong
        assert wanted in names, wanted


def test_messages_name_case_expected_and_got():
    msg = str(failure(bug_ns("fwd_add_after_relu"), "residual_block_forward"))
    assert msg.startswith("residual_block_forward failed visible case 1 of 3 (an identity block, train mode): "
                          "identity block, x.shape=(2, 2, 4, 4)"), msg
    assert re.search(r"out\[[\d, ]+\]: expected -?[\d.]+(e-?\d+)?, got", msg) and "Hint:" in msg, msg
    msg = str(failure(bug_ns("id_add_after_relu"), "IdentityBlock", hidden=True, seed=SEED))
    assert re.match(r"IdentityBlock failed hidden case 1 of 4: IdentityBlock\(\d\) with fixed weights", msg), msg
    assert "out in evaluation mode has wrong values" in msg, msg


def test_backward_with_a_broken_forward_says_fix_the_forward_first():
    msg = str(failure(bug_ns("fwd_no_final_relu"), "residual_block_backward"))
    assert "fix residual_block_forward first" in msg and "out has wrong values" in msg, msg
    msg = str(failure(bug_ns("fwd_calls_torch"), "residual_block_backward"))
    assert "cannot be checked" in msg and "torch" in msg, msg


def test_calling_the_course_layers_is_allowed_but_the_ready_made_block_is_not(correct_ns):
    assert "ref.conv2d_forward" in CORRECT["residual_block_forward"]
    run(correct_ns, "residual_block_forward")
    err = failure(bug_ns("fwd_calls_library_block"), "residual_block_forward")
    assert isinstance(err, NotYourOwnWork)
    text = str(err)
    assert "cnn_course.ref.resnet" in text and "conv2d_forward" in text and "are fine" in text, text


def test_eval_mode_leaves_the_running_statistics_and_train_mode_updates_them(correct_ns):
    rng = np.random.default_rng(0)
    x, params, stride = check._random_block(rng)
    before = {k: v.copy() for k, v in params.items()}
    correct_ns["residual_block_forward"](x, params, stride, False)
    assert all(np.array_equal(before[k], params[k]) for k in params)
    correct_ns["residual_block_forward"](x, params, stride, True)
    assert not np.array_equal(before["running_mean1"], params["running_mean1"])
    assert np.array_equal(before["W1"], params["W1"])


def test_hidden_cases_cover_identity_projection_and_both_modes():
    rng = np.random.default_rng(SEED)
    blocks = [check._random_block(rng) for _ in range(40)]
    kinds = {("Ws" in p, s, x.shape[1] == p["W1"].shape[0]) for x, p, s in blocks}
    assert (False, 1, True) in kinds and (True, 2, False) in kinds and (True, 1, True) in kinds
    assert any(s == 2 and x.shape[1] == p["W1"].shape[0] for x, p, s in blocks)


def test_block_parameters_matches_torch_modules():
    torch = pytest.importorskip("torch")
    nn = torch.nn

    def block(kind, c_in, width, stride):
        if kind == "basic":
            layers, out = [nn.Conv2d(c_in, width, 3, bias=False), nn.BatchNorm2d(width),
                           nn.Conv2d(width, width, 3, bias=False), nn.BatchNorm2d(width)], width
        else:
            layers, out = [nn.Conv2d(c_in, width, 1, bias=False), nn.BatchNorm2d(width),
                           nn.Conv2d(width, width, 3, bias=False), nn.BatchNorm2d(width),
                           nn.Conv2d(width, 4 * width, 1, bias=False), nn.BatchNorm2d(4 * width)], 4 * width
        if stride != 1 or c_in != out:
            layers += [nn.Conv2d(c_in, out, 1, bias=False), nn.BatchNorm2d(out)]
        return sum(p.numel() for layer in layers for p in layer.parameters())

    for args in (("basic", 64, 64, 1), ("bottleneck", 256, 64, 1), ("basic", 64, 128, 2), ("bottleneck", 64, 64, 1),
                 ("bottleneck", 1024, 512, 2), ("basic", 3, 8, 1)):
        assert check.count_block(*args) == block(*args), args
    assert check.count_block("basic", 64, 64) == 73_984 and check.count_block("bottleneck", 256, 64) == 70_400


def test_hidden_cases_are_deterministic_per_seed():
    ns = bug_ns("fwd_relu_on_shortcut")
    a = str(failure(ns, "residual_block_forward", hidden=True, seed=5))
    b = str(failure(ns, "residual_block_forward", hidden=True, seed=5))
    assert a == b


def test_checks_are_fast(correct_ns):
    for exercise in EXERCISES:
        start = time.perf_counter()
        run(correct_ns, exercise, hidden=True, seed=SEED)
        run(correct_ns, exercise)
        assert time.perf_counter() - start < 4.0, exercise


def _notebook_test_cells():
    import json
    from pathlib import Path

    nb = json.loads((Path(__file__).resolve().parents[1] / "solutions/05_resnet/05_resnet.ipynb").read_text())
    return {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"]) for c in nb["cells"]
            if c["cell_type"] == "code" and c["metadata"]["nbgrader"].get("grade")}


def test_the_notebook_s_test_cells_give_the_same_verdicts_through_the_judge():
    """Under the autograder the student's functions live in another process and every value
    crosses the codec: the caches of the course's layers (a BatchNormCache arrives as a plain
    tuple) and the student's modules (as handles) must still work, and a bug still fail with its hint."""
    from cnn_course.autograde.judge import run_test_cell
    from cnn_course.autograde.links import LoopbackLink

    cells = _notebook_test_cells()
    assert list(cells) == [f"test_{e}" for e in EXERCISES]
    link = LoopbackLink(namespace(CORRECT))
    for gid, source in cells.items():
        result = run_test_cell(source, link, timeout=120, filename=f"<{gid}>")
        assert result.passed, (gid, result)
    for name in ("bwd_no_shortcut_grad", "fwd_calls_library_block"):
        b = next(b for b in BUGS if b.name == name)
        link = LoopbackLink(namespace(CORRECT, {b.function: b.source}))
        result = run_test_cell(cells["test_residual_block_backward"], link, timeout=120)
        assert not result.passed
        assert (b.hint if name.startswith("bwd") else "cannot be checked") in result.evalue, result.evalue


def test_visible_backward_prints_the_gradient_check_and_a_bug_disagrees():
    out = run(bug_ns("bwd_no_shortcut_grad"), "residual_block_forward")  # the forward is right
    assert "✓ residual_block_forward" in out
    import io as _io
    buf = _io.StringIO()
    with redirect_stdout(buf), pytest.raises(CheckFailed):
        ns = bug_ns("bwd_no_shortcut_grad")
        check.residual_block_backward(ns["residual_block_backward"], ns["residual_block_forward"])
    assert "far above 1e-7: your dx and the numerical gradient disagree" in buf.getvalue(), buf.getvalue()
    hidden = run(namespace(CORRECT), "residual_block_backward", hidden=True, seed=SEED)
    assert "Gradient check" not in hidden


def test_an_error_inside_a_course_layer_shows_the_student_s_line():
    msg = str(failure(bug_ns("fwd_padding_0"), "residual_block_forward"))
    assert "at line " in msg and "in residual_block_forward:" in msg and "ref.conv2d_forward(" in msg, msg
    assert "check_conv_args" not in msg and "padding 1 for each 3×3 convolution" in msg, msg


def test_batchnorm_backward_accepts_its_cache_as_a_plain_tuple():
    """What the autograder's codec makes of a BatchNormCache (a NamedTuple) on its way back."""
    from cnn_course import ref

    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 3, 2, 2))
    _, cache = ref.batchnorm_forward(x, np.ones(3), np.zeros(3), np.zeros(3), np.ones(3))
    dout = rng.normal(size=x.shape)
    for a, b in zip(ref.batchnorm_backward(dout, cache), ref.batchnorm_backward(dout, tuple(cache))):
        assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="BatchNormCache"):
        ref.batchnorm_backward(dout, tuple(cache)[:-1])


@pytest.mark.parametrize("exercise", EXERCISES)
def test_alternative_solutions_pass(exercise):
    from submissions.resnet import ALTERNATIVE

    ns = namespace(CORRECT, ALTERNATIVE)
    run(ns, exercise)
    run(ns, exercise, hidden=True, seed=SEED + 1)
