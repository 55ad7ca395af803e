"""MTCNN face detection (Zhang et al., 2016): three small convnets in a cascade, with pretrained weights.

    P-Net  (fully convolutional, 12×12 receptive field, stride 2): slides over an image pyramid and
           proposes candidate windows: face probability + box offsets per position
    R-Net  (24×24 crops): rejects most candidates, refines the boxes
    O-Net  (48×48 crops): final probability, box offsets and 5 landmarks (eyes, nose, mouth corners)

Between the stages the boxes are regressed, made square and thinned out by non-max suppression
(the course's own ``cnn_course.pt.nms`` / ``batched_nms``). ``detect_faces`` runs the whole
cascade on one image.

The weights are facenet-pytorch 2.6.0's ``data/{pnet,rnet,onet}.pt`` (MIT licence; originally
Zhang et al.'s Caffe models), shipped in ``cnn_course/weights/mtcnn/`` (see the README there).
The modules below are written for the course (facenet-pytorch's own code needs torchvision); their
parameter names match those state dicts, and R-Net/O-Net flatten their feature maps in the
(W, H, C) order of the Caffe originals, which the dense layers' weights expect.

Boxes are corners (x1, y1, x2, y2) in pixels of the input image, continuous coordinates
(width x2 − x1), as everywhere in the course.
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .boxes import batched_nms, nms

__all__ = ["MTCNN", "MTCNN_WEIGHTS", "Faces", "ONet", "PNet", "RNet", "crop_faces", "detect_faces", "face_candidates",
           "load_mtcnn"]

MTCNN_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "mtcnn"


class PNet(nn.Module):
    """Proposal network: (N, 3, H, W) normalised images -> (prob (N, H', W'), reg (N, 4, H', W')).

    H' = ceil((H − 2) / 2) − 4: one output per 12×12 window, windows 2 pixels apart.
    prob is the softmax probability of "face"; reg the box offsets (dx1, dy1, dx2, dy2) in units
    of the window's size.
    """

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, kernel_size=3)
        self.prelu1 = nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(10, 16, kernel_size=3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, kernel_size=3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)  # face / not face
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)  # box offsets

    def forward(self, x):
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return torch.softmax(self.conv4_1(x), dim=1)[:, 1], self.conv4_2(x)


def _caffe_flatten(x):
    """(N, C, H, W) -> (N, W·H·C): the order the converted Caffe dense weights expect."""
    return x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)


class RNet(nn.Module):
    """Refinement network: (N, 3, 24, 24) crops -> (prob (N,), reg (N, 4))."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, kernel_size=3)
        self.prelu1 = nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(28, 48, kernel_size=3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(48, 64, kernel_size=2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)  # 64 × 3 × 3
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x):
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        x = self.prelu4(self.dense4(_caffe_flatten(x)))
        return torch.softmax(self.dense5_1(x), dim=1)[:, 1], self.dense5_2(x)


class ONet(nn.Module):
    """Output network: (N, 3, 48, 48) crops -> (prob (N,), reg (N, 4), landmarks (N, 10)).

    landmarks: x of the 5 points, then y of the 5 points, as fractions of the crop's width and
    height: left eye, right eye, nose, left and right mouth corner (left/right in the image).
    """

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4 = nn.Conv2d(64, 128, kernel_size=2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)  # 128 × 3 × 3
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x):
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu5(self.dense5(_caffe_flatten(self.prelu4(self.conv4(x)))))
        return torch.softmax(self.dense6_1(x), dim=1)[:, 1], self.dense6_2(x), self.dense6_3(x)


class MTCNN(nn.Module):
    """The three networks together (``pnet``, ``rnet``, ``onet``); ``load_mtcnn`` gives the pretrained one."""

    def __init__(self):
        super().__init__()
        self.pnet, self.rnet, self.onet = PNet(), RNet(), ONet()


