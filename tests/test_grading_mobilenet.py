"""The topic-7 checks (MobileNet): correct submissions pass, every catalogued bug fails with its hint."""

import json
import re
import sys
import time
from pathlib import Path

import pytest

from cnn_course.grading import NotYourOwnWork
from cnn_course.grading import mobilenet as check
from cnn_course.grading import mobilenet_torch as torch_check
from submissions import Catalogue, namespace
from submissions.mobilenet import ALTERNATIVE, BUGS, CORRECT, FEEDBACK_BUG, MISBEHAVING, PIPELINE_BUGS

EXERCISES = list(CORRECT)
SEED = 7091
# exercise -> (check, the exercises passed after it, hidden cases)
CHECKS = {
    "depthwise_conv2d_forward": (check.depthwise_conv2d_forward, (), 8),
    "depthwise_conv2d_backward": (check.depthwise_conv2d_backward, ("depthwise_conv2d_forward",), 6),
    "separable_costs": (check.separable_costs, (), 8),
    "InvertedResidual": (torch_check.inverted_residual, (), 4),
    "freeze_and_replace_head": (torch_check.freeze_and_replace_head, (), 4),
    "mirror": (check.mirror, (), 6),
    "random_crop": (check.random_crop, (), 4),
    "color_shift": (check.color_shift, (), 6),
}
cat = Catalogue(CHECKS, CORRECT, BUGS, seed=SEED)
run, failure, bug_ns, _fails = cat.run, cat.failure, cat.bug_ns, cat.fails
CHEATS = {"dw_calls_torch", "dw_calls_library", "ir_uses_zoo_block", "shift_uses_library"}


@pytest.fixture(scope="module")
def correct_ns():
    return namespace(CORRECT)


@pytest.mark.parametrize("exercise", EXERCISES)
def test_correct_solution_passes_visible_and_hidden(correct_ns, exercise):
    visible = run(correct_ns, exercise)
    assert re.fullmatch(rf"✓ {exercise}: \d visible cases? passed\n", visible), visible
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
            elif exercise == "depthwise_conv2d_backward" and b.name not in CHEATS:
                assert "fix depthwise_conv2d_forward first" in str(err), str(err)
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
    for wanted in ("dw_full_conv", "dwb_full_conv",                     # depthwise weights mixing channels
                   "ir_missing_groups",                                  # a missing groups argument
                   "ir_no_projection", "cost_no_pointwise",              # the pointwise step forgotten
                   "ir_relu_after_projection",                           # ReLU after the projection
                   "ir_residual_when_stride_2",                          # residual when the stride changes
                   "cost_no_filter_area", "cost_normal_no_filters",      # counts off by f² or the filters
                   "mirror_vertical", "mirror_last_axis",                # flipping the wrong axis
                   "crop_out_of_bounds", "crop_forgets_padding",         # crop out of bounds
                   "mirror_shuffles_labels", "mirror_batch_axis", "crop_swaps_h_w",  # label / shape changed
                   "head_freezes_features_only", "head_eval_instead_of_freeze",      # the old head still trains
                   "dw_calls_torch", "dw_calls_library", "ir_uses_zoo_block"):        # own work
        assert wanted in names, wanted


def test_messages_name_case_expected_and_got():
    msg = str(failure(bug_ns("dw_full_conv"), "depthwise_conv2d_forward"))
    assert msg.startswith("depthwise_conv2d_forward failed visible case 1 of 3 (3 channels, 3×3 filters, stride 1, "
                          "no padding): x.shape=(2, 3, 5, 5)"), msg
    assert re.search(r"out\[[\d, ]+\]: expected -?[\d.]+(e-?\d+)?, got", msg) and "Hint:" in msg, msg
    msg = str(failure(bug_ns("cost_ratio_over_pointwise"), "separable_costs"))
    assert "ratio is wrong: expected 0.311111, got 2.8" in msg, msg


