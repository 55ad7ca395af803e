"""cnn_course.pt.experiments (quiet comparison runs, batch-statistics accuracy) and the
batch-norm plot helpers of cnn_course.plot. Small synthetic data: every test takes well
under a second."""

import numpy as np
import pytest
import torch
from torch import nn

from cnn_course import plot
from cnn_course.pt.experiments import (
    RunHistory,
    activation_modules,
    batch_stat_accuracy,
    compare_runs,
    train_run,
)
from cnn_course.pt.train import GRADING_ENV_VAR, GRADING_SUBSET, set_seed

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(autouse=True)
def _not_grading(monkeypatch):
    monkeypatch.delenv(GRADING_ENV_VAR, raising=False)


@pytest.fixture
def blobs():
    """Three well separated Gaussian blobs in 6-D: 300 training and 90 test examples."""
    g = np.random.default_rng(7)
    centres = 3.0 * g.standard_normal((3, 6))

    def draw(n):
        y = np.repeat(np.arange(3), n // 3)
        x = centres[y] + 0.5 * g.standard_normal((n, 6))
        return x.astype(np.float32), y.astype(np.int64)

    return draw(300), draw(90)


def mlp(batchnorm=False):
    layers = [nn.Linear(6, 16, bias=not batchnorm)]
    if batchnorm:
        layers.append(nn.BatchNorm1d(16))
    layers += [nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3)]
    return nn.Sequential(*layers)


@pytest.mark.parametrize("device", DEVICES)
def test_train_run_learns_and_records_every_step(blobs, device):
    train, test = blobs
    set_seed(0)
    model = mlp()
    h = train_run(model, train, test, epochs=3, lr=0.05, batch_size=32, device=device, label="plain")
    assert isinstance(h, RunHistory) and h.label == "plain" and h.lr == 0.05 and h.model is model
    assert len(h.step_loss) == 3 * 10  # ceil(300 / 32) steps per epoch
    assert len(h.train_loss) == len(h.train_acc) == len(h.test_loss) == len(h.test_acc) == 3
    assert h.test_acc[-1] > 0.9 and h.step_loss[-1] < h.step_loss[0]
    assert h.device == torch.device(device).type and h.seconds > 0
    assert h.watch_steps == [] and h.watch_values == []


def test_train_run_is_reproducible_and_silent(blobs, capsys):
    train, test = blobs
    runs = []
    for _ in range(2):
        set_seed(1)
        runs.append(train_run(mlp(True), train, test, epochs=2, lr=0.1, batch_size=50, seed=3, device="cpu"))
    assert runs[0].step_loss == runs[1].step_loss and runs[0].test_acc == runs[1].test_acc
    assert capsys.readouterr().out == ""


def test_watch_records_percentiles_of_the_module_input(blobs):
    train, _ = blobs
    set_seed(0)
    model = mlp(True)
    relu = activation_modules(model)[0]
    seen = []
    relu.register_forward_pre_hook(lambda m, inp: seen.append(inp[0][:, 2].detach().clone()) if m.training else None)
    h = train_run(model, train, None, epochs=1, lr=0.05, batch_size=100, device="cpu",
                  watch=relu, watch_unit=2, watch_every=2, percentiles=(10, 50, 90))
    assert h.watch_steps == [0, 2] and h.percentiles == (10.0, 50.0, 90.0)
    for step, values in zip(h.watch_steps, h.watch_values):
        expected = np.percentile(seen[step].double().numpy(), [10, 50, 90])
        np.testing.assert_allclose(values, expected, rtol=1e-12, atol=1e-12)
    assert len(relu._forward_pre_hooks) == 1  # ours was removed, the test's own stays


def test_watch_conv_unit_pools_over_space():
    x = torch.randn(8, 3, 4, 4)
    relu = nn.ReLU()
    model = nn.Sequential(nn.Conv2d(3, 2, 1), relu, nn.Flatten(), nn.Linear(32, 2))
    y = torch.randint(0, 2, (8,))
    h = train_run(model, (x, y), None, epochs=1, lr=0.01, batch_size=8, device="cpu", watch=relu,
                  watch_unit=1, percentiles=(50,))
    assert h.watch_steps == [0] and len(h.watch_values[0]) == 1
    with pytest.raises(ValueError, match="watch_unit=5"):
        train_run(model, (x, y), None, epochs=1, lr=0.01, batch_size=8, device="cpu", watch=relu, watch_unit=5)


