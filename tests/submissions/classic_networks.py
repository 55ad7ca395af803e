'''Topic-4 submissions (04_classic_networks: the pipeline finds a catalogue by the topic's name):
correct solutions, other correct ones, and bugs.

``CORRECT`` maps each exercise of ``solutions/04_classic_networks`` to the source a careful
student would write. ``VECTORISED`` holds correct solutions written differently (a dict of
rules, nn.Module blocks, functional layers) that the checks and the anti-cheat must accept.
``BUGS`` lists wrong or cheating submissions with the hint the grader must give.
``PIPELINE_BUGS``, ``FEEDBACK_BUG`` and ``MISBEHAVING`` drive the nbgrader pipeline tests
(tests/_pipeline.py).
'''

from __future__ import annotations

from . import Bug, replacer

# The checks that grade each exercise, where they are not the exercise's own name.
CHECKS = {"LeNet5": ("lenet5",), "VGGNet": ("vgg_net",)}

CORRECT: dict[str, str] = {
    "output_shape": '''\
import numpy as np

def output_shape(layer, input_shape):
    kind = layer[0]
    if kind == "conv":
        _, n_C, f, stride, pad = layer
        n_C_prev, n_H, n_W = input_shape
        return (n_C, (n_H + 2 * pad - f) // stride + 1, (n_W + 2 * pad - f) // stride + 1)
    if kind in ("maxpool", "avgpool"):
        _, f, stride = layer
        n_C, n_H, n_W = input_shape
        return (n_C, (n_H - f) // stride + 1, (n_W - f) // stride + 1)
    if kind == "flatten":
        return (int(np.prod(input_shape)),)
    if kind == "fc":
        if len(input_shape) != 1:
            raise ValueError(f"fc needs a vector, got {input_shape}: flatten first")
        return (layer[1],)
    return tuple(input_shape)
''',
    "layer_counts": '''\
import numpy as np

def layer_counts(layer, input_shape):
    kind = layer[0]
    if kind == "conv":
        _, n_C, f, stride, pad = layer
        params = f * f * input_shape[0] * n_C + n_C
        _, n_H, n_W = output_shape(layer, input_shape)
        return params, params * n_H * n_W
    if kind == "fc":
        n_in = input_shape[0]
        params = n_in * layer[1] + layer[1]
        return params, params
    return 0, 0
''',
    "network_table": '''\
import numpy as np

def network_table(spec, input_shape):
    rows = []
    shape = tuple(input_shape)
    for layer in spec:
        params, mult_adds = layer_counts(layer, shape)
        shape = output_shape(layer, shape)
        rows.append((layer[0], shape, params, mult_adds))
    return rows
''',
    "LeNet5": '''\
import torch
from torch import nn

class LeNet5(nn.Module):
    def __init__(self, n_classes=10, modern=False):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, kernel_size=5)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, n_classes)
        self.act = nn.ReLU() if modern else nn.Tanh()
        self.pool = nn.MaxPool2d(2) if modern else nn.AvgPool2d(2)

    def forward(self, x):
        x = self.pool(self.act(self.conv1(x)))
        x = self.pool(self.act(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = self.act(self.fc1(x))
        x = self.act(self.fc2(x))
        return self.fc3(x)
''',
    "lenet5_forward": '''\
import numpy as np
from cnn_course import ref

def lenet5_forward(x, params, modern=False):
    act = (lambda z: np.maximum(z, 0)) if modern else np.tanh
    mode = "max" if modern else "average"
    a = x
    for k in (1, 2):
        z, _ = ref.conv2d_forward(a, params[f"W{k}"], params[f"b{k}"])
        a, _ = ref.pool2d_forward(act(z), f=2, stride=2, mode=mode)
    a = a.reshape(a.shape[0], -1)
    a = act(a @ params["W3"].T + params["b3"])
    a = act(a @ params["W4"].T + params["b4"])
    return a @ params["W5"].T + params["b5"]
''',
    "vgg_block": '''\
from torch import nn

def vgg_block(num_convs, in_channels, out_channels):
    layers = []
    for i in range(num_convs):
        layers.append(nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, kernel_size=3, padding=1))
        layers.append(nn.ReLU())
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)
''',
    "VGGNet": '''\
import torch
from torch import nn

class VGGNet(nn.Module):
    def __init__(self, cfg, in_channels=1, image_size=32, hidden=64, n_classes=10):
        super().__init__()
        blocks = []
        channels = in_channels
        for num_convs, out_channels in cfg:
            blocks.append(vgg_block(num_convs, channels, out_channels))
            channels = out_channels
        self.features = nn.Sequential(*blocks)
        side = image_size // 2 ** len(cfg)
        self.fc1 = nn.Linear(channels * side * side, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, n_classes)

    def forward(self, x):
        x = torch.flatten(self.features(x), 1)
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)
''',
}

