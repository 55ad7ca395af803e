"""The topic-6 checks (Inception): correct submissions pass, every catalogued bug fails with its hint,
the checks' references agree with torch and the model zoo, and the notebook's test cells give
the same verdicts through the autograder's judge."""

import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cnn_course.grading import NotYourOwnWork
from cnn_course.grading import inception as check
from cnn_course.grading import inception_torch as torch_check
from submissions import Catalogue, local_and_judged, namespace
from submissions.inception import ALTERNATIVE, BUGS, CORRECT, FEEDBACK_BUG, MISBEHAVING, PIPELINE_BUGS

EXERCISES = list(CORRECT)
SEED = 6091
# exercise -> (check, the exercises passed after it, hidden cases)
CHECKS = {
    "pointwise_conv_forward": (check.pointwise_conv_forward, (), 10),
    "pointwise_conv_backward": (check.pointwise_conv_backward, ("pointwise_conv_forward",), 10),
    "layer_mults": (check.layer_mults, (), 12),
    "InceptionModule": (torch_check.inception_module, (), 4),
    "inception_stack": (check.inception_stack, (), 8),
}
cat = Catalogue(CHECKS, CORRECT, BUGS, seed=SEED)
run, failure, bug_ns, _fails = cat.run, cat.failure, cat.bug_ns, cat.fails
CHEATS = {"pw_fwd_calls_library", "pw_fwd_calls_torch", "pw_bwd_calls_torch", "mults_with_layer_table",
          "inc_uses_course_layers", "inc_uses_zoo_module", "stack_counts_with_zoo",
          "mults_calls_library"}


@pytest.fixture(scope="module")
def correct_ns():
    return namespace(CORRECT)


@pytest.mark.parametrize("exercise", EXERCISES)
def test_correct_solution_passes_visible_and_hidden(correct_ns, exercise):
    cat.assert_passes(correct_ns, exercise, seeds=(SEED, 7))


@pytest.mark.parametrize("exercise", EXERCISES)
def test_alternative_solutions_pass(exercise):
    ns = namespace(CORRECT, ALTERNATIVE)
    run(ns, exercise)
    run(ns, exercise, hidden=True, seed=SEED + 1)


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
                assert isinstance(err, NotYourOwnWork) == (b.name in CHEATS), (b.name, type(err))
            elif b.function == "pointwise_conv_forward" and exercise == "pointwise_conv_backward" \
                    and b.name not in CHEATS:
                assert "fix pointwise_conv_forward first" in str(err), str(err)
    assert sys.getprofile() is None


def test_catalog_covers_every_exercise_and_lists_known_names():
    per_exercise = {ex: [b for b in BUGS if b.function == ex] for ex in EXERCISES}
    assert all(len(bugs) >= 5 for bugs in per_exercise.values()), {k: len(v) for k, v in per_exercise.items()}
    names = {b.name for b in BUGS}
    assert len(names) == len(BUGS)
    assert set(PIPELINE_BUGS) <= names and 6 <= len(PIPELINE_BUGS) <= 12
    assert FEEDBACK_BUG in PIPELINE_BUGS
    assert CHEATS <= names
    assert {b.function for b in BUGS if b.name in CHEATS} == set(EXERCISES)  # own work is graded everywhere
    for answers, failing in MISBEHAVING.values():
        assert set(answers) <= set(EXERCISES)
        assert all(f.startswith("test_") for f in failing)


def test_the_issue_s_mistakes_are_in_the_catalog():
    """Grading with teeth: each mistake the issue names has a catalogued bug (and the usual ones)."""
    names = {b.name for b in BUGS}
    for wanted in ("inc_cat_dim0", "inc_cat_dim3",                      # branches concatenated on the wrong axis
                   "inc_pool_no_projection", "stack_pool_passthrough",   # pool branch without its 1×1 projection
                   "inc_pool_no_padding", "inc_pool_default_stride",     # pool branch without same padding
                   "mults_no_filter_area", "mults_f_not_f_squared",      # multiply count off by the filter area
                   "mults_no_filters",                                   # ... or by the number of filters
                   "pw_fwd_transposed", "pw_bwd_dx_not_transposed",     # transposed weights
                   "pw_fwd_no_bias",                                     # bias forgotten
                   "pw_fwd_reshape_no_transpose", "pw_bwd_reshape_no_transpose",  # x.reshape(n_C, -1) mixes images
                   "pw_bwd_dw_mean", "pw_bwd_dw_last_image", "pw_bwd_dw_transposed",  # dw summed wrongly
                   "pw_fwd_calls_library", "mults_calls_library", "inc_uses_zoo_module"):       # the ready-made version (own work)
        assert wanted in names, wanted


