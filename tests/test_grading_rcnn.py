"""The topic-9 checks (the R-CNN family): correct submissions pass, every catalogued bug fails with its
hint, the checks' references agree with the library (torchvision's semantics), and the notebook's
test cells give the same verdicts through the autograder's judge."""

import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cnn_course.grading import NotYourOwnWork
from cnn_course.grading import rcnn as check
from cnn_course.grading import rcnn_torch as torch_check
from submissions import Catalogue, local_and_judged, namespace
from submissions.rcnn import ALTERNATIVE, BUGS, CORRECT, FEEDBACK_BUG, MISBEHAVING, PIPELINE_BUGS

EXERCISES = list(CORRECT)
SEED = 9091
# exercise -> (check, the exercises passed after it, hidden cases)
CHECKS = {
    "encode_boxes": (check.encode_boxes, (), 7),
    "decode_boxes": (check.decode_boxes, ("encode_boxes",), 7),
    "roi_pool": (check.roi_pool, (), 8),
    "label_anchors": (check.label_anchors, (), 10),
    "RPNHead": (torch_check.rpn_head, (), 4),
    "select_proposals": (check.select_proposals, (), 12),
    "bilinear_sample": (check.bilinear_sample, (), 8),
}
cat = Catalogue(CHECKS, CORRECT, BUGS, seed=SEED)
run, failure, bug_ns, _fails = cat.run, cat.failure, cat.bug_ns, cat.fails
CHEATS = {"pool_calls_library", "bil_uses_torch", "enc_calls_library", "dec_calls_torch", "lab_calls_library",
          "prop_calls_library", "rpn_uses_course_model"}
# Caught by the hidden cases only (the visible ones show the common case; the hidden ones the edges).
HIDDEN_ONLY = {"lab_best_match_zero", "lab_le_neg", "prop_clip_hw_swapped", "prop_top_after_nms_first", "prop_nms_ge",
               "prop_keeps_small", "prop_unstable_sort"}


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
    """Every exercise in ``breaks`` fails (hidden always, visible unless the bug is HIDDEN_ONLY), the
    others pass: the sets are honest."""
    ns = namespace(CORRECT, {b.function: b.source})
    for exercise in EXERCISES:
        for hidden in (False, True):
            err = _fails(ns, exercise, hidden)
            if exercise not in b.breaks or (not hidden and b.name in HIDDEN_ONLY):
                assert err is None, f"{b.name} breaks {exercise} ({'hidden' if hidden else 'visible'}):\n{err}"
                continue
            assert err is not None, f"{b.name}: the {'hidden' if hidden else 'visible'} checks of {exercise} pass"
            if exercise == b.function:
                assert b.hint in str(err), f"hint {b.hint!r} missing from:\n{err}"
                assert isinstance(err, NotYourOwnWork) == (b.name in CHEATS), (b.name, type(err))
            elif exercise == "decode_boxes" and b.function == "encode_boxes":
                want = "fix encode_boxes first" if b.name in CHEATS else "are not inverses"
                assert want in str(err), str(err)
    assert sys.getprofile() is None


def test_catalog_covers_every_exercise_and_lists_known_names():
    per_exercise = {ex: [b for b in BUGS if b.function == ex] for ex in EXERCISES}
    assert all(len(bugs) >= 5 for bugs in per_exercise.values()), {k: len(v) for k, v in per_exercise.items()}
    names = {b.name for b in BUGS}
    assert len(names) == len(BUGS)
    assert set(PIPELINE_BUGS) <= names and 6 <= len(PIPELINE_BUGS) <= 12
    assert FEEDBACK_BUG in PIPELINE_BUGS
    assert CHEATS <= names and HIDDEN_ONLY <= names
    assert not HIDDEN_ONLY & set(PIPELINE_BUGS) - {"prop_nms_ge"}
    assert {b.function for b in BUGS if b.name in CHEATS} == set(EXERCISES)  # own work is graded everywhere
    for answers, failing in MISBEHAVING.values():
        assert set(answers) <= set(EXERCISES)
        assert all(f.startswith("test_") for f in failing)


