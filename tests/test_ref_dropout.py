"""cnn_course.ref.dropout: the exact mask, the scaling, evaluation mode and the backward."""

import numpy as np
import pytest

from cnn_course import ref


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(4, 5), (1, 1), (2, 3, 4)])
def test_mask_is_exactly_one_rng_draw(rng, shape, dtype):
    A = rng.standard_normal(shape).astype(dtype)
    out, mask = ref.dropout_forward(A, 0.7, np.random.default_rng(9))
    expected_mask = np.random.default_rng(9).random(shape) < 0.7
    assert mask.dtype == bool
    np.testing.assert_array_equal(mask, expected_mask)
    assert out.dtype == dtype and out.shape == shape
    np.testing.assert_array_equal(out, A * expected_mask / 0.7)


def test_draws_nothing_else(rng):
    g1, g2 = np.random.default_rng(4), np.random.default_rng(4)
    ref.dropout_forward(np.ones((3, 4)), 0.5, g1)
    g2.random((3, 4))
    assert g1.bit_generator.state == g2.bit_generator.state


def test_expectation_equals_the_input(rng):
    A = rng.standard_normal((50, 40))
    keep = 0.6
    draws = np.stack([ref.dropout_forward(A, keep, rng)[0] for _ in range(400)])
    # each mean is over 400 Bernoulli draws: std of the estimate = |A| sqrt((1-p)/p/400) ≈ 0.04 |A|
    np.testing.assert_allclose(draws.mean(axis=0), A, atol=0.25 * np.abs(A).max())
    assert abs(draws.mean() - A.mean()) < 0.01
    kept = np.mean(draws != 0)
    assert kept == pytest.approx(keep, abs=0.005)


@pytest.mark.parametrize("kwargs", [dict(keep_prob=1.0), dict(keep_prob=0.5, train=False)])
def test_identity_without_drawing(rng, kwargs):
    A = rng.standard_normal((3, 4))
    g = np.random.default_rng(1)
    before = g.bit_generator.state
    out, mask = ref.dropout_forward(A, rng=g, **kwargs)
    assert mask is None and out is not A
    np.testing.assert_array_equal(out, A)
    assert g.bit_generator.state == before
    out, mask = ref.dropout_forward(A, rng=None, **kwargs)  # no rng needed then
    np.testing.assert_array_equal(out, A)
    dout = rng.standard_normal((3, 4))
    np.testing.assert_array_equal(ref.dropout_backward(dout, None, kwargs["keep_prob"]), dout)


@pytest.mark.parametrize("keep", [0.3, 0.8])
def test_backward_numerical_gradient(rng, keep):
    A = rng.standard_normal((4, 6))
    dout = rng.standard_normal((4, 6))
    _, mask = ref.dropout_forward(A, keep, np.random.default_rng(2))
    dA = ref.dropout_backward(dout, mask, keep)
    # a fresh generator with the same seed draws the same mask at every nudge
    numerical = ref.eval_numerical_gradient_array(
        lambda a: ref.dropout_forward(a, keep, np.random.default_rng(2))[0], A, dout)
    assert ref.rel_error(dA, numerical) < 1e-8
    np.testing.assert_array_equal(dA, dout * mask / keep)


def test_backward_keeps_float32(rng):
    A = rng.standard_normal((3, 3)).astype(np.float32)
    _, mask = ref.dropout_forward(A, 0.5, rng)
    assert ref.dropout_backward(A, mask, 0.5).dtype == np.float32


def test_errors_say_what_was_expected(rng):
    A = rng.standard_normal((2, 3))
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=r"\(0, 1\]"):
            ref.dropout_forward(A, bad, rng)
    with pytest.raises(ValueError, match="drop probability p = 1 - keep_prob"):
        ref.dropout_forward(A, 0.0, rng)
    with pytest.raises(TypeError, match="keep_prob"):
        ref.dropout_forward(A, True, rng)
    with pytest.raises(TypeError, match="keep_prob"):
        ref.dropout_forward(A, "0.5", rng)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        ref.dropout_forward(A, 0.5, None)
    with pytest.raises(TypeError, match="floating-point"):
        ref.dropout_forward(np.ones((2, 2), dtype=np.int64), 0.5, rng)
    with pytest.raises(TypeError, match="NumPy array"):
        ref.dropout_forward([[1.0]], 0.5, rng)
    _, mask = ref.dropout_forward(A, 0.5, rng)
    with pytest.raises(ValueError, match=r"shape of dout \(3, 2\)"):
        ref.dropout_backward(A.T.copy(), mask, 0.5)
    with pytest.raises(TypeError, match="bool"):
        ref.dropout_backward(A, mask.astype(np.float64), 0.5)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        ref.dropout_backward(A, mask, 2.0)