def test_activation_modules_in_order_and_error():
    model = mlp()
    kinds = [type(m) for m in activation_modules(model)]
    assert kinds == [nn.ReLU, nn.Tanh]
    with pytest.raises(ValueError, match="no activation modules"):
        activation_modules(nn.Linear(2, 2))


def test_compare_runs_same_start_one_line_per_run(blobs, capsys):
    train, test = blobs
    builders = {"without BN": lambda: mlp(False), "with BN": lambda: mlp(True)}
    runs = compare_runs(builders, train, test, lrs=[0.01, 0.1], epochs=2, batch_size=30, seed=5,
                        device="cpu", watch=lambda m: activation_modules(m)[1], watch_every=5)
    assert list(runs) == [("without BN", 0.01), ("without BN", 0.1), ("with BN", 0.01), ("with BN", 0.1)]
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("without BN  lr 0.01  final train loss ") and lines[0].endswith(" s)")
    assert " test acc " in lines[3]
    for (label, lr), h in runs.items():
        assert h.label == label and h.lr == lr and len(h.watch_steps) == 4  # 20 steps, every 5th
    # same seed -> same initial weights: the first loss does not depend on the learning rate
    assert runs[("with BN", 0.01)].step_loss[0] == runs[("with BN", 0.1)].step_loss[0]
    with pytest.raises(ValueError, match="lr must be a positive number"):
        compare_runs(builders, train, test, lrs=[0.1, -1], epochs=1, batch_size=30)
    with pytest.raises(ValueError, match="empty"):
        compare_runs({}, train, test, lrs=[0.1], epochs=1, batch_size=30)


def test_grading_run_is_short(blobs, monkeypatch, capsys):
    monkeypatch.setenv(GRADING_ENV_VAR, "autograde")
    big = (np.repeat(blobs[0][0], 2, axis=0), np.repeat(blobs[0][1], 2))  # 600 > GRADING_SUBSET
    runs = compare_runs({"m": mlp}, big, blobs[1], lrs=[0.1], epochs=5, batch_size=64, device="cpu")
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (f"{GRADING_ENV_VAR} is set: short run (1 epoch on {GRADING_SUBSET} examples); "
                      "training is not graded")
    assert len(runs[("m", 0.1)].train_loss) == 1 and len(runs[("m", 0.1)].step_loss) == 4
    h = train_run(mlp(), big, None, epochs=3, lr=0.1, batch_size=64, device="cpu")
    assert len(h.train_loss) == 1 and capsys.readouterr().out.startswith(GRADING_ENV_VAR)


def test_bad_arguments():
    x, y = torch.zeros(4, 6), torch.zeros(4, dtype=torch.long)
    for kwargs, msg in (({"epochs": 0}, "epochs"), ({"batch_size": 1.5}, "batch_size"),
                        ({"lr": 0}, "lr must be"), ({"percentiles": (5, 150)}, "percentiles")):
        args = {"epochs": 1, "lr": 0.1, "batch_size": 2} | kwargs
        with pytest.raises(ValueError, match=msg):
            train_run(mlp(), (x, y), None, device="cpu", **args)


@pytest.mark.parametrize("device", DEVICES)
def test_batch_stat_accuracy_matches_a_manual_loop_and_leaves_model_alone(blobs, device):
    train, test = blobs
    set_seed(0)
    model = mlp(True)
    train_run(model, train, None, epochs=2, lr=0.1, batch_size=30, device=device)
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = test
    order = np.argsort(y, kind="stable")
    acc = batch_stat_accuracy(model, x, y, batch_size=30, order=order)
    copy = mlp(True).to(device)
    copy.load_state_dict(model.state_dict())
    copy.train()
    with torch.no_grad():
        xs, ys = torch.tensor(x[order]).to(device), torch.tensor(y[order]).to(device)
        manual = sum((copy(xs[s:s + 30]).argmax(1) == ys[s:s + 30]).sum().item() for s in range(0, 90, 30)) / 90
    assert acc == manual
    assert not model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    # one class per batch: the batch mean removes exactly what tells the classes apart
    assert acc < batch_stat_accuracy(model, x, y, batch_size=90)


