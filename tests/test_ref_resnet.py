"""cnn_course.ref residual block against the same block in torch (autograd), numerical gradients."""

import numpy as np
import pytest
import torch
from torch import nn

from cnn_course import ref
from cnn_course.ref.resnet import RESIDUAL_LEARNABLE

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# (N, C_in, C_out, H, W, stride): identity (same shape) and projection (channels and/or stride
# change), odd and non-square sizes, stride 2 on odd sizes
CASES = [
    (2, 3, 3, 5, 6, 1),
    (3, 4, 4, 4, 4, 1),
    (2, 3, 5, 7, 6, 2),
    (2, 4, 4, 5, 5, 2),
    (3, 2, 6, 4, 5, 1),
    (4, 1, 2, 3, 3, 2),
]


class TorchBlock(nn.Module):
    """The reference: the same block written with torch.nn, conv biases included."""

    def __init__(self, c_in, c_out, stride, projection, momentum):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1)
        self.bn1 = nn.BatchNorm2d(c_out, momentum=momentum)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(c_out, momentum=momentum)
        self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride), nn.BatchNorm2d(c_out, momentum=momentum)) \
            if projection else nn.Identity()

    def forward(self, x):
        z = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(z)) + self.shortcut(x))


def _torch_parts(block):
    """(conv, bn, suffix) of each conv+BN pair of the torch block."""
    parts = [(block.conv1, block.bn1, "1"), (block.conv2, block.bn2, "2")]
    if isinstance(block.shortcut, nn.Sequential):
        parts.append((block.shortcut[0], block.shortcut[1], "s"))
    return parts


def _random_params(rng, c_in, c_out, stride, dtype):
    """A block's params with every array random (positive running variances)."""
    params = ref.residual_block_init(c_in, c_out, stride, seed=int(rng.integers(1000)), dtype=dtype)
    for k, a in params.items():
        if k.startswith("running_var"):
            a[:] = rng.uniform(0.5, 2.0, a.shape)
        elif not k.startswith("W"):
            a[:] = rng.standard_normal(a.shape)
    return params


def _to_torch(params, c_in, c_out, stride, momentum, dtype):
    block = TorchBlock(c_in, c_out, stride, "Ws" in params, momentum).to(torch.float64 if dtype == np.float64
                                                                         else torch.float32)
    with torch.no_grad():
        for conv, bn, s in _torch_parts(block):
            for p, k in [(conv.weight, "W"), (conv.bias, "b"), (bn.weight, "gamma"), (bn.bias, "beta"),
                         (bn.running_mean, "running_mean"), (bn.running_var, "running_var")]:
                p.copy_(torch.from_numpy(params[k + s]))
    return block


def _torch_step(block, x, dout):
    """out, and the gradients keyed like ours, of one forward + backward of the torch block."""
    block.zero_grad(set_to_none=True)
    xt = torch.tensor(x, requires_grad=True)
    out = block(xt)
    out.backward(torch.tensor(dout))
    grads = {"dx": xt.grad.numpy()}
    for conv, bn, s in _torch_parts(block):
        grads.update({"dW" + s: conv.weight.grad.numpy(), "db" + s: conv.bias.grad.numpy(),
                      "dgamma" + s: bn.weight.grad.numpy(), "dbeta" + s: bn.bias.grad.numpy()})
    return out.detach().numpy(), grads


def _tol(dtype):
    return dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)


