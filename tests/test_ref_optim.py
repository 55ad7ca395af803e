"""cnn_course.ref.optim: update rules against explicit formulas and torch.optim, mini-batches,
moving averages, learning-rate decays, samplers and the path-picture helpers."""

import math

import numpy as np
import pytest
import torch

from cnn_course import ref
from cnn_course.ref import optim

SHAPES = [(5,), (3, 4), (2, 3, 2, 2)]
TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-14)}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _copy_state(state):
    return {k: (np.array(a, copy=True) if isinstance(a, np.ndarray) else a) for k, a in state.items()}


def _run_ref(rule, w, grads, **hyper):
    """Points visited by a ref rule fed the gradients ``grads`` in turn (a list of arrays)."""
    init, update, _ = optim.RULES[rule]
    state = init(w) if init else None
    points = []
    for dw in grads:
        if init is None:
            w = update(w, dw, **hyper)
        else:
            w, state = update(w, dw, state, **hyper)
        points.append(w)
    return points


def _run_torch(opt_cls, w, grads, **kw):
    p = torch.nn.Parameter(torch.tensor(w))
    opt = opt_cls([p], **kw)
    points = []
    for dw in grads:
        p.grad = torch.tensor(dw)
        opt.step()
        points.append(p.detach().numpy().copy())
    return points


# ----------------------------------------------------------------------------------------
# Update rules
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_rules_match_explicit_formulas(rng, shape):
    w = rng.standard_normal(shape)
    dw = rng.standard_normal(shape)
    np.testing.assert_allclose(optim.gd_update(w, dw, 0.1), w - 0.1 * dw)

    v0 = rng.standard_normal(shape)
    w1, st = optim.momentum_update(w, dw, {"v": v0}, lr=0.05, beta=0.8)
    v1 = 0.8 * v0 + 0.2 * dw
    np.testing.assert_allclose(st["v"], v1)
    np.testing.assert_allclose(w1, w - 0.05 * v1)

    s0 = rng.random(shape)
    w1, st = optim.rmsprop_update(w, dw, {"s": s0}, lr=0.01, beta=0.7, eps=1e-3)
    s1 = 0.7 * s0 + 0.3 * dw**2
    np.testing.assert_allclose(st["s"], s1)
    np.testing.assert_allclose(w1, w - 0.01 * dw / (np.sqrt(s1) + 1e-3))

    v0, q0 = rng.standard_normal(shape), rng.random(shape)
    w1, st = optim.adam_update(w, dw, {"v": v0, "s": q0, "t": 3}, lr=0.02, beta1=0.8, beta2=0.9, eps=1e-4)
    v1, q1 = 0.8 * v0 + 0.2 * dw, 0.9 * q0 + 0.1 * dw**2
    assert st["t"] == 4 and set(st) == {"v", "s", "t"}
    np.testing.assert_allclose(st["v"], v1)  # momentum's average of the gradients (Kingma & Ba's m)
    np.testing.assert_allclose(st["s"], q1)  # RMSProp's average of their squares (Kingma & Ba's v)
    np.testing.assert_allclose(w1, w - 0.02 * (v1 / (1 - 0.8**4)) / (np.sqrt(q1 / (1 - 0.9**4)) + 1e-4))


def test_adam_increments_t_before_the_correction(rng):
    # From the zero state, t = 1 makes m_hat = dw and v_hat = dw**2: a step of lr * sign(dw).
    # Correcting with t = 0 would divide by zero; with t = 2 the step would be ~0.9 lr.
    w = rng.standard_normal(6)
    dw = rng.standard_normal(6)
    w1, st = optim.adam_update(w, dw, optim.adam_init(w), lr=0.1, eps=1e-12)
    assert st["t"] == 1
    np.testing.assert_allclose(w1, w - 0.1 * np.sign(dw), rtol=1e-9)


def test_rmsprop_and_adam_put_eps_outside_the_root():
    w, dw = np.zeros(1), np.full(1, 1e-4)
    eps = 1e-4
    w1, _ = optim.rmsprop_update(w, dw, optim.rmsprop_init(w), lr=1.0, beta=0.0, eps=eps)
    assert w1[0] == pytest.approx(-1e-4 / (1e-4 + eps), rel=1e-12)  # -0.5
    assert w1[0] != pytest.approx(-1e-4 / math.sqrt(1e-8 + eps), rel=1e-3)  # eps inside: -0.0099...
    w1, _ = optim.adam_update(w, dw, optim.adam_init(w), lr=1.0, eps=eps)
    assert w1[0] == pytest.approx(-0.5, rel=1e-9)


