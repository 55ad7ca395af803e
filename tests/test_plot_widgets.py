"""cnn_course.plot and cnn_course.widgets: every helper draws, every control combination works."""

import itertools

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from cnn_course import plot, widgets  # noqa: E402
from cnn_course.pt.train import History  # noqa: E402

EDGE_IMAGE = np.array([[3, 0, 1, 2, 7, 4], [1, 5, 8, 9, 3, 1], [2, 7, 2, 5, 1, 3],
                       [0, 1, 3, 1, 7, 8], [4, 2, 1, 6, 2, 8], [2, 4, 5, 2, 3, 9]], dtype=float)
VERTICAL = np.array([[1, 0, -1]] * 3, dtype=float)


def _n_axes(fig):
    assert isinstance(fig, Figure), f"expected a matplotlib Figure, got {type(fig).__name__}"
    return len(fig.axes)


# ------------------------------------------------------------------------- plot


@pytest.mark.parametrize("n, cols", [(1, 4), (5, 4), (8, 4), (3, 8)])
def test_show_images_axes_count(rng, n, cols):
    images = [rng.random((6, 5)) for _ in range(n - 1)] + [rng.random((6, 5, 3))]
    fig = plot.show_images(images, titles=[str(k) for k in range(n)], cols=cols, robust=True)
    assert _n_axes(fig) == n, f"{n} images must give {n} axes, got {len(fig.axes)}"


def test_show_images_accepts_stacks_single_images_and_tensors(rng):
    assert _n_axes(plot.show_images(rng.random((7, 4, 4)))) == 7
    assert _n_axes(plot.show_images(rng.random((4, 4)))) == 1
    assert _n_axes(plot.show_images(rng.random((4, 4, 3)))) == 1
    assert _n_axes(plot.show_images(torch.rand(3, 5, 5))) == 3


def test_show_images_rejects_bad_input(rng):
    with pytest.raises(ValueError, match="titles"):
        plot.show_images([rng.random((3, 3))] * 2, titles=["only one"])
    with pytest.raises(ValueError, match=r"\(H, W\) or \(H, W, 3\)"):
        plot.show_images([rng.random((3, 3, 2))])
    with pytest.raises(ValueError, match="at least one"):
        plot.show_images([])


def test_show_matrix_annotates_every_cell():
    fig = plot.show_matrix(EDGE_IMAGE, title="6x6", highlight=(0, 0, 3, 3))
    assert _n_axes(fig) == 1
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert len(texts) == 36 and texts[:6] == ["3", "0", "1", "2", "7", "4"], texts[:6]
    assert len(fig.axes[0].patches) == 1, "the highlight rectangle is missing"


def test_show_matrix_never_prints_negative_zero():
    fig = plot.show_matrix(np.array([[-1e-4, 1.5]]), fmt="{:.2f}")
    assert [t.get_text() for t in fig.axes[0].texts] == ["0.00", "1.50"]


def test_show_matrix_rejects_non_2d(rng):
    with pytest.raises(ValueError, match="2-D"):
        plot.show_matrix(rng.random((2, 2, 2)))


def test_show_matrices_and_symbols():
    fig = plot.show_matrices([EDGE_IMAGE, VERTICAL, np.zeros((4, 4))], titles=["a", "b", "c"], symbols=["*", "="])
    assert _n_axes(fig) == 3
    assert [t.get_text() for t in fig.texts] == ["*", "="]
    with pytest.raises(ValueError, match="symbols"):
        plot.show_matrices([EDGE_IMAGE, VERTICAL], symbols=["*", "="])


@pytest.mark.parametrize("i, j, stride, pad", [(0, 0, 1, 0), (3, 3, 1, 0), (1, 2, 2, 1)])
def test_show_conv_step_highlights_the_window(i, j, stride, pad):
    fig = plot.show_conv_step(EDGE_IMAGE, VERTICAL, i, j, stride=stride, pad=pad)
    assert _n_axes(fig) == 3
    window = fig.axes[0].patches[0]
    assert window.get_xy() == (j * stride - 0.5, i * stride - 0.5) and window.get_width() == 3


