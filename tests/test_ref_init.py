"""cnn_course.ref.init: the std formulas, the draw order (grading contract) and statistics vs torch.nn.init."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from cnn_course import ref


@pytest.mark.parametrize(
    "method, expected",
    [("he", math.sqrt(2 / 30)), ("xavier", math.sqrt(1 / 30)), ("glorot", math.sqrt(2 / 50)),
     ("zeros", 0.0), ("random", 0.01)],
)
def test_init_std_formulas(method, expected):
    assert ref.init_std(30, 20, method) == pytest.approx(expected, rel=1e-15)


def test_init_std_random_uses_scale():
    assert ref.init_std(30, 20, "random", scale=3.5) == 3.5


@pytest.mark.parametrize("dims", [[3, 5, 2], [7, 1], [4, 6, 6, 6, 3]])
def test_draw_order_is_the_contract(dims):
    # the graded exercise reproduces exactly this loop
    params = ref.initialize_parameters(dims, "he", np.random.default_rng(42))
    rng = np.random.default_rng(42)
    assert list(params) == [k for l in range(1, len(dims)) for k in (f"W{l}", f"b{l}")]
    for l in range(1, len(dims)):
        W_expected = rng.standard_normal((dims[l], dims[l - 1])) * np.sqrt(2 / dims[l - 1])
        np.testing.assert_array_equal(params[f"W{l}"], W_expected)
        np.testing.assert_array_equal(params[f"b{l}"], np.zeros(dims[l]))
        assert params[f"W{l}"].dtype == np.float64


@pytest.mark.parametrize("method", ["random", "he", "xavier", "glorot"])
def test_every_method_scales_the_same_draws(method):
    dims = [6, 4, 3]
    unit = ref.initialize_parameters(dims, "random", np.random.default_rng(0), scale=1.0)
    params = ref.initialize_parameters(dims, method, np.random.default_rng(0), scale=0.05)
    for l in (1, 2):
        std = ref.init_std(dims[l - 1], dims[l], method, scale=0.05)
        np.testing.assert_allclose(params[f"W{l}"], unit[f"W{l}"] * std, rtol=1e-15)


def test_zeros_draws_nothing_and_needs_no_rng():
    rng = np.random.default_rng(3)
    before = rng.bit_generator.state
    params = ref.initialize_parameters([3, 4, 2], "zeros", rng)
    assert rng.bit_generator.state == before
    assert all(not a.any() for a in params.values())
    assert ref.initialize_parameters([3, 2], "zeros")["W1"].shape == (2, 3)


def test_float32_holds_the_float64_values():
    p64 = ref.initialize_parameters([5, 4, 3], "he", np.random.default_rng(1))
    p32 = ref.initialize_parameters([5, 4, 3], "he", np.random.default_rng(1), dtype=np.float32)
    for k in p64:
        assert p32[k].dtype == np.float32
        np.testing.assert_array_equal(p32[k], p64[k].astype(np.float32))


@pytest.mark.parametrize("method, torch_init", [
    ("he", lambda w: nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu")),
    ("xavier", lambda w: nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="linear")),
    ("glorot", nn.init.xavier_normal_),
])
def test_statistics_match_torch_nn_init(method, torch_init):
    n_prev, n = 300, 200
    W = ref.initialize_parameters([n_prev, n], method, np.random.default_rng(5))["W1"]
    Wt = torch_init(torch.empty(n, n_prev, dtype=torch.float64)).numpy()
    std = ref.init_std(n_prev, n, method)
    # 60000 samples: the sample std is within ~0.3% of the truth, the mean within ~0.004 std
    assert W.std() == pytest.approx(std, rel=0.02)
    assert Wt.std() == pytest.approx(std, rel=0.02)
    assert W.std() == pytest.approx(Wt.std(), rel=0.03)
    assert abs(W.mean()) < 0.02 * std


def test_errors_say_what_was_expected(rng):
    with pytest.raises(ValueError, match=r"one of \('zeros', 'random', 'he', 'xavier', 'glorot'\)"):
        ref.initialize_parameters([2, 3], "kaiming", rng)
    with pytest.raises(ValueError, match="one of"):
        ref.init_std(2, 3, "HE")
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        ref.initialize_parameters([2, 3], "he")
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        ref.initialize_parameters([2, 3], "he", 0)
    with pytest.raises(ValueError, match="at least two sizes"):
        ref.initialize_parameters([2], "he", rng)
    with pytest.raises(ValueError, match=r"layer_dims\[1\] must be a positive integer"):
        ref.initialize_parameters([2, 0], "he", rng)
    with pytest.raises(ValueError, match=r"layer_dims\[0\]"):
        ref.initialize_parameters([2.0, 3], "he", rng)
    with pytest.raises(TypeError, match="list of layer sizes"):
        ref.initialize_parameters(5, "he", rng)
    with pytest.raises(TypeError, match="floating-point"):
        ref.initialize_parameters([2, 3], "he", rng, dtype=np.int64)
    with pytest.raises(ValueError, match="scale"):
        ref.initialize_parameters([2, 3], "random", rng, scale=-1.0)
    with pytest.raises(ValueError, match="n_prev"):
        ref.init_std(0, 3, "he")
