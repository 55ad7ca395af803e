"""cnn_course.ref.proposals: Felzenszwalb regions and selective-search grouping for R-CNN."""

import numpy as np
import pytest

from cnn_course.ref.boxes import box_iou
from cnn_course.ref.proposals import felzenszwalb_regions, region_boxes, selective_search
from cnn_course.scenes import make_scenes


def _two_rectangles(noise=0.02, seed=0):
    rng = np.random.default_rng(seed)
    im = np.full((64, 64, 3), (0.2, 0.3, 0.2)) + noise * rng.standard_normal((64, 64, 3))
    im[8:30, 5:25] = (0.9, 0.1, 0.1)   # box (5, 8, 25, 30)
    im[35:60, 30:58] = (0.1, 0.2, 0.9)  # box (30, 35, 58, 60)
    return np.clip(im, 0, 1), np.array([[5, 8, 25, 30], [30, 35, 58, 60]], float)


def test_felzenszwalb_regions_number_regions_by_first_pixel():
    im, _ = _two_rectangles()
    labels = felzenszwalb_regions(im, scale=100, sigma=0.5, min_size=20)
    assert labels.shape == (64, 64) and labels.dtype == np.int64
    R = labels.max() + 1
    assert set(np.unique(labels)) == set(range(R)) and labels[0, 0] == 0
    first = [np.flatnonzero(labels.ravel() == r)[0] for r in range(R)]
    assert first == sorted(first)
    # the red rectangle's inside is one region (its 1-pixel rim, blurred by sigma, may be another)
    assert len(np.unique(labels[9:29, 6:24])) == 1
    # grey (H, W) and the course's (1, H, W) give the same regions
    grey = im.mean(axis=2)
    np.testing.assert_array_equal(felzenszwalb_regions(grey), felzenszwalb_regions(grey[None]))
    assert felzenszwalb_regions(np.full((10, 12), 0.5)).max() == 0


def test_region_boxes_are_tight():
    labels = np.zeros((6, 8), np.int64)
    labels[1:3, 2:5] = 1
    labels[4, 7] = 2
    np.testing.assert_array_equal(region_boxes(labels), [[0, 0, 8, 6], [2, 1, 5, 3], [7, 4, 8, 5]])
    with pytest.raises(ValueError, match="without gaps"):
        region_boxes(np.array([[0, 2]]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_true_boxes_of_two_flat_rectangles_are_proposed(seed):
    im, truth = _two_rectangles(seed=seed)
    for image in (im, im.mean(axis=2), np.moveaxis(im, -1, 0)):
        boxes = selective_search(image)
        assert boxes.dtype == np.float64 and boxes.shape[1] == 4
        best = box_iou(truth, boxes).max(axis=1)
        assert (best > 0.9).all(), f"best IoU with the true boxes: {best}"
        assert len(np.unique(boxes, axis=0)) == len(boxes), "duplicate proposals"


def test_one_hierarchy_ends_with_the_whole_image_and_is_deterministic():
    im, _ = _two_rectangles()
    boxes = selective_search(im, scale=100)
    assert ([0, 0, 64, 64] == boxes).all(axis=1).any()  # the last merge: the whole image
    labels = felzenszwalb_regions(im, 100, 0.5, 10)
    R = labels.max() + 1
    np.testing.assert_array_equal(boxes[:R], region_boxes(labels))  # the initial regions come first
    assert len(boxes) <= 2 * R - 1
    np.testing.assert_array_equal(boxes, selective_search(im, scale=100))
    assert len(selective_search(im, max_proposals=5)) == 5


def test_recall_on_the_detection_scenes():
    images, targets = make_scenes(40, seed=0, split="val")
    found = total = 0
    for image, (gt, _) in zip(images, targets):
        boxes = selective_search(image, max_proposals=300)
        assert len(boxes) <= 300
        found += int((box_iou(gt.astype(np.float64), boxes).max(axis=1) >= 0.5).sum())
        total += len(gt)
    assert found / total >= 0.9, f"recall at IoU 0.5 is {found / total:.3f}"


@pytest.mark.parametrize("args, message", [
    ((np.zeros((4, 4, 5)),), "1 or 3 channels"),
    ((np.zeros(5),), "shape"),
    ((np.array([[np.nan, 0], [0, 0]]),), "NaN"),
    ((np.zeros((8, 8)), 0), "scale must be"),
    ((np.zeros((8, 8)), ()), "empty sequence"),
    ((np.zeros((8, 8)), 10, -1.0), "sigma must be"),
    ((np.zeros((8, 8)), 10, 0.5, 0), "min_size must be"),
])
def test_bad_input_gets_a_clear_error(args, message):
    with pytest.raises(ValueError, match=message):
        selective_search(*args)