def test_the_issue_s_mistakes_are_in_the_catalog():
    """Grading with teeth (issue 12): RoI pooling that rounds the wrong way or ignores the spatial
    scale; encode/decode that are not inverses; and the usual ones."""
    names = {b.name for b in BUGS}
    for wanted in ("pool_floor_corners", "pool_banker_rounding",            # rounds the wrong way
                   "pool_ignores_scale",                                     # ignores the spatial scale
                   "dec_not_inverse", "enc_plus_one", "dec_times_weights",   # encode/decode not inverses
                   "bil_weights_swapped", "bil_xy_swapped",                  # bilinear weights / axes swapped
                   "lab_no_best_match", "lab_best_match_argmax",             # anchors' best-match rule
                   "prop_nms_not_sorted", "prop_nms_ge",                     # NMS not sorted by score, >= vs >
                   "rpn_obj_no_permute", "rpn_deltas_by_coordinate",         # anchor order of the RPN outputs
                   "pool_calls_library", "rpn_uses_course_model"):           # the ready-made version (own work)
        assert wanted in names, wanted
    for wanted in ("pool_floor_corners", "pool_ignores_scale", "dec_not_inverse", "prop_nms_not_sorted"):
        assert wanted in PIPELINE_BUGS, wanted


def test_messages_name_case_expected_and_got():
    msg = str(failure(bug_ns("pool_ignores_scale"), "roi_pool"))
    assert msg.startswith("roi_pool failed visible case 1 of 3 (the worked example"), msg
    assert re.search(r"out\[[\d, ]+\]: expected -?[\d.]+, got", msg) and "spatial_scale" in msg, msg
    msg = str(failure(bug_ns("dec_not_inverse"), "decode_boxes"))
    assert "visible case 1 of 4" in msg and "corner (x1, y1)" in msg, msg
    msg = str(failure(bug_ns("enc_plus_one"), "decode_boxes"))
    assert "visible case 4 of 4" in msg and "round trip" in msg and "not inverses" in msg, msg
    msg = str(failure(bug_ns("lab_no_best_match"), "label_anchors"))
    assert "visible case 2 of 3" in msg and "labels[3]: expected 1, got 0" in msg, msg
    msg = str(failure(bug_ns("rpn_obj_no_permute"), "RPNHead"))
    assert "objectness has wrong values" in msg and "(y·W + x)·A + a" in msg, msg


def test_hidden_cases_are_deterministic_per_seed():
    ns = bug_ns("pool_no_plus_one")
    assert str(failure(ns, "roi_pool", hidden=True, seed=5)) == str(failure(ns, "roi_pool", hidden=True, seed=5))


def test_references_agree_with_the_library():
    """The checks' own NumPy loops compute what cnn_course.ref.rcnn (torchvision's semantics) computes."""
    from cnn_course.ref import rcnn as lib

    rng = np.random.default_rng(0)
    for _ in range(20):
        n, c, hw = int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(4, 12))
        s = float(rng.choice([1.0, 0.5, 0.25, 1 / 16]))
        feats = rng.standard_normal((n, c, hw, hw))
        rois = check._random_rois(rng, 5, n, hw / s)
        out = tuple(int(v) for v in rng.integers(1, 5, 2))
        assert np.allclose(check.roi_pool_reference(feats, rois, out, s), lib.roi_pool(feats, rois, out, s))
        p, g = check._random_pairs(rng, 6)
        w = (10.0, 10.0, 5.0, 5.0)
        assert np.allclose(check.encode_reference(p, g, w), lib.encode_boxes(p, g, w))
        d = rng.normal(0, 0.5, (6, 4))
        assert np.allclose(check.decode_reference(p, d, w), lib.decode_boxes(p, d, w))
        anchors = check._anchor_grid()
        gt = check._random_pairs(rng, int(rng.integers(0, 4)), 32.0)[1]
        assert np.array_equal(check.labels_reference(anchors, gt, 0.7, 0.3), lib.label_anchors(anchors, gt, 0.7, 0.3))
        b, sc = check._random_proposals(rng, 30)
        kb, ks = check.proposals_reference(b, sc, (64, 64), 20, 8, 0.6, 1.0)
        lb, ls = lib.proposals_after_nms(b, np.log(sc / (1 - sc)), np.zeros_like(b), (64, 64), 20, 8, 0.6, min_size=1.0)
        assert np.allclose(kb, lb) and np.allclose(ks, ls)
    # bilinear sampling: roi_align with one sample per bin at a chosen point reads bilinear_reference
    f = rng.standard_normal((1, 2, 5, 6))
    for y, x in ((0.3, 1.7), (4.2, 5.5), (-0.5, 2.0), (4.9, -0.9), (2.0, 3.0)):
        # an aligned roi of size 0 at (x + 0.5, y + 0.5): its single sample is exactly (y, x)
        roi = np.array([[0, x + 0.5, y + 0.5, x + 0.5, y + 0.5]])
        got = lib.roi_align(f, roi, 1, 1.0, sampling_ratio=1, aligned=True)[0, :, 0, 0]
        assert np.allclose(got, check.bilinear_reference(f[0], np.array([[y, x]]))[:, 0]), (y, x)