def test_show_conv_step_title_holds_the_value():
    fig = plot.show_conv_step(EDGE_IMAGE, VERTICAL, 3, 3)
    assert fig.axes[2].get_title() == "output[3, 3] = -16"


def test_show_conv_step_rejects_positions_outside_the_output():
    with pytest.raises(ValueError, match=r"outside the output of shape \(4, 4\)"):
        plot.show_conv_step(EDGE_IMAGE, VERTICAL, 4, 0)
    with pytest.raises(ValueError, match="larger than the padded input"):
        plot.show_conv_step(np.ones((2, 2)), VERTICAL, 0, 0)


@pytest.mark.parametrize("shape", [(16, 8, 8), (1, 5, 4, 4)])
def test_show_feature_maps(rng, shape):
    fig = plot.show_feature_maps(rng.random(shape), cols=8)
    assert _n_axes(fig) == shape[-3]


def test_show_feature_maps_rejects_bad_shape(rng):
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        plot.show_feature_maps(rng.random((2, 3, 4, 4)))


@pytest.mark.parametrize("channels", [1, 3])
def test_show_filters(channels):
    w = torch.randn(6, channels, 3, 3)
    assert _n_axes(plot.show_filters(w, cols=4)) == 6


def test_plot_history_from_history_and_dict():
    h = History(train_loss=[1.0, 0.5], train_acc=[0.5, 0.8], test_loss=[1.1, 0.6], test_acc=[0.4, 0.7])
    fig = plot.plot_history(h)
    assert _n_axes(fig) == 2
    assert len(fig.axes[0].lines) == 2 and len(fig.axes[1].lines) == 2
    fig = plot.plot_history({"train_loss": [1.0, 0.5], "train_acc": [0.5, 0.8]})
    assert len(fig.axes[0].lines) == 1, "without test data only the training curve is drawn"


def test_helpers_leave_no_open_pyplot_figures(rng):
    import matplotlib.pyplot as plt

    plt.close("all")
    plot.show_images([rng.random((3, 3))])
    plot.show_matrix(EDGE_IMAGE)
    plot.plot_history({"train_loss": [1.0]})
    assert plt.get_fignums() == [], "helpers must close their pyplot figure (Jupyter would draw it twice)"


# ------------------------------------------------------------------------- widgets


@pytest.fixture(scope="module")
def small_image():
    return np.random.default_rng(7).random((13, 11))


