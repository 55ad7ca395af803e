'''Topic-8 submissions (detection and YOLO): correct solutions, bugs and misbehaving code.

``CORRECT`` maps each exercise of ``solutions/08_detection_yolo`` to the source a careful
student would write, in notebook order. ``BUGS`` lists wrong or cheating submissions with the
hint the grader must give; ``breaks`` names the exercises whose checks fail (``nms`` calls the
student's ``iou``, so a wrong ``iou`` breaks both).

Exercise -> check -> test cell:

    iou                detection_yolo.iou                 test_iou
    yolo_target        detection_yolo.yolo_target         test_yolo_target
    decode_boxes       detection_yolo.decode_boxes        test_decode_boxes
    filter_boxes       detection_yolo.filter_boxes        test_filter_boxes
    nms                detection_yolo.nms                 test_nms
    yolo_loss          detection_yolo_torch.yolo_loss     test_yolo_loss
    average_precision  detection_yolo.average_precision   test_average_precision

None may use the course library (cnn_course.ref / cnn_course.pt) or SciPy; only yolo_loss
uses torch (torch.nn / torch.optim allowed, as in every PyTorch exercise).
'''

from __future__ import annotations

from . import Bug, replacer

CORRECT: dict[str, str] = {
    "iou": '''\
import numpy as np

def iou(boxes1, boxes2):
    a = boxes1[:, None, :]
    b = boxes2[None, :, :]
    width = np.maximum(0, np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]))
    height = np.maximum(0, np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]))
    inter = width * height
    area1 = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area2 = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area1 + area2 - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
''',
    "yolo_target": '''\
import numpy as np

def yolo_target(boxes, labels, image_size, grid_size, num_classes):
    H, W = image_size
    S = grid_size
    target = np.zeros((S, S, 5 + num_classes))
    for (x1, y1, x2, y2), label in zip(boxes, labels):
        u, v = (x1 + x2) / 2 * S / W, (y1 + y2) / 2 * S / H
        col, row = min(int(np.floor(u)), S - 1), min(int(np.floor(v)), S - 1)
        target[row, col, :5] = (1.0, u - col, v - row, (y2 - y1) / H, (x2 - x1) / W)
        target[row, col, 5 + int(label)] = 1.0
    return target
''',
    "decode_boxes": '''\
import numpy as np

def decode_boxes(pred, image_size):
    H, W = image_size
    S = pred.shape[0]
    rows, cols = np.meshgrid(np.arange(S), np.arange(S), indexing="ij")
    cx = (cols + pred[..., 1]) * W / S
    cy = (rows + pred[..., 2]) * H / S
    h, w = pred[..., 3] * H, pred[..., 4] * W
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)
''',
    "filter_boxes": '''\
import numpy as np

def filter_boxes(pc, class_probs, boxes, threshold):
    scores = pc * class_probs.max(axis=1)
    labels = class_probs.argmax(axis=1)
    keep = scores > threshold
    return boxes[keep], scores[keep], labels[keep]
''',
    "nms": '''\
import numpy as np

def nms(boxes, scores, iou_threshold, labels=None):
    order = list(np.argsort(-scores, kind="stable"))
    keep = []
    while order:
        best = order.pop(0)
        keep.append(best)
        if not order:
            break
        rest = np.array(order)
        over = iou(boxes[best][None], boxes[rest])[0] > iou_threshold
        if labels is not None:
            over &= labels[rest] == labels[best]
        order = [int(j) for j, drop in zip(rest, over) if not drop]
    return np.array(keep, dtype=np.int64)
''',
    "yolo_loss": '''\
import torch

def yolo_loss(raw, target, anchors, lambda_coord=5.0, lambda_noobj=0.5):
    N = raw.shape[0]
    B = anchors.shape[0]
    t = raw.reshape(*raw.shape[:-1], B, -1)
    y = target.reshape(t.shape)
    obj = y[..., 0]
    noobj = 1 - obj
    pc = torch.sigmoid(t[..., 0])
    bxy = torch.sigmoid(t[..., 1:3])
    bhw = anchors * torch.exp(t[..., 3:5])
    probs = torch.softmax(t[..., 5:], dim=-1)
    coord = ((bxy - y[..., 1:3]) ** 2).sum(-1) + ((torch.sqrt(bhw) - torch.sqrt(y[..., 3:5])) ** 2).sum(-1)
    classes = ((probs - y[..., 5:]) ** 2).sum(-1)
    loss = (lambda_coord * (obj * coord).sum() + (obj * (pc - 1) ** 2).sum()
            + lambda_noobj * (noobj * pc ** 2).sum() + (obj * classes).sum())
    return loss / N
''',
    "average_precision": '''\
import numpy as np

def average_precision(scores, is_tp, n_gt):
    order = np.argsort(-np.asarray(scores), kind="stable")
    tp = np.asarray(is_tp, dtype=bool)[order]
    if len(tp) == 0:
        return 0.0
    true_pos = np.cumsum(tp)
    recall = true_pos / n_gt
    precision = true_pos / np.arange(1, len(tp) + 1)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    total = 0.0
    for r in np.linspace(0, 1, 101):
        k = np.searchsorted(recall, r, side="left")
        total += envelope[k] if k < len(tp) else 0.0
    return float(total / 101)
''',
}

