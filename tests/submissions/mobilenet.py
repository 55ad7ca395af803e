'''Topic-7 submissions (MobileNet): correct solutions, bugs and misbehaving code.

``CORRECT`` maps each exercise of ``solutions/07_mobilenet`` to the source a careful student
would write, in notebook order. ``BUGS`` lists wrong or cheating submissions with the hint
the grader must give; ``breaks`` names the exercises whose checks fail (the backward check
takes the cache from the student's own forward pass).

Exercise -> check -> test cell:

    depthwise_conv2d_forward   mobilenet.depthwise_conv2d_forward                 test_depthwise_conv2d_forward
    depthwise_conv2d_backward  mobilenet.depthwise_conv2d_backward(func, fwd)     test_depthwise_conv2d_backward
    separable_costs            mobilenet.separable_costs                          test_separable_costs
    InvertedResidual           mobilenet_torch.inverted_residual                  test_InvertedResidual
    freeze_and_replace_head    mobilenet_torch.freeze_and_replace_head            test_freeze_and_replace_head
    mirror                     mobilenet.mirror                                   test_mirror
    random_crop                mobilenet.random_crop                              test_random_crop
    color_shift                mobilenet.color_shift                              test_color_shift

The NumPy exercises may use NumPy only: torch (``F.conv2d(..., groups=C)``), the course's
``cnn_course.ref`` (``ref.mobilenet``, ``ref.augment``) and SciPy's filters are not own work.
'''

from __future__ import annotations

from . import Bug, replacer

CORRECT: dict[str, str] = {
    "depthwise_conv2d_forward": '''\
import numpy as np

def depthwise_conv2d_forward(x, w, b, stride=1, pad=0):
    N, C, H, W = x.shape
    f = w.shape[2]
    H_out = (H + 2 * pad - f) // stride + 1
    W_out = (W + 2 * pad - f) // stride + 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((N, C, H_out, W_out), dtype=np.result_type(x, w))
    for p in range(f):
        for q in range(f):
            window = x_pad[:, :, p:p + stride * H_out:stride, q:q + stride * W_out:stride]
            out += window * w[:, 0, p, q].reshape(1, C, 1, 1)
    out += b.reshape(1, C, 1, 1)
    cache = (x, w, b, stride, pad)
    return out, cache
''',
    "depthwise_conv2d_backward": '''\
import numpy as np

def depthwise_conv2d_backward(dout, cache):
    x, w, b, stride, pad = cache
    N, C, H, W = x.shape
    f = w.shape[2]
    _, _, H_out, W_out = dout.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    for p in range(f):
        for q in range(f):
            rows = slice(p, p + stride * H_out, stride)
            cols = slice(q, q + stride * W_out, stride)
            dw[:, 0, p, q] = np.sum(dout * x_pad[:, :, rows, cols], axis=(0, 2, 3))
            dx_pad[:, :, rows, cols] += dout * w[:, 0, p, q].reshape(1, C, 1, 1)
    db = dout.sum(axis=(0, 2, 3))
    dx = dx_pad[:, :, pad:pad + H, pad:pad + W]
    return dx, dw, db
''',
    "separable_costs": '''\
def separable_costs(n_H, n_W, n_C, f, n_C_out):
    positions = n_H * n_W
    normal = (f * f * n_C) * positions * n_C_out
    depthwise = (f * f) * positions * n_C
    pointwise = n_C * positions * n_C_out
    ratio = (depthwise + pointwise) / normal
    return normal, depthwise, pointwise, ratio
''',
    "InvertedResidual": '''\
import torch
from torch import nn

class InvertedResidual(nn.Module):
    def __init__(self, in_channels, out_channels, stride, expand_ratio):
        super().__init__()
        hidden = in_channels * expand_ratio
        self.use_residual = stride == 1 and in_channels == out_channels
        layers = []
        if expand_ratio != 1:
            layers += [nn.Conv2d(in_channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6()]
        layers += [nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, bias=False),
                   nn.BatchNorm2d(hidden), nn.ReLU6(),
                   nn.Conv2d(hidden, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        if self.use_residual:
            return x + self.conv(x)
        return self.conv(x)
''',
    "freeze_and_replace_head": '''\
from torch import nn

def freeze_and_replace_head(model, num_classes):
    for p in model.parameters():
        p.requires_grad = False
    in_features = model.classifier[-1].in_features
    model.classifier[-1] = nn.Linear(in_features, num_classes)
    return model
''',
    "mirror": '''\
import numpy as np

def mirror(images, labels, rng, p=0.5):
    flip = rng.random(len(images)) < p
    out = images.copy()
    out[flip] = images[flip][:, :, ::-1]
    return out, labels
''',
    "random_crop": '''\
import numpy as np

def random_crop(image, rng, size, pad=0):
    h, w = size
    widths = [(pad, pad), (pad, pad)] + [(0, 0)] * (image.ndim - 2)
    padded = np.pad(image, widths)
    top = rng.integers(0, padded.shape[0] - h + 1)
    left = rng.integers(0, padded.shape[1] - w + 1)
    return padded[top:top + h, left:left + w].copy()
''',
    "color_shift": '''\
import numpy as np

def color_shift(image, rng, max_shift):
    shifts = rng.uniform(-max_shift, max_shift, size=image.shape[-1])
    return np.clip(image + shifts, 0.0, 1.0)
''',
}


