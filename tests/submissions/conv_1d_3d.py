'''Topic-13 submissions (convolution in 1D and 3D): correct solutions, bugs and misbehaving code.

``CORRECT`` maps each exercise of ``solutions/13_conv_1d_3d`` to the source a careful student
would write, in notebook order. ``BUGS`` lists wrong or cheating submissions with the hint
the grader must give; ``breaks`` names the exercises whose checks fail.

Exercise -> check -> test cell:

    conv1d_forward    conv_1d_3d.conv1d_forward          test_conv1d_forward
    conv3d_forward    conv_1d_3d.conv3d_forward          test_conv3d_forward
    conv_layer_size   conv_1d_3d.conv_layer_size         test_conv_layer_size
    SignalCNN         conv_1d_3d_torch.signal_cnn        test_SignalCNN

The NumPy exercises may not use the course library, torch or SciPy; the nn.Module may use
torch.nn but not the course's ready-made layers or models (``cnn_course.pt``).
'''

from __future__ import annotations

from . import Bug, replacer

CORRECT: dict[str, str] = {
    "conv1d_forward": '''\
import numpy as np

def conv1d_forward(x, w, b, stride=1, pad=0):
    m, n_C, n_L = x.shape
    n_F, _, f = w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad)))
    n_out = (n_L + 2 * pad - f) // stride + 1
    out = np.zeros((m, n_F, n_out), dtype=np.result_type(x, w))
    for t in range(n_out):
        window = x_pad[:, :, t * stride:t * stride + f]
        out[:, :, t] = np.tensordot(window, w, axes=([1, 2], [1, 2]))
    return out + b[None, :, None]
''',
    "conv3d_forward": '''\
import numpy as np

def conv3d_forward(x, w, b, stride=1, pad=0):
    m, n_C, n_D, n_H, n_W = x.shape
    n_F, _, f, _, _ = w.shape
    p, s = pad, stride
    x_pad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p), (p, p)))
    D, H, W = ((n + 2 * p - f) // s + 1 for n in (n_D, n_H, n_W))
    out = np.zeros((m, n_F, D, H, W), dtype=np.result_type(x, w))
    for d in range(D):
        for h in range(H):
            for v in range(W):
                window = x_pad[:, :, d * s:d * s + f, h * s:h * s + f, v * s:v * s + f]
                out[:, :, d, h, v] = np.tensordot(window, w, axes=([1, 2, 3, 4], [1, 2, 3, 4]))
    return out + b[None, :, None, None, None]
''',
    "conv_layer_size": '''\
import math

def conv_layer_size(in_shape, n_filters, f, stride=1, pad=0):
    n_C, *S = in_shape
    O = tuple((n + 2 * pad - f) // stride + 1 for n in S)
    per_value = n_C * f ** len(S)
    n_params = n_filters * (per_value + 1)
    n_mults = n_filters * math.prod(O) * per_value
    return (n_filters,) + O, n_params, n_mults
''',
    "SignalCNN": '''\
import torch
from torch import nn

class SignalCNN(nn.Module):
    def __init__(self, in_channels, num_classes, f=5, pool=2):
        super().__init__()
        self.conv1 = nn.Conv1d(in_channels, 16, f)
        self.conv2 = nn.Conv1d(16, 32, f)
        self.pool = nn.MaxPool1d(pool)
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x):
        h = self.pool(torch.relu(self.conv1(x)))
        h = self.pool(torch.relu(self.conv2(h)))
        return self.fc(h.mean(dim=2))
''',
}


_replace = replacer(CORRECT)

_C1 = frozenset({"conv1d_forward"})
_C3 = frozenset({"conv3d_forward"})
_SIZE = frozenset({"conv_layer_size"})
_CNN = frozenset({"SignalCNN"})