def test_messages_name_case_expected_and_got():
    msg = str(failure(bug_ns("pw_fwd_no_bias"), "pointwise_conv_forward"))
    assert msg.startswith("pointwise_conv_forward failed visible case 1 of 3 (two images, 3 → 3 channels): "
                          "x.shape=(2, 3, 3, 3), w.shape=(3, 3, 1, 1)"), msg
    assert re.search(r"out\[[\d, ]+\]: expected -?[\d.]+(e-?\d+)?, got", msg) and "Hint:" in msg, msg
    msg = str(failure(bug_ns("mults_no_filters"), "layer_mults"))
    assert "expected 120422400, got 3763200" in msg and "number of filters" in msg, msg
    msg = str(failure(bug_ns("inc_cat_dim0"), "InceptionModule"))
    assert "expected (2, 8, 5, 6), got (8, 2, 5, 6)" in msg and "axis 0" in msg, msg
    msg = str(failure(bug_ns("stack_pool_floor"), "inception_stack"))
    assert "visible case 3 of 3" in msg and "7 → 4, not 3" in msg, msg


def test_outputs_keep_the_input_dtype():
    from cnn_course.grading.core import Out, compare

    want = np.zeros(3, dtype=np.float32)
    assert compare(Out("out", want, dtype=np.float32), want, np.float32) is None
    lines = compare(Out("out", want, dtype=np.float32), want.astype(np.float64), np.float32)
    assert lines and "must keep the dtype of the inputs, float32" in lines[0], lines
    assert compare(Out("out", want), want.astype(np.float64), np.float32) is None  # no dtype asked: any float
    msg = str(failure(bug_ns("pw_fwd_float64"), "pointwise_conv_forward"))
    assert "visible case 3 of 3" in msg and "out has dtype float64" in msg, msg


def test_module_mismatch_names_the_branch():
    msg = str(failure(bug_ns("inc_pool_after_projection"), "InceptionModule"))
    assert "projects first and pools after" in msg, msg
    ns = namespace(CORRECT, {"InceptionModule": CORRECT["InceptionModule"].replace(
        "nn.Conv2d(c5_reduce, c5, 5, padding=2), nn.ReLU())", "nn.Conv2d(c5_reduce, c5, 5, padding=2), nn.Tanh())")})
    msg = str(failure(ns, "InceptionModule"))
    assert "the first wrong channel is 4, one of channels 4–5, which come from the 5×5 branch" in msg, msg


def test_backward_with_a_broken_forward_says_fix_the_forward_first():
    msg = str(failure(bug_ns("pw_fwd_relu"), "pointwise_conv_backward"))
    assert "fix pointwise_conv_forward first" in msg and "out has wrong values" in msg, msg
    msg = str(failure(bug_ns("pw_fwd_calls_torch"), "pointwise_conv_backward"))
    assert "cannot be checked" in msg and "torch" in msg, msg


def test_hidden_cases_are_deterministic_per_seed():
    ns = bug_ns("pw_bwd_dw_mean")
    assert str(failure(ns, "pointwise_conv_backward", hidden=True, seed=5)) == \
        str(failure(ns, "pointwise_conv_backward", hidden=True, seed=5))


def test_hidden_cases_cover_square_weights_and_wide_inputs():
    rng = np.random.default_rng(SEED)
    cases = [check._random_pointwise(rng, np.float64, square=k % 3 == 0) for k in range(30)]
    assert any(w.shape[0] == w.shape[1] for _, w, _ in cases)
    assert any(x.shape[3] == w.shape[0] for x, w, _ in cases)             # a bias on the wrong axis broadcasts
    assert any(x.shape[0] > 1 and x.shape[2] * x.shape[3] > 1 for x, _, _ in cases)
    rng = np.random.default_rng(SEED)
    stacks = [check._random_stack(rng) for _ in range(20)]
    assert all(any(isinstance(layer, str) for layer in layers) for _, layers in stacks)
    assert any(shape[1] % 2 == 1 for shape, _ in stacks)                  # odd sizes: ceil vs floor shows


def test_pointwise_reference_matches_torch_and_the_library():
    torch = pytest.importorskip("torch")
    from cnn_course.pt.models import pointwise_conv2d

    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((3, 5, 4, 6)), rng.standard_normal((7, 5, 1, 1)), rng.standard_normal(7)
    dout = rng.standard_normal((3, 7, 4, 6))
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    out = torch.nn.functional.conv2d(xt, wt, bt)
    out.backward(torch.tensor(dout))
    assert np.allclose(check.pointwise_reference(x, w, b), out.detach().numpy())
    assert np.allclose(pointwise_conv2d(*(torch.tensor(a) for a in (x, w, b))).numpy(), out.detach().numpy())
    for mine, theirs in zip(check.pointwise_grads(x, w, dout), (xt.grad, wt.grad, bt.grad)):
        assert np.allclose(mine, theirs.numpy())


def test_multiply_counts_reproduce_the_numbers():
    assert check.count_mults("standard", 28, 28, 192, 5, 32) == 120_422_400
    assert check.count_mults("bottleneck", 28, 28, 192, 5, 32, 16) == 2_408_448 + 10_035_200 == 12_443_648
    assert check.count_mults("standard", 4, 4, 3, 3, 5) == 2160
    assert check.count_mults("separable", 4, 4, 3, 3, 5) == 432 + 240 == 672
    assert abs(672 / 2160 - (1 / 5 + 1 / 9)) < 1e-12
    torch = pytest.importorskip("torch")
    from cnn_course.pt.summary import layer_table

    conv = torch.nn.Conv2d(192, 32, 5, padding=2, bias=False)
    assert layer_table(conv, (1, 192, 28, 28)).total_mult_adds == 120_422_400


