'''Topic-10 submissions (U-Net): correct solutions, bugs and misbehaving code.

``CORRECT`` maps each exercise of ``solutions/10_unet`` to the source a careful student would
write, in notebook order. ``BUGS`` lists wrong or cheating submissions with the hint the grader
must give; ``breaks`` names the exercises whose checks fail (UpBlock calls the student's
crop_or_pad, so a crop_or_pad bug breaks it too).

Exercise -> check -> test cell:

    conv_transpose_output_size  unet.conv_transpose_output_size       test_conv_transpose_output_size
    conv_transpose2d_forward    unet.conv_transpose2d_forward         test_conv_transpose2d_forward
    per_class_iou               unet.per_class_iou                    test_per_class_iou
    mean_dice                   unet.mean_dice                        test_mean_dice
    crop_or_pad                 unet_torch.crop_or_pad                test_crop_or_pad
    UpBlock                     unet_torch.up_block                   test_UpBlock
'''

from __future__ import annotations

from . import Bug, replacer

CORRECT: dict[str, str] = {
    "conv_transpose_output_size": '''\
def conv_transpose_output_size(n, f, pad=0, stride=1, output_padding=0):
    return (n - 1) * stride - 2 * pad + f + output_padding
''',
    "conv_transpose2d_forward": '''\
import numpy as np

def conv_transpose2d_forward(x, w, b, stride=1, pad=0, output_padding=0):
    m, C_in, H, W = x.shape
    _, C_out, f, _ = w.shape
    H_out = (H - 1) * stride - 2 * pad + f + output_padding
    W_out = (W - 1) * stride - 2 * pad + f + output_padding
    grid = np.zeros((m, C_out, pad + H_out + f, pad + W_out + f), dtype=x.dtype)
    for i in range(H):
        for j in range(W):
            block = np.tensordot(x[:, :, i, j], w, axes=([1], [0]))
            grid[:, :, i * stride:i * stride + f, j * stride:j * stride + f] += block
    out = grid[:, :, pad:pad + H_out, pad:pad + W_out]
    return out + b.reshape(1, -1, 1, 1)
''',
    "per_class_iou": '''\
import numpy as np

def per_class_iou(pred, target, num_classes):
    scores = np.full(num_classes, np.nan)
    for k in range(num_classes):
        inter = np.sum((pred == k) & (target == k))
        union = np.sum((pred == k) | (target == k))
        if union > 0:
            scores[k] = inter / union
    return scores
''',
    "mean_dice": '''\
import numpy as np

def mean_dice(pred, target, num_classes, ignore_background=False):
    scores = []
    start = 1 if ignore_background else 0
    for k in range(start, num_classes):
        a, b = pred == k, target == k
        total = a.sum() + b.sum()
        if total == 0:
            continue
        scores.append(2 * np.sum(a & b) / total)
    if not scores:
        return float("nan")
    return float(np.mean(scores))
''',
    "crop_or_pad": '''\
import torch
import torch.nn.functional as F

def crop_or_pad(skip, like):
    for axis in (2, 3):
        have, want = skip.shape[axis], like.shape[axis]
        if have > want:
            start = (have - want) // 2
            skip = skip.narrow(axis, start, want)
        elif have < want:
            before = (want - have) // 2
            after = want - have - before
            amounts = [0, 0, before, after] if axis == 2 else [before, after]
            skip = F.pad(skip, amounts)
    return skip
''',
    "UpBlock": '''\
import torch
from torch import nn

class UpBlock(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        self.conv1 = nn.Conv2d(2 * out_channels, out_channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1)

    def forward(self, x, skip):
        up = self.up(x)
        h = torch.cat([crop_or_pad(skip, up), up], dim=1)
        h = torch.relu(self.conv1(h))
        return torch.relu(self.conv2(h))
''',
}

_replace = replacer(CORRECT)

_SIZE = frozenset({"conv_transpose_output_size"})
_FWD = frozenset({"conv_transpose2d_forward"})
_IOU = frozenset({"per_class_iou"})
_DICE = frozenset({"mean_dice"})
_CROP = frozenset({"crop_or_pad", "UpBlock"})
_UP = frozenset({"UpBlock"})

