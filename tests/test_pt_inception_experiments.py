"""cnn_course.pt.inception_experiments and cnn_course.plot.inception: the bottleneck timing, topic 4's
VGG-style network rebuilt layer for layer, and the two figures of the Inception notebook."""

import pytest
import torch

from cnn_course.plot.inception import plot_mults_and_time, plot_stack_shapes
from cnn_course.pt.inception_experiments import BottleneckTiming, time_bottleneck, topic4_vgg
from cnn_course.pt.summary import layer_table


def test_time_bottleneck_counts_the_example_and_restores_the_threads():
    threads = torch.get_num_threads()
    t = time_bottleneck(8, 8, 12, 5, 4, 2, repeats=2, warmup=1)
    assert (t.standard_mults, t.bottleneck_mults) == (8 * 8 * 4 * 25 * 12, 8 * 8 * (2 * 12 + 4 * 25 * 2))
    assert t.standard_seconds > 0 and t.bottleneck_seconds > 0 and t.time_ratio > 0
    assert torch.get_num_threads() == threads
    full = BottleneckTiming(1.0, 0.5, 120_422_400, 12_443_648, 1, 1, 1)
    assert full.mult_ratio == pytest.approx(9.677, abs=1e-3) and full.time_ratio == 2.0


@pytest.mark.parametrize("kwargs, message", [({"f": 4}, "f must be odd"), ({"n_C": 0}, "n_C")])
def test_time_bottleneck_refuses_bad_sizes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        time_bottleneck(**kwargs, repeats=1)


def test_topic4_vgg_is_topic_4_s_network():
    model = topic4_vgg()
    table = layer_table(model, (1, 1, 32, 32))
    assert (table.total_params, table.total_mult_adds) == (52_778, 1_307_402)
    assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="divisible"):
        topic4_vgg(image_size=28)


def test_figures():
    fig = plot_mults_and_time(BottleneckTiming(1.2e-3, 3e-4, 120_422_400, 12_443_648, 1, 1, 20))
    assert len(fig.axes) == 2 and "9.7×" in fig.axes[0].get_title() and "4.0×" in fig.axes[1].get_title()
    fig = plot_stack_shapes([(256, 28, 28), (480, 14, 14)], ["3a", "pool"], in_shape=(192, 28, 28))
    assert len(fig.axes) == 1
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["input\n28×28", "3a\n28×28", "pool\n14×14"]
    with pytest.raises(ValueError, match="names has 1 entries"):
        plot_stack_shapes([(1, 2, 2), (1, 1, 1)], ["a"])
