"""cnn_course.ref.yolo: target encoding (cells, borders, units), anchors, decoding, the loss and its gradient."""

import numpy as np
import pytest

from cnn_course import ref
from cnn_course.ref import yolo

# ---------------------------------------------------------------------- encoding by hand


def test_encode_the_seeds_example():
    """A 3×3 grid on a 96×96 image (32-pixel cells); the car's centre is 0.4 of the way across
    its cell and 0.3 down, and it is 0.9 of a cell wide and 0.5 of a cell high."""
    box = np.array([[62.4, 33.6, 91.2, 49.6]])  # centre (76.8, 41.6), 28.8 wide, 16 high
    y = yolo.yolo_encode(box, np.array([1]), (96, 96), 3, 3)
    assert y.shape == (3, 3, 8) and y.dtype == np.float64
    np.testing.assert_allclose(y[1, 2], [1, 0.4, 0.3, 16 / 96, 28.8 / 96, 0, 1, 0], atol=1e-12)
    assert np.count_nonzero(y) == np.count_nonzero(y[1, 2]), "only the responsible cell holds the object"
    # relative to the image, not the cell: bh = 0.5 / 3, bw = 0.9 / 3
    assert abs(y[1, 2, 3] - 0.5 / 3) < 1e-12 and abs(y[1, 2, 4] - 0.9 / 3) < 1e-12


def test_encode_non_square_image_keeps_x_and_y_apart():
    # H = 60, W = 90, S = 3: cells are 20 high and 30 wide
    box = np.array([[35.0, 4.0, 55.0, 16.0]])  # centre (45, 10): column 1 (x), row 0 (y)
    y = yolo.yolo_encode(box, np.array([0]), (60, 90), 3, 2)
    np.testing.assert_allclose(y[0, 1], [1, 0.5, 0.5, 12 / 60, 20 / 90, 1, 0], atol=1e-12)
    assert y[1, 0, 0] == 0


@pytest.mark.parametrize("cx, col, bx", [(32.0, 1, 0.0), (31.999, 0, 31.999 / 32), (64.0, 2, 0.0),
                                         (0.0, 0, 0.0), (96.0, 2, 1.0)])
def test_encode_cell_borders(cx, col, bx):
    """A centre on the border between two cells belongs to the right one; on the image's edge to the last."""
    box = np.array([[cx - 4, 40.0, cx + 4, 56.0]])  # centre y = 48: row 1, by = 0.5
    y = yolo.yolo_encode(box, np.array([0]), (96, 96), 3, 1)
    assert y[1, col, 0] == 1, f"centre x = {cx} must go to column {col}, got cells {np.argwhere(y[..., 0] == 1).tolist()}"
    assert abs(y[1, col, 1] - bx) < 1e-12 and abs(y[1, col, 2] - 0.5) < 1e-12


def test_encode_row_border():
    box = np.array([[10.0, 28.0, 20.0, 36.0]])  # centre y = 32: the border between rows 0 and 1
    y = yolo.yolo_encode(box, np.array([0]), (96, 96), 3, 1)
    assert y[1, 0, 0] == 1 and y[1, 0, 2] == 0.0


def test_encode_collision_keeps_the_first_and_reports_the_rest():
    boxes = np.array([[0, 0, 10, 10], [2, 2, 12, 12], [50, 50, 60, 60.0]])
    y, dropped = yolo.yolo_encode(boxes, np.array([0, 1, 0]), (64, 64), 2, 2, return_dropped=True)
    assert dropped.tolist() == [1]
    np.testing.assert_allclose(y[0, 0], [1, 5 / 32, 5 / 32, 10 / 64, 10 / 64, 1, 0])


def test_encode_with_anchors_by_shape():
    anchors = np.array([[0.4, 0.1], [0.1, 0.4]])  # tall, wide (h, w) fractions of the image
    boxes = np.array([[10, 0, 20, 40], [0, 10, 40, 20.0]])  # tall (h 40, w 10) and wide, same cell
    y, dropped = yolo.yolo_encode(boxes, np.array([0, 1]), (100, 100), 1, 2, anchors, return_dropped=True)
    assert y.shape == (1, 1, 14) and dropped.size == 0
    tall, wide = y[0, 0, :7], y[0, 0, 7:]
    np.testing.assert_allclose(tall, [1, 0.15, 0.2, 0.4, 0.1, 1, 0])
    np.testing.assert_allclose(wide, [1, 0.2, 0.15, 0.1, 0.4, 0, 1])


