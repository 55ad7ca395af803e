"""cnn_course.pt.unet_experiments (the topic-10 training helper and boundary scores) and plot.unet."""

import numpy as np
import pytest
import torch
from torch import nn

from cnn_course.pt.unet_experiments import boundary_band, boundary_dice, predict, train_segmenter

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_boundary_band_is_the_ring_around_the_outline():
    mask = np.zeros((9, 9), dtype=bool)
    mask[2:7, 2:7] = True
    band = boundary_band(mask, width=1)
    # one step outside (dilation) minus one step inside (erosion): rows/cols 1..7 minus 3..5
    want = np.zeros_like(mask)
    want[1:8, 1:8] = True
    want[3:6, 3:6] = False
    want[[1, 1, 7, 7], [1, 7, 1, 7]] = False  # city-block dilation does not reach the corners
    np.testing.assert_array_equal(band, want)
    assert boundary_band(np.stack([mask, mask]), 1).shape == (2, 9, 9)


def test_boundary_dice_perfect_and_shifted():
    mask = np.zeros((1, 12, 12), dtype=np.int64)
    mask[0, 3:9, 3:9] = 1
    assert boundary_dice(mask, mask) == 1.0
    shifted = np.roll(mask, 1, axis=2)
    d = boundary_dice(shifted, mask, width=2)
    assert 0.5 < d < 1.0
    # far from the outline nothing counts: a wrong pixel in the middle of a big object changes nothing
    big = np.zeros((1, 30, 30), dtype=np.int64)
    big[0, 2:28, 2:28] = 1
    holed = big.copy()
    holed[0, 15, 15] = 0
    assert boundary_dice(holed, big, width=2) == 1.0


def test_train_segmenter_is_deterministic_and_learns():
    rng = np.random.default_rng(0)
    x = rng.random((16, 1, 8, 8)).astype(np.float32)
    y = (x[:, 0] > 0.5).astype(np.int64)

    def run():
        torch.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 1))
        hist = train_segmenter(model, (x[:12], y[:12]), (x[12:], y[12:]), epochs=15, lr=0.05, batch_size=4)
        return hist, predict(model, x[12:])

    h1, p1 = run()
    h2, p2 = run()
    assert h1["loss"] == h2["loss"] and np.array_equal(p1, p2)
    assert h1["loss"][-1] < h1["loss"][0] and h1["test_dice"][-1] > 0.9
    assert p1.shape == (4, 8, 8) and p1.dtype == np.int64


def test_plots_return_figures():
    from cnn_course import ref
    from cnn_course.plot.unet import plot_contributions, plot_segmentations

    x = np.array([[2.0, 1.0], [3.0, 2.0]])
    w = np.array([[1.0, 2.0, 1.0], [2.0, 0.0, 1.0], [0.0, 2.0, 1.0]])
    c = ref.conv_transpose2d_contributions(x, w, stride=2, pad=1, output_padding=1, crop=False)
    assert len(plot_contributions(x, c, (1, 1, 4, 4)).axes) == 5
    imgs = np.random.default_rng(0).random((3, 1, 6, 7))
    target = (imgs[:, 0] > 0.5).astype(int)
    fig = plot_segmentations(imgs, target, {"a": target}, ["a"], n=2)
    assert len(fig.axes) == 4


def test_axial_view_puts_the_front_at_the_top_and_the_left_on_the_left():
    from cnn_course.plot.unet import axial_view

    a = np.zeros((2, 5, 6))               # (N, x: left→right, y: back→front), as mri_slices(axis=2)
    a[:, 0, 5] = 1                        # leftmost, most anterior voxel
    v = axial_view(a)
    assert v.shape == (2, 6, 5) and v[0, 0, 0] == 1 and v.sum() == 2


def test_widget_redraws_and_explains_impossible_settings(capsys):
    from cnn_course.plot.unet import transposed_conv_widget

    x = np.array([[2.0, 1.0], [3.0, 2.0]])
    w = np.array([[1.0, 2.0, 1.0], [2.0, 0.0, 1.0], [0.0, 2.0, 1.0]])
    widget = transposed_conv_widget(x, w)
    for stride, pad, op in [(1, 0, 0), (2, 1, 1), (3, 2, 2), (1, 2, 0), (1, 0, 1)]:
        widget.children[0].value, widget.children[1].value, widget.children[2].value = stride, pad, op
        widget.update()
    out = capsys.readouterr().out
    assert "cuts away everything" in out and "smaller than the stride" in out
