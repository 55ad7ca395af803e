"""cnn_course.ref.detection_metrics: hand cases, and equality with pycocotools' COCOeval to 1e-6."""

import contextlib
import io

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from cnn_course.ref import detection_metrics as dm

# ---------------------------------------------------------------------- COCOeval in memory


def _xywh(b):
    """COCO boxes are (x, y, width, height)."""
    return [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]


def coco_eval(detections, ground_truths, iou_thresholds=None):
    """Run COCOeval (bbox) on our per-image lists; returns the COCOeval object after summarize().

    Images get ids 1..n in list order (COCO sorts image ids, so that order is kept), classes
    label + 1, annotations ids from 1 (COCOeval stores matched ids and treats id 0 as unmatched).
    """
    labels = sorted({int(c) for _, ls in ground_truths for c in ls} | {int(c) for _, _, ls in detections for c in ls})
    gt_anns = [dict(id=k + 1, image_id=i + 1, category_id=c + 1, bbox=_xywh(b), iscrowd=0,
                    area=float((b[2] - b[0]) * (b[3] - b[1])))
               for k, (i, b, c) in enumerate((i, b, int(c)) for i, (bs, ls) in enumerate(ground_truths)
                                             for b, c in zip(bs, ls))]
    results = [dict(image_id=i + 1, category_id=int(c) + 1, bbox=_xywh(b), score=float(s))
               for i, (bs, ss, ls) in enumerate(detections) for b, s, c in zip(bs, ss, ls)]
    assert results, "COCO's loadRes cannot take an empty result list"
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = dict(images=[dict(id=i + 1) for i in range(len(ground_truths))], annotations=gt_anns,
                          categories=[dict(id=c + 1) for c in labels])
        gt.createIndex()
        E = COCOeval(gt, gt.loadRes(results), "bbox")
        if iou_thresholds is not None:
            E.params.iouThrs = np.asarray(iou_thresholds, dtype=float)
        E.evaluate()
        E.accumulate()
        if iou_thresholds is None:
            E.summarize()
    return E


def coco_class_aps(E):
    """{label: AP} from COCOeval's precision array (area 'all', maxDets 100), classes with ground truth."""
    p = E.eval["precision"][:, :, :, 0, E.params.maxDets.index(100)]  # (T, R, K)
    return {c - 1: float(p[:, :, k].mean()) for k, c in enumerate(E.params.catIds) if (p[:, :, k] > -1).all()}


def coco_map(E):
    p = E.eval["precision"][:, :, :, 0, E.params.maxDets.index(100)]
    return float(np.mean(p[p > -1]))


# ---------------------------------------------------------------------- random scenes


def _boxes(g, n, integer, size=60.0):
    xy = g.uniform(0, size, (n, 2))
    wh = g.uniform(0, size / 2, (n, 2))
    if integer:
        xy, wh = np.round(xy), np.round(wh)
    return np.concatenate([xy, xy + wh], axis=1)


def random_scene(seed, n_classes=3, max_gt=6):
    """Images with ground truths and a noisy detector: jittered copies of the ground truth
    (true and false positives at every IoU), duplicates and random false positives.

    Even seeds use integer coordinates (exact IoU ties, IoU exactly at thresholds) and scores
    rounded to one decimal (many equal scores); some images are empty; class n_classes is
    detected but never annotated; class 0 appears in fewer images.
    """
    g = np.random.default_rng(seed)
    integer = seed % 2 == 0
    dets, gts = [], []
    for _ in range(int(g.integers(1, 10))):
        n_gt = int(g.integers(0, max_gt + 1)) if g.uniform() > 0.15 else 0
        gb = _boxes(g, n_gt, integer)
        gl = g.integers(0, n_classes, n_gt)
        if seed % 3 == 0:
            gl[gl == 0] = 1  # class 0 has no ground truth in these scenes: only false positives
        copies = g.integers(0, 3, n_gt)  # 0, 1 or 2 detections per ground truth
        jb = np.repeat(gb, copies, axis=0)
        jb = jb + g.normal(0, g.choice([0.5, 2.0, 5.0]), jb.shape)
        jb = np.concatenate([np.minimum(jb[:, :2], jb[:, 2:]), np.maximum(jb[:, :2], jb[:, 2:])], axis=1)
        jl = np.repeat(gl, copies)
        swap = g.uniform(size=len(jl)) < 0.1  # a few right boxes with the wrong class
        jl[swap] = g.integers(0, n_classes + 1, int(swap.sum()))
        n_fp = int(g.integers(0, 4))
        db = np.concatenate([jb, _boxes(g, n_fp, integer)])
        if integer:
            db = np.round(db)
        dl = np.concatenate([jl, g.integers(0, n_classes + 1, n_fp)])
        ds = g.uniform(0, 1, len(db))
        if integer:
            ds = np.round(ds, 1)
        dets.append((db, ds, dl))
        gts.append((gb, gl))
    return dets, gts