_replace = replacer(CORRECT)
_IOU = frozenset({"iou", "nms"})  # nms calls the student's iou
_T = frozenset({"yolo_target"})
_D = frozenset({"decode_boxes"})
_F = frozenset({"filter_boxes"})
_N = frozenset({"nms"})
_AP = frozenset({"average_precision"})
_L = frozenset({"yolo_loss"})

BUGS: list[Bug] = [
    # ------------------------------------------------------------------ iou
    Bug("iou_no_clamp", "iou",
        _replace("iou", "width = np.maximum(0, np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]))",
                 "width = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0])")
        .replace("height = np.maximum(0, np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]))",
                 "height = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1])"),
        _IOU, "clamp the intersection"),
    Bug("iou_union_no_subtract", "iou", _replace("iou", "union = area1 + area2 - inter", "union = area1 + area2"),
        _IOU, "counts the intersection twice"),
    Bug("iou_xy_mixed", "iou",
        _replace("iou", "np.maximum(a[..., 1], b[..., 1]))", "np.maximum(a[..., 0], b[..., 0]))"),
        _IOU, "mixes x and y"),
    Bug("iou_reads_xxyy", "iou", _replace("iou", "    a = boxes1[:, None, :]\n    b = boxes2[None, :, :]\n",
                                          "    a = boxes1[:, None, [0, 2, 1, 3]]\n    b = boxes2[None, :, [0, 2, 1, 3]]\n"),
        _IOU, "(x1, x2, y1, y2)"),
    Bug("iou_plus_one", "iou",
        _replace("iou", "width = np.maximum(0, np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]))",
                 "width = np.maximum(0, np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + 1)")
        .replace("height = np.maximum(0, np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]))",
                 "height = np.maximum(0, np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + 1)")
        .replace("area1 = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])",
                 "area1 = (a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)")
        .replace("area2 = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])",
                 "area2 = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)"),
        _IOU, "add 1 pixel"),
    Bug("iou_calls_library", "iou",
        "from cnn_course.ref.boxes import box_iou\n\ndef iou(boxes1, boxes2):\n    return box_iou(boxes1, boxes2)\n",
        _IOU, "cnn_course.ref"),
    # ------------------------------------------------------------------ yolo_target
    Bug("target_sizes_in_cells", "yolo_target",
        _replace("yolo_target", "(y2 - y1) / H, (x2 - x1) / W)", "(y2 - y1) * S / H, (x2 - x1) * S / W)"),
        _T, "measured in cells"),
    Bug("target_row_col_swapped", "yolo_target",
        _replace("yolo_target", "target[row, col, :5]", "target[col, row, :5]")
        .replace("target[row, col, 5 + int(label)]", "target[col, row, 5 + int(label)]"),
        _T, "target[col, row]"),
    Bug("target_round_cell", "yolo_target",
        _replace("yolo_target", "col, row = min(int(np.floor(u)), S - 1), min(int(np.floor(v)), S - 1)",
                 "col, row = min(int(round(u)), S - 1), min(int(round(v)), S - 1)"),
        _T, "floor(u), not round(u)"),
    Bug("target_border_left", "yolo_target",
        _replace("yolo_target", "col, row = min(int(np.floor(u)), S - 1), min(int(np.floor(v)), S - 1)",
                 "col, row = max(int(np.ceil(u)) - 1, 0), max(int(np.ceil(v)) - 1, 0)"),
        _T, "belongs to the right (lower) cell"),
    Bug("target_no_edge_cap", "yolo_target",
        _replace("yolo_target", "col, row = min(int(np.floor(u)), S - 1), min(int(np.floor(v)), S - 1)",
                 "col, row = int(np.floor(u)), int(np.floor(v))"),
        _T, "cap the cell at S - 1"),
    Bug("target_offset_in_image", "yolo_target",
        _replace("yolo_target", "(1.0, u - col, v - row,", "(1.0, u / S, v / S,"), _T, "relative to the image"),
    Bug("target_w_for_h", "yolo_target", _replace("yolo_target", "H, W = image_size", "W, H = image_size"),
        _T, "non-square image"),
    # ------------------------------------------------------------------ decode_boxes
    Bug("decode_no_offset", "decode_boxes",
        _replace("decode_boxes", "cx = (cols + pred[..., 1]) * W / S", "cx = pred[..., 1] * W / S")
        .replace("cy = (rows + pred[..., 2]) * H / S", "cy = pred[..., 2] * H / S"),
        _D, "top-left cell"),
    Bug("decode_sizes_in_cells", "decode_boxes",
        _replace("decode_boxes", "h, w = pred[..., 3] * H, pred[..., 4] * W", "h, w = pred[..., 3] * H / S, pred[..., 4] * W / S"),
        _D, "S times too small"),
    Bug("decode_meshgrid_xy", "decode_boxes", _replace("decode_boxes", 'indexing="ij"', 'indexing="xy"'),
        _D, "row and column are swapped"),
    Bug("decode_full_width", "decode_boxes",
        _replace("decode_boxes", "[cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]", "[cx - w, cy - h, cx + w, cy + h]"),
        _D, "full width"),
    # ------------------------------------------------------------------ filter_boxes
    Bug("filter_pc_only", "filter_boxes", _replace("filter_boxes", "scores = pc * class_probs.max(axis=1)", "scores = pc"),
        _F, "pc alone"),
    Bug("filter_ge", "filter_boxes", _replace("filter_boxes", "keep = scores > threshold", "keep = scores >= threshold"),
        _F, "strictly greater"),
    # ------------------------------------------------------------------ nms
    Bug("nms_not_sorted", "nms", _replace("nms", 'order = list(np.argsort(-scores, kind="stable"))',
                                          "order = list(range(len(scores)))"),
        _N, "input order"),
    Bug("nms_across_classes", "nms", _replace("nms", "        if labels is not None:\n            over &= labels[rest] == labels[best]\n", ""),
        _N, "different classes"),
    Bug("nms_ge", "nms", _replace("nms", "[0] > iou_threshold", "[0] >= iou_threshold"), _N, "strictly greater"),
    Bug("nms_index_order", "nms", _replace("nms", "return np.array(keep, dtype=np.int64)",
                                           "return np.sort(np.array(keep, dtype=np.int64))"),
        _N, "index order"),
    Bug("nms_calls_library", "nms",
        "from cnn_course.ref import boxes as library\n\n"
        "def nms(boxes, scores, iou_threshold, labels=None):\n"
        "    if labels is None:\n        return library.nms(boxes, scores, iou_threshold)\n"
        "    return library.batched_nms(boxes, scores, labels, iou_threshold)\n",
        _N, "cnn_course.ref"),
    # ------------------------------------------------------------------ yolo_loss (PyTorch)
    Bug("loss_noobj_everywhere", "yolo_loss",
        _replace("yolo_loss", "lambda_noobj * (noobj * pc ** 2).sum()", "lambda_noobj * (pc ** 2).sum()"),
        _L, "runs over every slot, the responsible ones included"),
    Bug("loss_no_sqrt", "yolo_loss",
        _replace("yolo_loss", "((torch.sqrt(bhw) - torch.sqrt(y[..., 3:5])) ** 2)", "((bhw - y[..., 3:5]) ** 2)"),
        _L, "square roots"),
    Bug("loss_no_anchor", "yolo_loss", _replace("yolo_loss", "bhw = anchors * torch.exp(t[..., 3:5])",
                                                "bhw = torch.exp(t[..., 3:5])"),
        _L, "ignore the anchors"),
    Bug("loss_sigmoid_classes", "yolo_loss", _replace("yolo_loss", "probs = torch.softmax(t[..., 5:], dim=-1)",
                                                      "probs = torch.sigmoid(t[..., 5:])"),
        _L, "softmax over the C"),
    Bug("loss_class_everywhere", "yolo_loss", _replace("yolo_loss", "(obj * classes).sum()", "classes.sum()"),
        _L, "class term runs over every slot"),
    Bug("loss_no_mean", "yolo_loss", _replace("yolo_loss", "return loss / N", "return loss"), _L, "divide by N"),
    Bug("loss_returns_float", "yolo_loss", _replace("yolo_loss", "return loss / N", "return (loss / N).item()"),
        _L, "loss.backward()"),
    Bug("loss_detached", "yolo_loss", _replace("yolo_loss", "return loss / N", "return torch.tensor((loss / N).item())"),
        _L, "no gradient reaches raw"),
    Bug("loss_calls_library", "yolo_loss",
        "from cnn_course.pt import yolo as library\n\n"
        "def yolo_loss(raw, target, anchors, lambda_coord=5.0, lambda_noobj=0.5):\n"
        "    C = raw.shape[-1] // anchors.shape[0] - 5\n"
        "    return library.yolo_loss(raw, target, C, anchors, lambda_coord, lambda_noobj)\n",
        _L, "cnn_course.pt"),
    # ------------------------------------------------------------------ average_precision
    Bug("ap_no_envelope", "average_precision",
        _replace("average_precision", "envelope = np.maximum.accumulate(precision[::-1])[::-1]", "envelope = precision"),
        _AP, "monotone envelope"),
    Bug("ap_recall_over_detections", "average_precision",
        _replace("average_precision", "recall = true_pos / n_gt", "recall = true_pos / len(tp)"),
        _AP, "number of detections"),
    Bug("ap_not_sorted", "average_precision",
        _replace("average_precision", 'order = np.argsort(-np.asarray(scores), kind="stable")', "order = np.arange(len(scores))"),
        _AP, "input order"),
    Bug("ap_eleven_points", "average_precision",
        _replace("average_precision", "np.linspace(0, 1, 101)", "np.linspace(0, 1, 11)")
        .replace("total / 101", "total / 11"),
        _AP, "11 recall levels"),
]

