'''Topic-6 submissions (Inception): correct solutions, bugs and misbehaving code.

``CORRECT`` maps each exercise of ``solutions/06_inception`` to the source a careful student
would write, in notebook order. ``BUGS`` lists wrong or cheating submissions with the hint
the grader must give; ``breaks`` names the exercises whose checks fail (the backward check
takes the cache from the student's own forward pass).

Exercise -> check -> test cell:

    pointwise_conv_forward   inception.pointwise_conv_forward                      test_pointwise_conv_forward
    pointwise_conv_backward  inception.pointwise_conv_backward(func, forward)      test_pointwise_conv_backward
    layer_mults              inception.layer_mults                                 test_layer_mults
    InceptionModule          inception_torch.inception_module                      test_InceptionModule
    inception_stack          inception.inception_stack                             test_inception_stack

The NumPy exercises may not use the course library, torch or SciPy; the nn.Module may use
torch.nn but not the course's ready-made layers or module (``cnn_course.pt``).
'''

from __future__ import annotations

from . import Bug, replacer

CORRECT: dict[str, str] = {
    "pointwise_conv_forward": '''\
import numpy as np

def pointwise_conv_forward(x, w, b):
    m, n_C, n_H, n_W = x.shape
    W = w.reshape(w.shape[0], n_C)
    x_mat = x.transpose(1, 0, 2, 3).reshape(n_C, -1)
    out_mat = W @ x_mat + b[:, None]
    out = out_mat.reshape(-1, m, n_H, n_W).transpose(1, 0, 2, 3)
    cache = (x, w, b)
    return out, cache
''',
    "pointwise_conv_backward": '''\
import numpy as np

def pointwise_conv_backward(dout, cache):
    x, w, b = cache
    m, n_C, n_H, n_W = x.shape
    W = w.reshape(w.shape[0], n_C)
    d_mat = dout.transpose(1, 0, 2, 3).reshape(w.shape[0], -1)
    x_mat = x.transpose(1, 0, 2, 3).reshape(n_C, -1)
    dx = (W.T @ d_mat).reshape(n_C, m, n_H, n_W).transpose(1, 0, 2, 3)
    dw = (d_mat @ x_mat.T).reshape(w.shape)
    db = d_mat.sum(axis=1)
    return dx, dw, db
''',
    "layer_mults": '''\
def layer_mults(kind, n_H, n_W, n_C, f, n_C_out, n_C_mid=None):
    if kind == "standard":
        return n_H * n_W * n_C_out * (f * f * n_C)
    if kind == "bottleneck":
        return n_H * n_W * n_C_mid * n_C + n_H * n_W * n_C_out * (f * f * n_C_mid)
    if kind == "separable":
        return n_H * n_W * n_C * (f * f) + n_H * n_W * n_C_out * n_C
    raise ValueError(f"unknown kind {kind!r}")
''',
    "InceptionModule": '''\
import torch
from torch import nn

class InceptionModule(nn.Module):
    def __init__(self, in_channels, c1, c3_reduce, c3, c5_reduce, c5, pool_proj):
        super().__init__()
        self.branch1 = nn.Sequential(nn.Conv2d(in_channels, c1, 1), nn.ReLU())
        self.branch3 = nn.Sequential(nn.Conv2d(in_channels, c3_reduce, 1), nn.ReLU(),
                                     nn.Conv2d(c3_reduce, c3, 3, padding=1), nn.ReLU())
        self.branch5 = nn.Sequential(nn.Conv2d(in_channels, c5_reduce, 1), nn.ReLU(),
                                     nn.Conv2d(c5_reduce, c5, 5, padding=2), nn.ReLU())
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1),
                                         nn.Conv2d(in_channels, pool_proj, 1), nn.ReLU())

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x)], dim=1)
''',
    "inception_stack": '''\
def inception_stack(in_shape, layers):
    n_C, n_H, n_W = in_shape
    shapes, n_params = [], 0
    for layer in layers:
        if isinstance(layer, str):
            n_H, n_W = (n_H + 2 - 3) // 2 + 1, (n_W + 2 - 3) // 2 + 1
        else:
            c1, c3_reduce, c3, c5_reduce, c5, pool_proj = layer
            convs = [(1, n_C, c1), (1, n_C, c3_reduce), (3, c3_reduce, c3),
                     (1, n_C, c5_reduce), (5, c5_reduce, c5), (1, n_C, pool_proj)]
            n_params += sum(f * f * c_in * c_out + c_out for f, c_in, c_out in convs)
            n_C = c1 + c3 + c5 + pool_proj
        shapes.append((n_C, n_H, n_W))
    return shapes, n_params
''',
}


