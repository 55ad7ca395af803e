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