@pytest.mark.parametrize("rule, hyper", [
    ("gd", dict(lr=0.1)),
    ("momentum", dict(lr=0.1, beta=0.9)),
    ("rmsprop", dict(lr=0.01, beta=0.9, eps=1e-8)),
    ("adam", dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8)),
])
def test_updates_do_not_modify_their_inputs(rng, rule, hyper):
    init, update, _ = optim.RULES[rule]
    w = rng.standard_normal((3, 4))
    dw = rng.standard_normal((3, 4))
    w_copy, dw_copy = w.copy(), dw.copy()
    if init is None:
        w1 = update(w, dw, **hyper)
    else:
        state = init(w)
        # a state with history, so that an in-place update would show
        _, state = update(w, dw, state, **hyper)
        state_copy = _copy_state(state)
        w1, state1 = update(w, dw, state, **hyper)
        assert state1 is not state
        for k, a in state.items():
            np.testing.assert_array_equal(a, state_copy[k], err_msg=f"state[{k!r}] was modified")
            if isinstance(a, np.ndarray):
                assert not np.shares_memory(a, state1[k]), f"new state[{k!r}] shares memory with the old"
    np.testing.assert_array_equal(w, w_copy)
    np.testing.assert_array_equal(dw, dw_copy)
    assert w1 is not w and not np.shares_memory(w1, w)


@pytest.mark.parametrize("rule", ["gd", "momentum", "rmsprop", "adam"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_updates_keep_the_dtype(rng, rule, dtype):
    init, update, _ = optim.RULES[rule]
    w = rng.standard_normal(4).astype(dtype)
    dw = rng.standard_normal(4).astype(dtype)
    hyper = {"lr": 0.1}
    if init is None:
        out, state = update(w, dw, **hyper), {}
    else:
        out, state = update(w, dw, init(w), **hyper)
    assert out.dtype == dtype
    for k, a in state.items():
        if isinstance(a, np.ndarray):
            assert a.dtype == dtype, k


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rule, ours, theirs", [
    ("gd", dict(lr=0.07), (torch.optim.SGD, dict(lr=0.07))),
    ("rmsprop", dict(lr=0.01, beta=0.8, eps=1e-6),
     (torch.optim.RMSprop, dict(lr=0.01, alpha=0.8, eps=1e-6, centered=False))),
    ("adam", dict(lr=0.01, beta1=0.8, beta2=0.95, eps=1e-6),
     (torch.optim.Adam, dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6))),
    # the course's momentum: torch's velocity is v / (1 - beta), so scale its lr by (1 - beta)
    ("momentum", dict(lr=0.05, beta=0.9),
     (torch.optim.SGD, dict(lr=0.05 * (1 - 0.9), momentum=0.9, dampening=0))),
])
def test_rules_match_torch_optim_over_several_steps(rng, dtype, rule, ours, theirs):
    w = rng.standard_normal((4, 3)).astype(dtype)
    grads = [rng.standard_normal((4, 3)).astype(dtype) for _ in range(6)]
    for k, (a, b) in enumerate(zip(_run_ref(rule, w, grads, **ours), _run_torch(*theirs[:1], w, grads, **theirs[1]))):
        np.testing.assert_allclose(a, b, err_msg=f"step {k + 1}", **TOL[dtype])


def test_update_validation():
    w = np.zeros(3)
    with pytest.raises(ValueError, match="dw.*shape"):
        optim.gd_update(w, np.zeros(4), 0.1)
    with pytest.raises(ValueError, match="floating-point"):
        optim.gd_update(np.zeros(3, dtype=int), np.zeros(3), 0.1)
    with pytest.raises(ValueError, match="lr must be >= 0"):
        optim.gd_update(w, w, -1.0)
    with pytest.raises(ValueError, match="beta"):
        optim.momentum_update(w, w, optim.momentum_init(w), beta=1.0)
    with pytest.raises(ValueError, match="beta2"):
        optim.adam_update(w, w, optim.adam_init(w), beta2=-0.1)
    with pytest.raises(ValueError, match="eps must be > 0"):
        optim.rmsprop_update(w, w, optim.rmsprop_init(w), eps=0.0)
    with pytest.raises(ValueError, match="rmsprop_init"):
        optim.rmsprop_update(w, w, {"v": w})
    with pytest.raises(ValueError, match="state\\['v'\\]"):
        optim.adam_update(w, w, {"v": np.zeros(2), "s": w, "t": 0})
    with pytest.raises(ValueError, match="lr must be a finite real"):
        optim.gd_update(w, w, "0.1")


