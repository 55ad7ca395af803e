'''Topic-9 submissions (the R-CNN family): correct solutions, bugs and misbehaving code.

``CORRECT`` maps each exercise of ``solutions/09_rcnn`` to the source a careful student would
write, in notebook order. ``BUGS`` lists wrong or cheating submissions with the hint the grader
must give; ``breaks`` names the exercises whose checks fail (decode's check also runs the
student's encode, so a broken encode breaks decode's round trip).

Exercise -> check -> test cell:

    encode_boxes       rcnn.encode_boxes                      test_encode_boxes
    decode_boxes       rcnn.decode_boxes(func, encode_boxes)  test_decode_boxes
    roi_pool           rcnn.roi_pool                          test_roi_pool
    label_anchors      rcnn.label_anchors                     test_label_anchors
    RPNHead            rcnn_torch.rpn_head                    test_RPNHead
    select_proposals   rcnn.select_proposals                  test_select_proposals
    bilinear_sample    rcnn.bilinear_sample                   test_bilinear_sample

The NumPy exercises may not use the course library, torch or SciPy; the nn.Module may use
torch.nn but not the course's ready-made detector (``cnn_course.pt``).
'''

from __future__ import annotations

from . import Bug, replacer

CORRECT: dict[str, str] = {
    "encode_boxes": '''\
import numpy as np

def encode_boxes(proposals, gt, weights=(1.0, 1.0, 1.0, 1.0)):
    wx, wy, ww, wh = weights
    pw = proposals[:, 2] - proposals[:, 0]
    ph = proposals[:, 3] - proposals[:, 1]
    px = proposals[:, 0] + 0.5 * pw
    py = proposals[:, 1] + 0.5 * ph
    gw = gt[:, 2] - gt[:, 0]
    gh = gt[:, 3] - gt[:, 1]
    gx = gt[:, 0] + 0.5 * gw
    gy = gt[:, 1] + 0.5 * gh
    return np.stack([wx * (gx - px) / pw, wy * (gy - py) / ph, ww * np.log(gw / pw), wh * np.log(gh / ph)], axis=1)
''',
    "decode_boxes": '''\
import numpy as np

def decode_boxes(proposals, deltas, weights=(1.0, 1.0, 1.0, 1.0)):
    wx, wy, ww, wh = weights
    pw = proposals[:, 2] - proposals[:, 0]
    ph = proposals[:, 3] - proposals[:, 1]
    px = proposals[:, 0] + 0.5 * pw
    py = proposals[:, 1] + 0.5 * ph
    cx = px + deltas[:, 0] / wx * pw
    cy = py + deltas[:, 1] / wy * ph
    w = pw * np.exp(deltas[:, 2] / ww)
    h = ph * np.exp(deltas[:, 3] / wh)
    return np.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], axis=1)
''',
    "roi_pool": '''\
import math
import numpy as np

def roi_pool(features, rois, output_size, spatial_scale):
    N, C, H, W = features.shape
    oh, ow = output_size
    out = np.zeros((len(rois), C, oh, ow), dtype=features.dtype)
    for k, (b, x1, y1, x2, y2) in enumerate(rois):
        x1, y1, x2, y2 = (int(np.floor(v * spatial_scale + 0.5)) for v in (x1, y1, x2, y2))
        w = max(x2 - x1 + 1, 1)
        h = max(y2 - y1 + 1, 1)
        for i in range(oh):
            hs = min(max(y1 + math.floor(i * h / oh), 0), H)
            he = min(max(y1 + math.ceil((i + 1) * h / oh), 0), H)
            for j in range(ow):
                ws = min(max(x1 + math.floor(j * w / ow), 0), W)
                we = min(max(x1 + math.ceil((j + 1) * w / ow), 0), W)
                if he > hs and we > ws:
                    out[k, :, i, j] = features[int(b), :, hs:he, ws:we].max(axis=(1, 2))
    return out
''',
    "label_anchors": '''\
import numpy as np

def label_anchors(anchors, gt_boxes, pos_iou=0.7, neg_iou=0.3):
    A, G = len(anchors), len(gt_boxes)
    if G == 0:
        return np.zeros(A, dtype=np.int64)
    a = anchors[:, None, :]
    g = gt_boxes[None, :, :]
    iw = np.maximum(0, np.minimum(a[..., 2], g[..., 2]) - np.maximum(a[..., 0], g[..., 0]))
    ih = np.maximum(0, np.minimum(a[..., 3], g[..., 3]) - np.maximum(a[..., 1], g[..., 1]))
    inter = iw * ih
    union = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1]) + (g[..., 2] - g[..., 0]) * (g[..., 3] - g[..., 1]) - inter
    iou = inter / union
    best = iou.max(axis=1)
    labels = np.full(A, -1, dtype=np.int64)
    labels[best < neg_iou] = 0
    labels[best >= pos_iou] = 1
    top = iou.max(axis=0)
    best_match = ((iou == top) & (top > 0)).any(axis=1)
    labels[best_match] = 1
    return labels
''',
    "RPNHead": '''\
import torch
from torch import nn

class RPNHead(nn.Module):
    def __init__(self, in_channels, num_anchors):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, in_channels, 3, padding=1)
        self.cls = nn.Conv2d(in_channels, num_anchors, 1)
        self.bbox = nn.Conv2d(in_channels, 4 * num_anchors, 1)
        self.num_anchors = num_anchors

    def forward(self, x):
        t = torch.relu(self.conv(x))
        N, _, H, W = t.shape
        objectness = self.cls(t).permute(0, 2, 3, 1).reshape(N, -1)
        deltas = self.bbox(t).view(N, self.num_anchors, 4, H, W).permute(0, 3, 4, 1, 2).reshape(N, -1, 4)
        return objectness, deltas
''',
    "select_proposals": '''\
import numpy as np

def select_proposals(boxes, scores, image_size, pre_nms_top_n, post_nms_top_n, iou_threshold, min_size):
    H, W = image_size
    boxes = np.clip(boxes, 0, [W, H, W, H])
    big = (boxes[:, 2] - boxes[:, 0] >= min_size) & (boxes[:, 3] - boxes[:, 1] >= min_size)
    idx = np.flatnonzero(big)
    idx = idx[np.argsort(-scores[idx], kind="stable")][:pre_nms_top_n]
    keep = []
    while len(idx) > 0 and len(keep) < post_nms_top_n:
        best, idx = idx[0], idx[1:]
        keep.append(best)
        b = boxes[best]
        iw = np.maximum(0, np.minimum(b[2], boxes[idx, 2]) - np.maximum(b[0], boxes[idx, 0]))
        ih = np.maximum(0, np.minimum(b[3], boxes[idx, 3]) - np.maximum(b[1], boxes[idx, 1]))
        inter = iw * ih
        union = (b[2] - b[0]) * (b[3] - b[1]) + (boxes[idx, 2] - boxes[idx, 0]) * (boxes[idx, 3] - boxes[idx, 1]) - inter
        idx = idx[inter <= iou_threshold * union]
    keep = np.array(keep, dtype=np.int64)
    return boxes[keep], scores[keep]
''',
    "bilinear_sample": '''\
import numpy as np

def bilinear_sample(feature, points):
    C, H, W = feature.shape
    out = np.zeros((C, len(points)), dtype=feature.dtype)
    for p, (y, x) in enumerate(points):
        if y < -1 or y > H or x < -1 or x > W:
            continue
        y, x = max(y, 0.0), max(x, 0.0)
        y0, x0 = int(np.floor(y)), int(np.floor(x))
        if y0 >= H - 1:
            y0 = y1 = H - 1
            y = float(y0)
        else:
            y1 = y0 + 1
        if x0 >= W - 1:
            x0 = x1 = W - 1
            x = float(x0)
        else:
            x1 = x0 + 1
        ly, lx = y - y0, x - x0
        hy, hx = 1 - ly, 1 - lx
        out[:, p] = (hy * hx * feature[:, y0, x0] + hy * lx * feature[:, y0, x1]
                     + ly * hx * feature[:, y1, x0] + ly * lx * feature[:, y1, x1])
    return out
''',
}

