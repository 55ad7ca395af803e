"""cnn_course.pt.bn_experiments: injected distribution shift, its measure, and the loss along the gradient."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnn_course.pt import MLP, BatchNorm1d
from cnn_course.pt.bn_experiments import ShiftNoise, StepProbe, add_shift_noise, distribution_shift, loss_along_gradient


def test_shift_noise_scales_and_shifts_each_unit_and_is_the_identity_in_eval_mode():
    noise = ShiftNoise(3, scale=(0.5, 2.0), shift=1.0, seed=4)
    x = torch.randn(6, 3, dtype=torch.float64)
    y = noise(x)
    s = (y[1] - y[0]) / (x[1] - x[0])                      # one factor per unit, shared by the batch
    m = y[0] - s * x[0]
    torch.testing.assert_close(y, x * s + m)
    assert torch.all((s >= 0.5) & (s <= 2.0))
    assert not torch.allclose(noise(x), y)                # drawn afresh at every call
    torch.testing.assert_close(ShiftNoise(3, (0.5, 2.0), 1.0, seed=4)(x), y)   # the seed repeats it
    noise.eval()
    assert noise(x) is x


def test_shift_noise_on_feature_maps_is_per_channel():
    noise = ShiftNoise(2, seed=0)
    x = torch.ones(3, 2, 4, 5)
    y = noise(x)
    assert y.shape == x.shape
    for c in range(2):
        assert torch.unique(y[:, c]).numel() == 1         # one scale and shift per channel


@pytest.mark.parametrize("kwargs, match", [
    ({"num_features": 0}, "num_features"), ({"num_features": 2, "scale": (2.0, 1.0)}, "scale"),
    ({"num_features": 2, "scale": 1.0}, "scale"), ({"num_features": 2, "shift": -1.0}, "shift"),
])
def test_shift_noise_validates_its_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ShiftNoise(**kwargs)


def test_shift_noise_rejects_the_wrong_number_of_units():
    with pytest.raises(ValueError, match=r"expects input \(N, 3, \.\.\.\), got \(4, 2\)"):
        ShiftNoise(3)(torch.zeros(4, 2))


def test_add_shift_noise_follows_every_batch_norm_and_keeps_eval_outputs():
    torch.manual_seed(0)
    model = MLP([6, 5, 4, 3], batchnorm=True)
    x = torch.randn(8, 6)
    model(x)                                               # running statistics move away from 0 and 1
    model.eval()
    before = model(x)
    noisy = add_shift_noise(copy.deepcopy(model), seed=7)
    assert isinstance(noisy.bn1, nn.Sequential) and isinstance(noisy.bn1[0], BatchNorm1d)
    assert isinstance(noisy.bn2[1], ShiftNoise) and noisy.bn2[1].num_features == 4
    torch.testing.assert_close(noisy.eval()(x), before)
    torch_bn = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU())
    assert isinstance(add_shift_noise(torch_bn)[1][1], ShiftNoise)
    with pytest.raises(ValueError, match="no batch-norm layer"):
        add_shift_noise(MLP([6, 5, 3]))


def test_distribution_shift():
    steady = {"watch_values": [[-1.0, 0.0, 1.0]] * 4}
    assert distribution_shift(steady) == 0.0
    jumping = {"watch_values": [[-1.0, 0.0, 1.0], [0.0, 1.0, 2.0], [-1.0, 0.0, 1.0]]}
    assert distribution_shift(jumping) == pytest.approx(0.5)   # the median jumps half a width each time
    with pytest.raises(ValueError, match="T >= 2 and P odd"):
        distribution_shift({"watch_values": [[0.0, 1.0]]})


def test_loss_along_gradient_takes_plain_gradient_steps_on_a_copy():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).eval()
    x, y = np.random.default_rng(0).standard_normal((16, 4)).astype(np.float32), np.arange(16) % 3
    state = copy.deepcopy(model.state_dict())
    probes = loss_along_gradient(model, x, y, [1e-4, 0.5])
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items()) and not model.training
    assert [p.eta for p in probes] == [1e-4, 0.5] and isinstance(probes[0], StepProbe)

    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    step = copy.deepcopy(model)
    loss0 = F.cross_entropy(step(xt), yt)
    grads = torch.autograd.grad(loss0, list(step.parameters()))
    with torch.no_grad():
        for p, g in zip(step.parameters(), grads):
            p -= 0.5 * g
    assert probes[1].loss0 == pytest.approx(loss0.item())
    assert probes[1].loss == pytest.approx(F.cross_entropy(step(xt), yt).item(), rel=1e-5)
    # a tiny step: the loss falls by about eta·|g|², and the gradient barely changes
    g2 = sum((g ** 2).sum() for g in grads).item()
    assert probes[0].loss0 - probes[0].loss == pytest.approx(1e-4 * g2, rel=0.05)
    assert probes[0].grad_change < 0.01


def test_loss_along_gradient_validates():
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="step_sizes"):
        loss_along_gradient(model, np.zeros((2, 2), np.float32), np.zeros(2, int), [0.0])
    with pytest.raises(ValueError, match=r"x \(N, \.\.\.\) and y \(N,\)"):
        loss_along_gradient(model, np.zeros((2, 2), np.float32), np.zeros(3, int), [0.1])
