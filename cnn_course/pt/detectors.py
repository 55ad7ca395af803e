"""The two trained detectors of topics 8 and 9, shipped with the course, and how they are compared.

``load_pretrained_faster_rcnn()`` (``cnn_course.pt.faster_rcnn``) and ``load_pretrained_tiny_yolo()``
(``cnn_course.pt.tiny_yolo``) load small weights trained on the same composed scenes
(``cnn_course.scenes.detection_splits()``'s 2,000 training scenes) by ONE script,
``benchmarks/train_detectors.py`` (seeded; it prints both test mAPs and the training times).
``SHIPPED`` records what that script printed for the shipped files; a test checks that the files
still reach it. ``evaluate_detector`` gives the numbers of the notebooks' comparison table.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from .faster_rcnn import FasterRCNN, faster_rcnn
from .tiny_yolo import TinyYOLO, tiny_yolo

__all__ = ["FASTER_RCNN_WEIGHTS", "TINY_YOLO_WEIGHTS", "SHIPPED", "NUM_CLASSES", "load_pretrained_faster_rcnn",
           "load_pretrained_tiny_yolo", "evaluate_detector", "images_per_second"]

_DIR = Path(__file__).resolve().parents[1] / "weights"
FASTER_RCNN_WEIGHTS = _DIR / "faster_rcnn_scenes.pt"
TINY_YOLO_WEIGHTS = _DIR / "tiny_yolo_scenes.pt"
#: The scenes' four classes (cnn_course.scenes.SCENE_CLASSES).
NUM_CLASSES = 4
#: What benchmarks/train_detectors.py printed for the shipped weights (test scenes of
#: detection_splits(), inside portable_cpu): mAP@0.5 and mAP@[.5:.95], the recipe, and the
#: training time in seconds (one thread, on the course's shared 2-core build machine under load 2-3.5).
SHIPPED = {
    "faster_rcnn": {"map50": 0.9618, "map": 0.7100, "epochs": 8, "train_scenes": 2000, "seconds": 200},
    "tiny_yolo": {"map50": 0.8984, "map": 0.5090, "epochs": 12, "train_scenes": 2000, "seconds": 47},
}
_REMEDY = "recreate it with `python benchmarks/train_detectors.py` (a few minutes on a CPU)"


def _load(path: Path, model: torch.nn.Module, what: str) -> torch.nn.Module:
    if not path.is_file():
        raise FileNotFoundError(f"pretrained {what} weights not found at {path}; {_REMEDY}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated file, not a torch file, pickled code
        raise ValueError(f"{path} is not a readable torch weights file ({type(err).__name__}: {err}); {_REMEDY}") from err
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds a {type(state).__name__}, not a state dict; {_REMEDY}")
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"{path} does not fit {what}: {err}; {_REMEDY}") from err
    return model.eval()


def load_pretrained_faster_rcnn(path=None) -> FasterRCNN:
    """``faster_rcnn(4)`` with the shipped weights, in eval mode, on the CPU. FileNotFoundError when
    the file is missing, ValueError when it is not a state dict of this architecture."""
    return _load(Path(FASTER_RCNN_WEIGHTS if path is None else path), faster_rcnn(NUM_CLASSES),
                 "faster_rcnn(4) (cnn_course.pt.faster_rcnn)")


def load_pretrained_tiny_yolo(path=None) -> TinyYOLO:
    """``tiny_yolo(4)`` (notebook 08's YOLO) with the shipped weights, in eval mode, on the CPU."""
    return _load(Path(TINY_YOLO_WEIGHTS if path is None else path), tiny_yolo(NUM_CLASSES),
                 "tiny_yolo(4) (cnn_course.pt.tiny_yolo)")


def images_per_second(detect_fn, images, repeats: int = 3) -> float:
    """The best of ``repeats`` timed runs of ``detect_fn(images)``: images per second (one warm-up run first)."""
    detect_fn(images[:8])
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        detect_fn(images)
        best = min(best, time.perf_counter() - t0)
    return len(images) / best


def evaluate_detector(detect_fn, images, targets) -> dict:
    """mAP@0.5 and mAP@[.5:.95] (COCO, ``mean_average_precision``) of ``detect_fn(images)`` against
    ``targets`` (per image ``(boxes, labels)``): ``{"map50": float, "map": float, "detections": list}``."""
    from ..ref.detection_metrics import mean_average_precision

    dets = detect_fn(images)
    return {"map50": float(mean_average_precision(dets, targets)),
            "map": float(mean_average_precision(dets, targets, tuple(np.linspace(0.5, 0.95, 10)))),
            "detections": dets}
