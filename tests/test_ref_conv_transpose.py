"""cnn_course.ref/pt transposed convolution against torch's F.conv_transpose2d, numerical
gradients, the adjoint of conv2d, the loops and the seeds' worked example."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnn_course import pt, ref

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# (N, C_in, H, W, C_out, f, stride, pad, output_padding)
SHAPES = [
    (2, 3, 4, 5, 2, 3, 1, 0, 0),
    (1, 1, 2, 2, 1, 3, 2, 1, 1),
    (3, 2, 5, 3, 4, 2, 2, 0, 0),
    (2, 4, 3, 4, 3, 3, 2, 1, 0),
    (1, 2, 4, 4, 2, 4, 3, 2, 2),
    (2, 3, 6, 5, 2, 1, 1, 0, 0),
    (1, 2, 3, 3, 3, 5, 2, 2, 1),
    (20, 2, 3, 3, 2, 3, 1, 1, 0),  # more samples than one chunk
    (2, 2, 3, 4, 2, 2, 3, 0, 2),  # output_padding > pad: zero rows appended at the bottom
]


def _case(rng, shape, dtype):
    N, Ci, H, W, Co, f, s, p, op = shape
    x = rng.standard_normal((N, Ci, H, W)).astype(dtype)
    w = rng.standard_normal((Ci, Co, f, f)).astype(dtype)
    b = rng.standard_normal(Co).astype(dtype)
    Ho, Wo = ((n - 1) * s - 2 * p + f + op for n in (H, W))
    dout = rng.standard_normal((N, Co, Ho, Wo)).astype(dtype)
    return x, w, b, s, p, op, dout


def _tol(dtype):
    return dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_matches_torch(rng, shape, dtype):
    x, w, b, s, p, op, dout = _case(rng, shape, dtype)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    out_t = F.conv_transpose2d(xt, wt, bt, stride=s, padding=p, output_padding=op)
    out_t.backward(torch.tensor(dout))
    out, cache = ref.conv_transpose2d_forward(x, w, b, stride=s, pad=p, output_padding=op)
    got = dict(zip(("out", "dx", "dw", "db"), (out, *ref.conv_transpose2d_backward(dout, cache))))
    want = dict(out=out_t, dx=xt.grad, dw=wt.grad, db=bt.grad)
    for name in got:
        assert got[name].dtype == dtype, f"{name}: dtype {got[name].dtype}, expected {dtype}"
        assert got[name].shape == tuple(want[name].shape), f"{name}: shape {got[name].shape} != {tuple(want[name].shape)}"
        np.testing.assert_allclose(got[name], want[name].detach().numpy(), err_msg=name, **_tol(dtype))


@pytest.mark.parametrize("shape", SHAPES)
def test_pt_twin_matches_torch(shape):
    rng = np.random.default_rng(5)
    x, w, b, s, p, op, dout = _case(rng, shape, np.float64)
    ours = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    o1 = pt.conv_transpose2d(*ours, stride=s, pad=p, output_padding=op)
    o2 = F.conv_transpose2d(*theirs, stride=s, padding=p, output_padding=op)
    torch.testing.assert_close(o1, o2)
    o1.backward(torch.tensor(dout))
    o2.backward(torch.tensor(dout))
    for a, c in zip(ours, theirs):
        torch.testing.assert_close(a.grad, c.grad)


def test_pt_layer_same_init_as_torch():
    torch.manual_seed(3)
    ours = pt.ConvTranspose2d(4, 3, 2, stride=2)
    torch.manual_seed(3)
    theirs = torch.nn.ConvTranspose2d(4, 3, 2, stride=2)
    torch.testing.assert_close(ours.weight, theirs.weight)
    torch.testing.assert_close(ours.bias, theirs.bias)
    x = torch.randn(2, 4, 5, 5)
    torch.testing.assert_close(ours(x), theirs(x))
    assert ours(x).shape == (2, 3, 10, 10)


@pytest.mark.parametrize("shape", [SHAPES[0], SHAPES[1], SHAPES[3], SHAPES[8]])
def test_numerical_gradients(rng, shape):
    x, w, b, s, p, op, dout = _case(rng, shape, np.float64)
    _, cache = ref.conv_transpose2d_forward(x, w, b, s, p, op)
    dx, dw, db = ref.conv_transpose2d_backward(dout, cache)
    for name, got, arg in (("dx", dx, 0), ("dw", dw, 1), ("db", db, 2)):
        args = [x, w, b]

        def f(a, arg=arg):
            args2 = list(args)
            args2[arg] = a
            return ref.conv_transpose2d_forward(*args2, s, p, op)[0]

        num = ref.eval_numerical_gradient_array(f, args[arg], dout)
        assert ref.rel_error(got, num) < 1e-7, f"{name} rel error {ref.rel_error(got, num)}"


@pytest.mark.parametrize("shape", SHAPES)
def test_is_the_input_gradient_of_conv2d(rng, shape):
    """conv_transpose2d(y, w) = d/dx <conv2d(x, w), y>: the adjoint, <conv(x), y> = <x, conv_t(y)>."""
    y, w, _, s, p, op, z = _case(rng, shape, np.float64)  # y: what the conv outputs; z: what it reads
    conv_out, cache = ref.conv2d_forward(z, w, None, stride=s, pad=p)
    assert conv_out.shape == y.shape, "conv2d maps the transposed conv's output shape back to its input shape"
    t, _ = ref.conv_transpose2d_forward(y, w, None, stride=s, pad=p, output_padding=op)
    dz, _, _ = ref.conv2d_backward(y, cache)
    np.testing.assert_allclose(t, dz, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.vdot(conv_out, y), np.vdot(z, t), rtol=1e-12)
    # and the backward of the transposed conv with respect to its input is conv2d itself
    _, tcache = ref.conv_transpose2d_forward(y, w, None, stride=s, pad=p, output_padding=op)
    np.testing.assert_allclose(ref.conv_transpose2d_backward(z, tcache)[0], conv_out, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES[:7] + SHAPES[8:])
def test_loops_equal_vectorised(rng, shape):
    x, w, b, s, p, op, _ = _case(rng, shape, np.float64)
    out_l, cache_l = ref.conv_transpose2d_forward_loops(x, w, b, s, p, op)
    out, cache = ref.conv_transpose2d_forward(x, w, b, s, p, op)
    np.testing.assert_allclose(out_l, out, rtol=1e-12, atol=1e-12)
    assert len(cache_l) == len(cache)


SEED_X = np.array([[2.0, 1.0], [3.0, 2.0]])
SEED_W = np.array([[1.0, 2.0, 1.0], [2.0, 0.0, 1.0], [0.0, 2.0, 1.0]])
SEED_OUT = np.array([[0, 4, 0, 1], [10, 7, 6, 3], [0, 7, 0, 2], [6, 3, 4, 2]], dtype=float)


def test_seeds_worked_example():
    """2x2 input, 3x3 filter, stride 2, padding 1 -> the 4x4 answer is torch's output_padding=1."""
    out, _ = ref.conv_transpose2d_forward(SEED_X[None, None], SEED_W[None, None], None, stride=2, pad=1,
                                          output_padding=1)
    np.testing.assert_array_equal(out[0, 0], SEED_OUT)
    torch_out = F.conv_transpose2d(torch.tensor(SEED_X)[None, None], torch.tensor(SEED_W)[None, None],
                                   stride=2, padding=1, output_padding=1)
    np.testing.assert_array_equal(torch_out[0, 0].numpy(), SEED_OUT)
    # without output_padding the formula gives 3x3: the same numbers minus the last row and column
    out3, _ = ref.conv_transpose2d_forward(SEED_X[None, None], SEED_W[None, None], None, stride=2, pad=1)
    np.testing.assert_array_equal(out3[0, 0], SEED_OUT[:3, :3])
    assert ref.conv_transpose_output_size(2, 3, pad=1, stride=2) == 3
    assert ref.conv_transpose_output_size(2, 3, pad=1, stride=2, output_padding=1) == 4
    # the first step of the example: 2 * filter placed top-left, cropped by the padding
    c = ref.conv_transpose2d_contributions(SEED_X, SEED_W, stride=2, pad=1, output_padding=1)
    np.testing.assert_array_equal(c[0, 0][:2, :2], [[0, 2], [4, 2]])
    np.testing.assert_array_equal(c[0, 0][2:], 0)
    np.testing.assert_array_equal(c.sum(axis=(0, 1)), SEED_OUT)


