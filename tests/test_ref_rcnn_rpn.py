"""cnn_course.ref box-regression targets, anchors, anchor labels and sampling, the RPN loss and
proposals: hand cases, independent loops, numerical gradients and bad input."""

import math

import numpy as np
import pytest

from cnn_course import ref
from cnn_course.ref import rcnn
from test_ref_boxes import iou_loop, nms_loop, random_boxes

# ---------------------------------------------------------------------- encode / decode


def encode_loop(p, g, weights=(1, 1, 1, 1)):
    pw, ph = p[2] - p[0], p[3] - p[1]
    gw, gh = g[2] - g[0], g[3] - g[1]
    px, py, gx, gy = p[0] + pw / 2, p[1] + ph / 2, g[0] + gw / 2, g[1] + gh / 2
    wx, wy, ww, wh = weights
    return [wx * (gx - px) / pw, wy * (gy - py) / ph, ww * math.log(gw / pw), wh * math.log(gh / ph)]


def positive_boxes(g, n, size=100.0):
    xy = g.uniform(-10, size, (n, 2))
    wh = g.uniform(0.5, size / 2, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1)


def test_encode_hand_cases():
    p = np.array([[0, 0, 10, 20.0]])
    np.testing.assert_allclose(ref.encode_boxes(p, np.array([[5, 5, 15, 25.0]])), [[0.5, 0.25, 0, 0]], atol=1e-15)
    # wider and lower: x and y are not interchangeable
    np.testing.assert_allclose(ref.encode_boxes(p, np.array([[0, 0, 20, 10.0]])),
                               [[0.5, -0.25, math.log(2), math.log(0.5)]], atol=1e-15)
    # the weights multiply: Fast R-CNN's box head uses (10, 10, 5, 5)
    np.testing.assert_allclose(ref.encode_boxes(p, np.array([[0, 0, 20, 10.0]]), (10, 10, 5, 5)),
                               [[5, -2.5, 5 * math.log(2), 5 * math.log(0.5)]], atol=1e-14)
    # widths are x2 - x1 (no +1)
    assert ref.encode_boxes(np.array([[0, 0, 1, 1.0]]), np.array([[0, 0, 2, 1.0]]))[0, 2] == math.log(2)


@pytest.mark.parametrize("weights", [(1, 1, 1, 1), (10, 10, 5, 5), (2.0, 0.5, 3.0, 1.5)])
@pytest.mark.parametrize("seed", range(3))
def test_encode_matches_loops_and_decode_inverts_it(seed, weights):
    g = np.random.default_rng(seed)
    p, gt = positive_boxes(g, 40), positive_boxes(g, 40)
    t = ref.encode_boxes(p, gt, weights)
    np.testing.assert_allclose(t, [encode_loop(a, b, weights) for a, b in zip(p, gt)], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ref.decode_boxes(p, t, weights), gt, rtol=1e-12, atol=1e-10)
    d = g.normal(size=(40, 4))
    np.testing.assert_allclose(ref.encode_boxes(p, ref.decode_boxes(p, d, weights), weights), d, rtol=1e-10, atol=1e-10)
    # float32 stays float32
    assert ref.encode_boxes(p.astype(np.float32), gt.astype(np.float32)).dtype == np.float32
    assert ref.decode_boxes(p.astype(np.float32), d.astype(np.float32)).dtype == np.float32


def test_decode_clamps_the_log_sizes():
    p = np.array([[0, 0, 16, 16.0]])
    out = ref.decode_boxes(p, np.array([[0, 0, 100.0, -3.0]]))
    assert abs((out[0, 2] - out[0, 0]) - 1000) < 1e-9  # 16·exp(log(1000/16))
    assert abs((out[0, 3] - out[0, 1]) - 16 * math.exp(-3)) < 1e-12  # only the upper side is clamped
    out = ref.decode_boxes(p, np.array([[0, 0, 100.0, 0]]), (1, 1, 2, 1))  # the clamp applies after the weight
    assert abs((out[0, 2] - out[0, 0]) - 1000) < 1e-9
    assert rcnn.BBOX_XFORM_CLIP == math.log(1000 / 16)


