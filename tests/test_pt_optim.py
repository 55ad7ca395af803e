"""cnn_course.pt.optim against torch.optim's built-ins and the NumPy reference rules."""

import functools

import numpy as np
import pytest
import torch
from torch import nn

from cnn_course import pt
from cnn_course.pt import GD, Adam, Momentum, RMSProp, lr_lambda, random_mini_batches, schedule
from cnn_course.pt.train import evaluate, fit
from cnn_course.ref import optim as ref_optim

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
DTYPES = [torch.float32, torch.float64]
TOL = {torch.float32: dict(rtol=1e-5, atol=1e-6), torch.float64: dict(rtol=1e-12, atol=1e-14)}
STEPS = 6

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# (ours, hyperparameters, the ref rule, torch's optimizer with the equivalent settings)
CASES = {
    "gd": (GD, dict(lr=0.07), "gd", (torch.optim.SGD, dict(lr=0.07))),
    "momentum": (Momentum, dict(lr=0.05, beta=0.9), "momentum",
                 # torch's velocity is the course's divided by (1 - beta): scale lr by (1 - beta)
                 (torch.optim.SGD, dict(lr=0.05 * (1 - 0.9), momentum=0.9, dampening=0))),
    "rmsprop": (RMSProp, dict(lr=0.01, beta=0.8, eps=1e-6), "rmsprop",
                (torch.optim.RMSprop, dict(lr=0.01, alpha=0.8, eps=1e-6, centered=False))),
    "adam": (Adam, dict(lr=0.01, beta1=0.8, beta2=0.95, eps=1e-6), "adam",
             (torch.optim.Adam, dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6))),
}


def _params_and_grads(seed, device, dtype):
    """Two parameters of different shapes and STEPS gradients for each."""
    g = torch.Generator().manual_seed(seed)
    shapes = [(4, 3), (5,)]
    params = [torch.randn(s, generator=g, dtype=dtype) for s in shapes]
    grads = [[torch.randn(s, generator=g, dtype=dtype) for s in shapes] for _ in range(STEPS)]
    return ([p.to(device) for p in params], [[d.to(device) for d in step] for step in grads])


def _trajectory(opt_cls, kw, params, grads):
    """Parameter values after each step of an optimizer fed the given gradients."""
    ps = [nn.Parameter(p.clone()) for p in params]
    opt = opt_cls(ps, **kw)
    out = []
    for step in grads:
        for p, d in zip(ps, step):
            p.grad = d.clone()
        opt.step()
        out.append([p.detach().clone() for p in ps])
    return out


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(CASES))
def test_matches_torch_optim(name, device, dtype):
    ours, kw, _, (theirs, their_kw) = CASES[name]
    params, grads = _params_and_grads(1, device, dtype)
    for k, (a, b) in enumerate(zip(_trajectory(ours, kw, params, grads),
                                   _trajectory(theirs, their_kw, params, grads))):
        for pa, pb in zip(a, b):
            torch.testing.assert_close(pa, pb, msg=lambda m: f"step {k + 1}: {m}", **TOL[dtype])


def test_momentum_is_not_torch_sgd_with_the_same_lr():
    # The relation above is the point: with equal lr torch's first step is 1/(1-beta) = 10x larger.
    params, grads = _params_and_grads(2, "cpu", torch.float64)
    ours = _trajectory(Momentum, dict(lr=0.1, beta=0.9), params, grads[:1])[0][0]
    theirs = _trajectory(torch.optim.SGD, dict(lr=0.1, momentum=0.9), params, grads[:1])[0][0]
    torch.testing.assert_close(theirs - params[0], 10 * (ours - params[0]))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(CASES))
def test_matches_the_ref_rule_step_by_step(name, device, dtype):
    ours, kw, rule, _ = CASES[name]
    params, grads = _params_and_grads(3, device, dtype)
    traj = _trajectory(ours, kw, params, grads)
    init, update, _ = ref_optim.RULES[rule]
    for i, p in enumerate(params):
        w = p.cpu().numpy()
        state = init(w) if init else None
        for k, step in enumerate(grads):
            dw = step[i].cpu().numpy()
            w, state = (update(w, dw, **kw), None) if init is None else update(w, dw, state, **kw)
            got = traj[k][i]
            assert got.dtype == dtype and got.device.type == device
            np.testing.assert_allclose(got.cpu().numpy(), w, err_msg=f"param {i}, step {k + 1}",
                                       **TOL[dtype])