def _compare(name, ours, theirs, dtype):
    assert ours.dtype == dtype, f"{name} dtype {ours.dtype}, expected {dtype}"
    assert ours.shape == theirs.shape, f"{name} shape {ours.shape} != torch {theirs.shape}"
    np.testing.assert_allclose(ours, theirs, err_msg=name, **_tol(dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES)
def test_block_matches_torch_in_train_then_eval_mode(rng, case, dtype):
    N, c_in, c_out, H, W, s = case
    params = _random_params(rng, c_in, c_out, s, dtype)
    assert ("Ws" in params) == (c_in != c_out or s != 1)
    block = _to_torch(params, c_in, c_out, s, 0.2, dtype)
    for train in (True, True, False):
        block.train(train)
        x = (2 * rng.standard_normal((N, c_in, H, W)) + 0.5).astype(dtype)
        Ho, Wo = (H - 1) // s + 1, (W - 1) // s + 1
        dout = rng.standard_normal((N, c_out, Ho, Wo)).astype(dtype)
        out_t, grads_t = _torch_step(block, x, dout)
        out, cache = ref.residual_block_forward(x, params, stride=s, train=train, momentum=0.2)
        grads = ref.residual_block_backward(dout, cache)
        _compare(f"out (train={train})", out, out_t, dtype)
        assert set(grads) == set(grads_t), f"gradient keys {sorted(grads)} != {sorted(grads_t)}"
        for k in grads_t:
            _compare(f"{k} (train={train})", grads[k], grads_t[k], dtype)
        for conv, bn, s_ in _torch_parts(block):  # running statistics, updated in place in train mode only
            _compare("running_mean" + s_, params["running_mean" + s_], bn.running_mean.numpy(), dtype)
            _compare("running_var" + s_, params["running_var" + s_], bn.running_var.numpy(), dtype)


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("case", [(2, 2, 2, 4, 3, 1), (2, 2, 3, 5, 4, 2)])
def test_backward_passes_the_gradient_check(rng, case, train):
    N, c_in, c_out, H, W, s = case
    params = _random_params(rng, c_in, c_out, s, np.float64)
    stats = {k: a for k, a in params.items() if k.startswith("running")}
    x = rng.standard_normal((N, c_in, H, W)) + 0.3
    out, cache = ref.residual_block_forward(x, params, s, train=train, momentum=0.0)
    dout = rng.standard_normal(out.shape)
    grads = ref.residual_block_backward(dout, cache)

    def cost(learnable):
        return np.sum(ref.residual_block_forward(x, {**learnable, **stats}, s, train=train, momentum=0.0)[0] * dout)

    learnable = ref.residual_block_learnable(params)
    difference, _ = ref.gradient_check(cost, learnable, grads)
    assert difference < 1e-7, f"parameter gradients disagree with centred differences: {difference:.2e}"
    dx_num = ref.eval_numerical_gradient_array(
        lambda xx: ref.residual_block_forward(xx, params, s, train=train, momentum=0.0)[0], x, dout)
    assert ref.rel_error(grads["dx"], dx_num) < 1e-6, f"dx: rel error {ref.rel_error(grads['dx'], dx_num):.2e}"


def test_dx_is_the_sum_of_the_main_path_and_the_shortcut(rng):
    """With the shortcut's gradient removed, what is left is the main path's: dx - dz."""
    x = rng.standard_normal((3, 4, 5, 5))
    params = _random_params(rng, 4, 4, 1, np.float64)
    out, cache = ref.residual_block_forward(x, params)
    dout = rng.standard_normal(out.shape)
    dx = ref.residual_block_backward(dout, cache)["dx"]
    dz = dout * (out > 0)
    # the main path alone, through torch: relu'd output gradient dz, no shortcut
    block = _to_torch(params, 4, 4, 1, 0.1, np.float64)
    xt = torch.tensor(x, requires_grad=True)
    main = block.bn2(block.conv2(torch.relu(block.bn1(block.conv1(xt)))))
    main.backward(torch.tensor(dz))
    np.testing.assert_allclose(dx, xt.grad.numpy() + dz, rtol=1e-10, atol=1e-10)


def test_zero_gamma_makes_an_identity_block_the_identity(rng):
    params = ref.residual_block_init(4, 4, 1, seed=3, zero_gamma=True)
    x = np.abs(rng.standard_normal((2, 4, 6, 6)))  # >= 0, like the output of a previous block
    out, cache = ref.residual_block_forward(x, params)
    np.testing.assert_array_equal(out, x)
    dout = rng.standard_normal(out.shape)
    grads = ref.residual_block_backward(dout, cache)
    np.testing.assert_allclose(grads["dx"], dout, rtol=0, atol=1e-12)  # the gradient passes unchanged
    assert np.any(grads["dgamma2"] != 0), "gamma2 must still learn"


def test_init_shapes_statistics_and_seed():
    p = ref.residual_block_init(16, 32, 2, seed=0)
    assert list(p) == list(RESIDUAL_LEARNABLE) + ["running_mean1", "running_var1", "running_mean2", "running_var2",
                                                  "running_means", "running_vars"]
    assert p["W1"].shape == (32, 16, 3, 3) and p["W2"].shape == (32, 32, 3, 3) and p["Ws"].shape == (32, 16, 1, 1)
    assert abs(p["W2"].std() - np.sqrt(2 / (32 * 9))) < 0.05 * np.sqrt(2 / (32 * 9))
    assert all(np.all(p[k] == 1) for k in ("gamma1", "gamma2", "gammas", "running_var1"))
    assert all(np.all(p[k] == 0) for k in ("b1", "beta2", "bs", "running_mean2"))
    q = ref.residual_block_init(16, 32, 2, seed=0, dtype=np.float32)
    assert all(q[k].dtype == np.float32 for k in q)
    np.testing.assert_allclose(q["W1"], p["W1"], rtol=1e-6)
    identity = ref.residual_block_init(8, 8, 1, seed=0)
    assert "Ws" not in identity and len(identity) == 12
    assert not np.array_equal(ref.residual_block_init(8, 8, 1, seed=1)["W1"], identity["W1"])
    assert set(ref.residual_block_learnable(identity)) == set(RESIDUAL_LEARNABLE[:8])


def test_errors_say_what_was_expected(rng):
    x = rng.standard_normal((2, 3, 5, 5))
    with pytest.raises(ValueError, match="shape changes.*projection"):
        ref.residual_block_forward(x, ref.residual_block_init(3, 3, 1), stride=2)
    with pytest.raises(ValueError, match=r"W1 must have shape \(C_out, C_in, 3, 3\)"):
        ref.residual_block_forward(x, ref.residual_block_init(4, 4, 1))
    with pytest.raises(ValueError, match="x must be 4-D"):
        ref.residual_block_forward(x[0], ref.residual_block_init(3, 3, 1))
    params = ref.residual_block_init(3, 6, 2)
    del params["running_vars"]
    with pytest.raises(ValueError, match="missing.*running_vars"):
        ref.residual_block_forward(x, params)
    params = ref.residual_block_init(3, 3, 1)
    params["gamma2"] = np.ones(4)
    with pytest.raises(ValueError, match=r"gamma2.*\(3,\)"):
        ref.residual_block_forward(x, params)
    out, cache = ref.residual_block_forward(x, ref.residual_block_init(3, 3, 1))
    with pytest.raises(ValueError, match="dout must have shape"):
        ref.residual_block_backward(out[:1], cache)
    with pytest.raises(TypeError, match="ResidualCache"):
        ref.residual_block_backward(out, (1, 2))
    with pytest.raises(ValueError, match="integer"):
        ref.residual_block_init(3, 3, 1, seed=0.5)
