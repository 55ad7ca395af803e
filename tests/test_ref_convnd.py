"""cnn_course.ref/pt n-dimensional convolution and pooling against F.conv1d/2d/3d and
F.max/avg_pool1d/3d, numerical gradients and bad inputs."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnn_course import pt, ref

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TORCH_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
TORCH_POOL = {("max", 1): F.max_pool1d, ("max", 2): F.max_pool2d, ("max", 3): F.max_pool3d,
              ("average", 1): F.avg_pool1d, ("average", 2): F.avg_pool2d, ("average", 3): F.avg_pool3d}

# (N, C, spatial, F, f, stride, pad)
CASES = [
    (2, 3, (14,), 4, (5,), 1, 0),
    (3, 2, (11,), 3, (3,), 2, 1),
    (1, 1, (9,), 2, (4,), 3, 2),
    (2, 2, (7, 6), 3, (3, 2), 1, (1, 0)),
    (2, 3, (8, 7), 2, (3, 3), (2, 1), 1),
    (2, 2, (5, 6, 4), 3, (3, 3, 3), 1, 1),
    (1, 3, (6, 5, 7), 2, (2, 3, 2), (2, 1, 3), (0, 1, 1)),
    (2, 1, (4, 4, 4), 2, (1, 1, 1), 1, 0),
    (3, 2, (7, 7, 7), 4, (3, 3, 3), 2, 1),
    (1, 2, (3, 4, 3, 4), 2, (2, 2, 2, 3), 1, (1, 0, 0, 1)),  # 4 spatial axes: no torch twin
    (40, 2, (6,), 3, (3,), 1, 1),  # many samples per chunk
]


def _case(rng, case, dtype):
    N, C, S, Fo, f, s, p = case
    x = rng.standard_normal((N, C, *S)).astype(dtype)
    w = rng.standard_normal((Fo, C, *f)).astype(dtype)
    b = rng.standard_normal(Fo).astype(dtype)
    O = ref.convnd_output_shape(S, f, s, p)
    dout = rng.standard_normal((N, Fo, *O)).astype(dtype)
    return x, w, b, s, p, dout


def _tol(dtype):
    return dict(rtol=2e-4, atol=2e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)


def _torch_ref(x, w, b, s, p, dout):
    d = x.ndim - 2
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    if d in TORCH_CONV:
        out = TORCH_CONV[d](xt, wt, bt, stride=s, padding=p)
    else:  # 4-D: a sum of 3-D convolutions over the first axis' filter offsets
        s4 = s if isinstance(s, tuple) else (s,) * 4
        p4 = p if isinstance(p, tuple) else (p,) * 4
        xp = F.pad(xt, (0, 0, 0, 0, 0, 0, p4[0], p4[0]))
        O0 = (xp.shape[2] - w.shape[2]) // s4[0] + 1
        outs = []
        for o in range(O0):
            acc = 0
            for i in range(w.shape[2]):
                acc = acc + F.conv3d(xp[:, :, o * s4[0] + i], wt[:, :, i], stride=s4[1:], padding=p4[1:])
            outs.append(acc)
        out = torch.stack(outs, 2) + bt.reshape(1, -1, 1, 1, 1, 1)
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{len(c[2])}d-{c[2]}-s{c[5]}-p{c[6]}")
def test_convnd_matches_torch(rng, case, dtype):
    x, w, b, s, p, dout = _case(rng, case, dtype)
    want = _torch_ref(x, w, b, s, p, dout)
    out, cache = ref.convnd_forward(x, w, b, s, p)
    got = (out, *ref.convnd_backward(dout, cache))
    for name, a, c in zip(("out", "dx", "dw", "db"), got, want):
        assert a.dtype == dtype and a.shape == c.shape, f"{name}: {a.dtype} {a.shape}, expected {dtype} {c.shape}"
        np.testing.assert_allclose(a, c, err_msg=name, **_tol(dtype))


@pytest.mark.parametrize("case", [c for c in CASES if len(c[2]) in (1, 3)], ids=str)
def test_conv1d_conv3d_wrappers_and_pt_twins(rng, case):
    x, w, b, s, p, dout = _case(rng, case, np.float64)
    d = x.ndim - 2
    fwd, bwd = (ref.conv1d_forward, ref.conv1d_backward) if d == 1 else (ref.conv3d_forward, ref.conv3d_backward)
    out, cache = fwd(x, w, b, stride=s, pad=p)
    want = _torch_ref(x, w, b, s, p, dout)
    for name, a, c in zip(("out", "dx", "dw", "db"), (out, *bwd(dout, cache)), want):
        np.testing.assert_allclose(a, c, rtol=1e-10, atol=1e-10, err_msg=name)
    twin = pt.conv1d if d == 1 else pt.conv3d
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    o = twin(xt, wt, bt, stride=s, pad=p)
    o.backward(torch.tensor(dout))
    for name, a, c in zip(("out", "dx", "dw", "db"), (o.detach(), xt.grad, wt.grad, bt.grad), want):
        np.testing.assert_allclose(a.numpy(), c, rtol=1e-10, atol=1e-10, err_msg=f"pt {name}")


def test_conv2d_agrees_with_course_conv2d(rng):
    x, w, b, s, p, dout = _case(rng, CASES[4], np.float64)
    out, cache = ref.convnd_forward(x, w, b, 2, 1)
    out2, cache2 = ref.conv2d_forward(x, w, b, 2, 1)
    np.testing.assert_allclose(out, out2, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    for a, c in zip(ref.convnd_backward(dout, cache), ref.conv2d_backward(dout, cache2)):
        np.testing.assert_allclose(a, c, atol=1e-12)


@pytest.mark.parametrize("case", [CASES[1], CASES[3], CASES[5], CASES[6]], ids=str)
def test_numerical_gradients(rng, case):
    x, w, b, s, p, dout = _case(rng, case, np.float64)
    _, cache = ref.convnd_forward(x, w, b, s, p)
    grads = ref.convnd_backward(dout, cache)
    for k, name in enumerate(("dx", "dw", "db")):
        def f(a, k=k):
            args = [x, w, b]
            args[k] = a
            return ref.convnd_forward(*args, s, p)[0]

        num = ref.eval_numerical_gradient_array(f, (x, w, b)[k], dout)
        assert ref.rel_error(grads[k], num) < 1e-7, f"{name} rel error {ref.rel_error(grads[k], num)}"


def test_wide_grid_chunks_within_one_sample(rng, monkeypatch):
    """A sample bigger than one chunk is split along its columns: same numbers."""
    from cnn_course.ref import convnd as mod

    x, w, b, s, p, dout = _case(rng, CASES[5], np.float64)
    out, cache = ref.convnd_forward(x, w, b, s, p)
    want = ref.convnd_backward(dout, cache)
    monkeypatch.setattr(mod, "CHUNK_BYTES", 600)
    assert len(mod._chunks(mod._Geometry(x.shape, w.shape, (1,) * 3, (1,) * 3), 8)) > 2 * x.shape[0]
    out2, cache2 = ref.convnd_forward(x, w, b, s, p)
    np.testing.assert_allclose(out2, out, atol=1e-12)
    for a, c in zip(ref.convnd_backward(dout, cache2), want):
        np.testing.assert_allclose(a, c, atol=1e-12)


def test_seed_examples_shapes(rng):
    """The EKG example: 14 samples, 16 filters of width 5 -> 10x16, then 32 of 5x16 -> 6x32;
    the CT example: 14^3 with 16 filters 5x5x5 -> 10^3 x 16."""
    x = rng.standard_normal((1, 1, 14))
    h, _ = ref.conv1d_forward(x, rng.standard_normal((16, 1, 5)), np.zeros(16))
    assert h.shape == (1, 16, 10)
    h2, _ = ref.conv1d_forward(h, rng.standard_normal((32, 16, 5)), np.zeros(32))
    assert h2.shape == (1, 32, 6)
    v, _ = ref.conv3d_forward(rng.standard_normal((1, 1, 14, 14, 14)), rng.standard_normal((16, 1, 5, 5, 5)), None)
    assert v.shape == (1, 16, 10, 10, 10)
    assert ref.convnd_output_shape((14, 14, 14), (5, 5, 5)) == (10, 10, 10)
    assert ref.convnd_output_shape((32, 32, 32), (3, 3, 3), stride=(1, 2, 2), pad=1) == (32, 16, 16)


# ---------------------------------------------------------------------------- pooling

POOLS = [  # (shape, f, stride)
    ((2, 3, 12), 2, None),
    ((2, 2, 11), 3, 2),
    ((1, 2, 8, 6), 2, None),
    ((2, 2, 6, 8, 4), 2, None),
    ((1, 3, 7, 6, 5), (3, 2, 2), (2, 2, 1)),
    ((2, 1, 5, 5, 5), 3, 1),
]


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("shape, f, stride", POOLS, ids=str)
def test_poolnd_matches_torch(rng, shape, f, stride, mode):
    d = len(shape) - 2
    x = rng.standard_normal(shape)
    x[..., :2] = 0.5  # ties: the first maximum takes the gradient, as in torch
    out, cache = ref.poolnd_forward(x, f, stride, mode)
    dout = rng.standard_normal(out.shape)
    xt = torch.tensor(x, requires_grad=True)
    ot = TORCH_POOL[mode, d](xt, f, stride if stride is not None else f)
    ot.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, ot.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(ref.poolnd_backward(dout, cache), xt.grad.numpy(), atol=1e-12)
    xp = torch.tensor(x, requires_grad=True)
    op = pt.poolnd(xp, f, stride, mode)
    op.backward(torch.tensor(dout))
    torch.testing.assert_close(op.detach(), ot.detach())
    torch.testing.assert_close(xp.grad, xt.grad)
    if d in (1, 3):
        fwd, bwd, twin = ((ref.pool1d_forward, ref.pool1d_backward, pt.pool1d) if d == 1
                          else (ref.pool3d_forward, ref.pool3d_backward, pt.pool3d))
        o2, c2 = fwd(x, f, stride, mode)
        np.testing.assert_array_equal(o2, out)
        np.testing.assert_array_equal(bwd(dout, c2), ref.poolnd_backward(dout, cache))
        torch.testing.assert_close(twin(torch.tensor(x), f, stride, mode), ot.detach())


def test_pool_numerical_gradient(rng):
    x = rng.standard_normal((2, 2, 5, 6, 4))
    for mode in ("max", "average"):
        out, cache = ref.pool3d_forward(x, 2, 1, mode)
        dout = rng.standard_normal(out.shape)
        num = ref.eval_numerical_gradient_array(lambda a: ref.pool3d_forward(a, 2, 1, mode)[0], x, dout)
        assert ref.rel_error(ref.pool3d_backward(dout, cache), num) < 1e-7


# ---------------------------------------------------------------------------- bad inputs


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"\(N, C, L\)"):
        ref.conv1d_forward(np.zeros((1, 2, 3, 3)), np.zeros((1, 2, 3)), None)
    with pytest.raises(ValueError, match=r"\(N, C, D, H, W\)"):
        ref.conv3d_forward(np.zeros((1, 2, 3, 3)), np.zeros((1, 2, 3, 3)), None)
    with pytest.raises(ValueError, match=r"\(F, C, f, f, f\)"):
        ref.conv3d_forward(np.zeros((1, 2, 4, 4, 4)), np.zeros((1, 2, 3, 3)), None)
    with pytest.raises(ValueError, match="span all of them"):
        ref.conv3d_forward(np.zeros((1, 2, 4, 4, 4)), np.zeros((1, 1, 3, 3, 3)), None)
    with pytest.raises(ValueError, match=r"\(3,\)"):
        ref.conv1d_forward(np.zeros((1, 2, 8)), np.zeros((3, 2, 3)), np.zeros(2))
    with pytest.raises(ValueError, match="one per spatial axis"):
        ref.conv3d_forward(np.zeros((1, 2, 4, 4, 4)), np.zeros((1, 2, 3, 3, 3)), None, stride=(1, 2))
    with pytest.raises(ValueError, match=r"stride\[1\]"):
        ref.conv3d_forward(np.zeros((1, 2, 4, 4, 4)), np.zeros((1, 2, 3, 3, 3)), None, stride=(1, 0, 1))
    with pytest.raises(ValueError, match="pad"):
        ref.conv1d_forward(np.zeros((1, 2, 8)), np.zeros((3, 2, 3)), None, pad=-1)
    with pytest.raises(ValueError, match="larger than the padded input on spatial axis 2"):
        ref.conv3d_forward(np.zeros((1, 1, 4, 4, 2)), np.zeros((1, 1, 3, 3, 3)), None)
    with pytest.raises(ValueError, match="floating"):
        ref.conv1d_forward(np.zeros((1, 2, 8), int), np.zeros((3, 2, 3)), None)
    _, cache = ref.conv1d_forward(np.zeros((1, 2, 8)), np.zeros((3, 2, 3)), None)
    with pytest.raises(ValueError, match=r"\(1, 3, 6\)"):
        ref.conv1d_backward(np.zeros((1, 3, 7)), cache)
    with pytest.raises(ValueError, match="larger than the input"):
        ref.pool3d_forward(np.zeros((1, 1, 4, 4, 1)), 2)
    with pytest.raises(ValueError, match="mode"):
        ref.pool1d_forward(np.zeros((1, 1, 4)), 2, mode="min")
    with pytest.raises(ValueError, match=r"\(N, C, L\)"):
        pt.pool1d(torch.zeros(1, 4), 2)
    with pytest.raises(ValueError, match="dtype"):
        pt.conv3d(torch.zeros(1, 1, 3, 3, 3), torch.zeros(1, 1, 3, 3, 3, dtype=torch.float64))