def _has_results(dets):
    return sum(len(d[0]) for d in dets) > 0


def _has_gt(gts):
    return sum(len(g[0]) for g in gts) > 0


SEEDS = [s for s in range(60) if _has_results(random_scene(s)[0]) and _has_gt(random_scene(s)[1])][:40]


@pytest.mark.parametrize("seed", SEEDS)
def test_matches_cocoeval_stats(seed):
    dets, gts = random_scene(seed)
    E = coco_eval(dets, gts)
    ours_all = dm.mean_average_precision(dets, gts, dm.COCO_IOU_THRESHOLDS)
    ours_50 = dm.mean_average_precision(dets, gts)
    assert abs(ours_all - E.stats[0]) <= 1e-6, f"seed {seed}: mAP@[.5:.95] {ours_all} vs COCOeval stats[0] {E.stats[0]}"
    assert abs(ours_50 - E.stats[1]) <= 1e-6, f"seed {seed}: mAP@0.5 {ours_50} vs COCOeval stats[1] {E.stats[1]}"
    theirs = coco_class_aps(E)
    ours = dm.class_average_precisions(dets, gts, dm.COCO_IOU_THRESHOLDS)
    assert ours.keys() == theirs.keys(), f"seed {seed}: classes {sorted(ours)} vs COCO {sorted(theirs)}"
    for c in ours:
        assert abs(ours[c] - theirs[c]) <= 1e-6, f"seed {seed}, class {c}: AP {ours[c]} vs {theirs[c]}"


@pytest.mark.parametrize("thresholds", [(0.3,), (0.75,), (0.1, 0.6, 0.9), (0.5, 1.0), (0.0,)])
@pytest.mark.parametrize("seed", SEEDS[:8])
def test_matches_cocoeval_at_other_thresholds(seed, thresholds):
    dets, gts = random_scene(seed)
    theirs = coco_map(coco_eval(dets, gts, thresholds))
    ours = dm.mean_average_precision(dets, gts, thresholds)
    assert abs(ours - theirs) <= 1e-6, f"seed {seed}, thresholds {thresholds}: {ours} vs COCOeval {theirs}"


@pytest.mark.parametrize("seed", [2, 4, 6, 8])
def test_matches_cocoeval_on_crowded_scenes_with_many_equal_scores(seed):
    """Dozens of boxes per image and class, scores on a 0.1 grid: the ranking across images
    must break ties exactly as COCOeval's stable sorts do (earlier image first)."""
    dets, gts = random_scene(seed, n_classes=2, max_gt=40)
    E = coco_eval(dets, gts)
    assert abs(dm.mean_average_precision(dets, gts, dm.COCO_IOU_THRESHOLDS) - E.stats[0]) <= 1e-6
    assert abs(dm.mean_average_precision(dets, gts) - E.stats[1]) <= 1e-6


def test_equal_ious_go_to_the_later_ground_truth_as_in_cocoeval():
    gt = np.array([[0, 0, 2, 1], [2, 0, 4, 1]], float)
    # the first detection overlaps both ground truths with IoU 1/3; the second only the first
    det = np.array([[1, 0, 3, 1], [0, 0, 2, 1]], float)
    dets, gts = [(det, np.array([0.9, 0.8]), np.array([0, 0]))], [(gt, np.array([0, 0]))]
    r, p, _ = dm.precision_recall(dets, gts, 0, iou_threshold=0.3)
    assert r.tolist() == [0.5, 1.0], "the first detection must take the later ground truth, leaving the first free"
    E = coco_eval(dets, gts, (0.3,))
    assert abs(dm.mean_average_precision(dets, gts, 0.3) - coco_map(E)) <= 1e-12


def test_matches_cocoeval_beyond_100_detections_per_image_and_class():
    g = np.random.default_rng(7)
    gb = _boxes(g, 120, integer=False, size=400.0)
    db = np.concatenate([gb + g.normal(0, 1.0, gb.shape), _boxes(g, 60, False, 400.0)])
    db = np.concatenate([np.minimum(db[:, :2], db[:, 2:]), np.maximum(db[:, :2], db[:, 2:])], axis=1)
    ds = g.uniform(size=len(db))
    dl = np.zeros(len(db), np.int64)
    gl = np.zeros(len(gb), np.int64)
    dets = [(db, ds, dl), (db[:50], ds[:50], dl[:50])]
    gts = [(gb, gl), (gb[:70], gl[:70])]
    E = coco_eval(dets, gts)
    assert abs(dm.mean_average_precision(dets, gts, dm.COCO_IOU_THRESHOLDS) - E.stats[0]) <= 1e-6
    assert abs(dm.mean_average_precision(dets, gts) - E.stats[1]) <= 1e-6
    # keeping all 180 detections changes the answer: the cap is really applied
    assert dm.mean_average_precision(dets, gts, max_detections=180) > dm.mean_average_precision(dets, gts) + 0.01