def test_rpn_reference_head_orders_anchors_like_the_library():
    torch = pytest.importorskip("torch")
    from cnn_course.grading import probes
    from cnn_course.pt.faster_rcnn import faster_rcnn, rpn_outputs

    model = faster_rcnn(4).eval()
    ref = torch_check.reference_head(64, 9)
    weights = [p.detach().numpy().copy() for p in (model.rpn_conv.weight, model.rpn_conv.bias,
                                                    model.rpn_objectness.weight, model.rpn_objectness.bias,
                                                    model.rpn_deltas.weight, model.rpn_deltas.bias)]
    probes.set_parameters(ref, weights)
    x = torch.randn(2, 64, 5, 4)
    with torch.no_grad():
        o1, d1 = ref(x)
        o2, d2 = rpn_outputs(model, x)
    assert torch.allclose(o1, o2, atol=1e-5) and torch.allclose(d1, d2, atol=1e-5)


def test_checks_are_fast(correct_ns):
    for exercise in EXERCISES:
        start = time.perf_counter()
        run(correct_ns, exercise, hidden=True, seed=SEED)
        run(correct_ns, exercise)
        assert time.perf_counter() - start < 4.0, exercise


def _notebook_test_cells():
    nb = json.loads((Path(__file__).resolve().parents[1] / "solutions/09_rcnn/09_rcnn.ipynb").read_text())
    return {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"]) for c in nb["cells"]
            if c["cell_type"] == "code" and c["metadata"]["nbgrader"].get("grade")}


def test_the_notebook_s_test_cells_give_the_same_verdicts_through_the_judge():
    from cnn_course.autograde.judge import run_test_cell
    from cnn_course.autograde.links import LoopbackLink

    cells = _notebook_test_cells()
    assert list(cells) == [f"test_{e}" for e in EXERCISES]
    link = LoopbackLink(namespace(CORRECT))
    for gid, source in cells.items():
        result = run_test_cell(source, link, timeout=120, filename=f"<{gid}>")
        assert result.passed, (gid, result)
    for name, cell in (("enc_plus_one", "test_decode_boxes"), ("pool_calls_library", "test_roi_pool")):
        b = next(b for b in BUGS if b.name == name)
        link = LoopbackLink(namespace(CORRECT, {b.function: b.source}))
        result = run_test_cell(cells[cell], link, timeout=120)
        assert not result.passed
        assert ("not inverses" if name == "enc_plus_one" else "cnn_course.ref") in result.evalue, result.evalue


@pytest.mark.parametrize("name", ["rpn_obj_no_permute", "rpn_deltas_by_coordinate", "rpn_no_relu", "rpn_sigmoid"])
def test_module_bugs_get_the_same_verdict_locally_and_through_the_judge(name):
    b = next(b for b in BUGS if b.name == name)
    local, judged = local_and_judged("rcnn_torch", "rpn_head", "RPNHead", CORRECT, {b.function: b.source})
    assert not local.passed and b.hint in local.evalue, local
    assert (judged.passed, judged.ename, judged.evalue) == (local.passed, local.ename, local.evalue)