def test_state_names_match_the_ref():
    p = nn.Parameter(torch.ones(3))
    p.grad = torch.ones(3)
    for cls, keys in [(Momentum, {"v"}), (RMSProp, {"s"}), (Adam, {"v", "s", "t"})]:
        opt = cls([p])
        opt.step()
        opt.step()
        assert set(opt.state[p]) == keys
    assert opt.state[p]["t"] == 2


def test_defaults_match_the_ref():
    p = [nn.Parameter(torch.zeros(1))]
    assert Momentum(p).defaults == dict(lr=0.01, beta=0.9)
    assert RMSProp(p).defaults == dict(lr=0.001, beta=0.9, eps=1e-8)
    assert Adam(p).defaults == dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8)
    assert GD(p).defaults == dict(lr=0.01)


@pytest.mark.parametrize("cls, kw, match", [
    (GD, dict(lr=-0.1), "lr must be >= 0"),
    (Momentum, dict(beta=1.0), "beta"),
    (Momentum, dict(beta=-0.1), "beta"),
    (RMSProp, dict(eps=0.0), "eps must be > 0"),
    (Adam, dict(beta1=1.2), "beta1"),
    (Adam, dict(beta2=1.0), "beta2"),
    (Adam, dict(lr="0.1"), "lr must be a finite real"),
])
def test_hyperparameter_validation(cls, kw, match):
    with pytest.raises(ValueError, match=match):
        cls([nn.Parameter(torch.zeros(1))], **kw)


def test_param_groups_closure_and_skipped_parameters():
    a, b, c = (nn.Parameter(torch.ones(2)) for _ in range(3))
    with pytest.raises(ValueError, match="beta"):
        Momentum([{"params": [a], "beta": 1.5}])
    opt = Momentum([{"params": [a]}, {"params": [b], "lr": 1.0, "beta": 0.0}, {"params": [c]}], lr=0.5)

    def closure():
        opt.zero_grad()
        loss = (a.sum() + b.sum()) * 2  # c gets no gradient and must not move
        loss.backward()
        return loss

    assert opt.step(closure).item() == 8.0
    torch.testing.assert_close(a.detach(), torch.full((2,), 1 - 0.5 * 0.1 * 2))
    torch.testing.assert_close(b.detach(), torch.full((2,), -1.0))
    torch.testing.assert_close(c.detach(), torch.ones(2))
    assert c not in opt.state


def test_state_dict_round_trip():
    params, grads = _params_and_grads(4, "cpu", torch.float64)
    full = _trajectory(Adam, dict(lr=0.1), params, grads)[-1]
    ps = [nn.Parameter(p.clone()) for p in params]
    opt = Adam(ps, lr=0.1)
    for step in grads[:3]:
        for p, d in zip(ps, step):
            p.grad = d.clone()
        opt.step()
    resumed = Adam(ps, lr=0.1)
    resumed.load_state_dict(opt.state_dict())
    for step in grads[3:]:
        for p, d in zip(ps, step):
            p.grad = d.clone()
        resumed.step()
    for p, q in zip(ps, full):
        torch.testing.assert_close(p.detach(), q)


@pytest.mark.parametrize("cls, kw", [
    (GD, {}), (Momentum, dict(beta=0.8)), (RMSProp, dict(beta=0.95)), (Adam, dict(beta1=0.8)),
])
def test_fit_with_each_optimizer_lowers_the_loss(cls, kw, monkeypatch, capsys):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(96, 1, 2, 4, generator=g)
    y = (x.flatten(1) @ torch.randn(8, 3, generator=g)).argmax(1)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    before, _ = evaluate(model, x, y)
    lr = {GD: 0.3, Momentum: 0.3, RMSProp: 0.01, Adam: 0.01}[cls]
    fit(model, (x, y), epochs=4, lr=lr, batch_size=16, device="cpu", progress=False,
        optimizer=functools.partial(cls, **kw))
    after, _ = evaluate(model, x, y)
    assert after < 0.8 * before, f"{cls.__name__}: loss {before:.3f} -> {after:.3f}"
    assert "trained in" in capsys.readouterr().out