_replace = replacer(CORRECT)

_FWD = frozenset({"depthwise_conv2d_forward", "depthwise_conv2d_backward"})
_BWD = frozenset({"depthwise_conv2d_backward"})
_COST = frozenset({"separable_costs"})
_IR = frozenset({"InvertedResidual"})
_HEAD = frozenset({"freeze_and_replace_head"})
_MIRROR = frozenset({"mirror"})
_CROP = frozenset({"random_crop"})
_SHIFT = frozenset({"color_shift"})

BUGS: list[Bug] = [
    # ------------------------------------------------------------------ depthwise forward
    Bug("dw_full_conv", "depthwise_conv2d_forward",
        _replace("depthwise_conv2d_forward", "out += window * w[:, 0, p, q].reshape(1, C, 1, 1)",
                 "out += window.sum(axis=1, keepdims=True) * w[:, 0, p, q].reshape(1, C, 1, 1)"),
        _FWD, "mixes ALL input channels"),
    Bug("dw_no_bias", "depthwise_conv2d_forward",
        _replace("depthwise_conv2d_forward", "    out += b.reshape(1, C, 1, 1)\n", ""), _FWD, "misses the bias"),
    Bug("dw_flipped", "depthwise_conv2d_forward",
        _replace("depthwise_conv2d_forward", "w[:, 0, p, q].reshape(1, C, 1, 1)", "w[:, 0, f - 1 - p, f - 1 - q].reshape(1, C, 1, 1)"),
        _FWD, "the filter flipped"),
    Bug("dw_ignores_stride", "depthwise_conv2d_forward",
        _replace("depthwise_conv2d_forward", "H_out = (H + 2 * pad - f) // stride + 1", "H_out = H + 2 * pad - f + 1")
        .replace("W_out = (W + 2 * pad - f) // stride + 1", "W_out = W + 2 * pad - f + 1")
        .replace("x_pad[:, :, p:p + stride * H_out:stride, q:q + stride * W_out:stride]",
                 "x_pad[:, :, p:p + H_out, q:q + W_out]"), _FWD, "H' = (H + 2·pad − f) // stride + 1"),
    Bug("dw_calls_torch", "depthwise_conv2d_forward",
        "import numpy as np\nimport torch\nimport torch.nn.functional as F\n\n"
        "def depthwise_conv2d_forward(x, w, b, stride=1, pad=0):\n"
        "    out = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride=stride, padding=pad,\n"
        "                   groups=x.shape[1])\n"
        "    return out.numpy(), (x, w, b, stride, pad)\n", _FWD, "torch"),
    Bug("dw_calls_library", "depthwise_conv2d_forward",
        "import cnn_course.ref as ref\n\ndef depthwise_conv2d_forward(x, w, b, stride=1, pad=0):\n"
        "    return ref.mobilenet.depthwise_conv2d_forward(x, w, b, stride, pad)\n", _FWD, "cnn_course.ref"),
    # ------------------------------------------------------------------ depthwise backward
    Bug("dwb_full_conv", "depthwise_conv2d_backward",
        _replace("depthwise_conv2d_backward", "dx_pad[:, :, rows, cols] += dout * w[:, 0, p, q].reshape(1, C, 1, 1)",
                 "dx_pad[:, :, rows, cols] += (dout * w[:, 0, p, q].reshape(1, C, 1, 1)).sum(axis=1, keepdims=True)"),
        _BWD, "channel c of dout only reaches channel c"),
    Bug("dwb_overwrites", "depthwise_conv2d_backward",
        _replace("depthwise_conv2d_backward", "dx_pad[:, :, rows, cols] += dout", "dx_pad[:, :, rows, cols] = dout"),
        _BWD, "accumulate with +="),
    Bug("dwb_db_not_summed_over_batch", "depthwise_conv2d_backward",
        _replace("depthwise_conv2d_backward", "db = dout.sum(axis=(0, 2, 3))", "db = dout.sum(axis=(2, 3))"),
        _BWD, "db has one entry per channel"),
    Bug("dwb_padding_kept", "depthwise_conv2d_backward",
        _replace("depthwise_conv2d_backward", "dx = dx_pad[:, :, pad:pad + H, pad:pad + W]", "dx = dx_pad"),
        _BWD, "remove the padding"),
    Bug("dwb_dw_overwritten", "depthwise_conv2d_backward",
        _replace("depthwise_conv2d_backward", "np.sum(dout * x_pad[:, :, rows, cols], axis=(0, 2, 3))",
                 "np.sum(dout * x_pad[:, :, rows, cols], axis=(0, 1, 2, 3))"),
        _BWD, "dw[c, 0, p, q] = Σ_n,i,j dout[n, c, i, j]"),
    # ------------------------------------------------------------------ separable_costs
    Bug("cost_ratio_over_pointwise", "separable_costs",
        _replace("separable_costs", "ratio = (depthwise + pointwise) / normal", "ratio = (depthwise + pointwise) / pointwise"),
        _COST, "672 / 240"),
    Bug("cost_ratio_inverted", "separable_costs",
        _replace("separable_costs", "ratio = (depthwise + pointwise) / normal", "ratio = normal / (depthwise + pointwise)"),
        _COST, "your ratio is normal / separable"),
    Bug("cost_depthwise_mixing", "separable_costs",
        _replace("separable_costs", "depthwise = (f * f) * positions * n_C", "depthwise = (f * f * n_C) * positions * n_C"),
        _COST, "as if each filter covered every channel"),
    Bug("cost_no_filter_area", "separable_costs",
        _replace("separable_costs", "depthwise = (f * f) * positions * n_C", "depthwise = positions * n_C"),
        _COST, "leaves out the filter area"),
    Bug("cost_normal_no_filters", "separable_costs",
        _replace("separable_costs", "normal = (f * f * n_C) * positions * n_C_out", "normal = (f * f * n_C) * positions"),
        _COST, "leaves out the number of filters"),
    Bug("cost_no_pointwise", "separable_costs",
        _replace("separable_costs", "ratio = (depthwise + pointwise) / normal", "ratio = depthwise / normal"),
        _COST, "counts the depthwise step only"),
    Bug("cost_float_counts", "separable_costs",
        _replace("separable_costs", "positions = n_H * n_W", "positions = float(n_H * n_W)"), _COST, "must be an int"),
    # ------------------------------------------------------------------ InvertedResidual
    Bug("ir_relu_after_projection", "InvertedResidual",
        _replace("InvertedResidual", "nn.Conv2d(hidden, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)]",
                 "nn.Conv2d(hidden, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU6()]"),
        _IR, "the projection is LINEAR"),
    Bug("ir_residual_when_stride_2", "InvertedResidual",
        _replace("InvertedResidual", "self.use_residual = stride == 1 and in_channels == out_channels",
                 "self.use_residual = in_channels == out_channels"), _IR, "Add x only when stride == 1"),
    Bug("ir_no_residual", "InvertedResidual",
        _replace("InvertedResidual", "        if self.use_residual:\n            return x + self.conv(x)\n", ""),
        _IR, "never adds its input"),
    Bug("ir_missing_groups", "InvertedResidual",
        _replace("InvertedResidual", "padding=1, groups=hidden, bias=False)", "padding=1, bias=False)"),
        _IR, "groups=hidden"),
    Bug("ir_no_projection", "InvertedResidual",
        _replace("InvertedResidual", "                   nn.Conv2d(hidden, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)]",
                 "                   ]"), _IR, "pointwise step"),
    Bug("ir_depthwise_no_padding", "InvertedResidual",
        _replace("InvertedResidual", "stride=stride, padding=1, groups=hidden", "stride=stride, groups=hidden"),
        _IR, "needs padding=1"),
    Bug("ir_relu_not_relu6", "InvertedResidual",
        _replace("InvertedResidual", "nn.ReLU6()", "nn.ReLU()", count=2), _IR, "ReLU6"),
    Bug("ir_always_expands", "InvertedResidual",
        _replace("InvertedResidual", "if expand_ratio != 1:", "if True:"), _IR, "no expansion layer"),
    Bug("ir_uses_zoo_block", "InvertedResidual",
        "import torch\nimport cnn_course.pt as zoo\n\nclass InvertedResidual(torch.nn.Module):\n"
        "    def __init__(self, in_channels, out_channels, stride, expand_ratio):\n        super().__init__()\n"
        "        self.block = zoo.models.InvertedResidual(in_channels, out_channels, stride, expand_ratio)\n"
        "        self.use_residual = self.block.use_residual\n\n    def forward(self, x):\n"
        "        return self.block(x)\n",
        _IR, "cnn_course.pt"),
    # ------------------------------------------------------------------ freeze_and_replace_head
    Bug("head_freezes_features_only", "freeze_and_replace_head",
        _replace("freeze_and_replace_head", "for p in model.parameters():", "for p in model.features.parameters():"),
        _HEAD, "the pretrained classifier, which must not train"),
    Bug("head_eval_instead_of_freeze", "freeze_and_replace_head",
        _replace("freeze_and_replace_head", "    for p in model.parameters():\n        p.requires_grad = False\n",
                 "    model.eval()\n"), _HEAD, "model.eval() does NOT freeze"),
    Bug("head_frozen_too", "freeze_and_replace_head",
        _replace("freeze_and_replace_head", "    for p in model.parameters():\n        p.requires_grad = False\n", "")
        .replace("    return model", "    for p in model.parameters():\n        p.requires_grad = False\n    return model"),
        _HEAD, "the new head has requires_grad=False"),
    Bug("head_out_features_only", "freeze_and_replace_head",
        _replace("freeze_and_replace_head", "model.classifier[-1] = nn.Linear(in_features, num_classes)",
                 "model.classifier[-1].out_features = num_classes"), _HEAD, "changing its .out_features"),
    Bug("head_appended", "freeze_and_replace_head",
        _replace("freeze_and_replace_head", "    in_features = model.classifier[-1].in_features\n"
                 "    model.classifier[-1] = nn.Linear(in_features, num_classes)\n",
                 "    model.classifier.append(nn.Linear(model.classifier[-1].out_features, num_classes))\n"),
        _HEAD, "appended behind the old head"),
    Bug("head_unused_attribute", "freeze_and_replace_head",
        _replace("freeze_and_replace_head", "model.classifier[-1] = nn.Linear(in_features, num_classes)",
                 "model.head = nn.Linear(in_features, num_classes)"), _HEAD, "not used at all"),
    Bug("head_no_return", "freeze_and_replace_head",
        _replace("freeze_and_replace_head", "    return model\n", ""), _HEAD, "must return the model"),
    # ------------------------------------------------------------------ mirror
    Bug("mirror_vertical", "mirror", _replace("mirror", "images[flip][:, :, ::-1]", "images[flip][:, ::-1]"),
        _MIRROR, "upside down"),
    Bug("mirror_last_axis", "mirror", _replace("mirror", "images[flip][:, :, ::-1]", "images[flip][..., ::-1]"),
        _MIRROR, "you reversed the LAST axis"),
    Bug("mirror_batch_axis", "mirror",
        _replace("mirror", "images[flip][:, :, ::-1]", "np.flip(images[flip], axis=0)"),
        _MIRROR, "reversed the batch axis"),
    Bug("mirror_every_image", "mirror", _replace("mirror", "flip = rng.random(len(images)) < p",
                                                 "flip = np.ones(len(images), dtype=bool)"),
        _MIRROR, "you mirrored every image"),
    Bug("mirror_shuffles_labels", "mirror", _replace("mirror", "return out, labels", "return out, rng.permutation(labels)"),
        _MIRROR, "the labels changed"),
    Bug("mirror_in_place", "mirror",
        _replace("mirror", "    out = images.copy()\n    out[flip] = images[flip][:, :, ::-1]\n",
                 "    out = images\n    out[flip] = images[flip][:, :, ::-1]\n"), _MIRROR, "in place"),
    # ------------------------------------------------------------------ random_crop
    Bug("crop_off_by_one", "random_crop",
        _replace("random_crop", "top = rng.integers(0, padded.shape[0] - h + 1)", "top = rng.integers(0, padded.shape[0] - h)")
        .replace("left = rng.integers(0, padded.shape[1] - w + 1)", "left = rng.integers(0, padded.shape[1] - w)"),
        _CROP, "never returns high"),
    Bug("crop_out_of_bounds", "random_crop",
        _replace("random_crop", "top = rng.integers(0, padded.shape[0] - h + 1)", "top = rng.integers(0, padded.shape[0])")
        .replace("left = rng.integers(0, padded.shape[1] - w + 1)", "left = rng.integers(0, padded.shape[1])"),
        _CROP, "fully inside the padded image"),
    Bug("crop_forgets_padding", "random_crop",
        _replace("random_crop", "    padded = np.pad(image, widths)\n", "    padded = image\n")
        .replace("top = rng.integers(0, padded.shape[0] - h + 1)", "top = rng.integers(0, padded.shape[0] + 2 * pad - h + 1)")
        .replace("left = rng.integers(0, padded.shape[1] - w + 1)", "left = rng.integers(0, padded.shape[1] + 2 * pad - w + 1)"),
        _CROP, "fully inside the padded image"),
    Bug("crop_edge_padding", "random_crop", _replace("random_crop", "np.pad(image, widths)", "np.pad(image, widths, mode='edge')"),
        _CROP, "Pad with zeros"),
    Bug("crop_swaps_h_w", "random_crop", _replace("random_crop", "h, w = size", "w, h = size"), _CROP, "(h, w)"),
    Bug("crop_always_centre", "random_crop",
        _replace("random_crop", "top = rng.integers(0, padded.shape[0] - h + 1)", "top = (padded.shape[0] - h) // 2")
        .replace("left = rng.integers(0, padded.shape[1] - w + 1)", "left = (padded.shape[1] - w) // 2"),
        _CROP, "every draw gave the same window"),
    # ------------------------------------------------------------------ color_shift
    Bug("shift_no_clip", "color_shift", _replace("color_shift", "np.clip(image + shifts, 0.0, 1.0)", "image + shifts"),
        _SHIFT, "not clipped"),
    Bug("shift_same_for_all_channels", "color_shift",
        _replace("color_shift", "shifts = rng.uniform(-max_shift, max_shift, size=image.shape[-1])",
                 "shifts = rng.uniform(-max_shift, max_shift)"), _SHIFT, "the same shift"),
    Bug("shift_per_pixel", "color_shift",
        _replace("color_shift", "size=image.shape[-1])", "size=image.shape)"), _SHIFT, "differs from pixel to pixel"),
    Bug("shift_wrong_axis", "color_shift",
        _replace("color_shift", "size=image.shape[-1])", "size=(image.shape[0], 1, 1))"), _SHIFT,
        "ONE number per channel"),
    Bug("shift_uses_library", "color_shift",
        "import cnn_course.ref as ref\n\ndef color_shift(image, rng, max_shift):\n"
        "    return ref.augment.color_shift(image, rng, max_shift)\n", _SHIFT, "cnn_course.ref"),
]

