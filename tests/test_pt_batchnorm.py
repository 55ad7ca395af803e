"""cnn_course.pt batch norm against torch's F.batch_norm and nn.BatchNorm1d/2d, and the NumPy reference."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnn_course import ref
from cnn_course.pt import BatchNorm1d, BatchNorm2d, batch_norm

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
DTYPES = [torch.float32, torch.float64]
TOL = {torch.float32: dict(rtol=1e-4, atol=1e-5), torch.float64: dict(rtol=1e-10, atol=1e-12)}
# (N, C), (N, C, L), (N, C, H, W), including one sample with several pixels and 1x1 maps
SHAPES = [(6, 4), (2, 5), (3, 2, 7), (1, 3, 5), (4, 3, 5, 2), (1, 2, 3, 3), (5, 4, 1, 1)]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _randn(shape, gen, dtype, device, scale=1.0, shift=0.0):
    return (shift + scale * torch.randn(shape, generator=gen, dtype=dtype)).to(device)


def _per_channel(C, gen, dtype, device):
    """gamma, beta, running_mean, running_var (positive)."""
    gamma, beta, running_mean = (_randn((C,), gen, dtype, device) for _ in range(3))
    running_var = (0.5 + torch.rand(C, generator=gen, dtype=dtype)).to(device)
    return gamma, beta, running_mean, running_var


def _leaf(t):
    return t.detach().clone().requires_grad_()


# train mode needs two values per channel or more (the error has its own test)
FUNCTIONAL_CASES = [(shape, train) for shape in SHAPES + [(1, 4), (1, 3, 1, 1)] for train in (True, False)
                    if not train or shape[0] * int(np.prod(shape[2:])) > 1]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, train", FUNCTIONAL_CASES)
def test_batch_norm_matches_F_batch_norm(shape, train, dtype, device):
    gen = torch.Generator().manual_seed(len(shape) * 10 + shape[0])
    gamma, beta, rm, rv = _per_channel(shape[1], gen, dtype, device)
    ours_rm, ours_rv = rm.clone(), rv.clone()
    for step in range(2):
        x = _randn(shape, gen, dtype, device, scale=2.0, shift=step + 0.5)
        upstream = _randn(shape, gen, dtype, device)
        ours_in = [_leaf(t) for t in (x, gamma, beta)]
        theirs_in = [_leaf(t) for t in (x, gamma, beta)]
        out = batch_norm(ours_in[0], ours_in[1], ours_in[2], ours_rm, ours_rv, train, 0.3, 1e-4)
        expected = F.batch_norm(theirs_in[0], rm, rv, theirs_in[1], theirs_in[2], train, 0.3, 1e-4)
        torch.testing.assert_close(out, expected, **TOL[dtype])
        torch.testing.assert_close(ours_rm, rm, **TOL[dtype])
        torch.testing.assert_close(ours_rv, rv, **TOL[dtype])
        got = torch.autograd.grad(out, ours_in, upstream)
        want = torch.autograd.grad(expected, theirs_in, upstream)
        for name, g, w in zip(("dx", "dgamma", "dbeta"), got, want):
            torch.testing.assert_close(g, w, msg=lambda m: f"{name}: {m}", **TOL[dtype])


@pytest.mark.parametrize("device", DEVICES)
def test_batch_norm_without_affine_or_running_stats(device):
    gen = torch.Generator().manual_seed(3)
    x = _randn((4, 3, 2, 2), gen, torch.float64, device)
    torch.testing.assert_close(batch_norm(x, None, None), F.batch_norm(x, None, None, training=True))
    gamma, beta, rm, rv = _per_channel(3, gen, torch.float64, device)
    torch.testing.assert_close(batch_norm(x, gamma, None, rm, rv, train=False),
                               F.batch_norm(x, rm, rv, gamma, None, training=False))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("train", [True, False])
def test_batch_norm_gradcheck(device, train):
    gen = torch.Generator().manual_seed(int(train))
    x = _leaf(_randn((3, 2, 2, 3), gen, torch.float64, device, scale=2.0, shift=1.0))
    gamma, beta, rm, rv = _per_channel(2, gen, torch.float64, device)
    gamma, beta = _leaf(gamma), _leaf(beta)
    # clones: in train mode every call would move the running statistics
    fn = lambda x, g, b: batch_norm(x, g, b, rm.clone(), rv.clone(), train)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, gamma, beta))


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 4, 5), (1, 2, 3, 2)])
def test_batch_norm_matches_numpy_reference(shape, train):
    gen = torch.Generator().manual_seed(7)
    x = _leaf(_randn(shape, gen, torch.float64, "cpu"))
    gamma, beta, rm, rv = _per_channel(shape[1], gen, torch.float64, "cpu")
    gamma, beta = _leaf(gamma), _leaf(beta)
    np_rm, np_rv = rm.numpy().copy(), rv.numpy().copy()
    out = batch_norm(x, gamma, beta, rm, rv, train, 0.1, 1e-5)
    expected, cache = ref.batchnorm_forward(x.detach().numpy(), gamma.detach().numpy(), beta.detach().numpy(),
                                            np_rm, np_rv, train=train, momentum=0.1, eps=1e-5)
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(rm.numpy(), np_rm, rtol=1e-12)
    np.testing.assert_allclose(rv.numpy(), np_rv, rtol=1e-12)
    dout = np.random.default_rng(0).standard_normal(shape)
    got = torch.autograd.grad(out, (x, gamma, beta), torch.from_numpy(dout))
    for g, want in zip(got, ref.batchnorm_backward(dout, cache)):
        np.testing.assert_allclose(g.numpy(), want, rtol=1e-10, atol=1e-12)


def _pair(ours_cls, theirs_cls, device, dtype, **kw):
    """Our module and torch's, with the same random affine parameters."""
    ours = ours_cls(3, device=device, dtype=dtype, **kw)
    theirs = theirs_cls(3, device=device, dtype=dtype, **kw)
    if ours.weight is not None:
        with torch.no_grad():
            gen = torch.Generator().manual_seed(11)
            for p in ("weight", "bias"):
                value = _randn((3,), gen, dtype, device)
                getattr(ours, p).copy_(value)
                getattr(theirs, p).copy_(value)
    return ours, theirs


