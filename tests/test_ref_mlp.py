"""cnn_course.ref.mlp: forward/backward against torch autograd, gradient checks, and short trainings."""

import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import make_moons

from cnn_course import ref

DIMS = [5, 4, 3, 3]


def _case(rng, dims=DIMS, m=6, dtype=np.float64):
    X = rng.standard_normal((m, dims[0])).astype(dtype)
    y = rng.integers(0, dims[-1], size=m)
    params = ref.initialize_parameters(dims, "xavier", rng, dtype=dtype)
    for l in range(1, len(dims)):  # non-zero biases, so db is tested too
        params[f"b{l}"] = (0.1 * rng.standard_normal(dims[l])).astype(dtype)
    return X, y, params


def _torch_loss(X, y, params, activation, lambd=0.0, masks=(), keep_prob=1.0):
    """The same network written with torch ops; returns (logits, cost, grads)."""
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    L = len(params) // 2
    act = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}[activation]
    A = torch.tensor(X)
    for l in range(1, L):
        A = act(A @ tp[f"W{l}"].T + tp[f"b{l}"])
        if masks:
            A = A * torch.tensor(masks[l - 1]) / keep_prob
    Z = A @ tp[f"W{L}"].T + tp[f"b{L}"]
    m = X.shape[0]
    penalty = sum((tp[f"W{l}"] ** 2).sum() for l in range(1, L + 1))
    cost = F.cross_entropy(Z, torch.tensor(y)) + lambd / (2 * m) * penalty
    cost.backward()
    return Z.detach().numpy(), cost.item(), {"d" + k: t.grad.numpy() for k, t in tp.items()}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_forward_backward_match_torch(rng, activation, dtype):
    X, y, params = _case(rng, dtype=dtype)
    Z_t, cost_t, grads_t = _torch_loss(X, y, params, activation, lambd=0.4)
    Z, _ = ref.mlp_forward(X, params, activation)
    cost, grads = ref.mlp_loss(X, y, params, lambd=0.4, activation=activation)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    assert Z.dtype == dtype and Z.shape == (6, 3)
    np.testing.assert_allclose(Z, Z_t, **tol)
    np.testing.assert_allclose(cost, cost_t, **tol)
    assert list(grads) == ["dW1", "db1", "dW2", "db2", "dW3", "db3"]
    for k, g in grads.items():
        assert g.dtype == dtype and g.shape == params[k[1:]].shape
        np.testing.assert_allclose(g, grads_t[k], err_msg=k, **tol)


