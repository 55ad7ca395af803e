"""Detection topics (8, 9): the numbers their notebooks rely on, measured on this machine.

    python benchmarks/bench_detection.py [--epochs 12] [--threads 2] [--skip-yolo] [--skip-proposals]

1. building ``detection_splits(0)`` (2,000 / 300 / 300 scenes), Fashion-MNIST loading included
   and excluded (the target: under 5 s);
2. selective search (``cnn_course.ref.proposals``, default settings, at most 300 proposals) on
   the test scenes: recall of the ground-truth boxes at IoU 0.5 and 0.7, proposals per image,
   milliseconds per image (the target: under 200 ms at 64 px);
3. the small YOLO of ``cnn_course.pt.tiny_yolo`` trained on the training scenes: wall and CPU
   seconds, and mAP@0.5 / mAP@[.5:.95] on the validation and test scenes (the notebook's
   budget: about 60 s of training on CI's 2 cores; the issue's aim: mAP@0.5 >= 0.80).

Timings on shared, busy cores are not representative: say under what load they were taken.
Not a test; always exits 0.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--skip-yolo", action="store_true")
    p.add_argument("--skip-proposals", action="store_true")
    args = p.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from cnn_course import scenes
    from cnn_course.ref.boxes import box_iou
    from cnn_course.ref.detection_metrics import COCO_IOU_THRESHOLDS, mean_average_precision

    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; torch threads {args.threads}")
    t = time.perf_counter()
    splits = scenes.detection_splits(0)
    cold = time.perf_counter() - t
    scenes._splits.cache_clear()
    t = time.perf_counter()
    scenes.detection_splits(0)
    warm = time.perf_counter() - t
    n_obj = sum(len(l) for part in splits for _, l in part.targets)
    print(f"detection_splits(0): {cold:.2f} s with loading, {warm:.2f} s without; {n_obj} objects")

    if not args.skip_proposals:
        from cnn_course.ref.proposals import selective_search

        hits, total, counts = {0.5: 0, 0.7: 0}, 0, []
        t = time.perf_counter()
        for image, (gt, _) in zip(splits.test.images, splits.test.targets):
            boxes = selective_search(image, max_proposals=300)
            counts.append(len(boxes))
            best = box_iou(gt.astype(np.float64), boxes).max(axis=1)
            for th in hits:
                hits[th] += int((best >= th).sum())
            total += len(gt)
        ms = (time.perf_counter() - t) / len(counts) * 1000
        print(f"selective search, test scenes: recall@0.5 {hits[0.5] / total:.3f}, recall@0.7 {hits[0.7] / total:.3f} "
              f"of {total} boxes; {np.mean(counts):.0f} proposals per image (max {max(counts)}); {ms:.1f} ms per image")

    if not args.skip_yolo:
        from cnn_course.pt.tiny_yolo import detect, tiny_yolo, train_tiny_yolo

        torch.manual_seed(0)
        model = tiny_yolo(len(scenes.SCENE_CLASSES))
        wall, cpu = time.perf_counter(), time.process_time()
        train_tiny_yolo(model, splits.train.images, splits.train.targets, epochs=args.epochs,
                        log=lambda e, loss, s: print(f"  epoch {e + 1}: loss {loss:.3f}, {s:.1f} s", flush=True))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"tiny YOLO ({sum(q.numel() for q in model.parameters())} parameters), {args.epochs} epochs: "
              f"{wall:.1f} s wall, {cpu:.1f} s CPU")
        for name in ("val", "test"):
            part = getattr(splits, name)
            t = time.perf_counter()
            dets = detect(model, part.images)
            ips = len(part.images) / (time.perf_counter() - t)
            m50 = mean_average_precision(dets, part.targets)
            mcoco = mean_average_precision(dets, part.targets, COCO_IOU_THRESHOLDS)
            print(f"  {name}: mAP@0.5 {m50:.3f}, mAP@[.5:.95] {mcoco:.3f}, {ips:.0f} images/s")


if __name__ == "__main__":
    main()
