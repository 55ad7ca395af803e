"""cnn_course.ref batch norm against torch.nn.BatchNorm1d/2d, numerical gradients and the steps."""

import numpy as np
import pytest
import torch

from cnn_course import ref
from cnn_course.ref.gradcheck import eval_numerical_gradient_array, rel_error

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# (N, D) and (N, C, H, W): one sample with several pixels, 1x1 maps, one channel, odd sizes
SHAPES = [
    (5, 4),
    (2, 7),
    (1, 3, 4, 5),
    (2, 3, 1, 2),
    (4, 2, 3, 3),
    (3, 5, 1, 1),
    (2, 1, 6, 3),
    (16, 8, 4, 4),
]
DTYPES = [np.float32, np.float64]


def _tol(dtype):
    return dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)


def _params(rng, C, dtype):
    """gamma, beta, running_mean, running_var (positive) of one layer."""
    gamma = rng.standard_normal(C).astype(dtype)
    beta = rng.standard_normal(C).astype(dtype)
    running_mean = rng.standard_normal(C).astype(dtype)
    running_var = rng.uniform(0.5, 2.0, C).astype(dtype)
    return gamma, beta, running_mean, running_var


def _torch_bn(x_shape, gamma, beta, running_mean, running_var, momentum=0.1, eps=1e-5):
    cls = torch.nn.BatchNorm1d if len(x_shape) == 2 else torch.nn.BatchNorm2d
    bn = cls(x_shape[1], eps=eps, momentum=momentum, dtype=torch.from_numpy(gamma).dtype)
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(gamma))
        bn.bias.copy_(torch.from_numpy(beta))
        bn.running_mean.copy_(torch.from_numpy(running_mean))
        bn.running_var.copy_(torch.from_numpy(running_var))
    return bn


def _torch_step(bn, x, dout):
    """out, dx, dgamma, dbeta of one forward + backward of the torch module."""
    bn.weight.grad = bn.bias.grad = None
    xt = torch.tensor(x, requires_grad=True)
    out = bn(xt)
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), xt.grad.numpy(), bn.weight.grad.numpy(), bn.bias.grad.numpy()


def _random(rng, shape, dtype, scale=1.0, shift=0.0):
    return (shift + scale * rng.standard_normal(shape)).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_train_matches_torch_over_several_steps(rng, shape, dtype):
    C = shape[1]
    gamma, beta, running_mean, running_var = _params(rng, C, dtype)
    bn = _torch_bn(shape, gamma, beta, running_mean, running_var, momentum=0.2)
    for step in range(3):
        x = _random(rng, shape, dtype, scale=2.0, shift=step - 1.0)
        dout = _random(rng, shape, dtype)
        out_t, dx_t, dgamma_t, dbeta_t = _torch_step(bn, x, dout)
        out, cache = ref.batchnorm_forward(x, gamma, beta, running_mean, running_var, train=True, momentum=0.2)
        dx, dgamma, dbeta = ref.batchnorm_backward(dout, cache)
        for name, ours, theirs in [("out", out, out_t), ("dx", dx, dx_t), ("dgamma", dgamma, dgamma_t),
                                   ("dbeta", dbeta, dbeta_t), ("running_mean", running_mean, bn.running_mean),
                                   ("running_var", running_var, bn.running_var)]:
            theirs = np.asarray(theirs.detach() if isinstance(theirs, torch.Tensor) else theirs)
            assert ours.dtype == dtype, f"{name} dtype {ours.dtype}, expected {dtype}"
            assert ours.shape == theirs.shape, f"{name} shape {ours.shape} != torch {theirs.shape}"
            np.testing.assert_allclose(ours, theirs, err_msg=f"step {step}: {name}", **_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES + [(1, 4), (1, 3, 1, 1)])
def test_eval_matches_torch_and_keeps_running_stats(rng, shape, dtype):
    gamma, beta, running_mean, running_var = _params(rng, shape[1], dtype)
    bn = _torch_bn(shape, gamma, beta, running_mean, running_var).eval()
    x, dout = _random(rng, shape, dtype), _random(rng, shape, dtype)
    out_t, dx_t, dgamma_t, dbeta_t = _torch_step(bn, x, dout)
    before = running_mean.copy(), running_var.copy()
    out, cache = ref.batchnorm_forward(x, gamma, beta, running_mean, running_var, train=False)
    dx, dgamma, dbeta = ref.batchnorm_backward(dout, cache)
    np.testing.assert_array_equal(running_mean, before[0])
    np.testing.assert_array_equal(running_var, before[1])
    pairs = [("out", out, out_t), ("dx", dx, dx_t), ("dgamma", dgamma, dgamma_t), ("dbeta", dbeta, dbeta_t)]
    for name, ours, theirs in pairs:
        assert ours.dtype == dtype
        np.testing.assert_allclose(ours, theirs, err_msg=name, **_tol(dtype))


