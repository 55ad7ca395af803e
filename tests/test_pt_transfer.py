"""The transfer-learning experiment (cnn_course.pt.transfer) on a tiny stand-in network."""

import numpy as np
import pytest
import torch
from torch import nn

from cnn_course.pt import transfer


def tiny(num_classes=8):
    torch.manual_seed(0)
    model = nn.Module()
    model.features = nn.Sequential(
        nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU6()),
        nn.Sequential(nn.Conv2d(4, 6, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(6), nn.ReLU6()),
        nn.Sequential(nn.Conv2d(6, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU6()))
    model.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(8, num_classes))
    model.forward = lambda x: model.classifier(model.features(x).mean(dim=(2, 3)))
    return model


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    y_train, y_test = np.repeat(np.arange(10), 30), np.repeat(np.arange(10), 10)
    x_train = (rng.random((300, 1, 12, 12)) * (1 + y_train[:, None, None, None])).astype(np.float32) / 10
    x_test = (rng.random((100, 1, 12, 12)) * (1 + y_test[:, None, None, None])).astype(np.float32) / 10
    return x_train, y_train, x_test, y_test


def test_few_shot_split_renumbers_and_draws_per_class(data):
    few_x, few_y, ev_x, ev_y = transfer.few_shot_split(*data, (9, 5), 4, n_test_per_class=6, seed=1)
    assert few_x.shape == (8, 1, 12, 12) and few_y.tolist() == [0] * 4 + [1] * 4
    assert ev_x.shape == (12, 1, 12, 12) and ev_y.tolist() == [0] * 6 + [1] * 6
    assert torch.equal(ev_x[0], torch.as_tensor(data[2][np.flatnonzero(data[3] == 9)[0]]))
    again = transfer.few_shot_split(*data, (9, 5), 4, n_test_per_class=6, seed=1)
    assert torch.equal(few_x, again[0])
    with pytest.raises(ValueError, match="fewer than n_per_class"):
        transfer.few_shot_split(*data, (9,), 31)


def test_augment_batch_mirrors_or_crops_and_keeps_the_shape():
    x = torch.rand(16, 1, 6, 6)
    out = transfer.augment_batch(x, torch.Generator().manual_seed(0), pad=1)
    assert out.shape == x.shape and not torch.equal(out, x)
    assert torch.equal(out, transfer.augment_batch(x, torch.Generator().manual_seed(0), pad=1))
    same = transfer.augment_batch(x, torch.Generator().manual_seed(3), pad=0)  # no padding: mirror or not
    assert all(torch.equal(a, b) or torch.equal(a, b.flip(2)) for a, b in zip(same, x))
    assert any(torch.equal(a, b.flip(2)) and not torch.equal(a, b) for a, b in zip(same, x))


def test_the_pixel_baseline_is_a_linear_layer(data):
    task = transfer.few_shot_split(*data, (9, 0), 5, seed=0)
    run = transfer.train_on_pixels(task[:2], task[2:], steps=20)
    assert run.method == "linear on pixels" and run.trained_parameters == 144 * 2 + 2 and 0.5 <= run.accuracy <= 1


def test_new_head_trains_only_the_head_and_leaves_the_model_alone(data):
    model = tiny()
    before = [p.clone() for p in model.parameters()]
    task = transfer.few_shot_split(*data, (9, 0), 5, seed=0)
    run = transfer.train_on_activations(model, task[:2], task[2:], k=0, steps=30)
    assert run.method == "new head" and run.trained_parameters == 8 * 2 + 2 and run.examples == 10
    assert 0.5 <= run.accuracy <= 1.0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    tuned = transfer.train_on_activations(model, task[:2], task[2:], k=1, augmented=True, copies=3, steps=10)
    assert tuned.method == "fine-tune last blocks" and tuned.examples == 30
    assert tuned.trained_parameters == 6 * 8 * 9 + 2 * 8 + 8 * 2 + 2
    with pytest.raises(ValueError, match="k must be between 0 and 2"):
        transfer.train_on_activations(model, task[:2], task[2:], k=3)


