"""cnn_course.pt.mlp.MLP against the NumPy reference network (forward, autograd gradients) and training."""

import numpy as np
import pytest
import torch
from sklearn.datasets import make_moons
from torch import nn

from cnn_course import pt, ref
from cnn_course.pt.batchnorm import BatchNorm1d
from cnn_course.pt.dropout import Dropout

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
DIMS = [5, 4, 3, 3]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _ref_case(seed, dims=DIMS, m=6):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, dims[0]))
    y = rng.integers(0, dims[-1], size=m)
    params = ref.initialize_parameters(dims, "xavier", rng)
    for l in range(1, len(dims)):
        params[f"b{l}"] = 0.1 * rng.standard_normal(dims[l])
    return X, y, params


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_forward_and_gradients_equal_the_reference(device, activation):
    X, y, params = _ref_case(0)
    model = pt.MLP(DIMS, activation).double().to(device).load_params(params)
    Z = model(torch.tensor(X, device=device))
    Z_ref, _ = ref.mlp_forward(X, params, activation)
    np.testing.assert_allclose(Z.detach().cpu().numpy(), Z_ref, rtol=1e-12, atol=1e-12)
    cost = pt.cross_entropy(Z, torch.tensor(y, device=device)) + pt.l2_penalty(model, 0.3, len(y))
    cost.backward()
    cost_ref, grads_ref = ref.mlp_loss(X, y, params, 0.3, activation)
    np.testing.assert_allclose(cost.item(), cost_ref, rtol=1e-12)
    for l, fc in enumerate(model.linears(), start=1):
        np.testing.assert_allclose(fc.weight.grad.cpu().numpy(), grads_ref[f"dW{l}"], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(fc.bias.grad.cpu().numpy(), grads_ref[f"db{l}"], rtol=1e-10, atol=1e-12)


def test_structure_and_naming():
    model = pt.MLP([6, 5, 4, 2], "tanh", keep_prob=0.8, batchnorm=True)
    names = [name for name, _ in model.named_children()]
    assert names == ["flatten", "fc1", "bn1", "act1", "drop1", "fc2", "bn2", "act2", "drop2", "fc3"]
    assert isinstance(model.bn1, BatchNorm1d) and not isinstance(model.bn1, nn.BatchNorm1d)
    assert isinstance(model.drop1, Dropout) and model.drop1.keep_prob == 0.8
    assert isinstance(model.act1, nn.Tanh)
    assert model.fc1.bias is None and model.fc3.bias is not None  # β of batch norm replaces the bias
    plain = pt.MLP([6, 5, 2])
    assert [n for n, _ in plain.named_children()] == ["flatten", "fc1", "act1", "fc2"]
    assert isinstance(plain.act1, nn.ReLU)
    assert isinstance(model[:4], nn.Sequential) and len(model[:4]) == 4
    assert isinstance(model[1], nn.Linear)


def test_he_initialisation_and_generator():
    a = pt.MLP([30, 20, 10], generator=torch.Generator().manual_seed(0))
    b = pt.MLP([30, 20, 10], generator=torch.Generator().manual_seed(0))
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    expected = torch.empty(20, 30).normal_(0, (2 / 30) ** 0.5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(a.fc1.weight.detach(), expected)
    assert not a.fc1.bias.detach().any()
    default = pt.MLP([30, 20, 10], method=None)  # torch's own default initialisation kept
    assert default.fc1.bias.detach().abs().sum() > 0


def test_export_and_load_round_trip():
    model = pt.MLP(DIMS).double()
    params = model.export_params()
    assert list(params) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    other = pt.MLP(DIMS).double().load_params(params)
    for pa, pb in zip(model.parameters(), other.parameters()):
        assert torch.equal(pa, pb)


@pytest.mark.parametrize("device", DEVICES)
def test_batchnorm_and_dropout_train_and_eval(device):
    model = pt.MLP([784, 32, 10], keep_prob=0.5, batchnorm=True).to(device)
    x = torch.randn(16, 1, 28, 28, device=device)  # images are flattened
    out = model(x)
    assert out.shape == (16, 10)
    assert model.bn1.num_batches_tracked.item() == 1
    model.eval()
    torch.testing.assert_close(model(x), model(x))  # deterministic in eval mode
    assert model.bn1.num_batches_tracked.item() == 1


def test_training_reduces_the_loss_on_moons():
    X, y = make_moons(200, noise=0.15, random_state=0)
    X, y = torch.tensor(X, dtype=torch.float32), torch.tensor(y)
    torch.manual_seed(0)
    model = pt.MLP([2, 16, 2], keep_prob=0.9, batchnorm=True, generator=torch.Generator().manual_seed(1))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = pt.cross_entropy(model(X), y) + pt.l2_penalty(model, 0.01, len(y))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    model.eval()
    assert (model(X).argmax(1) == y).float().mean().item() > 0.85


def test_errors_say_what_was_expected():
    with pytest.raises(ValueError, match="at least two sizes"):
        pt.MLP([3])
    with pytest.raises(ValueError, match=r"one of \('relu', 'tanh', 'sigmoid'\)"):
        pt.MLP([3, 2], "gelu")
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        pt.MLP([3, 2], keep_prob=0)
    with pytest.raises(ValueError, match=r"one of \('zeros'"):
        pt.MLP([3, 2], method="lecun")
    model = pt.MLP([3, 4, 2])
    with pytest.raises(ValueError, match=r"\(m, 3\)"):
        model(torch.ones(5, 4))
    with pytest.raises(TypeError, match="tensor"):
        model(np.ones((5, 3)))
    with pytest.raises(ValueError, match="'b2'"):
        model.load_params({"W1": np.zeros((4, 3)), "b1": np.zeros(4), "W2": np.zeros((2, 4))})
    with pytest.raises(ValueError, match=r"shape \(4, 3\)"):
        model.load_params({"W1": np.zeros((3, 4))})
    with pytest.raises(ValueError, match="without batch norm"):
        pt.MLP([3, 4, 2], batchnorm=True).load_params({})
