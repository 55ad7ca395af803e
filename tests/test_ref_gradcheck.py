"""The gradient-checking helpers of cnn_course.ref."""

import numpy as np
import pytest

from cnn_course import ref


def test_rel_error():
    assert ref.rel_error(np.ones(3), np.ones(3)) == 0.0
    assert ref.rel_error(np.array([1.0]), np.array([3.0])) == pytest.approx(0.5)
    assert ref.rel_error(np.zeros(2), np.zeros(2)) == 0.0  # no division by zero
    assert ref.rel_error(2.0, 2.0) == 0.0
    with pytest.raises(ValueError) as e:
        ref.rel_error(np.zeros(2), np.zeros(3))
    assert "(2,)" in str(e.value) and "(3,)" in str(e.value)


def test_numerical_gradient_of_scalar_function(rng):
    x = rng.standard_normal((3, 4))
    x0 = x.copy()
    grad = ref.eval_numerical_gradient(lambda a: np.sum(a**3) + np.sum(np.sin(a)), x)
    assert ref.rel_error(grad, 3 * x**2 + np.cos(x)) < 1e-8
    np.testing.assert_array_equal(x, x0)  # every nudge is undone


def test_numerical_gradient_array(rng):
    x = rng.standard_normal((2, 3, 2))
    A = rng.standard_normal((5, 3))
    df = rng.standard_normal((2, 5, 2))
    f = lambda a: np.einsum("ij,njk->nik", A, np.tanh(a))  # noqa: E731
    grad = ref.eval_numerical_gradient_array(f, x, df)
    expected = np.einsum("ij,nik->njk", A, df) * (1 - np.tanh(x) ** 2)
    assert ref.rel_error(grad, expected) < 1e-8


def test_numerical_gradient_array_shape_mismatch(rng):
    with pytest.raises(ValueError) as e:
        ref.eval_numerical_gradient_array(lambda a: a.sum(axis=0), rng.standard_normal((2, 3)), np.ones(2))
    assert "(2,)" in str(e.value) and "(3,)" in str(e.value)


def test_non_contiguous_x_rejected(rng):
    x = rng.standard_normal((3, 4)).T  # flattening it would copy
    with pytest.raises(ValueError, match="contiguous"):
        ref.eval_numerical_gradient(np.sum, x)


# ----------------------------------------------------------------------------------------
# Whole-network gradient checking: dict_to_vector, vector_to_dict, gradient_check
# ----------------------------------------------------------------------------------------


def _toy(rng):
    """A cost of two parameters and its exact gradient: J = c Σ tanh(W x)² + Σ b³ / 3."""
    params = {"W": rng.standard_normal((3, 4)), "b": rng.standard_normal(3)}
    x, c = rng.standard_normal(4), 2.0

    def cost(p):
        return c * np.sum(np.tanh(p["W"] @ x) ** 2) + np.sum(p["b"] ** 3) / 3

    t = np.tanh(params["W"] @ x)
    grads = {"dW": np.outer(c * 2 * t * (1 - t**2), x), "db": params["b"] ** 2}
    return cost, params, grads


def test_dict_vector_round_trip(rng):
    d = {"W1": rng.standard_normal((2, 3)), "b1": rng.standard_normal(2).astype(np.float32), "s": np.array(1.5)}
    theta, keys, shapes = ref.dict_to_vector(d)
    assert theta.dtype == np.float64 and theta.shape == (6 + 2 + 1,)
    assert keys == ["W1", "b1", "s"] and shapes == [(2, 3), (2,), ()]
    np.testing.assert_array_equal(theta[:6], d["W1"].ravel())  # C order
    back = ref.vector_to_dict(theta, keys, shapes)
    assert list(back) == keys
    for k in keys:
        np.testing.assert_array_equal(back[k], d[k])
    theta2, keys2, _ = ref.dict_to_vector(d, keys=["b1", "W1"])
    assert keys2 == ["b1", "W1"] and theta2.size == 8
    back["W1"][0, 0] = 99.0  # copies, not views of theta
    assert theta[0] != 99.0


