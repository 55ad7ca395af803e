"""The topic-10 checks (U-Net): correct submissions pass, every catalogued bug fails with its hint,
the checks' references agree with torch and the library, and the PyTorch checks give the same
verdicts through the autograder's judge."""


import numpy as np
import pytest

from cnn_course.grading import NotYourOwnWork
from cnn_course.grading import unet as check
from cnn_course.grading import unet_torch as torch_check
from submissions import Catalogue, local_and_judged, namespace
from submissions.unet import BUGS, CORRECT, FEEDBACK_BUG, MISBEHAVING, PIPELINE_BUGS

EXERCISES = list(CORRECT)
SEED = 10091
# exercise -> (check, hidden cases)
CHECKS = {
    "conv_transpose_output_size": (check.conv_transpose_output_size, 10),
    "conv_transpose2d_forward": (check.conv_transpose2d_forward, 10),
    "per_class_iou": (check.per_class_iou, 10),
    "mean_dice": (check.mean_dice, 10),
    "crop_or_pad": (torch_check.crop_or_pad, 8),
    "UpBlock": (torch_check.up_block, 4),
}
cat = Catalogue(CHECKS, CORRECT, BUGS, seed=SEED)
run, _fails = cat.run, cat.fails
CHEATS = {"convt_calls_torch", "convt_calls_library", "crop_calls_library"}


@pytest.fixture(scope="module")
def correct_ns():
    return namespace(CORRECT)


@pytest.mark.parametrize("exercise", EXERCISES)
def test_correct_solution_passes_visible_and_hidden(correct_ns, exercise):
    cat.assert_passes(correct_ns, exercise, seeds=(SEED, 7))


@pytest.mark.parametrize("b", BUGS, ids=[b.name for b in BUGS])
def test_bug_fails_its_checks_with_the_hint(b):
    """Every exercise in ``breaks`` fails (visible and hidden), the others pass."""
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


def test_catalog_lists_the_issue_s_mistakes():
    names = {b.name for b in BUGS}
    assert len(names) == len(BUGS)
    assert set(PIPELINE_BUGS) <= names and FEEDBACK_BUG in PIPELINE_BUGS
    for wanted in ("convt_flipped_filter", "convt_overlaps_overwritten", "convt_pad_added",
                   "convt_output_padding_top_left", "dice_no_factor_2", "dice_background_averaged_in",
                   "dice_zero_over_zero_nan", "iou_empty_zero", "up_cat_wrong_axis"):
        assert wanted in names and wanted in PIPELINE_BUGS + ["iou_empty_zero"], wanted
    for answers, failing in MISBEHAVING.values():
        assert set(answers) <= set(EXERCISES) and all(f.startswith("test_") for f in failing)


def test_hidden_forward_cases_show_overlaps_and_output_padding():
    """The hidden cases have f > stride (overlaps) and output_padding <= pad > 0 (the wrong side shows)."""
    from cnn_course.grading import core

    seen = []
    real = core.run_check

    def spy(name, func, cases, **kw):
        seen.extend(cases)

    check.run_check = spy
    try:
        check.conv_transpose2d_forward(lambda *a: None, hidden=True, seed=SEED)
    finally:
        check.run_check = real
    args = [dict(c.args) for c in seen]
    assert any(a["w"].shape[2] > a["stride"] for a in args)
    assert any(0 < a["output_padding"] <= a["pad"] for a in args)


def test_references_match_torch_and_the_library():
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    from cnn_course import ref

    rng = np.random.default_rng(0)
    for s, p, op in [(1, 0, 0), (2, 1, 1), (3, 2, 1), (2, 0, 0)]:
        x, w, b = rng.standard_normal((2, 3, 4, 3)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(2)
        want = F.conv_transpose2d(*(torch.from_numpy(a) for a in (x, w, b)), stride=s, padding=p,
                                  output_padding=op).numpy()
        np.testing.assert_allclose(check.conv_transpose_reference(x, w, b, s, p, op), want, atol=1e-10)
        assert check.conv_transpose_output_size  # the check exists
        assert want.shape[2] == ref.conv_transpose_output_size(4, 3, p, s, op)
    pred, target = rng.integers(0, 4, (3, 5, 6)), rng.integers(0, 4, (3, 5, 6))
    pred[pred == 2], target[target == 2] = 0, 0
    np.testing.assert_allclose(check.iou_reference(pred, target, 4), ref.per_class_iou(pred, target, 4))
    for ib in (False, True):
        assert np.isclose(check.dice_reference(pred, target, 4, ib), ref.mean_dice(pred, target, 4, ib))
    from cnn_course.pt.unet import crop_or_pad

    for shape in [(1, 2, 7, 4), (1, 2, 3, 9)]:
        skip = rng.standard_normal(shape)
        got = crop_or_pad(torch.from_numpy(skip), torch.zeros(1, 1, 5, 6)).numpy()
        np.testing.assert_array_equal(torch_check.crop_or_pad_reference(skip, (5, 6)), got)


@pytest.mark.parametrize("exercise,bug", [("UpBlock", None), ("UpBlock", "up_cat_order"),
                                          ("crop_or_pad", "crop_corner")])
def test_torch_checks_judged_like_local(exercise, bug):
    overrides = {} if bug is None else {b.function: b.source for b in BUGS if b.name == bug}
    name = {"UpBlock": "up_block", "crop_or_pad": "crop_or_pad"}[exercise]
    local, judged = local_and_judged("unet_torch", name, exercise, CORRECT, overrides)
    assert local == judged, (local, judged)
    assert local.passed == (bug is None)


@pytest.mark.parametrize("exercise", EXERCISES)
def test_alternative_solutions_pass(exercise):
    from submissions.unet import ALTERNATIVE

    ns = namespace(CORRECT, ALTERNATIVE)
    run(ns, exercise)
    run(ns, exercise, hidden=True, seed=SEED + 1)


def test_out_equal_nan_matches_nan_only_when_asked():
    from cnn_course.grading.core import Out, compare

    want = np.array([0.5, np.nan])
    assert compare(Out("iou", want, equal_nan=True), want.copy(), np.float64) is None
    assert compare(Out("iou", want), want.copy(), np.float64)  # default: NaN never matches
    lines = compare(Out("iou", want, equal_nan=True), np.array([0.5, 0.0]), np.float64)
    assert lines and "iou[1]: expected nan, got 0" in " ".join(lines), lines
    assert compare(Out("d", float("nan"), kind="scalar", equal_nan=True), float("nan"), np.float64) is None
    assert compare(Out("d", 0.5, kind="scalar", equal_nan=True), float("nan"), np.float64)