def test_dropout_forward_backward_match_torch(rng):
    X, y, params = _case(rng)
    Z, cache = ref.mlp_forward(X, params, "relu", keep_prob=0.6, rng=np.random.default_rng(3))
    masks = cache.masks
    g = np.random.default_rng(3)  # one rng.random draw per hidden layer, layer 1 first
    expected = [g.random((6, 4)) < 0.6, g.random((6, 3)) < 0.6]
    for got, want in zip(masks, expected):
        np.testing.assert_array_equal(got, want)
    Z_t, _, grads_t = _torch_loss(X, y, params, "relu", masks=masks, keep_prob=0.6)
    np.testing.assert_allclose(Z, Z_t, rtol=1e-12)
    _, grads = ref.mlp_loss(X, y, params, keep_prob=0.6, rng=np.random.default_rng(3))
    for k in grads:
        np.testing.assert_allclose(grads[k], grads_t[k], rtol=1e-10, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("activation, keep_prob, lambd", [("tanh", 1.0, 0.0), ("relu", 1.0, 0.7), ("tanh", 0.7, 0.3),
                                                        ("sigmoid", 0.8, 0.2)])
def test_mlp_backward_passes_the_gradient_check(rng, activation, keep_prob, lambd):
    X, y, params = _case(rng, dims=[3, 4, 3], m=5)

    def cost(p):  # the same dropout masks at every nudge
        return ref.mlp_loss(X, y, p, lambd, activation, keep_prob, np.random.default_rng(8))[0]

    _, grads = ref.mlp_loss(X, y, params, lambd, activation, keep_prob, np.random.default_rng(8))
    difference, _ = ref.gradient_check(cost, params, grads)
    assert difference < ref.GRADCHECK_OK
    W1 = params["W1"].copy()
    numerical = ref.eval_numerical_gradient(lambda w: cost({**params, "W1": w}), W1)
    assert ref.rel_error(numerical, grads["dW1"]) < 1e-6
    Z, cache = ref.mlp_forward(X, params, activation, keep_prob, np.random.default_rng(8))
    dZ = rng.standard_normal(Z.shape)
    numerical = ref.eval_numerical_gradient_array(
        lambda w: ref.mlp_forward(X, {**params, "W2": w}, activation, keep_prob, np.random.default_rng(8))[0],
        params["W2"].copy(), dZ)
    assert ref.rel_error(numerical, ref.mlp_backward(dZ, cache)["dW2"]) < 1e-7


def test_single_layer_network(rng):
    X, y, params = _case(rng, dims=[4, 3])
    Z, cache = ref.mlp_forward(X, params, keep_prob=0.5, rng=None)  # no hidden layer: nothing to drop
    np.testing.assert_allclose(Z, X @ params["W1"].T + params["b1"])
    assert set(ref.mlp_backward(np.ones_like(Z), cache)) == {"dW1", "db1"}


def test_predict_and_accuracy(rng):
    X, y, params = _case(rng, m=20)
    Z, _ = ref.mlp_forward(X, params)
    pred = ref.mlp_predict(X, params)
    assert pred.dtype == np.int64
    np.testing.assert_array_equal(pred, Z.argmax(axis=1))
    assert ref.mlp_accuracy(X, pred, params) == 1.0
    assert ref.mlp_accuracy(X, y, params) == pytest.approx(np.mean(pred == y))


@pytest.fixture(scope="module")
def moons():
    X, y = make_moons(200, noise=0.15, random_state=0)
    return X, y.astype(np.int64)


@pytest.mark.parametrize("optimizer, kwargs", [
    ("gd", dict(lr=0.5)),
    ("momentum", dict(lr=0.5, beta=0.9)),
    ("rmsprop", dict(lr=0.01)),
    ("adam", dict(lr=0.01)),
])
def test_training_reduces_the_cost_on_moons(moons, optimizer, kwargs):
    X, y = moons
    params, costs = ref.train_mlp(X, y, [2, 10, 2], optimizer=optimizer, epochs=60, batch_size=64,
                                  record_every=10, seed=1, **kwargs)
    assert len(costs) == 6 and all(isinstance(c, float) for c in costs)
    assert costs[-1] < 0.6 * costs[0]
    assert ref.mlp_accuracy(X, y, params) > 0.8


def test_training_with_l2_dropout_decay_and_tanh(moons):
    X, y = moons
    decay = functools.partial(ref.lr_inverse_time, decay_rate=0.01)
    params, costs = ref.train_mlp(X, y, [2, 12, 2], optimizer="adam", lr=0.02, epochs=50, record_every=5,
                                  lambd=0.1, keep_prob=0.8, activation="tanh", decay=decay, seed=3)
    assert costs[-1] < 0.7 * costs[0]
    again, costs_again = ref.train_mlp(X, y, [2, 12, 2], optimizer="adam", lr=0.02, epochs=50, record_every=5,
                                       lambd=0.1, keep_prob=0.8, activation="tanh", decay=decay, seed=3)
    assert costs == costs_again  # the seed fixes everything
    for k in params:
        np.testing.assert_array_equal(params[k], again[k])


def test_full_batch_training_is_plain_gradient_descent(moons):
    X, y = moons
    params, costs = ref.train_mlp(X, y, [2, 3, 2], lr=0.1, epochs=2, record_every=1, seed=0)
    p0 = ref.initialize_parameters([2, 3, 2], "he", np.random.default_rng(0))
    c0, g0 = ref.mlp_loss(X, y, p0)
    p1 = {k: p0[k] - 0.1 * g0["d" + k] for k in p0}
    c1, g1 = ref.mlp_loss(X, y, p1)
    assert costs == pytest.approx([c0, c1], rel=1e-12)
    for k in params:
        np.testing.assert_allclose(params[k], p1[k] - 0.1 * g1["d" + k], rtol=1e-12)
    p32, _ = ref.train_mlp(X.astype(np.float32), y, [2, 3, 2], lr=0.1, epochs=2, seed=0)
    assert all(a.dtype == np.float32 for a in p32.values())


def test_errors_say_what_was_expected(rng, moons):
    X, y, params = _case(rng)
    with pytest.raises(ValueError, match=r"one of \('relu', 'tanh', 'sigmoid'\)"):
        ref.mlp_forward(X, params, "gelu")
    with pytest.raises(ValueError, match=r"\(m, n0\)"):
        ref.mlp_forward(X[0], params)
    with pytest.raises(TypeError, match="floating-point"):
        ref.mlp_forward(X.astype(np.int64), params)
    with pytest.raises(ValueError, match=r"W1 must have shape \(n1, 4\)"):
        ref.mlp_forward(X[:, :4], params)
    with pytest.raises(ValueError, match="b2"):
        ref.mlp_forward(X, {**params, "b2": np.zeros(7)})
    with pytest.raises(ValueError, match="W1, ..., WL"):
        ref.mlp_forward(X, {"b1": np.zeros(3)})
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        ref.mlp_forward(X, params, keep_prob=0.5)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        ref.mlp_forward(X, params, keep_prob=0.0, rng=rng)
    Z, cache = ref.mlp_forward(X, params)
    with pytest.raises(ValueError, match=r"\(6, 3\)"):
        ref.mlp_backward(Z[:, :2], cache)
    with pytest.raises(TypeError, match="MLPCache"):
        ref.mlp_backward(Z, (1, 2))
    Xm, ym = moons
    with pytest.raises(ValueError, match=r"one of \('gd', 'momentum', 'rmsprop', 'adam'\)"):
        ref.train_mlp(Xm, ym, [2, 3, 2], optimizer="sgd")
    with pytest.raises(ValueError, match="layer_dims"):
        ref.train_mlp(Xm, ym, [3, 3, 2], epochs=1)
    with pytest.raises(ValueError, match=r"0\.\.0"):
        ref.train_mlp(Xm, ym, [2, 3, 1], epochs=1)
    with pytest.raises(ValueError, match="lr"):
        ref.train_mlp(Xm, ym, [2, 3, 2], lr=-1.0)
    with pytest.raises(ValueError, match="epochs"):
        ref.train_mlp(Xm, ym, [2, 3, 2], epochs=0)
    with pytest.raises(TypeError, match="decay"):
        ref.train_mlp(Xm, ym, [2, 3, 2], decay=0.5)


def test_zero_initialisation_gradients_per_activation():
    """What the notebook states: with all weights 0, relu and tanh hidden units (act(0) = 0) give
    exactly zero weight gradients, even on unbalanced labels; sigmoid units (σ(0) = ½) give the
    last layer a gradient (unless the classes are balanced), the same for every unit."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((12, 2)), np.array([0, 1, 1] * 4)
    zeros = ref.initialize_parameters([2, 4, 3, 2], "zeros")
    for activation in ("relu", "tanh"):
        _, grads = ref.mlp_loss(X, y, zeros, activation=activation)
        assert all(not np.any(grads[k]) for k in grads if k.startswith("dW")), activation
        assert np.any(grads["db3"])
    _, grads = ref.mlp_loss(X, y, zeros, activation="sigmoid")
    assert np.any(grads["dW3"]) and np.allclose(grads["dW3"], grads["dW3"][:, :1])
    _, balanced = ref.mlp_loss(X, np.array([0, 1] * 6), zeros, activation="sigmoid")
    assert not any(np.any(g) for g in balanced.values())