# ----------------------------------------------------------------------------------------
# Whole networks
# ----------------------------------------------------------------------------------------


def _net(rng):
    params = {"W1": rng.standard_normal((4, 3)), "b1": rng.standard_normal(4),
              "W2": rng.standard_normal((2, 4)), "b2": rng.standard_normal(2)}
    grads = {"d" + k: rng.standard_normal(a.shape) for k, a in params.items()}
    return params, grads


@pytest.mark.parametrize("rule, hyper", [
    ("gd", dict(lr=0.1)), ("momentum", dict(lr=0.1, beta=0.5)),
    ("rmsprop", dict(lr=0.01)), ("adam", dict(lr=0.01, beta1=0.5)),
])
def test_update_parameters_applies_the_rule_to_every_parameter(rng, rule, hyper):
    params, grads = _net(rng)
    before = {k: a.copy() for k, a in params.items()}
    new, states = optim.update_parameters(params, grads, None, rule, **hyper)
    new, states = optim.update_parameters(new, grads, states, rule, **hyper)
    assert set(new) == set(params) and set(states) == set(params)
    init, update, _ = optim.RULES[rule]
    for name, w in params.items():
        np.testing.assert_array_equal(w, before[name])  # input dict untouched
        expected = _run_ref(rule, w, [grads["d" + name]] * 2, **hyper)[-1]
        np.testing.assert_allclose(new[name], expected, rtol=1e-14)


def test_update_parameters_validation(rng):
    params, grads = _net(rng)
    with pytest.raises(ValueError, match="rule must be one of"):
        optim.update_parameters(params, grads, None, "sgd", lr=0.1)
    with pytest.raises(TypeError, match="unexpected"):
        optim.update_parameters(params, grads, None, "momentum", lr=0.1, beta1=0.9)
    with pytest.raises(TypeError, match="needs a learning rate"):
        optim.update_parameters(params, grads, None, "gd")
    del grads["db2"]
    with pytest.raises(ValueError, match="db2"):
        optim.update_parameters(params, grads, None, "gd", lr=0.1)
    assert optim.init_states(params, "gd") == {k: {} for k in params}


# ----------------------------------------------------------------------------------------
# Mini-batches
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("m, batch_size", [(12, 4), (13, 4), (5, 8), (7, 1), (64, 64)])
def test_random_mini_batches_partition(m, batch_size):
    X = np.arange(m * 6, dtype=np.float64).reshape(m, 2, 3)  # trailing shape (2, 3)
    y = np.arange(m) * 10
    batches = optim.random_mini_batches(X, y, batch_size, np.random.default_rng(7))
    assert len(batches) == math.ceil(m / batch_size)
    sizes = [len(xb) for xb, _ in batches]
    assert sizes[:-1] == [batch_size] * (len(batches) - 1)
    assert sizes[-1] == m - batch_size * (len(batches) - 1)  # the partial batch is kept
    seen = np.concatenate([yb for _, yb in batches])
    assert sorted(seen.tolist()) == (np.arange(m) * 10).tolist()  # every example exactly once
    for xb, yb in batches:
        assert xb.shape[1:] == (2, 3)
        np.testing.assert_array_equal(xb[:, 0, 0] / 6 * 10, yb)  # pairs stay together


def test_random_mini_batches_uses_exactly_one_permutation_draw():
    m, X, y = 10, np.arange(20.0).reshape(10, 2), np.arange(10)
    batches = optim.random_mini_batches(X, y, 3, np.random.default_rng(3))
    rng = np.random.default_rng(3)
    perm = rng.permutation(m)
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in batches]), perm)
    np.testing.assert_array_equal(np.concatenate([xb for xb, _ in batches]), X[perm])
    # the generator has advanced by exactly that one draw
    used = np.random.default_rng(3)
    optim.random_mini_batches(X, y, 3, used)
    assert used.random() == rng.random()


def test_random_mini_batches_validation():
    X, y, g = np.zeros((4, 2)), np.zeros(4), np.random.default_rng(0)
    with pytest.raises(ValueError, match="batch_size"):
        optim.random_mini_batches(X, y, 0, g)
    with pytest.raises(ValueError, match="batch_size"):
        optim.random_mini_batches(X, y, 2.0, g)
    with pytest.raises(ValueError, match="len\\(X\\)=4 and len\\(y\\)=3"):
        optim.random_mini_batches(X, y[:3], 2, g)
    with pytest.raises(TypeError, match="Generator"):
        optim.random_mini_batches(X, y, 2)