@pytest.mark.parametrize("shape", [(1, 4), (1, 3, 1, 1)])
def test_a_single_value_per_channel_in_train_mode_raises_like_torch(rng, shape):
    gamma, beta, running_mean, running_var = _params(rng, shape[1], np.float64)
    x = _random(rng, shape, np.float64)
    with pytest.raises(ValueError, match="more than one value per channel"):
        ref.batchnorm_forward(x, gamma, beta, running_mean, running_var, train=True)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        _torch_bn(shape, gamma, beta, running_mean, running_var)(torch.tensor(x))
    with pytest.raises(ValueError, match="more than one value per channel"):
        ref.BatchNorm(shape[1]).forward(x)


def _numerical_grads(x, gamma, beta, running_mean, running_var, dout, train):
    def f(x_, g_, b_):
        # copies: the running arrays must not drift while the loss is probed
        out, _ = ref.batchnorm_forward(x_, g_, b_, running_mean.copy(), running_var.copy(), train=train)
        return out

    return (eval_numerical_gradient_array(lambda a: f(a, gamma, beta), x, dout),
            eval_numerical_gradient_array(lambda a: f(x, a, beta), gamma, dout),
            eval_numerical_gradient_array(lambda a: f(x, gamma, a), beta, dout))


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("shape", [(6, 3), (1, 2, 3, 2), (3, 2, 2, 3), (4, 3, 1, 1)])
def test_backward_and_steps_pass_the_numerical_gradient_check(rng, shape, train):
    gamma, beta, running_mean, running_var = _params(rng, shape[1], np.float64)
    x = _random(rng, shape, np.float64, scale=3.0, shift=1.5)
    dout = _random(rng, shape, np.float64)
    numerical = _numerical_grads(x, gamma, beta, running_mean, running_var, dout, train)
    _, cache = ref.batchnorm_forward(x, gamma, beta, running_mean.copy(), running_var.copy(), train=train)
    for backward in (ref.batchnorm_backward, ref.batchnorm_backward_steps):
        for name, ours, num in zip(("dx", "dgamma", "dbeta"), backward(dout, cache), numerical):
            assert rel_error(ours, num) < 1e-7, f"{backward.__name__} {name}: rel error {rel_error(ours, num)}"


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_steps_equal_the_fast_backward(rng, shape, dtype, train):
    gamma, beta, running_mean, running_var = _params(rng, shape[1], dtype)
    x, dout = _random(rng, shape, dtype, shift=-2.0), _random(rng, shape, dtype)
    _, cache = ref.batchnorm_forward(x, gamma, beta, running_mean, running_var, train=train)
    for name, a, b in zip(("dx", "dgamma", "dbeta"), ref.batchnorm_backward(dout, cache),
                          ref.batchnorm_backward_steps(dout, cache)):
        assert a.dtype == b.dtype == dtype, name
        np.testing.assert_allclose(a, b, err_msg=name, **_tol(dtype))


def test_running_statistics_follow_torchs_momentum_convention(rng):
    x = _random(rng, (6, 3, 2, 2), np.float64, scale=2.0, shift=1.0)
    gamma, beta = np.ones(3), np.zeros(3)
    mean, var_biased = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    var_unbiased = x.var(axis=(0, 2, 3), ddof=1)
    rm, rv = np.full(3, 0.5), np.full(3, 2.0)
    out, cache = ref.batchnorm_forward(x, gamma, beta, rm, rv, train=True, momentum=0.3)
    np.testing.assert_allclose(rm, 0.7 * 0.5 + 0.3 * mean, rtol=1e-12)
    np.testing.assert_allclose(rv, 0.7 * 2.0 + 0.3 * var_unbiased, rtol=1e-12)
    # the output uses the BIASED batch variance
    expected = (x - mean.reshape(1, 3, 1, 1)) / np.sqrt(var_biased.reshape(1, 3, 1, 1) + 1e-5)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cache.var, var_biased, rtol=1e-12)
    # momentum 0 keeps the running statistics, momentum 1 replaces them
    rm0, rv0 = rm.copy(), rv.copy()
    ref.batchnorm_forward(x, gamma, beta, rm, rv, momentum=0.0)
    np.testing.assert_array_equal(rm, rm0)
    np.testing.assert_array_equal(rv, rv0)
    ref.batchnorm_forward(x, gamma, beta, rm, rv, momentum=1)
    np.testing.assert_allclose(rm, mean, rtol=1e-12)
    np.testing.assert_allclose(rv, var_unbiased, rtol=1e-12)