def test_anchor_iou_and_assignment():
    np.testing.assert_allclose(yolo.anchor_iou(np.array([[2.0, 1.0]]), np.array([[1.0, 2.0], [2.0, 1.0], [4.0, 2.0]])),
                               [[1 / 3, 1.0, 0.25]])
    assert yolo.anchor_iou(np.zeros((1, 2)), np.zeros((1, 2)))[0, 0] == 0.0  # degenerate: 0, not NaN
    anchors = np.array([[1.0, 1.0], [1.0, 1.0], [3.0, 1.0]])
    assert yolo.assign_anchors(np.array([[1.0, 1.0], [2.5, 1.0], [0.0, 0.0]]), anchors).tolist() == [0, 2, 0]


def _independent_encode(boxes, labels, H, W, S, C):
    """Loop version with the cell found by comparing against cell edges."""
    y = np.zeros((S, S, 5 + C))
    for (x1, y1, x2, y2), c in zip(boxes.tolist(), labels.tolist()):
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        col = max(j for j in range(S) if j * W / S <= cx) if cx < W else S - 1
        row = max(i for i in range(S) if i * H / S <= cy) if cy < H else S - 1
        if y[row, col, 0]:
            continue
        y[row, col, :5] = 1, cx / (W / S) - col, cy / (H / S) - row, (y2 - y1) / H, (x2 - x1) / W
        y[row, col, 5 + c] = 1
    return y


def _random_boxes(g, n, H, W):
    c = g.uniform(0, 1, (n, 2)) * [W, H]
    s = g.uniform(0, 0.5, (n, 2)) * [W, H]
    return np.concatenate([c - s / 2, c + s / 2], axis=1)


@pytest.mark.parametrize("seed", range(6))
def test_encode_matches_loops_and_round_trips(seed):
    g = np.random.default_rng(seed)
    H, W, S, C = int(g.integers(40, 200)), int(g.integers(40, 200)), int(g.integers(1, 8)), int(g.integers(1, 5))
    boxes = _random_boxes(g, int(g.integers(0, 15)), H, W)
    labels = g.integers(0, C, len(boxes))
    y, dropped = yolo.yolo_encode(boxes, labels, (H, W), S, C, return_dropped=True)
    np.testing.assert_allclose(y, _independent_encode(boxes, labels, H, W, S, C), atol=1e-12)
    kept = np.setdiff1d(np.arange(len(boxes)), dropped)
    db, ds, dl = yolo.yolo_decode(y, (H, W), C)
    assert np.all(ds == 1.0) and len(db) == len(kept)
    order = np.lexsort((boxes[kept, 0], boxes[kept, 1]))  # compare as sets of boxes
    back = np.lexsort((db[:, 0], db[:, 1]))
    np.testing.assert_allclose(db[back], np.clip(boxes[kept][order], 0, [W, H, W, H]), atol=1e-9)
    np.testing.assert_array_equal(dl[back], labels[kept][order])