_replace = replacer(CORRECT)

_POOL = frozenset({"roi_pool"})
_BIL = frozenset({"bilinear_sample"})
_ENC = frozenset({"encode_boxes", "decode_boxes"})  # decode's round trip runs the student's encode
_DEC = frozenset({"decode_boxes"})
_LAB = frozenset({"label_anchors"})
_PROP = frozenset({"select_proposals"})
_RPN = frozenset({"RPNHead"})

BUGS: list[Bug] = [
    # ------------------------------------------------------------------ roi_pool
    Bug("pool_floor_corners", "roi_pool",
        _replace("roi_pool", "int(np.floor(v * spatial_scale + 0.5))", "int(v * spatial_scale)"),
        _POOL, "rounded down"),
    Bug("pool_banker_rounding", "roi_pool",
        _replace("roi_pool", "int(np.floor(v * spatial_scale + 0.5))", "int(np.round(v * spatial_scale))"),
        _POOL, "np.round"),
    Bug("pool_ignores_scale", "roi_pool",
        _replace("roi_pool", "int(np.floor(v * spatial_scale + 0.5))", "int(np.floor(v + 0.5))"),
        _POOL, "spatial_scale"),
    Bug("pool_no_plus_one", "roi_pool",
        _replace("roi_pool", "w = max(x2 - x1 + 1, 1)", "w = max(x2 - x1, 1)").replace("h = max(y2 - y1 + 1, 1)",
                                                                                      "h = max(y2 - y1, 1)"),
        _POOL, "inclusive"),
    Bug("pool_floor_bin_ends", "roi_pool",
        _replace("roi_pool", "math.ceil((i + 1) * h / oh)", "math.floor((i + 1) * h / oh)")
        .replace("math.ceil((j + 1) * w / ow)", "math.floor((j + 1) * w / ow)"),
        _POOL, "rounded UP"),
    Bug("pool_average", "roi_pool",
        _replace("roi_pool", "hs:he, ws:we].max(axis=(1, 2))", "hs:he, ws:we].mean(axis=(1, 2))"),
        _POOL, "MAXIMUM"),
    Bug("pool_xy_swapped", "roi_pool",
        _replace("roi_pool", "for k, (b, x1, y1, x2, y2) in enumerate(rois):", "for k, (b, y1, x1, y2, x2) in enumerate(rois):"),
        _POOL, "x and y are mixed up"),
    Bug("pool_first_image", "roi_pool",
        _replace("roi_pool", "features[int(b), :, hs:he, ws:we]", "features[0, :, hs:he, ws:we]"),
        _POOL, "which image"),
    Bug("pool_calls_library", "roi_pool",
        "from cnn_course.ref.rcnn import roi_pool as ready\n\n"
        "def roi_pool(features, rois, output_size, spatial_scale):\n"
        "    return ready(features, rois, output_size, spatial_scale)\n", _POOL, "cnn_course.ref"),
    # ------------------------------------------------------------------ bilinear_sample
    Bug("bil_weights_swapped", "bilinear_sample",
        _replace("bilinear_sample", "hy, hx = 1 - ly, 1 - lx", "hy, hx, ly, lx = ly, lx, 1 - ly, 1 - lx"),
        _BIL, "your weights are swapped"),
    Bug("bil_xy_swapped", "bilinear_sample",
        _replace("bilinear_sample", "for p, (y, x) in enumerate(points):", "for p, (x, y) in enumerate(points):"),
        _BIL, "x and y are mixed up"),
    Bug("bil_nearest", "bilinear_sample",
        _replace("bilinear_sample", '''        out[:, p] = (hy * hx * feature[:, y0, x0] + hy * lx * feature[:, y0, x1]
                     + ly * hx * feature[:, y1, x0] + ly * lx * feature[:, y1, x1])''',
                 "        out[:, p] = feature[:, y1 if ly >= 0.5 else y0, x1 if lx >= 0.5 else x0]"),
        _BIL, "nearest pixel"),
    Bug("bil_no_zero_outside", "bilinear_sample",
        _replace("bilinear_sample", "        if y < -1 or y > H or x < -1 or x > W:\n            continue\n", ""),
        _BIL, "must give 0"),
    Bug("bil_no_last_row_rule", "bilinear_sample",
        _replace("bilinear_sample", '''        if y0 >= H - 1:
            y0 = y1 = H - 1
            y = float(y0)
        else:
            y1 = y0 + 1
        if x0 >= W - 1:
            x0 = x1 = W - 1
            x = float(x0)
        else:
            x1 = x0 + 1''', "        y1, x1 = y0 + 1, x0 + 1"),
        _BIL, "the last row"),
    Bug("bil_uses_torch", "bilinear_sample",
        "import numpy as np\nimport torch\n\ndef bilinear_sample(feature, points):\n"
        "    C, H, W = feature.shape\n"
        "    g = torch.tensor(points[:, ::-1].copy())\n"
        "    g = torch.stack([(g[:, 0] + 0.5) / W * 2 - 1, (g[:, 1] + 0.5) / H * 2 - 1], dim=1)\n"
        "    out = torch.nn.functional.grid_sample(torch.tensor(feature)[None], g[None, None].to(torch.tensor(feature).dtype),"
        " align_corners=False)\n    return out[0, :, 0].numpy()\n", _BIL, "torch"),
    # ------------------------------------------------------------------ encode_boxes
    Bug("enc_plus_one", "encode_boxes",
        _replace("encode_boxes", "pw = proposals[:, 2] - proposals[:, 0]\n", "pw = proposals[:, 2] - proposals[:, 0] + 1\n")
        .replace("ph = proposals[:, 3] - proposals[:, 1]\n", "ph = proposals[:, 3] - proposals[:, 1] + 1\n")
        .replace("gw = gt[:, 2] - gt[:, 0]\n", "gw = gt[:, 2] - gt[:, 0] + 1\n")
        .replace("gh = gt[:, 3] - gt[:, 1]\n", "gh = gt[:, 3] - gt[:, 1] + 1\n"),
        _ENC, "x2 - x1 + 1"),
    Bug("enc_no_log", "encode_boxes",
        _replace("encode_boxes", "ww * np.log(gw / pw), wh * np.log(gh / ph)", "ww * gw / pw, wh * gh / ph"),
        _ENC, "logarithm"),
    Bug("enc_divides_by_gt", "encode_boxes",
        _replace("encode_boxes", "wx * (gx - px) / pw, wy * (gy - py) / ph", "wx * (gx - px) / gw, wy * (gy - py) / gh"),
        _ENC, "PROPOSAL's"),
    Bug("enc_corners", "encode_boxes",
        _replace("encode_boxes", "wx * (gx - px) / pw, wy * (gy - py) / ph",
                 "wx * (gt[:, 0] - proposals[:, 0]) / pw, wy * (gt[:, 1] - proposals[:, 1]) / ph"),
        _ENC, "CENTRES"),
    Bug("enc_no_weights", "encode_boxes",
        _replace("encode_boxes", "[wx * (gx - px) / pw, wy * (gy - py) / ph, ww * np.log(gw / pw), wh * np.log(gh / ph)]",
                 "[(gx - px) / pw, (gy - py) / ph, np.log(gw / pw), np.log(gh / ph)]"),
        _ENC, "ignore the weights"),
    Bug("enc_calls_library", "encode_boxes",
        "from cnn_course.ref import rcnn\n\ndef encode_boxes(proposals, gt, weights=(1.0, 1.0, 1.0, 1.0)):\n"
        "    return rcnn.encode_boxes(proposals, gt, weights)\n", _ENC, "cnn_course.ref"),
    # ------------------------------------------------------------------ decode_boxes
    Bug("dec_no_exp", "decode_boxes",
        _replace("decode_boxes", "w = pw * np.exp(deltas[:, 2] / ww)", "w = pw * (deltas[:, 2] / ww)")
        .replace("h = ph * np.exp(deltas[:, 3] / wh)", "h = ph * (deltas[:, 3] / wh)"),
        _DEC, "exp"),
    Bug("dec_times_weights", "decode_boxes",
        _replace("decode_boxes", "deltas[:, 0] / wx", "deltas[:, 0] * wx").replace("deltas[:, 1] / wy", "deltas[:, 1] * wy")
        .replace("deltas[:, 2] / ww", "deltas[:, 2] * ww").replace("deltas[:, 3] / wh", "deltas[:, 3] * wh"),
        _DEC, "DIVIDES"),
    Bug("dec_centre_size", "decode_boxes",
        _replace("decode_boxes", "np.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], axis=1)",
                 "np.stack([cx, cy, w, h], axis=1)"),
        _DEC, "(cx, cy, w, h)"),
    Bug("dec_full_width", "decode_boxes",
        _replace("decode_boxes", "np.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], axis=1)",
                 "np.stack([cx - w, cy - h, cx + w, cy + h], axis=1)"),
        _DEC, "w/2 on each side"),
    Bug("dec_not_inverse", "decode_boxes",
        _replace("decode_boxes", "cx = px + deltas[:, 0] / wx * pw", "cx = proposals[:, 0] + deltas[:, 0] / wx * pw")
        .replace("cy = py + deltas[:, 1] / wy * ph", "cy = proposals[:, 1] + deltas[:, 1] / wy * ph"),
        _DEC, "CENTRE"),
    Bug("dec_calls_torch", "decode_boxes",
        "import torch\nfrom cnn_course.pt.rcnn import decode_boxes as ready\n\n"
        "def decode_boxes(proposals, deltas, weights=(1.0, 1.0, 1.0, 1.0)):\n"
        "    return ready(torch.tensor(proposals), torch.tensor(deltas), weights).numpy()\n", _DEC, "cnn_course.pt"),
    # ------------------------------------------------------------------ label_anchors
    Bug("lab_no_best_match", "label_anchors",
        _replace("label_anchors", "    labels[best_match] = 1\n", ""),
        _LAB, "left without a positive anchor"),
    Bug("lab_best_match_argmax", "label_anchors",
        _replace("label_anchors", "best_match = ((iou == top) & (top > 0)).any(axis=1)",
                 "best_match = np.zeros(A, dtype=bool)\n    best_match[iou.argmax(axis=0)[top > 0]] = True"),
        _LAB, "all of them become positive"),
    Bug("lab_best_match_zero", "label_anchors",
        _replace("label_anchors", "best_match = ((iou == top) & (top > 0)).any(axis=1)",
                 "best_match = (iou == top).any(axis=1)"),
        _LAB, "overlaps nothing"),
    Bug("lab_le_neg", "label_anchors",
        _replace("label_anchors", "labels[best < neg_iou] = 0", "labels[best <= neg_iou] = 0"),
        _LAB, "strictly below"),
    Bug("lab_swapped", "label_anchors",
        _replace("label_anchors", "labels = np.full(A, -1, dtype=np.int64)\n    labels[best < neg_iou] = 0",
                 "labels = np.full(A, 0, dtype=np.int64)\n    labels[best < neg_iou] = -1"),
        _LAB, "swapped"),
    Bug("lab_first_gt_only", "label_anchors",
        _replace("label_anchors", "best = iou.max(axis=1)", "best = iou[:, 0]"),
        _LAB, "ALL ground-truth boxes"),
    Bug("lab_calls_library", "label_anchors",
        "from cnn_course.ref.rcnn import label_anchors as ready\n\n"
        "def label_anchors(anchors, gt_boxes, pos_iou=0.7, neg_iou=0.3):\n"
        "    return ready(anchors, gt_boxes, pos_iou, neg_iou)\n", _LAB, "cnn_course.ref"),
    # ------------------------------------------------------------------ select_proposals
    Bug("prop_nms_not_sorted", "select_proposals",
        _replace("select_proposals", "idx = idx[np.argsort(-scores[idx], kind=\"stable\")][:pre_nms_top_n]",
                 "idx = np.sort(idx[np.argsort(-scores[idx], kind=\"stable\")][:pre_nms_top_n])"),
        _PROP, "input order"),
    Bug("prop_unstable_sort", "select_proposals",
        _replace("select_proposals", "idx = idx[np.argsort(-scores[idx], kind=\"stable\")][:pre_nms_top_n]",
                 "idx = idx[np.argsort(-scores[idx])][:pre_nms_top_n]"),
        _PROP, "stable sort"),
    Bug("prop_no_clip", "select_proposals",
        _replace("select_proposals", "    boxes = np.clip(boxes, 0, [W, H, W, H])\n", ""),
        _PROP, "not clipped"),
    Bug("prop_clip_hw_swapped", "select_proposals",
        _replace("select_proposals", "np.clip(boxes, 0, [W, H, W, H])", "np.clip(boxes, 0, [H, W, H, W])"),
        _PROP, "height and width"),
    Bug("prop_top_after_nms_first", "select_proposals",
        _replace("select_proposals", "[:pre_nms_top_n]", "[:post_nms_top_n]"),
        _PROP, "BEFORE the NMS"),
    Bug("prop_nms_ge", "select_proposals",
        _replace("select_proposals", "idx = idx[inter <= iou_threshold * union]", "idx = idx[inter < iou_threshold * union]"),
        _PROP, "equals iou_threshold"),
    Bug("prop_keeps_small", "select_proposals",
        _replace("select_proposals", "idx = np.flatnonzero(big)", "idx = np.arange(len(boxes))"),
        _PROP, "min_size"),
    Bug("prop_calls_library", "select_proposals",
        "import numpy as np\nfrom cnn_course.ref.boxes import nms\n\n"
        "def select_proposals(boxes, scores, image_size, pre_nms_top_n, post_nms_top_n, iou_threshold, min_size):\n"
        "    H, W = image_size\n    boxes = np.clip(boxes, 0, [W, H, W, H])\n"
        "    big = (boxes[:, 2] - boxes[:, 0] >= min_size) & (boxes[:, 3] - boxes[:, 1] >= min_size)\n"
        "    idx = np.flatnonzero(big)\n"
        "    idx = idx[np.argsort(-scores[idx], kind='stable')][:pre_nms_top_n]\n"
        "    keep = idx[nms(boxes[idx], scores[idx], iou_threshold)][:post_nms_top_n]\n"
        "    return boxes[keep], scores[keep]\n", _PROP, "cnn_course.ref"),
    # ------------------------------------------------------------------ RPNHead (PyTorch)
    Bug("rpn_obj_no_permute", "RPNHead",
        _replace("RPNHead", "objectness = self.cls(t).permute(0, 2, 3, 1).reshape(N, -1)",
                 "objectness = self.cls(t).reshape(N, -1)"),
        _RPN, "permute(0, 2, 3, 1)"),
    Bug("rpn_deltas_no_permute", "RPNHead",
        _replace("RPNHead", "deltas = self.bbox(t).view(N, self.num_anchors, 4, H, W).permute(0, 3, 4, 1, 2).reshape(N, -1, 4)",
                 "deltas = self.bbox(t).reshape(N, -1, 4)"),
        _RPN, "channels last first"),
    Bug("rpn_deltas_by_coordinate", "RPNHead",
        _replace("RPNHead", "deltas = self.bbox(t).view(N, self.num_anchors, 4, H, W).permute(0, 3, 4, 1, 2).reshape(N, -1, 4)",
                 "deltas = self.bbox(t).view(N, 4, self.num_anchors, H, W).permute(0, 3, 4, 2, 1).reshape(N, -1, 4)"),
        _RPN, "grouped by anchor"),
    Bug("rpn_no_relu", "RPNHead",
        _replace("RPNHead", "t = torch.relu(self.conv(x))", "t = self.conv(x)"),
        _RPN, "without a ReLU"),
    Bug("rpn_sigmoid", "RPNHead",
        _replace("RPNHead", "objectness = self.cls(t).permute(0, 2, 3, 1).reshape(N, -1)",
                 "objectness = torch.sigmoid(self.cls(t)).permute(0, 2, 3, 1).reshape(N, -1)"),
        _RPN, "sigmoid"),
    Bug("rpn_no_padding", "RPNHead",
        _replace("RPNHead", "nn.Conv2d(in_channels, in_channels, 3, padding=1)", "nn.Conv2d(in_channels, in_channels, 3)"),
        _RPN, ""),
    Bug("rpn_uses_course_model", "RPNHead",
        "from torch import nn\nfrom cnn_course.pt.faster_rcnn import rpn_outputs\n\n"
        "class RPNHead(nn.Module):\n"
        "    def __init__(self, in_channels, num_anchors):\n"
        "        super().__init__()\n"
        "        self.rpn_conv = nn.Conv2d(in_channels, in_channels, 3, padding=1)\n"
        "        self.rpn_objectness = nn.Conv2d(in_channels, num_anchors, 1)\n"
        "        self.rpn_deltas = nn.Conv2d(in_channels, 4 * num_anchors, 1)\n"
        "        self.num_anchors = num_anchors\n\n"
        "    def forward(self, x):\n"
        "        return rpn_outputs(self, x)\n", _RPN, "cnn_course.pt"),
]