BUGS: list[Bug] = [
    # ------------------------------------------------------------------ conv1d_forward
    Bug("c1_flipped", "conv1d_forward",
        _replace("conv1d_forward", "np.tensordot(window, w,", "np.tensordot(window, w[:, :, ::-1],"),
        _C1, "the filter flipped"),
    Bug("c1_no_bias", "conv1d_forward",
        _replace("conv1d_forward", "return out + b[None, :, None]", "return out"),
        _C1, "misses the bias"),
    Bug("c1_pad_one_side", "conv1d_forward",
        _replace("conv1d_forward", "(pad, pad)", "(2 * pad, 0)"),
        _C1, "all the padding is on one side"),
    Bug("c1_pad_one_side_size", "conv1d_forward",
        _replace("conv1d_forward", "(pad, pad)", "(pad, 0)").replace("n_L + 2 * pad - f", "n_L + pad - f"),
        _C1, "padding on ONE side"),
    Bug("c1_first_channel", "conv1d_forward",
        _replace("conv1d_forward", "np.tensordot(window, w, axes=([1, 2], [1, 2]))",
                 "np.tensordot(window[:, 0], w[:, 0], axes=([1], [1]))"),
        _C1, "read only the first input channel"),
    Bug("c1_not_sliding", "conv1d_forward",
        _replace("conv1d_forward", "x_pad[:, :, t * stride:t * stride + f]", "x_pad[:, :, 0:f]"),
        _C1, "does not slide along it"),
    Bug("c1_stride_ignored", "conv1d_forward",
        _replace("conv1d_forward", "x_pad[:, :, t * stride:t * stride + f]", "x_pad[:, :, t:t + f]"),
        _C1, "steps by 1 along the time axis"),
    Bug("c1_calls_library", "conv1d_forward",
        "from cnn_course import ref\n\ndef conv1d_forward(x, w, b, stride=1, pad=0):\n"
        "    return ref.conv1d_forward(x, w, b, stride, pad)[0]\n", _C1, "cnn_course.ref"),
    Bug("c1_calls_torch", "conv1d_forward",
        "import torch\nimport torch.nn.functional as F\n\ndef conv1d_forward(x, w, b, stride=1, pad=0):\n"
        "    return F.conv1d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride, pad).numpy()\n",
        _C1, "torch"),
    # ------------------------------------------------------------------ conv3d_forward
    Bug("c3_flipped", "conv3d_forward",
        _replace("conv3d_forward", "np.tensordot(window, w,", "np.tensordot(window, w[:, :, ::-1, ::-1, ::-1],"),
        _C3, "the filter flipped"),
    Bug("c3_no_bias", "conv3d_forward",
        _replace("conv3d_forward", "return out + b[None, :, None, None, None]", "return out"),
        _C3, "misses the bias"),
    Bug("c3_pad_one_side", "conv3d_forward",
        _replace("conv3d_forward", "((0, 0), (0, 0), (p, p), (p, p), (p, p))",
                 "((0, 0), (0, 0), (2 * p, 0), (2 * p, 0), (2 * p, 0))"),
        _C3, "all the padding is on one side"),
    Bug("c3_depth_not_sliding", "conv3d_forward",
        _replace("conv3d_forward", "x_pad[:, :, d * s:d * s + f,", "x_pad[:, :, 0:f,"),
        _C3, "along the depth axis: the window does not slide"),
    Bug("c3_axis_dropped", "conv3d_forward",
        _replace("conv3d_forward", "out = np.zeros((m, n_F, D, H, W), dtype=np.result_type(x, w))",
                 "out = np.zeros((m, n_F, H, W), dtype=np.result_type(x, w))")
        .replace("    for d in range(D):\n        for h in range(H):\n            for v in range(W):\n"
                 "                window = x_pad[:, :, d * s:d * s + f,",
                 "    for d in range(1):\n        for h in range(H):\n            for v in range(W):\n"
                 "                window = x_pad[:, :, d * s:d * s + f,")
        .replace("out[:, :, d, h, v] =", "out[:, :, h, v] =").replace("b[None, :, None, None, None]",
                                                                      "b[None, :, None, None]"),
        _C3, "an axis was dropped"),
    Bug("c3_stride_one_axis", "conv3d_forward",
        _replace("conv3d_forward", "h * s:h * s + f, v * s:v * s + f]", "h:h + f, v:v + f]"),
        _C3, "steps by 1 along the height and width axis"),
    Bug("c3_stride_one_axis_size", "conv3d_forward",
        _replace("conv3d_forward", "D, H, W = ((n + 2 * p - f) // s + 1 for n in (n_D, n_H, n_W))",
                 "D = (n_D + 2 * p - f) // s + 1\n    H, W = n_H + 2 * p - f + 1, n_W + 2 * p - f + 1")
        .replace("h * s:h * s + f, v * s:v * s + f]", "h:h + f, v:v + f]"),
        _C3, "stride-1 size along the height and width axis"),
    Bug("c3_first_channel", "conv3d_forward",
        _replace("conv3d_forward", "np.tensordot(window, w, axes=([1, 2, 3, 4], [1, 2, 3, 4]))",
                 "np.tensordot(window[:, 0], w[:, 0], axes=([1, 2, 3], [1, 2, 3]))"),
        _C3, "read only the first input channel"),
    Bug("c3_calls_library", "conv3d_forward",
        "from cnn_course.ref.convnd import convnd_forward\n\ndef conv3d_forward(x, w, b, stride=1, pad=0):\n"
        "    return convnd_forward(x, w, b, stride, pad)[0]\n", _C3, "cnn_course.ref"),
    # ------------------------------------------------------------------ conv_layer_size
    Bug("size_no_bias", "conv_layer_size",
        _replace("conv_layer_size", "n_params = n_filters * (per_value + 1)", "n_params = n_filters * per_value"),
        _SIZE, "leaves out the biases"),
    Bug("size_f_once", "conv_layer_size",
        _replace("conv_layer_size", "per_value = n_C * f ** len(S)", "per_value = n_C * f"),
        _SIZE, "filter's extent on some axes"),
    Bug("size_no_channels", "conv_layer_size",
        _replace("conv_layer_size", "per_value = n_C * f ** len(S)", "per_value = f ** len(S)"),
        _SIZE, "do not span the input's channels"),
    Bug("size_keep_channels", "conv_layer_size",
        _replace("conv_layer_size", "return (n_filters,) + O,", "return (n_C,) + O,"),
        _SIZE, "keeps the input's channels"),
    Bug("size_pad_one_side", "conv_layer_size",
        _replace("conv_layer_size", "(n + 2 * pad - f) // stride + 1", "(n + pad - f) // stride + 1"),
        _SIZE, "padding on one side only"),
    Bug("size_mults_one_filter", "conv_layer_size",
        _replace("conv_layer_size", "n_mults = n_filters * math.prod(O) * per_value", "n_mults = math.prod(O) * per_value"),
        _SIZE, "those of ONE filter"),
    Bug("size_true_division", "conv_layer_size",
        _replace("conv_layer_size", "(n + 2 * pad - f) // stride + 1", "(n + 2 * pad - f) / stride + 1"),
        _SIZE, "integer division"),
    Bug("size_calls_library", "conv_layer_size",
        "from cnn_course.ref.convnd import convnd_output_shape\n\n"
        "def conv_layer_size(in_shape, n_filters, f, stride=1, pad=0):\n"
        "    n_C, *S = in_shape\n"
        "    O = convnd_output_shape(S, [f] * len(S), stride, pad)\n"
        "    k = n_C * f ** len(S)\n"
        "    n = n_filters\n"
        "    for o in O:\n        n *= o\n"
        "    return (n_filters,) + tuple(O), n_filters * (k + 1), n * k\n", _SIZE, "cnn_course.ref"),
    # ------------------------------------------------------------------ SignalCNN (PyTorch)
    Bug("cnn_padding_same", "SignalCNN",
        _replace("SignalCNN", "nn.Conv1d(in_channels, 16, f)", "nn.Conv1d(in_channels, 16, f, padding=f // 2)")
        .replace("nn.Conv1d(16, 32, f)", "nn.Conv1d(16, 32, f, padding=f // 2)"),
        _CNN, "pad the signal"),
    Bug("cnn_no_relu", "SignalCNN",
        _replace("SignalCNN", "h = self.pool(torch.relu(self.conv2(h)))", "h = self.pool(self.conv2(h))"),
        _CNN, "a ReLU is missing"),
    Bug("cnn_avg_pool", "SignalCNN",
        _replace("SignalCNN", "nn.MaxPool1d(pool)", "nn.AvgPool1d(pool)"),
        _CNN, "your pooling averages"),
    Bug("cnn_global_max", "SignalCNN",
        _replace("SignalCNN", "h.mean(dim=2)", "h.amax(dim=2)"),
        _CNN, "maximum over time"),
    Bug("cnn_one_pool", "SignalCNN",
        _replace("SignalCNN", "h = self.pool(torch.relu(self.conv2(h)))", "h = torch.relu(self.conv2(h))"),
        _CNN, "pools only once"),
    Bug("cnn_grouped", "SignalCNN",
        _replace("SignalCNN", "nn.Conv1d(16, 32, f)", "nn.Conv1d(16, 32, f, groups=16)"),
        _CNN, "do not span the 16 input channels"),
    Bug("cnn_conv2d", "SignalCNN",
        _replace("SignalCNN", "nn.Conv1d(in_channels, 16, f)", "nn.Conv2d(in_channels, 16, f)")
        .replace("nn.Conv1d(16, 32, f)", "nn.Conv2d(16, 32, f)"),
        _CNN, "nn.Conv1d"),
    Bug("cnn_mean_channels", "SignalCNN",
        _replace("SignalCNN", "h.mean(dim=2)", "h.mean(dim=1)"),
        _CNN, "average over the TIME axis"),
    Bug("cnn_uses_library", "SignalCNN",
        "from torch import nn\nfrom cnn_course.pt.convnet_nd import cnn1d\n\n"
        "class SignalCNN(nn.Module):\n"
        "    def __init__(self, in_channels, num_classes, f=5, pool=2):\n"
        "        super().__init__()\n"
        "        self.inner = cnn1d(in_channels, num_classes, f=f)\n\n"
        "    def forward(self, x):\n"
        "        return self.inner(x)\n", _CNN, "cnn_course.pt"),
]