# ----------------------------------------------------------------------------------------
# Exponentially weighted averages
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9, 0.98])
def test_ewa_matches_a_loop(rng, beta):
    theta = rng.standard_normal(50)
    v, raw, corrected = 0.0, [], []
    for t, x in enumerate(theta, start=1):
        v = beta * v + (1 - beta) * x
        raw.append(v)
        corrected.append(v / (1 - beta**t))
    np.testing.assert_allclose(optim.ewa(theta, beta, bias_correction=False), raw, rtol=1e-12)
    np.testing.assert_allclose(optim.ewa(theta, beta), corrected, rtol=1e-12)


def test_ewa_of_a_constant(rng):
    c, beta, T = 3.5, 0.9, 40
    t = np.arange(1, T + 1)
    np.testing.assert_allclose(optim.ewa(np.full(T, c), beta), np.full(T, c), rtol=1e-12)
    np.testing.assert_allclose(optim.ewa(np.full(T, c), beta, bias_correction=False), c * (1 - beta**t),
                               rtol=1e-12)


def test_ewa_shapes_and_dtypes(rng):
    theta = rng.standard_normal((30, 2, 3)).astype(np.float32)
    out = optim.ewa(theta, 0.9)
    assert out.shape == theta.shape and out.dtype == np.float32
    np.testing.assert_allclose(out[:, 1, 2], optim.ewa(theta[:, 1, 2].astype(np.float64), 0.9), rtol=1e-5)
    assert optim.ewa([1, 2, 3], 0.5).dtype == np.float64
    with pytest.raises(ValueError, match="beta"):
        optim.ewa(theta, 1.0)
    with pytest.raises(ValueError, match="axis 0"):
        optim.ewa(np.float64(2.0), 0.5)


# ----------------------------------------------------------------------------------------
# Learning-rate decay
# ----------------------------------------------------------------------------------------


def test_lr_decay_formulas():
    assert optim.lr_inverse_time(0.5, 0, 1.0) == 0.5
    assert optim.lr_inverse_time(0.5, 3, 0.5) == pytest.approx(0.5 / 2.5)
    assert optim.lr_exponential(0.2, 0) == 0.2
    assert optim.lr_exponential(0.2, 10) == pytest.approx(0.95**10 * 0.2)
    assert optim.lr_exponential(0.2, 2, base=0.5) == pytest.approx(0.05)
    assert optim.lr_inverse_sqrt(0.3, 1) == pytest.approx(0.3)
    assert optim.lr_inverse_sqrt(0.3, 4, k=2.0) == pytest.approx(0.3)
    assert optim.lr_scheduled(0.1, 999, 1.0, 1000) == 0.1
    assert optim.lr_scheduled(0.1, 1000, 1.0, 1000) == pytest.approx(0.05)
    assert optim.lr_scheduled(0.1, 7, 0.3) == optim.lr_inverse_time(0.1, 7, 0.3)  # default: a drop every epoch
    assert optim.lr_scheduled(0.1, 25, 0.5, time_interval=10) == pytest.approx(0.1 / 2)
    assert isinstance(optim.lr_inverse_time(0.5, 3, 0.5), float)


