"""cnn_course.pt.tiny_yolo: the small YOLO of topic 8, its batched targets and its training loop."""

import numpy as np
import pytest
import torch

from cnn_course.pt import tiny_yolo as ty
from cnn_course.pt.yolo import yolo_encode
from cnn_course.ref.detection_metrics import mean_average_precision
from cnn_course.scenes import SCENE_CLASSES, make_scenes

pytestmark = pytest.mark.usefixtures("one_torch_thread")
C = len(SCENE_CLASSES)


def _encode_each(targets, grid=8, anchors=ty.DEFAULT_ANCHORS):
    a = torch.tensor(anchors, dtype=torch.float64)
    return torch.stack([yolo_encode(torch.as_tensor(b, dtype=torch.float64), torch.as_tensor(l), (64, 64), grid, C, a,
                                    dtype=torch.float32) for b, l in targets])


@pytest.mark.parametrize("grid", [4, 8])
def test_yolo_targets_equal_yolo_encode_image_by_image(grid):
    # crowded scenes of small objects: some share a cell and an anchor, and the later one is dropped
    _, targets = make_scenes(120, seed=1, objects=(3, 8), object_size=(8, 20), max_overlap=0.6)
    # and one pair that surely shares its cell and anchor
    targets.append((np.array([[10, 10, 20, 30], [10.5, 10.5, 20.5, 30.5]], np.float32), np.array([0, 1])))
    ours = ty.yolo_targets(targets, 64, grid, C)
    ref = _encode_each(targets, grid)
    assert ours.shape == ref.shape == (121, grid, grid, 3 * (5 + C)) and ours.dtype == torch.float32
    assert torch.equal(ours, ref)
    assert int(ref[..., 0::5 + C].sum()) < sum(len(l) for _, l in targets), "no box was dropped: the rule is untested"
    assert ty.yolo_targets([(np.zeros((0, 4)), np.zeros(0, np.int64))], 64, 8, C).abs().sum() == 0


def test_tiny_yolo_output_layout_and_grid():
    x = torch.rand(2, 1, 64, 64)
    assert ty.tiny_yolo(C)(x).shape == (2, 8, 8, 3 * (5 + C))
    assert ty.tiny_yolo(C, grid=4)(x).shape == (2, 4, 4, 3 * (5 + C))
    assert ty.tiny_yolo(2, grid=16, anchors=((0.5, 0.5),))(x).shape == (2, 16, 16, 7)
    with pytest.raises(ValueError, match="power of two"):
        ty.tiny_yolo(C, grid=6)
    with pytest.raises(ValueError, match="anchors must be"):
        ty.TinyYOLO(C, anchors=((0.5, -1.0),))


def test_mirroring_moves_targets_with_the_image():
    images, targets = make_scenes(30, seed=4)
    x = torch.as_tensor(images)
    y = ty.yolo_targets(targets, 64, 8, C)
    fx, fy = ty._flip(x, y, ty.DEFAULT_ANCHORS)
    torch.testing.assert_close(fx, x.flip(3))
    mirrored = [(np.stack([64 - b[:, 2], b[:, 1], 64 - b[:, 0], b[:, 3]], axis=1), l) for b, l in targets]
    expected = ty.yolo_targets(mirrored, 64, 8, C)
    # equal except for a centre exactly on a vertical cell border (it changes cell when mirrored)
    on_border = [((b[:, 0] + b[:, 2]) / 2 % 8 == 0).any() for b, _ in targets]
    keep = torch.tensor([not o for o in on_border])
    assert keep.sum() > 20
    torch.testing.assert_close(fy[keep], expected[keep], rtol=0, atol=1e-6)
    gx, gy = ty._flip(fx, fy, ty.DEFAULT_ANCHORS)
    assert torch.equal(gx, x)
    torch.testing.assert_close(gy, y, rtol=0, atol=1e-6)


def test_a_short_training_lowers_the_loss_and_detect_returns_map_inputs():
    images, targets = make_scenes(96, seed=7)
    torch.manual_seed(0)
    model = ty.tiny_yolo(C)
    seen = []
    history = ty.train_tiny_yolo(model, images, targets, epochs=3, batch_size=32, log=lambda *a: seen.append(a))
    assert len(history) == 3 and len(seen) == 3 and history[-1] < history[0]
    dets = ty.detect(model, images[:10], score_threshold=0.01)
    assert len(dets) == 10
    for boxes, scores, labels in dets:
        assert boxes.shape == (len(scores), 4) and labels.shape == scores.shape
        assert (np.diff(scores) <= 0).all() and ((labels >= 0) & (labels < C)).all()
    assert 0 <= mean_average_precision(dets, targets[:10]) <= 1
    # deterministic: the same seed trains the same weights
    torch.manual_seed(0)
    again = ty.tiny_yolo(C)
    assert ty.train_tiny_yolo(again, images, targets, epochs=3, batch_size=32) == history
