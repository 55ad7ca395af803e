"""cnn_course.pt RoI pooling and RoIAlign against their NumPy twins (forward and backward),
torch's gradcheck, the modules and bad input."""

import numpy as np
import pytest
import torch

from cnn_course import pt, ref
from cnn_course.pt import rcnn as ptr
from cnn_course.ref import rcnn as refr
from test_ref_rcnn_roi import BAD, random_rois

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _t(a, device="cpu"):
    return torch.from_numpy(np.ascontiguousarray(a)).to(device)


def _case(seed):
    g = np.random.default_rng(100 + seed)
    N, C, H, W = int(g.integers(1, 4)), int(g.integers(1, 5)), int(g.integers(1, 14)), int(g.integers(1, 14))
    scale = [1.0, 0.5, 1 / 16, 0.25, 2.0, 1 / 3][seed % 6]
    x = g.normal(size=(N, C, H, W))
    if seed % 3 == 0:
        x = np.round(x)  # ties
    rois = random_rois(g, int(g.integers(1, 15)), N, H / scale, W / scale)
    return g, x, rois, (int(g.integers(1, 5)), int(g.integers(1, 5))), scale


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(6))
def test_roi_pool_agrees_with_the_reference(seed, dtype, device):
    g, x, rois, size, scale = _case(seed)
    x, rois = x.astype(dtype), rois.astype(dtype)
    out, cache = refr.roi_pool_forward(x, rois, size, scale)
    tx = _t(x, device).requires_grad_()
    tout = pt.roi_pool(tx, _t(rois, device), size, scale)
    assert tout.dtype == tx.dtype and tout.device.type == device
    np.testing.assert_array_equal(tout.detach().cpu().numpy(), out)
    dout = g.normal(size=out.shape).astype(dtype)
    tout.backward(_t(dout, device))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(tx.grad.cpu().numpy(), refr.roi_pool_backward(dout, cache), rtol=tol, atol=tol)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(6))
def test_roi_align_agrees_with_the_reference(seed, dtype, aligned, device):
    g, x, rois, size, scale = _case(seed)
    ratio = [-1, 0, 1, 2, 3, -1][seed]
    x, rois = x.astype(dtype), rois.astype(dtype)
    out, cache = refr.roi_align_forward(x, rois, size, scale, ratio, aligned)
    tx = _t(x, device).requires_grad_()
    tout = pt.roi_align(tx, _t(rois, device), size, scale, ratio, aligned)
    assert tout.dtype == tx.dtype and tout.device.type == device
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(tout.detach().cpu().numpy(), out, rtol=tol, atol=tol)
    dout = g.normal(size=out.shape).astype(dtype)
    tout.backward(_t(dout, device))
    np.testing.assert_allclose(tx.grad.cpu().numpy(), refr.roi_align_backward(dout, cache), rtol=tol, atol=tol)


def test_gradcheck():
    g = np.random.default_rng(7)
    x = torch.tensor(g.permutation(2 * 2 * 6 * 5).reshape(2, 2, 6, 5) / 7.0, requires_grad=True)
    rois = torch.tensor([[0, 0, 0, 5, 6], [1, 1.2, 2.7, 4.4, 5.1], [1, -3, -2, 2, 3], [0, 3, 3, 3.2, 3.1]],
                        dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda z: pt.roi_pool(z, rois, (2, 3), 1.0), (x,))
    for aligned in (False, True):
        assert torch.autograd.gradcheck(lambda z: pt.roi_align(z, rois, (3, 2), 0.5, -1, aligned), (x,))


def test_modules_and_empty_rois():
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    rois = torch.tensor([[1, 0, 0, 15, 15.0]])
    assert torch.equal(ptr.RoIPool(2, 0.5)(x, rois), pt.roi_pool(x, rois, 2, 0.5))
    assert torch.equal(ptr.RoIAlign((2, 3), 0.5, 2, True)(x, rois), pt.roi_align(x, rois, (2, 3), 0.5, 2, True))
    assert "spatial_scale=0.5" in repr(ptr.RoIAlign(2, 0.5))
    for fn in (pt.roi_pool, pt.roi_align):
        xx = x.clone().requires_grad_()
        out = fn(xx, torch.zeros(0, 5), (2, 3))
        assert out.shape == (0, 3, 2, 3)
        out.sum().backward() if out.requires_grad else None
        assert fn(torch.ones(0, 3, 4, 4), torch.zeros(0, 5), 2).shape == (0, 3, 2, 2)


@pytest.mark.parametrize("case", range(len(BAD)))
@pytest.mark.parametrize("name", ["roi_pool", "roi_align"])
def test_bad_input_same_messages(case, name):
    call, needle = BAD[case]
    with pytest.raises(ValueError) as e_ref:
        call(getattr(ref, name))

    def torch_fn(features, rois, *args):
        return getattr(pt, name)(torch.from_numpy(features), torch.from_numpy(rois), *args)

    with pytest.raises(ValueError) as e_pt:
        call(torch_fn)
    assert needle in str(e_pt.value), str(e_pt.value)


def test_torch_specific_bad_input():
    with pytest.raises(ValueError, match="torch.Tensor"):
        pt.roi_pool(np.ones((1, 1, 4, 4)), torch.zeros(1, 5), 2)
    with pytest.raises(ValueError, match="torch.Tensor"):
        pt.roi_align(torch.ones(1, 1, 4, 4), np.zeros((1, 5)), 2)
