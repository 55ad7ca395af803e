"""cnn_course.ref.inception: the 1×1 convolution against F.conv2d, gradients, multiply counts."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnn_course import ref

# (N, C, H, W, F): more filters than channels, fewer, one of each, non-square
SHAPES = [(2, 3, 5, 4, 6), (1, 8, 3, 3, 2), (3, 1, 4, 6, 1), (4, 5, 1, 1, 3), (2, 192, 7, 7, 16)]


def _case(rng, shape, dtype):
    N, C, H, W, Fo = shape
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((Fo, C, 1, 1)).astype(dtype)
    b = rng.standard_normal(Fo).astype(dtype)
    dout = rng.standard_normal((N, Fo, H, W)).astype(dtype)
    return x, w, b, dout


def _tol(dtype):
    return dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_pointwise_matches_torch(rng, shape, dtype):
    x, w, b, dout = _case(rng, shape, dtype)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    out_t = F.conv2d(xt, wt, bt)
    out_t.backward(torch.tensor(dout))
    out, cache = ref.pointwise_conv_forward(x, w, b)
    dx, dw, db = ref.pointwise_conv_backward(dout, cache)
    for name, ours, theirs in [("out", out, out_t), ("dx", dx, xt.grad), ("dw", dw, wt.grad), ("db", db, bt.grad)]:
        theirs = theirs.detach().numpy()
        assert ours.dtype == dtype, f"{name} dtype {ours.dtype}, expected {dtype}"
        assert ours.shape == theirs.shape, f"{name} shape {ours.shape} != torch {theirs.shape}"
        np.testing.assert_allclose(ours, theirs, err_msg=name, **_tol(dtype))


def test_pointwise_is_a_fully_connected_layer_at_every_pixel(rng):
    x, w, b, _ = _case(rng, SHAPES[0], np.float64)
    out, _ = ref.pointwise_conv_forward(x, w, b)
    W2 = w[:, :, 0, 0]
    for n, h, col in [(0, 0, 0), (1, 4, 3), (0, 2, 1)]:
        np.testing.assert_allclose(out[n, :, h, col], W2 @ x[n, :, h, col] + b, rtol=1e-12)


def test_pointwise_numerical_gradients(rng):
    x, w, b, dout = _case(rng, (2, 3, 3, 4, 2), np.float64)
    _, cache = ref.pointwise_conv_forward(x, w, b)
    dx, dw, db = ref.pointwise_conv_backward(dout, cache)
    fwd = ref.pointwise_conv_forward
    for name, ours, num in [
        ("dx", dx, ref.eval_numerical_gradient_array(lambda a: fwd(a, w, b)[0], x, dout)),
        ("dw", dw, ref.eval_numerical_gradient_array(lambda a: fwd(x, a, b)[0], w, dout)),
        ("db", db, ref.eval_numerical_gradient_array(lambda a: fwd(x, w, a)[0], b, dout)),
    ]:
        assert ref.rel_error(ours, num) < 1e-7, f"{name} rel error {ref.rel_error(ours, num)}"


def test_pointwise_no_bias_and_non_contiguous(rng):
    x, w, b, dout = _case(rng, SHAPES[0], np.float64)
    xs = np.asfortranarray(x)
    out, cache = ref.pointwise_conv_forward(xs, w, None)
    np.testing.assert_allclose(out + b.reshape(1, -1, 1, 1), ref.pointwise_conv_forward(x, w, b)[0], atol=1e-12)
    assert ref.pointwise_conv_backward(dout, cache)[2] is None, "db must be None when b is None"


def test_pointwise_inputs_not_modified(rng):
    x, w, b, dout = _case(rng, SHAPES[0], np.float32)
    copies = [a.copy() for a in (x, w, b, dout)]
    _, cache = ref.pointwise_conv_forward(x, w, b)
    ref.pointwise_conv_backward(dout, cache)
    for a, c in zip((x, w, b, dout), copies):
        np.testing.assert_array_equal(a, c)


def test_pointwise_bad_inputs():
    x = np.zeros((1, 3, 4, 4))
    with pytest.raises(ValueError, match=r"\(F, C, 1, 1\).*\(2, 3, 3, 3\)"):
        ref.pointwise_conv_forward(x, np.zeros((2, 3, 3, 3)), np.zeros(2))
    with pytest.raises(ValueError, match=r"\(F, C, 1, 1\).*\(2, 3\)"):
        ref.pointwise_conv_forward(x, np.zeros((2, 3)), np.zeros(2))
    with pytest.raises(ValueError, match=r"C=3 .*C=4"):
        ref.pointwise_conv_forward(x, np.zeros((2, 4, 1, 1)), np.zeros(2))
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        ref.pointwise_conv_forward(x, np.zeros((2, 3, 1, 1)), np.zeros(3))
    with pytest.raises(ValueError, match="floating"):
        ref.pointwise_conv_forward(x.astype(int), np.zeros((2, 3, 1, 1)), np.zeros(2))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\).*\(3, 4, 4\)"):
        ref.pointwise_conv_forward(np.zeros((3, 4, 4)), np.zeros((2, 3, 1, 1)), np.zeros(2))
    _, cache = ref.pointwise_conv_forward(x, np.zeros((2, 3, 1, 1)), np.zeros(2))
    with pytest.raises(ValueError, match=r"\(1, 2, 4, 4\).*\(1, 3, 4, 4\)"):
        ref.pointwise_conv_backward(np.zeros((1, 3, 4, 4)), cache)
    with pytest.raises(ValueError, match="cache"):
        ref.pointwise_conv_backward(np.zeros((1, 2, 4, 4)), cache[:2])


# ---------------------------------------------------------------------------- multiply counts


def test_inception_5x5_and_bottleneck_numbers():
    assert ref.conv_mults(28, 28, 192, 5, 32) == 120_422_400
    assert ref.pointwise_mults(28, 28, 192, 16) == 2_408_448
    assert ref.conv_mults(28, 28, 16, 5, 32) == 10_035_200
    assert ref.bottleneck_mults(28, 28, 192, 5, 32, 16) == 12_443_648
    assert ref.conv_mults(28, 28, 192, 5, 32) / ref.bottleneck_mults(28, 28, 192, 5, 32, 16) == pytest.approx(9.677, abs=1e-3)


def test_separable_numbers():
    # 6x6x3 input, 3x3 filters, no padding -> 4x4 output, 5 filters
    assert ref.conv_mults(4, 4, 3, 3, 5) == 2160
    assert ref.depthwise_mults(4, 4, 3, 3) == 432
    assert ref.pointwise_mults(4, 4, 3, 5) == 240
    assert ref.separable_mults(4, 4, 3, 3, 5) == 672
    assert abs(672 / 2160 - ref.separable_ratio(3, 5)) < 1e-12
    assert round(ref.separable_ratio(3, 5), 2) == 0.31


@pytest.mark.parametrize("n_H, n_W, n_C, f, n_C_out", [(4, 4, 3, 3, 5), (7, 5, 16, 5, 64), (1, 1, 1, 1, 1), (14, 14, 512, 3, 512)])
def test_ratio_is_general(n_H, n_W, n_C, f, n_C_out):
    ratio = ref.separable_mults(n_H, n_W, n_C, f, n_C_out) / ref.conv_mults(n_H, n_W, n_C, f, n_C_out)
    assert abs(ratio - ref.separable_ratio(f, n_C_out)) < 1e-12
    assert isinstance(ref.conv_mults(n_H, n_W, n_C, f, n_C_out), int)


def test_mults_match_the_convolution_itself(rng):
    """The count is the number of products the loop implementation makes."""
    N, C, H, W, Fo, f = 1, 3, 6, 6, 5, 3
    assert ref.conv_mults(H - f + 1, W - f + 1, C, f, Fo) == (H - f + 1) * (W - f + 1) * Fo * C * f * f


@pytest.mark.parametrize("bad", [0, -1, 2.5, "3", True, None])
def test_mults_bad_arguments(bad):
    with pytest.raises(ValueError, match="n_C_out"):
        ref.conv_mults(4, 4, 3, 3, bad)
    with pytest.raises(ValueError, match="f must"):
        ref.separable_ratio(bad, 5)
    with pytest.raises(ValueError, match="n_C_mid"):
        ref.bottleneck_mults(28, 28, 192, 5, 32, bad)
