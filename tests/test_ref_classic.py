"""cnn_course.ref LeNet-5 against a torch LeNet-5 (autograd, Adam), numerical gradients, errors."""

import numpy as np
import pytest
import torch
from torch import nn

from cnn_course import ref

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def torch_lenet5(num_classes=10, modern=False):
    """The layout of cnn_course.pt.models.lenet5, written out here so the two are independent."""
    act, pool = (nn.ReLU, nn.MaxPool2d) if modern else (nn.Tanh, nn.AvgPool2d)
    return nn.Sequential(nn.Conv2d(1, 6, 5), act(), pool(2), nn.Conv2d(6, 16, 5), act(), pool(2), nn.Flatten(),
                         nn.Linear(400, 120), act(), nn.Linear(120, 84), act(), nn.Linear(84, num_classes))


def _pair(seed, num_classes=10, modern=False, dtype=np.float64):
    params = ref.lenet5_init(seed, num_classes, modern, dtype)
    module = torch_lenet5(num_classes, modern).to(torch.float64 if dtype == np.float64 else torch.float32)
    return params, ref.params_to_torch(params, module)


def _tol(dtype):
    return dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)


def test_parameter_count_shapes_and_init():
    params = ref.lenet5_init()
    assert list(params) == list(ref.LENET5_KEYS)
    assert sum(a.size for a in params.values()) == 61_706
    assert sum(p.numel() for p in torch_lenet5().parameters()) == 61_706
    assert params["W3"].shape == (120, 400) and params["b5"].shape == (10,)
    assert ref.lenet5_init(num_classes=3)["W5"].shape == (3, 84)
    assert np.abs(params["W1"]).max() <= 1 / 5 and np.abs(params["b3"]).max() <= 1 / 20  # U(+-1/sqrt(fan_in))
    assert np.abs(params["W3"]).max() > 0.9 / 20
    modern = ref.lenet5_init(0, modern=True)
    assert all(np.array_equal(params[k], modern[k]) for k in params), "same seed, same start for both variants"
    f32 = ref.lenet5_init(0, dtype=np.float32)
    assert all(f32[k].dtype == np.float32 and np.allclose(f32[k], params[k], rtol=1e-6) for k in params)
    assert not np.array_equal(ref.lenet5_init(1)["W1"], params["W1"])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("modern", [False, True])
def test_forward_backward_match_torch(rng, modern, dtype):
    N, K = 5, 7
    params, module = _pair(int(rng.integers(1000)), K, modern, dtype)
    x = rng.standard_normal((N, 1, 32, 32)).astype(dtype)
    dlogits = rng.standard_normal((N, K)).astype(dtype)
    logits, cache = ref.lenet5_forward(x, params, modern)
    grads = ref.lenet5_backward(dlogits, cache)
    xt = torch.tensor(x, requires_grad=True)
    out = module(xt)
    out.backward(torch.tensor(dlogits))
    expected = {"d" + k: p.grad.numpy() for k, p in zip(ref.LENET5_KEYS, module.parameters())}
    expected["dx"] = xt.grad.numpy()
    assert logits.dtype == dtype and logits.shape == (N, K)
    np.testing.assert_allclose(logits, out.detach().numpy(), err_msg="logits", **_tol(dtype))
    assert list(grads) == list(expected)
    for k, g in expected.items():
        assert grads[k].dtype == dtype and grads[k].shape == g.shape, k
        np.testing.assert_allclose(grads[k], g, err_msg=k, **_tol(dtype))


@pytest.mark.parametrize("modern", [False, True])
def test_backward_passes_the_gradient_check(rng, modern):
    """ref.gradient_check on the small parameters, centred differences on samples of the big ones."""
    params = ref.lenet5_init(3, 4, modern)
    for k in params:  # larger biases, so that ReLUs and max pooling are not all balanced at 0
        if k.startswith("b"):
            params[k] = rng.uniform(-0.5, 0.5, params[k].shape)
    x = rng.standard_normal((2, 1, 32, 32))
    y = np.array([1, 3])
    loss, grads = ref.lenet5_loss(x, y, params, modern)
    small = [k for k in ref.LENET5_KEYS if params[k].size <= 1000]
    assert small == ["W1", "b1", "b2", "b3", "b4", "W5", "b5"]

    def cost(p):
        return ref.lenet5_loss(x, y, {**params, **p}, modern)[0]

    difference, _ = ref.gradient_check(cost, {k: params[k] for k in small}, grads, epsilon=1e-6)
    assert difference < 1e-7, f"gradients of {small} disagree with centred differences: {difference:.2e}"
    h = 1e-6
    for k in ("W2", "W3", "W4", "x"):
        a = x if k == "x" else params[k]
        for index in zip(*(rng.integers(0, n, 6) for n in a.shape)):
            old = a[index]
            a[index] = old + h
            plus = ref.lenet5_loss(x, y, params, modern)[0]
            a[index] = old - h
            minus = ref.lenet5_loss(x, y, params, modern)[0]
            a[index] = old
            numeric, analytic = (plus - minus) / (2 * h), grads["d" + k][index]
            assert abs(numeric - analytic) <= 1e-6 * max(1.0, abs(numeric)) + 1e-9, \
                f"d{k}{index}: analytic {analytic:.10g}, numerical {numeric:.10g}"


