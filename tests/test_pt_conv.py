"""cnn_course.pt.conv against torch's built-ins (F.pad, F.conv2d, nn.Conv2d)."""

import contextlib
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnn_course import ref
from cnn_course.pt import Conv2d, conv2d, conv_output_size, default_device, to_device, zero_pad

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
DTYPES = [torch.float32, torch.float64]
TOL = {torch.float32: dict(rtol=1e-4, atol=1e-5), torch.float64: dict(rtol=1e-10, atol=1e-12)}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@contextlib.contextmanager
def exact_fp32():
    """cuDNN may use TF32 for float32 convolutions on recent GPUs; compare against IEEE fp32."""
    conv = torch.backends.cudnn.conv
    old = conv.fp32_precision
    conv.fp32_precision = "ieee"
    try:
        yield
    finally:
        conv.fp32_precision = old


def random_conv_case(seed, device, dtype, bias=True):
    """Random non-square shapes, stride 1..3, pad 0..2; returns x, w, b, stride, pad."""
    g = np.random.default_rng(seed)
    N, C, F_ = (int(v) for v in g.integers(1, 5, size=3))
    f_H, f_W = (int(v) for v in g.integers(1, 5, size=2))
    stride, pad = int(g.integers(1, 4)), int(g.integers(0, 3))
    H = int(g.integers(max(1, f_H - 2 * pad), 11))
    W = int(g.integers(max(1, f_W - 2 * pad), 11))
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(N, C, H, W, generator=gen, dtype=dtype).to(device).requires_grad_()
    w = torch.randn(F_, C, f_H, f_W, generator=gen, dtype=dtype).to(device).requires_grad_()
    b = torch.randn(F_, generator=gen, dtype=dtype).to(device).requires_grad_() if bias else None
    return x, w, b, stride, pad


def grads(out, upstream, *tensors):
    return torch.autograd.grad(out, [t for t in tensors if t is not None], upstream)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("pad", [0, 1, 3])
def test_zero_pad_matches_F_pad(device, pad):
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64, device=device)
    out = zero_pad(x, pad)
    assert out.shape == (2, 3, 4 + 2 * pad, 5 + 2 * pad)
    torch.testing.assert_close(out, F.pad(x, (pad, pad, pad, pad)), rtol=0, atol=0)


def test_zero_pad_is_differentiable():
    x = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: zero_pad(t, 2), (x,))


@pytest.mark.parametrize("bad, pad, match", [
    (torch.zeros(3, 4, 5), 1, r"4-D .*\(N, C, H, W\).*3-D"),
    (torch.zeros(1, 1, 4, 4), -1, "non-negative integer"),
    (torch.zeros(1, 1, 4, 4), 1.0, "non-negative integer"),
])
def test_zero_pad_bad_input(bad, pad, match):
    with pytest.raises(ValueError, match=match):
        zero_pad(bad, pad)


def test_conv_output_size_is_the_reference_formula():
    assert conv_output_size is ref.conv_output_size
    assert conv_output_size(7, 3, 0, 1) == 5
    assert conv_output_size(7, 3, 1, 2) == 4
    assert conv_output_size(6, 3, 0, 2) == 2


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(10))
def test_conv2d_matches_F_conv2d_forward_and_backward(device, dtype, seed):
    bias = seed % 3 != 0
    x, w, b, stride, pad = random_conv_case(seed, device, dtype, bias=bias)
    with exact_fp32():
        expected = F.conv2d(x, w, b, stride=stride, padding=pad)
        out = conv2d(x, w, b, stride=stride, pad=pad)
        assert out.shape == expected.shape
        assert out.shape[2:] == (conv_output_size(x.shape[2], w.shape[2], pad, stride),
                                 conv_output_size(x.shape[3], w.shape[3], pad, stride))
        torch.testing.assert_close(out, expected, **TOL[dtype])
        upstream = torch.randn_like(out)
        for got, want in zip(grads(out, upstream, x, w, b), grads(expected, upstream, x, w, b)):
            torch.testing.assert_close(got, want, **TOL[dtype])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("stride, pad", [(1, 0), (2, 1), (3, 2)])
def test_conv2d_gradcheck(device, stride, pad):
    gen = torch.Generator().manual_seed(stride)
    x = torch.randn(1, 2, 4, 5, generator=gen, dtype=torch.float64).to(device).requires_grad_()
    w = torch.randn(2, 2, 3, 2, generator=gen, dtype=torch.float64).to(device).requires_grad_()
    b = torch.randn(2, generator=gen, dtype=torch.float64).to(device).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, w, b: conv2d(x, w, b, stride, pad), (x, w, b))


