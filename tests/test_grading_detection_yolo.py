"""The topic-8 checks (detection and YOLO): correct submissions pass, every catalogued bug fails
with its hint, the checks' references agree with the course library (itself tested against
pycocotools and torch), and the notebook's test cells give the same verdicts through the
autograder's judge."""

import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cnn_course.grading import NotYourOwnWork
from cnn_course.grading import detection_yolo as check
from cnn_course.grading import detection_yolo_torch as torch_check
from submissions import Catalogue, namespace
from submissions.detection_yolo import ALTERNATIVE, BUGS, CORRECT, FEEDBACK_BUG, MISBEHAVING, PIPELINE_BUGS

EXERCISES = list(CORRECT)
SEED = 8091
# exercise -> (check, hidden cases)
CHECKS = {
    "iou": (check.iou, 8),
    "yolo_target": (check.yolo_target, 10),
    "decode_boxes": (check.decode_boxes, 4),
    "filter_boxes": (check.filter_boxes, 6),
    "nms": (check.nms, 9),
    "yolo_loss": (torch_check.yolo_loss, 4),
    "average_precision": (check.average_precision, 8),
}
cat = Catalogue(CHECKS, CORRECT, BUGS, seed=SEED)
run, _fails = cat.run, cat.fails
CHEATS = {"iou_calls_library", "nms_calls_library", "loss_calls_library"}


@pytest.fixture(scope="module")
def correct_ns():
    return namespace(CORRECT)


@pytest.mark.parametrize("exercise", EXERCISES)
def test_correct_solution_passes_visible_and_hidden(correct_ns, exercise):
    visible = run(correct_ns, exercise)
    assert re.fullmatch(rf"✓ {exercise}: \d visible cases? passed\n", visible), visible
    for seed in (SEED, 7):
        hidden = run(correct_ns, exercise, hidden=True, seed=seed)
        assert hidden == f"✓ {exercise}: {CHECKS[exercise][1]} hidden cases passed\n", hidden
    assert sys.getprofile() is None, "the profile hook was left installed"


@pytest.mark.parametrize("exercise", EXERCISES)
def test_alternative_solutions_pass(exercise):
    ns = namespace(CORRECT, ALTERNATIVE)
    run(ns, exercise)
    run(ns, exercise, hidden=True, seed=SEED + 1)


@pytest.mark.parametrize("b", BUGS, ids=[b.name for b in BUGS])
def test_bug_fails_its_checks_with_the_hint(b):
    """Every exercise in ``breaks`` fails its hidden checks, the others pass: the sets are honest.
    (Some bugs only show on the hidden cases: the border, the exact-threshold and the chain cases.)"""
    ns = namespace(CORRECT, {b.function: b.source})
    for exercise in EXERCISES:
        err = _fails(ns, exercise, True)
        if exercise not in b.breaks:
            assert err is None, f"{b.name} breaks {exercise}:\n{err}"
            assert _fails(ns, exercise, False) is None, f"{b.name} breaks {exercise} (visible)"
            continue
        assert err is not None, f"{b.name}: the hidden checks of {exercise} pass"
        if exercise == b.function:
            assert b.hint in str(err), f"hint {b.hint!r} missing from:\n{err}"
            assert isinstance(err, NotYourOwnWork) == (b.name in CHEATS), (b.name, type(err))
    assert sys.getprofile() is None


def test_catalog_covers_every_exercise_and_lists_known_names():
    per_exercise = {ex: [b for b in BUGS if b.function == ex] for ex in EXERCISES}
    assert all(len(bugs) >= 2 for bugs in per_exercise.values()), {k: len(v) for k, v in per_exercise.items()}
    names = {b.name for b in BUGS}
    assert len(names) == len(BUGS)
    assert set(PIPELINE_BUGS) <= names and 6 <= len(PIPELINE_BUGS) <= 12
    assert FEEDBACK_BUG in PIPELINE_BUGS
    assert CHEATS <= names
    for answers, failing in MISBEHAVING.values():
        assert set(answers) <= set(EXERCISES)
        assert all(f.startswith("test_") for f in failing)


def test_the_issue_s_mistakes_are_in_the_catalog():
    """Grading with teeth: each mistake issue 12 names for topic 8 has a catalogued bug."""
    names = {b.name for b in BUGS}
    for wanted in ("iou_no_clamp",                                   # negative overlaps not clamped
                   "iou_union_no_subtract",                          # union without subtracting the intersection
                   "iou_xy_mixed", "iou_reads_xxyy",                 # x/y swapped
                   "nms_not_sorted", "nms_across_classes", "nms_ge",  # NMS order, classes, >= vs >
                   "ap_no_envelope", "ap_recall_over_detections",     # AP envelope, recall over detections
                   "target_border_left", "target_round_cell", "target_no_edge_cap",  # wrong cell at a border
                   "target_sizes_in_cells",                           # sizes relative to the cell
                   "loss_noobj_everywhere", "loss_no_sqrt"):          # YOLO loss: no-object term, √ of the sizes
        assert wanted in names, wanted