def test_costs_reproduce_the_worked_numbers():
    assert check.costs(4, 4, 3, 3, 5)[:3] == (2160, 432, 240)
    assert abs(check.costs(4, 4, 3, 3, 5)[3] - 672 / 2160) < 1e-12
    assert abs(check.costs(4, 4, 3, 3, 5)[3] - (1 / 5 + 1 / 9)) < 1e-12


def test_backward_with_a_broken_forward_says_fix_the_forward_first():
    msg = str(failure(bug_ns("dw_no_bias"), "depthwise_conv2d_backward"))
    assert "fix depthwise_conv2d_forward first" in msg and "out has wrong values" in msg, msg
    msg = str(failure(bug_ns("dw_calls_torch"), "depthwise_conv2d_backward"))
    assert "cannot be checked" in msg and "torch" in msg, msg


def test_hidden_cases_are_deterministic_per_seed():
    ns = bug_ns("dw_flipped")
    assert str(failure(ns, "depthwise_conv2d_forward", hidden=True, seed=5)) == \
        str(failure(ns, "depthwise_conv2d_forward", hidden=True, seed=5))


def test_checks_are_fast(correct_ns):
    for exercise in EXERCISES:
        start = time.perf_counter()
        run(correct_ns, exercise, hidden=True, seed=SEED)
        run(correct_ns, exercise)
        assert time.perf_counter() - start < 4.0, exercise


@pytest.mark.parametrize("exercise", EXERCISES)
def test_alternative_solutions_pass(exercise):
    ns = namespace(CORRECT, ALTERNATIVE)
    run(ns, exercise)
    run(ns, exercise, hidden=True, seed=SEED + 1)


def test_sequential_probe_names_children_from_a_dict():
    """The probe ``new`` builds nn.Sequential({"features": ..., "classifier": ...}) with named children
    (what the freeze_and_replace_head check hands to the student's function)."""
    torch = pytest.importorskip("torch")
    from cnn_course.grading.probes import new, sequential

    model = new("torch.nn.Sequential", {"features": sequential(("Flatten",)), "classifier": sequential(("Linear", (4, 2)))})
    assert isinstance(model.classifier[-1], torch.nn.Linear) and [n for n, _ in model.named_children()] == \
        ["features", "classifier"]
    assert model(torch.zeros(3, 1, 2, 2)).shape == (3, 2)


def _notebook_test_cells():
    path = Path(__file__).resolve().parents[1] / "solutions/07_mobilenet/07_mobilenet.ipynb"
    nb = json.loads(path.read_text())
    return {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"]) for c in nb["cells"]
            if c["cell_type"] == "code" and c["metadata"]["nbgrader"].get("grade")}


def test_the_notebook_s_test_cells_give_the_same_verdicts_through_the_judge():
    """Under the autograder the student's functions and modules live in another process: the
    handles (the model built for freeze_and_replace_head, the returned model) and the random
    generators must cross the codec, and a bug must still fail with its hint."""
    from cnn_course.autograde.judge import run_test_cell
    from cnn_course.autograde.links import LoopbackLink

    cells = _notebook_test_cells()
    assert list(cells) == [f"test_{e}" for e in EXERCISES]
    link = LoopbackLink(namespace(CORRECT))
    for gid, source in cells.items():
        result = run_test_cell(source, link, timeout=120, filename=f"<{gid}>")
        assert result.passed, (gid, result)
    for name, cell in (("head_freezes_features_only", "test_freeze_and_replace_head"),
                       ("ir_relu_after_projection", "test_InvertedResidual"),
                       ("crop_off_by_one", "test_random_crop"), ("mirror_last_axis", "test_mirror")):
        b = next(b for b in BUGS if b.name == name)
        link = LoopbackLink(namespace(CORRECT, {b.function: b.source}))
        result = run_test_cell(cells[cell], link, timeout=120)
        assert not result.passed and b.hint in result.evalue, (name, result.evalue)
