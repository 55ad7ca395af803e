"""cnn_course.ref pooling against torch's F.max_pool2d / F.avg_pool2d, numerical gradients and the loops."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnn_course import ref

# (N, C, H, W, f, stride): tiling 2x2 windows, non-square, overlapping (stride < f),
# gaps (stride > f), leftover rows/columns, batch 1, one channel
SHAPES = [
    (2, 3, 8, 8, 2, 2),
    (2, 2, 6, 10, 2, 2),
    (2, 2, 7, 5, 2, 2),
    (1, 1, 9, 9, 3, 3),
    (2, 3, 9, 7, 3, 2),
    (2, 2, 7, 9, 2, 1),
    (1, 2, 8, 6, 3, 1),
    (3, 1, 5, 6, 1, 2),
    (1, 1, 5, 6, 3, 3),
    (2, 2, 10, 11, 2, 3),
]
TORCH = {"max": F.max_pool2d, "average": F.avg_pool2d}


def _case(rng, shape, dtype, ties=False):
    N, C, H, W, f, s = shape
    x = rng.standard_normal((N, C, H, W))
    if ties:  # few distinct values: many windows hold their maximum twice or more
        x = np.round(x)
    Ho, Wo = (H - f) // s + 1, (W - f) // s + 1
    return x.astype(dtype), f, s, rng.standard_normal((N, C, Ho, Wo)).astype(dtype)


def _torch_pool(x, f, s, mode, dout):
    xt = torch.tensor(x, requires_grad=True)
    out = TORCH[mode](xt, f, s)
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), xt.grad.numpy()


def _tol(dtype):
    return dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("shape", SHAPES)
def test_pool_matches_torch(rng, shape, mode, dtype, ties):
    x, f, s, dout = _case(rng, shape, dtype, ties)
    out_t, dx_t = _torch_pool(x, f, s, mode, dout)
    out, cache = ref.pool2d_forward(x, f, s, mode)
    dx = ref.pool2d_backward(dout, cache)
    for name, ours, theirs in [("out", out, out_t), ("dx", dx, dx_t)]:
        assert ours.dtype == dtype, f"{name} dtype {ours.dtype}, expected {dtype}"
        np.testing.assert_allclose(ours, theirs, err_msg=name, **_tol(dtype))


def test_max_ties_go_to_first_maximum():
    x = np.array([[[[1.0, 1.0], [1.0, 1.0]]]])  # one window, four equal maxima
    _, cache = ref.pool2d_forward(x, 2, 2)
    np.testing.assert_array_equal(ref.pool2d_backward(np.ones((1, 1, 1, 1)), cache), [[[[1.0, 0.0], [0.0, 0.0]]]])
    x = np.array([[[[0.0, 2.0, 0.0], [2.0, 1.0, 2.0], [0.0, 2.0, 0.0]]]])
    for pool in (ref.pool2d_forward, ref.pool2d_forward_loops):
        _, cache = pool(x, 3, 1)
        back = ref.pool2d_backward if pool is ref.pool2d_forward else ref.pool2d_backward_loops
        np.testing.assert_array_equal(back(np.ones((1, 1, 1, 1)), cache)[0, 0], [[0, 1, 0], [0, 0, 0], [0, 0, 0]])


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("shape", SHAPES)
def test_loops_and_layer_equal_vectorised(rng, shape, mode):
    x, f, s, dout = _case(rng, shape, np.float64, ties=True)
    out, cache = ref.pool2d_forward(x, f, s, mode)
    dx = ref.pool2d_backward(dout, cache)
    out_l, cache_l = ref.pool2d_forward_loops(x, f, s, mode)
    np.testing.assert_allclose(out_l, out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ref.pool2d_backward_loops(dout, cache_l), dx, rtol=1e-12, atol=1e-12)
    layer = ref.MaxPool2d(f, s) if mode == "max" else ref.AvgPool2d(f, s)
    for _ in range(2):  # the second call reuses the buffers of the first
        np.testing.assert_array_equal(layer.forward(x), out)
        np.testing.assert_array_equal(layer.backward(dout), dx)


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("shape", [(2, 2, 4, 6, 2, 2), (1, 2, 5, 5, 3, 1), (2, 1, 7, 6, 2, 3), (1, 2, 7, 7, 3, 2)])
def test_numerical_gradient(rng, shape, mode):
    x, f, s, dout = _case(rng, shape, np.float64)  # continuous values: no ties, no kinks
    _, cache = ref.pool2d_forward(x, f, s, mode)
    dx = ref.pool2d_backward(dout, cache)
    dx_num = ref.eval_numerical_gradient_array(lambda a: ref.pool2d_forward(a, f, s, mode)[0], x, dout)
    assert ref.rel_error(dx, dx_num) < 1e-8, f"dx rel error {ref.rel_error(dx, dx_num)}"


def test_inputs_not_modified(rng):
    for shape in (SHAPES[0], SHAPES[4]):
        x, f, s, dout = _case(rng, shape, np.float32)
        x0, d0 = x.copy(), dout.copy()
        for mode in ("max", "average"):
            _, cache = ref.pool2d_forward(x, f, s, mode)
            ref.pool2d_backward(dout, cache)
            _, cache = ref.pool2d_forward_loops(x, f, s, mode)
            ref.pool2d_backward_loops(dout, cache)
            layer = ref.Pool2d(f, s, mode)
            layer.forward(x)
            layer.backward(dout)
        np.testing.assert_array_equal(x, x0)
        np.testing.assert_array_equal(dout, d0)


def test_default_stride_is_f(rng):
    x = rng.standard_normal((1, 2, 6, 6))
    np.testing.assert_array_equal(ref.MaxPool2d(3).forward(x), ref.pool2d_forward(x, 3, 3)[0])
    np.testing.assert_array_equal(ref.AvgPool2d(2).forward(x), ref.pool2d_forward(x, 2, 2, "average")[0])


# ---------------------------------------------------------------------------- bad inputs


def test_bad_ndim():
    with pytest.raises(ValueError) as e:
        ref.pool2d_forward(np.zeros((3, 4, 4)), 2, 2)
    assert "(N, C, H, W)" in str(e.value) and "(3, 4, 4)" in str(e.value)


def test_window_larger_than_input():
    with pytest.raises(ValueError) as e:
        ref.pool2d_forward(np.zeros((1, 1, 3, 5)), 4, 1)
    assert "f=4" in str(e.value) and "(1, 1, 3, 5)" in str(e.value)


@pytest.mark.parametrize("kw", [dict(f=0, stride=1), dict(f=2, stride=0), dict(f=2, stride=-2),
                                dict(f=2.0, stride=2), dict(f=2, stride="2"), dict(f=2, stride=1.5)])
def test_bad_f_or_stride(kw):
    with pytest.raises(ValueError) as e:
        ref.pool2d_forward(np.zeros((1, 1, 4, 4)), **kw)
    assert "integer" in str(e.value)


@pytest.mark.parametrize("mode", ["avg", "MAX", "min", None])
def test_bad_mode(mode):
    with pytest.raises(ValueError) as e:
        ref.pool2d_forward(np.zeros((1, 1, 4, 4)), 2, 2, mode)
    assert "'max', 'average'" in str(e.value) and repr(mode) in str(e.value)
    with pytest.raises(ValueError):
        ref.Pool2d(2, 2, mode)


@pytest.mark.parametrize("fwd, bwd", [(ref.pool2d_forward, ref.pool2d_backward),
                                      (ref.pool2d_forward_loops, ref.pool2d_backward_loops)])
@pytest.mark.parametrize("mode", ["max", "average"])
def test_dout_wrong_shape(fwd, bwd, mode):
    _, cache = fwd(np.zeros((2, 3, 8, 6)), 2, 2, mode)
    with pytest.raises(ValueError) as e:
        bwd(np.zeros((2, 3, 4, 4)), cache)
    assert "(2, 3, 4, 3)" in str(e.value) and "(2, 3, 4, 4)" in str(e.value)


def test_layer_backward_before_forward():
    with pytest.raises(ValueError, match="before forward"):
        ref.MaxPool2d(2).backward(np.zeros((1, 1, 1, 1)))
    layer = ref.MaxPool2d(2)
    layer.forward(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError) as e:
        layer.backward(np.zeros((1, 1, 3, 2)))
    assert "(1, 1, 2, 2)" in str(e.value) and "(1, 1, 3, 2)" in str(e.value)