def load_mtcnn(device=None, folder=None) -> MTCNN:
    """The pretrained MTCNN in eval mode on ``device`` (default CPU).

    folder: where ``pnet.pt``, ``rnet.pt``, ``onet.pt`` are (default ``MTCNN_WEIGHTS``, the copies
    shipped with the course). Raises FileNotFoundError for a missing file and ValueError for a
    file that is not a state dict of the network.
    """
    folder = Path(MTCNN_WEIGHTS if folder is None else folder)
    model = MTCNN()
    for name in ("pnet", "rnet", "onet"):
        path = folder / f"{name}.pt"
        remedy = ("take it from the facenet-pytorch 2.6.0 wheel (facenet_pytorch/data/), see "
                  "cnn_course/weights/mtcnn/README.md")
        if not path.is_file():
            raise FileNotFoundError(f"MTCNN weights not found at {path}; {remedy}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            getattr(model, name).load_state_dict(state)
        except Exception as err:  # not a torch file, wrong keys or shapes
            raise ValueError(f"{path} is not the {name.upper()[0]}-Net state dict ({type(err).__name__}: "
                             f"{err}); {remedy}") from err
    return model.to(device if device is not None else "cpu").eval()


# ----------------------------------------------------------------------------------------
# Image handling
# ----------------------------------------------------------------------------------------


def _check_image(image) -> torch.Tensor:
    """(H, W, 3) / (H, W, 4) / (H, W) image, uint8 0..255 or float in [0, 1] -> (1, 3, H, W) float32 0..255."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a NumPy array (H, W, 3), got {type(image).__name__}")
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[..., :3]  # drop alpha
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)  # grey photo: the same value in R, G and B
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must have shape (H, W, 3) (RGB), (H, W, 4) or (H, W) (grey), got {image.shape}")
    if image.dtype == np.uint8:
        pixels = image.astype(np.float32)
    elif image.dtype.kind == "f":
        if not np.isfinite(image).all():
            raise ValueError("image holds NaN or infinity")
        if image.size and (image.min() < 0 or image.max() > 1):
            raise ValueError(f"a float image must hold values in [0, 1], got {image.min():g}..{image.max():g}; "
                             f"pass uint8 pixels (0..255) as uint8")
        pixels = image.astype(np.float32) * 255
    else:
        raise TypeError(f"image must be uint8 (0..255) or float (0..1), got dtype {image.dtype}")
    if min(image.shape[:2]) < 12:
        raise ValueError(f"image is {image.shape[0]}×{image.shape[1]} pixels: MTCNN needs at least 12×12")
    return torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1)[None]


def _normalise(x):
    return (x - 127.5) / 128.0  # pixels 0..255 -> about [-1, 1], as the networks were trained


def _crops(image: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Cut the (rounded) boxes out of (1, 3, H, W) pixels, zero outside the image, and resize
    each to size×size by area averaging -> (K, 3, size, size)."""
    _, _, H, W = image.shape
    out = torch.zeros(len(boxes), 3, size, size, dtype=image.dtype, device=image.device)
    for k, (x1, y1, x2, y2) in enumerate(torch.round(boxes).long().tolist()):
        x2, y2 = max(x2, x1 + 1), max(y2, y1 + 1)
        patch = torch.zeros(1, 3, y2 - y1, x2 - x1, dtype=image.dtype, device=image.device)
        ix1, iy1, ix2, iy2 = max(x1, 0), max(y1, 0), min(x2, W), min(y2, H)
        if ix2 > ix1 and iy2 > iy1:
            patch[:, :, iy1 - y1 : iy2 - y1, ix1 - x1 : ix2 - x1] = image[:, :, iy1:iy2, ix1:ix2]
        out[k] = F.interpolate(patch, size=(size, size), mode="area")[0]
    return out


# ----------------------------------------------------------------------------------------
# Box arithmetic between the stages
# ----------------------------------------------------------------------------------------


def _regress(boxes: torch.Tensor, reg: torch.Tensor) -> torch.Tensor:
    """Move each side by its offset times the box's width (x) or height (y)."""
    wh = (boxes[:, 2:] - boxes[:, :2]).repeat(1, 2)  # (w, h, w, h)
    return boxes + reg * wh


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """The square of side max(w, h) with the same centre (the next network sees square crops)."""
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]).amax(dim=1, keepdim=True) / 2
    return torch.cat([centre - half, centre + half], dim=1)


