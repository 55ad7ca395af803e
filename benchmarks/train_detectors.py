"""Train the two detectors that notebook 09 compares, and write the shipped weights.

Both train on the same composed scenes (``cnn_course.scenes.detection_splits()``: the first
``--train`` training scenes) and are tested on its 300 test scenes:

* the small Faster R-CNN of topic 9 (``cnn_course.pt.faster_rcnn``): ``train_faster_rcnn``,
  Adam with a one-cycle learning rate (2e-3), mini-batches of 16, mirroring, ``--frcnn-epochs``;
* the tiny YOLO of topic 8 (``cnn_course.pt.tiny_yolo``): ``train_tiny_yolo`` with notebook 08's
  recipe (Adam, one-cycle 3e-3, mini-batches of 32, mirroring), ``--yolo-epochs``.

Seeded (``--seed``; the models are built after ``torch.manual_seed(seed)``) and on ``--threads``
CPU threads (default 1): with the same arguments it gives the same weights on the same machine.
Training uses torch's default CPU kernels (faster here); the test mAPs are measured inside
``portable_cpu()``, as the notebook does. It writes the float32 state dicts to ``--out-dir``
(default: the shipped ``cnn_course/weights/``: faster_rcnn_scenes.pt, tiny_yolo_scenes.pt) and
prints, per detector, the training time, mAP@0.5 and mAP@[.5:.95] on the test scenes, and the
file size. The test suite runs it with ``--train 64 --test 16 --frcnn-epochs 1 --yolo-epochs 1``.

    python benchmarks/train_detectors.py [--train 2000] [--test 300] [--frcnn-epochs 8]
                                         [--yolo-epochs 12] [--seed 0] [--threads 1] [--out-dir DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from cnn_course.numerics import portable_cpu  # noqa: E402
from cnn_course.pt import faster_rcnn as frcnn  # noqa: E402
from cnn_course.pt import tiny_yolo as yolo  # noqa: E402
from cnn_course.pt.detectors import FASTER_RCNN_WEIGHTS, NUM_CLASSES, evaluate_detector  # noqa: E402
from cnn_course.scenes import detection_splits  # noqa: E402


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--train", type=int, default=2000)
    p.add_argument("--test", type=int, default=300)
    p.add_argument("--frcnn-epochs", type=int, default=8)
    p.add_argument("--yolo-epochs", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out-dir", type=Path, default=FASTER_RCNN_WEIGHTS.parent)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    splits = detection_splits(sizes=(max(a.train, 1), 0, max(a.test, 1)))
    train, test = splits.train, splits.test
    a.out_dir.mkdir(parents=True, exist_ok=True)
    results = {}
    for name, build, fit, detect, epochs, file in (
            ("faster_rcnn", frcnn.faster_rcnn, frcnn.train_faster_rcnn, frcnn.detect, a.frcnn_epochs,
             "faster_rcnn_scenes.pt"),
            ("tiny_yolo", yolo.tiny_yolo, yolo.train_tiny_yolo, yolo.detect, a.yolo_epochs, "tiny_yolo_scenes.pt")):
        torch.manual_seed(a.seed)
        model = build(NUM_CLASSES)
        t0 = time.perf_counter()
        fit(model, train.images[: a.train], train.targets[: a.train], epochs=epochs, seed=a.seed)
        seconds = time.perf_counter() - t0
        path = a.out_dir / file
        torch.save({k: t.detach().clone().float() if t.is_floating_point() else t.clone()
                    for k, t in model.state_dict().items()}, path)
        with portable_cpu():
            scores = evaluate_detector(lambda x, m=model, d=detect: d(m, x), test.images[: a.test],
                                       test.targets[: a.test])
        results[name] = {"map50": scores["map50"], "map": scores["map"], "seconds": seconds,
                         "bytes": path.stat().st_size, "epochs": epochs}
        print(f"{name}: {a.train} scenes x {epochs} epochs in {seconds:.0f} s ({a.threads} thread); test "
              f"mAP@0.5 {scores['map50']:.4f}, mAP@[.5:.95] {scores['map']:.4f} on {a.test} scenes; "
              f"{path} ({path.stat().st_size / 1e6:.2f} MB)", flush=True)
    return results


if __name__ == "__main__":
    main()
