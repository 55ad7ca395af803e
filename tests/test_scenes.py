"""cnn_course.scenes: detection scenes of real Fashion-MNIST items on real textures, and the
box pictures of cnn_course.plot.detection."""

import hashlib
import itertools

import matplotlib
import numpy as np
import pytest

from cnn_course import data, scenes
from cnn_course.plot import draw_boxes, show_detections
from cnn_course.ref.boxes import box_iou

# sha256 of detection_splits(0): uint8 pixels, then boxes and labels of every scene, split by split
SPLITS_SHA256 = "9039ce789a99e6e43e1755feb02e1f018a4fb5852327938f5e0ec96eb6a30cd4"


@pytest.fixture(scope="module")
def small():
    return scenes.make_scenes(60, seed=3, split="val", return_details=True)


def _digest(splits) -> str:
    h = hashlib.sha256()
    for part in splits:
        h.update(np.round(part.images * 255).astype(np.uint8).tobytes())
        for boxes, labels in part.targets:
            h.update(boxes.astype("<f4").tobytes())
            h.update(labels.astype("<i8").tobytes())
    return h.hexdigest()


def test_images_and_targets_have_the_documented_layout(small):
    images, targets, details = small
    assert images.shape == (60, 1, 64, 64) and images.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 1
    np.testing.assert_array_equal(images, np.round(images * 255) / np.float32(255))  # 8-bit levels
    assert len(targets) == len(details) == 60
    for boxes, labels in targets:
        assert boxes.dtype == np.float32 and boxes.ndim == 2 and boxes.shape[1] == 4
        assert labels.dtype == np.int64 and labels.shape == (len(boxes),)
        assert 1 <= len(boxes) <= 4


def test_boxes_lie_inside_the_image_and_are_tight_around_each_object(small):
    images, targets, details = small
    for i, ((boxes, labels), d) in enumerate(zip(targets, details)):
        masks = d["masks"]
        assert masks.shape == (len(boxes), 64, 64)
        assert (boxes[:, :2] >= 0).all() and (boxes[:, 2:] <= 64).all() and (boxes[:, 2:] > boxes[:, :2]).all()
        assert (masks.sum(axis=0) <= 1).all(), f"scene {i}: two objects share a pixel"
        for k, m in enumerate(masks):
            rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
            expected = [cols[0], rows[0], cols[-1] + 1, rows[-1] + 1]
            assert boxes[k].tolist() == expected, f"scene {i}, object {k}: box {boxes[k]} vs mask bounds {expected}"
            # the longer side is within object_size (16..32), the pasted object brighter than its texture
            assert 8 <= max(expected[2] - expected[0], expected[3] - expected[1]) <= 32
        if len(masks):
            obj = images[i, 0][masks.any(axis=0)]
            assert obj.mean() > images[i, 0][~masks.any(axis=0)].mean(), f"scene {i}: objects darker than the background"


def test_labels_name_the_class_of_the_pasted_item(small):
    _, targets, details = small
    _, y_train, _, _ = data.load_fashion_mnist()
    for (boxes, labels), d in zip(targets, details):
        assert d["source_set"] == "train"
        assert ((labels >= 0) & (labels < len(scenes.SCENE_CLASSES))).all()
        names = [data.FASHION_MNIST_CLASSES[c] for c in y_train[d["sources"]]]
        assert names == [scenes.SCENE_CLASSES[k] for k in labels]


def test_other_classes_are_numbered_in_the_given_order():
    classes = ("Bag", "T-shirt/top")
    _, targets, details = scenes.make_scenes(20, seed=1, split="test", classes=classes, return_details=True)
    _, _, _, y_test = data.load_fashion_mnist()
    for (_, labels), d in zip(targets, details):
        assert [classes[k] for k in labels] == [data.FASHION_MNIST_CLASSES[c] for c in y_test[d["sources"]]]


@pytest.mark.parametrize("max_overlap", [0.0, 0.1, 0.3])
def test_the_overlap_cap_holds_for_every_pair_of_boxes(max_overlap):
    _, targets = scenes.make_scenes(80, seed=2, objects=(3, 6), max_overlap=max_overlap)
    worst = 0.0
    for boxes, _ in targets:
        iou = box_iou(boxes, boxes)
        np.fill_diagonal(iou, 0)
        worst = max(worst, float(iou.max(initial=0)))
    assert worst <= max_overlap + 1e-6
    if max_overlap > 0:
        assert worst > 0, "no two boxes overlap at all: the cap is not exercised"


def test_scenes_are_deterministic_and_depend_on_seed_split_and_index():
    a = scenes.make_scenes(12, seed=5)
    b = scenes.make_scenes(12, seed=5)
    np.testing.assert_array_equal(a.images, b.images)
    for (ba, la), (bb, lb) in zip(a.targets, b.targets):
        np.testing.assert_array_equal(ba, bb)
        np.testing.assert_array_equal(la, lb)
    prefix = scenes.make_scenes(4, seed=5)
    np.testing.assert_array_equal(prefix.images, a.images[:4])
    assert not np.array_equal(scenes.make_scenes(12, seed=6).images, a.images)
    assert not np.array_equal(scenes.make_scenes(12, seed=5, split="test").images, a.images)