def test_lr_decay_accepts_arrays_of_epochs():
    epochs = np.arange(0, 30)
    np.testing.assert_allclose(optim.lr_inverse_time(1.0, epochs, 0.3),
                               [optim.lr_inverse_time(1.0, int(e), 0.3) for e in epochs])
    np.testing.assert_allclose(optim.lr_scheduled(1.0, epochs, 0.3, 7),
                               [1 / (1 + 0.3 * (int(e) // 7)) for e in epochs])
    np.testing.assert_allclose(optim.lr_inverse_sqrt(1.0, epochs + 1), 1 / np.sqrt(epochs + 1))


def test_lr_decay_validation():
    with pytest.raises(ValueError, match="epoch must be >= 1"):
        optim.lr_inverse_sqrt(0.1, 0)
    with pytest.raises(ValueError, match="epoch must be >= 0"):
        optim.lr_inverse_time(0.1, -1, 1.0)
    with pytest.raises(ValueError, match="decay_rate"):
        optim.lr_scheduled(0.1, 3, -1.0)
    with pytest.raises(ValueError, match="time_interval"):
        optim.lr_scheduled(0.1, 3, 1.0, time_interval=0)
    with pytest.raises(ValueError, match="lr must be >= 0"):
        optim.lr_exponential(-0.1, 3)
    with pytest.raises(ValueError, match="base"):
        optim.lr_exponential(0.1, 3, base=1.5)


# ----------------------------------------------------------------------------------------
# Hyperparameter sampling
# ----------------------------------------------------------------------------------------


def test_sample_log_uniform_is_one_uniform_draw_on_the_log_scale():
    r = np.random.default_rng(5).uniform(-4, 0, 7)
    np.testing.assert_allclose(optim.sample_log_uniform(1e-4, 1.0, np.random.default_rng(5), size=7), 10.0**r)
    x = optim.sample_log_uniform(1e-4, 1.0, np.random.default_rng(5))
    assert isinstance(x, float) and x == pytest.approx(10.0 ** np.random.default_rng(5).uniform(-4, 0))


def test_sample_log_uniform_gives_each_decade_the_same_share(rng):
    x = optim.sample_log_uniform(1e-5, 1e-1, rng, size=40_000)
    assert x.shape == (40_000,) and x.min() >= 1e-5 and x.max() <= 1e-1
    counts = np.histogram(np.log10(x), bins=[-5, -4, -3, -2, -1])[0] / x.size
    np.testing.assert_allclose(counts, 0.25, atol=0.015)


def test_sample_beta(rng):
    b = optim.sample_beta(0.9, 0.999, rng, size=30_000)
    assert b.min() >= 0.9 and b.max() <= 0.999
    counts = np.histogram(np.log10(1 - b), bins=[-3, -2, -1])[0] / b.size  # 1 - beta log-uniform
    np.testing.assert_allclose(counts, 0.5, atol=0.015)
    r = np.random.default_rng(2).uniform(math.log10(1 - 0.999), math.log10(1 - 0.9), 3)
    np.testing.assert_allclose(optim.sample_beta(0.9, 0.999, np.random.default_rng(2), 3), 1 - 10.0**r)


def test_sampler_validation(rng):
    with pytest.raises(ValueError, match="0 < low <= high"):
        optim.sample_log_uniform(0.0, 1.0, rng)
    with pytest.raises(ValueError, match="0 < low <= high"):
        optim.sample_log_uniform(1.0, 0.1, rng)
    with pytest.raises(ValueError, match="high < 1"):
        optim.sample_beta(0.9, 1.0, rng)
    with pytest.raises(TypeError, match="Generator"):
        optim.sample_beta(0.9, 0.99, 0)


# ----------------------------------------------------------------------------------------
# Path pictures
# ----------------------------------------------------------------------------------------


def test_ill_conditioned_value_and_gradient(rng):
    f0, g0 = optim.ill_conditioned(np.zeros(2))
    assert f0 == 0.0 and np.all(g0 == 0)
    w = rng.standard_normal(2)
    f, g = optim.ill_conditioned(w)
    assert f == pytest.approx(0.5 * (w[0] ** 2 + optim.ILL_CONDITIONED_KAPPA * w[1] ** 2))
    num = ref.eval_numerical_gradient(lambda x: optim.ill_conditioned(x)[0], w.copy())
    np.testing.assert_allclose(g, num, rtol=1e-6)
    with pytest.raises(ValueError, match="shape \\(2,\\)"):
        optim.ill_conditioned(np.zeros(3))


@pytest.mark.parametrize("rule, hyper", [
    ("gd", dict(lr=0.09)), ("momentum", dict(lr=0.09, beta=0.9)),
    ("rmsprop", dict(lr=0.1, beta=0.9)), ("adam", dict(lr=0.3)),
])
def test_optimize_path_decreases_f(rule, hyper):
    start = optim.ILL_CONDITIONED_START
    path = optim.optimize_path(rule, start, 60, optim.ill_conditioned, **hyper)
    assert path.shape == (61, 2) and path.dtype == np.float64
    np.testing.assert_array_equal(path[0], start)
    f = [optim.ill_conditioned(w)[0] for w in path]
    assert f[-1] < 0.1 * f[0], f"{rule}: f went from {f[0]:.3g} to {f[-1]:.3g}"
    # the first rows replay the rule fed the gradients at the points along the path
    grads = [optim.ill_conditioned(w)[1] for w in path[:4]]
    np.testing.assert_allclose(path[1:5], _run_ref(rule, start, grads, **hyper), rtol=1e-14)


def test_optimize_path_validation():
    with pytest.raises(ValueError, match="rule"):
        optim.optimize_path("newton", np.zeros(2), 3)
    with pytest.raises(ValueError, match="steps"):
        optim.optimize_path("gd", np.zeros(2), -1, lr=0.1)
    assert optim.optimize_path("momentum", np.ones(2), 0).shape == (1, 2)