BUGS: list[Bug] = [
    # ------------------------------------------------------------------ output size
    Bug("size_pad_added", "conv_transpose_output_size",
        _replace("conv_transpose_output_size", "- 2 * pad", "+ 2 * pad"), _SIZE, "you ADD the padding"),
    Bug("size_no_output_padding", "conv_transpose_output_size",
        _replace("conv_transpose_output_size", " + output_padding", ""), _SIZE, "output_padding is missing"),
    Bug("size_no_stride", "conv_transpose_output_size",
        _replace("conv_transpose_output_size", "(n - 1) * stride", "n - 1"), _SIZE, "the stride is missing"),
    # ------------------------------------------------------------------ forward
    Bug("convt_flipped_filter", "conv_transpose2d_forward",
        _replace("conv_transpose2d_forward", "np.tensordot(x[:, :, i, j], w,", "np.tensordot(x[:, :, i, j], w[:, :, ::-1, ::-1],"),
        _FWD, "rotated by 180°"),
    Bug("convt_overlaps_overwritten", "conv_transpose2d_forward",
        _replace("conv_transpose2d_forward", "] += block", "] = block"), _FWD, "must be SUMMED"),
    Bug("convt_pad_added", "conv_transpose2d_forward",
        _replace("conv_transpose2d_forward", "    out = grid[:, :, pad:pad + H_out, pad:pad + W_out]\n",
                 "    full = grid[:, :, :(H - 1) * stride + f + output_padding, :(W - 1) * stride + f + output_padding]\n"
                 "    out = np.pad(full, ((0, 0), (0, 0), (pad, pad), (pad, pad)))\n"),
        _FWD, "CUT OFF the full grid"),
    Bug("convt_output_padding_top_left", "conv_transpose2d_forward",
        _replace("conv_transpose2d_forward", "out = grid[:, :, pad:pad + H_out, pad:pad + W_out]",
                 "t = pad - output_padding\n    out = grid[:, :, t:t + H_out, t:t + W_out]"),
        _FWD, "BOTTOM"),
    Bug("convt_no_bias", "conv_transpose2d_forward",
        _replace("conv_transpose2d_forward", "return out + b.reshape(1, -1, 1, 1)", "return out"),
        _FWD, "the bias is missing"),
    Bug("convt_calls_torch", "conv_transpose2d_forward",
        "import torch\nimport torch.nn.functional as F\n\n"
        "def conv_transpose2d_forward(x, w, b, stride=1, pad=0, output_padding=0):\n"
        "    return F.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride=stride,\n"
        "                              padding=pad, output_padding=output_padding).numpy()\n", _FWD, "torch"),
    Bug("convt_calls_library", "conv_transpose2d_forward",
        "from cnn_course import ref\n\ndef conv_transpose2d_forward(x, w, b, stride=1, pad=0, output_padding=0):\n"
        "    return ref.conv_transpose2d_forward(x, w, b, stride, pad, output_padding)[0]\n", _FWD, "cnn_course.ref"),
    # ------------------------------------------------------------------ IoU
    Bug("iou_empty_zero", "per_class_iou",
        _replace("per_class_iou", "np.full(num_classes, np.nan)", "np.zeros(num_classes)"), _IOU, "np.nan for it"),
    Bug("iou_is_dice", "per_class_iou",
        _replace("per_class_iou", "scores[k] = inter / union", "scores[k] = 2 * inter / (union + inter)"),
        _IOU, "Dice coefficients"),
    # ------------------------------------------------------------------ Dice
    Bug("dice_no_factor_2", "mean_dice",
        _replace("mean_dice", "scores.append(2 * np.sum(a & b) / total)", "scores.append(np.sum(a & b) / total)"),
        _DICE, "lacks the factor 2"),
    Bug("dice_background_averaged_in", "mean_dice",
        _replace("mean_dice", "start = 1 if ignore_background else 0", "start = 0"), _DICE,
        "the background (class 0) is in your average"),
    Bug("dice_zero_over_zero_nan", "mean_dice",
        _replace("mean_dice", "        if total == 0:\n            continue\n", ""), _DICE, "your mean is nan"),
    Bug("dice_zero_over_zero_counts_zero", "mean_dice",
        _replace("mean_dice", "        if total == 0:\n            continue\n",
                 "        if total == 0:\n            scores.append(0.0)\n            continue\n"),
        _DICE, "counts as 0"),
    # ------------------------------------------------------------------ crop_or_pad
    Bug("crop_corner", "crop_or_pad",
        _replace("crop_or_pad", "start = (have - want) // 2", "start = 0"), _CROP, "top-left corner"),
    Bug("crop_extra_at_start", "crop_or_pad",
        _replace("crop_or_pad", "start = (have - want) // 2", "start = (have - want + 1) // 2")
        .replace("before = (want - have) // 2", "before = (want - have + 1) // 2"),
        _CROP, "at the top/left"),
    Bug("crop_calls_library", "crop_or_pad",
        "from cnn_course.pt.unet import crop_or_pad as _lib\n\ndef crop_or_pad(skip, like):\n    return _lib(skip, like)\n",
        _CROP, "cnn_course"),
    # ------------------------------------------------------------------ UpBlock
    Bug("up_cat_wrong_axis", "UpBlock",
        _replace("UpBlock", "torch.cat([crop_or_pad(skip, up), up], dim=1)", "torch.cat([crop_or_pad(skip, up), up], dim=2)"),
        _UP, "the CHANNEL axis"),
    Bug("up_cat_order", "UpBlock",
        _replace("UpBlock", "torch.cat([crop_or_pad(skip, up), up], dim=1)", "torch.cat([up, crop_or_pad(skip, up)], dim=1)"),
        _UP, "in the other order"),
    Bug("up_no_final_relu", "UpBlock",
        _replace("UpBlock", "return torch.relu(self.conv2(h))", "return self.conv2(h)"), _UP, "has no ReLU"),
    Bug("up_skip_not_fitted", "UpBlock",
        _replace("UpBlock", "torch.cat([crop_or_pad(skip, up), up], dim=1)", "torch.cat([skip, up], dim=1)"),
        _UP, "crop_or_pad(skip, up)"),
]