def test_cocoeval_boxes_have_no_plus_one():
    """The installed COCO computes IoU with continuous coordinates (no +1 on widths), as we do."""
    from pycocotools import mask as mask_utils

    # (x, y, w, h): [0, 0, 10, 10] and [5, 0, 10, 10] overlap by 50 px² of 150: IoU 1/3 (with +1: 66/176)
    iou = mask_utils.iou([[0.0, 0, 10, 10]], [[5.0, 0, 10, 10]], [0])
    assert abs(float(iou[0, 0]) - 1 / 3) < 1e-12


# ---------------------------------------------------------------------- average precision by hand


def test_average_precision_hand_cases():
    assert dm.average_precision([], []) == 0.0
    assert dm.average_precision([0.5, 1.0], [1.0, 1.0]) == 1.0
    # found half of the ground truth, all correct: recalls 0..0.5 have precision 1 (51 of 101 points)
    assert dm.average_precision([0.5], [1.0]) == pytest.approx(51 / 101, abs=1e-12)
    # ranked TP, FP, TP, TP over 3 ground truths; the envelope lifts 2/3 to 3/4 at recall 2/3
    recall, precision = [1 / 3, 1 / 3, 2 / 3, 1.0], [1.0, 1 / 2, 2 / 3, 3 / 4]
    with_envelope = (34 * 1.0 + 67 * 0.75) / 101
    without = (34 * 1.0 + 33 * 2 / 3 + 34 * 0.75) / 101
    assert dm.average_precision(recall, precision) == pytest.approx(with_envelope, abs=1e-12)
    assert abs(with_envelope - without) > 0.005


def test_precision_recall_hand_case():
    gt_boxes = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10]], float)
    det_boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 11], [20, 0, 30, 10], [60, 0, 70, 10]], float)
    scores = np.array([0.9, 0.8, 0.7, 0.6])  # TP, duplicate (FP), TP, FP; one ground truth never found
    dets = [(det_boxes, scores, np.zeros(4, int))]
    gts = [(gt_boxes, np.zeros(3, int))]
    r, p, s = dm.precision_recall(dets, gts, label=0)
    np.testing.assert_allclose(r, [1 / 3, 1 / 3, 2 / 3, 2 / 3])  # over the 3 ground truths, not the detections
    np.testing.assert_allclose(p, [1, 1 / 2, 2 / 3, 1 / 2])
    np.testing.assert_array_equal(s, scores)
    assert dm.mean_average_precision(dets, gts) == pytest.approx(dm.average_precision(r, p))


def test_matching_takes_the_best_iou_and_threshold_equality_matches():
    gt = np.array([[0, 0, 4, 1], [0, 0, 3, 1]], float)
    det = np.array([[1, 0, 4, 1]], float)  # IoU 3/4 with gt 0 and exactly 2/4 with gt 1
    dets, gts = [(det, np.array([0.9]), np.array([0]))], [(gt, np.array([0, 0]))]
    r, p, _ = dm.precision_recall(dets, gts, 0, iou_threshold=0.5)
    assert r.tolist() == [0.5] and p.tolist() == [1.0]
    # threshold 0.5 and IoU 0.5: a match (COCO's >=); a second detection then takes gt 1
    dets2 = [(np.concatenate([det, det]), np.array([0.9, 0.8]), np.array([0, 0]))]
    assert dm.precision_recall(dets2, gts, 0, iou_threshold=0.5).recall.tolist() == [0.5, 1.0]
    assert dm.precision_recall(dets2, gts, 0, iou_threshold=0.51).recall.tolist() == [0.5, 0.5]
    # threshold 1: only an identical box matches
    assert dm.precision_recall([(gt[:1], np.array([0.5]), np.array([0]))], gts, 0, 1.0).recall.tolist() == [0.5]


def test_classes_are_kept_apart_and_counted_only_with_ground_truth():
    box = np.array([[0, 0, 10, 10]], float)
    gts = [(np.concatenate([box, box + 20]), np.array([0, 1]))]
    # a perfect class 0, a class 1 never detected, a class 2 only detected (ignored)
    dets = [(np.concatenate([box, box + 20, box]), np.array([0.9, 0.8, 0.7]), np.array([0, 2, 2]))]
    assert dm.class_average_precisions(dets, gts) == {0: 1.0, 1: 0.0}
    assert dm.mean_average_precision(dets, gts) == 0.5


