"""The detection explorers: NMS over raw candidates and the YOLO grid / anchor view."""

import numpy as np

from cnn_course.ref.boxes import batched_nms, nms
from cnn_course.widgets_detection import grid_explorer, nms_explorer


def _candidates():
    boxes = np.array([[10, 10, 30, 30], [12, 11, 31, 32], [40, 40, 60, 55], [11, 9, 29, 31]], float)
    return boxes, np.array([0.9, 0.75, 0.8, 0.2]), np.array([0, 1, 0, 0])


def test_nms_explorer_follows_the_sliders():
    image = np.random.default_rng(0).random((64, 64))
    w = nms_explorer([image], [_candidates()])
    b, s, l = _candidates()
    assert w.kept.tolist() == [0, 2, 1]          # per class: box 1 (class 1) survives box 0
    assert w.picture.value[:4] == b"\x89PNG"
    w.controls["per_class"].value = False
    assert w.kept.tolist() == nms(b[s > 0.3], s[s > 0.3], 0.5).tolist() == [0, 2]
    w.controls["score"].value = 0.1
    w.controls["per_class"].value = True
    assert w.kept.tolist() == batched_nms(b, s, l, 0.5).tolist()
    assert "4 candidates, 4 with score > 0.10" in repr(w)


def test_grid_explorer_finds_cells_anchors_and_collisions():
    image = np.zeros((64, 64))
    boxes = np.array([[8, 8, 24, 40], [4, 20, 36, 28], [40, 40, 56, 56]], float)   # first two: centre (16, 24)/(20, 24)
    w = grid_explorer(image, boxes, [0, 1, 2], anchors=[(0.5, 0.25), (0.125, 0.5)], class_names=["a", "b", "c"])
    w.controls["S"].value = 4
    row, col, anchor = w.slots()
    assert row.tolist() == [1, 1, 3] and col.tolist() == [1, 1, 3] and anchor.tolist() == [0, 1, 0]
    assert "LOST" not in w.message
    w.controls["use_anchors"].value = False
    assert "b: cell (row 1, col 1) — LOST" in w.message