# The bugs the pipeline test autogrades through nbgrader (the whole list: CNN_COURSE_ALL_BUGS=1).
PIPELINE_BUGS: list[str] = [
    "size_pad_added",
    "convt_flipped_filter",
    "convt_overlaps_overwritten",
    "convt_pad_added",
    "convt_output_padding_top_left",
    "iou_empty_zero",
    "dice_no_factor_2",
    "dice_background_averaged_in",
    "dice_zero_over_zero_nan",
    "crop_corner",
    "up_cat_wrong_axis",
    "convt_calls_torch",
]

# name -> ({answer cell grade_id: source}, the test cells that must score 0); the rest keeps full marks.
MISBEHAVING: dict[str, tuple[dict[str, str], set[str]]] = {
    # Kills the kernel while the answer cell runs: mean_dice is never defined; nothing else grades it.
    "unet_kernel_crash": (
        {"mean_dice": "import os\nos._exit(1)\n\ndef mean_dice(pred, target, num_classes, ignore_background=False):\n"
                      "    pass"},
        {"test_mean_dice"},
    ),
}

# The bug whose feedback page the pipeline inspects.
FEEDBACK_BUG = "convt_overlaps_overwritten"

# A second, self-consistent correct set: a confusion matrix from np.bincount, plain slicing and
# torch.zeros for crop_or_pad, nn.Sequential and F.relu in the block, a float64 grid cast back.
ALTERNATIVE: dict[str, str] = {
    "conv_transpose_output_size": '''\
def conv_transpose_output_size(n, f, pad=0, stride=1, output_padding=0):
    full = (n - 1) * stride + f
    return full - pad - pad + output_padding
''',
    "conv_transpose2d_forward": '''\
import numpy as np

def conv_transpose2d_forward(x, w, b, stride=1, pad=0, output_padding=0):
    m, C_in, H, W = x.shape
    C_out, f = w.shape[1], w.shape[2]
    full_h, full_w = (H - 1) * stride + f, (W - 1) * stride + f
    grid = np.zeros((m, C_out, full_h + output_padding, full_w + output_padding))
    for i in range(H):
        for j in range(W):
            for c in range(C_in):
                grid[:, :, i * stride:i * stride + f, j * stride:j * stride + f] += (
                    x[:, c, i, j][:, None, None, None] * w[c][None])
    H_out = full_h - 2 * pad + output_padding
    W_out = full_w - 2 * pad + output_padding
    out = grid[:, :, pad:pad + H_out, pad:pad + W_out] + b[None, :, None, None]
    return out.astype(x.dtype)
''',
    "per_class_iou": '''\
import numpy as np

def per_class_iou(pred, target, num_classes):
    cm = np.bincount(target.ravel() * num_classes + pred.ravel(), minlength=num_classes ** 2)
    cm = cm.reshape(num_classes, num_classes)
    tp = np.diag(cm).astype(float)
    union = cm.sum(axis=0) + cm.sum(axis=1) - tp
    out = np.full(num_classes, np.nan)
    ok = union > 0
    out[ok] = tp[ok] / union[ok]
    return out
''',
    "mean_dice": '''\
import numpy as np

def mean_dice(pred, target, num_classes, ignore_background=False):
    n_pred = np.bincount(pred.ravel(), minlength=num_classes)
    n_true = np.bincount(target.ravel(), minlength=num_classes)
    n_both = np.bincount(pred[pred == target].ravel(), minlength=num_classes)
    classes = range(1, num_classes) if ignore_background else range(num_classes)
    scores = [2 * n_both[k] / (n_pred[k] + n_true[k]) for k in classes if n_pred[k] + n_true[k] > 0]
    return float(sum(scores) / len(scores)) if scores else float("nan")
''',
    "crop_or_pad": '''\
import torch

def crop_or_pad(skip, like):
    m, c, h, w = skip.shape
    H, W = like.shape[-2:]
    out = torch.zeros(m, c, H, W, dtype=skip.dtype)
    # source and destination windows per axis
    def window(have, want):
        if have >= want:
            s = (have - want) // 2
            return slice(s, s + want), slice(0, want)
        d = (want - have) // 2
        return slice(0, have), slice(d, d + have)
    src_h, dst_h = window(h, H)
    src_w, dst_w = window(w, W)
    out[:, :, dst_h, dst_w] = skip[:, :, src_h, src_w]
    return out
''',
    "UpBlock": '''\
import torch
import torch.nn.functional as F
from torch import nn

class UpBlock(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, 2, 2)
        self.convs = nn.Sequential(nn.Conv2d(2 * out_channels, out_channels, 3, padding=1), nn.ReLU(),
                                   nn.Conv2d(out_channels, out_channels, 3, padding=1), nn.ReLU())

    def forward(self, x, skip):
        up = self.up(x)
        return self.convs(torch.cat((crop_or_pad(skip, up), up), 1))
''',
}
