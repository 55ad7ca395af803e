"""cnn_course.style_widgets: the pictures and the explorer of notebook 12 build without running a stylisation."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from cnn_course.style_widgets import plot_style_costs, show_images, style_explorer  # noqa: E402


def test_show_images_and_cost_curves():
    fig = show_images([np.zeros((8, 8, 3)), np.ones((8, 6, 3), dtype=np.uint8)], ["a", "b"])
    assert len(fig.axes) == 2 and fig.axes[1].get_title() == "b"
    hist = {"J": [10.0, 5.0, 2.0], "J_content": [0.0, 0.2, 0.15], "J_style": [1e-3, 4e-4, 1e-4]}
    ax = plot_style_costs(hist, 10, 1e4).axes[0]
    assert len(ax.get_lines()) == 3
    np.testing.assert_allclose(ax.get_lines()[2].get_ydata(), [10.0, 4.0, 1.0])


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        a = torch.relu(self.conv(x))
        return {name: a for name in ("stem", "block1_expand", "block3_expand", "block6_expand", "block10_expand",
                                     "block6")}


def test_explorer_builds_and_runs_on_the_button():
    torch.manual_seed(0)
    box = style_explorer(np.random.default_rng(0).uniform(size=(12, 16, 3)),
                         np.random.default_rng(1).uniform(size=(10, 10, 3)), _Tiny(), size=16, steps=2)
    sliders, button, out = box.children[:-2], box.children[-2], box.children[-1]
    assert len(sliders) == 6 and button.description == "stylize"
    assert not out.outputs                      # nothing runs until the button is pressed
    button.click()


def test_cost_curves_on_a_given_axis():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    hist = {"J": [3.0, 2.0], "J_content": [0.1, 0.1], "J_style": [0.01, 0.005]}
    assert plot_style_costs(hist, 10, 40, ax=ax) is ax and len(ax.get_lines()) == 3
    plt.close(fig)


def test_explorer_passes_the_sliders_to_stylize(monkeypatch):
    from cnn_course.pt import style_transfer

    calls = []

    def fake_stylize(content, style, **kw):
        calls.append(kw)
        return torch.zeros(1, 3, 8, 8), {"J": [2.0, 1.0], "J_content": [0.1, 0.1], "J_style": [1e-4, 1e-4],
                                         "seconds": [0.1, 0.2]}

    monkeypatch.setattr(style_transfer, "stylize", fake_stylize)
    box = style_explorer(np.zeros((8, 8, 3)), np.ones((8, 8, 3)), _Tiny(), size=16, steps=3)
    ratio, *layers = box.children[:-2]
    button = box.children[-2]
    ratio.value = 2.0
    layers[0].value = 0.0
    button.click()
    assert len(calls) == 1
    kw = calls[0]
    assert (kw["alpha"], kw["beta"], kw["steps"], kw["size"]) == (10.0, 1000.0, 3, 16)
    assert list(style_transfer.STYLE_LAYERS)[0] not in kw["layer_weights"]
    assert len(kw["layer_weights"]) == len(style_transfer.STYLE_LAYERS) - 1
    for s in layers:
        s.value = 0.0
    button.click()
    assert len(calls) == 1, "no style layer: nothing runs"