@pytest.mark.parametrize("seed", range(4))
def test_round_trip_with_anchors(seed):
    g = np.random.default_rng(10 + seed)
    anchors = g.uniform(0.05, 0.5, (3, 2))
    boxes = _random_boxes(g, 12, 120, 80)
    boxes = np.clip(boxes, 0, [80, 120, 80, 120])
    labels = g.integers(0, 4, 12)
    y, dropped = yolo.yolo_encode(boxes, labels, (120, 80), 4, 4, anchors, return_dropped=True)
    kept = np.setdiff1d(np.arange(12), dropped)
    slots = y.reshape(4, 4, 3, 9)
    assert slots[..., 0].sum() == len(kept)
    # every object sits in the anchor of best shape IoU
    best = yolo.assign_anchors(np.stack([(boxes[:, 3] - boxes[:, 1]) / 120, (boxes[:, 2] - boxes[:, 0]) / 80], 1), anchors)
    for i in kept:
        cx, cy = (boxes[i, 0] + boxes[i, 2]) / 2, (boxes[i, 1] + boxes[i, 3]) / 2
        r, c = min(int(cy // 30), 3), min(int(cx // 20), 3)
        assert slots[r, c, best[i], 0] == 1
    db, _, dl = yolo.yolo_decode(y, (120, 80), 4)
    assert sorted(map(tuple, np.round(db, 9).tolist())) == sorted(map(tuple, np.round(boxes[kept], 9).tolist()))


# ---------------------------------------------------------------------- decoding


def test_decode_scores_threshold_clipping_and_nms():
    C = 2
    p = np.zeros((2, 2, 2 * (5 + C)))
    p[0, 0, :7] = [0.9, 0.5, 0.5, 0.8, 0.8, 0.2, 0.8]  # score 0.72, class 1, centred in cell (0, 0)
    p[0, 0, 7:] = [0.6, 0.5, 0.5, 0.4, 0.4, 1.0, 0.0]  # score 0.6, class 0
    p[1, 1, :7] = [1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5]  # score 0.5 (== threshold: dropped); label 0 (first max)
    boxes, scores, labels = yolo.yolo_decode(p, (100, 200), C, score_threshold=0.5)
    np.testing.assert_allclose(scores, [0.72, 0.6])
    assert labels.tolist() == [1, 0]
    # cells are 50 high and 100 wide; the first box, (-30, -15, 130, 65), is clipped at 0
    np.testing.assert_allclose(boxes, [[0, 0, 130, 65], [10, 5, 90, 45]])
    b, s, l = yolo.yolo_decode(p, (100, 200), C, score_threshold=0.4)
    np.testing.assert_allclose(s, [0.72, 0.6, 0.5])
    assert l.tolist() == [1, 0, 0]
    np.testing.assert_allclose(b[2], [100, 50, 200, 100])  # (100, 50, 300, 150) clipped to the image (W = 200, H = 100)
    # NMS is per class: the two boxes of cell (0, 0) overlap but have different labels
    assert len(yolo.yolo_decode(p, (100, 200), C, 0.4, iou_threshold=0.1)[0]) == 3
    p[0, 0, 12:] = [0.0, 1.0]  # now both class 1: the 0.6 box is suppressed (IoU 3200/8450 > 0.1)
    np.testing.assert_allclose(yolo.yolo_decode(p, (100, 200), C, 0.4, iou_threshold=0.1)[1], [0.72, 0.5])


# ---------------------------------------------------------------------- activation and loss


def test_activate():
    g = np.random.default_rng(0)
    raw = g.normal(size=(2, 3, 3, 2 * 7))
    anchors = np.array([[0.2, 0.3], [0.5, 0.1]])
    p = yolo.yolo_activate(raw, 2, anchors).reshape(2, 3, 3, 2, 7)
    t = raw.reshape(2, 3, 3, 2, 7)
    np.testing.assert_allclose(p[..., :3], 1 / (1 + np.exp(-t[..., :3])))
    np.testing.assert_allclose(p[..., 3:5], anchors * np.exp(t[..., 3:5]))
    np.testing.assert_allclose(p[..., 5:].sum(-1), 1.0)
    q = yolo.yolo_activate(raw[0], 2).reshape(3, 3, 2, 7)  # no anchors: sigmoid sizes, B from the shape
    np.testing.assert_allclose(q[..., 3:5], 1 / (1 + np.exp(-t[0, ..., 3:5])))
    assert np.isfinite(yolo.yolo_activate(np.full((1, 1, 7), 1e4), 2)).all()
    assert np.isfinite(yolo.yolo_activate(np.full((1, 1, 7), -1e4), 2)).all()


def _loss_loops(raw, target, C, anchors, lc, ln):
    p = yolo.yolo_activate(raw, C, anchors)
    N, S, _, D = raw.shape
    total = 0.0
    for n in range(N):
        for i in range(S):
            for j in range(S):
                for b in range(D // (5 + C)):
                    q, y = p[n, i, j, b * (5 + C):(b + 1) * (5 + C)], target[n, i, j, b * (5 + C):(b + 1) * (5 + C)]
                    if y[0] == 1:
                        total += lc * ((q[1] - y[1]) ** 2 + (q[2] - y[2]) ** 2
                                       + (np.sqrt(q[3]) - np.sqrt(y[3])) ** 2 + (np.sqrt(q[4]) - np.sqrt(y[4])) ** 2)
                        total += (q[0] - 1) ** 2 + np.sum((q[5:] - y[5:]) ** 2)
                    else:
                        total += ln * q[0] ** 2
    return total / N


def _batch(g, N, H, W, S, C, anchors):
    targets = []
    for _ in range(N):
        boxes = np.clip(_random_boxes(g, 5, H, W), 0, [W, H, W, H])
        targets.append(yolo.yolo_encode(boxes, g.integers(0, C, 5), (H, W), S, C, anchors))
    return np.stack(targets)


@pytest.mark.parametrize("with_anchors", [False, True])
def test_loss_matches_loops_and_numerical_gradient(with_anchors):
    g = np.random.default_rng(3)
    anchors = np.array([[0.3, 0.2], [0.1, 0.4]]) if with_anchors else None
    B, C, S = (2 if with_anchors else 1), 3, 3
    target = _batch(g, 2, 60, 90, S, C, anchors)
    raw = g.normal(size=(2, S, S, B * (5 + C)))
    loss, draw = yolo.yolo_loss(raw, target, C, anchors, lambda_coord=5.0, lambda_noobj=0.5)
    assert abs(loss - _loss_loops(raw, target, C, anchors, 5.0, 0.5)) < 1e-10
    num = ref.eval_numerical_gradient_array(lambda r: np.array(yolo.yolo_loss(r, target, C, anchors)[0]), raw.copy(), np.array(1.0))
    assert ref.rel_error(draw, num) < 1e-7, f"gradient rel error {ref.rel_error(draw, num)}"


def test_loss_weights_and_perfect_prediction():
    g = np.random.default_rng(4)
    target = _batch(g, 1, 64, 64, 4, 2, None)
    raw = g.normal(size=target.shape)
    base = yolo.yolo_loss(raw, target, 2, lambda_coord=0.0, lambda_noobj=0.0)[0]
    assert yolo.yolo_loss(raw, target, 2, lambda_coord=1.0, lambda_noobj=0.0)[0] > base
    # a prediction equal to the target (up to saturated sigmoids) costs almost nothing
    t = target.reshape(1, 4, 4, 1, 7)
    logit = lambda q: np.log(np.clip(q, 1e-12, 1 - 1e-12) / (1 - np.clip(q, 1e-12, 1 - 1e-12)))
    raw = np.concatenate([logit(t[..., :5]), np.where(t[..., 5:] == 1, 30.0, 0.0)], axis=-1).reshape(target.shape)
    assert yolo.yolo_loss(raw, target, 2)[0] < 1e-9


# ---------------------------------------------------------------------- bad input


def _msg(e):
    return str(e.value)


def test_bad_inputs():
    box, lab = np.array([[0, 0, 10, 10.0]]), np.array([0])
    raw = np.zeros((1, 2, 2, 7))
    cases = [
        (lambda: yolo.yolo_encode(np.array([[200, 0, 210, 10.0]]), lab, (100, 100), 2, 2), "outside"),
        (lambda: yolo.yolo_encode(np.array([[5, 0, 1, 10.0]]), lab, (100, 100), 2, 2), "x2 < x1"),
        (lambda: yolo.yolo_encode(box, np.array([2]), (100, 100), 2, 2), "0..1"),
        (lambda: yolo.yolo_encode(box, np.array([0.0]), (100, 100), 2, 2), "integer"),
        (lambda: yolo.yolo_encode(box, np.array([0, 1]), (100, 100), 2, 2), "(1,)"),
        (lambda: yolo.yolo_encode(box, lab, 100, 2, 2), "image_size"),
        (lambda: yolo.yolo_encode(box, lab, (100, 0), 2, 2), "image_size"),
        (lambda: yolo.yolo_encode(box, lab, (100, 100), 0, 2), "grid_size"),
        (lambda: yolo.yolo_encode(box, lab, (100, 100), 2, 2, np.array([[0.1, 0.0]])), "anchors[0]"),
        (lambda: yolo.yolo_encode(box, lab, (100, 100), 2, 2, np.zeros((2, 3))), "(K, 2)"),
        (lambda: yolo.yolo_decode(np.zeros((2, 2, 8)), (100, 100), 2), "multiple of 5 + C"),
        (lambda: yolo.yolo_decode(np.zeros((2, 3, 7)), (100, 100), 2), "square"),
        (lambda: yolo.yolo_decode(np.zeros((1, 2, 2, 7)), (100, 100), 2), "(S, S, B*(5+C))"),
        (lambda: yolo.yolo_loss(raw, np.zeros((1, 2, 2, 8)), 2), "target"),
        (lambda: yolo.yolo_loss(raw, np.full((1, 2, 2, 7), 0.5), 2), "0 or 1"),
        (lambda: yolo.yolo_loss(np.zeros((1, 2, 2, 14)), np.zeros((1, 2, 2, 14)), 2, np.ones((3, 2))), "3*7"),
        (lambda: yolo.yolo_loss(raw, raw, 2, lambda_coord=-1.0), "lambda_coord"),
        (lambda: yolo.yolo_activate(np.zeros((2, 2)), 2), "shape"),
        (lambda: yolo.assign_anchors(np.ones((1, 2)), None), "anchors"),
    ]
    for call, needle in cases:
        with pytest.raises(ValueError) as e:
            call()
        assert needle in _msg(e), (needle, _msg(e))


def test_empty_image():
    y, dropped = yolo.yolo_encode(np.zeros((0, 4)), np.zeros(0, np.int64), (50, 50), 5, 3, return_dropped=True)
    assert y.shape == (5, 5, 8) and not y.any() and dropped.shape == (0,)
    b, s, l = yolo.yolo_decode(y, (50, 50), 3)
    assert b.shape == (0, 4) and s.shape == (0,) and l.shape == (0,) and l.dtype == np.int64
