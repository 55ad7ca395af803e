"""cnn_course.pt.yolo against its NumPy twin cnn_course.ref.yolo: encoding, decoding, activation, loss and gradient."""

import numpy as np
import pytest
import torch

from cnn_course.pt import yolo as pty
from cnn_course.ref import yolo as refy
from test_ref_yolo import _batch, _random_boxes

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _t(a, device="cpu"):
    return torch.from_numpy(np.ascontiguousarray(a)).to(device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("seed", range(6))
def test_encode_and_decode_agree(seed, device):
    g = np.random.default_rng(seed)
    H, W, S, C = int(g.integers(40, 200)), int(g.integers(40, 200)), int(g.integers(1, 8)), int(g.integers(1, 5))
    anchors = g.uniform(0.05, 0.5, (int(g.integers(1, 4)), 2)) if seed % 2 else None
    boxes = np.clip(_random_boxes(g, int(g.integers(0, 15)), H, W), 0, [W, H, W, H])
    if seed == 0:
        boxes = np.round(boxes / 4) * 4  # centres on cell borders
    labels = g.integers(0, C, len(boxes))
    y, dropped = refy.yolo_encode(boxes, labels, (H, W), S, C, anchors, return_dropped=True)
    ty, tdropped = pty.yolo_encode(_t(boxes, device), _t(labels, device), (H, W), S, C,
                                   None if anchors is None else _t(anchors, device), dtype=torch.float64, return_dropped=True)
    assert ty.device.type == device and ty.dtype == torch.float64
    np.testing.assert_allclose(ty.cpu().numpy(), y, rtol=0, atol=1e-12)
    assert tdropped.tolist() == dropped.tolist()
    assert pty.yolo_encode(_t(boxes), _t(labels), (H, W), S, C).dtype == torch.get_default_dtype()
    # decode random predictions (in the target's units) and the target itself
    B = 1 if anchors is None else len(anchors)
    pred = refy.yolo_activate(g.normal(size=(S, S, B * (5 + C))), C)
    for p, thr, nms in ((pred, 0.3, None), (pred, 0.1, 0.5), (y, 0.5, None)):
        ours = pty.yolo_decode(_t(p, device), (H, W), C, thr, nms)
        theirs = refy.yolo_decode(p, (H, W), C, thr, nms)
        for name, a, b in zip(("boxes", "scores", "labels"), ours, theirs):
            assert tuple(a.shape) == b.shape, name
            np.testing.assert_allclose(a.cpu().numpy(), b, rtol=1e-12, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("with_anchors", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_activation_loss_and_gradient_agree(with_anchors, dtype):
    g = np.random.default_rng(5)
    anchors = np.array([[0.3, 0.2], [0.1, 0.4]]) if with_anchors else None
    B, C, S = (2 if with_anchors else 1), 3, 4
    target = _batch(g, 3, 64, 80, S, C, anchors)
    raw = g.normal(size=(3, S, S, B * (5 + C)))
    ta = None if anchors is None else _t(anchors)
    traw = _t(raw).to(dtype).requires_grad_()
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(pty.yolo_activate(traw, C, ta).detach().numpy(), refy.yolo_activate(raw, C, anchors), **tol)
    loss = pty.yolo_loss(traw, _t(target).to(dtype), C, ta, lambda_coord=4.0, lambda_noobj=0.25)
    loss.backward()
    ref_loss, ref_grad = refy.yolo_loss(raw, target, C, anchors, lambda_coord=4.0, lambda_noobj=0.25)
    assert loss.dtype == dtype and loss.ndim == 0
    np.testing.assert_allclose(loss.item(), ref_loss, **tol)
    np.testing.assert_allclose(traw.grad.numpy(), ref_grad, **tol)
    assert torch.isfinite(traw.grad).all()


def test_assign_anchors_ties_go_to_the_lower_index():
    anchors = torch.tensor([[1.0, 1.0], [1.0, 1.0], [3.0, 1.0]])
    assert pty.assign_anchors(torch.tensor([[1.0, 1.0], [2.5, 1.0], [0.0, 0.0]]), anchors).tolist() == [0, 2, 0]
    np.testing.assert_allclose(pty.anchor_iou(torch.tensor([[2.0, 1.0]]), torch.tensor([[1.0, 2.0], [4.0, 2.0]])).numpy(),
                               [[1 / 3, 0.25]])


def test_bad_inputs_give_the_reference_messages():
    box, lab = np.array([[0, 0, 10, 10.0]]), np.array([0])
    cases = [
        (lambda m, t: m.yolo_encode(t(np.array([[200, 0, 210, 10.0]])), t(lab), (100, 100), 2, 2), "outside"),
        (lambda m, t: m.yolo_encode(t(box), t(np.array([2])), (100, 100), 2, 2), "0..1"),
        (lambda m, t: m.yolo_encode(t(box), t(lab), (100, 100), 2, 2, t(np.array([[0.1, 0.0]]))), "anchors[0]"),
        (lambda m, t: m.yolo_decode(t(np.zeros((2, 2, 8))), (100, 100), 2), "multiple of 5 + C"),
        (lambda m, t: m.yolo_loss(t(np.zeros((1, 2, 2, 7))), t(np.full((1, 2, 2, 7), 0.5)), 2), "0 or 1"),
        (lambda m, t: m.yolo_loss(t(np.zeros((1, 2, 2, 7))), t(np.zeros((1, 2, 2, 8))), 2), "target"),
    ]
    for call, needle in cases:
        for module, conv in ((refy, lambda a: a), (pty, _t)):
            with pytest.raises(ValueError) as e:
                call(module, conv)
            assert needle in str(e.value), (module.__name__, needle, str(e.value))
