"""The convolutional implementation of sliding windows, in NumPy (the twin of ``cnn_course.pt.sliding``).

The 14×14×3 classifier (conv 5×5 16 + ReLU, max pool 2, FC 400 + ReLU, FC 400 + ReLU, FC C)
holds its weights in a dict in PyTorch's layouts, so that ``params_from_torch`` of a
``pt.sliding.WindowClassifier`` fits:

    conv.weight (16, 3, 5, 5)   conv.bias (16,)
    fc1.weight  (400, 400)      fc1.bias  (400,)     rows: outputs; columns: the 16×5×5 volume
    fc2.weight  (400, 400)      fc2.bias  (400,)     flattened in (channel, row, column) order
    fc3.weight  (C, 400)        fc3.bias  (C,)

``fc_to_conv_params`` reshapes the FC matrices into convolution filters — fc1 into 400 filters of
16×5×5, fc2 and fc3 into 1×1 filters — and ``conv_sliding_forward`` runs them on a whole image:
output position (i, j) equals ``window_classifier_forward`` on the 14×14 window at (2i, 2j).
"""

from __future__ import annotations

import numpy as np

from .. import _validate as v
from .conv import conv2d_forward
from .pool import pool2d_forward

__all__ = [
    "conv_sliding_forward",
    "fc_to_conv_params",
    "sliding_window_loop",
    "window_classifier_forward",
    "window_classifier_init",
]

WINDOW = 14
_KEYS = ("conv.weight", "conv.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias")


def window_classifier_init(rng, num_classes=4, in_channels=3):
    """Random weights (He-style scale) for the classifier, as a dict in PyTorch's layouts."""
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a np.random.Generator, got {type(rng).__name__}")
    C = v.check_positive_int(num_classes, "num_classes")
    cin = v.check_positive_int(in_channels, "in_channels")
    shapes = {"conv.weight": (16, cin, 5, 5), "fc1.weight": (400, 400), "fc2.weight": (400, 400), "fc3.weight": (C, 400)}
    params = {}
    for name, shape in shapes.items():
        fan_in = int(np.prod(shape[1:]))
        params[name] = rng.normal(0, np.sqrt(2 / fan_in), shape)
        params[name.replace("weight", "bias")] = rng.normal(0, 0.1, shape[0])
    return params


def _check_params(params, conv: bool) -> None:
    if not isinstance(params, dict) or any(k not in params for k in _KEYS):
        raise ValueError(f"params must be a dict with the keys {_KEYS}, got "
                         f"{sorted(params) if isinstance(params, dict) else type(params).__name__}")
    expected = {"fc1.weight": (400, 16, 5, 5) if conv else (400, 400), "fc2.weight": (400, 400, 1, 1) if conv else (400, 400)}
    for k, shape in expected.items():
        if tuple(params[k].shape) != shape:
            what = "fc_to_conv_params output" if conv else "FC weights (use fc_to_conv_params for the conv version)"
            raise ValueError(f"params[{k!r}] must have shape {shape} ({what}), got {tuple(params[k].shape)}")


def _features(params, x):
    """conv 5×5 + ReLU, max pool 2: (N, 3, H, W) -> (N, 16, (H-4)//2, (W-4)//2)."""
    h, _ = conv2d_forward(x, params["conv.weight"], params["conv.bias"])
    return pool2d_forward(np.maximum(h, 0), 2, 2)[0]


def window_classifier_forward(params, x):
    """The classifier: x (N, 3, 14, 14) -> logits (N, C)."""
    _check_params(params, conv=False)
    v.check_ndim(x, 4, "x", "(N, C, 14, 14)")
    if tuple(x.shape[2:]) != (WINDOW, WINDOW):
        raise ValueError(f"the classifier takes 14×14 windows, got x.shape={tuple(x.shape)}: for larger images "
                         f"use conv_sliding_forward(fc_to_conv_params(params), x) or sliding_window_loop")
    h = _features(params, x).reshape(x.shape[0], -1)  # (N, 400) in (channel, row, column) order
    h = np.maximum(h @ params["fc1.weight"].T + params["fc1.bias"], 0)
    h = np.maximum(h @ params["fc2.weight"].T + params["fc2.bias"], 0)
    return h @ params["fc3.weight"].T + params["fc3.bias"]


def fc_to_conv_params(params):
    """The same weights as convolutions: fc1 -> (400, 16, 5, 5), fc2 -> (400, 400, 1, 1), fc3 -> (C, 400, 1, 1)."""
    _check_params(params, conv=False)
    out = dict(params)
    out["fc1.weight"] = params["fc1.weight"].reshape(400, 16, 5, 5)
    out["fc2.weight"] = params["fc2.weight"].reshape(400, 400, 1, 1)
    out["fc3.weight"] = params["fc3.weight"].reshape(-1, 400, 1, 1)
    return out


def conv_sliding_forward(conv_params, x):
    """The fully convolutional network: x (N, 3, H, W), H, W >= 14 -> logits (N, C, (H-4)//2 - 4, (W-4)//2 - 4)."""
    _check_params(conv_params, conv=True)
    v.check_ndim(x, 4, "x", "(N, C, H, W)")
    if x.shape[2] < WINDOW or x.shape[3] < WINDOW:
        raise ValueError(f"x must be at least 14×14 (one window), got shape {tuple(x.shape)}")
    h = _features(conv_params, x)
    for k in ("fc1", "fc2"):
        h = np.maximum(conv2d_forward(h, conv_params[f"{k}.weight"], conv_params[f"{k}.bias"])[0], 0)
    return conv2d_forward(h, conv_params["fc3.weight"], conv_params["fc3.bias"])[0]


def sliding_window_loop(classify, image, window=WINDOW, stride=2):
    """``classify`` (a function (N, C, window, window) -> (N, K)) on every window, one at a time.

    image: (N, C, H, W)  ->  (N, K, (H-window)//stride + 1, (W-window)//stride + 1).
    """
    v.check_ndim(image, 4, "image", "(N, C, H, W)")
    window, stride = v.check_positive_int(window, "window"), v.check_positive_int(stride, "stride")
    N, C, H, W = image.shape
    if H < window or W < window:
        raise ValueError(f"image ({H}×{W}) is smaller than the window ({window}×{window})")
    rows, cols = (H - window) // stride + 1, (W - window) // stride + 1
    out = None
    for i in range(rows):
        for j in range(cols):
            y = classify(image[:, :, i * stride:i * stride + window, j * stride:j * stride + window])
            if out is None:
                out = np.zeros((N, y.shape[1], rows, cols), y.dtype)
            out[:, :, i, j] = y
    return out