def test_adam_training_steps_match_torch(rng):
    params, module = _pair(5)
    opt = torch.optim.Adam(module.parameters(), lr=3e-3, betas=(0.8, 0.99), eps=1e-7)
    states = None
    for step in range(4):
        x = rng.standard_normal((8, 1, 32, 32))
        y = rng.integers(0, 10, 8)
        loss, params, states = ref.lenet5_train_step(x, y, params, states, lr=3e-3, beta1=0.8, beta2=0.99, eps=1e-7)
        opt.zero_grad()
        loss_t = nn.functional.cross_entropy(module(torch.tensor(x)), torch.tensor(y))
        loss_t.backward()
        opt.step()
        assert abs(loss - loss_t.item()) < 1e-10, f"step {step}: loss {loss} != torch {loss_t.item()}"
    theirs = ref.params_from_torch(module)
    for k in ref.LENET5_KEYS:
        np.testing.assert_allclose(params[k], theirs[k], rtol=1e-10, atol=1e-12, err_msg=k)
        assert not np.allclose(params[k], ref.lenet5_init(5)[k]), f"{k} did not move"


def test_train_learns_a_small_task(rng):
    """Two classes, bright left half vs bright right half: a few epochs of Adam separate them."""
    X = rng.standard_normal((48, 1, 32, 32)) * 0.5
    y = np.arange(48) % 2
    X[y == 0, :, :, :16] += 1.0
    X[y == 1, :, :, 16:] += 1.0
    start = ref.lenet5_init(0, num_classes=2)
    before = {k: a.copy() for k, a in start.items()}
    params, losses = ref.lenet5_train(X, y, start, epochs=3, batch_size=16, lr=3e-3, modern=True)
    assert len(losses) == 9 and losses[-1] < 0.5 * losses[0], f"losses {losses}"
    assert ref.lenet5_accuracy(X, y, params, modern=True, batch_size=20) == 1.0
    assert all(np.array_equal(start[k], before[k]) for k in start), "lenet5_train must not modify its params"
    again, losses_again = ref.lenet5_train(X, y, start, epochs=3, batch_size=16, lr=3e-3, modern=True)
    assert losses_again == losses, "same seed, same run"


def test_converters_round_trip():
    params = ref.lenet5_init(7, num_classes=5)
    module = ref.params_to_torch(params, torch_lenet5(5))  # a float32 module
    back = ref.params_from_torch(module)
    assert list(back) == list(ref.LENET5_KEYS) and back["W1"].dtype == np.float32
    for k in params:
        np.testing.assert_allclose(back[k], params[k], rtol=1e-6, atol=1e-7)
    assert ref.params_from_torch(module, dtype=np.float64)["W5"].dtype == np.float64


def test_errors_say_what_was_expected(rng):
    params = ref.lenet5_init()
    with pytest.raises(ValueError, match=r"\(N, 1, 32, 32\).*add the channel axis"):
        ref.lenet5_forward(rng.standard_normal((2, 32, 32)), params)
    with pytest.raises(ValueError, match=r"\(N, 1, 32, 32\).*pad 28x28"):
        ref.lenet5_forward(rng.standard_normal((2, 1, 28, 28)), params)
    with pytest.raises(ValueError, match=r"\(N, 1, 32, 32\)"):
        ref.lenet5_forward(rng.standard_normal((2, 3, 32, 32)), params)
    with pytest.raises(ValueError, match="floating-point"):
        ref.lenet5_forward(np.zeros((2, 1, 32, 32), dtype=np.int64), params)
    with pytest.raises(ValueError, match=r"W3.*\(120, 400\)"):
        ref.lenet5_forward(rng.standard_normal((2, 1, 32, 32)), {**params, "W3": np.zeros((120, 256))})
    with pytest.raises(ValueError, match="missing.*b5"):
        ref.lenet5_forward(rng.standard_normal((2, 1, 32, 32)), {k: a for k, a in params.items() if k != "b5"})
    with pytest.raises(TypeError, match="modern"):
        ref.lenet5_forward(rng.standard_normal((2, 1, 32, 32)), params, modern="relu")
    logits, cache = ref.lenet5_forward(rng.standard_normal((2, 1, 32, 32)), params)
    with pytest.raises(ValueError, match=r"dlogits.*\(2, 10\)"):
        ref.lenet5_backward(logits[:, :5], cache)
    with pytest.raises(ValueError, match=r"labels y must lie in 0\.\.9"):
        ref.lenet5_train_step(rng.standard_normal((2, 1, 32, 32)), np.array([0, 10]), params)
    with pytest.raises(ValueError, match="10 parameter tensors"):
        ref.params_to_torch(params, nn.Sequential(nn.Linear(3, 4)))
    with pytest.raises(ValueError, match=r"must have shape \(16, 6, 5, 5\)"):
        ref.params_to_torch(params, nn.Sequential(nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 3), nn.Linear(400, 120),
                                                  nn.Linear(120, 84), nn.Linear(84, 10)))


@pytest.mark.parametrize("modern", [False, True])
def test_weights_copy_into_the_zoo_lenet5(rng, modern):
    """The converters also fit cnn_course.pt.models.lenet5 (skipped until the zoo has it)."""
    models = pytest.importorskip("cnn_course.pt.models")
    if not hasattr(models, "lenet5"):
        pytest.skip("cnn_course.pt.models.lenet5 is not there yet")
    params = ref.lenet5_init(11, num_classes=10, modern=modern)
    module = ref.params_to_torch(params, models.lenet5(num_classes=10, modern=modern).double())
    x = rng.standard_normal((3, 1, 32, 32))
    with torch.no_grad():
        expected = module(torch.tensor(x)).numpy()
    np.testing.assert_allclose(ref.lenet5_forward(x, params, modern)[0], expected, rtol=1e-10, atol=1e-12)
    back = ref.params_from_torch(module)
    assert all(np.array_equal(back[k], params[k]) for k in params)