def test_encode_decode_bad_input():
    p = np.array([[0, 0, 10, 10.0]])
    for call, needle in [
        (lambda: ref.encode_boxes(np.array([[0, 0, 0, 10.0]]), p), "zero width or height"),
        (lambda: ref.encode_boxes(p, np.array([[3, 3, 3, 4.0]])), "gt[0]"),
        (lambda: ref.encode_boxes(p, np.zeros((2, 4))), "one row each"),
        (lambda: ref.encode_boxes(p, np.array([[5, 0, 1, 10.0]])), "x2 < x1"),
        (lambda: ref.encode_boxes(p, p, (1, 1, 1)), "weights"),
        (lambda: ref.encode_boxes(p, p, (1, 1, 0, 1)), "weights"),
        (lambda: ref.decode_boxes(p, np.zeros((1, 3))), "(N, 4)"),
        (lambda: ref.decode_boxes(p, np.array([[0, 0, np.inf, 0]])), "not finite"),
        (lambda: ref.decode_boxes(p, np.zeros((1, 4), np.int64)), "floating-point"),
    ]:
        with pytest.raises(ValueError) as e:
            call()
        assert needle in str(e.value), str(e.value)
    assert ref.encode_boxes(np.zeros((0, 4)), np.zeros((0, 4))).shape == (0, 4)
    assert ref.decode_boxes(np.zeros((0, 4)), np.zeros((0, 4))).shape == (0, 4)


# ---------------------------------------------------------------------- anchors


def test_generate_anchors_hand_case():
    a = ref.generate_anchors((2, 3), 16, [32], [1.0])
    assert a.shape == (6, 4)
    np.testing.assert_array_equal(a[:3], [[-16, -16, 16, 16], [0, -16, 32, 16], [16, -16, 48, 16]])
    np.testing.assert_array_equal(a[3], [-16, 0, 16, 32])  # row-major: the second row of positions
    centred = ref.generate_anchors((2, 3), 16, [32], [1.0], offset=0.5)
    np.testing.assert_array_equal(centred[0], [-8, -8, 24, 24])


def test_generate_anchors_shapes_order_and_areas():
    sizes, ratios = [32, 64, 128], [0.5, 1.0, 2.0]
    a = ref.generate_anchors((3, 4), (8, 16), sizes, ratios)
    A = 9
    assert a.shape == (3 * 4 * A, 4)
    w, h = a[:, 2] - a[:, 0], a[:, 3] - a[:, 1]
    for r, ratio in enumerate(ratios):
        for i, s in enumerate(sizes):
            k = r * len(sizes) + i  # ratio-major, as torchvision
            np.testing.assert_allclose(w[k::A] * h[k::A], s * s)
            np.testing.assert_allclose(h[k::A] / w[k::A], ratio)
    cx, cy = (a[:, 0] + a[:, 2]) / 2, (a[:, 1] + a[:, 3]) / 2
    y, x = 2, 3  # stride (sy, sx) = (8, 16)
    at = slice((y * 4 + x) * A, (y * 4 + x + 1) * A)
    np.testing.assert_allclose(cx[at], 48.0, rtol=1e-14)
    np.testing.assert_allclose(cy[at], 16.0, rtol=1e-14)


def test_generate_anchors_bad_input():
    for args, needle in [(((0, 3), 16, [32], [1]), "feature_size"), (((2, 3), 0, [32], [1]), "stride"),
                         (((2, 3), 16, [], [1]), "sizes"), (((2, 3), 16, [32], [-1]), "aspect_ratios"),
                         (((2, 3), 16, [32], [1], float("nan")), "offset")]:
        with pytest.raises(ValueError) as e:
            ref.generate_anchors(*args)
        assert needle in str(e.value)


# ---------------------------------------------------------------------- labels and sampling