# ----------------------------------------------------------------------------------------
# Schedules
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, kw, ref_fn, offset", [
    ("inverse_time", dict(decay_rate=0.5), ref_optim.lr_inverse_time, 0),
    ("exponential", dict(base=0.9), ref_optim.lr_exponential, 0),
    ("inverse_sqrt", dict(k=2.0), ref_optim.lr_inverse_sqrt, 1),
    ("scheduled", dict(decay_rate=1.0, time_interval=3), ref_optim.lr_scheduled, 0),
])
def test_schedule_matches_the_ref_decays(kind, kw, ref_fn, offset):
    p = nn.Parameter(torch.zeros(1))
    opt = GD([{"params": [p]}, {"params": [nn.Parameter(torch.zeros(1))], "lr": 0.02}], lr=0.4)
    sched = schedule(opt, kind, **kw)
    assert isinstance(sched, torch.optim.lr_scheduler.LambdaLR)
    for epoch in range(10):
        assert opt.param_groups[0]["lr"] == pytest.approx(ref_fn(0.4, epoch + offset, **kw))
        assert opt.param_groups[1]["lr"] == pytest.approx(ref_fn(0.02, epoch + offset, **kw))
        opt.step()
        sched.step()
    assert lr_lambda(kind, **kw)(5) == pytest.approx(ref_fn(1.0, 5 + offset, **kw))


def test_schedule_validation():
    opt = GD([nn.Parameter(torch.zeros(1))])
    with pytest.raises(ValueError, match="kind must be one of"):
        schedule(opt, "cosine")
    with pytest.raises(TypeError):
        schedule(opt, "inverse_time", rate=0.1)
    with pytest.raises(ValueError, match="decay_rate"):
        schedule(opt, "inverse_time", decay_rate=-1.0)


# ----------------------------------------------------------------------------------------
# Mini-batches
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("m, batch_size", [(12, 4), (13, 4), (3, 8), (5, 1)])
def test_random_mini_batches(device, m, batch_size):
    x = torch.arange(m * 6, dtype=torch.float32, device=device).reshape(m, 3, 2)
    y = torch.arange(m, device=device)
    batches = random_mini_batches(x, y, batch_size, torch.Generator().manual_seed(5))
    perm = torch.randperm(m, generator=torch.Generator().manual_seed(5))
    assert len(batches) == -(-m // batch_size)
    assert [len(b) for _, b in batches][:-1] == [batch_size] * (len(batches) - 1)
    ys = torch.cat([b for _, b in batches])
    assert ys.device.type == device
    assert torch.equal(ys.cpu(), perm) and sorted(ys.tolist()) == list(range(m))
    assert torch.equal(torch.cat([a for a, _ in batches]), x[perm.to(device)])


def test_random_mini_batches_validation():
    x, y = torch.zeros(4, 2), torch.zeros(4)
    with pytest.raises(ValueError, match="batch_size"):
        random_mini_batches(x, y, 0)
    with pytest.raises(ValueError, match="len\\(x\\)=4 and len\\(y\\)=3"):
        random_mini_batches(x, y[:3], 2)
    with pytest.raises(TypeError, match="tensors"):
        random_mini_batches(x.numpy(), y, 2)
    with pytest.raises(TypeError, match="Generator"):
        random_mini_batches(x, y, 2, np.random.default_rng(0))


def test_exports():
    for name in ["GD", "Momentum", "RMSProp", "Adam", "schedule", "lr_lambda", "random_mini_batches"]:
        assert name in pt.__all__ and hasattr(pt, name)
    assert issubclass(Adam, torch.optim.Optimizer)