def _pyramid_scales(H: int, W: int, min_face_size: float, factor: float) -> list[float]:
    """Scales s_k = (12 / min_face_size)·factor^k while min(H, W)·s_k >= 12: a face of
    min_face_size pixels becomes P-Net's 12×12 window at the first scale."""
    scales, scale = [], 12.0 / min_face_size
    while min(H, W) * scale >= 12:
        scales.append(scale)
        scale *= factor
    return scales


class Faces(NamedTuple):
    """``detect_faces``'s result, by decreasing probability (NumPy arrays).

    boxes (K, 4) float32 corners (x1, y1, x2, y2); probs (K,) float32 face probabilities;
    landmarks (K, 5, 2) float32 (x, y) of left eye, right eye, nose, left and right mouth corner.
    """

    boxes: np.ndarray
    probs: np.ndarray
    landmarks: np.ndarray


def _check_settings(min_face_size, thresholds, factor):
    if isinstance(min_face_size, bool) or not isinstance(min_face_size, numbers.Real) or not min_face_size >= 12:
        raise ValueError(f"min_face_size must be a number of pixels >= 12 (P-Net's window), got {min_face_size!r}")
    if len(thresholds) != 3 or not all(isinstance(t, numbers.Real) and 0 <= t <= 1 for t in thresholds):
        raise ValueError(f"thresholds must be three probabilities (P-Net, R-Net, O-Net), got {thresholds!r}")
    if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not 0 < factor < 1:
        raise ValueError(f"factor (the pyramid's scale step) must be in (0, 1), got {factor!r}")


def detect_faces(image, min_face_size=20, thresholds=(0.6, 0.7, 0.7), factor=0.709, model=None) -> Faces:
    """Find the faces in one image with the MTCNN cascade.

    image: (H, W, 3) RGB (or (H, W) grey, or RGBA), uint8 0..255 or float in [0, 1];
    min_face_size: the smallest face to look for, in pixels; thresholds: the probability a
    candidate needs to pass P-Net, R-Net and O-Net; factor: the image pyramid's step;
    model: an ``MTCNN`` (default: ``load_mtcnn()``, the shipped weights, loaded once).
    -> ``Faces(boxes, probs, landmarks)`` (NumPy, by decreasing probability).

    1. Pyramid: the image resized by every scale of ``_pyramid_scales``; P-Net on each gives a
       face probability per 12×12 window (stride 2). Windows with probability >= thresholds[0]
       become boxes in the original image; NMS (IoU 0.5) within each scale, then 0.7 over all
       scales; box regression; squared.
    2. R-Net on 24×24 crops: keep probability > thresholds[1], NMS 0.7, regression, square.
    3. O-Net on 48×48 crops: keep probability > thresholds[2], landmarks, regression, NMS 0.7.
    """
    return _cascade(image, min_face_size, thresholds, factor, model, suppress=True)


def face_candidates(image, min_face_size=20, thresholds=(0.6, 0.7, 0.05), factor=0.709, model=None):
    """MTCNN's scored boxes on one image before its last two non-max suppressions, for showing
    what NMS does on a real photo: several overlapping boxes per face, each with O-Net's face
    probability (> ``thresholds[2]``, a low default so that weak boxes show too).

    -> ``(boxes (K, 4) float32, probs (K,) float32, labels (K,) int64 zeros)``, by decreasing
    probability: the ``(boxes, scores, labels)`` of ``widgets_detection.nms_explorer``.
    """
    faces = _cascade(image, min_face_size, thresholds, factor, model, suppress=False)
    return faces.boxes, faces.probs, np.zeros(len(faces.probs), np.int64)