# Correct but written differently. The checks and the anti-cheat must accept these.
VECTORISED: dict[str, str] = {
    "output_shape": '''\
import math

def output_shape(layer, input_shape):
    kind, *args = layer
    if kind == "conv":
        n_C, f, s, p = args
        return (n_C,) + tuple((n + 2 * p - f) // s + 1 for n in input_shape[1:])
    if kind.endswith("pool"):
        f, s = args
        return (input_shape[0],) + tuple((n - f) // s + 1 for n in input_shape[1:])
    if kind == "flatten":
        return (math.prod(input_shape),)
    if kind == "fc":
        if len(input_shape) > 1:
            raise ValueError("flatten first")
        return (args[0],)
    return tuple(input_shape)
''',
    "layer_counts": '''\
def layer_counts(layer, input_shape):
    out = output_shape(layer, input_shape)
    if layer[0] == "conv":
        per_filter = layer[2] ** 2 * input_shape[0] + 1
        params = per_filter * layer[1]
        return params, params * out[1] * out[2]
    if layer[0] == "fc":
        params = (input_shape[0] + 1) * out[0]
        return params, params
    return 0, 0
''',
    "lenet5_forward": '''\
import numpy as np
from cnn_course.ref import conv2d_forward, pool2d_forward

def relu(z):
    return np.maximum(z, 0)

def lenet5_forward(x, params, modern=False):
    g = relu if modern else np.tanh
    a = x
    for W, b in ((params["W1"], params["b1"]), (params["W2"], params["b2"])):
        z = conv2d_forward(a, W, b, stride=1, pad=0)[0]
        a = pool2d_forward(g(z), 2, 2, mode="max" if modern else "average")[0]
    a = a.reshape(len(a), -1)
    for k in (3, 4):
        a = g(a @ params[f"W{k}"].T + params[f"b{k}"])
    return a @ params["W5"].T + params["b5"]
''',
    "LeNet5": '''\
import torch
from torch import nn
import torch.nn.functional as F

class LeNet5(nn.Module):  # functional activations and pooling
    def __init__(self, n_classes=10, modern=False):
        super().__init__()
        self.modern = modern
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, n_classes)

    def forward(self, x):
        act = F.relu if self.modern else torch.tanh
        pool = F.max_pool2d if self.modern else F.avg_pool2d
        x = pool(act(self.conv1(x)), 2)
        x = pool(act(self.conv2(x)), 2)
        x = x.view(x.size(0), -1)
        return self.fc3(act(self.fc2(act(self.fc1(x)))))
''',
    "vgg_block": '''\
from torch import nn

class VGGBlock(nn.Module):
    def __init__(self, num_convs, in_channels, out_channels):
        super().__init__()
        self.convs = nn.ModuleList(
            [nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, padding="same")
             for i in range(num_convs)])
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        for conv in self.convs:
            x = conv(x).relu()
        return self.pool(x)

def vgg_block(num_convs, in_channels, out_channels):
    return VGGBlock(num_convs, in_channels, out_channels)
''',
}


_replace = replacer(CORRECT)


