"""Checks of PyTorch exercises (cnn_course.grading.probes and .pytorch), locally and judged.

A toy topic module, registered as ``cnn_course.grading.toy_torch``, grades a small
``nn.Module`` and a training step the way the notebooks' PyTorch exercises do. Every
submission below is checked twice, as the student's own notebook runs a test cell (the
class itself) and as the autograder does (the test cell in the grader, the class in a
"kernel" namespace behind ``LoopbackLink`` and the full message encoding): the verdict and
the message must be the same, and right.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch

from cnn_course.autograde import static
from cnn_course.autograde.judge import run_test_cell
from cnn_course.autograde.links import FileLink, LoopbackLink
from cnn_course.grading import core, probes
from cnn_course.grading.core import TORCH_FORBIDDEN, Case, Out, Variant, forbids, run_check
from cnn_course.grading.pytorch import build, check_parameters, forward_with, own_work, random_weights
from submissions import namespace
from test_grading_remote import FakeKernel, local_cell

# =========================================================================== a toy topic module

SHAPES = [("fc1.weight", (8, 4)), ("fc1.bias", (8,)), ("fc2.weight", (3, 8)), ("fc2.bias", (3,))]


def _reference(weights, x):
    w1, b1, w2, b2 = (torch.tensor(w) for w in weights)
    return (torch.relu(torch.tensor(x) @ w1.T + b1) @ w2.T + b2).numpy()


@forbids(*TORCH_FORBIDDEN)
def tiny_net(TinyNet, hidden=False, seed=0):
    """TinyNet(): Linear(4, 8) -> ReLU -> Linear(8, 3)."""
    __tracebackhide__ = True
    own_work("TinyNet", TinyNet)
    k = probes.kernel(TinyNet)
    check_parameters("TinyNet", k.summary(build("TinyNet", TinyNet)), SHAPES,
                     hint="two nn.Linear layers: 4 -> 8 and 8 -> 3.")
    rng = np.random.default_rng(seed)
    cases = []
    for n in (rng.integers(1, 6, size=6) if hidden else (2,)):
        weights = random_weights([s for _, s in SHAPES], rng)
        x = rng.standard_normal((int(n), 4)).astype(np.float32)
        expected = _reference(weights, x)
        w1, b1, w2, b2 = weights
        no_relu = (x @ w1.T + b1) @ w2.T + b2
        cases.append(Case(
            args=[("x", x)], outputs=[Out("out", expected)], dtype=np.float32,
            describe=f"x.shape={x.shape}, fixed weights",
            call=lambda cls, values, w=weights: forward_with("TinyNet", cls, (), w, values[0]),
            variants=lambda e=no_relu: [Variant("the ReLU between the two layers is missing.", {"out": e})],
        ))
    run_check("TinyNet", TinyNet, cases, hidden=hidden, forbidden=TORCH_FORBIDDEN)


def _step_reference(weights, X, y, lr, steps, zero_grad=True):
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    with torch.no_grad():
        for p, w in zip(model.parameters(), weights):
            p.copy_(torch.tensor(w))
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        if zero_grad:
            opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(torch.tensor(X)), torch.tensor(y))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, [p.detach().numpy().copy() for p in model.parameters()]


def _two_steps(fn, weights, X, y, lr):
    k = probes.kernel(fn)
    model = k.sequential(("Linear", (4, 8)), ("ReLU",), ("Linear", (8, 3)))
    k.set_parameters(model, weights)
    opt = k.new("torch.optim.SGD", model, lr=lr)
    Xt, yt = k.tensor(X), k.tensor(y, "int64")
    (l1, t1), (l2, _) = k.call(fn, model, opt, Xt, yt), k.call(fn, model, opt, Xt, yt)
    return t1, l1, l2, k.parameters(model)


@forbids(*TORCH_FORBIDDEN)
def train_step(func, hidden=False, seed=0):
    """train_step(model, optimizer, X, y) -> the loss as a float, after one SGD step."""
    __tracebackhide__ = True
    rng = np.random.default_rng(seed)
    weights = random_weights([s for _, s in SHAPES], rng)
    X = rng.standard_normal((5, 4)).astype(np.float32)
    y = rng.integers(0, 3, size=5)
    (l1, l2), params = _step_reference(weights, X, y, 0.5, 2)
    _, acc = _step_reference(weights, X, y, 0.5, 2, zero_grad=False)
    case = Case(
        args=[], dtype=np.float32, describe="two steps of SGD (lr 0.5) on one batch of 5",
        outputs=[Out("type of the result", "float", kind="exact"), Out("loss of step 1", l1, "scalar"),
                 Out("loss of step 2", l2, "scalar"), Out("parameters after step 2", params, "list")],
        call=lambda fn, values: _two_steps(fn, weights, X, y, 0.5),
        variants=lambda: [Variant("the gradients of step 1 were still there in step 2: call "
                                  "optimizer.zero_grad() before loss.backward().",
                                  {"parameters after step 2": acc})],
    )
    run_check("train_step", func, [case], hidden=hidden, forbidden=TORCH_FORBIDDEN)


toy = types.ModuleType("cnn_course.grading.toy_torch")
toy.tiny_net, toy.train_step = tiny_net, train_step


@pytest.fixture(autouse=True)
def _toy_module():
    sys.modules[toy.__name__] = toy
    yield
    sys.modules.pop(toy.__name__, None)


# =========================================================================== submissions

HEAD = "import torch\nfrom torch import nn\n"
NET = HEAD + """
class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))
"""
STEP = HEAD + """
def train_step(model, optimizer, X, y):
    optimizer.zero_grad()
    loss = nn.functional.cross_entropy(model(X), y)
    loss.backward()
    optimizer.step()
    return loss.item()