def test_contributions_uncropped(rng):
    x, w = rng.standard_normal((3, 4)), rng.standard_normal((3, 3))
    full = ref.conv_transpose2d_contributions(x, w, stride=2, pad=1, crop=False)
    assert full.shape == (3, 4, 7, 9)
    np.testing.assert_allclose(full[1, 2, 2:5, 4:7], x[1, 2] * w)
    out, _ = ref.conv_transpose2d_forward(x[None, None], w[None, None], None, 2, 1)
    np.testing.assert_allclose(full.sum(axis=(0, 1))[1:-1, 1:-1], out[0, 0], atol=1e-12)


def test_output_size_formula():
    for n, f, p, s, op in [(16, 2, 0, 2, 0), (7, 3, 1, 2, 1), (4, 4, 1, 2, 0), (5, 1, 0, 1, 0), (3, 3, 2, 3, 2)]:
        x = torch.zeros(1, 1, n, n)
        want = F.conv_transpose2d(x, torch.zeros(1, 1, f, f), stride=s, padding=p, output_padding=op).shape[-1]
        assert ref.conv_transpose_output_size(n, f, p, s, op) == want


def test_u_net_upsampling_doubles():
    x = np.ones((1, 2, 8, 8), np.float32)
    out, _ = ref.conv_transpose2d_forward(x, np.ones((2, 3, 2, 2), np.float32), np.zeros(3, np.float32), stride=2)
    assert out.shape == (1, 3, 16, 16) and out.dtype == np.float32
    np.testing.assert_array_equal(out, 2.0)  # 2x2 stride 2: no overlaps, each output pixel once per channel