def _sweep_conv(ex, combos, image_shape):
    n_H, n_W = image_shape
    for name, pad, stride in combos:
        ex.controls["filter"].value = name
        ex.controls["pad"].value = pad
        ex.controls["stride"].value = stride
        expected = ((n_H + 2 * pad - 3) // stride + 1, (n_W + 2 * pad - 3) // stride + 1)
        assert ex.output_shape == expected, f"{name}, p={pad}, s={stride}: {ex.output_shape} != {expected}"
        assert ex.result.shape == expected
        assert f"-> {expected[0]}×{expected[1]}" in repr(ex)
        assert f"⌊({n_H} + 2·{pad} − 3)/{stride}⌋ + 1 = {expected[0]}" in ex.info.value
        assert ex.picture.value[:2] == b"\xff\xd8", "the picture must be a JPEG image"


def test_conv_explorer_every_combination(small_image):
    ex = widgets.conv_explorer(small_image)
    ex.draw = False  # the sweep checks the numbers; drawing is covered below
    _sweep_conv(ex, itertools.product(widgets.FILTERS, range(4), range(1, 5)), small_image.shape)


def test_conv_explorer_redraws_on_every_control(small_image):
    ex = widgets.conv_explorer(small_image)
    pictures = {ex.picture.value}
    combos = [(name, 0, 1) for name in widgets.FILTERS] + [("Sobel x", 3, 1), ("Sobel x", 3, 4), ("Sobel x", 0, 4)]
    for combo in combos:
        _sweep_conv(ex, [combo], small_image.shape)
        pictures.add(ex.picture.value)
    assert len(pictures) >= len(widgets.FILTERS) + 2, "the picture must change when the settings do"


def test_conv_explorer_result_matches_the_filter(small_image):
    from scipy.signal import correlate2d

    ex = widgets.conv_explorer(small_image)
    ex.controls["filter"].value = "Sobel x"
    expected = correlate2d(small_image, widgets.FILTERS["Sobel x"], mode="valid")
    np.testing.assert_allclose(ex.result, expected, atol=1e-12)


def test_conv_explorer_filter_too_large_gives_a_message_not_a_traceback():
    ex = widgets.conv_explorer(np.ones((2, 2)))
    assert ex.output_shape is None and ex.result is None
    assert "does not fit" in ex.message and "does not fit" in ex.info.value
    ex.controls["pad"].value = 1      # now 4x4 padded: fits
    assert ex.output_shape == (2, 2)
    ex.controls["pad"].value = 0      # and back
    assert ex.output_shape is None


def test_conv_explorer_with_sample_photos():
    ex = widgets.conv_explorer()
    assert tuple(ex.controls["image"].options) == widgets.SAMPLE_IMAGES
    assert repr(ex) == "ConvExplorer: camera 512×512 * vertical edge 3×3, p=0, s=1 -> 510×510"
    ex.controls["image"].value = "coins"
    assert ex.output_shape is not None and "coins" in repr(ex)


def test_explorer_text_output_is_deterministic(small_image):
    bundle_a = widgets.conv_explorer(small_image)._repr_mimebundle_()
    bundle_b = widgets.conv_explorer(small_image)._repr_mimebundle_()
    assert bundle_a["text/plain"] == bundle_b["text/plain"], "text output must not contain widget ids"
    assert "model_id" not in bundle_a["text/plain"]


def test_pool_explorer_every_combination(small_image):
    ex = widgets.pool_explorer(small_image)
    ex.draw = False
    n_H, n_W = small_image.shape
    for mode, f, stride in itertools.product(("max", "average"), range(1, 9), range(1, 9)):
        ex.controls["mode"].value = mode
        ex.controls["f"].value = f
        ex.controls["stride"].value = stride
        expected = ((n_H - f) // stride + 1, (n_W - f) // stride + 1)
        assert ex.output_shape == expected, f"{mode}, f={f}, s={stride}: {ex.output_shape} != {expected}"
    ex.controls["f"].value, ex.controls["stride"].value = 2, 2
    ex.controls["mode"].value = "max"
    np.testing.assert_array_equal(ex.result[0, 0], small_image[:2, :2].max())
    ex.controls["mode"].value = "average"
    np.testing.assert_allclose(ex.result[0, 0], small_image[:2, :2].mean())


def test_pool_explorer_window_too_large_gives_a_message():
    ex = widgets.pool_explorer(np.ones((3, 3)))
    ex.controls["f"].value = 4
    assert ex.output_shape is None and "does not fit" in ex.message


def test_explorers_reject_bad_images():
    with pytest.raises(ValueError, match=r"\(H, W\) or \(H, W, 3\)"):
        widgets.conv_explorer(np.ones((2, 3, 4)))


def test_matrix_cells_are_light_for_large_values_with_readable_text():
    """A bright pixel (10) is a light cell, a dark one (0) a dark cell, as in a grey image."""
    step = np.array([[10.0, 10.0, 0.0, 0.0]] * 2)
    fig = plot.show_matrix(step)
    ax = fig.axes[0]
    image = ax.images[0]
    rgba = image.to_rgba(image.get_array())
    assert rgba[0, 0, :3].mean() > 0.9 and rgba[0, 3, :3].mean() < 0.3, rgba[0, :, :3]
    colours = [t.get_color() for t in ax.texts]
    assert colours[:4] == ["black", "black", "white", "white"], colours
    signed = plot.show_matrix(np.array([[-1.0, 0.0, 1.0]])).axes[0].images[0]
    grey = signed.to_rgba(signed.get_array())[0, :, 0]
    assert grey[0] < grey[1] < grey[2], grey  # most negative darkest
    flat = plot.show_matrix(np.zeros((2, 2))).axes[0].images[0]
    assert np.ptp(flat.to_rgba(flat.get_array())[..., 0]) == 0