_replace = replacer(CORRECT)

_FWD = frozenset({"pointwise_conv_forward", "pointwise_conv_backward"})  # the backward takes the forward's cache
_BWD = frozenset({"pointwise_conv_backward"})
_MULTS = frozenset({"layer_mults"})
_MOD = frozenset({"InceptionModule"})
_STACK = frozenset({"inception_stack"})

BUGS: list[Bug] = [
    # ------------------------------------------------------------------ pointwise_conv_forward
    Bug("pw_fwd_transposed", "pointwise_conv_forward",
        _replace("pointwise_conv_forward", "out_mat = W @ x_mat", "out_mat = W.T @ x_mat"),
        _FWD, "the weights are transposed"),
    Bug("pw_fwd_no_bias", "pointwise_conv_forward",
        _replace("pointwise_conv_forward", "out_mat = W @ x_mat + b[:, None]", "out_mat = W @ x_mat"),
        _FWD, "misses the bias"),
    Bug("pw_fwd_bias_last_axis", "pointwise_conv_forward",
        _replace("pointwise_conv_forward", "out_mat = W @ x_mat + b[:, None]", "out_mat = W @ x_mat")
        .replace("transpose(1, 0, 2, 3)\n    cache", "transpose(1, 0, 2, 3) + b\n    cache"),
        _FWD, "b[None, :, None, None]"),
    Bug("pw_fwd_channels_last", "pointwise_conv_forward",
        _replace("pointwise_conv_forward", "out = out_mat.reshape(-1, m, n_H, n_W).transpose(1, 0, 2, 3)",
                 "out = out_mat.reshape(-1, m, n_H, n_W).transpose(1, 2, 3, 0)"),
        _FWD, "channels-first layout"),
    Bug("pw_fwd_relu", "pointwise_conv_forward",
        _replace("pointwise_conv_forward", "    cache = (x, w, b)", "    out = np.maximum(out, 0)\n    cache = (x, w, b)"),
        _FWD, "the ReLU of the right answer"),
    Bug("pw_fwd_reshape_no_transpose", "pointwise_conv_forward",
        _replace("pointwise_conv_forward", "x_mat = x.transpose(1, 0, 2, 3).reshape(n_C, -1)", "x_mat = x.reshape(n_C, -1)")
        .replace("out = out_mat.reshape(-1, m, n_H, n_W).transpose(1, 0, 2, 3)", "out = out_mat.reshape(m, -1, n_H, n_W)"),
        _FWD, "keeps the image axis in front"),
    Bug("pw_fwd_float64", "pointwise_conv_forward",
        _replace("pointwise_conv_forward", "out_mat = W @ x_mat + b[:, None]", "out_mat = W.astype(float) @ x_mat + b[:, None]"),
        frozenset({"pointwise_conv_forward"}), "must keep the dtype of the inputs"),  # its cache holds the inputs
    Bug("pw_fwd_calls_library", "pointwise_conv_forward",
        "from cnn_course import ref\n\ndef pointwise_conv_forward(x, w, b):\n"
        "    return ref.conv2d_forward(x, w, b, 1, 0)\n", _FWD, "cnn_course.ref"),
    Bug("pw_fwd_calls_torch", "pointwise_conv_forward",
        "import torch\nimport torch.nn.functional as F\n\ndef pointwise_conv_forward(x, w, b):\n"
        "    out = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)).numpy()\n"
        "    return out, (x, w, b)\n", _FWD, "torch"),
    # ------------------------------------------------------------------ pointwise_conv_backward
    Bug("pw_bwd_dx_not_transposed", "pointwise_conv_backward",
        _replace("pointwise_conv_backward", "dx = (W.T @ d_mat)", "dx = (W @ d_mat)"),
        _BWD, "the transpose of W"),
    Bug("pw_bwd_dw_mean", "pointwise_conv_backward",
        _replace("pointwise_conv_backward", "dw = (d_mat @ x_mat.T).reshape(w.shape)",
                 "dw = (d_mat @ x_mat.T).reshape(w.shape) / m"),
        _BWD, "is an average"),
    Bug("pw_bwd_dw_last_image", "pointwise_conv_backward",
        _replace("pointwise_conv_backward", "    dw = (d_mat @ x_mat.T).reshape(w.shape)\n",
                 "    for i in range(m):\n"
                 "        dw = (dout[i].reshape(w.shape[0], -1) @ x[i].reshape(n_C, -1).T).reshape(w.shape)\n"),
        _BWD, "sum over the examples too"),
    Bug("pw_bwd_dw_transposed", "pointwise_conv_backward",
        _replace("pointwise_conv_backward", "dw = (d_mat @ x_mat.T).reshape(w.shape)",
                 "dw = (x_mat @ d_mat.T).reshape(w.shape)"),
        _BWD, "your dw is transposed"),
    Bug("pw_bwd_dw_not_reshaped", "pointwise_conv_backward",
        _replace("pointwise_conv_backward", "dw = (d_mat @ x_mat.T).reshape(w.shape)", "dw = d_mat @ x_mat.T"),
        _BWD, "dw has the shape of w"),
    Bug("pw_bwd_db_wrong_axes", "pointwise_conv_backward",
        _replace("pointwise_conv_backward", "db = d_mat.sum(axis=1)", "db = dout.sum(axis=(1, 2, 3))"),
        _BWD, "axes (0, 2, 3)"),
    Bug("pw_bwd_reshape_no_transpose", "pointwise_conv_backward",
        _replace("pointwise_conv_backward", "d_mat = dout.transpose(1, 0, 2, 3).reshape(w.shape[0], -1)",
                 "d_mat = dout.reshape(w.shape[0], -1)")
        .replace("x_mat = x.transpose(1, 0, 2, 3).reshape(n_C, -1)", "x_mat = x.reshape(n_C, -1)")
        .replace("dx = (W.T @ d_mat).reshape(n_C, m, n_H, n_W).transpose(1, 0, 2, 3)",
                 "dx = (W.T @ d_mat).reshape(m, n_C, n_H, n_W)"),
        _BWD, "keeps the image axis in front"),
    Bug("pw_bwd_calls_torch", "pointwise_conv_backward",
        "import torch\n\ndef pointwise_conv_backward(dout, cache):\n"
        "    x, w, b = (torch.tensor(a, requires_grad=True) for a in cache)\n"
        "    torch.nn.functional.conv2d(x, w, b).backward(torch.from_numpy(dout))\n"
        "    return x.grad.numpy(), w.grad.numpy(), b.grad.numpy()\n", _BWD, "torch"),
    # ------------------------------------------------------------------ layer_mults
    Bug("mults_no_filter_area", "layer_mults",
        _replace("layer_mults", "return n_H * n_W * n_C_out * (f * f * n_C)", "return n_H * n_W * n_C_out * n_C"),
        _MULTS, "off by the filter area"),
    Bug("mults_f_not_f_squared", "layer_mults",
        _replace("layer_mults", "(f * f * ", "(f * ", count=2).replace("n_C * (f * f)", "n_C * f"),
        _MULTS, "off by the filter area"),
    Bug("mults_no_filters", "layer_mults",
        _replace("layer_mults", "return n_H * n_W * n_C_out * (f * f * n_C)", "return n_H * n_W * (f * f * n_C)"),
        _MULTS, "off by the number of filters"),
    Bug("mults_bottleneck_no_reduce_cost", "layer_mults",
        _replace("layer_mults", "return n_H * n_W * n_C_mid * n_C + ", "return "),
        _MULTS, "only the f×f step is counted"),
    Bug("mults_bottleneck_full_input", "layer_mults",
        _replace("layer_mults", "n_H * n_W * n_C_out * (f * f * n_C_mid)", "n_H * n_W * n_C_out * (f * f * n_C)"),
        _MULTS, "works on all n_C input channels"),
    Bug("mults_bottleneck_reduce_area", "layer_mults",
        _replace("layer_mults", "return n_H * n_W * n_C_mid * n_C + ", "return n_H * n_W * n_C_mid * n_C * f * f + "),
        _MULTS, "a 1×1 filter has just n_C weights"),
    Bug("mults_separable_depthwise_full", "layer_mults",
        _replace("layer_mults", "return n_H * n_W * n_C * (f * f) +", "return n_H * n_W * n_C_out * n_C * (f * f) +"),
        _MULTS, "counted like a standard convolution"),
    Bug("mults_separable_no_pointwise", "layer_mults",
        _replace("layer_mults", "return n_H * n_W * n_C * (f * f) + n_H * n_W * n_C_out * n_C",
                 "return n_H * n_W * n_C * (f * f)"),
        _MULTS, "the pointwise (1×1) step is missing"),
    Bug("mults_float", "layer_mults",
        _replace("layer_mults", "def layer_mults(kind, n_H, n_W, n_C, f, n_C_out, n_C_mid=None):\n",
                 "def layer_mults(kind, n_H, n_W, n_C, f, n_C_out, n_C_mid=None):\n    n_H = n_H * 1.0\n"),
        _MULTS, "must be an int"),
    Bug("mults_with_layer_table", "layer_mults",
        "from torch import nn\nfrom cnn_course.pt.summary import layer_table\n\n"
        "def layer_mults(kind, n_H, n_W, n_C, f, n_C_out, n_C_mid=None):\n"
        "    conv = nn.Conv2d(n_C, n_C_out, f, padding=f // 2, bias=False)\n"
        "    return layer_table(conv, (1, n_C, n_H, n_W)).total_mult_adds\n", _MULTS, "cnn_course.pt"),
    Bug("mults_calls_library", "layer_mults",
        "from cnn_course import ref\n\ndef layer_mults(kind, n_H, n_W, n_C, f, n_C_out, n_C_mid=None):\n"
        "    if kind == \"bottleneck\":\n        return ref.bottleneck_mults(n_H, n_W, n_C, f, n_C_out, n_C_mid)\n"
        "    if kind == \"separable\":\n        return ref.separable_mults(n_H, n_W, n_C, f, n_C_out)\n"
        "    return ref.conv_mults(n_H, n_W, n_C, f, n_C_out)\n", _MULTS, "cnn_course.ref"),
    # ------------------------------------------------------------------ InceptionModule (PyTorch)
    Bug("inc_cat_dim0", "InceptionModule",
        _replace("InceptionModule", "self.branch_pool(x)], dim=1)", "self.branch_pool(x)], dim=0)"),
        _MOD, "dim=1"),
    Bug("inc_cat_dim3", "InceptionModule",
        _replace("InceptionModule", "self.branch_pool(x)], dim=1)", "self.branch_pool(x)], dim=3)"),
        _MOD, "dim=1"),
    Bug("inc_pool_no_projection", "InceptionModule",
        _replace("InceptionModule", '''        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1),
                                         nn.Conv2d(in_channels, pool_proj, 1), nn.ReLU())''',
                 "        self.branch_pool = nn.MaxPool2d(3, stride=1, padding=1)"),
        _MOD, "the pool branch has no 1×1 projection"),
    Bug("inc_pool_no_padding", "InceptionModule",
        _replace("InceptionModule", "nn.MaxPool2d(3, stride=1, padding=1)", "nn.MaxPool2d(3, stride=1)"),
        _MOD, "padding=1"),
    Bug("inc_pool_default_stride", "InceptionModule",
        _replace("InceptionModule", "nn.MaxPool2d(3, stride=1, padding=1)", "nn.MaxPool2d(3, padding=1)"),
        _MOD, "its stride defaults to the kernel size"),
    Bug("inc_5x5_padding_1", "InceptionModule",
        _replace("InceptionModule", "nn.Conv2d(c5_reduce, c5, 5, padding=2)", "nn.Conv2d(c5_reduce, c5, 5, padding=1)"),
        _MOD, "5×5 with padding=2"),
    Bug("inc_pool_after_projection", "InceptionModule",
        _replace("InceptionModule", '''nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1),
                                         nn.Conv2d(in_channels, pool_proj, 1), nn.ReLU())''',
                 "nn.Sequential(nn.Conv2d(in_channels, pool_proj, 1), nn.ReLU(), nn.MaxPool2d(3, stride=1, padding=1))"),
        _MOD, "projects first and pools after"),
    Bug("inc_avg_pool", "InceptionModule",
        _replace("InceptionModule", "nn.MaxPool2d(3, stride=1, padding=1)", "nn.AvgPool2d(3, stride=1, padding=1)"),
        _MOD, "your pool branch averages"),
    Bug("inc_zero_padded_pool", "InceptionModule",
        _replace("InceptionModule", "nn.MaxPool2d(3, stride=1, padding=1)", "nn.ZeroPad2d(1), nn.MaxPool2d(3, stride=1)"),
        _MOD, "pads with zeros"),
    Bug("inc_wrong_order", "InceptionModule",
        _replace("InceptionModule", "[self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x)]",
                 "[self.branch1(x), self.branch5(x), self.branch3(x), self.branch_pool(x)]"),
        _MOD, "the right channels in the wrong order"),
    Bug("inc_no_reduce_relu", "InceptionModule",
        _replace("InceptionModule", "nn.Conv2d(in_channels, c3_reduce, 1), nn.ReLU(),", "nn.Conv2d(in_channels, c3_reduce, 1),")
        .replace("nn.Conv2d(in_channels, c5_reduce, 1), nn.ReLU(),", "nn.Conv2d(in_channels, c5_reduce, 1),"),
        _MOD, "the 1×1 reduce layers of the 3×3 and 5×5 branches have no ReLU"),
    Bug("inc_no_bias", "InceptionModule",
        _replace("InceptionModule", ", 1)", ", 1, bias=False)", count=4)
        .replace("padding=1)", "padding=1, bias=False)", 1).replace("padding=2)", "padding=2, bias=False)")
        .replace("nn.MaxPool2d(3, stride=1, padding=1, bias=False)", "nn.MaxPool2d(3, stride=1, padding=1)"),
        _MOD, "your convolutions have no bias"),
    Bug("inc_uses_course_layers", "InceptionModule",
        "from cnn_course.pt.conv import Conv2d\n" + _replace("InceptionModule", "nn.Conv2d(in_channels, c1, 1)",
                                                             "Conv2d(in_channels, c1, 1)"), _MOD, "cnn_course.pt"),
    Bug("inc_uses_zoo_module", "InceptionModule",
        "from torch import nn\nfrom cnn_course.pt.models import InceptionModule as ReadyMade\n\n"
        "class InceptionModule(nn.Module):\n"
        "    def __init__(self, in_channels, c1, c3_reduce, c3, c5_reduce, c5, pool_proj):\n"
        "        super().__init__()\n"
        "        self.inner = ReadyMade(in_channels, c1, c3_reduce, c3, c5_reduce, c5, pool_proj)\n\n"
        "    def forward(self, x):\n"
        "        return self.inner(x)\n", _MOD, "cnn_course.pt"),
    # ------------------------------------------------------------------ inception_stack
    Bug("stack_no_pool_branch", "inception_stack",
        _replace("inception_stack", "n_C = c1 + c3 + c5 + pool_proj", "n_C = c1 + c3 + c5"),
        _STACK, "the pool branch is missing from your channel count"),
    Bug("stack_pool_passthrough", "inception_stack",
        _replace("inception_stack", "n_C = c1 + c3 + c5 + pool_proj", "n_C = c1 + c3 + c5 + n_C")
        .replace(", (1, n_C, pool_proj)]", "]"),
        _STACK, "with no 1×1 projection"),
    Bug("stack_counts_reduce", "inception_stack",
        _replace("inception_stack", "n_C = c1 + c3 + c5 + pool_proj", "n_C = c1 + c3_reduce + c3 + c5_reduce + c5 + pool_proj"),
        _STACK, "includes the reduce layers"),
    Bug("stack_pool_floor", "inception_stack",
        _replace("inception_stack", "n_H, n_W = (n_H + 2 - 3) // 2 + 1, (n_W + 2 - 3) // 2 + 1", "n_H, n_W = n_H // 2, n_W // 2"),
        _STACK, "your max pooling rounds down"),
    Bug("stack_no_bias", "inception_stack",
        _replace("inception_stack", "f * f * c_in * c_out + c_out", "f * f * c_in * c_out"),
        _STACK, "leaves out the biases"),
    Bug("stack_input_channels_fixed", "inception_stack",
        _replace("inception_stack", "(1, n_C, ", "(1, in_shape[0], ", count=4),
        _STACK, "uses the stack's input channels for every module"),
    Bug("stack_counts_with_zoo", "inception_stack",
        "from cnn_course.pt.models import InceptionModule as ZooModule\n\n" + _replace(
            "inception_stack", "n_params += sum(f * f * c_in * c_out + c_out for f, c_in, c_out in convs)",
            "n_params += sum(p.numel() for p in ZooModule(n_C, *layer).parameters())"),
        _STACK, "cnn_course.pt"),
    Bug("stack_no_bottleneck", "inception_stack",
        _replace("inception_stack", "(3, c3_reduce, c3)", "(3, n_C, c3)").replace("(5, c5_reduce, c5)", "(5, n_C, c5)"),
        _STACK, "counted on all n_C input channels"),
]

