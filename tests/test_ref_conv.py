"""cnn_course.ref convolution against torch's F.conv2d / autograd, numerical gradients and the loops."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnn_course import ref

# (N, C, H, W, F, f, stride, pad): non-square, stride 1-3, pad 0-2, batch 1, one channel
SHAPES = [
    (2, 3, 7, 5, 4, 3, 1, 1),
    (1, 1, 5, 5, 1, 5, 1, 0),
    (3, 2, 10, 7, 3, 2, 3, 1),
    (2, 3, 9, 8, 4, 3, 2, 2),
    (1, 4, 6, 11, 2, 1, 1, 0),
    (4, 1, 8, 6, 3, 3, 2, 0),
    (2, 2, 5, 9, 5, 4, 1, 2),
    (20, 2, 6, 6, 3, 3, 1, 2),  # more samples than one backward chunk... for small K
]


def _random_case(rng, shape, dtype):
    N, C, H, W, Fo, f, s, p = shape
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((Fo, C, f, f)).astype(dtype)
    b = rng.standard_normal(Fo).astype(dtype)
    Ho, Wo = (H + 2 * p - f) // s + 1, (W + 2 * p - f) // s + 1
    dout = rng.standard_normal((N, Fo, Ho, Wo)).astype(dtype)
    return x, w, b, s, p, dout


def _torch_conv(x, w, b, s, p, dout):
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    out = F.conv2d(xt, wt, bt, stride=s, padding=p)
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


def _tol(dtype):
    return dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_conv_matches_torch(rng, shape, dtype):
    x, w, b, s, p, dout = _random_case(rng, shape, dtype)
    out_t, dx_t, dw_t, db_t = _torch_conv(x, w, b, s, p, dout)
    out, cache = ref.conv2d_forward(x, w, b, stride=s, pad=p)
    dx, dw, db = ref.conv2d_backward(dout, cache)
    for name, ours, theirs in [("out", out, out_t), ("dx", dx, dx_t), ("dw", dw, dw_t), ("db", db, db_t)]:
        assert ours.dtype == dtype, f"{name} dtype {ours.dtype}, expected {dtype}"
        assert ours.shape == theirs.shape, f"{name} shape {ours.shape} != torch {theirs.shape}"
        np.testing.assert_allclose(ours, theirs, err_msg=name, **_tol(dtype))


@pytest.mark.parametrize("shape", SHAPES)
def test_layer_matches_functional_and_reuses_buffers(rng, shape):
    x, w, b, s, p, dout = _random_case(rng, shape, np.float64)
    out, cache = ref.conv2d_forward(x, w, b, s, p)
    dx, dw, db = ref.conv2d_backward(dout, cache)
    layer = ref.Conv2d(w, b, stride=s, pad=p)
    for _ in range(2):  # the second call runs on the buffers of the first
        np.testing.assert_array_equal(layer.forward(x), out)
        np.testing.assert_array_equal(layer.backward(dout), dx)
        np.testing.assert_array_equal(layer.dw, dw)
        np.testing.assert_array_equal(layer.db, db)
    # a new input shape gets new buffers
    x2 = rng.standard_normal((x.shape[0] + 1,) + x.shape[1:])
    out2 = layer.forward(x2)
    np.testing.assert_allclose(out2, ref.conv2d_forward(x2, w, b, s, p)[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES[:5])
def test_loops_equal_vectorised(rng, shape):
    x, w, b, s, p, dout = _random_case(rng, shape, np.float64)
    out, cache = ref.conv2d_forward(x, w, b, s, p)
    out_l, cache_l = ref.conv2d_forward_loops(x, w, b, s, p)
    np.testing.assert_allclose(out_l, out, rtol=1e-12, atol=1e-12)
    for name, a, c in zip(("dx", "dw", "db"), ref.conv2d_backward_loops(dout, cache_l), ref.conv2d_backward(dout, cache)):
        np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-12, err_msg=name)


def test_no_bias(rng):
    x, w, b, s, p, dout = _random_case(rng, SHAPES[0], np.float64)
    out, cache = ref.conv2d_forward(x, w, None, s, p)
    np.testing.assert_allclose(out + b.reshape(1, -1, 1, 1), ref.conv2d_forward(x, w, b, s, p)[0], atol=1e-12)
    dx, dw, db = ref.conv2d_backward(dout, cache)
    assert db is None, "db must be None when b is None"


@pytest.mark.parametrize("shape", [(2, 2, 5, 4, 3, 3, 1, 1), (1, 2, 6, 7, 2, 2, 2, 1), (2, 1, 7, 5, 2, 3, 3, 2)])
def test_numerical_gradients(rng, shape):
    x, w, b, s, p, dout = _random_case(rng, shape, np.float64)
    _, cache = ref.conv2d_forward(x, w, b, s, p)
    dx, dw, db = ref.conv2d_backward(dout, cache)
    dx_num = ref.eval_numerical_gradient_array(lambda a: ref.conv2d_forward(a, w, b, s, p)[0], x, dout)
    dw_num = ref.eval_numerical_gradient_array(lambda a: ref.conv2d_forward(x, a, b, s, p)[0], w, dout)
    db_num = ref.eval_numerical_gradient_array(lambda a: ref.conv2d_forward(x, w, a, s, p)[0], b, dout)
    assert ref.rel_error(dx, dx_num) < 1e-7, f"dx rel error {ref.rel_error(dx, dx_num)}"
    assert ref.rel_error(dw, dw_num) < 1e-7, f"dw rel error {ref.rel_error(dw, dw_num)}"
    assert ref.rel_error(db, db_num) < 1e-7, f"db rel error {ref.rel_error(db, db_num)}"


def test_inputs_not_modified(rng):
    x, w, b, s, p, dout = _random_case(rng, SHAPES[0], np.float32)
    copies = [a.copy() for a in (x, w, b, dout)]
    for fwd, bwd in [(ref.conv2d_forward, ref.conv2d_backward), (ref.conv2d_forward_loops, ref.conv2d_backward_loops)]:
        _, cache = fwd(x, w, b, s, p)
        bwd(dout, cache)
    layer = ref.Conv2d(w, b, s, p)
    layer.forward(x)
    layer.backward(dout)
    for a, c in zip((x, w, b, dout), copies):
        np.testing.assert_array_equal(a, c)


def test_non_contiguous_input(rng):
    x = rng.standard_normal((2, 6, 3, 5)).transpose(0, 2, 3, 1)  # (2, 3, 5, 6), not C-contiguous
    w = rng.standard_normal((2, 3, 3, 3))
    b = rng.standard_normal(2)
    for pad in (0, 1):
        out, _ = ref.conv2d_forward(x, w, b, 1, pad)
        out_t = F.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), padding=pad).numpy()
        np.testing.assert_allclose(out, out_t, rtol=1e-10, atol=1e-10)


def test_zero_pad(rng):
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    for pad in (0, 1, 3):
        xp = ref.zero_pad(x, pad)
        assert xp.dtype == x.dtype
        np.testing.assert_array_equal(xp, F.pad(torch.tensor(x), (pad, pad, pad, pad)).numpy())


def test_conv_output_size():
    assert ref.conv_output_size(32, 3, 1, 1) == 32
    assert ref.conv_output_size(7, 3, 0, 2) == 3
    assert ref.conv_output_size(8, 3, 0, 2) == 3
    assert ref.conv_output_size(5, 5, 0, 1) == 1
    assert ref.conv_output_size(4, 6, 1, 3) == 1


# ---------------------------------------------------------------------------- bad inputs


def _msg(excinfo):
    return str(excinfo.value)


def test_bad_ndim():
    w = np.zeros((2, 3, 3, 3))
    with pytest.raises(ValueError) as e:
        ref.conv2d_forward(np.zeros((3, 5, 5)), w, np.zeros(2))
    assert "(N, C, H, W)" in _msg(e) and "(3, 5, 5)" in _msg(e)
    with pytest.raises(ValueError) as e:
        ref.conv2d_forward(np.zeros((1, 3, 5, 5)), np.zeros((3, 3, 3)), np.zeros(2))
    assert "(F, C, f, f)" in _msg(e) and "(3, 3, 3)" in _msg(e)
    with pytest.raises(ValueError) as e:
        ref.zero_pad(np.zeros((5, 5)), 1)
    assert "(N, C, H, W)" in _msg(e) and "(5, 5)" in _msg(e)


def test_channel_mismatch():
    with pytest.raises(ValueError) as e:
        ref.conv2d_forward(np.zeros((1, 4, 5, 5)), np.zeros((2, 3, 3, 3)), np.zeros(2))
    assert "(1, 4, 5, 5)" in _msg(e) and "(2, 3, 3, 3)" in _msg(e)


def test_bias_shape():
    with pytest.raises(ValueError) as e:
        ref.conv2d_forward(np.zeros((1, 3, 5, 5)), np.zeros((2, 3, 3, 3)), np.zeros(3))
    assert "(2,)" in _msg(e) and "(3,)" in _msg(e)


def test_filter_larger_than_padded_input():
    with pytest.raises(ValueError) as e:
        ref.conv2d_forward(np.zeros((1, 1, 4, 6)), np.zeros((1, 1, 7, 7)), np.zeros(1), pad=1)
    assert "7x7" in _msg(e) and "6x8" in _msg(e)
    with pytest.raises(ValueError):
        ref.conv_output_size(3, 6, 1, 1)


@pytest.mark.parametrize("stride", [0, -1, 1.5, "1", True])
def test_bad_stride(stride):
    with pytest.raises(ValueError) as e:
        ref.conv2d_forward(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), np.zeros(1), stride=stride)
    assert "stride" in _msg(e) and repr(stride) in _msg(e)


@pytest.mark.parametrize("pad", [-1, 1.5, "1", 1.0, None])
def test_bad_pad(pad):
    with pytest.raises(ValueError) as e:
        ref.conv2d_forward(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), np.zeros(1), pad=pad)
    assert "pad" in _msg(e) and repr(pad) in _msg(e)
    with pytest.raises(ValueError):
        ref.zero_pad(np.zeros((1, 1, 2, 2)), pad)


def test_integer_input_rejected():
    with pytest.raises(ValueError) as e:
        ref.conv2d_forward(np.zeros((1, 1, 5, 5), dtype=int), np.zeros((1, 1, 3, 3)), np.zeros(1))
    assert "floating" in _msg(e)


@pytest.mark.parametrize("backward, forward", [(ref.conv2d_backward, ref.conv2d_forward),
                                               (ref.conv2d_backward_loops, ref.conv2d_forward_loops)])
def test_dout_wrong_shape(backward, forward):
    _, cache = forward(np.zeros((2, 3, 6, 5)), np.zeros((4, 3, 3, 3)), np.zeros(4), 1, 1)
    with pytest.raises(ValueError) as e:
        backward(np.zeros((2, 4, 6, 6)), cache)
    assert "(2, 4, 6, 5)" in _msg(e) and "(2, 4, 6, 6)" in _msg(e)
    with pytest.raises(ValueError) as e:
        backward(np.zeros((4, 6, 5)), cache)
    assert "(4, 6, 5)" in _msg(e)


def test_layer_errors(rng):
    layer = ref.Conv2d(np.zeros((2, 3, 3, 3)), np.zeros(2), pad=1)
    with pytest.raises(ValueError, match="before forward"):
        layer.backward(np.zeros((1, 2, 4, 4)))
    layer.forward(np.zeros((1, 3, 4, 4)))
    with pytest.raises(ValueError) as e:
        layer.backward(np.zeros((1, 2, 4, 5)))
    assert "(1, 2, 4, 4)" in _msg(e) and "(1, 2, 4, 5)" in _msg(e)
