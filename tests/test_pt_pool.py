"""cnn_course.pt.pool against torch's built-ins (F.max_pool2d, F.avg_pool2d)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnn_course import ref
from cnn_course.pt import AvgPool2d, MaxPool2d, pool2d

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
DTYPES = [torch.float32, torch.float64]
TORCH_POOL = {"max": F.max_pool2d, "average": F.avg_pool2d}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def random_pool_case(seed, device, dtype, ties=False):
    """Random non-square input, window f 1..4, stride 1..3 (overlapping windows included).

    With ``ties`` the entries are small integers, so most windows hold repeated maxima.
    """
    g = np.random.default_rng(seed)
    f, stride = int(g.integers(1, 5)), int(g.integers(1, 4))
    N, C = (int(v) for v in g.integers(1, 4, size=2))
    H, W = (int(v) for v in g.integers(f, 11, size=2))
    gen = torch.Generator().manual_seed(seed)
    if ties:
        x = torch.randint(0, 3, (N, C, H, W), generator=gen).to(dtype)
    else:
        x = torch.randn(N, C, H, W, generator=gen, dtype=dtype)
    return x.to(device).requires_grad_(), f, stride


def check_against_torch(x, f, stride, mode):
    out = pool2d(x, f, stride, mode=mode)
    expected = TORCH_POOL[mode](x, f, stride)
    assert out.shape == expected.shape
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-7)
    upstream = torch.randn_like(out)
    (got,) = torch.autograd.grad(out, x, upstream)
    (want,) = torch.autograd.grad(expected, x, upstream)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("seed", range(8))
def test_pool2d_matches_torch_forward_and_backward(device, dtype, mode, seed):
    check_against_torch(*random_pool_case(seed, device, dtype), mode)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("seed", range(8))
def test_max_pool_ties_give_the_gradient_to_the_first_maximum(device, seed):
    check_against_torch(*random_pool_case(seed, device, torch.float64, ties=True), "max")


def test_max_pool_tie_by_hand():
    # one 2x2 window, all four entries equal: only the top-left one gets the gradient
    x = torch.ones(1, 1, 2, 2, requires_grad=True)
    pool2d(x, 2, 2).sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]]))
    # first maximum in row-major order: (0, 1) comes before (1, 0)
    x = torch.tensor([[[[0.0, 5.0], [5.0, 1.0]]]], requires_grad=True)
    pool2d(x, 2, 2).sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([[[[0.0, 1.0], [0.0, 0.0]]]]))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode", ["max", "average"])
def test_pool2d_gradcheck(device, mode):
    x = torch.randn(2, 2, 5, 6, dtype=torch.float64, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: pool2d(t, 3, 2, mode=mode), (x,))


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("seed", range(4))
def test_pool2d_matches_numpy_reference_with_ties(mode, seed):
    x, f, stride = random_pool_case(seed, "cpu", torch.float64, ties=True)
    out = pool2d(x, f, stride, mode=mode)
    expected, cache = ref.pool2d_forward(x.detach().numpy(), f, stride, mode=mode)
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-12, atol=0)
    dout = np.random.default_rng(seed).standard_normal(expected.shape)
    (dx,) = torch.autograd.grad(out, x, torch.from_numpy(dout))
    np.testing.assert_allclose(dx.numpy(), ref.pool2d_backward(dout, cache), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("args, match", [
    ((torch.zeros(3, 4, 4), 2, 2), r"x must be 4-D"),
    ((torch.zeros(1, 1, 4, 4), 5, 1), r"pooling window f=5 is larger than the input \(4x4\)"),
    ((torch.zeros(1, 1, 4, 4), 2, 0), "stride must be a positive integer"),
    ((torch.zeros(1, 1, 4, 4, dtype=torch.int64), 2, 2), "x must have a floating-point dtype"),
])
def test_pool2d_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        pool2d(*args)


def test_pool2d_bad_mode_mirrors_reference():
    x = torch.zeros(1, 1, 4, 4)
    for mode in ("avg", "min", None):
        with pytest.raises(ValueError, match=r"mode must be one of \('max', 'average'\)"):
            pool2d(x, 2, 2, mode=mode)
        with pytest.raises(ValueError, match=r"mode must be one of \('max', 'average'\)"):
            ref.pool2d_forward(x.numpy(), 2, 2, mode=mode)


@pytest.mark.parametrize("device", DEVICES)
def test_pool_modules_match_nn(device):
    x = torch.randn(2, 3, 9, 7, device=device)
    for ours, theirs in ((MaxPool2d(2), nn.MaxPool2d(2)), (AvgPool2d(3, stride=2), nn.AvgPool2d(3, stride=2))):
        assert list(ours.parameters()) == []
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-6, atol=1e-7)
    assert MaxPool2d(2).stride == 2 and "f=3, stride=2" in repr(AvgPool2d(3, 2))
    with pytest.raises(ValueError, match="f must be a positive integer"):
        MaxPool2d(0)
