"""The 3D experiment of notebook 13: the split, the networks, the Dice and a short training run."""

import numpy as np
import pytest
import torch

from cnn_course.pt.volume_experiments import brain_volume_split, dice, segmenter, train_segmenter


def test_segmenters_keep_the_size_and_the_2d_one_sees_one_slice():
    x = torch.randn(2, 1, 9, 7, 5)
    torch.manual_seed(0)
    net3, net2 = segmenter(3, width=4), segmenter(2, width=4)
    assert net3(x).shape == net2(x).shape == (2, 2, 9, 7, 5)
    y = x.clone()
    y[:, :, :, :, 0] += 1.0                                        # change the bottom slice only
    with torch.no_grad():
        assert torch.equal(net2(x)[..., 1:], net2(y)[..., 1:])    # slice by slice: the others do not move
        assert not torch.equal(net3(x)[..., 1], net3(y)[..., 1])  # 3D: the slice above sees it
    assert sum(p.numel() for p in net3.parameters()) == (27 + 1) * 4 + 2 * (27 * 4 + 1) * 4 + (4 + 1) * 2
    with pytest.raises(ValueError):
        segmenter(1)


def test_dice():
    a = np.array([1, 1, 0, 0], bool)
    assert dice(a, a) == 1.0 and dice(a, ~a) == 0.0 and dice(np.zeros(3), np.zeros(3)) == 1.0
    assert dice(a, np.array([1, 0, 0, 0])) == pytest.approx(2 / 3)


def test_split_and_a_short_training_run():
    try:
        split = brain_volume_split(downsample=6)
    except FileNotFoundError:
        pytest.skip("the Colin27 MRI (mricron-data) is not installed")
    assert split.t1.shape == split.mask.shape == (30, 36, 30)
    (a0, b0), (a1, b1) = split.train
    t0, t1 = split.test
    assert a0 == 0 and b0 < t0 < t1 < a1 and b1 == 30
    assert 0.0 <= split.t1.min() and split.t1.max() <= 1.0 and 0.1 < split.mask.mean() < 0.5
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        runs.append(train_segmenter(segmenter(3, width=4), split, steps=3, crop=(12, 12, 4), batch_size=2, seed=1))
    assert runs[0].prediction.shape == split.t1.shape and len(runs[0].losses) == 3
    assert runs[0].losses == runs[1].losses and runs[0].test_dice == runs[1].test_dice  # seeded: the same run twice
    with pytest.raises(ValueError, match="does not fit"):
        train_segmenter(segmenter(3, width=4), split, steps=1, crop=(12, 12, 40))


def test_figures_of_the_notebook():
    import matplotlib

    matplotlib.use("Agg")
    from cnn_course.plot.conv_1d_3d import plot_series, plot_volume_slices

    rng = np.random.default_rng(0)
    fig = plot_series(rng.standard_normal((6, 1, 20)), np.array([0, 1, 0, 1, 0, 1]), ["a", "b"], title="t")
    assert len(fig.axes) == 2 and fig.axes[0].get_title() == "a (3 series)"
    vol = rng.random((9, 8, 7))
    truth = vol > 0.5
    fig = plot_volume_slices(vol, truth, {"one": truth, "two": ~truth}, test_z=(2, 5))
    assert len(fig.axes) == 6 and fig.axes[0].get_title().startswith("one: horizontal, z = 3")
    fig = plot_volume_slices(vol, truth, {"one": truth, "two": ~truth}, test_z=(2, 5), misses=True)
    # the prediction's layer and, with misses, a second one: empty for the perfect prediction, full for its inverse
    assert [len(ax.get_images()) for ax in fig.axes] == [3] * 6
    assert fig.axes[0].get_images()[2].get_array().mask.all()
    assert not fig.axes[3].get_images()[2].get_array().mask.all()