def test_batch_stat_accuracy_single_leftover_joins_previous_batch_and_checks_args(blobs):
    x, y = blobs[1]
    set_seed(0)
    model = mlp(True)
    acc = batch_stat_accuracy(model, x[:89], y[:89], batch_size=4)  # 22 batches of 4, one of 1 -> joined
    assert 0.0 <= acc <= 1.0
    with pytest.raises(ValueError, match="at least 2"):
        batch_stat_accuracy(model, x, y, batch_size=1)
    with pytest.raises(ValueError, match="permutation"):
        batch_stat_accuracy(model, x, y, batch_size=4, order=np.zeros(90, dtype=int))


# --------------------------------------------------------------------------- plots


def fake_run(label, lr, steps=30, epochs=3):
    g = np.random.default_rng(int(lr * 1000))
    return RunHistory(label=label, lr=lr, step_loss=list(2 * np.exp(-np.arange(steps) / 10) + 0.1 * g.random(steps)),
                      test_acc=list(np.linspace(0.5, 0.8, epochs)), percentiles=(15.0, 50.0, 85.0),
                      watch_steps=[0, 10, 20], watch_values=[[-1, 0, 1], [-2, 0, 2], [-1, 1, 3]])


def test_plot_run_comparison_grid():
    runs = {(label, lr): fake_run(label, lr) for label in ("a", "b") for lr in (0.01, 0.1, 1.0)}
    fig = plot.plot_run_comparison(runs, smooth=5, loss_ylim=(0, 3))
    assert len(fig.axes) == 6
    assert fig.axes[0].get_title() == "learning rate 0.01: training loss"
    assert len(fig.axes[0].lines) == 4  # raw + smoothed, two labels
    with pytest.raises(ValueError, match="empty"):
        plot.plot_run_comparison({})


def test_moving_average_is_trailing_mean():
    np.testing.assert_allclose(plot._bn_moving_average([1, 2, 3, 4], 2), [1, 1.5, 2.5, 3.5])
    np.testing.assert_allclose(plot._bn_moving_average([1, 3], 10), [1, 2])


def test_plot_percentile_bands_and_validation():
    fig = plot.plot_percentile_bands([fake_run("a", 0.1), fake_run("b", 0.1)], ylabel="z")
    assert len(fig.axes) == 2 and fig.axes[1].get_title() == "b"
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_ydata(), [0, 0, 1])
    bad = fake_run("c", 0.1)
    bad.watch_values = [[0, 1]] * 3
    with pytest.raises(ValueError, match="P odd"):
        plot.plot_percentile_bands([bad])
    with pytest.raises(ValueError, match="titles"):
        plot.plot_percentile_bands([fake_run("a", 0.1)], titles=["x", "y"])


def test_plot_batch_size_effect():
    fig = plot.plot_batch_size_effect([2, 8, 32], {"shuffled": [0.3, 0.6, 0.8]}, {"eval": 0.85}, title="t")
    ax = fig.axes[0]
    assert len(fig.axes) == 1 and len(ax.lines) == 2 and ax.get_xscale() == "log"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [30, 60, 80])
    with pytest.raises(ValueError, match="3 accuracies"):
        plot.plot_batch_size_effect([2, 8, 32], {"x": [0.1]})


def test_plot_histograms():
    fig = plot.plot_histograms([np.arange(10.0), torch.ones(3, 3)], titles=["a", "b"])
    assert len(fig.axes) == 2 and "mean 4.50" in fig.axes[0].texts[0].get_text()
    assert len(plot.plot_histograms(np.zeros((3, 5))).axes) == 3
    with pytest.raises(ValueError, match="titles"):
        plot.plot_histograms([np.zeros(2)], titles=["a", "b"])
