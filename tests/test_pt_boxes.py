"""cnn_course.pt.boxes against its NumPy twin cnn_course.ref.boxes (torchvision cannot be imported here)."""

import numpy as np
import pytest
import torch

from cnn_course import pt, ref
from test_ref_boxes import HAND_IOU, random_boxes

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
DTYPES = {np.float32: torch.float32, np.float64: torch.float64}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _t(a, device="cpu"):
    return torch.from_numpy(np.ascontiguousarray(a)).to(device)


@pytest.mark.parametrize("a, b, expected, what", HAND_IOU, ids=[c[3] for c in HAND_IOU])
def test_iou_hand_cases(a, b, expected, what):
    for dtype in (torch.float32, torch.float64, torch.int64):
        out = pt.box_iou(torch.tensor([a], dtype=dtype), torch.tensor([b], dtype=dtype))
        assert out.dtype == (torch.float64 if dtype == torch.int64 else dtype)
        assert torch.isfinite(out).all(), what
        np.testing.assert_allclose(out.item(), expected, rtol=1e-6, atol=0, err_msg=what)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(6))
def test_twins_agree_on_random_boxes(seed, dtype, device):
    g = np.random.default_rng(seed)
    n, m = (int(k) for k in g.integers(0, 40, 2))
    integer = seed % 2 == 0  # integer corners: exact ties in IoU, touching boxes
    b1, b2 = random_boxes(g, n, dtype, 30.0, integer), random_boxes(g, m, dtype, 30.0, integer)
    scores = np.round(g.uniform(0, 1, n), 1).astype(dtype)
    labels = g.integers(0, 3, n)
    t1, t2, ts, tl = _t(b1, device), _t(b2, device), _t(scores, device), _t(labels, device)
    tol = dict(rtol=1e-6, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-14, atol=1e-15)
    for name, ours, theirs in [
        ("box_iou", pt.box_iou(t1, t2), ref.box_iou(b1, b2)),
        ("box_area", pt.box_area(t1), ref.box_area(b1)),
        ("corners_to_centers", pt.corners_to_centers(t1), ref.corners_to_centers(b1)),
        ("centers_to_corners", pt.centers_to_corners(pt.corners_to_centers(t1)),
         ref.centers_to_corners(ref.corners_to_centers(b1))),
    ]:
        assert ours.dtype == DTYPES[dtype] and ours.device.type == device, name
        assert tuple(ours.shape) == theirs.shape, name
        np.testing.assert_allclose(ours.cpu().numpy(), theirs, err_msg=name, **tol)
    for t in (0.0, 0.3, 0.5, 1.0):
        keep = pt.nms(t1, ts, t)
        assert keep.dtype == torch.int64 and keep.device.type == device
        assert keep.tolist() == ref.nms(b1, scores, t).tolist(), f"nms, threshold {t}"
        keep = pt.batched_nms(t1, ts, tl, t)
        assert keep.tolist() == ref.batched_nms(b1, scores, labels, t).tolist(), f"batched_nms, threshold {t}"


def test_nms_ties_and_threshold_equality():
    boxes = torch.tensor([[0, 0, 3, 1], [1, 0, 4, 1], [0, 0, 3, 1]], dtype=torch.float32)  # IoU(0, 1) = 0.5
    scores = torch.tensor([0.5, 0.9, 0.5])
    assert pt.nms(boxes, scores, 0.5).tolist() == [1, 0]  # 0.5 is not > 0.5; box 2 ties box 0, ranks after it
    assert pt.nms(boxes, scores, 0.49).tolist() == [1]
    labels = torch.tensor([0, 1, 2])
    assert pt.batched_nms(boxes, scores, labels, 0.0).tolist() == [1, 0, 2]


def test_iou_gradient_is_finite_for_disjoint_and_degenerate_boxes():
    a = torch.tensor([[0.0, 0, 2, 2], [1, 1, 1, 1], [0, 0, 1, 1]], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([[1.0, 1, 3, 3], [1, 1, 1, 1], [5, 5, 6, 6]], dtype=torch.float64, requires_grad=True)
    iou = pt.box_iou(a, b)
    iou.sum().backward()
    assert torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all()
    assert torch.autograd.gradcheck(lambda x: pt.box_iou(x, b.detach()[:1]), (a.detach()[:1].clone().requires_grad_(),))


def test_empty_inputs():
    empty = torch.zeros(0, 4)
    assert pt.box_iou(empty, torch.zeros(3, 4)).shape == (0, 3)
    assert pt.box_area(empty).shape == (0,)
    assert pt.corners_to_centers(empty).shape == (0, 4) and pt.centers_to_corners(empty).shape == (0, 4)
    for keep in (pt.nms(empty, torch.zeros(0), 0.5), pt.batched_nms(empty, torch.zeros(0), torch.zeros(0, dtype=torch.long), 0.5)):
        assert keep.shape == (0,) and keep.dtype == torch.int64


def _msg(e):
    return str(e.value)


def test_bad_input_messages_match_the_reference():
    cases = [
        (lambda m: m.box_area(np.zeros((3, 5))), "(3, 5)"),
        (lambda m: m.box_area(np.array([[0, 0, 1, 1], [4, 0, 3, 1.0]])), "boxes[1]"),
        (lambda m: m.box_iou(np.zeros((1, 4)), np.array([[0, 2, 1, 1.0]])), "y2 < y1"),
        (lambda m: m.box_area(np.array([[0, 0, np.nan, 1.0]])), "not finite"),
        (lambda m: m.centers_to_corners(np.array([[0, 0, -1, 1.0]])), "negative"),
        (lambda m: m.nms(np.zeros((3, 4)), np.zeros(2), 0.5), "(3,)"),
        (lambda m: m.nms(np.zeros((2, 4)), np.array([0, np.inf]), 0.5), "scores[1]"),
        (lambda m: m.nms(np.zeros((2, 4)), np.zeros(2), 1.5), "iou_threshold"),
        (lambda m: m.batched_nms(np.zeros((2, 4)), np.zeros(2), np.zeros(2), 0.5), "integer class"),
        (lambda m: m.batched_nms(np.zeros((2, 4)), np.zeros(2), np.zeros(3, int), 0.5), "labels"),
    ]
    for case, needle in cases:
        with pytest.raises(ValueError) as e_ref:
            case(ref)

        class Torchified:  # the same call with tensors
            def __getattr__(self, name):
                return lambda *args: getattr(pt, name)(*(_t(a) if isinstance(a, np.ndarray) else a for a in args))

        with pytest.raises(ValueError) as e_pt:
            case(Torchified())
        assert needle in _msg(e_ref) and needle in _msg(e_pt), (_msg(e_ref), _msg(e_pt))


def test_numpy_input_is_refused_with_a_clear_message():
    with pytest.raises(ValueError) as e:
        pt.box_iou(np.zeros((1, 4)), torch.zeros(1, 4))
    assert "torch.Tensor" in _msg(e) and "ndarray" in _msg(e)