BUGS: list[Bug] = [
    # ------------------------------------------------------------------ output_shape
    Bug("output_shape_no_plus_one", "output_shape",
        _replace("output_shape", "// stride + 1, (n_W + 2 * pad - f) // stride + 1)",
                 "// stride, (n_W + 2 * pad - f) // stride)"),
        frozenset({"output_shape", "layer_counts", "network_table"}), "forgot the + 1"),
    Bug("output_shape_keeps_channels", "output_shape",
        _replace("output_shape", "return (n_C, (n_H + 2 * pad - f) // stride + 1",
                 "return (n_C_prev, (n_H + 2 * pad - f) // stride + 1"),
        frozenset({"output_shape", "network_table"}), "as many channels as it has filters"),
    Bug("output_shape_pool_halves", "output_shape",
        _replace("output_shape", "return (n_C, (n_H - f) // stride + 1, (n_W - f) // stride + 1)",
                 "return (n_C, n_H // 2, n_W // 2)"),
        frozenset({"output_shape", "network_table"}), "does not always halve"),
    Bug("output_shape_flatten_int", "output_shape",
        _replace("output_shape", "return (int(np.prod(input_shape)),)", "return int(np.prod(input_shape))"),
        frozenset({"output_shape", "network_table"}), "the 1-tuple (n,), with the comma"),
    Bug("output_shape_list", "output_shape",
        _replace("output_shape", "return tuple(input_shape)", "return list(input_shape)")
        .replace("return (n_C, (n_H + 2 * pad - f) // stride + 1, (n_W + 2 * pad - f) // stride + 1)",
                 "return [n_C, (n_H + 2 * pad - f) // stride + 1, (n_W + 2 * pad - f) // stride + 1]"),
        frozenset({"output_shape"}), "not a list: tuple(...) turns a list into one"),
    Bug("output_shape_fc_on_volume", "output_shape",  # no ValueError for a forgotten flatten
        _replace("output_shape", '''        if len(input_shape) != 1:
            raise ValueError(f"fc needs a vector, got {input_shape}: flatten first")
''', ""),
        frozenset({"output_shape"}), "the spec must flatten first"),
    Bug("output_shape_float_division", "output_shape",
        _replace("output_shape", "return (n_C, (n_H + 2 * pad - f) // stride + 1, (n_W + 2 * pad - f) // stride + 1)",
                 "return (n_C, (n_H + 2 * pad - f) / stride + 1, (n_W + 2 * pad - f) / stride + 1)"),
        frozenset({"output_shape", "layer_counts", "network_table"}), "must be an int"),
    # ------------------------------------------------------------------ layer_counts
    Bug("layer_counts_no_bias", "layer_counts",
        _replace("layer_counts", "params = f * f * input_shape[0] * n_C + n_C", "params = f * f * input_shape[0] * n_C")
        .replace("params = n_in * layer[1] + layer[1]", "params = n_in * layer[1]"),
        frozenset({"layer_counts", "network_table"}), "but not the biases"),
    Bug("layer_counts_bias_twice", "layer_counts",
        _replace("layer_counts", "params = f * f * input_shape[0] * n_C + n_C",
                 "params = f * f * input_shape[0] * n_C + n_C + n_C")
        .replace("params = n_in * layer[1] + layer[1]", "params = n_in * layer[1] + 2 * layer[1]"),
        frozenset({"layer_counts", "network_table"}), "counted the biases twice"),
    Bug("layer_counts_one_bias_per_layer", "layer_counts",  # the widely copied table: FC3 48,001
        _replace("layer_counts", "params = n_in * layer[1] + layer[1]", "params = n_in * layer[1] + 1"),
        frozenset({"layer_counts", "network_table"}), "not one per layer"),
    Bug("layer_counts_pool_params", "layer_counts",
        _replace("layer_counts", "    return 0, 0\n", '''    if kind in ("maxpool", "avgpool"):
        f = layer[1]
        return f * f * input_shape[0], 0
    return 0, 0
'''),
        frozenset({"layer_counts", "network_table"}), "pooling layers have no parameters"),
    Bug("layer_counts_flatten_params", "layer_counts",
        _replace("layer_counts", "    return 0, 0\n", '''    if kind == "flatten":
        return int(np.prod(input_shape)), 0
    return 0, 0
'''),
        frozenset({"layer_counts", "network_table"}), "flatten has no parameters"),
    Bug("layer_counts_flat_filter", "layer_counts",  # the other slip of the widely copied table
        _replace("layer_counts", "params = f * f * input_shape[0] * n_C + n_C", "params = (f * f + 1) * n_C"),
        frozenset({"layer_counts", "network_table"}), "each filter spans all the input's channels"),
    Bug("layer_counts_madds_without_bias", "layer_counts",
        _replace("layer_counts", "return params, params * n_H * n_W",
                 "return params, (params - n_C) * n_H * n_W"),
        frozenset({"layer_counts", "network_table"}), "count the bias addition too"),
    Bug("layer_counts_madds_input_size", "layer_counts",
        _replace("layer_counts", "        _, n_H, n_W = output_shape(layer, input_shape)\n",
                 "        _, n_H, n_W = input_shape\n"),
        frozenset({"layer_counts", "network_table"}), "once per *output* position"),
    # ------------------------------------------------------------------ network_table
    Bug("network_table_not_propagated", "network_table",
        _replace("network_table", "        shape = output_shape(layer, shape)\n        rows.append((layer[0], shape, params, mult_adds))",
                 "        rows.append((layer[0], output_shape(layer, input_shape), params, mult_adds))"),
        frozenset({"network_table"}), "update it after every layer"),
    Bug("network_table_input_shape_rows", "network_table",
        _replace("network_table", "        shape = output_shape(layer, shape)\n        rows.append((layer[0], shape, params, mult_adds))",
                 "        rows.append((layer[0], shape, params, mult_adds))\n        shape = output_shape(layer, shape)"),
        frozenset({"network_table"}), "yours shows its input shape"),
    # ------------------------------------------------------------------ LeNet5
    Bug("lenet5_relu_in_classic", "LeNet5",
        _replace("LeNet5", "self.act = nn.ReLU() if modern else nn.Tanh()", "self.act = nn.ReLU()"),
        frozenset({"LeNet5"}), "uses ReLU where it should use tanh"),
    Bug("lenet5_max_in_classic", "LeNet5",
        _replace("LeNet5", "self.pool = nn.MaxPool2d(2) if modern else nn.AvgPool2d(2)", "self.pool = nn.MaxPool2d(2)"),
        frozenset({"LeNet5"}), "uses max pooling where it should use average pooling"),
    Bug("lenet5_modern_swapped", "LeNet5",
        _replace("LeNet5", "self.act = nn.ReLU() if modern else nn.Tanh()", "self.act = nn.Tanh() if modern else nn.ReLU()")
        .replace("self.pool = nn.MaxPool2d(2) if modern else nn.AvgPool2d(2)",
                 "self.pool = nn.AvgPool2d(2) if modern else nn.MaxPool2d(2)"),
        frozenset({"LeNet5"}), "those of the other variant"),
    Bug("lenet5_same_padding", "LeNet5",  # the 28×28 habit: padding=2 keeps 32×32, and fc1 is sized for it
        _replace("LeNet5", "self.conv1 = nn.Conv2d(1, 6, kernel_size=5)", "self.conv1 = nn.Conv2d(1, 6, kernel_size=5, padding=2)")
        .replace("nn.Linear(16 * 5 * 5, 120)", "nn.Linear(16 * 6 * 6, 120)"),
        frozenset({"LeNet5"}), "576 = 16·6·6"),
    Bug("lenet5_flatten_28", "LeNet5",  # sized for 28×28 inputs
        _replace("LeNet5", "nn.Linear(16 * 5 * 5, 120)", "nn.Linear(16 * 4 * 4, 120)"),
        frozenset({"LeNet5"}), "the size for a 28×28 input"),
    Bug("lenet5_pool_before_act", "LeNet5",
        _replace("LeNet5", "x = self.pool(self.act(self.conv1(x)))", "x = self.act(self.pool(self.conv1(x)))")
        .replace("x = self.pool(self.act(self.conv2(x)))", "x = self.act(self.pool(self.conv2(x)))"),
        frozenset({"LeNet5"}), "before its pooling"),
    Bug("lenet5_no_fc_act", "LeNet5",
        _replace("LeNet5", "x = self.act(self.fc1(x))\n        x = self.act(self.fc2(x))",
                 "x = self.fc1(x)\n        x = self.fc2(x)"),
        frozenset({"LeNet5"}), "need the activation too"),
    Bug("lenet5_calls_zoo", "LeNet5",
        '''\
from torch import nn
from cnn_course.pt.models import lenet5

class LeNet5(nn.Module):
    def __init__(self, n_classes=10, modern=False):
        super().__init__()
        self.net = lenet5(n_classes, modern=modern)

    def forward(self, x):
        return self.net(x)
''', frozenset({"LeNet5"}), "LeNet5 earns no points: it calls cnn_course.pt"),
    # ------------------------------------------------------------------ lenet5_forward (NumPy)
    Bug("lenet5_forward_max_in_classic", "lenet5_forward",
        _replace("lenet5_forward", 'mode = "max" if modern else "average"', 'mode = "max"'),
        frozenset({"lenet5_forward"}), "uses max pooling where it should use average pooling"),
    Bug("lenet5_forward_tanh_in_modern", "lenet5_forward",
        _replace("lenet5_forward", "act = (lambda z: np.maximum(z, 0)) if modern else np.tanh", "act = np.tanh"),
        frozenset({"lenet5_forward"}), "uses tanh where it should use ReLU"),
    Bug("lenet5_forward_flatten_channels_last", "lenet5_forward",
        _replace("lenet5_forward", "a = a.reshape(a.shape[0], -1)", "a = a.transpose(0, 2, 3, 1).reshape(a.shape[0], -1)"),
        frozenset({"lenet5_forward"}), "(height, width, channels)"),
    Bug("lenet5_forward_softmax", "lenet5_forward",
        _replace("lenet5_forward", 'return a @ params["W5"].T + params["b5"]', '''z = a @ params["W5"].T + params["b5"]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)'''),
        frozenset({"lenet5_forward"}), "return the raw scores (logits)"),
    Bug("lenet5_forward_no_transpose", "lenet5_forward",
        _replace("lenet5_forward", 'a = act(a @ params["W3"].T + params["b3"])', 'a = act(a @ params["W3"] + params["b3"])'),
        frozenset({"lenet5_forward"}), "a @ W3.T + b3"),
    Bug("lenet5_forward_calls_classic", "lenet5_forward",  # the course's whole network: not own work
        '''\
import numpy as np
from cnn_course.ref import classic

def lenet5_forward(x, params, modern=False):
    return classic.lenet5_forward(x, params)[0]
''', frozenset({"lenet5_forward"}), "put the layers together yourself"),
    Bug("lenet5_forward_calls_ref_lenet", "lenet5_forward",  # through the course's top-level export
        '''\
import numpy as np
from cnn_course import ref

def lenet5_forward(x, params, modern=False):
    logits, _ = ref.lenet5_forward(x, params, modern=modern)
    return logits
''', frozenset({"lenet5_forward"}), "lenet5_forward earns no points: it calls cnn_course.ref"),
    Bug("lenet5_forward_calls_torch", "lenet5_forward",
        '''\
import numpy as np
import torch
import torch.nn.functional as F

def lenet5_forward(x, params, modern=False):
    t = {k: torch.tensor(v) for k, v in params.items()}
    a = torch.tensor(x)
    for k in (1, 2):
        a = F.avg_pool2d(torch.tanh(F.conv2d(a, t[f"W{k}"], t[f"b{k}"])), 2)
    a = torch.tanh(F.linear(a.flatten(1), t["W3"], t["b3"]))
    a = torch.tanh(F.linear(a, t["W4"], t["b4"]))
    return F.linear(a, t["W5"], t["b5"]).numpy()
''', frozenset({"lenet5_forward"}), "earns no points: it calls torch"),
    # ------------------------------------------------------------------ vgg_block
    Bug("vgg_block_pool_each_conv", "vgg_block",
        _replace("vgg_block", "        layers.append(nn.ReLU())\n    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))\n",
                 "        layers.append(nn.ReLU())\n        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))\n"),
        frozenset({"vgg_block", "VGGNet"}), "you pooled after every convolution"),
    Bug("vgg_block_pool_first", "vgg_block",
        _replace("vgg_block", "    layers = []\n", "    layers = [nn.MaxPool2d(kernel_size=2, stride=2)]\n")
        .replace("    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))\n", ""),
        frozenset({"vgg_block", "VGGNet"}), "you pooled before the convolutions"),
    Bug("vgg_block_no_padding", "vgg_block",
        _replace("vgg_block", "kernel_size=3, padding=1)", "kernel_size=3)"),
        frozenset({"vgg_block", "VGGNet"}), "have no padding"),
    Bug("vgg_block_padding_2", "vgg_block",
        _replace("vgg_block", "kernel_size=3, padding=1)", "kernel_size=3, padding=2)"),
        frozenset({"vgg_block", "VGGNet"}), "(f − 1)/2 = 1"),
    Bug("vgg_block_in_channels_everywhere", "vgg_block",
        _replace("vgg_block", "nn.Conv2d(in_channels if i == 0 else out_channels, out_channels",
                 "nn.Conv2d(in_channels, out_channels"),
        frozenset({"vgg_block", "VGGNet"}), "every convolution after the first takes out_channels"),
    Bug("vgg_block_avg_pool", "vgg_block",
        _replace("vgg_block", "nn.MaxPool2d(kernel_size=2, stride=2)", "nn.AvgPool2d(kernel_size=2, stride=2)"),
        frozenset({"vgg_block", "VGGNet"}), "not average pooling"),
    Bug("vgg_block_pool_stride_one", "vgg_block",
        _replace("vgg_block", "nn.MaxPool2d(kernel_size=2, stride=2)", "nn.MaxPool2d(kernel_size=2, stride=1)"),
        frozenset({"vgg_block", "VGGNet"}), "the pooling needs stride 2"),
    Bug("vgg_block_calls_zoo", "vgg_block",
        '''\
from cnn_course.pt import models

def vgg_block(num_convs, in_channels, out_channels):
    return models.vgg_block(num_convs, in_channels, out_channels)
''', frozenset({"vgg_block", "VGGNet"}), "vgg_block earns no points: it calls cnn_course.pt"),
    # ------------------------------------------------------------------ VGGNet
    Bug("vggnet_flatten_size", "VGGNet",  # no floor: 32 / 8 happens to work, 14 / 4 does not
        _replace("VGGNet", "side = image_size // 2 ** len(cfg)", "side = round(image_size / 2 ** len(cfg))"),
        frozenset({"VGGNet"}), "rounding down each time"),
    Bug("vggnet_in_channels_every_block", "VGGNet",
        _replace("VGGNet", "            channels = out_channels\n", ""),
        frozenset({"VGGNet"}), "the previous block's channels"),
    Bug("vggnet_no_relu_in_classifier", "VGGNet",
        _replace("VGGNet", "x = torch.relu(self.fc1(x))\n        x = torch.relu(self.fc2(x))",
                 "x = self.fc1(x)\n        x = self.fc2(x)"),
        frozenset({"VGGNet"}), "need a ReLU each"),
]

