"""The NMS step-by-step picture (topic 8): the recorded steps equal the library's NMS, and the figure has one panel per step."""

import matplotlib

matplotlib.use("Agg")

import numpy as np

from cnn_course.plot.nms import nms_steps, show_nms_steps
from cnn_course.ref.boxes import batched_nms, nms

FIVE = np.array([[10, 10, 30, 30], [12, 11, 31, 32], [40, 40, 60, 55], [11, 9, 29, 31], [41, 42, 60, 57]], float)
SCORES = np.array([0.9, 0.75, 0.8, 0.6, 0.7])


def test_the_worked_example():
    steps = nms_steps(FIVE, SCORES, 0.5)
    assert [s["kept"] for s in steps] == [0, 2]
    assert sorted(steps[0]["dropped"]) == [1, 3] and steps[1]["dropped"] == [4]
    assert steps[0]["remaining"] == [2, 4] and steps[1]["remaining"] == []
    assert all(steps[0]["ious"][j] > 0.5 for j in (1, 3)) and steps[0]["ious"][2] == 0.0


def test_steps_equal_the_library_s_nms():
    rng = np.random.default_rng(0)
    for _ in range(20):
        xy = rng.uniform(0, 50, (12, 2))
        b = np.concatenate([xy, xy + rng.uniform(5, 20, (12, 2))], axis=1)
        s, l = rng.random(12), rng.integers(0, 2, 12)
        assert [st["kept"] for st in nms_steps(b, s, 0.4)] == nms(b, s, 0.4).tolist()
        assert [st["kept"] for st in nms_steps(b, s, 0.4, l)] == batched_nms(b, s, l, 0.4).tolist()


def test_the_figure_has_a_panel_per_step():
    fig = show_nms_steps(FIVE, SCORES, 0.5)
    titled = [ax.get_title() for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert titled == ["proposals (index: score)", "step 1: keep 0, drop 1, 3", "step 2: keep 2, drop 4"]
    assert "kept [0, 2]" in fig._suptitle.get_text()