@pytest.mark.parametrize("seed", range(3))
def test_conv2d_matches_numpy_reference(seed):
    x, w, b, stride, pad = random_conv_case(seed, "cpu", torch.float64)
    out = conv2d(x, w, b, stride=stride, pad=pad)
    expected, cache = ref.conv2d_forward(x.detach().numpy(), w.detach().numpy(), b.detach().numpy(), stride, pad)
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-10, atol=1e-12)
    dout = np.random.default_rng(seed).standard_normal(expected.shape)
    dx, dw, db = ref.conv2d_backward(dout, cache)
    gx, gw, gb = grads(out, torch.from_numpy(dout), x, w, b)
    for got, want in ((gx, dx), (gw, dw), (gb, db)):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)


def test_conv2d_bad_input_mirrors_reference_messages():
    x, w, b = torch.zeros(2, 3, 5, 5), torch.zeros(4, 3, 3, 3), torch.zeros(4)
    cases = [
        ((torch.zeros(3, 5, 5), w, b, 1, 0), r"x must be 4-D"),
        ((x, torch.zeros(4, 2, 3, 3), b, 1, 0), r"channel mismatch: x has C=3"),
        ((x, w, torch.zeros(5), 1, 0), r"b must have shape \(F,\) = \(4,\)"),
        ((x, torch.zeros(4, 3, 7, 7), b, 1, 0), r"filter \(7x7\) is larger than the padded input \(5x5\)"),
        ((x, w, b, 0, 0), "stride must be a positive integer"),
        ((x, w, b, 1, -1), "pad must be a non-negative integer"),
        ((x.long(), w, b, 1, 0), "x must have a floating-point dtype"),
        ((x, w.double(), b, 1, 0), "w must have the same dtype as x"),
    ]
    for args, match in cases:
        with pytest.raises(ValueError, match=match):
            conv2d(*args)
        # the NumPy reference rejects the same shapes with the same message
        if "dtype" not in match:
            np_args = tuple(a.numpy() if isinstance(a, torch.Tensor) else a for a in args)
            with pytest.raises(ValueError, match=match):
                ref.conv2d_forward(*np_args)


@pytest.mark.parametrize("device", DEVICES)
def test_Conv2d_parameters_and_forward_match_nn_Conv2d(device):
    torch.manual_seed(7)
    ours = Conv2d(3, 5, 3, stride=2, pad=1, device=device)
    torch.manual_seed(7)
    theirs = nn.Conv2d(3, 5, 3, stride=2, padding=1, device=device)
    assert ours.weight.shape == (5, 3, 3, 3) and ours.bias.shape == (5,)
    # same seed, same draws: the initialisation is nn.Conv2d's
    torch.testing.assert_close(ours.weight, theirs.weight, rtol=0, atol=0)
    torch.testing.assert_close(ours.bias, theirs.bias, rtol=0, atol=0)
    x = torch.randn(2, 3, 9, 7, device=device)
    with exact_fp32():
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-4, atol=1e-5)
    assert "3, 5, f=3, stride=2, pad=1" in repr(ours)


def test_Conv2d_init_statistics():
    torch.manual_seed(0)
    layer = Conv2d(64, 128, 3)
    bound = 1 / math.sqrt(64 * 3 * 3)
    w, b = layer.weight.detach(), layer.bias.detach()
    assert w.abs().max() <= bound and b.abs().max() <= bound
    # U(-a, a) has mean 0 and variance a^2 / 3; 73,728 draws pin both down closely
    assert abs(w.mean().item()) < 0.01 * bound
    assert w.var().item() == pytest.approx(bound ** 2 / 3, rel=0.02)


def test_Conv2d_without_bias_and_bad_arguments():
    layer = Conv2d(2, 3, 2, bias=False)
    assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["weight"]
    x = torch.randn(1, 2, 4, 4)
    torch.testing.assert_close(layer(x), F.conv2d(x, layer.weight), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="f must be a positive integer"):
        Conv2d(2, 3, 0)
    with pytest.raises(ValueError, match="channel mismatch"):
        layer(torch.randn(1, 3, 4, 4))


def test_default_device_and_to_device():
    dev = default_device()
    assert dev.type == ("cuda" if torch.cuda.is_available() else dev.type)
    assert dev.type in {"cuda", "mps", "cpu"}
    a, none = to_device(torch.zeros(2), None, device="cpu")
    assert a.device.type == "cpu" and none is None
    assert to_device(torch.zeros(1)).device.type == dev.type