"""
CORRECT = {"TinyNet": NET, "train_step": STEP}

SEQUENTIAL = HEAD + """
class TinyNet(nn.Module):  # another layout, the same parameters in the same order
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))

    def forward(self, x):
        return self.body(x)
"""
SUBMISSIONS = {  # name: (overrides, test cell, expected verdict, a part of the message)
    "correct": ({}, "tiny_net(TinyNet)", True, "✓ TinyNet"),
    "sequential": ({"TinyNet": SEQUENTIAL}, "tiny_net(TinyNet)", True, "✓ TinyNet"),
    "hidden": ({}, "tiny_net(TinyNet, hidden=True, seed=3)", True, "6 hidden cases passed"),
    "wrong_width": ({"TinyNet": NET.replace("(4, 8)", "(4, 6)").replace("(8, 3)", "(6, 3)")},
                    "tiny_net(TinyNet)", False, "parameter 1 of TinyNet (fc1.weight) has shape (6, 4), expected (8, 4)"),
    "no_relu": ({"TinyNet": NET.replace("torch.relu(self.fc1(x))", "self.fc1(x)")}, "tiny_net(TinyNet)", False,
                "the ReLU between the two layers is missing"),
    "frozen": ({"TinyNet": NET.replace("self.fc2 = nn.Linear(8, 3)",
                                       "self.fc2 = nn.Linear(8, 3).requires_grad_(False)")},
               "tiny_net(TinyNet)", False, "fc2.weight has requires_grad=False"),
    "init_fails": ({"TinyNet": NET.replace("super().__init__()", "super().__init__()\n        1 / 0")},
                   "tiny_net(TinyNet)", False, "TinyNet() raised ZeroDivisionError: division by zero\n  at line 7"),
    "forward_fails": ({"TinyNet": NET.replace("return self.fc2", "return self.fc3")}, "tiny_net(TinyNet)", False,
                      "TinyNet raised AttributeError"),
    "library": ({"TinyNet": HEAD + "from cnn_course.pt import conv2d\n" + NET.replace(
        "torch.relu(self.fc1(x))", "torch.relu(self.fc1(x)) + 0 * conv2d")},
        "tiny_net(TinyNet)", False, "TinyNet earns no points: it calls cnn_course.pt"),
    "library_base": ({"TinyNet": HEAD + "import cnn_course.pt.mlp\nclass TinyNet(cnn_course.pt.mlp.MLP):\n    pass\n"},
                     "tiny_net(TinyNet)", False, "TinyNet earns no points: it calls cnn_course.pt.mlp.MLP"),
    "step": ({}, "train_step(train_step)", True, "✓ train_step"),
    "step_no_zero_grad": ({"train_step": STEP.replace("    optimizer.zero_grad()\n", "")},
                          "train_step(train_step)", False, "call optimizer.zero_grad() before loss.backward()"),
    "step_tensor": ({"train_step": STEP.replace("loss.item()", "loss")}, "train_step(train_step)", False,
                    "type of the result must be 'float', got 'Tensor'"),
    "step_before_backward": ({"train_step": STEP.replace("    loss.backward()\n    optimizer.step()\n",
                                                         "    optimizer.step()\n    loss.backward()\n")},
                             "train_step(train_step)", False, "loss of step 2 is wrong"),
}


@pytest.mark.parametrize("name", list(SUBMISSIONS))
def test_local_and_judged_verdicts_agree_and_teach(name):
    overrides, call, passed, text = SUBMISSIONS[name]
    source = f"from cnn_course.grading import toy_torch as check\ncheck.{call}\n"
    local = local_cell(source, namespace(CORRECT, overrides))
    judged = run_test_cell(source, LoopbackLink(namespace(CORRECT, overrides)), timeout=60)
    assert judged == local, f"local:  {local}\njudged: {judged}"
    assert judged.passed is passed, judged
    assert text in (judged.output if passed else judged.evalue), judged
    assert sys.getprofile() is None


def test_probe_proxies_are_fetched_once_per_cell_and_only_registered_probes_exist():
    link = LoopbackLink(namespace(CORRECT))
    source = "from cnn_course.grading import toy_torch as check\ncheck.tiny_net(TinyNet, hidden=True, seed=1)\n"
    assert run_test_cell(source, link, timeout=60).passed
    first = link.requests
    assert run_test_cell(source, link, timeout=60).passed
    assert link.requests == 2 * first  # each probe is fetched once per cell, and a new cell fetches it again
    # lookup, static look, summary (fetch + call), build; then per case build, set_parameters and
    # forward calls, plus the two probes' fetches in the first case
    assert first == 5 + 6 * 3 + 2
    bad = run_test_cell("from cnn_course.grading import core\nk = TinyNet._session.probe('os')\n", link, timeout=10)
    assert not bad.passed and "unknown probe 'os'" in bad.evalue


def test_probes_build_only_torch_classes():
    with pytest.raises(ValueError, match="only torch.nn and torch.optim"):
        probes.new("os.system", "true")
    with pytest.raises(ValueError, match="not a class"):
        probes.new("torch.nn.functional.relu")
    model = probes.sequential(("Linear", (2, 3)), ("ReLU",), ("Linear", (3, 1), {"bias": False}))
    assert probes.summary(model)["n_parameters"] == 2 * 3 + 3 + 3
    opt = probes.new("torch.optim.SGD", model, lr=0.1)
    assert probes.attribute(opt, "defaults")["lr"] == 0.1
    with pytest.raises(ValueError, match="public attribute"):
        probes.attribute(opt, "__class__")


def test_call_backward_returns_the_gradients_of_the_arguments_that_require_them():
    x = probes.tensor(np.array([1.0, -2.0, 3.0]), "float64", True)
    w = probes.tensor(np.array([2.0, 0.5, -1.0]), "float64")
    value, kind, grads = probes.call_backward(lambda a, b: (a * a * b).sum(), x, w)
    assert kind == "Tensor" and value == pytest.approx(2.0 + 2.0 - 9.0)
    np.testing.assert_allclose(grads[0], 2 * np.array([1.0, -2.0, 3.0]) * np.array([2.0, 0.5, -1.0]))
    assert len(grads) == 1
    # called twice: the gradient is the second call's, not accumulated
    np.testing.assert_allclose(probes.call_backward(lambda a: (a * a).sum(), x)[2][0], [2.0, -4.0, 6.0])
    # a detached result or a float reaches no argument: None, and nothing raises
    assert probes.call_backward(lambda a: torch.tensor(float((a * a).sum())), x)[2] == [None]
    value, kind, grads = probes.call_backward(lambda a: float((a * a).sum()), x)
    assert (kind, grads) == ("float", [None])


def test_probes_report_and_load_modules():
    bn = torch.nn.BatchNorm1d(3)
    info = probes.summary(bn)
    assert info["parameters"] == [("weight", (3,), True), ("bias", (3,), True)]
    assert [b[0] for b in info["buffers"]] == ["running_mean", "running_var", "num_batches_tracked"]
    probes.set_buffers(bn, [np.ones(3), np.full(3, 4.0), np.array(7)])
    out = probes.forward(bn, np.array([[3.0, 1.0, 5.0]], dtype=np.float32), mode="eval")
    np.testing.assert_allclose(out, [[1.0, 0.0, 2.0]], atol=1e-5)
    assert not probes.summary(bn)["training"]
    with pytest.raises(ValueError, match="has shape"):
        probes.set_parameters(bn, [np.ones(4), np.ones(3)])
    with pytest.raises(ValueError, match="the model has 2 parameters, the check gives 1"):
        probes.set_parameters(bn, [np.ones(3)])


def test_a_class_is_judged_by_its_methods_bases_and_helpers():
    ns = namespace({"x": HEAD + "import cnn_course.ref as R\n"
                         "class Helper(nn.Module):\n    def forward(self, x):\n        return R.conv2d_forward(x)\n"
                         "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                         "        self.h = Helper()\n"})
    assert core.find_forbidden_static(ns["Net"], TORCH_FORBIDDEN) == "cnn_course.ref.conv2d_forward (through your class Helper)"
    assert core.find_forbidden_static(namespace(CORRECT)["TinyNet"], TORCH_FORBIDDEN) is None
    # in a NumPy exercise torch itself is not the student's own work
    assert core.find_forbidden_static(namespace(CORRECT)["TinyNet"]).startswith("torch.nn.modules.module.Module")


def test_the_static_pass_reads_each_checks_own_list():
    torch_cell = "from cnn_course.grading import toy_torch as check\ncheck.tiny_net(TinyNet)\n"
    numpy_cell = "from cnn_course.grading import convolution as check\ncheck.zero_pad(zero_pad)\n"
    assert static.graded_checks(torch_cell) == {"TinyNet": TORCH_FORBIDDEN}
    assert static.graded_checks(numpy_cell) == {"zero_pad": core.FORBIDDEN}
    release = _notebook([("answer", "TinyNet", "class TinyNet:\n    pass\n"), ("test", "t1", torch_cell),
                         ("answer", "zero_pad", "def zero_pad(X, pad):\n    pass\n"), ("test", "t2", numpy_cell)])
    cheat = HEAD + "import cnn_course.pt.mlp\n" + NET.replace("nn.Linear(4, 8)", "cnn_course.pt.mlp.nn.Linear(4, 8)")
    submission = _notebook([("answer", "TinyNet", NET), ("test", "t1", torch_cell),
                            ("answer", "zero_pad", HEAD + "def zero_pad(X, pad):\n    return torch.nn.functional.pad(X, (pad,) * 4)\n"),
                            ("test", "t2", numpy_cell)])
    report = static.analyze(submission, release)
    assert report.problem(torch_cell) is None  # torch.nn is the point here
    assert "zero_pad earns no points: it calls torch" in report.problem(numpy_cell)
    report = static.analyze(_notebook([("answer", "TinyNet", cheat), ("test", "t1", torch_cell)]), release)
    assert "TinyNet earns no points: it calls cnn_course.pt" in report.problem(torch_cell)
    assert "build it yourself from torch.nn" in report.problem(torch_cell)


def _notebook(cells):
    out = []
    for kind, gid, src in cells:
        meta = {"grade_id": gid, "solution": kind == "answer", "grade": kind == "test", "locked": kind == "test"}
        if kind == "test":
            meta["points"] = 1
        out.append({"cell_type": "code", "source": src, "metadata": {"nbgrader": meta}, "outputs": [],
                    "execution_count": None})
    return {"cells": out, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def test_a_real_kernel_process_runs_the_probes(tmp_path):
    kernel = FakeKernel(tmp_path)
    try:
        for src in (NET, STEP.replace("loss.item()", "loss")):
            assert kernel.run_code(src, 60) == "ok"
        link = FileLink(kernel.run_code, tmp_path)
        cell = "from cnn_course.grading import toy_torch as check\ncheck.tiny_net(TinyNet, hidden=True, seed=2)\n"
        assert run_test_cell(cell, link, timeout=120).passed
        result = run_test_cell(cell.replace("tiny_net(TinyNet", "train_step(train_step"), link, timeout=120)
        assert "type of the result must be 'float', got 'Tensor'" in result.evalue
    finally:
        kernel.close()