def test_dict_vector_errors(rng):
    with pytest.raises(ValueError, match="need 6"):
        ref.vector_to_dict(np.zeros(5), ["W"], [(2, 3)])
    with pytest.raises(ValueError, match="same length"):
        ref.vector_to_dict(np.zeros(6), ["W", "b"], [(2, 3)])
    with pytest.raises(ValueError, match="1-D"):
        ref.vector_to_dict(np.zeros((2, 3)), ["W"], [(2, 3)])
    with pytest.raises(ValueError, match=r"\['c'\]"):
        ref.dict_to_vector({"a": np.zeros(1)}, keys=["a", "c"])
    with pytest.raises(TypeError, match="dict"):
        ref.dict_to_vector([np.zeros(1)])


def test_gradient_check_accepts_a_correct_gradient(rng):
    cost, params, grads = _toy(rng)
    saved = {k: v.copy() for k, v in params.items()}
    difference, approx = ref.gradient_check(cost, params, grads)
    assert isinstance(difference, float)
    assert difference < ref.GRADCHECK_OK
    assert list(approx) == ["dW", "db"]
    for k in params:
        assert approx["d" + k].shape == params[k].shape
        np.testing.assert_allclose(approx["d" + k], grads["d" + k], rtol=1e-6, atol=1e-8)
        np.testing.assert_array_equal(params[k], saved[k])  # untouched


@pytest.mark.parametrize("bug", ["scaled", "dW_halved", "swapped", "one_entry"])
def test_gradient_check_rejects_a_wrong_gradient(rng, bug):
    cost, params, grads = _toy(rng)
    wrong = {k: v.copy() for k, v in grads.items()}
    if bug == "scaled":
        wrong = {k: 1.1 * v for k, v in wrong.items()}
    elif bug == "dW_halved":  # a forgotten factor 2
        wrong["dW"] *= 0.5
    elif bug == "swapped":
        wrong["dW"] = wrong["dW"][::-1].copy()
    else:
        wrong["db"][1] += 0.5
    difference, _ = ref.gradient_check(cost, params, wrong)
    assert difference > ref.GRADCHECK_BAD


def test_gradient_check_float32_params_are_checked_in_float64(rng):
    cost, params, grads = _toy(rng)
    params32 = {k: v.astype(np.float32) for k, v in params.items()}
    _, _, grads32 = _toy(np.random.default_rng(1234))  # same draws as the fixture
    seen = []

    def spy(p):
        seen.append({k: v.dtype for k, v in p.items()})
        return cost(p)

    ref.gradient_check(spy, params32, {k: v.astype(np.float32) for k, v in grads.items()})
    assert all(d == {"W": np.float64, "b": np.float64} for d in seen)
    assert len(seen) == 2 * (12 + 3)


def test_gradient_check_zero_gradients_and_errors(rng):
    params = {"W": rng.standard_normal((2, 2))}
    difference, approx = ref.gradient_check(lambda p: 3.0, params, {"dW": np.zeros((2, 2))})
    assert difference == 0.0 and not approx["dW"].any()
    with pytest.raises(ValueError, match="'dW'"):
        ref.gradient_check(lambda p: 0.0, params, {"db": np.zeros(2)})
    with pytest.raises(ValueError, match=r"shape"):
        ref.gradient_check(lambda p: 0.0, params, {"dW": np.zeros(4)})
    with pytest.raises(TypeError, match="params must be a dict"):
        ref.gradient_check(lambda p: 0.0, [np.zeros(2)], {"dW": np.zeros((2, 2))})
    with pytest.raises(TypeError, match="grads must be a dict"):
        ref.gradient_check(lambda p: 0.0, params, [np.zeros((2, 2))])
    with pytest.raises(TypeError, match="cost"):
        ref.gradient_check(None, params, {"dW": np.zeros((2, 2))})
    with pytest.raises(ValueError, match="epsilon"):
        ref.gradient_check(lambda p: 0.0, params, {"dW": np.zeros((2, 2))}, epsilon=0)
    with pytest.raises(ValueError, match="scalar"):
        ref.gradient_check(lambda p: p["W"], params, {"dW": np.zeros((2, 2))})


def test_thresholds():
    assert ref.GRADCHECK_OK == 1e-7 and ref.GRADCHECK_BAD == 1e-3
