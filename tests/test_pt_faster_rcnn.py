"""The small Faster R-CNN (cnn_course.pt.faster_rcnn), the shipped detector weights
(cnn_course.pt.detectors) and the script that makes them (benchmarks/train_detectors.py)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cnn_course.pt import faster_rcnn as frcnn
from cnn_course.pt.boxes import batched_nms, nms
from cnn_course.pt.detectors import (FASTER_RCNN_WEIGHTS, SHIPPED, TINY_YOLO_WEIGHTS, evaluate_detector,
                                     images_per_second, load_pretrained_faster_rcnn, load_pretrained_tiny_yolo)
from cnn_course.pt.rcnn import proposals_after_nms
from cnn_course.scenes import detection_splits, make_scenes

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "train_detectors.py"


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def scenes():
    return make_scenes(32, seed=0, split="train")


def test_shapes_and_anchor_order():
    torch.manual_seed(0)
    model = frcnn.faster_rcnn(4).eval()
    x = torch.rand(3, 1, 64, 64)
    with torch.no_grad():
        feats, obj, deltas = model(x)
    assert feats.shape == (3, 64, 16, 16) and obj.shape == (3, 2304) and deltas.shape == (3, 2304, 4)
    assert model.anchors.shape == (2304, 4)
    # anchor (y·W + x)·A + a is centred on feature pixel (y, x): (x + 0.5)·4, (y + 0.5)·4
    k = (5 * 16 + 7) * 9 + 4
    centre = (model.anchors[k, :2] + model.anchors[k, 2:]) / 2
    assert torch.allclose(centre, torch.tensor([30.0, 22.0]))
    with torch.no_grad():
        logits, box = model.head_outputs(feats, torch.tensor([[0, 1.0, 2, 30, 40], [2, 10, 10, 20, 20]]))
    assert logits.shape == (2, 5) and box.shape == (2, 5, 4)
    dets = frcnn.detect(model, x.numpy())
    assert len(dets) == 3
    for b, s, l in dets:
        assert b.shape == (len(s), 4) and l.shape == s.shape and len(s) <= 100
        assert (b >= 0).all() and (b <= 64).all() and ((l >= 0) & (l < 4)).all()
        assert np.all(np.diff(s) <= 0)
    with pytest.raises(ValueError, match="multiple of 4"):
        frcnn.faster_rcnn(4, image_size=30)


def test_greedy_nms_equals_the_library():
    gen = torch.Generator().manual_seed(1)
    for _ in range(20):
        n = int(torch.randint(0, 60, (1,), generator=gen))
        xy = torch.rand(n, 2, generator=gen) * 50
        boxes = torch.cat([xy, xy + 2 + torch.rand(n, 2, generator=gen) * 20], dim=1)
        scores = torch.rand(n, generator=gen).round(decimals=1)   # ties included
        labels = torch.randint(0, 3, (n,), generator=gen)
        for t in (0.3, 0.5, 0.7):
            assert torch.equal(frcnn.greedy_nms(boxes, scores, t), nms(boxes, scores, t))
            assert torch.equal(frcnn.greedy_nms(boxes, scores, t, 5), nms(boxes, scores, t)[:5])
            assert torch.equal(frcnn.greedy_nms(boxes, scores, t, labels=labels), batched_nms(boxes, scores, labels, t))


def test_proposals_equal_proposals_after_nms(scenes):
    torch.manual_seed(0)
    model = frcnn.faster_rcnn(4).eval()
    with torch.no_grad():
        _, obj, deltas = model(torch.as_tensor(scenes.images[:4]))
    deltas = deltas + 0.3 * torch.randn(deltas.shape, generator=torch.Generator().manual_seed(0))
    mine = frcnn.proposals(model, obj, deltas, 300, 50)
    for k in range(4):
        lib, _ = proposals_after_nms(model.anchors, obj[k], deltas[k], (64, 64), 300, 50, 0.7, min_size=1.0)
        assert torch.equal(mine[k], lib)


def test_loss_falls_on_a_few_scenes(scenes):
    torch.manual_seed(0)
    model = frcnn.faster_rcnn(4)
    history = frcnn.train_faster_rcnn(model, scenes.images[:16], scenes.targets[:16], epochs=12, batch_size=8,
                                      lr=3e-3, flip=False)
    assert set(history) == {*frcnn.LOSS_NAMES, "total"} and len(history["total"]) == 24
    # the head's box loss rises at first (more proposals become foreground as the RPN learns, and
    # each brings a real correction to learn, as notebook 09 explains); the other three fall
    for name, factor in (("rpn_objectness", 0.5), ("rpn_box", 0.8), ("head_class", 0.7)):
        first, last = np.mean(history[name][:4]), np.mean(history[name][-4:])
        assert last < factor * first, (name, first, last)


def test_training_is_deterministic(scenes):
    runs = []
    for _ in range(2):
        torch.manual_seed(3)
        model = frcnn.faster_rcnn(4)
        h = frcnn.train_faster_rcnn(model, scenes.images[:16], scenes.targets[:16], epochs=1, batch_size=8, seed=5)
        runs.append((h["total"], [p.detach().clone() for p in model.parameters()]))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))


def test_train_rejects_bad_input(scenes):
    model = frcnn.faster_rcnn(4)
    with pytest.raises(ValueError, match="one target per image"):
        frcnn.train_faster_rcnn(model, scenes.images[:4], scenes.targets[:3])
    with pytest.raises(ValueError, match="epochs"):
        frcnn.train_faster_rcnn(model, scenes.images[:4], scenes.targets[:4], epochs=0)


def test_loaders_validate_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="benchmarks/train_detectors.py"):
        load_pretrained_faster_rcnn(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="not a readable torch weights file"):
        load_pretrained_tiny_yolo(bad)
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="not a state dict"):
        load_pretrained_faster_rcnn(tmp_path / "list.pt")
    torch.save(load_pretrained_tiny_yolo().state_dict(), tmp_path / "yolo.pt")
    with pytest.raises(ValueError, match="does not fit faster_rcnn"):
        load_pretrained_faster_rcnn(tmp_path / "yolo.pt")


def test_shipped_weights_are_small_and_reach_the_stated_map():
    from cnn_course.numerics import portable_cpu
    from cnn_course.pt import tiny_yolo

    assert FASTER_RCNN_WEIGHTS.stat().st_size <= 2_000_000 and TINY_YOLO_WEIGHTS.stat().st_size <= 2_000_000
    test = detection_splits().test
    with portable_cpu():
        got = {"faster_rcnn": evaluate_detector(lambda x: frcnn.detect(load_pretrained_faster_rcnn(), x),
                                                test.images, test.targets),
               "tiny_yolo": evaluate_detector(lambda x: tiny_yolo.detect(load_pretrained_tiny_yolo(), x),
                                              test.images, test.targets)}
    for name, scores in got.items():
        assert scores["map50"] >= SHIPPED[name]["map50"] - 0.005, (name, scores["map50"])
        assert scores["map"] >= SHIPPED[name]["map"] - 0.005, (name, scores["map"])
    assert SHIPPED["faster_rcnn"]["map50"] > SHIPPED["tiny_yolo"]["map50"]  # what the notebook's text says


def test_images_per_second_counts_images():
    calls = []
    rate = images_per_second(lambda x: calls.append(len(x)), np.zeros((10, 1, 4, 4)), repeats=2)
    assert calls == [8, 10, 10] and rate > 0


def test_the_training_script_runs_at_reduced_size(tmp_path):
    out = subprocess.run([sys.executable, str(SCRIPT), "--train", "32", "--test", "8", "--frcnn-epochs", "1",
                          "--yolo-epochs", "1", "--out-dir", str(tmp_path)], capture_output=True, text=True,
                         timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    for name, file in (("faster_rcnn", "faster_rcnn_scenes.pt"), ("tiny_yolo", "tiny_yolo_scenes.pt")):
        assert f"{name}: 32 scenes x 1 epochs" in out.stdout and "mAP@0.5" in out.stdout, out.stdout
        assert (tmp_path / file).is_file()
    load_pretrained_faster_rcnn(tmp_path / "faster_rcnn_scenes.pt")
    load_pretrained_tiny_yolo(tmp_path / "tiny_yolo_scenes.pt")