@torch.no_grad()
def _cascade(image, min_face_size, thresholds, factor, model, suppress: bool) -> Faces:
    """The three stages of :func:`detect_faces`; ``suppress=False`` leaves out the NMS after
    R-Net and after O-Net (P-Net's windows are still suppressed, to keep R-Net's work small)."""
    _check_settings(min_face_size, thresholds, factor)
    pixels = _check_image(image)
    if model is None:
        model = _default_model()
    device = next(model.parameters()).device
    pixels = pixels.to(device)
    _, _, H, W = pixels.shape
    empty = Faces(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32))

    # Stage 1: P-Net over the pyramid
    boxes, scores, offsets, levels = [], [], [], []
    for level, scale in enumerate(_pyramid_scales(H, W, float(min_face_size), float(factor))):
        size = (int(math.ceil(H * scale)), int(math.ceil(W * scale)))
        prob, reg = model.pnet(_normalise(F.interpolate(pixels, size=size, mode="area")))
        rows, cols = torch.nonzero(prob[0] >= thresholds[0], as_tuple=True)
        corner = torch.stack([cols, rows], dim=1).to(pixels.dtype) * 2  # window's top-left, resized image
        boxes.append(torch.cat([corner, corner + 12], dim=1) / scale)  # (x1, y1, x2, y2), original image
        scores.append(prob[0, rows, cols])
        offsets.append(reg[0, :, rows, cols].T)
        levels.append(torch.full((len(rows),), level, dtype=torch.int64, device=device))
    if sum(len(b) for b in boxes) == 0:
        return empty
    boxes, scores, offsets, levels = (torch.cat(t) for t in (boxes, scores, offsets, levels))
    keep = batched_nms(boxes, scores, levels, 0.5)  # within each scale
    keep = keep[nms(boxes[keep], scores[keep], 0.7)]  # then across the scales
    boxes = _square(_regress(boxes[keep], offsets[keep]))

    # Stage 2: R-Net refines
    prob, reg = model.rnet(_normalise(_crops(pixels, boxes, 24)))
    passed = prob > thresholds[1]
    boxes, prob, reg = boxes[passed], prob[passed], reg[passed]
    if len(boxes) == 0:
        return empty
    keep = nms(boxes, prob, 0.7) if suppress else torch.arange(len(boxes), device=boxes.device)
    boxes = _square(_regress(boxes[keep], reg[keep]))

    # Stage 3: O-Net decides, with landmarks
    prob, reg, marks = model.onet(_normalise(_crops(pixels, boxes, 48)))
    passed = prob > thresholds[2]
    boxes, prob, reg, marks = boxes[passed], prob[passed], reg[passed], marks[passed]
    if len(boxes) == 0:
        return empty
    wh = boxes[:, 2:] - boxes[:, :2]
    landmarks = torch.stack([boxes[:, None, 0] + wh[:, None, 0] * marks[:, :5],
                             boxes[:, None, 1] + wh[:, None, 1] * marks[:, 5:]], dim=2)  # (K, 5, 2)
    boxes = _regress(boxes, reg)
    keep = nms(boxes, prob, 0.7) if suppress else torch.argsort(prob, descending=True, stable=True)
    return Faces(boxes[keep].cpu().numpy().astype(np.float32), prob[keep].cpu().numpy().astype(np.float32),
                 landmarks[keep].cpu().numpy().astype(np.float32))


_DEFAULT: dict[str, MTCNN] = {}


def _default_model() -> MTCNN:
    if "cpu" not in _DEFAULT:
        _DEFAULT["cpu"] = load_mtcnn()
    return _DEFAULT["cpu"]


def crop_faces(image, boxes, size=160, margin=0.0) -> np.ndarray:
    """Square crops of the detected faces, for an embedding network.

    image: as for ``detect_faces``; boxes: (K, 4) corners; size: output side in pixels;
    margin: extra border as a fraction of the box's side (0.2 adds 10 % on each side).
    -> (K, size, size, 3) float32 in [0, 1]; parts outside the image are black.
    """
    pixels = _check_image(image)
    boxes = torch.as_tensor(np.asarray(boxes, dtype=np.float32)).reshape(-1, 4)
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    if isinstance(margin, bool) or not isinstance(margin, numbers.Real) or not margin >= 0:
        raise ValueError(f"margin must be a number >= 0, got {margin!r}")
    squares = _square(boxes)
    grow = (squares[:, 2:] - squares[:, :2]) * (margin / 2)
    squares = torch.cat([squares[:, :2] - grow, squares[:, 2:] + grow], dim=1)
    crops = _crops(pixels, squares, int(size)) / 255
    return crops.permute(0, 2, 3, 1).numpy().astype(np.float32)