def test_experiment_runs_eight_deterministic_runs_and_tabulates_them(data):
    task = transfer.few_shot_split(*data, (9, 0), 5, seed=0)
    runs = transfer.transfer_experiment(tiny(), tiny, task[:2], task[2:], k=1, copies=2, steps=5, progress=False)
    assert [(r.method, r.augmented) for r in runs] == [(m, a) for a in (False, True) for m in transfer.METHODS]
    again = transfer.transfer_experiment(tiny(), tiny, task[:2], task[2:], k=1, copies=2, steps=5, progress=False)
    assert [r.accuracy for r in runs] == [r.accuracy for r in again]
    table = transfer.transfer_table(runs, times=False)
    assert table.splitlines()[0].startswith("method") and "from scratch" in table and "train time" not in table
    assert len(table.splitlines()) == 10 and "linear on pixels" in table


def test_plots_draw_the_runs_and_the_photos():
    from cnn_course.plot.mobilenet import plot_transfer, show_augmentations

    runs = [transfer.TransferRun(m, a, 0.5 + 0.1 * k, 1.0, 10, 40) for k, (m, a) in
            enumerate((m, a) for a in (False, True) for m in transfer.METHODS)]
    fig = plot_transfer(runs, title="t")
    assert len(fig.axes) == 1 and len(fig.axes[0].patches) == 8
    img = np.random.default_rng(0).random((5, 6, 3))
    fig = show_augmentations({"a": {"original": img, "mirrored": img[:, ::-1]}, "b": {"original": img[..., 0],
                                                                                      "mirrored": img[:, ::-1, 0]}})
    assert len(fig.axes) == 4
    with pytest.raises(ValueError, match="expected"):
        show_augmentations({"a": {"x": img}, "b": {"y": img}})


def test_grading_runs_are_cut_short(data, monkeypatch, capsys):
    from cnn_course import GRADING_ENV_VAR

    monkeypatch.setenv(GRADING_ENV_VAR, "1")
    task = transfer.few_shot_split(*data, (9, 0), 5, seed=0)
    runs = transfer.transfer_experiment(tiny(), tiny, task[:2], task[2:], k=1, copies=3, steps=500, progress=False)
    assert "short runs (2 steps" in capsys.readouterr().out
    assert len(runs) == 8 and runs[5].examples == 20  # 2 copies of the 10 images


def test_bn_statistics_recomputed_on_a_batch_are_that_batch_s():
    model = tiny()
    x = torch.rand(7, 1, 12, 12)
    model.features[0][1].running_mean.fill_(5.0)
    transfer.recompute_bn_statistics(model, x)
    bn = model.features[0][1]
    z = model.features[0][0](x)
    assert torch.allclose(bn.running_mean, z.mean(dim=(0, 2, 3)), atol=1e-6)
    assert bn.momentum == 0.1 and model.training


def test_draws_comparison_and_mirror_average(data):
    x_train, y_train, x_test, y_test = data
    task = transfer.few_shot_split(*data, (9, 0), 5, seed=0)
    rows = transfer.draws_comparison(tiny(), x_train, y_train, task[2:], (9, 0), seeds=(0, 1), n_per_class=5, steps=5)
    assert [r[0] for r in rows] == [0, 1] and all(0 <= a <= 1 and 0 <= b <= 1 for _, a, b in rows)
    runs = transfer.transfer_experiment(tiny(), tiny, task[:2], task[2:], k=1, copies=2, steps=5, progress=False)
    plain, averaged = transfer.mirror_average(tiny(), runs[1], task[2:])
    assert plain == pytest.approx(runs[1].accuracy) and 0 <= averaged <= 1
    with pytest.raises(ValueError, match="new head"):
        transfer.mirror_average(tiny(), runs[2], task[2:])
    assert all(0 <= r.train_accuracy <= 1 for r in runs) and "train acc" in transfer.transfer_table(runs)