# --------------------------------------------------------------------------- nbgrader pipeline

# Bugs autograded end to end by default: one or more per exercise, the list first
# (CNN_COURSE_ALL_BUGS=1 grades every bug).
PIPELINE_BUGS = [
    # the list: biases counted twice, pooling parameters, flatten parameters, the pool of a VGG block
    # in the wrong place, wrong padding in 3×3 same convolutions, tanh/ReLU and average/max mix-ups, a wrong
    # flatten size; and one bug at least for every exercise. Packed into 5 submissions (tests/_pipeline.py).
    "output_shape_no_plus_one",
    "layer_counts_bias_twice",
    "layer_counts_pool_params",
    "layer_counts_flatten_params",
    "network_table_input_shape_rows",
    "lenet5_relu_in_classic",
    "lenet5_max_in_classic",
    "lenet5_same_padding",
    "lenet5_pool_before_act",
    "lenet5_forward_max_in_classic",
    "lenet5_forward_tanh_in_modern",
    "lenet5_forward_calls_classic",
    "lenet5_forward_flatten_channels_last",
    "vgg_block_pool_each_conv",
    "vgg_block_no_padding",
    "vgg_block_padding_2",
    "vggnet_flatten_size",
    "vggnet_in_channels_every_block",
]

# The bug whose feedback page the pipeline reads.
FEEDBACK_BUG = "layer_counts_pool_params"

# Submissions that misbehave: name -> ({answer cell: source}, the test cells that must score 0).
MISBEHAVING = {
    # Kills the kernel while the answer cell runs; vgg_block is then never defined, and VGGNet calls it.
    "vgg_block_kernel_crash": (
        {"vgg_block": "import os\nos._exit(1)\n\ndef vgg_block(num_convs, in_channels, out_channels):\n    pass"},
        {"test_vgg_block", "test_VGGNet"},
    ),
}
