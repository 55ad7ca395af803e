"""cnn_course.pt box regression, anchors, labels, sampling, RPN loss and proposals against the NumPy twins."""

import numpy as np
import pytest
import torch

from cnn_course import pt, ref
from cnn_course.pt import rcnn as ptr
from test_ref_boxes import random_boxes
from test_ref_rcnn_rpn import positive_boxes

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _t(a, device="cpu"):
    return torch.from_numpy(np.ascontiguousarray(a)).to(device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_encode_decode_agree(dtype, device):
    g = np.random.default_rng(0)
    p, gt, d = positive_boxes(g, 30).astype(dtype), positive_boxes(g, 30).astype(dtype), g.normal(size=(30, 4)).astype(dtype)
    d[0, 2] = 50.0  # clamped
    tol = dict(rtol=1e-5, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-10)
    for w in ((1, 1, 1, 1), (10, 10, 5, 5)):
        te = pt.encode_boxes(_t(p, device), _t(gt, device), w)
        assert te.device.type == device and te.dtype == _t(p).dtype
        np.testing.assert_allclose(te.cpu().numpy(), ref.encode_boxes(p, gt, w), **tol)
        np.testing.assert_allclose(pt.decode_boxes(_t(p, device), _t(d, device), w).cpu().numpy(),
                                   ref.decode_boxes(p, d, w), **tol)


def test_encode_decode_are_differentiable_and_validated():
    g = np.random.default_rng(1)
    p = _t(positive_boxes(g, 5))
    d = torch.tensor(g.normal(size=(5, 4)), requires_grad=True)
    assert torch.autograd.gradcheck(lambda q: pt.decode_boxes(p, q, (10, 10, 5, 5)), (d,))
    gt = _t(positive_boxes(g, 5)).requires_grad_()
    assert torch.autograd.gradcheck(lambda q: pt.encode_boxes(p, q), (gt,))
    for call, needle in [(lambda: pt.encode_boxes(torch.tensor([[0, 0, 0, 1.0]]), torch.tensor([[0, 0, 1, 1.0]])), "zero width"),
                         (lambda: pt.decode_boxes(p, torch.zeros(5, 3)), "(N, 4)"),
                         (lambda: pt.decode_boxes(p, torch.zeros(4, 4)), "one row each"),
                         (lambda: pt.encode_boxes(p, p, (1, 1, 1)), "weights")]:
        with pytest.raises(ValueError) as e:
            call()
        assert needle in str(e.value)


def test_generate_anchors_agree():
    for args in (((2, 3), 16, [32], [1.0]), ((3, 4), (8, 16), [32, 64, 128], [0.5, 1.0, 2.0], 0.5)):
        np.testing.assert_allclose(pt.generate_anchors(*args).numpy(), ref.generate_anchors(*args), rtol=1e-15)
    assert pt.generate_anchors((2, 2), 4, [8], [1], dtype=torch.float32).dtype == torch.float32


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("seed", range(5))
def test_labels_and_targets_agree(seed, device):
    g = np.random.default_rng(seed)
    anchors = np.round(random_boxes(g, 80, size=40)) + [0, 0, 1, 1]
    gt = np.round(random_boxes(g, int(g.integers(0, 6)), size=40)) + [0, 0, 1, 1]
    labels, matched = ref.match_anchors(anchors, gt, 0.6, 0.2)
    tl, tm = pt.match_anchors(_t(anchors, device), _t(gt, device), 0.6, 0.2)
    assert tl.device.type == device
    assert tl.tolist() == labels.tolist() and tm.tolist() == matched.tolist()
    assert pt.label_anchors(_t(anchors), _t(gt), 0.6, 0.2).tolist() == labels.tolist()
    rl, rt = ref.anchor_targets(anchors, gt, 0.6, 0.2, (10, 10, 5, 5))
    pl, ptt = pt.anchor_targets(_t(anchors, device), _t(gt, device), 0.6, 0.2, (10, 10, 5, 5))
    assert pl.tolist() == rl.tolist()
    np.testing.assert_allclose(ptt.cpu().numpy(), rt, rtol=1e-12, atol=1e-12)


def test_sample_anchors_counts():
    labels = torch.tensor([1] * 10 + [0] * 500 + [-1] * 30)
    s = pt.sample_anchors(labels, 256, 0.5, torch.Generator().manual_seed(0))
    assert int((s == 1).sum()) == 10 and int((s == 0).sum()) == 246
    assert bool(((s >= 0) <= (labels >= 0)).all()) and bool((s[labels == 0] != 1).all())
    assert torch.equal(s, pt.sample_anchors(labels, 256, 0.5, torch.Generator().manual_seed(0)))
    s = pt.sample_anchors(torch.tensor([1] * 300 + [0] * 50), 256, 0.5, torch.Generator().manual_seed(1))
    assert int((s == 1).sum()) == 128 and int((s == 0).sum()) == 50
    with pytest.raises(ValueError, match="Generator"):
        pt.sample_anchors(labels, 256, 0.5, None)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rpn_loss_agrees_with_gradients(dtype):
    g = np.random.default_rng(4)
    A = 40
    z, d, t = g.normal(size=A) * 3, g.normal(size=(A, 4)) * 0.3, g.normal(size=(A, 4)) * 0.3
    labels = g.integers(-1, 2, A)
    obj, box, dz, dd = ref.rpn_loss(z, d, labels, t)
    tz, td = _t(z).to(dtype).requires_grad_(), _t(d).to(dtype).requires_grad_()
    tobj, tbox = pt.rpn_loss(tz, td, _t(labels), _t(t))
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose([tobj.item(), tbox.item()], [obj, box], **tol)
    (tobj + tbox).backward()
    np.testing.assert_allclose(tz.grad.numpy(), dz, **tol)
    np.testing.assert_allclose(td.grad.numpy(), dd, **tol)
    o, b = pt.rpn_loss(tz, td, torch.full((A,), -1), _t(t))
    assert o.item() == 0 and b.item() == 0
    with pytest.raises(ValueError, match="labels"):
        pt.rpn_loss(tz, td, torch.zeros(A - 1, dtype=torch.int64), _t(t))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("seed", range(4))
def test_proposals_agree(seed, device):
    g = np.random.default_rng(seed)
    anchors = ref.generate_anchors((6, 7), 8, [16, 32], [0.5, 1, 2], offset=0.5)
    A = len(anchors)
    z = np.round(g.normal(size=A), 1)
    deltas = g.normal(size=(A, 4)) * [0.3, 0.3, 0.5, 0.5]
    pre, post, t, ms = [(2000, 2000, 0.7, 1e-3), (50, 20, 0.5, 4.0), (100, 5, 0.3, 0.0), (10, 100, 1.0, 8.0)][seed]
    boxes, scores = ref.proposals_after_nms(anchors, z, deltas, (48, 56), pre, post, t, ms)
    tb, ts = pt.proposals_after_nms(_t(anchors, device), _t(z, device), _t(deltas, device), (48, 56), pre, post, t, ms)
    assert tb.device.type == device
    np.testing.assert_allclose(tb.cpu().numpy(), boxes, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ts.cpu().numpy(), scores, rtol=1e-12)


def test_exports():
    for name in ("encode_boxes", "decode_boxes", "generate_anchors", "label_anchors", "match_anchors",
                 "anchor_targets", "sample_anchors", "rpn_loss", "proposals_after_nms", "roi_pool", "roi_align"):
        assert getattr(pt, name) is getattr(ptr, name)
        assert callable(getattr(ref, name))