def label_loop(anchors, gt, pos, neg):
    A, G = len(anchors), len(gt)
    if G == 0:
        return [0] * A
    iou = [[iou_loop(a, b) for b in gt] for a in anchors]
    labels = []
    for i in range(A):
        m = max(iou[i])
        labels.append(1 if m >= pos else 0 if m < neg else -1)
    for j in range(G):
        best = max(iou[i][j] for i in range(A))
        for i in range(A):
            if best > 0 and iou[i][j] == best:
                labels[i] = 1
    return labels


def test_label_anchors_hand_case():
    gt = np.array([[0, 0, 10, 10.0], [100, 100, 110, 110]])
    anchors = np.array([
        [0, 0, 10, 10],      # IoU 1 -> positive
        [0, 0, 10, 7],       # IoU 0.7 exactly -> positive (>=)
        [0, 0, 10, 3],       # IoU 0.3 exactly -> ignored (not < 0.3)
        [0, 0, 10, 2],       # IoU 0.2 -> negative
        [50, 50, 60, 60],    # no overlap -> negative
        [100, 100, 110, 104],  # IoU 0.4 with the second gt, its best -> positive (low-quality rule)
        [100, 106, 110, 110],  # IoU 0.4 too: a tie for the best -> positive as well
        [200, 200, 210, 210.0],
    ])
    labels, matched = rcnn.match_anchors(anchors, gt)
    assert labels.tolist() == [1, 1, -1, 0, 0, 1, 1, 0]
    assert matched.tolist() == [0, 0, 0, 0, 0, 1, 1, 0]
    assert ref.label_anchors(anchors, gt).tolist() == labels.tolist()
    # no ground truth: all negative; a ground truth that touches no anchor makes none positive
    assert ref.label_anchors(anchors, np.zeros((0, 4))).tolist() == [0] * 8
    assert ref.label_anchors(anchors[:1], np.array([[300, 300, 310, 310.0]])).tolist() == [0]
    assert ref.label_anchors(np.zeros((0, 4)), gt).shape == (0,)


@pytest.mark.parametrize("seed", range(5))
def test_label_anchors_matches_loops(seed):
    g = np.random.default_rng(seed)
    anchors = np.round(random_boxes(g, 60, size=40))  # integer corners: exact IoU ties happen
    gt = np.round(random_boxes(g, int(g.integers(0, 6)), size=40))
    pos, neg = [(0.7, 0.3), (0.5, 0.5), (0.6, 0.1), (0.7, 0.3), (0.4, 0.2)][seed]
    assert ref.label_anchors(anchors, gt, pos, neg).tolist() == label_loop(anchors, gt, pos, neg)


def test_anchor_targets():
    anchors = np.array([[0, 0, 10, 10], [0, 0, 10, 2], [20, 20, 30, 30.0]])
    gt = np.array([[1, 1, 11, 11.0], [20, 20, 31, 32]])
    labels, targets = rcnn.anchor_targets(anchors, gt)
    assert labels.tolist() == [1, 0, 1]
    np.testing.assert_allclose(targets[0], encode_loop(anchors[0], gt[0]))
    np.testing.assert_allclose(targets[2], encode_loop(anchors[2], gt[1]))
    assert (targets[1] == 0).all()


def test_sample_anchors():
    labels = np.array([1] * 10 + [0] * 500 + [-1] * 30)
    s = ref.sample_anchors(labels, 256, 0.5, np.random.default_rng(0))
    assert (s == 1).sum() == 10 and (s == 0).sum() == 246  # few positives: negatives fill the batch
    assert ((s >= 0) <= (labels >= 0)).all() and (s[labels == 0] != 1).all() and (s[labels == 1] != 0).all()
    assert s.tolist() == ref.sample_anchors(labels, 256, 0.5, np.random.default_rng(0)).tolist()
    labels = np.array([1] * 300 + [0] * 50)
    s = ref.sample_anchors(labels, 256, 0.5, np.random.default_rng(1))
    assert (s == 1).sum() == 128 and (s == 0).sum() == 50  # at most 128 positives; all 50 negatives
    s = ref.sample_anchors(labels, 10, 0.25, np.random.default_rng(1))
    assert (s == 1).sum() == 2 and (s == 0).sum() == 8  # int(10 * 0.25) = 2
    assert ref.sample_anchors(np.zeros(0, np.int64), rng=np.random.default_rng(0)).shape == (0,)
    for kwargs, needle in [({"rng": None}, "Generator"), ({"rng": np.random.default_rng(0), "batch_size": 0}, "batch_size"),
                           ({"rng": np.random.default_rng(0), "positive_fraction": 1.5}, "positive_fraction")]:
        with pytest.raises(ValueError) as e:
            ref.sample_anchors(labels, **kwargs)
        assert needle in str(e.value)
    with pytest.raises(ValueError, match="1 \\(positive\\), 0"):
        ref.sample_anchors(np.array([2, 0]), rng=np.random.default_rng(0))


