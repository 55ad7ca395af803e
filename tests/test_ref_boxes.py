"""cnn_course.ref.boxes against an independent loop implementation, hand cases and bad input."""

import numpy as np
import pytest

from cnn_course import ref

# ---------------------------------------------------------------------- independent loops


def iou_loop(a, b):
    """IoU of two corner boxes with Python floats; 0 when the intersection has no area."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def nms_loop(boxes, scores, t):
    boxes = [[float(c) for c in row] for row in boxes]
    order = sorted(range(len(boxes)), key=lambda i: (-float(scores[i]), i))
    keep = []
    for i in order:
        if all(iou_loop(boxes[i], boxes[k]) <= t for k in keep):
            keep.append(i)
    return keep


def batched_nms_loop(boxes, scores, labels, t):
    keep = []
    for c in set(labels.tolist()):
        idx = [i for i in range(len(boxes)) if labels[i] == c]
        keep += [idx[k] for k in nms_loop(boxes[idx], scores[idx], t)]
    return sorted(keep, key=lambda i: (-float(scores[i]), i))


def random_boxes(rng, n, dtype=np.float64, size=50.0, integer=False):
    """n boxes inside a size×size image, widths and heights from 0 to size/2."""
    xy = rng.uniform(0, size, (n, 2))
    wh = rng.uniform(0, size / 2, (n, 2))
    if integer:
        xy, wh = np.round(xy), np.round(wh)
    return np.concatenate([xy, xy + wh], axis=1).astype(dtype)


# ---------------------------------------------------------------------- IoU and area


HAND_IOU = [  # (box a, box b, IoU, what it checks)
    ([0, 0, 2, 2], [1, 1, 3, 3], 1 / 7, "overlapping squares"),
    ([0, 0, 10, 10], [5, 0, 15, 10], 1 / 3, "half shifted"),
    ([0, 0, 6, 2], [3, 0, 9, 4], 6 / 30, "non-square: x and y not interchangeable"),
    ([0, 0, 4, 4], [1, 1, 3, 3], 4 / 16, "nested"),
    ([2, 3, 7, 9], [2, 3, 7, 9], 1.0, "identical"),
    ([0, 0, 1, 1], [1, 0, 2, 1], 0.0, "touching along an edge"),
    ([0, 0, 1, 1], [1, 1, 2, 2], 0.0, "touching at a corner"),
    ([0, 0, 1, 1], [3, 0, 4, 1], 0.0, "disjoint along x, overlapping along y"),
    ([0, 0, 1, 1], [0, 5, 1, 6], 0.0, "disjoint along y, overlapping along x"),
    ([0, 0, 1, 1], [5, 5, 6, 6], 0.0, "disjoint along both (negative overlaps must not multiply to > 0)"),
    ([1, 1, 1, 1], [1, 1, 1, 1], 0.0, "identical zero-area points: 0, not NaN"),
    ([0, 0, 2, 0], [0, 0, 2, 0], 0.0, "identical zero-height boxes"),
    ([0, 1, 2, 1], [0, 0, 2, 2], 0.0, "zero-height box inside a box"),
]


@pytest.mark.parametrize("a, b, expected, what", HAND_IOU, ids=[c[3] for c in HAND_IOU])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_iou_hand_cases(a, b, expected, what, dtype):
    A, B = np.array([a], dtype), np.array([b], dtype)
    for x, y in ((A, B), (B, A)):
        out = ref.box_iou(x, y)
        assert out.shape == (1, 1)
        assert out.dtype == (np.float64 if dtype == np.int64 else dtype)
        assert np.isfinite(out).all(), f"{what}: IoU is {out[0, 0]}"
        np.testing.assert_allclose(out[0, 0], expected, rtol=1e-6, atol=0, err_msg=what)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, m", [(1, 1), (7, 3), (20, 25)])
def test_iou_matches_loops(rng, n, m, dtype):
    b1, b2 = random_boxes(rng, n, dtype), random_boxes(rng, m, dtype)
    out = ref.box_iou(b1, b2)
    assert out.shape == (n, m) and out.dtype == dtype
    expected = np.array([[iou_loop(a, b) for b in b2.astype(np.float64).tolist()] for a in b1.astype(np.float64).tolist()])
    np.testing.assert_allclose(out, expected, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6 if dtype == np.float32 else 0)
    assert ((out >= 0) & (out <= 1)).all()
    np.testing.assert_array_equal(ref.box_iou(b2, b1), out.T)


def test_iou_mixed_dtypes_promote(rng):
    b32, b64 = random_boxes(rng, 3, np.float32), random_boxes(rng, 4)
    assert ref.box_iou(b32, b64).dtype == np.float64
    assert ref.box_iou(b32, b32).dtype == np.float32
    assert ref.box_iou(np.array([[0, 0, 2, 2]]), b32).dtype == np.float64


def test_iou_identical_is_exactly_one(rng):
    b = random_boxes(rng, 30, np.float32)
    b = b[ref.box_area(b) > 0]
    np.testing.assert_array_equal(np.diag(ref.box_iou(b, b)), 1.0)


def test_area(rng):
    b = random_boxes(rng, 10)
    np.testing.assert_allclose(ref.box_area(b), [(r[2] - r[0]) * (r[3] - r[1]) for r in b.tolist()])
    np.testing.assert_array_equal(ref.box_area(np.array([[1, 2, 4, 7], [3, 3, 3, 9]])), [15.0, 0.0])
    assert ref.box_area(np.zeros((2, 4), np.float32)).dtype == np.float32


# ---------------------------------------------------------------------- conversions


def test_conversions_hand():
    corners = np.array([[0.0, 0.0, 4.0, 2.0], [1.0, 2.0, 1.0, 6.0]])
    centers = np.array([[2.0, 1.0, 4.0, 2.0], [1.0, 4.0, 0.0, 4.0]])
    np.testing.assert_array_equal(ref.corners_to_centers(corners), centers)
    np.testing.assert_array_equal(ref.centers_to_corners(centers), corners)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conversions_round_trip(rng, dtype):
    b = random_boxes(rng, 20, dtype)
    c = ref.corners_to_centers(b)
    assert c.dtype == dtype and c.shape == (20, 4)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(ref.centers_to_corners(c), b, rtol=tol, atol=tol)
    assert ref.corners_to_centers(np.array([[0, 0, 3, 2]])).dtype == np.float64  # integers -> float64


# ---------------------------------------------------------------------- NMS


def test_nms_hand():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9]], float)
    scores = np.array([0.9, 0.8, 0.7, 0.95])
    # IoU(0,1) = 81/119 = 0.68, IoU(3,0) = 0.9, IoU(3,1) = 72/118 = 0.61, box 2 is alone
    np.testing.assert_array_equal(ref.nms(boxes, scores, 0.5), [3, 2])
    np.testing.assert_array_equal(ref.nms(boxes, scores, 0.65), [3, 1, 2])
    np.testing.assert_array_equal(ref.nms(boxes, scores, 0.95), [3, 0, 1, 2])


def test_nms_sorts_by_score_not_by_index():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10.5]])
    np.testing.assert_array_equal(ref.nms(boxes, np.array([0.1, 0.9]), 0.5), [1])


def test_nms_equal_scores_break_ties_by_index():
    boxes = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [0, 0, 10, 10], [20, 0, 30, 10]], float)
    keep = ref.nms(boxes, np.array([0.5, 0.5, 0.5, 0.5]), 0.5)
    np.testing.assert_array_equal(keep, [0, 1])
    keep = ref.nms(boxes, np.array([0.5, 0.7, 0.5, 0.7]), 0.5)
    np.testing.assert_array_equal(keep, [1, 0])


def test_nms_threshold_equality_keeps_the_box():
    boxes = np.array([[0, 0, 3, 1], [1, 0, 4, 1]], float)  # IoU = 2/4 = 0.5 exactly
    assert ref.box_iou(boxes[:1], boxes[1:])[0, 0] == 0.5
    np.testing.assert_array_equal(ref.nms(boxes, np.array([0.9, 0.8]), 0.5), [0, 1])
    np.testing.assert_array_equal(ref.nms(boxes, np.array([0.9, 0.8]), 0.4999), [0])


def test_nms_threshold_extremes():
    boxes = np.array([[0, 0, 2, 2], [2, 0, 4, 2], [0, 0, 2, 2], [1.9, 0, 4, 2]], float)
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    # threshold 0: any overlap suppresses, touching does not (IoU 0 is not > 0)
    np.testing.assert_array_equal(ref.nms(boxes, scores, 0.0), [0, 1])
    # threshold 1: nothing is suppressed, not even an identical box
    np.testing.assert_array_equal(ref.nms(boxes, scores, 1.0), [0, 1, 2, 3])


@pytest.mark.parametrize("integer", [False, True])
@pytest.mark.parametrize("seed", range(8))
def test_nms_matches_loop(seed, integer):
    g = np.random.default_rng(seed)
    n = int(g.integers(1, 60))
    boxes = random_boxes(g, n, np.float64, size=40.0, integer=integer)
    scores = np.round(g.uniform(0, 1, n), 1 if integer else 8)  # rounded: many equal scores
    for t in (0.0, 0.3, 0.5, 0.7, 1.0):
        keep = ref.nms(boxes, scores, t)
        assert keep.dtype == np.int64
        assert keep.tolist() == nms_loop(boxes, scores, t), f"seed {seed}, threshold {t}"


@pytest.mark.parametrize("seed", range(8))
def test_batched_nms_matches_loop_and_never_crosses_classes(seed):
    g = np.random.default_rng(100 + seed)
    n = int(g.integers(1, 60))
    boxes = random_boxes(g, n, size=30.0, integer=seed % 2 == 0)
    scores = np.round(g.uniform(0, 1, n), 1)
    labels = g.integers(0, 4, n)
    for t in (0.0, 0.5, 0.8):
        keep = ref.batched_nms(boxes, scores, labels, t)
        assert keep.dtype == np.int64
        assert keep.tolist() == batched_nms_loop(boxes, scores, labels, t), f"seed {seed}, threshold {t}"
        for c in np.unique(labels):  # per class it is plain NMS
            idx = np.flatnonzero(labels == c)
            assert sorted(keep[labels[keep] == c].tolist()) == sorted(idx[ref.nms(boxes[idx], scores[idx], t)].tolist())


def test_batched_nms_identical_boxes_of_different_classes_survive():
    boxes = np.array([[0, 0, 10, 10]] * 3 + [[1, 1, 10, 10]], float)
    scores = np.array([0.9, 0.8, 0.7, 0.95])
    labels = np.array([0, 1, 2, 0])
    np.testing.assert_array_equal(ref.batched_nms(boxes, scores, labels, 0.5), [3, 1, 2])
    np.testing.assert_array_equal(ref.nms(boxes, scores, 0.5), [3])


# ---------------------------------------------------------------------- empty input


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_empty_inputs(dtype):
    empty, two = np.zeros((0, 4), dtype), np.array([[0, 0, 1, 1], [1, 1, 3, 3]], dtype)
    for a, b, shape in ((empty, two, (0, 2)), (two, empty, (2, 0)), (empty, empty, (0, 0))):
        out = ref.box_iou(a, b)
        assert out.shape == shape and out.dtype == dtype
    assert ref.box_area(empty).shape == (0,) and ref.box_area(empty).dtype == dtype
    assert ref.corners_to_centers(empty).shape == (0, 4)
    assert ref.centers_to_corners(empty).shape == (0, 4)
    for keep in (ref.nms(empty, np.zeros(0, dtype), 0.5),
                 ref.batched_nms(empty, np.zeros(0, dtype), np.zeros(0, np.int64), 0.5)):
        assert keep.shape == (0,) and keep.dtype == np.int64


def test_inputs_not_modified(rng):
    boxes, scores, labels = random_boxes(rng, 20, np.float32), rng.uniform(size=20), rng.integers(0, 3, 20)
    copies = [a.copy() for a in (boxes, scores, labels)]
    ref.box_iou(boxes, boxes), ref.box_area(boxes), ref.corners_to_centers(boxes)
    ref.nms(boxes, scores, 0.5), ref.batched_nms(boxes, scores, labels, 0.5)
    for a, c in zip((boxes, scores, labels), copies):
        np.testing.assert_array_equal(a, c)


# ---------------------------------------------------------------------- bad input


def _msg(e):
    return str(e.value)


@pytest.mark.parametrize("fn", [ref.box_area, ref.corners_to_centers, ref.centers_to_corners,
                                lambda b: ref.box_iou(b, np.zeros((1, 4))), lambda b: ref.nms(b, np.zeros(len(b)), 0.5)])
def test_bad_box_shapes(fn):
    with pytest.raises(ValueError) as e:
        fn(np.zeros((3, 5)))
    assert "(N, 4)" in _msg(e) and "(3, 5)" in _msg(e)
    with pytest.raises(ValueError) as e:
        fn(np.zeros(4))
    assert "(N, 4)" in _msg(e) and "1-D" in _msg(e)
    with pytest.raises(ValueError) as e:
        fn([[0, 0, 1, 1]])
    assert "list" in _msg(e)


def test_x2_less_than_x1_names_the_row():
    boxes = np.array([[0, 0, 1, 1], [0, 0, 2, 2], [5, 0, 3, 4.0]])
    with pytest.raises(ValueError) as e:
        ref.box_area(boxes)
    assert "boxes[2]" in _msg(e) and "(5, 0, 3, 4)" in _msg(e) and "x2 < x1" in _msg(e)
    with pytest.raises(ValueError) as e:
        ref.box_iou(np.zeros((1, 4)), np.array([[0, 3, 1, 1.0]]))
    assert "boxes2[0]" in _msg(e) and "y2 < y1" in _msg(e) and "(x, y, w, h)" in _msg(e)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_boxes(bad):
    boxes = np.array([[0, 0, 1, 1], [0, 0, bad, 2.0]])
    with pytest.raises(ValueError) as e:
        ref.box_iou(boxes, boxes)
    assert "boxes1[1]" in _msg(e) and "finite" in _msg(e)
    with pytest.raises(ValueError) as e:
        ref.nms(np.zeros((2, 4)), np.array([0.5, bad]), 0.5)
    assert "scores[1]" in _msg(e) and "finite" in _msg(e)


def test_non_real_dtypes():
    with pytest.raises(ValueError, match="real numbers"):
        ref.box_area(np.zeros((1, 4), bool))
    with pytest.raises(ValueError, match="real numbers"):
        ref.box_iou(np.zeros((1, 4), complex), np.zeros((1, 4)))
    with pytest.raises(ValueError, match="integer class"):
        ref.batched_nms(np.zeros((1, 4)), np.zeros(1), np.zeros(1), 0.5)


def test_negative_size_in_centers():
    with pytest.raises(ValueError) as e:
        ref.centers_to_corners(np.array([[5, 5, 2, 2], [5, 5, 2, -1.0]]))
    assert "boxes[1]" in _msg(e) and "negative" in _msg(e)


def test_mismatched_lengths():
    boxes = np.zeros((3, 4))
    with pytest.raises(ValueError) as e:
        ref.nms(boxes, np.zeros(2), 0.5)
    assert "(3,)" in _msg(e) and "(2,)" in _msg(e)
    with pytest.raises(ValueError) as e:
        ref.nms(boxes, np.zeros((3, 1)), 0.5)
    assert "(N,)" in _msg(e)
    with pytest.raises(ValueError) as e:
        ref.batched_nms(boxes, np.zeros(3), np.zeros(4, int), 0.5)
    assert "labels" in _msg(e) and "(3,)" in _msg(e) and "(4,)" in _msg(e)


@pytest.mark.parametrize("t", [-0.1, 1.5, np.nan, True, "0.5", None, np.array([0.5])])
def test_bad_threshold(t):
    boxes = np.zeros((2, 4))
    with pytest.raises(ValueError) as e:
        ref.nms(boxes, np.zeros(2), t)
    assert "iou_threshold" in _msg(e)
    with pytest.raises(ValueError):
        ref.batched_nms(boxes, np.zeros(2), np.zeros(2, int), t)