# Graded end to end through nbgrader (the checks are tested bug by bug in test_grading_rcnn.py):
# the mistakes issue 12 names for this notebook first.
PIPELINE_BUGS: list[str] = [
    "pool_floor_corners",
    "pool_ignores_scale",
    "bil_weights_swapped",
    "dec_not_inverse",
    "enc_plus_one",
    "lab_no_best_match",
    "prop_nms_not_sorted",
    "rpn_obj_no_permute",
    "pool_calls_library",
]

# name -> ({answer cell grade_id: source}, the test cells that must score 0); the rest keeps full marks.
MISBEHAVING: dict[str, tuple[dict[str, str], set[str]]] = {
    # Kills the kernel while the answer cell runs: label_anchors is never defined; nothing else grades it.
    "rcnn_kernel_crash": (
        {"label_anchors": "import os\nos._exit(1)\n\ndef label_anchors(anchors, gt_boxes, pos_iou=0.7, neg_iou=0.3):\n"
                          "    pass"},
        {"test_label_anchors"},
    ),
}

# The bug whose feedback page the pipeline inspects.
FEEDBACK_BUG = "lab_no_best_match"

# A second, self-consistent correct set: vectorised pooling and sampling, loops for the IoUs,
# a mask-based NMS, nn.Sequential in the head.
ALTERNATIVE: dict[str, str] = {
    "encode_boxes": '''\
import numpy as np

def _centre_size(b):
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    return b[:, 0] + w / 2, b[:, 1] + h / 2, w, h

def encode_boxes(proposals, gt, weights=(1.0, 1.0, 1.0, 1.0)):
    px, py, pw, ph = _centre_size(proposals)
    gx, gy, gw, gh = _centre_size(gt)
    t = np.stack([(gx - px) / pw, (gy - py) / ph, np.log(gw / pw), np.log(gh / ph)], axis=1)
    return t * np.array(weights, dtype=float)
''',
    "decode_boxes": '''\
import numpy as np

def decode_boxes(proposals, deltas, weights=(1.0, 1.0, 1.0, 1.0)):
    px, py, pw, ph = _centre_size(proposals)
    d = deltas / np.array(weights, dtype=float)
    cx, cy = px + d[:, 0] * pw, py + d[:, 1] * ph
    half_w, half_h = pw * np.exp(d[:, 2]) / 2, ph * np.exp(d[:, 3]) / 2
    return np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
''',
    "roi_pool": '''\
import numpy as np

def roi_pool(features, rois, output_size, spatial_scale):
    N, C, H, W = features.shape
    oh, ow = output_size
    out = np.zeros((rois.shape[0], C, oh, ow), dtype=features.dtype)
    for k in range(rois.shape[0]):
        b = int(rois[k, 0])
        c = np.floor(rois[k, 1:] * spatial_scale + 0.5).astype(int)
        w, h = max(c[2] - c[0] + 1, 1), max(c[3] - c[1] + 1, 1)
        rows = [(int(np.clip(c[1] + np.floor(i * h / oh), 0, H)), int(np.clip(c[1] + np.ceil((i + 1) * h / oh), 0, H)))
                for i in range(oh)]
        cols = [(int(np.clip(c[0] + np.floor(j * w / ow), 0, W)), int(np.clip(c[0] + np.ceil((j + 1) * w / ow), 0, W)))
                for j in range(ow)]
        for i, (hs, he) in enumerate(rows):
            for j, (ws, we) in enumerate(cols):
                if he - hs > 0 and we - ws > 0:
                    out[k, :, i, j] = np.max(features[b, :, hs:he, ws:we].reshape(C, -1), axis=1)
    return out
''',
    "label_anchors": '''\
import numpy as np

def _iou(a, b):
    out = np.zeros((len(a), len(b)))
    for i in range(len(a)):
        for j in range(len(b)):
            w = min(a[i, 2], b[j, 2]) - max(a[i, 0], b[j, 0])
            h = min(a[i, 3], b[j, 3]) - max(a[i, 1], b[j, 1])
            inter = max(w, 0) * max(h, 0)
            union = (a[i, 2] - a[i, 0]) * (a[i, 3] - a[i, 1]) + (b[j, 2] - b[j, 0]) * (b[j, 3] - b[j, 1]) - inter
            out[i, j] = inter / union
    return out

def label_anchors(anchors, gt_boxes, pos_iou=0.7, neg_iou=0.3):
    labels = -np.ones(len(anchors), dtype=int)
    if len(gt_boxes) == 0:
        return np.zeros(len(anchors), dtype=int)
    iou = _iou(anchors, gt_boxes)
    best = np.max(iou, axis=1)
    labels[best < neg_iou] = 0
    labels[best >= pos_iou] = 1
    for g in range(len(gt_boxes)):
        if iou[:, g].max() > 0:
            labels[iou[:, g] == iou[:, g].max()] = 1
    return labels
''',
    "RPNHead": '''\
import torch
from torch import nn

class RPNHead(nn.Module):
    def __init__(self, in_channels, num_anchors):
        super().__init__()
        self.shared = nn.Sequential(nn.Conv2d(in_channels, in_channels, kernel_size=3, padding=1), nn.ReLU())
        self.objectness = nn.Conv2d(in_channels, num_anchors, kernel_size=1)
        self.deltas = nn.Conv2d(in_channels, num_anchors * 4, kernel_size=1)

    def forward(self, x):
        t = self.shared(x)
        n = x.shape[0]
        return (self.objectness(t).permute(0, 2, 3, 1).reshape(n, -1),
                self.deltas(t).permute(0, 2, 3, 1).reshape(n, -1, 4))
''',
    "select_proposals": '''\
import numpy as np

def select_proposals(boxes, scores, image_size, pre_nms_top_n, post_nms_top_n, iou_threshold, min_size):
    H, W = image_size
    b = boxes.copy()
    b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0, W)
    b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, H)
    ok = ((b[:, 2] - b[:, 0]) >= min_size) & ((b[:, 3] - b[:, 1]) >= min_size)
    order = [i for i in np.argsort(-scores, kind="stable") if ok[i]][:pre_nms_top_n]
    kept = []
    for i in order:
        good = True
        for j in kept:
            iw = max(0.0, min(b[i, 2], b[j, 2]) - max(b[i, 0], b[j, 0]))
            ih = max(0.0, min(b[i, 3], b[j, 3]) - max(b[i, 1], b[j, 1]))
            inter = iw * ih
            union = (b[i, 2] - b[i, 0]) * (b[i, 3] - b[i, 1]) + (b[j, 2] - b[j, 0]) * (b[j, 3] - b[j, 1]) - inter
            if inter / union > iou_threshold:
                good = False
                break
        if good:
            kept.append(i)
    kept = np.array(kept[:post_nms_top_n], dtype=int)
    return b[kept], scores[kept]
''',
    "bilinear_sample": '''\
import numpy as np

def bilinear_sample(feature, points):
    C, H, W = feature.shape
    y, x = points[:, 0].astype(np.float64), points[:, 1].astype(np.float64)
    outside = (y < -1) | (y > H) | (x < -1) | (x > W)
    y, x = np.maximum(y, 0), np.maximum(x, 0)
    y0, x0 = np.floor(y).astype(int), np.floor(x).astype(int)
    last_y, last_x = y0 >= H - 1, x0 >= W - 1
    y0, x0 = np.where(last_y, H - 1, y0), np.where(last_x, W - 1, x0)
    y1, x1 = np.where(last_y, H - 1, y0 + 1), np.where(last_x, W - 1, x0 + 1)
    ly, lx = np.where(last_y, 0.0, y - y0), np.where(last_x, 0.0, x - x0)
    v = ((1 - ly) * (1 - lx) * feature[:, y0, x0] + (1 - ly) * lx * feature[:, y0, x1]
         + ly * (1 - lx) * feature[:, y1, x0] + ly * lx * feature[:, y1, x1])
    return np.where(outside, 0.0, v).astype(feature.dtype)
''',
}