# Graded end to end through nbgrader by default (the checks themselves are tested bug by bug
# in test_grading_conv_1d_3d.py): the mistakes the issue names first.
PIPELINE_BUGS: list[str] = [
    "c1_flipped",
    "c1_first_channel",
    "c1_pad_one_side",
    "c3_depth_not_sliding",
    "c3_stride_one_axis",
    "c3_no_bias",
    "size_no_channels",
    "cnn_grouped",
    "c1_calls_library",
]

# name -> ({answer cell grade_id: source}, the test cells that must score 0); the rest keeps full marks.
MISBEHAVING: dict[str, tuple[dict[str, str], set[str]]] = {
    # Kills the kernel while the answer cell runs: conv_layer_size is never defined; nothing else grades it.
    "conv_1d_3d_kernel_crash": (
        {"conv_layer_size": "import os\nos._exit(1)\n\ndef conv_layer_size(in_shape, n_filters, f, stride=1, pad=0):\n"
                            "    pass"},
        {"test_conv_layer_size"},
    ),
}

# The bug whose feedback page the pipeline inspects.
FEEDBACK_BUG = "c3_stride_one_axis"

# A second, self-consistent correct set: im2col-style windows, one function for any d, loops
# over the filters, F.relu and a Sequential.
ALTERNATIVE: dict[str, str] = {
    "conv1d_forward": '''\
import numpy as np

def conv1d_forward(x, w, b, stride=1, pad=0):
    xp = np.pad(x, [(0, 0), (0, 0), (pad, pad)])
    f = w.shape[2]
    n_out = (xp.shape[2] - f) // stride + 1
    idx = np.arange(n_out)[:, None] * stride + np.arange(f)[None, :]     # (n_out, f)
    cols = xp[:, :, idx]                                                 # (m, C, n_out, f)
    out = np.einsum("mctf,kcf->mkt", cols, w)
    return out + b.reshape(1, -1, 1)
''',
    "conv3d_forward": '''\
import itertools
import numpy as np

def conv3d_forward(x, w, b, stride=1, pad=0):
    xp = np.pad(x, [(0, 0), (0, 0)] + [(pad, pad)] * 3)
    f = w.shape[2]
    sizes = [(n - f) // stride + 1 for n in xp.shape[2:]]
    out = np.empty((x.shape[0], w.shape[0], *sizes), dtype=np.result_type(x, w))
    for k in range(w.shape[0]):
        for pos in itertools.product(*(range(n) for n in sizes)):
            sl = tuple(slice(i * stride, i * stride + f) for i in pos)
            out[(slice(None), k) + pos] = np.sum(xp[(slice(None), slice(None)) + sl] * w[k], axis=(1, 2, 3, 4)) + b[k]
    return out
''',
    "conv_layer_size": '''\
def conv_layer_size(in_shape, n_filters, f, stride=1, pad=0):
    channels = in_shape[0]
    sizes = [(s - f + 2 * pad) // stride + 1 for s in in_shape[1:]]
    weights_per_filter = channels
    for _ in sizes:
        weights_per_filter *= f
    values = n_filters
    for s in sizes:
        values *= s
    return tuple([n_filters] + sizes), (weights_per_filter + 1) * n_filters, values * weights_per_filter
''',
    "SignalCNN": '''\
import torch.nn.functional as F
from torch import nn

class SignalCNN(nn.Module):
    def __init__(self, in_channels, num_classes, f=5, pool=2):
        super().__init__()
        self.features = nn.Sequential(nn.Conv1d(in_channels, 16, kernel_size=f), nn.ReLU(), nn.MaxPool1d(pool),
                                      nn.Conv1d(16, 32, kernel_size=f), nn.ReLU(), nn.MaxPool1d(pool))
        self.classifier = nn.Linear(32, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x).mean(-1))
''',
}