def test_train_mode_without_running_statistics(rng):
    x = _random(rng, (4, 3), np.float64)
    gamma, beta, rm, rv = _params(rng, 3, np.float64)
    out, _ = ref.batchnorm_forward(x, gamma, beta, None, None, train=True)
    np.testing.assert_allclose(out, ref.batchnorm_forward(x, gamma, beta, rm, rv, train=True)[0], rtol=1e-12)
    with pytest.raises(ValueError, match="needs|both"):
        ref.batchnorm_forward(x, gamma, beta, None, None, train=False)
    with pytest.raises(ValueError, match="both be arrays or both be None"):
        ref.batchnorm_forward(x, gamma, beta, rm, None)


def test_float32_keeps_its_precision_with_a_large_offset(rng):
    # centring before squaring: E[x^2] - E[x]^2 would lose every digit of this variance
    x64 = 1000.0 + 0.01 * rng.standard_normal((32, 4, 8, 8))
    x32 = x64.astype(np.float32)
    gamma, beta = np.ones(4, np.float32), np.zeros(4, np.float32)
    out32, cache = ref.batchnorm_forward(x32, gamma, beta, None, None)
    out64, _ = ref.batchnorm_forward(x32.astype(np.float64), gamma.astype(np.float64), beta.astype(np.float64),
                                     None, None)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, out64, atol=3e-3)
    np.testing.assert_allclose(cache.var, x32.astype(np.float64).var(axis=(0, 2, 3)), rtol=1e-3)


def test_mixed_dtypes_and_non_contiguous_input(rng):
    x = _random(rng, (3, 4, 5, 2), np.float32)
    gamma, beta, rm, rv = _params(rng, 4, np.float64)
    out, cache = ref.batchnorm_forward(x, gamma, beta, rm, rv)
    assert out.dtype == np.float64  # like conv2d_forward: the result type of x, gamma and beta
    dx, dgamma, dbeta = ref.batchnorm_backward(np.ones(x.shape, np.float32), cache)
    assert dx.dtype == dgamma.dtype == dbeta.dtype == np.float64
    # a transposed view gives the same numbers as its contiguous copy
    xt = np.swapaxes(_random(rng, (3, 4, 2, 5), np.float64), 2, 3)
    assert not xt.flags.c_contiguous
    out_v, cache_v = ref.batchnorm_forward(xt, gamma, beta, rm.copy(), rv.copy())
    out_c, cache_c = ref.batchnorm_forward(np.ascontiguousarray(xt), gamma, beta, rm.copy(), rv.copy())
    np.testing.assert_allclose(out_v, out_c, rtol=1e-12, atol=1e-12)
    dout = np.swapaxes(_random(rng, (3, 4, 2, 5), np.float64), 2, 3)
    grads_c = ref.batchnorm_backward(np.ascontiguousarray(dout), cache_c)
    for a, b in zip(ref.batchnorm_backward(dout, cache_v), grads_c):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(8, 5), (4, 3, 5, 6)])
def test_layer_matches_functional_and_reuses_its_buffer(rng, shape):
    C = shape[1]
    layer = ref.BatchNorm(C, momentum=0.25)
    assert layer.training and "train" in repr(layer)
    gamma, beta = _random(rng, C, np.float64), _random(rng, C, np.float64)
    layer.gamma[:], layer.beta[:] = gamma, beta
    rm, rv = np.zeros(C), np.ones(C)  # the layer starts like torch: zeros and ones
    buffer = None
    for _ in range(2):
        x, dout = _random(rng, shape, np.float64, shift=3.0), _random(rng, shape, np.float64)
        out, cache = ref.batchnorm_forward(x, gamma, beta, rm, rv, train=True, momentum=0.25)
        dx, dgamma, dbeta = ref.batchnorm_backward(dout, cache)
        np.testing.assert_array_equal(layer.forward(x), out)
        np.testing.assert_array_equal(layer.backward(dout), dx)
        np.testing.assert_array_equal(layer.dgamma, dgamma)
        np.testing.assert_array_equal(layer.dbeta, dbeta)
        np.testing.assert_array_equal(layer.running_mean, rm)
        np.testing.assert_array_equal(layer.running_var, rv)
        if buffer is not None:
            assert layer._cache.xmu is buffer, "the second call must reuse the first call's buffer"
        buffer = layer._cache.xmu
    # eval mode: running statistics, unchanged
    assert layer.eval() is layer and not layer.training
    x = _random(rng, shape, np.float64)
    out, _ = ref.batchnorm_forward(x, gamma, beta, rm.copy(), rv.copy(), train=False)
    np.testing.assert_array_equal(layer.forward(x), out)
    np.testing.assert_array_equal(layer.running_mean, rm)
    # a new shape or dtype gets a new buffer
    layer.train()
    bigger = _random(rng, (shape[0] + 1,) + shape[1:], np.float32)
    assert layer.forward(bigger).shape == bigger.shape
    assert layer._cache.xmu is not buffer