# Graded end to end through nbgrader by default (disjoint exercises share a submission).
PIPELINE_BUGS: list[str] = [
    "dw_full_conv",
    "dwb_full_conv",
    "cost_ratio_over_pointwise",
    "ir_relu_after_projection",
    "ir_missing_groups",
    "head_freezes_features_only",
    "mirror_last_axis",
    "crop_out_of_bounds",
    "shift_no_clip",
    "dw_calls_torch",
]

# name -> ({answer cell grade_id: source}, the test cells that must score 0); the rest keeps full marks.
MISBEHAVING: dict[str, tuple[dict[str, str], set[str]]] = {
    "mobilenet_kernel_crash": (
        {"color_shift": "import os\nos._exit(1)\n\ndef color_shift(image, rng, max_shift):\n    pass"},
        {"test_color_shift"},
    ),
}

# The bug whose feedback page the pipeline inspects.
FEEDBACK_BUG = "ir_relu_after_projection"

# A second, self-consistent correct set: other loops, other layouts, a class with named layers.
ALTERNATIVE: dict[str, str] = {
    "depthwise_conv2d_forward": '''\
import numpy as np

def depthwise_conv2d_forward(x, w, b, stride=1, pad=0):
    N, C, H, W = x.shape
    f = w.shape[-1]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    Ho, Wo = (H + 2 * pad - f) // stride + 1, (W + 2 * pad - f) // stride + 1
    out = np.empty((N, C, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            patch = xp[:, :, i * stride:i * stride + f, j * stride:j * stride + f]
            out[:, :, i, j] = np.einsum("ncpq,cpq->nc", patch, w[:, 0]) + b
    return out, {"x": x, "w": w, "stride": stride, "pad": pad}
''',
    "depthwise_conv2d_backward": '''\
import numpy as np

def depthwise_conv2d_backward(dout, cache):
    x, w, stride, pad = cache["x"], cache["w"], cache["stride"], cache["pad"]
    f = w.shape[-1]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros(xp.shape)
    dw = np.zeros(w.shape)
    Ho, Wo = dout.shape[2:]
    for i in range(Ho):
        for j in range(Wo):
            patch = xp[:, :, i * stride:i * stride + f, j * stride:j * stride + f]
            g = dout[:, :, i, j]
            dw[:, 0] += np.einsum("nc,ncpq->cpq", g, patch)
            dxp[:, :, i * stride:i * stride + f, j * stride:j * stride + f] += g[:, :, None, None] * w[None, :, 0]
    H, W = x.shape[2:]
    return dxp[:, :, pad:pad + H, pad:pad + W], dw, np.sum(dout, axis=(0, 2, 3))
''',
    "separable_costs": '''\
def separable_costs(n_H, n_W, n_C, f, n_C_out):
    outputs = n_H * n_W * n_C_out
    normal = outputs * f ** 2 * n_C
    depthwise = n_H * n_W * n_C * f ** 2
    pointwise = outputs * n_C
    return normal, depthwise, pointwise, 1 / n_C_out + 1 / f ** 2
''',
    "InvertedResidual": '''\
import torch
from torch import nn

class InvertedResidual(nn.Module):
    def __init__(self, in_channels, out_channels, stride, expand_ratio):
        super().__init__()
        hidden = in_channels * expand_ratio
        self.expand = expand_ratio != 1
        if self.expand:
            self.conv1 = nn.Conv2d(in_channels, hidden, kernel_size=1, bias=False)
            self.bn1 = nn.BatchNorm2d(hidden)
        self.dw = nn.Conv2d(hidden, hidden, kernel_size=3, stride=stride, padding=1, groups=hidden, bias=False)
        self.bn2 = nn.BatchNorm2d(hidden)
        self.project = nn.Conv2d(hidden, out_channels, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.use_residual = bool(stride == 1 and in_channels == out_channels)

    def forward(self, x):
        h = nn.functional.relu6(self.bn1(self.conv1(x))) if self.expand else x
        h = nn.functional.relu6(self.bn2(self.dw(h)))
        h = self.bn3(self.project(h))
        return h + x if self.use_residual else h
''',
    "freeze_and_replace_head": '''\
import torch

def freeze_and_replace_head(model, num_classes):
    model.requires_grad_(False)
    old = model.classifier[len(model.classifier) - 1]
    model.classifier[len(model.classifier) - 1] = torch.nn.Linear(old.weight.shape[1], num_classes)
    return model
''',
    "mirror": '''\
import numpy as np

def mirror(images, labels, rng, p=0.5):
    out = np.array(images, copy=True)
    for i in range(len(images)):
        if rng.random() < p:
            out[i] = np.flip(images[i], axis=1)
    return out, labels.copy()
''',
    "random_crop": '''\
import numpy as np

def random_crop(image, rng, size, pad=0):
    H, W = image.shape[:2]
    canvas = np.zeros((H + 2 * pad, W + 2 * pad) + image.shape[2:], dtype=image.dtype)
    canvas[pad:pad + H, pad:pad + W] = image
    top = int(rng.integers(canvas.shape[0] - size[0] + 1))
    left = int(rng.integers(canvas.shape[1] - size[1] + 1))
    return canvas[top:top + size[0], left:left + size[1]]
''',
    "color_shift": '''\
import numpy as np

def color_shift(image, rng, max_shift):
    shift = rng.uniform(low=-max_shift, high=max_shift, size=(1, 1, image.shape[2]))
    return np.minimum(np.maximum(image + shift, 0), 1)
''',
}
