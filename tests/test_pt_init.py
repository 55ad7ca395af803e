"""cnn_course.pt.init against torch.nn.init (same generator -> same numbers) and the std formulas."""

import math

import pytest
import torch
from torch import nn

from cnn_course import pt, ref
from cnn_course.pt.batchnorm import BatchNorm1d

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
SHAPES = [(20, 30), (8, 3, 3, 3), (5, 2, 4), (1, 7)]

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TORCH_TWINS = {
    "he": lambda w, g: nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu", generator=g),
    "xavier": lambda w, g: nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="linear", generator=g),
    "glorot": lambda w, g: nn.init.xavier_normal_(w, generator=g),
}


def test_init_std_is_the_reference():
    assert pt.init_std is ref.init_std


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("method", ["he", "xavier", "glorot"])
def test_equals_torch_nn_init_under_the_same_generator(device, shape, method):
    ours = torch.empty(shape, dtype=torch.float64, device=device)
    theirs = torch.empty(shape, dtype=torch.float64, device=device)
    assert pt.initialize_(ours, method, torch.Generator(device).manual_seed(7)) is ours
    TORCH_TWINS[method](theirs, torch.Generator(device).manual_seed(7))
    # torch computes gain / sqrt(fan) where we compute sqrt(2 / fan): equal up to rounding
    torch.testing.assert_close(ours, theirs, rtol=1e-14, atol=0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("method", ["he", "xavier", "glorot", "random"])
def test_statistics(device, method):
    w = torch.empty(400, 50, 2, 2, device=device)  # fan_in 200, fan_out 1600
    pt.initialize_(w, method, torch.Generator(device).manual_seed(0), scale=0.3)
    std = ref.init_std(200, 1600, method, scale=0.3)
    assert w.std().item() == pytest.approx(std, rel=0.02)
    assert abs(w.mean().item()) < 0.02 * std


@pytest.mark.parametrize("device", DEVICES)
def test_module_layers_are_filled_and_biases_zeroed(device):
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3), pt.Conv2d(4, 5, 2), nn.Flatten(), nn.Linear(10, 6), BatchNorm1d(6), nn.Linear(6, 2),
    ).to(device)
    bn_before = [p.detach().clone() for p in model[4].parameters()]
    assert pt.initialize_(model, "he", torch.Generator(device).manual_seed(1)) is model
    # the same draws, layer by layer in modules() order
    g = torch.Generator(device).manual_seed(1)
    for layer in (model[0], model[1], model[3], model[5]):
        expected = torch.empty_like(layer.weight).normal_(0, math.sqrt(2 / layer.weight[0].numel()), generator=g)
        torch.testing.assert_close(layer.weight.detach(), expected)
        assert not layer.bias.detach().any()
    for before, after in zip(bn_before, model[4].parameters()):
        torch.testing.assert_close(after.detach(), before)  # batch norm is left alone


def test_zeros_and_random():
    lin = nn.Linear(4, 3)
    pt.initialize_(lin, "zeros")
    assert not lin.weight.detach().any() and not lin.bias.detach().any()
    w = torch.empty(3, 4)
    pt.initialize_(w, "random", torch.Generator().manual_seed(2), scale=5.0)
    torch.testing.assert_close(w, torch.empty(3, 4).normal_(0, 5.0, generator=torch.Generator().manual_seed(2)))


def test_parameters_keep_requires_grad():
    lin = nn.Linear(4, 3)
    pt.initialize_(lin, "glorot")
    assert lin.weight.requires_grad and lin.weight.grad is None


def test_errors_say_what_was_expected():
    with pytest.raises(ValueError, match=r"one of \('zeros', 'random', 'he', 'xavier', 'glorot'\)"):
        pt.initialize_(nn.Linear(2, 2), "kaiming")
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        pt.initialize_(torch.empty(5), "he")
    with pytest.raises(TypeError, match="floating-point"):
        pt.initialize_(torch.empty(2, 2, dtype=torch.int64), "he")
    with pytest.raises(TypeError, match="nn.Module or a weight tensor"):
        pt.initialize_([torch.empty(2, 2)], "he")
    with pytest.raises(ValueError, match="no Linear or Conv"):
        pt.initialize_(nn.ReLU(), "he")
    with pytest.raises(TypeError, match="torch.Generator"):
        pt.initialize_(nn.Linear(2, 2), "he", generator=0)
    with pytest.raises(ValueError, match="scale"):
        pt.initialize_(nn.Linear(2, 2), "random", scale=-1)