def test_max_detections_keeps_the_highest_scores():
    gt = np.array([[0, 0, 10, 10]], float)
    db = np.concatenate([np.tile([[50, 50, 60, 60.0]], (100, 1)), gt])  # 100 misses, then the hit
    ds = np.concatenate([np.full(100, 0.9), [0.1]])
    dets, gts = [(db, ds, np.zeros(101, int))], [(gt, np.zeros(1, int))]
    assert dm.mean_average_precision(dets, gts) == 0.0
    assert dm.mean_average_precision(dets, gts, max_detections=101) == pytest.approx(1 / 101)


def test_empty_images_and_no_detections():
    box = np.array([[0, 0, 10, 10]], float)
    empty_det = (np.zeros((0, 4)), np.zeros(0), np.zeros(0, int))
    empty_gt = (np.zeros((0, 4)), np.zeros(0, int))
    assert dm.mean_average_precision([empty_det, empty_det], [(box, np.array([3])), empty_gt]) == 0.0
    # empty lists instead of (0, 4) arrays are accepted too
    dets = [([], [], []), (box, np.array([0.5]), np.array([3]))]
    assert dm.mean_average_precision(dets, [empty_gt, (box, np.array([3]))]) == 1.0
    r, p, s = dm.precision_recall([empty_det], [(box, np.array([3]))], 3)
    assert r.shape == p.shape == s.shape == (0,)


def test_torch_tensors_are_accepted():
    dets, gts = random_scene(1)
    tdets = [(torch.tensor(b, requires_grad=True), torch.tensor(s, requires_grad=True), torch.as_tensor(c))
             for b, s, c in dets]
    tgts = [tuple(torch.as_tensor(a) for a in g) for g in gts]
    assert dm.mean_average_precision(tdets, tgts) == dm.mean_average_precision(dets, gts)


def test_float32_inputs_give_the_same_answer_as_float64():
    dets, gts = random_scene(3)
    d32 = [(b.astype(np.float32).astype(np.float64), s.astype(np.float32), c) for b, s, c in dets]
    d32_raw = [(b.astype(np.float32), s.astype(np.float32), c) for b, s, c in dets]
    assert dm.mean_average_precision(d32_raw, gts) == dm.mean_average_precision(d32, gts)


# ---------------------------------------------------------------------- bad input


def _msg(e):
    return str(e.value)


def test_bad_inputs():
    box = np.array([[0, 0, 10, 10]], float)
    gts = [(box, np.array([0]))]
    good = [(box, np.array([0.5]), np.array([0]))]
    cases = [
        (lambda: dm.mean_average_precision(good, gts + gts), "same images"),
        (lambda: dm.mean_average_precision([(box, np.array([0.5]))], gts), "(boxes, scores, labels)"),
        (lambda: dm.mean_average_precision(good, [(box,)]), "(boxes, labels)"),
        (lambda: dm.mean_average_precision([(np.array([[5, 0, 1, 1.0]]), [0.5], [0])], gts), "detections[0] boxes[0]"),
        (lambda: dm.mean_average_precision(good, [(np.array([[0, 0, 1, 1], [0, 5, 1, 1.0]]), [0, 0])]), "y2 < y1"),
        (lambda: dm.mean_average_precision([(box, np.array([np.nan]), np.array([0]))], gts), "scores"),
        (lambda: dm.mean_average_precision([(box, np.array([0.5, 0.4]), np.array([0]))], gts), "(1,)"),
        (lambda: dm.mean_average_precision([(box, np.array([0.5]), np.array([0.0]))], gts), "integer class"),
        (lambda: dm.mean_average_precision(good, gts, iou_thresholds=(0.5, 1.2)), "[0, 1]"),
        (lambda: dm.mean_average_precision(good, gts, iou_thresholds=()), "at least one"),
        (lambda: dm.mean_average_precision(good, gts, max_detections=0), "max_detections"),
        (lambda: dm.mean_average_precision([], []), "no ground-truth"),
        (lambda: dm.mean_average_precision(good, box), "list"),
        (lambda: dm.precision_recall(good, gts, 1), "class 1 has no ground-truth"),
        (lambda: dm.precision_recall(good, gts, 0.0), "label"),
        (lambda: dm.average_precision([0.5, 0.4], [1, 1]), "non-decreasing"),
        (lambda: dm.average_precision([0.5], [1.5]), "precision[0]"),
        (lambda: dm.average_precision([0.5, 1.0], [1.0]), "same shape"),
        (lambda: dm.average_precision(np.zeros((2, 2)), np.zeros((2, 2))), "(K,)"),
    ]
    for call, needle in cases:
        with pytest.raises(ValueError) as e:
            call()
        assert needle in _msg(e), (needle, _msg(e))


def test_single_threshold_number_is_accepted():
    dets, gts = random_scene(5)
    assert dm.mean_average_precision(dets, gts, 0.5) == dm.mean_average_precision(dets, gts, (0.5,))