def test_no_bias_and_inputs_not_modified(rng):
    x, w, b, s, p, op, dout = _case(rng, SHAPES[3], np.float64)
    copies = [a.copy() for a in (x, w, b, dout)]
    out, cache = ref.conv_transpose2d_forward(x, w, None, s, p, op)
    np.testing.assert_allclose(out + b.reshape(1, -1, 1, 1), ref.conv_transpose2d_forward(x, w, b, s, p, op)[0])
    assert ref.conv_transpose2d_backward(dout, cache)[2] is None
    for a, c in zip((x, w, b, dout), copies):
        np.testing.assert_array_equal(a, c)


# ---------------------------------------------------------------------------- bad inputs


def test_bad_inputs():
    x, w = np.zeros((1, 3, 4, 4)), np.zeros((3, 2, 2, 2))
    with pytest.raises(ValueError, match=r"\(N, C_in, H, W\)"):
        ref.conv_transpose2d_forward(np.zeros((3, 4, 4)), w, None)
    with pytest.raises(ValueError, match="input channels first"):
        ref.conv_transpose2d_forward(x, np.zeros((2, 3, 2, 2)), None)
    with pytest.raises(ValueError, match=r"\(2,\)"):
        ref.conv_transpose2d_forward(x, w, np.zeros(3))
    with pytest.raises(ValueError, match="smaller than stride"):
        ref.conv_transpose2d_forward(x, w, None, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="crops away"):
        ref.conv_transpose2d_forward(np.zeros((1, 3, 1, 1)), w, None, pad=1)
    with pytest.raises(ValueError, match="floating"):
        ref.conv_transpose2d_forward(x.astype(int), w, None)
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="stride"):
            ref.conv_transpose2d_forward(x, w, None, stride=bad)
    with pytest.raises(ValueError, match="pad"):
        ref.conv_transpose2d_forward(x, w, None, pad=-1)
    _, cache = ref.conv_transpose2d_forward(x, w, None, stride=2)
    with pytest.raises(ValueError, match=r"\(1, 2, 8, 8\)"):
        ref.conv_transpose2d_backward(np.zeros((1, 2, 8, 9)), cache)
    with pytest.raises(ValueError, match="6-tuple"):
        ref.conv_transpose2d_backward(np.zeros((1, 2, 8, 8)), cache[:5])
    with pytest.raises(ValueError, match="dtype"):
        pt.conv_transpose2d(torch.zeros(1, 3, 4, 4), torch.zeros(3, 2, 2, 2, dtype=torch.float64))
