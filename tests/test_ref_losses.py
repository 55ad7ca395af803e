"""cnn_course.ref.losses against torch's F.softmax / F.log_softmax / F.cross_entropy, and gradient checks."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnn_course import ref

SHAPES = [(1, 1), (1, 5), (4, 3), (7, 10), (32, 2), (3, 100)]
DTYPES = [np.float32, np.float64]


def _tol(dtype):
    return dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)


def _case(rng, shape, dtype, scale=3.0):
    m, K = shape
    Z = (scale * rng.standard_normal(shape)).astype(dtype)
    y = rng.integers(0, K, size=m).astype(np.int64)
    return Z, y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_softmax_and_log_softmax_match_torch(rng, shape, dtype):
    Z, _ = _case(rng, shape, dtype)
    A = ref.softmax(Z)
    logA = ref.log_softmax(Z)
    assert A.dtype == dtype and logA.dtype == dtype and A.shape == shape
    np.testing.assert_allclose(A, F.softmax(torch.tensor(Z), dim=1).numpy(), **_tol(dtype))
    np.testing.assert_allclose(logA, F.log_softmax(torch.tensor(Z), dim=1).numpy(), **_tol(dtype))
    np.testing.assert_allclose(A.sum(axis=1), 1.0, **_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_cross_entropy_and_its_gradient_match_torch(rng, shape, dtype):
    Z, y = _case(rng, shape, dtype)
    Zt = torch.tensor(Z, requires_grad=True)
    loss_t = F.cross_entropy(Zt, torch.tensor(y))
    loss_t.backward()
    loss, dZ = ref.softmax_cross_entropy(Z, y)
    assert isinstance(loss, float) and isinstance(ref.cross_entropy(Z, y), float)
    assert dZ.dtype == dtype and dZ.shape == shape
    np.testing.assert_allclose(loss, loss_t.item(), **_tol(dtype))
    assert ref.cross_entropy(Z, y) == loss
    np.testing.assert_allclose(dZ, Zt.grad.numpy(), **_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_huge_logits_neither_overflow_nor_nan(rng, dtype):
    Z = np.array([[1e4, -1e4, 0.0], [1e4, 1e4 - 5, -1e4], [-1e4, -1e4, -1e4]], dtype=dtype)
    y = np.array([1, 0, 2])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        A = ref.softmax(Z)
        logA = ref.log_softmax(Z)
        loss, dZ = ref.softmax_cross_entropy(Z, y)
    for a in (A, logA, dZ):
        assert np.all(np.isfinite(a))
    assert np.isfinite(loss)
    Zt = torch.tensor(Z)
    np.testing.assert_allclose(logA, F.log_softmax(Zt, dim=1).numpy(), rtol=1e-6)
    assert loss == pytest.approx(F.cross_entropy(Zt, torch.tensor(y)).item(), rel=1e-6)
    Z_rand = (1e4 * rng.standard_normal((6, 5))).astype(dtype)
    y_rand = rng.integers(0, 5, size=6)
    assert ref.cross_entropy(Z_rand, y_rand) == pytest.approx(
        F.cross_entropy(torch.tensor(Z_rand), torch.tensor(y_rand)).item(), rel=1e-6)


def test_softmax_cross_entropy_gradient_check(rng):
    Z, y = _case(rng, (5, 4), np.float64, scale=2.0)
    _, dZ = ref.softmax_cross_entropy(Z, y)
    numerical = ref.eval_numerical_gradient(lambda z: ref.cross_entropy(z, y), Z.copy())
    assert ref.rel_error(dZ, numerical) < 1e-7
    difference, _ = ref.gradient_check(lambda p: ref.cross_entropy(p["Z"], y), {"Z": Z}, {"dZ": dZ})
    assert difference < ref.GRADCHECK_OK


@pytest.mark.parametrize("K", [1, 3, 10])
def test_one_hot_matches_torch(rng, K):
    y = rng.integers(0, K, size=8)
    Y = ref.one_hot(y, K)
    assert Y.dtype == np.float64 and Y.shape == (8, K)
    np.testing.assert_array_equal(Y, F.one_hot(torch.tensor(y), K).numpy())
    assert ref.one_hot(y, K, dtype=np.float32).dtype == np.float32


def _params(rng, dims=(4, 3, 2), dtype=np.float64):
    return ref.initialize_parameters(list(dims), "he", rng, dtype=dtype)


def test_l2_cost_is_the_weight_norm(rng):
    params = _params(rng)
    params["b1"] += 5.0  # biases must not count
    expected = 0.7 / (2 * 10) * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2))
    assert ref.l2_cost(params, 0.7, 10) == pytest.approx(expected, rel=1e-14)
    assert ref.l2_cost(params, 0.0, 10) == 0.0


def test_l2_grads_add_lambda_over_m_w_and_leave_inputs_alone(rng):
    params = _params(rng)
    grads = {"d" + k: rng.standard_normal(v.shape) for k, v in params.items()}
    saved_p = {k: v.copy() for k, v in params.items()}
    saved_g = {k: v.copy() for k, v in grads.items()}
    new = ref.l2_grads(grads, params, 0.3, 6)
    assert list(new) == list(grads)
    for l in (1, 2):
        np.testing.assert_allclose(new[f"dW{l}"], grads[f"dW{l}"] + 0.3 / 6 * params[f"W{l}"], rtol=1e-15)
        np.testing.assert_array_equal(new[f"db{l}"], grads[f"db{l}"])
        assert new[f"db{l}"] is not grads[f"db{l}"]
    for k in params:
        np.testing.assert_array_equal(params[k], saved_p[k])
        np.testing.assert_array_equal(grads["d" + k], saved_g["d" + k])


def test_l2_grads_pass_a_numerical_gradient_check(rng):
    params = _params(rng)
    zero = {"d" + k: np.zeros_like(v) for k, v in params.items()}
    analytic = ref.l2_grads(zero, params, 0.9, 4)
    difference, approx = ref.gradient_check(lambda p: ref.l2_cost(p, 0.9, 4), params, analytic)
    assert difference < ref.GRADCHECK_OK
    W = params["W2"].copy()
    numerical = ref.eval_numerical_gradient(lambda w: ref.l2_cost({**params, "W2": w}, 0.9, 4), W)
    assert ref.rel_error(numerical, analytic["dW2"]) < 1e-8


def test_l2_keeps_float32(rng):
    params = _params(rng, dtype=np.float32)
    grads = {"d" + k: np.ones_like(v) for k, v in params.items()}
    assert all(g.dtype == np.float32 for g in ref.l2_grads(grads, params, 0.1, 3).values())


def test_errors_say_what_was_expected(rng):
    Z, y = _case(rng, (3, 4), np.float64)
    with pytest.raises(ValueError, match=r"\(m, K\)"):
        ref.softmax(Z[0])
    with pytest.raises(TypeError, match="floating-point"):
        ref.softmax(np.ones((2, 3), dtype=np.int64))
    with pytest.raises(TypeError, match="NumPy array"):
        ref.log_softmax([[1.0, 2.0]])
    with pytest.raises(TypeError, match="integer class labels"):
        ref.cross_entropy(Z, y.astype(np.float64))
    with pytest.raises(ValueError, match=r"shape \(m,\) = \(3,\)"):
        ref.softmax_cross_entropy(Z, y[:2])
    with pytest.raises(ValueError, match=r"0\.\.3"):
        ref.cross_entropy(Z, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=r"0\.\.3"):
        ref.cross_entropy(Z, np.array([0, -1, 1]))
    with pytest.raises(ValueError, match="K"):
        ref.one_hot(y, 0)
    with pytest.raises(ValueError, match="1-D"):
        ref.one_hot(y[:, None], 4)
    params = _params(rng)
    with pytest.raises(ValueError, match="lambd"):
        ref.l2_cost(params, -1.0, 3)
    with pytest.raises(ValueError, match="positive integer"):
        ref.l2_cost(params, 1.0, 0)
    with pytest.raises(TypeError, match="dict"):
        ref.l2_cost([params["W1"]], 1.0, 3)
    with pytest.raises(ValueError, match="'dW2'"):
        ref.l2_grads({"dW1": np.zeros((3, 4))}, params, 1.0, 3)
    with pytest.raises(ValueError, match="shape"):
        ref.l2_grads({"dW1": np.zeros((4, 3)), "dW2": np.zeros((2, 3))}, params, 1.0, 3)