# ---------------------------------------------------------------------- RPN loss


def rpn_loss_loops(z, d, labels, t, beta):
    S = sum(1 for y in labels if y >= 0)
    obj = box = 0.0
    for i, y in enumerate(labels):
        if y < 0:
            continue
        p = 1 / (1 + math.exp(-z[i]))
        obj -= math.log(p) if y == 1 else math.log(1 - p)
        if y == 1:
            for k in range(4):
                a = abs(d[i, k] - t[i, k])
                box += 0.5 * a * a / beta if a < beta else a - 0.5 * beta
    return (obj / S, box / S) if S else (0.0, 0.0)


@pytest.mark.parametrize("beta", [1 / 9, 1.0])
def test_rpn_loss_matches_loops_and_numerical_gradients(beta):
    g = np.random.default_rng(4)
    A = 30
    z, d, t = g.normal(size=A) * 2, g.normal(size=(A, 4)) * 0.5, g.normal(size=(A, 4)) * 0.5
    labels = g.integers(-1, 2, A)
    obj, box, dz, dd = ref.rpn_loss(z, d, labels, t, beta)
    eo, eb = rpn_loss_loops(z, d, labels, t, beta)
    assert abs(obj - eo) < 1e-12 and abs(box - eb) < 1e-12
    num_z = ref.eval_numerical_gradient_array(lambda q: np.array(ref.rpn_loss(q, d, labels, t, beta)[0]), z.copy(), np.array(1.0))
    num_d = ref.eval_numerical_gradient_array(lambda q: np.array(ref.rpn_loss(z, q, labels, t, beta)[1]), d.copy(), np.array(1.0))
    assert ref.rel_error(dz, num_z) < 1e-7 and ref.rel_error(dd, num_d) < 1e-7
    assert (dz[labels < 0] == 0).all() and (dd[labels != 1] == 0).all()


def test_rpn_loss_edge_cases():
    z, d = np.array([0.0, 100.0, -100.0]), np.zeros((3, 4))
    obj, box, dz, dd = ref.rpn_loss(z, d, np.array([-1, -1, -1]), d)
    assert obj == 0 and box == 0 and (dz == 0).all() and (dd == 0).all()
    obj, _, _, _ = ref.rpn_loss(z, d, np.array([0, 1, 0]), d)  # confident and right: no overflow
    assert obj == pytest.approx(math.log(2) / 3, rel=1e-12)
    obj, _, _, _ = ref.rpn_loss(z, d, np.array([-1, 0, 1]), d)  # confident and wrong: 100 each, finite
    assert obj == pytest.approx(100.0, rel=1e-9)
    for args, needle in [((z, d[:2], np.array([0, 1, 0]), d), "deltas"), ((z, d, np.array([0, 1]), d), "labels"),
                         ((z, d, np.array([0, 1, 0.0]), d), "integers"), ((z, d, np.array([0, 1, 0]), d, 0), "beta")]:
        with pytest.raises(ValueError) as e:
            ref.rpn_loss(*args)
        assert needle in str(e.value)


# ---------------------------------------------------------------------- proposals


