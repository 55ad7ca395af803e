"""cnn_course.pt.resnet_experiments and cnn_course.plot.resnet: the ResNet notebook's measurements."""

import numpy as np
import pytest
import torch

from cnn_course import GRADING_ENV_VAR
from cnn_course.plot.resnet import plot_depth_experiment, plot_gradient_norms
from cnn_course.pt.models import cifar_resnet
from cnn_course.pt.resnet_experiments import DepthRun, depth_experiment, depth_table, gradient_norms, halve
from cnn_course.pt.train import set_seed


def _data(n=64, side=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 1, side, side)).astype(np.float32), rng.integers(0, 10, n).astype(np.int64)


def test_halve_averages_2x2_blocks():
    x = np.arange(2 * 3 * 4 * 6, dtype=np.float32).reshape(2, 3, 4, 6)
    h = halve(x)
    assert h.shape == (2, 3, 2, 3) and h.dtype == np.float32
    assert h[1, 2, 1, 2] == x[1, 2, 2:4, 4:6].mean()
    with pytest.raises(ValueError, match="even"):
        halve(x[:, :, :3])
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        halve(x[0])


def test_gradient_norms_one_row_per_weight_layer_and_model_untouched():
    set_seed(0)
    model = cifar_resnet(8, width=4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.eval()
    rows = gradient_norms(model, *_data(), device="cpu")
    n_layers = sum(isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) for m in model.modules())
    assert len(rows) == n_layers == 1 + 6 + 2 + 1  # stem, 3 blocks of 2 convs, 2 projections, fc
    assert [r.index for r in rows] == list(range(1, n_layers + 1))
    assert rows[0].name == "conv1.weight" and rows[-1].name == "fc.weight"
    assert all(np.isfinite(r.norm) and r.norm > 0 for r in rows)
    assert not model.training and all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # running stats too
    again = gradient_norms(model, *_data(), device="cpu")
    assert [r.norm for r in again] == [r.norm for r in rows]


def test_gradient_norms_by_hand_on_a_linear_model():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    x, y = np.ones((2, 1, 2, 2), np.float32), np.array([0, 2])
    probs = torch.softmax(model(torch.tensor(x)), 1).detach()
    grad = (probs - torch.nn.functional.one_hot(torch.tensor(y), 3)).T @ torch.ones(2, 4) / 2
    (row,) = gradient_norms(model, x, y, device="cpu")
    assert row.name == "1.weight" and row.norm == pytest.approx(float(grad.norm()), rel=1e-5)


def test_depth_experiment_trains_each_pair_from_the_same_start(capsys):
    train = _data(96)
    runs = depth_experiment((8, 14), train, test=_data(32, seed=1), epochs=1, lr=0.01, batch_size=32,
                            builder=lambda d, plain: cifar_resnet(d, plain=plain, width=2), device="cpu")
    out = capsys.readouterr().out
    assert [r.label for r in runs] == ["plain-8", "residual-8", "plain-14", "residual-14"]
    assert all(0 <= r.train_error <= 1 and 0 <= r.test_error <= 1 for r in runs)
    assert all(len(r.history.step_loss) == 3 for r in runs)
    assert runs[1].params - runs[0].params == (2 * 4 + 2 * 4) + (4 * 8 + 2 * 8)  # the two projections: conv + BN
    assert "plain-8" in out and "training error" in out and "test error" in out
    again = depth_experiment((8,), train, epochs=1, lr=0.01, batch_size=32, plain=(True,),
                             builder=lambda d, plain: cifar_resnet(d, plain=plain, width=2), device="cpu")
    assert again[0].history.step_loss == runs[0].history.step_loss  # seeded: same weights, same batches
    table = depth_table(runs)
    assert table.splitlines()[0].startswith("depth | plain: train error | residual: train error")
    assert len(table.splitlines()) == 4 and "%" in table.splitlines()[2]


def test_depth_experiment_short_run_under_grading(monkeypatch, capsys):
    monkeypatch.setenv(GRADING_ENV_VAR, "1")
    runs = depth_experiment((8,), _data(300), epochs=3, lr=0.01, batch_size=64, plain=(False,),
                            builder=lambda d, plain: cifar_resnet(d, plain=plain, width=2), device="cpu")
    assert "short run (1 epoch on 256 examples)" in capsys.readouterr().out
    assert len(runs[0].history.step_loss) == 4


def test_depth_experiment_validates():
    with pytest.raises(ValueError, match="at least one depth"):
        depth_experiment((), _data(), epochs=1, lr=0.1, batch_size=8)


def test_plots_return_closed_figures():
    rows = [type("R", (), {"index": i, "norm": 2.0 ** -i})() for i in range(1, 5)]
    fig = plot_gradient_norms({"plain-8": rows, "residual-8": rows}, title="t")
    assert len(fig.axes) == 1 and fig.axes[0].get_yscale() == "log"
    hist = type("H", (), {"step_loss": [2.0, 1.5, 1.2]})()
    runs = [DepthRun(d, p, 10, 0.5 - 0.1 * p, 1.0, None, 0.1, hist) for d in (8, 20) for p in (True, False)]
    fig = plot_depth_experiment(runs)
    assert len(fig.axes) == 2
    with pytest.raises(ValueError):
        plot_gradient_norms({})
    with pytest.raises(ValueError):
        plot_depth_experiment([])
