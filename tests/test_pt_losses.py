"""cnn_course.pt.losses against torch's F.softmax / F.log_softmax / F.cross_entropy and the NumPy reference."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnn_course import pt, ref
from cnn_course.pt.batchnorm import BatchNorm1d

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
DTYPES = [torch.float32, torch.float64]
TOL = {torch.float32: dict(rtol=1e-5, atol=1e-6), torch.float64: dict(rtol=1e-12, atol=1e-13)}
SHAPES = [(1, 1), (4, 3), (7, 10), (32, 2), (3, 100)]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _case(seed, shape, dtype, device, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    Z = (scale * torch.randn(shape, generator=g, dtype=dtype)).to(device)
    y = torch.randint(0, shape[1], (shape[0],), generator=g).to(device)
    return Z, y


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_match_torch_and_reference(device, dtype, shape):
    Z, y = _case(sum(shape), shape, dtype, device)
    Z.requires_grad_()
    loss = pt.cross_entropy(Z, y)
    assert loss.shape == () and loss.dtype == dtype
    torch.testing.assert_close(pt.softmax(Z), F.softmax(Z, dim=1), **TOL[dtype])
    torch.testing.assert_close(pt.log_softmax(Z), F.log_softmax(Z, dim=1), **TOL[dtype])
    torch.testing.assert_close(loss, F.cross_entropy(Z, y), **TOL[dtype])
    (dZ,) = torch.autograd.grad(loss, Z)
    ref_loss, ref_dZ = ref.softmax_cross_entropy(Z.detach().cpu().numpy(), y.cpu().numpy())
    np.testing.assert_allclose(loss.item(), ref_loss, **TOL[dtype])
    np.testing.assert_allclose(dZ.cpu().numpy(), ref_dZ, **TOL[dtype])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_huge_logits(device, dtype):
    Z = torch.tensor([[1e4, -1e4, 0.0], [1e4, 1e4 - 5, -1e4], [-1e4, -1e4, -1e4]], dtype=dtype, device=device)
    y = torch.tensor([1, 0, 2], device=device)
    Z.requires_grad_()
    loss = pt.cross_entropy(Z, y)
    (dZ,) = torch.autograd.grad(loss, Z)
    assert torch.isfinite(loss) and torch.isfinite(dZ).all()
    assert torch.isfinite(pt.softmax(Z)).all() and torch.isfinite(pt.log_softmax(Z)).all()
    torch.testing.assert_close(loss, F.cross_entropy(Z, y), rtol=1e-6, atol=0)


@pytest.mark.parametrize("device", DEVICES)
def test_l2_penalty_matches_the_reference(device):
    params = ref.initialize_parameters([4, 3, 2], "he", np.random.default_rng(0))
    tp = {k: torch.tensor(v, device=device, requires_grad=True) for k, v in params.items()}
    penalty = pt.l2_penalty(tp, 0.6, 5)
    np.testing.assert_allclose(penalty.item(), ref.l2_cost(params, 0.6, 5), rtol=1e-14)
    penalty.backward()
    zero = {"d" + k: np.zeros_like(v) for k, v in params.items()}
    for k, g in ref.l2_grads(zero, params, 0.6, 5).items():
        grad = tp[k[1:]].grad  # biases take no part: no gradient at all
        np.testing.assert_allclose(np.zeros_like(g) if grad is None else grad.cpu().numpy(), g, rtol=1e-14, atol=0)
    as_list = pt.l2_penalty([tp["W1"], tp["W2"]], 0.6, 5)
    torch.testing.assert_close(as_list, penalty.detach())


def test_l2_penalty_of_a_module_skips_biases_and_batch_norm():
    model = nn.Sequential(nn.Linear(4, 3), BatchNorm1d(3), nn.Conv1d(1, 2, 2))
    with torch.no_grad():
        model[1].weight.fill_(7.0)
    expected = 0.5 / (2 * 3) * ((model[0].weight ** 2).sum() + (model[2].weight ** 2).sum())
    torch.testing.assert_close(pt.l2_penalty(model, 0.5, 3), expected)
    assert pt.l2_penalty(nn.ReLU(), 0.5, 3).item() == 0.0


def test_errors_say_what_was_expected():
    Z, y = _case(0, (3, 4), torch.float64, "cpu")
    with pytest.raises(ValueError, match=r"\(m, K\)"):
        pt.softmax(Z[0])
    with pytest.raises(TypeError, match="floating-point"):
        pt.log_softmax(torch.ones(2, 3, dtype=torch.int64))
    with pytest.raises(TypeError, match="tensor"):
        pt.softmax(np.ones((2, 3)))
    with pytest.raises(TypeError, match="integer class labels"):
        pt.cross_entropy(Z, y.double())
    with pytest.raises(ValueError, match=r"shape \(m,\) = \(3,\)"):
        pt.cross_entropy(Z, y[:2])
    with pytest.raises(ValueError, match=r"0\.\.3"):
        pt.cross_entropy(Z, torch.tensor([0, 4, 1]))
    with pytest.raises(ValueError, match="lambd"):
        pt.l2_penalty(nn.Linear(2, 2), -0.1, 3)
    with pytest.raises(ValueError, match="positive integer"):
        pt.l2_penalty(nn.Linear(2, 2), 0.1, 0)
    with pytest.raises(TypeError, match="not a single tensor"):
        pt.l2_penalty(torch.ones(2, 2), 0.1, 3)
    with pytest.raises(TypeError, match="nn.Module, a dict or a list"):
        pt.l2_penalty(3, 0.1, 3)