def test_detection_splits_have_a_fixed_checksum_and_come_as_copies():
    splits = data.detection_splits(0)
    assert [len(s.images) for s in splits] == [2000, 300, 300]
    assert _digest(splits) == SPLITS_SHA256
    splits.train.images[:] = 0
    splits.test.targets[0][0][:] = -1
    assert _digest(data.detection_splits(0)) == SPLITS_SHA256, "the cached splits were changed through a copy"
    small = scenes.detection_splits(0, sizes=(5, 2, 3))
    np.testing.assert_array_equal(small.train.images, data.detection_splits(0).train.images[:5])


def test_splits_draw_objects_and_textures_from_disjoint_sources():
    seen = {}
    for split in scenes.SCENE_SPLITS:
        _, _, details = scenes.make_scenes(150, seed=0, split=split, return_details=True)
        seen[split] = {(d["source_set"], int(s)) for d in details for s in d["sources"]}
        bands = {name: scenes._texture_band(name, split).shape[1] for name in scenes.SCENE_TEXTURES}
        for d in details:
            y0, x0, size = d["crop"]
            assert x0 >= 0 and x0 + size <= bands[d["texture"]]
    assert all(s == "train" and i < 54_000 for s, i in seen["train"])
    assert all(s == "train" and i >= 54_000 for s, i in seen["val"])
    assert all(s == "t10k" for s, _ in seen["test"])
    for a, b in itertools.combinations(seen.values(), 2):
        assert not a & b
    # the bands themselves are disjoint column ranges of each texture: together exactly the texture
    for name in scenes.SCENE_TEXTURES:
        whole = data.sample_image(name, gray=True)
        joined = np.concatenate([scenes._texture_band(name, s) for s in scenes.SCENE_SPLITS], axis=1)
        np.testing.assert_array_equal(joined, whole)


@pytest.mark.parametrize("kwargs, message", [
    (dict(n=-1), "n must be a non-negative integer"),
    (dict(n=2, split="dev"), "split must be one of"),
    (dict(n=2, objects=(3, 1)), "objects must be a pair"),
    (dict(n=2, classes=("Trouser", "Hat")), "unknown classes"),
    (dict(n=2, classes=("Bag", "Bag")), "must not repeat"),
    (dict(n=2, max_overlap=1.5), "max_overlap must be a number in"),
    (dict(n=2, object_size=(16, 80)), "object_size must be a pair"),
    (dict(n=2, image_size=16), "image_size must be between"),
])
def test_bad_arguments_get_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        scenes.make_scenes(**kwargs)


def test_missing_fashion_mnist_names_the_package(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        scenes.make_scenes(1, root=tmp_path)


def test_empty_request_gives_empty_arrays():
    images, targets = scenes.make_scenes(0)
    assert images.shape == (0, 1, 64, 64) and targets == []


# --------------------------------------------------------------------------- plots

def test_draw_boxes_draws_one_rectangle_per_box_and_captions(small):
    images, targets, _ = small
    boxes, labels = targets[0]
    scores = np.linspace(0.9, 0.5, len(boxes))
    fig = draw_boxes(images[0], boxes, labels, scores, scenes.SCENE_CLASSES, gt_boxes=boxes)
    assert isinstance(fig, matplotlib.figure.Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    assert len(ax.patches) == 2 * len(boxes)
    assert [t.get_text() for t in ax.texts] == [f"{scenes.SCENE_CLASSES[k]} {s:.2f}" for k, s in zip(labels, scores)]
    x1, y1 = ax.patches[len(boxes)].get_xy()
    assert (x1, y1) == (boxes[0, 0], boxes[0, 1])  # pixel edges at integers: extent (0, W, H, 0)
    with pytest.raises(ValueError, match="one entry per box"):
        draw_boxes(images[0], boxes, labels[:0] if len(labels) > 1 else np.zeros(2, int))
    with pytest.raises(ValueError, match=r"shape \(K, 4\)"):
        draw_boxes(images[0], np.zeros((2, 3)))


def test_show_detections_draws_one_axes_per_image(small):
    images, targets, _ = small
    fig = show_detections(images[:5], ground_truths=targets[:5], class_names=scenes.SCENE_CLASSES, cols=3)
    assert len(fig.axes) == 5
    dets = [(b, np.ones(len(b)), l) for b, l in targets[:3]]
    fig = show_detections(images[:3], dets, targets[:3], titles=["a", "b", "c"])
    assert [ax.get_title() for ax in fig.axes] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="one entry per image"):
        show_detections(images[:3], dets[:2])