def _assert_same_state(ours, theirs, dtype):
    ours_sd, theirs_sd = ours.state_dict(), theirs.state_dict()
    assert list(ours_sd) == list(theirs_sd)
    for key in ours_sd:
        if key == "num_batches_tracked":
            assert ours_sd[key].dtype == torch.long
        torch.testing.assert_close(ours_sd[key], theirs_sd[key], **TOL[dtype])


MODULE_CASES = [
    (BatchNorm1d, nn.BatchNorm1d, (6, 3)),
    (BatchNorm1d, nn.BatchNorm1d, (4, 3, 5)),
    (BatchNorm2d, nn.BatchNorm2d, (4, 3, 3, 2)),
    (BatchNorm2d, nn.BatchNorm2d, (1, 3, 2, 2)),
]
MODULE_OPTIONS = [
    dict(),
    dict(momentum=None),
    dict(momentum=0.5, eps=1e-3),
    dict(affine=False),
    dict(track_running_stats=False),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("options", MODULE_OPTIONS,
                         ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
@pytest.mark.parametrize("ours_cls, theirs_cls, shape", MODULE_CASES)
def test_modules_match_torch_in_train_and_eval(ours_cls, theirs_cls, shape, options, dtype, device):
    ours, theirs = _pair(ours_cls, theirs_cls, device, dtype, **options)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert repr(ours) == repr(theirs)
    gen = torch.Generator().manual_seed(5)
    for step in range(3):
        for module_mode in ("train", "eval"):
            ours.train(module_mode == "train")
            theirs.train(module_mode == "train")
            x = _randn(shape, gen, dtype, device, scale=1.5, shift=step)
            upstream = _randn(shape, gen, dtype, device)
            xo, xt = _leaf(x), _leaf(x)
            out_o, out_t = ours(xo), theirs(xt)
            torch.testing.assert_close(out_o, out_t, **TOL[dtype])
            params_o, params_t = [xo] + list(ours.parameters()), [xt] + list(theirs.parameters())
            for g, w in zip(torch.autograd.grad(out_o, params_o, upstream),
                            torch.autograd.grad(out_t, params_t, upstream)):
                torch.testing.assert_close(g, w, **TOL[dtype])
            _assert_same_state(ours, theirs, dtype)
    if ours.track_running_stats:
        assert int(ours.num_batches_tracked) == 3


@pytest.mark.parametrize("device", DEVICES)
def test_state_dicts_load_both_ways(device):
    gen = torch.Generator().manual_seed(2)
    theirs = nn.BatchNorm2d(3, device=device)
    for _ in range(4):
        theirs(_randn((5, 3, 4, 4), gen, torch.float32, device, shift=2.0))
    with torch.no_grad():
        theirs.weight.mul_(3.0)
    ours = BatchNorm2d(3, device=device)
    ours.load_state_dict(theirs.state_dict())
    assert int(ours.num_batches_tracked) == 4
    x = _randn((2, 3, 4, 4), gen, torch.float32, device)
    ours.eval(), theirs.eval()
    torch.testing.assert_close(ours(x), theirs(x), **TOL[torch.float32])
    back = nn.BatchNorm2d(3, device=device).eval()
    back.load_state_dict(ours.state_dict())
    torch.testing.assert_close(back(x), theirs(x), rtol=0, atol=0)
    # BatchNorm1d keeps the same keys; a module inside a model too
    model = nn.Sequential(nn.Linear(4, 3), BatchNorm1d(3))
    reference = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    assert model.load_state_dict(reference.state_dict()) is not None
    assert list(model.state_dict()) == list(reference.state_dict())


def test_reset_and_a_training_step_with_an_optimizer():
    torch.manual_seed(0)
    ours = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), BatchNorm2d(3), nn.ReLU())
    torch.manual_seed(0)
    theirs = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU())
    opt_o = torch.optim.SGD(ours.parameters(), lr=0.1)
    opt_t = torch.optim.SGD(theirs.parameters(), lr=0.1)
    gen = torch.Generator().manual_seed(1)
    for _ in range(3):
        x = torch.randn(4, 2, 5, 5, generator=gen)
        for model, opt in ((ours, opt_o), (theirs, opt_t)):
            opt.zero_grad()
            model(x).square().mean().backward()
            opt.step()
    for a, b in zip(ours.state_dict().values(), theirs.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    bn = ours[1]
    bn.reset_parameters()
    assert torch.equal(bn.weight, torch.ones(3)) and torch.equal(bn.running_var, torch.ones(3))
    assert int(bn.num_batches_tracked) == 0


@pytest.mark.parametrize("device", DEVICES)
def test_a_single_value_per_channel_in_train_mode_raises_like_torch(device):
    for ours, theirs, shape in [(BatchNorm1d(4), nn.BatchNorm1d(4), (1, 4)),
                                (BatchNorm2d(4), nn.BatchNorm2d(4), (1, 4, 1, 1))]:
        ours.to(device), theirs.to(device)
        x = torch.randn(shape, device=device)
        with pytest.raises(ValueError, match="more than one value per channel"):
            ours(x)
        with pytest.raises(ValueError, match="more than 1 value per channel"):
            theirs(x)
        assert int(ours.num_batches_tracked) == 0  # the unusable batch was not counted
        ours.eval(), theirs.eval()
        torch.testing.assert_close(ours(x), theirs(x))  # eval mode is fine with one value
    with pytest.raises(ValueError, match="more than one value per channel"):
        batch_norm(torch.randn(1, 3, device=device), None, None)


def test_bad_arguments():
    x, c = torch.ones(4, 3, 2, 2), torch.ones(3)
    cases = [
        (lambda: batch_norm(torch.ones(3), None, None), ValueError, "at least 2 axes"),
        (lambda: batch_norm(torch.ones(4, 3, dtype=torch.long), None, None), ValueError, "floating-point dtype"),
        (lambda: batch_norm(x, torch.ones(4), c), ValueError, r"gamma must have shape \(C,\) = \(3,\)"),
        (lambda: batch_norm(x, c, c.double()), ValueError, "beta must have the same dtype as x"),
        (lambda: batch_norm(x, c, c, c, c, True, 1.5), ValueError, r"momentum must be a number in \[0, 1\]"),
        (lambda: batch_norm(x, c, c, c, c, True, -0.1), ValueError, "momentum"),
        (lambda: batch_norm(x, c, c, c, c, True, None), ValueError, "momentum"),
        (lambda: batch_norm(x, c, c, c, c, True, 0.1, -1.0), ValueError, "eps must be a non-negative"),
        (lambda: batch_norm(x, c, c, None, None, False), ValueError, "eval mode"),
        (lambda: batch_norm(x.numpy(), c, c), TypeError, "x must be a tensor"),
        (lambda: BatchNorm2d(3)(torch.ones(4, 3)), ValueError, r"BatchNorm2d expects input of shape \(N, C, H, W\)"),
        (lambda: BatchNorm1d(3)(x), ValueError, r"\(N, C\) or \(N, C, L\), got a 4-D"),
        (lambda: BatchNorm2d(4)(x), ValueError, r"expects C = 4 channels"),
        (lambda: BatchNorm2d(3, affine=False, track_running_stats=False)(torch.ones(2, 5, 1, 1)),
         ValueError, "C = 3"),
        (lambda: BatchNorm2d(3)(x.long()), ValueError, "floating-point dtype"),
        (lambda: BatchNorm2d(3, momentum=2.0), ValueError, r"or None \(cumulative average\)"),
        (lambda: BatchNorm2d(0), ValueError, "num_features must be a positive integer"),
    ]
    for call, error, match in cases:
        with pytest.raises(error, match=match):
            call()
