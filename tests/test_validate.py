"""The shared input checks of cnn_course._validate (NumPy arrays and torch tensors)."""

import numpy as np
import pytest
import torch

from cnn_course import _validate as v


@pytest.mark.parametrize("make", [np.zeros, torch.zeros])
def test_check_ndim(make):
    v.check_ndim(make((1, 2, 3, 4)), 4, "x", "(N, C, H, W)")
    with pytest.raises(ValueError) as e:
        v.check_ndim(make((2, 3)), 4, "x", "(N, C, H, W)")
    assert "4-D" in str(e.value) and "(N, C, H, W)" in str(e.value) and "(2, 3)" in str(e.value)
    with pytest.raises(ValueError, match="list"):
        v.check_ndim([1, 2], 1, "x", "(N,)")


def test_check_float():
    v.check_float(np.zeros(2, np.float32), "x")
    v.check_float(torch.zeros(2, dtype=torch.float64), "x")
    for a in (np.zeros(2, int), torch.zeros(2, dtype=torch.int64), np.zeros(2, bool)):
        with pytest.raises(ValueError, match="floating"):
            v.check_float(a, "x")


def test_int_checks():
    assert v.check_positive_int(np.int64(3), "s") == 3
    assert v.check_nonneg_int(0, "p") == 0
    for bad in (0, -1, 1.0, "1", True, None):
        with pytest.raises(ValueError) as e:
            v.check_positive_int(bad, "stride")
        assert "stride" in str(e.value) and repr(bad) in str(e.value)
    for bad in (-1, 1.5, "1", False):
        with pytest.raises(ValueError) as e:
            v.check_nonneg_int(bad, "pad")
        assert "pad" in str(e.value) and repr(bad) in str(e.value)


@pytest.mark.parametrize("make", [np.zeros, torch.zeros])
def test_check_conv_args(make):
    assert v.check_conv_args(make((1, 3, 5, 5)), make((2, 3, 3, 3)), make(2), 2, 1) == (2, 1)
    assert v.check_conv_args(make((1, 3, 5, 5)), make((2, 3, 3, 3)), None, 1, 0) == (1, 0)
    with pytest.raises(ValueError) as e:
        v.check_conv_args(make((1, 3, 5, 5)), make((2, 4, 3, 3)), None, 1, 0)
    assert "C=3" in str(e.value) and "C=4" in str(e.value) and "(2, 4, 3, 3)" in str(e.value)
    with pytest.raises(ValueError) as e:
        v.check_conv_args(make((1, 3, 2, 2)), make((2, 3, 3, 3)), None, 1, 0)
    assert "3x3" in str(e.value) and "2x2" in str(e.value)


def test_check_pool_args_and_mode():
    assert v.check_pool_args(np.zeros((1, 1, 4, 4)), 2, 2) == (2, 2)
    with pytest.raises(ValueError, match="f=5"):
        v.check_pool_args(np.zeros((1, 1, 4, 6)), 5, 1)
    assert v.check_pool_mode("avg", ("max", "avg")) == "avg"
    with pytest.raises(ValueError) as e:
        v.check_pool_mode("mean", ("max", "avg"))
    assert "'mean'" in str(e.value) and "('max', 'avg')" in str(e.value)


def test_check_same_shape():
    v.check_same_shape(np.zeros((2, 3)), (2, 3), "dout")
    with pytest.raises(ValueError) as e:
        v.check_same_shape(torch.zeros(2, 4), (2, 3), "dout")
    assert "(2, 3)" in str(e.value) and "(2, 4)" in str(e.value)
