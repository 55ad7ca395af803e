"""cnn_course.plot.classic: the text table and the cost-share figure of the topic-4 notebook."""

import io
from contextlib import redirect_stdout

import pytest

from cnn_course.grading.classic import ALEXNET, ALEXNET_INPUT, LENET5, LENET5_INPUT, _table
from cnn_course.plot.classic import plot_cost_shares, print_spec_table


def test_print_spec_table_prints_rows_and_totals():
    rows = _table(LENET5, LENET5_INPUT)
    out = io.StringIO()
    with redirect_stdout(out):
        print_spec_table(rows, input_shape=LENET5_INPUT, title="LeNet-5")
    text = out.getvalue().splitlines()
    assert text[0] == "LeNet-5" and "1 × 32 × 32" in text[3]
    assert text[4].split() == ["1", "conv", "6", "×", "28", "×", "28", "156", "122,304"]
    assert text[-1].split() == ["total", "61,706", "423,038"]
    out = io.StringIO()
    with redirect_stdout(out):
        print_spec_table(rows, only_weights=True)
    assert len(out.getvalue().splitlines()) == 2 + 5 + 2  # header, rule, 5 layers with weights, rule, total


@pytest.mark.parametrize("rows, message", [([], "rows is empty"), ([("conv", (1, 2, 2), 3)], "row 0 must be")])
def test_print_spec_table_refuses_bad_rows(rows, message):
    with pytest.raises(ValueError, match=message):
        print_spec_table(rows)


def test_plot_cost_shares_draws_one_axes_per_network():
    fig = plot_cost_shares({"LeNet-5": _table(LENET5, LENET5_INPUT), "AlexNet": _table(ALEXNET, ALEXNET_INPUT)})
    assert len(fig.axes) == 2
    labels = [t.get_text() for t in fig.axes[1].get_xticklabels()]
    assert labels == ["conv1", "conv2", "conv3", "conv4", "conv5", "fc1", "fc2", "fc3"]
    heights = [p.get_height() for p in fig.axes[1].patches]
    assert sum(heights[:8]) == pytest.approx(100) and sum(heights[8:]) == pytest.approx(100)
    with pytest.raises(ValueError, match="tables is empty"):
        plot_cost_shares({})