def test_layer_errors():
    layer = ref.BatchNorm(3)
    with pytest.raises(ValueError, match="before forward"):
        layer.backward(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"gamma must have shape \(D,\) = \(4,\)"):
        layer.forward(np.zeros((2, 4)))
    layer.forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"dout must have the shape of the forward input \(2, 3\)"):
        layer.backward(np.zeros((3, 3)))
    for bad, match in [(dict(num_features=0), "num_features"), (dict(num_features=3, momentum=1.5), "momentum"),
                       (dict(num_features=3, momentum=None), "momentum=None"),
                       (dict(num_features=3, eps=-1.0), "eps"), (dict(num_features=3, dtype=np.int32), "floating")]:
        with pytest.raises(ValueError, match=match):
            ref.BatchNorm(**bad)


def _valid(C=3):
    return np.ones((4, C, 2, 2)), np.ones(C), np.zeros(C), np.zeros(C), np.ones(C)


@pytest.mark.parametrize("change, error, match", [
    (dict(x=np.ones((4, 3, 2))), ValueError, r"2-D with shape \(N, D\) or 4-D with shape \(N, C, H, W\), got a 3-D"),
    (dict(x=[[1.0, 2.0]]), TypeError, "x must be a NumPy array"),
    (dict(x=np.ones((4, 3, 2, 2), dtype=np.int64)), ValueError, "x must have a floating-point dtype"),
    (dict(gamma=np.ones(4)), ValueError, r"gamma must have shape \(C,\) = \(3,\) to match x.shape=\(4, 3, 2, 2\)"),
    (dict(beta=np.ones((3, 1))), ValueError, r"beta must have shape \(C,\) = \(3,\)"),
    (dict(gamma=np.ones(3, dtype=int)), ValueError, "gamma must have a floating-point dtype"),
    (dict(running_var=np.ones(2)), ValueError, r"running_var must have shape \(C,\)"),
    (dict(momentum=1.5), ValueError, r"momentum must be in \[0.0, 1.0\]"),
    (dict(momentum=-0.1), ValueError, r"momentum must be in \[0.0, 1.0\]"),
    (dict(momentum=None), ValueError, "momentum=None"),
    (dict(momentum=True), ValueError, "momentum must be a real number"),
    (dict(eps=-1e-5), ValueError, "eps must be in"),
    (dict(train="yes"), TypeError, "train must be True or False"),
])
def test_forward_rejects_bad_input(change, error, match):
    x, gamma, beta, rm, rv = _valid()
    args = dict(x=x, gamma=gamma, beta=beta, running_mean=rm, running_var=rv, train=True, momentum=0.1, eps=1e-5)
    args.update(change)
    with pytest.raises(error, match=match):
        ref.batchnorm_forward(**args)


def test_read_only_running_statistics_and_bad_backward_arguments():
    x, gamma, beta, rm, rv = _valid()
    rm.flags.writeable = False
    with pytest.raises(ValueError, match="running_mean must be writable"):
        ref.batchnorm_forward(x, gamma, beta, rm, rv, train=True)
    ref.batchnorm_forward(x, gamma, beta, rm, rv, train=False)  # eval mode does not write
    _, cache = ref.batchnorm_forward(x, gamma, beta, None, None)
    for backward in (ref.batchnorm_backward, ref.batchnorm_backward_steps):
        with pytest.raises(ValueError, match="cache must be the BatchNormCache"):
            backward(np.ones(x.shape), tuple(cache)[:3])
        with pytest.raises(ValueError, match="dout must have the shape of the forward input"):
            backward(np.ones((4, 3)), cache)
        with pytest.raises(ValueError, match="dout must have a floating-point dtype"):
            backward(np.ones(x.shape, dtype=int), cache)