def test_references_agree_with_the_library():
    from cnn_course.ref.boxes import batched_nms, box_iou, nms
    from cnn_course.ref.detection_metrics import average_precision
    from cnn_course.ref.yolo import yolo_decode, yolo_encode

    rng = np.random.default_rng(0)
    for _ in range(30):
        b, s, l = check._cluster_boxes(rng, 20, 3)
        np.testing.assert_allclose(check.iou_reference(b, b), box_iou(b, b), atol=1e-12)
        np.testing.assert_array_equal(check.nms_reference(b, s, 0.5), nms(b, s, 0.5))
        np.testing.assert_array_equal(check.nms_reference(b, s, 0.5, l), batched_nms(b, s, l, 0.5))
        boxes, labels = check._random_targets(rng, 8, 64, 96, 3, 6)
        t = yolo_encode(boxes, labels, (64, 96), 8, 3)
        np.testing.assert_allclose(check.target_reference(boxes, labels, (64, 96), 8, 3), t, atol=1e-12)
        dec = np.clip(check.decode_reference(t, (64, 96))[t[..., 0] == 1], 0, [96, 64, 96, 64])  # the library clips
        lib_boxes, _, _ = yolo_decode(t, (64, 96), 3, score_threshold=0.5)
        np.testing.assert_allclose(np.sort(dec, axis=0), np.sort(lib_boxes, axis=0), atol=1e-9)
        k = 15
        sc, tp = rng.random(k), rng.random(k) < 0.5
        n = int(tp.sum()) + 2
        o = np.argsort(-sc, kind="stable")
        c = np.cumsum(tp[o])
        assert abs(check.ap_reference(sc, tp, n) - average_precision(c / n, c / np.arange(1, k + 1))) < 1e-12


def test_worked_numbers_of_the_text():
    assert abs(check.iou_reference(np.array([[0, 0, 4, 2.0]]), np.array([[2, 1, 6, 4.0]]))[0, 0] - 1 / 9) < 1e-12
    t = check.target_reference(np.array([[30, 10, 50, 40.0]]), [2], (90, 90), 3, 3)
    np.testing.assert_allclose(t[0, 1], [1, 1 / 3, 5 / 6, 1 / 3, 2 / 9, 0, 0, 1])
    assert round(check.ap_reference([0.9, 0.8, 0.7, 0.6, 0.5], [1, 0, 1, 1, 0], 4), 2) == 0.63
    five = np.array([[10, 10, 30, 30], [12, 11, 31, 32], [40, 40, 60, 55], [11, 9, 29, 31], [41, 42, 60, 57]], float)
    assert check.nms_reference(five, np.array([0.9, 0.75, 0.8, 0.6, 0.7]), 0.5).tolist() == [0, 2]


def test_hidden_cases_are_deterministic_per_seed(correct_ns):
    for exercise in EXERCISES:
        assert run(correct_ns, exercise, hidden=True, seed=3) == run(correct_ns, exercise, hidden=True, seed=3)


def test_checks_are_fast(correct_ns):
    for exercise in EXERCISES:
        start = time.perf_counter()
        run(correct_ns, exercise, hidden=True, seed=SEED)
        run(correct_ns, exercise)
        assert time.perf_counter() - start < 4.0, exercise


def _notebook_test_cells():
    nb = json.loads((Path(__file__).resolve().parents[1]
                     / "solutions/08_detection_yolo/08_detection_yolo.ipynb").read_text())
    return {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"]) for c in nb["cells"]
            if c["cell_type"] == "code" and c["metadata"]["nbgrader"].get("grade")}


def test_the_notebook_s_test_cells_give_the_same_verdicts_through_the_judge():
    """Under the autograder the student's functions live in another process and every value
    crosses the codec: the correct set still passes, and a bug still fails with its hint."""
    from cnn_course.autograde.judge import run_test_cell
    from cnn_course.autograde.links import LoopbackLink

    cells = _notebook_test_cells()
    assert list(cells) == [f"test_{e}" for e in EXERCISES]
    head = "from cnn_course.grading import detection_yolo as check\n"
    link = LoopbackLink(namespace(CORRECT))
    for gid, source in cells.items():
        result = run_test_cell(head + source, link, timeout=120, filename=f"<{gid}>")
        assert result.passed, (gid, result)
    for name, cell in (("nms_across_classes", "test_nms"), ("ap_no_envelope", "test_average_precision"),
                       ("iou_calls_library", "test_iou"), ("loss_noobj_everywhere", "test_yolo_loss"),
                       ("loss_returns_float", "test_yolo_loss"), ("loss_detached", "test_yolo_loss"),
                       ("loss_calls_library", "test_yolo_loss")):
        b = next(b for b in BUGS if b.name == name)
        link = LoopbackLink(namespace(CORRECT, {b.function: b.source}))
        result = run_test_cell(head + cells[cell], link, timeout=120)
        assert not result.passed
        assert (b.hint if not name.endswith("library") else "earns no points") in result.evalue, result.evalue


def test_loss_reference_agrees_with_the_library():
    torch = pytest.importorskip("torch")
    from cnn_course.pt.yolo import yolo_loss

    rng = np.random.default_rng(5)
    for n, S, B, C, k in ((1, 2, 1, 2, 1), (2, 3, 2, 3, 3), (3, 4, 3, 4, 5), (2, 8, 3, 4, 6)):
        raw, target, anchors = torch_check.random_batch(rng, n, S, B, C, k)
        for lambdas in ((5.0, 0.5), (2.0, 0.25)):
            lib = yolo_loss(*(torch.tensor(a, dtype=torch.float64) for a in (raw, target)), C,
                            torch.tensor(anchors, dtype=torch.float64), *lambdas)
            assert abs(torch_check.loss_reference(raw, target, anchors, *lambdas) - float(lib)) < 1e-9