# Graded end to end through nbgrader by default (the checks themselves are tested bug by bug
# in test_grading_detection_yolo.py): the mistakes the issue names.
PIPELINE_BUGS: list[str] = [
    "iou_no_clamp",
    "iou_union_no_subtract",
    "iou_xy_mixed",
    "target_border_left",
    "target_sizes_in_cells",
    "filter_ge",
    "nms_not_sorted",
    "nms_across_classes",
    "nms_ge",
    "ap_no_envelope",
    "ap_recall_over_detections",
    "loss_noobj_everywhere",
]

# name -> ({answer cell grade_id: source}, the test cells that must score 0); the rest keeps full marks.
MISBEHAVING: dict[str, tuple[dict[str, str], set[str]]] = {
    # Kills the kernel while the answer cell runs: filter_boxes is never defined; nothing else grades it.
    "detection_kernel_crash": (
        {"filter_boxes": "import os\nos._exit(1)\n\ndef filter_boxes(pc, class_probs, boxes, threshold):\n    pass"},
        {"test_filter_boxes"},
    ),
}

# The bug whose feedback page the pipeline inspects.
FEEDBACK_BUG = "nms_across_classes"

# A second, self-consistent correct set: loops, a suppression mask, math.floor, a searchsorted-free AP.
ALTERNATIVE: dict[str, str] = {
    "iou": '''\
import numpy as np

def iou(boxes1, boxes2):
    out = np.zeros((len(boxes1), len(boxes2)))
    for i, (ax1, ay1, ax2, ay2) in enumerate(boxes1):
        for j, (bx1, by1, bx2, by2) in enumerate(boxes2):
            w = max(0.0, min(ax2, bx2) - max(ax1, bx1))
            h = max(0.0, min(ay2, by2) - max(ay1, by1))
            inter = w * h
            union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
            out[i, j] = inter / union if union > 0 else 0.0
    return out
''',
    "yolo_target": '''\
import math
import numpy as np

def yolo_target(boxes, labels, image_size, grid_size, num_classes):
    H, W = image_size
    S = grid_size
    target = np.zeros((S, S, 5 + num_classes))
    cell_h, cell_w = H / S, W / S
    for box, label in zip(boxes, labels):
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        col = min(math.floor(cx / cell_w), S - 1)
        row = min(math.floor(cy / cell_h), S - 1)
        target[row, col, 0] = 1
        target[row, col, 1] = cx / cell_w - col
        target[row, col, 2] = cy / cell_h - row
        target[row, col, 3] = (box[3] - box[1]) / H
        target[row, col, 4] = (box[2] - box[0]) / W
        target[row, col, 5 + label] = 1
    return target
''',
    "decode_boxes": '''\
import numpy as np

def decode_boxes(pred, image_size):
    H, W = image_size
    S = pred.shape[0]
    out = np.zeros((S, S, 4))
    for r in range(S):
        for c in range(S):
            _, bx, by, bh, bw = pred[r, c, :5]
            cx, cy = (c + bx) * W / S, (r + by) * H / S
            out[r, c] = (cx - bw * W / 2, cy - bh * H / 2, cx + bw * W / 2, cy + bh * H / 2)
    return out
''',
    "filter_boxes": '''\
import numpy as np

def filter_boxes(pc, class_probs, boxes, threshold):
    box_scores = pc[:, None] * class_probs
    labels = np.argmax(box_scores, axis=-1)
    scores = np.max(box_scores, axis=-1)
    mask = scores > threshold
    return boxes[mask], scores[mask], labels[mask]
''',
    "nms": '''\
import numpy as np

def nms(boxes, scores, iou_threshold, labels=None):
    order = np.argsort(-scores, kind="stable")
    alive = np.ones(len(boxes), dtype=bool)
    keep = []
    for i in order:
        if not alive[i]:
            continue
        keep.append(i)
        same = np.ones(len(boxes), dtype=bool) if labels is None else labels == labels[i]
        overlap = iou(boxes[i:i + 1], boxes)[0] > iou_threshold
        alive &= ~(overlap & same)
    return np.array(keep, dtype=int)
''',
    "average_precision": '''\
import numpy as np

def average_precision(scores, is_tp, n_gt):
    order = sorted(range(len(scores)), key=lambda k: -scores[k])
    tp = fp = 0
    recall, precision = [], []
    for k in order:
        if is_tp[k]:
            tp += 1
        else:
            fp += 1
        recall.append(tp / n_gt)
        precision.append(tp / (tp + fp))
    total = 0.0
    for r in np.linspace(0, 1, 101):
        reached = [p for rec, p in zip(recall, precision) if rec >= r]
        total += max(reached) if reached else 0.0
    return total / 101
''',
}
