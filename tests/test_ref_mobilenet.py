"""cnn_course.ref.mobilenet: depthwise convolution against F.conv2d(groups=C), gradients, loops."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnn_course import ref
from cnn_course.ref import inception, mobilenet

# (N, C, H, W, f, stride, pad): non-square, strides 1-3, pads 0-3 (also pad >= f), one channel
SHAPES = [
    (2, 3, 7, 5, 3, 1, 1),
    (1, 1, 5, 5, 5, 1, 0),
    (3, 2, 10, 7, 2, 3, 1),
    (2, 4, 9, 8, 3, 2, 2),
    (1, 5, 6, 11, 1, 1, 0),
    (4, 1, 8, 6, 3, 2, 0),
    (2, 2, 5, 9, 4, 1, 2),
    (2, 3, 4, 4, 2, 1, 3),
    (3, 6, 8, 8, 3, 1, 1),
]


def _case(rng, shape, dtype):
    N, C, H, W, f, s, p = shape
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((C, 1, f, f)).astype(dtype)
    b = rng.standard_normal(C).astype(dtype)
    Ho, Wo = (H + 2 * p - f) // s + 1, (W + 2 * p - f) // s + 1
    dout = rng.standard_normal((N, C, Ho, Wo)).astype(dtype)
    return x, w, b, s, p, dout


def _tol(dtype):
    return dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_depthwise_matches_torch_groups(rng, shape, dtype):
    x, w, b, s, p, dout = _case(rng, shape, dtype)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    out_t = F.conv2d(xt, wt, bt, stride=s, padding=p, groups=x.shape[1])
    out_t.backward(torch.tensor(dout))
    out, cache = ref.depthwise_conv2d_forward(x, w, b, stride=s, pad=p)
    dx, dw, db = ref.depthwise_conv2d_backward(dout, cache)
    for name, ours, theirs in [("out", out, out_t), ("dx", dx, xt.grad), ("dw", dw, wt.grad), ("db", db, bt.grad)]:
        theirs = theirs.detach().numpy()
        assert ours.dtype == dtype, f"{name} dtype {ours.dtype}, expected {dtype}"
        assert ours.shape == theirs.shape, f"{name} shape {ours.shape} != torch {theirs.shape}"
        np.testing.assert_allclose(ours, theirs, err_msg=name, **_tol(dtype))


@pytest.mark.parametrize("shape", SHAPES[:6])
def test_loops_equal_vectorised(rng, shape):
    x, w, b, s, p, dout = _case(rng, shape, np.float64)
    out, cache = ref.depthwise_conv2d_forward(x, w, b, s, p)
    out_l, cache_l = ref.depthwise_conv2d_forward_loops(x, w, b, s, p)
    np.testing.assert_allclose(out_l, out, rtol=1e-12, atol=1e-12)
    grads = zip(("dx", "dw", "db"), ref.depthwise_conv2d_backward_loops(dout, cache_l), ref.depthwise_conv2d_backward(dout, cache))
    for name, a, c in grads:
        np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-12, err_msg=name)


def test_depthwise_is_a_full_conv_with_diagonal_weights(rng):
    """Each output channel sees only its own input channel: a full conv whose filter k is zero except channel k."""
    x, w, b, s, p, _ = _case(rng, SHAPES[0], np.float64)
    C = x.shape[1]
    full = np.zeros((C, C) + w.shape[2:])
    full[np.arange(C), np.arange(C)] = w[:, 0]
    np.testing.assert_allclose(ref.depthwise_conv2d_forward(x, w, b, s, p)[0], ref.conv2d_forward(x, full, b, s, p)[0], atol=1e-12)


@pytest.mark.parametrize("shape", [(2, 2, 5, 4, 3, 1, 1), (1, 3, 6, 7, 2, 2, 1), (2, 1, 7, 5, 3, 3, 2)])
def test_numerical_gradients(rng, shape):
    x, w, b, s, p, dout = _case(rng, shape, np.float64)
    _, cache = ref.depthwise_conv2d_forward(x, w, b, s, p)
    dx, dw, db = ref.depthwise_conv2d_backward(dout, cache)
    fwd = ref.depthwise_conv2d_forward
    for name, ours, num in [
        ("dx", dx, ref.eval_numerical_gradient_array(lambda a: fwd(a, w, b, s, p)[0], x, dout)),
        ("dw", dw, ref.eval_numerical_gradient_array(lambda a: fwd(x, a, b, s, p)[0], w, dout)),
        ("db", db, ref.eval_numerical_gradient_array(lambda a: fwd(x, w, a, s, p)[0], b, dout)),
    ]:
        assert ref.rel_error(ours, num) < 1e-7, f"{name} rel error {ref.rel_error(ours, num)}"


def test_no_bias_non_contiguous_and_float16(rng):
    x, w, b, s, p, dout = _case(rng, SHAPES[0], np.float64)
    out, cache = ref.depthwise_conv2d_forward(x, w, None, s, p)
    np.testing.assert_allclose(out + b.reshape(1, -1, 1, 1), ref.depthwise_conv2d_forward(x, w, b, s, p)[0], atol=1e-12)
    assert ref.depthwise_conv2d_backward(dout, cache)[2] is None, "db must be None when b is None"
    xt = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)  # same values, other strides
    np.testing.assert_allclose(ref.depthwise_conv2d_forward(xt, w, b, s, p)[0], ref.depthwise_conv2d_forward(x, w, b, s, p)[0])
    half, _ = ref.depthwise_conv2d_forward(x.astype(np.float16), w.astype(np.float16), b.astype(np.float16), s, p)
    assert half.dtype == np.float16
    np.testing.assert_allclose(half, ref.depthwise_conv2d_forward(x, w, b, s, p)[0], rtol=2e-2, atol=2e-2)


def test_inputs_not_modified(rng):
    x, w, b, s, p, dout = _case(rng, SHAPES[3], np.float32)
    copies = [a.copy() for a in (x, w, b, dout)]
    for fwd, bwd in [(ref.depthwise_conv2d_forward, ref.depthwise_conv2d_backward),
                     (ref.depthwise_conv2d_forward_loops, ref.depthwise_conv2d_backward_loops)]:
        _, cache = fwd(x, w, b, s, p)
        bwd(dout, cache)
    for a, c in zip((x, w, b, dout), copies):
        np.testing.assert_array_equal(a, c)


def test_counts_reexported():
    for name in ("depthwise_mults", "pointwise_mults", "separable_mults", "separable_ratio"):
        assert getattr(mobilenet, name) is getattr(inception, name)
    assert mobilenet.separable_mults(4, 4, 3, 3, 5) == 672


# ---------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize("fwd", [ref.depthwise_conv2d_forward, ref.depthwise_conv2d_forward_loops])
def test_full_conv_weights_rejected(fwd):
    with pytest.raises(ValueError) as e:
        fwd(np.zeros((1, 3, 5, 5)), np.zeros((3, 3, 3, 3)), np.zeros(3))
    msg = str(e.value)
    assert "(C, 1, f, f) = (3, 1, f, f)" in msg and "(3, 3, 3, 3)" in msg and "full convolution" in msg
    with pytest.raises(ValueError, match=r"\(4, 1, 3, 3\)"):
        fwd(np.zeros((1, 3, 5, 5)), np.zeros((4, 1, 3, 3)), np.zeros(3))


def test_other_bad_inputs():
    x, w = np.zeros((1, 3, 5, 5)), np.zeros((3, 1, 3, 3))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\).*\(3, 5, 5\)"):
        ref.depthwise_conv2d_forward(np.zeros((3, 5, 5)), w, None)
    with pytest.raises(ValueError, match=r"\(C, 1, f, f\).*\(3, 3, 3\)"):
        ref.depthwise_conv2d_forward(x, np.zeros((3, 3, 3)), None)
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        ref.depthwise_conv2d_forward(x, w, np.zeros(2))
    with pytest.raises(ValueError, match="floating"):
        ref.depthwise_conv2d_forward(x.astype(int), w, None)
    with pytest.raises(ValueError, match=r"7x7.*6x6"):
        ref.depthwise_conv2d_forward(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 7, 7)), None, pad=1)
    for stride in (0, 1.5, True):
        with pytest.raises(ValueError, match="stride"):
            ref.depthwise_conv2d_forward(x, w, None, stride=stride)
    for pad in (-1, 1.0, None):
        with pytest.raises(ValueError, match="pad"):
            ref.depthwise_conv2d_forward(x, w, None, pad=pad)


@pytest.mark.parametrize("fwd, bwd", [(ref.depthwise_conv2d_forward, ref.depthwise_conv2d_backward),
                                      (ref.depthwise_conv2d_forward_loops, ref.depthwise_conv2d_backward_loops)])
def test_dout_wrong_shape(fwd, bwd):
    _, cache = fwd(np.zeros((2, 3, 6, 5)), np.zeros((3, 1, 3, 3)), np.zeros(3), 1, 1)
    with pytest.raises(ValueError, match=r"\(2, 3, 6, 5\).*\(2, 3, 6, 6\)"):
        bwd(np.zeros((2, 3, 6, 6)), cache)
    with pytest.raises(ValueError, match="cache"):
        bwd(np.zeros((2, 3, 6, 5)), cache[:3])


# ---------------------------------------------------------------------------- separable


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 3, 7, 5, 3, 1, 1), (3, 4, 9, 8, 3, 2, 1)])
def test_separable_matches_torch(rng, shape, dtype):
    x, w, b, s, p, _ = _case(rng, shape, dtype)
    C, Fo = x.shape[1], 5
    params = {"w_dw": w, "b_dw": b, "w_pw": rng.standard_normal((Fo, C, 1, 1)).astype(dtype),
              "b_pw": rng.standard_normal(Fo).astype(dtype)}
    tp = {k: torch.tensor(a, requires_grad=True) for k, a in params.items()}
    xt = torch.tensor(x, requires_grad=True)
    out_t = F.conv2d(F.conv2d(xt, tp["w_dw"], tp["b_dw"], stride=s, padding=p, groups=C), tp["w_pw"], tp["b_pw"])
    dout = rng.standard_normal(tuple(out_t.shape)).astype(dtype)
    out_t.backward(torch.tensor(dout))
    out, cache = ref.separable_conv2d_forward(x, params, stride=s, pad=p)
    dx, grads = ref.separable_conv2d_backward(dout, cache)
    np.testing.assert_allclose(out, out_t.detach().numpy(), err_msg="out", **_tol(dtype))
    np.testing.assert_allclose(dx, xt.grad.numpy(), err_msg="dx", **_tol(dtype))
    assert sorted(grads) == sorted(params)
    for k in params:
        assert grads[k].shape == params[k].shape and grads[k].dtype == dtype, k
        np.testing.assert_allclose(grads[k], tp[k].grad.numpy(), err_msg=k, **_tol(dtype))


def test_separable_bad_params(rng):
    with pytest.raises(ValueError, match="w_pw"):
        ref.separable_conv2d_forward(np.zeros((1, 3, 5, 5)), {"w_dw": np.zeros((3, 1, 3, 3)), "b_dw": None})