def proposals_loop(anchors, z, deltas, H, W, pre, post, t, min_size):
    boxes = []
    for a, d in zip(anchors, deltas):
        pw, ph = a[2] - a[0], a[3] - a[1]
        cx, cy = a[0] + pw / 2 + d[0] * pw, a[1] + ph / 2 + d[1] * ph
        w, h = pw * math.exp(min(d[2], math.log(1000 / 16))), ph * math.exp(min(d[3], math.log(1000 / 16)))
        b = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
        boxes.append([min(max(b[0], 0), W), min(max(b[1], 0), H), min(max(b[2], 0), W), min(max(b[3], 0), H)])
    idx = [i for i, b in enumerate(boxes) if b[2] - b[0] >= min_size and b[3] - b[1] >= min_size]
    idx = sorted(idx, key=lambda i: (-z[i], i))[:pre]
    kept = [idx[k] for k in nms_loop(np.array([boxes[i] for i in idx]).reshape(-1, 4), z[idx], t)][:post]
    return np.array([boxes[i] for i in kept]).reshape(-1, 4), 1 / (1 + np.exp(-z[kept]))


@pytest.mark.parametrize("seed", range(4))
def test_proposals_match_loops(seed):
    g = np.random.default_rng(seed)
    anchors = ref.generate_anchors((6, 7), 8, [16, 32], [0.5, 1, 2], offset=0.5)
    A = len(anchors)
    z = np.round(g.normal(size=A), 1)  # ties in the scores
    deltas = g.normal(size=(A, 4)) * [0.3, 0.3, 0.5, 0.5]
    pre, post, t, ms = [(2000, 2000, 0.7, 1e-3), (50, 20, 0.5, 4.0), (100, 5, 0.3, 0.0), (10, 100, 1.0, 8.0)][seed]
    boxes, scores = ref.proposals_after_nms(anchors, z, deltas, (48, 56), pre, post, t, ms)
    eb, es = proposals_loop(anchors, z, deltas, 48, 56, pre, post, t, ms)
    np.testing.assert_allclose(boxes, eb, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(scores, es, rtol=1e-12)
    assert len(boxes) <= post and (boxes >= 0).all() and (boxes[:, [0, 2]] <= 56).all() and (boxes[:, [1, 3]] <= 48).all()
    assert (np.diff(scores) <= 0).all()
    if len(boxes) > 1:
        iou = ref.box_iou(boxes, boxes)
        assert (iou[np.triu_indices(len(boxes), 1)] <= t).all()


def test_proposals_hand_case_and_bad_input():
    anchors = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [-20, -20, -10, -10.0]])
    z = np.array([2.0, 3.0, 1.0, 5.0])
    boxes, scores = ref.proposals_after_nms(anchors, z, np.zeros((4, 4)), (40, 40), 10, 10, 0.5, 1.0)
    # anchor 3 is clipped to a point and dropped; anchor 0 overlaps anchor 1 (IoU 0.68) and is suppressed;
    # anchor 2 is clipped to (50..40) -> empty -> dropped
    np.testing.assert_array_equal(boxes, [[1, 1, 11, 11]])
    np.testing.assert_allclose(scores, [1 / (1 + math.exp(-3))])
    for kwargs, needle in [({"image_size": (0, 40)}, "image_size"), ({"pre_nms_top_n": 0}, "pre_nms_top_n"),
                           ({"iou_threshold": 2}, "iou_threshold"), ({"min_size": -1}, "min_size")]:
        args = dict(image_size=(40, 40), pre_nms_top_n=10, post_nms_top_n=10, iou_threshold=0.5, min_size=1.0)
        args.update(kwargs)
        with pytest.raises(ValueError) as e:
            ref.proposals_after_nms(anchors, z, np.zeros((4, 4)), **args)
        assert needle in str(e.value)
    with pytest.raises(ValueError, match="objectness"):
        ref.proposals_after_nms(anchors, z[:3], np.zeros((4, 4)), (40, 40))
    b, s = ref.proposals_after_nms(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 4)), (40, 40))
    assert b.shape == (0, 4) and s.shape == (0,)