def test_multiply_counts_agree_with_the_library_when_it_has_them():
    from cnn_course import ref

    if not hasattr(ref, "bottleneck_mults"):
        pytest.skip("cnn_course.ref has no multiply counts yet")
    rng = np.random.default_rng(1)
    for _ in range(20):
        n_H, n_W, n_C, f, n_out, n_mid = (int(v) for v in rng.integers(1, 40, size=6))
        assert check.count_mults("standard", n_H, n_W, n_C, f, n_out) == ref.conv_mults(n_H, n_W, n_C, f, n_out)
        assert check.count_mults("bottleneck", n_H, n_W, n_C, f, n_out, n_mid) == \
            ref.bottleneck_mults(n_H, n_W, n_C, f, n_out, n_mid)
        assert check.count_mults("separable", n_H, n_W, n_C, f, n_out) == ref.separable_mults(n_H, n_W, n_C, f, n_out)


def test_reference_module_matches_the_zoo_and_the_example():
    torch = pytest.importorskip("torch")
    from cnn_course.grading import probes
    from cnn_course.pt.models import InceptionModule

    args = (192, 64, 96, 128, 16, 32, 32)
    assert sum(int(np.prod(s)) for _, s in torch_check.module_shapes(*args)) == 163_696
    for args in (args, (3, 2, 1, 4, 2, 3, 5)):
        ref_net = torch_check.reference_module(*args)
        zoo = InceptionModule(*args)
        assert [tuple(p.shape) for p in zoo.parameters()] == [s for _, s in torch_check.module_shapes(*args)]
        weights = [p.detach().numpy().copy() for p in zoo.parameters()]
        probes.set_parameters(ref_net, weights)
        x = np.random.default_rng(2).standard_normal((2, args[0], 7, 5)).astype(np.float32)
        with torch.no_grad():
            assert np.allclose(ref_net(torch.tensor(x)).numpy(), zoo(torch.tensor(x)).numpy(), atol=1e-5)


def test_stack_reference_matches_the_zoo_modules():
    from cnn_course.pt.models import GOOGLENET_CFG, InceptionModule

    layers, c = [], 192
    for name, (c_in, *cfg) in GOOGLENET_CFG.items():
        assert c_in == c
        layers.append(tuple(cfg))
        c = cfg[0] + cfg[2] + cfg[4] + cfg[5]
        if name in ("3b", "4e"):
            layers.append("maxpool")
    shapes, total = check.stack_reference((192, 28, 28), layers)
    assert shapes[-1] == (1024, 7, 7)
    assert total == sum(sum(p.numel() for p in InceptionModule(*cfg).parameters()) for cfg in GOOGLENET_CFG.values())


def test_checks_are_fast(correct_ns):
    for exercise in EXERCISES:
        start = time.perf_counter()
        run(correct_ns, exercise, hidden=True, seed=SEED)
        run(correct_ns, exercise)
        assert time.perf_counter() - start < 4.0, exercise


def _notebook_test_cells():
    nb = json.loads((Path(__file__).resolve().parents[1] / "solutions/06_inception/06_inception.ipynb").read_text())
    return {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"]) for c in nb["cells"]
            if c["cell_type"] == "code" and c["metadata"]["nbgrader"].get("grade")}


def test_the_notebook_s_test_cells_give_the_same_verdicts_through_the_judge():
    """Under the autograder the student's functions live in another process and every value
    crosses the codec (the forward pass's cache, the student's module as a handle): the
    correct set still passes, and a bug still fails with its hint."""
    from cnn_course.autograde.judge import run_test_cell
    from cnn_course.autograde.links import LoopbackLink

    cells = _notebook_test_cells()
    assert list(cells) == [f"test_{e}" for e in EXERCISES]
    link = LoopbackLink(namespace(CORRECT))
    for gid, source in cells.items():
        result = run_test_cell(source, link, timeout=120, filename=f"<{gid}>")
        assert result.passed, (gid, result)
    for name in ("pw_bwd_dw_mean", "pw_fwd_calls_library"):
        b = next(b for b in BUGS if b.name == name)
        link = LoopbackLink(namespace(CORRECT, {b.function: b.source}))
        result = run_test_cell(cells["test_pointwise_conv_backward"], link, timeout=120)
        assert not result.passed
        assert (b.hint if name.startswith("pw_bwd") else "cannot be checked") in result.evalue, result.evalue


@pytest.mark.parametrize("name", ["inc_pool_no_projection", "inc_cat_dim0", "inc_zero_padded_pool", "inc_wrong_order"])
def test_module_bugs_get_the_same_verdict_locally_and_through_the_judge(name):
    b = next(b for b in BUGS if b.name == name)
    local, judged = local_and_judged("inception_torch", "inception_module", "InceptionModule", CORRECT,
                                     {b.function: b.source})
    assert not local.passed and b.hint in local.evalue, local
    assert (judged.passed, judged.ename, judged.evalue) == (local.passed, local.ename, local.evalue)