# Graded end to end through nbgrader by default (the checks themselves are tested bug by bug
# in test_grading_inception.py): the mistakes the issue names first.
PIPELINE_BUGS: list[str] = [
    "pw_fwd_transposed",
    "pw_bwd_dw_mean",
    "mults_no_filter_area",
    "mults_no_filters",
    "inc_cat_dim0",
    "inc_pool_no_projection",
    "inc_pool_no_padding",
    "stack_pool_passthrough",
    "pw_fwd_calls_library",
]

# name -> ({answer cell grade_id: source}, the test cells that must score 0); the rest keeps full marks.
MISBEHAVING: dict[str, tuple[dict[str, str], set[str]]] = {
    # Kills the kernel while the answer cell runs: layer_mults is never defined; nothing else grades it.
    "inception_kernel_crash": (
        {"layer_mults": "import os\nos._exit(1)\n\ndef layer_mults(kind, n_H, n_W, n_C, f, n_C_out, n_C_mid=None):\n"
                        "    pass"},
        {"test_layer_mults"},
    ),
}

# The bug whose feedback page the pipeline inspects.
FEEDBACK_BUG = "inc_pool_no_projection"

# A second, self-consistent correct set: einsum and loops, separate layers called in forward,
# a dict of costs, math.ceil for the pooling.
ALTERNATIVE: dict[str, str] = {
    "pointwise_conv_forward": '''\
import numpy as np

def pointwise_conv_forward(x, w, b):
    out = np.einsum("fc,ichw->ifhw", w[:, :, 0, 0], x) + b.reshape(1, -1, 1, 1)
    return out, {"x": x, "w": w}
''',
    "pointwise_conv_backward": '''\
import numpy as np

def pointwise_conv_backward(dout, cache):
    x, w = cache["x"], cache["w"]
    dx = np.zeros_like(x)
    dw = np.zeros_like(w)
    for i in range(x.shape[0]):
        for h in range(x.shape[2]):
            for v in range(x.shape[3]):
                dx[i, :, h, v] = w[:, :, 0, 0].T @ dout[i, :, h, v]
                dw[:, :, 0, 0] += np.outer(dout[i, :, h, v], x[i, :, h, v])
    return dx, dw, np.sum(dout, axis=(0, 2, 3))
''',
    "layer_mults": '''\
def layer_mults(kind, n_H, n_W, n_C, f, n_C_out, n_C_mid=None):
    positions = n_H * n_W
    costs = {
        "standard": lambda: positions * n_C_out * f ** 2 * n_C,
        "bottleneck": lambda: positions * (n_C_mid * n_C + n_C_out * f ** 2 * n_C_mid),
        "separable": lambda: positions * n_C * (f ** 2 + n_C_out),
    }
    return int(costs[kind]())
''',
    "InceptionModule": '''\
import torch
from torch import nn
import torch.nn.functional as F

class InceptionModule(nn.Module):
    def __init__(self, in_channels, c1, c3_reduce, c3, c5_reduce, c5, pool_proj):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, c1, kernel_size=1)
        self.reduce3 = nn.Conv2d(in_channels, c3_reduce, kernel_size=1)
        self.conv3 = nn.Conv2d(c3_reduce, c3, kernel_size=3, padding=1)
        self.reduce5 = nn.Conv2d(in_channels, c5_reduce, kernel_size=1)
        self.conv5 = nn.Conv2d(c5_reduce, c5, kernel_size=5, padding=2)
        self.pool = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self.proj = nn.Conv2d(in_channels, pool_proj, kernel_size=1)

    def forward(self, x):
        outs = [F.relu(self.conv1(x)),
                F.relu(self.conv3(F.relu(self.reduce3(x)))),
                F.relu(self.conv5(F.relu(self.reduce5(x)))),
                F.relu(self.proj(self.pool(x)))]
        return torch.cat(outs, 1)
''',
    "inception_stack": '''\
import math

def _conv(f, c_in, c_out):
    return (f * f * c_in + 1) * c_out

def inception_stack(in_shape, layers):
    c, h, w = in_shape
    shapes, total = [], 0
    for layer in layers:
        if layer == "maxpool":
            h, w = math.ceil(h / 2), math.ceil(w / 2)
        else:
            c1, r3, c3, r5, c5, pp = layer
            total += _conv(1, c, c1) + _conv(1, c, r3) + _conv(3, r3, c3) + _conv(1, c, r5) + _conv(5, r5, c5)
            total += _conv(1, c, pp)
            c = c1 + c3 + c5 + pp
        shapes.append((c, h, w))
    return shapes, total
''',
}
