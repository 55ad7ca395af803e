'''Topic-5 submissions (ResNet): correct solutions, bugs and misbehaving code.

``CORRECT`` maps each exercise of ``solutions/05_resnet`` to the source a careful student
would write, in notebook order. ``BUGS`` lists wrong or cheating submissions with the hint
the grader must give; ``breaks`` names the exercises whose checks fail (the backward check
takes the cache from the student's own forward pass in train mode, and ``SmallResNet`` is
built from the student's own ``IdentityBlock`` and ``ConvolutionalBlock``).

Exercise -> check -> test cell:

    residual_block_forward   resnet.residual_block_forward                            test_residual_block_forward
    residual_block_backward  resnet.residual_block_backward(func, forward)            test_residual_block_backward
    IdentityBlock            resnet_torch.identity_block                              test_IdentityBlock
    ConvolutionalBlock       resnet_torch.convolutional_block                         test_ConvolutionalBlock
    block_parameters         resnet.block_parameters                                  test_block_parameters
    SmallResNet              resnet_torch.small_resnet                                test_SmallResNet

The NumPy block may call the course's layer functions (``ref.conv2d_forward``,
``ref.batchnorm_forward`` and their backward passes): composing them is the exercise, and
``CORRECT`` does so. Calling the ready-made block (``cnn_course.ref.resnet``) or torch is a cheat.
'''

from __future__ import annotations

from . import Bug, replacer

CORRECT: dict[str, str] = {
    "residual_block_forward": '''\
import numpy as np
from cnn_course import ref

def residual_block_forward(x, params, stride=1, train=True):
    z1, conv1 = ref.conv2d_forward(x, params["W1"], params["b1"], stride=stride, pad=1)
    z1, bn1 = ref.batchnorm_forward(z1, params["gamma1"], params["beta1"], params["running_mean1"],
                                    params["running_var1"], train=train)
    a1 = np.maximum(z1, 0)
    z2, conv2 = ref.conv2d_forward(a1, params["W2"], params["b2"], stride=1, pad=1)
    z2, bn2 = ref.batchnorm_forward(z2, params["gamma2"], params["beta2"], params["running_mean2"],
                                    params["running_var2"], train=train)
    if "Ws" in params:
        sc, convs = ref.conv2d_forward(x, params["Ws"], params["bs"], stride=stride, pad=0)
        sc, bns = ref.batchnorm_forward(sc, params["gammas"], params["betas"], params["running_means"],
                                        params["running_vars"], train=train)
        shortcut = (convs, bns)
    else:
        sc, shortcut = x, None
    out = np.maximum(z2 + sc, 0)
    return out, (conv1, bn1, a1, conv2, bn2, shortcut, out)
''',
    "residual_block_backward": '''\
import numpy as np
from cnn_course import ref

def residual_block_backward(dout, cache):
    conv1, bn1, a1, conv2, bn2, shortcut, out = cache
    grads = {}
    dz = dout * (out > 0)
    dz2, grads["dgamma2"], grads["dbeta2"] = ref.batchnorm_backward(dz, bn2)
    da1, grads["dW2"], grads["db2"] = ref.conv2d_backward(dz2, conv2)
    dz1, grads["dgamma1"], grads["dbeta1"] = ref.batchnorm_backward(da1 * (a1 > 0), bn1)
    dx, grads["dW1"], grads["db1"] = ref.conv2d_backward(dz1, conv1)
    if shortcut is None:
        dx = dx + dz
    else:
        convs, bns = shortcut
        dzs, grads["dgammas"], grads["dbetas"] = ref.batchnorm_backward(dz, bns)
        dxs, grads["dWs"], grads["dbs"] = ref.conv2d_backward(dzs, convs)
        dx = dx + dxs
    grads["dx"] = dx
    return grads
''',
    "IdentityBlock": '''\
import torch
from torch import nn

class IdentityBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        z = torch.relu(self.bn1(self.conv1(x)))
        z = self.bn2(self.conv2(z))
        return torch.relu(z + x)
''',
    "ConvolutionalBlock": '''\
import torch
from torch import nn

class ConvolutionalBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride=2):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut_conv = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)
        self.shortcut_bn = nn.BatchNorm2d(out_channels)

    def forward(self, x):
        z = torch.relu(self.bn1(self.conv1(x)))
        z = self.bn2(self.conv2(z))
        return torch.relu(z + self.shortcut_bn(self.shortcut_conv(x)))
''',
    "block_parameters": '''\
def block_parameters(kind, in_channels, width, stride=1):
    def conv_bn(c_in, c_out, f):
        return f * f * c_in * c_out + 2 * c_out
    if kind == "basic":
        out_channels = width
        total = conv_bn(in_channels, width, 3) + conv_bn(width, width, 3)
    else:
        out_channels = 4 * width
        total = conv_bn(in_channels, width, 1) + conv_bn(width, width, 3) + conv_bn(width, out_channels, 1)
    if stride != 1 or in_channels != out_channels:
        total += conv_bn(in_channels, out_channels, 1)
    return total
''',
    "SmallResNet": '''\
import torch
from torch import nn

class SmallResNet(nn.Module):
    def __init__(self, stages, in_channels=1, num_classes=10):
        super().__init__()
        c0 = stages[0][0]
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c0, 3, padding=1, bias=False), nn.BatchNorm2d(c0), nn.ReLU())
        blocks, c_prev = [], c0
        for channels, n_blocks, stride in stages:
            for k in range(n_blocks):
                if k == 0 and (stride != 1 or channels != c_prev):
                    blocks.append(ConvolutionalBlock(c_prev, channels, stride))
                else:
                    blocks.append(IdentityBlock(channels))
            c_prev = channels
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(c_prev, num_classes)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(x.mean(dim=(2, 3)))
''',
}


_replace = replacer(CORRECT)


_FWD = frozenset({"residual_block_forward", "residual_block_backward"})  # a wrong train-mode output breaks both
_BWD = frozenset({"residual_block_backward"})
_ID = frozenset({"IdentityBlock", "SmallResNet"})  # SmallResNet is built from the student's blocks
_CONV = frozenset({"ConvolutionalBlock", "SmallResNet"})
_COUNT = frozenset({"block_parameters"})
_NET = frozenset({"SmallResNet"})

_TORCH_FORWARD = '''\
import numpy as np
import torch
import torch.nn.functional as F

def residual_block_forward(x, params, stride=1, train=True):
    t = {k: torch.from_numpy(v) for k, v in params.items()}
    z = F.batch_norm(F.conv2d(torch.from_numpy(x), t["W1"], t["b1"], stride=stride, padding=1),
                     t["running_mean1"], t["running_var1"], t["gamma1"], t["beta1"], training=train)
    z = F.batch_norm(F.conv2d(F.relu(z), t["W2"], t["b2"], padding=1),
                     t["running_mean2"], t["running_var2"], t["gamma2"], t["beta2"], training=train)
    sc = torch.from_numpy(x)
    if "Ws" in params:
        sc = F.batch_norm(F.conv2d(sc, t["Ws"], t["bs"], stride=stride), t["running_means"], t["running_vars"],
                          t["gammas"], t["betas"], training=train)
    return F.relu(z + sc).numpy(), None
'''

BUGS: list[Bug] = [
    # ------------------------------------------------------------------ residual_block_forward
    Bug("fwd_add_after_relu", "residual_block_forward",
        _replace("residual_block_forward", "out = np.maximum(z2 + sc, 0)", "out = np.maximum(z2, 0) + sc"),
        _FWD, "the shortcut is added AFTER the final ReLU"),
    Bug("fwd_relu_on_shortcut", "residual_block_forward",
        _replace("residual_block_forward", "out = np.maximum(z2 + sc, 0)", "out = np.maximum(z2 + np.maximum(sc, 0), 0)"),
        _FWD, "there is a ReLU on the shortcut path"),
    Bug("fwd_no_final_relu", "residual_block_forward",
        _replace("residual_block_forward", "out = np.maximum(z2 + sc, 0)", "out = z2 + sc"),
        _FWD, "without the final ReLU"),
    Bug("fwd_bn_eval_in_training", "residual_block_forward",
        _replace("residual_block_forward", "train=train)", "train=False)", count=3),
        _FWD, "in train mode your batch norms normalised with the running statistics"),
    Bug("fwd_projection_stride_1", "residual_block_forward",
        _replace("residual_block_forward", 'params["bs"], stride=stride, pad=0)', 'params["bs"], stride=1, pad=0)'),
        _FWD, "the stride in the first 3×3 convolution and in the projection only"),
    Bug("fwd_projection_missing", "residual_block_forward",
        _replace("residual_block_forward", 'if "Ws" in params:', "if False:"),
        _FWD, "the shortcut must be the projection"),
    Bug("fwd_padding_0", "residual_block_forward",
        _replace("residual_block_forward", "pad=1)", "pad=0)", count=2), _FWD, "padding 1 for each 3×3 convolution"),
    Bug("fwd_stride_in_second_conv", "residual_block_forward",
        _replace("residual_block_forward", 'params["b1"], stride=stride, pad=1)', 'params["b1"], stride=1, pad=1)')
        .replace('params["b2"], stride=1, pad=1)', 'params["b2"], stride=stride, pad=1)'),
        _FWD, "applies the stride in the second 3×3 convolution"),
    Bug("fwd_projection_no_bn", "residual_block_forward",
        _replace("residual_block_forward", '''        sc, bns = ref.batchnorm_forward(sc, params["gammas"], params["betas"], params["running_means"],
                                        params["running_vars"], train=train)
''', "        bns = None\n"), _FWD, "followed by its own batch norm"),
    Bug("fwd_calls_torch", "residual_block_forward", _TORCH_FORWARD, _FWD, "torch"),
    Bug("fwd_calls_library_block", "residual_block_forward",
        "from cnn_course.ref import resnet\n\ndef residual_block_forward(x, params, stride=1, train=True):\n"
        "    return resnet.residual_block_forward(x, params, stride, train)\n", _FWD, "cnn_course.ref.resnet"),
    # ------------------------------------------------------------------ residual_block_backward
    Bug("bwd_no_shortcut_grad", "residual_block_backward",
        _replace("residual_block_backward", "        dx = dx + dz\n", "        pass\n")
        .replace("        dx = dx + dxs\n", "        pass\n"),
        _BWD, "x feeds both paths, so its gradient is a SUM"),
    Bug("bwd_no_final_mask", "residual_block_backward",
        _replace("residual_block_backward", "dz = dout * (out > 0)", "dz = dout"), _BWD, "ignore the final ReLU"),
    Bug("bwd_unmasked_shortcut", "residual_block_backward",
        _replace("residual_block_backward", "        dx = dx + dz\n", "        dx = dx + dout\n")
        .replace("ref.batchnorm_backward(dz, bns)", "ref.batchnorm_backward(dout, bns)"),
        _BWD, "the shortcut's gradient skipped the final ReLU"),
    Bug("bwd_no_inner_mask", "residual_block_backward",
        _replace("residual_block_backward", "ref.batchnorm_backward(da1 * (a1 > 0), bn1)", "ref.batchnorm_backward(da1, bn1)"),
        _BWD, "ignore the inner ReLU"),
    Bug("bwd_forgets_projection_grads", "residual_block_backward",
        _replace("residual_block_backward", '''        dzs, grads["dgammas"], grads["dbetas"] = ref.batchnorm_backward(dz, bns)
        dxs, grads["dWs"], grads["dbs"] = ref.conv2d_backward(dzs, convs)
''', '''        dzs, _, _ = ref.batchnorm_backward(dz, bns)
        dxs, _, _ = ref.conv2d_backward(dzs, convs)
'''), _BWD, "no 'dWs'"),
    # ------------------------------------------------------------------ IdentityBlock (PyTorch)
    Bug("id_add_after_relu", "IdentityBlock",
        _replace("IdentityBlock", "return torch.relu(z + x)", "return torch.relu(z) + x"), _ID,
        "the shortcut is added after the final ReLU"),
    Bug("id_relu_on_shortcut", "IdentityBlock",
        _replace("IdentityBlock", "return torch.relu(z + x)", "return torch.relu(z + torch.relu(x))"),
        frozenset({"IdentityBlock"}), "applies a ReLU to the shortcut"),  # harmless inside SmallResNet: x >= 0 there
    Bug("id_bn_eval_in_training", "IdentityBlock",
        _replace("IdentityBlock", "z = torch.relu(self.bn1(self.conv1(x)))",
                 "z = torch.relu(nn.functional.batch_norm(self.conv1(x), self.bn1.running_mean, self.bn1.running_var, "
                 "self.bn1.weight, self.bn1.bias, training=False))")
        .replace("z = self.bn2(self.conv2(z))",
                 "z = nn.functional.batch_norm(self.conv2(z), self.bn2.running_mean, self.bn2.running_var, "
                 "self.bn2.weight, self.bn2.bias, training=False)"),
        _ID, "batch norm in evaluation mode during training"),
    Bug("id_padding_0", "IdentityBlock",
        _replace("IdentityBlock", "3, padding=1, bias=False)", "3, bias=False)", count=2), _ID, "needs padding=1"),
    Bug("id_conv_bias", "IdentityBlock",
        _replace("IdentityBlock", ", bias=False)", ")", count=2), _ID, "create them with bias=False"),
    Bug("id_uses_course_layers", "IdentityBlock",
        "from cnn_course.pt import BatchNorm2d\n" + _replace("IdentityBlock", "nn.BatchNorm2d(channels)", "BatchNorm2d(channels)",
                                                             count=2), _ID, "cnn_course.pt"),
    # ------------------------------------------------------------------ ConvolutionalBlock (PyTorch)
    Bug("conv_no_projection", "ConvolutionalBlock",
        _replace("ConvolutionalBlock", '''        self.shortcut_conv = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)
        self.shortcut_bn = nn.BatchNorm2d(out_channels)
''', "").replace("self.shortcut_bn(self.shortcut_conv(x))", "x"), _CONV, "the projection shortcut is missing"),
    Bug("conv_projection_stride_1", "ConvolutionalBlock",
        _replace("ConvolutionalBlock", "out_channels, 1, stride=stride, bias=False)", "out_channels, 1, bias=False)"),
        _CONV, "the 1×1 projection must use the block's stride"),
    Bug("conv_stride_in_second_conv", "ConvolutionalBlock",
        _replace("ConvolutionalBlock", "3, stride=stride, padding=1, bias=False)", "3, padding=1, bias=False)")
        .replace("nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)",
                 "nn.Conv2d(out_channels, out_channels, 3, stride=stride, padding=1, bias=False)"),
        _CONV, "puts the stride in the second 3×3 convolution"),
    Bug("conv_relu_on_shortcut", "ConvolutionalBlock",
        _replace("ConvolutionalBlock", "self.shortcut_bn(self.shortcut_conv(x))",
                 "torch.relu(self.shortcut_bn(self.shortcut_conv(x)))"), _CONV, "applies a ReLU to the shortcut"),
    Bug("conv_projection_no_bn", "ConvolutionalBlock",
        _replace("ConvolutionalBlock", "        self.shortcut_bn = nn.BatchNorm2d(out_channels)\n", "")
        .replace("self.shortcut_bn(self.shortcut_conv(x))", "self.shortcut_conv(x)"),
        _CONV, "your projection shortcut is the 1×1 convolution alone"),
    Bug("conv_projection_3x3", "ConvolutionalBlock",
        _replace("ConvolutionalBlock", "out_channels, 1, stride=stride, bias=False)",
                 "out_channels, 3, stride=stride, padding=1, bias=False)"), _CONV, "the projection is a 1×1 convolution"),
    # ------------------------------------------------------------------ block_parameters
    Bug("count_conv_bias", "block_parameters",
        _replace("block_parameters", "return f * f * c_in * c_out + 2 * c_out", "return f * f * c_in * c_out + c_out + 2 * c_out"),
        _COUNT, "you counted a bias for each convolution"),
    Bug("count_running_stats", "block_parameters",
        _replace("block_parameters", "return f * f * c_in * c_out + 2 * c_out", "return f * f * c_in * c_out + 4 * c_out"),
        _COUNT, "they are buffers"),
    Bug("count_no_bn", "block_parameters",
        _replace("block_parameters", "return f * f * c_in * c_out + 2 * c_out", "return f * f * c_in * c_out"),
        _COUNT, "you left out the batch norms"),
    Bug("count_no_projection", "block_parameters",
        _replace("block_parameters", "        total += conv_bn(in_channels, out_channels, 1)\n", "        pass\n"),
        _COUNT, "the projection shortcut is missing"),
    Bug("count_no_expansion", "block_parameters",
        _replace("block_parameters", "out_channels = 4 * width", "out_channels = width"), _COUNT,
        "expands to 4·width channels"),
    Bug("count_projection_always", "block_parameters",
        _replace("block_parameters", "if stride != 1 or in_channels != out_channels:", "if True:"), _COUNT,
        "the shortcut is the identity"),
    Bug("count_with_torch", "block_parameters",
        "import torch\n\ndef block_parameters(kind, in_channels, width, stride=1):\n"
        "    conv = torch.nn.Conv2d(in_channels, width, 3, bias=False)\n"
        "    return sum(p.numel() for p in conv.parameters())\n", _COUNT, "torch"),
    # ------------------------------------------------------------------ SmallResNet (PyTorch)
    Bug("net_ignores_stride", "SmallResNet",
        _replace("SmallResNet", "blocks.append(ConvolutionalBlock(c_prev, channels, stride))",
                 "blocks.append(ConvolutionalBlock(c_prev, channels, 1))"), _NET, "the strides of the stages were not applied"),
    Bug("net_max_pool", "SmallResNet",
        _replace("SmallResNet", "return self.fc(x.mean(dim=(2, 3)))", "return self.fc(x.amax(dim=(2, 3)))"), _NET,
        "global AVERAGE pooling"),
    Bug("net_always_projection", "SmallResNet",
        _replace("SmallResNet", "if k == 0 and (stride != 1 or channels != c_prev):", "if k == 0:"), _NET,
        "a projection where the shape does not change"),
    Bug("net_flatten_instead_of_pool", "SmallResNet",
        _replace("SmallResNet", "self.fc = nn.Linear(c_prev, num_classes)", "self.fc = nn.Linear(c_prev * 4, num_classes)")
        .replace("return self.fc(x.mean(dim=(2, 3)))", "return self.fc(x.flatten(1))"), _NET,
        "after global average pooling each image is one number per channel"),
    Bug("net_stem_no_relu", "SmallResNet",
        _replace("SmallResNet", "nn.BatchNorm2d(c0), nn.ReLU())", "nn.BatchNorm2d(c0))"), _NET, "the stem has no ReLU"),
    Bug("net_uses_zoo_block", "SmallResNet",
        "from cnn_course.pt.models import BasicBlock\n" + _replace("SmallResNet", "blocks.append(ConvolutionalBlock(c_prev, channels, stride))",
                                                                   "blocks.append(BasicBlock(c_prev, channels, stride))"),
        _NET, "cnn_course.pt"),
]

# Graded end to end through nbgrader by default: three submissions (disjoint exercises per
# submission), covering the mistakes the issue names first.
PIPELINE_BUGS: list[str] = [
    "fwd_add_after_relu",
    "fwd_bn_eval_in_training",
    "bwd_no_shortcut_grad",
    "id_relu_on_shortcut",
    "conv_projection_stride_1",
    "count_conv_bias",
    "count_running_stats",
    "count_no_projection",
    "net_ignores_stride",
]

# name -> ({answer cell grade_id: source}, the test cells that must score 0); the rest keeps full marks.
MISBEHAVING: dict[str, tuple[dict[str, str], set[str]]] = {
    # Kills the kernel while the answer cell runs: block_parameters is never defined; nothing else grades it.
    "resnet_kernel_crash": (
        {"block_parameters": "import os\nos._exit(1)\n\ndef block_parameters(kind, in_channels, width, stride=1):\n"
                             "    pass"},
        {"test_block_parameters"},
    ),
}

# The bug whose feedback page the pipeline inspects.
FEEDBACK_BUG = "fwd_add_after_relu"

# A second, self-consistent correct set (its own cache layout, nn.Sequential bodies, a
# ModuleList of blocks, adaptive pooling): it replaces all six exercises at once.
ALTERNATIVE: dict[str, str] = {
    "residual_block_forward": '''\
import numpy as np
from cnn_course import ref

def _conv_bn(x, params, s, stride, pad, train):
    z, conv = ref.conv2d_forward(x, params["W" + s], params["b" + s], stride, pad)
    stats = ("running_mean" + s, "running_var" + s) if s != "s" else ("running_means", "running_vars")
    out, bn = ref.batchnorm_forward(z, params["gamma" + s], params["beta" + s], params[stats[0]], params[stats[1]],
                                    train=train)
    return out, {"conv": conv, "bn": bn}

def residual_block_forward(x, params, stride=1, train=True):
    cache = {}
    if params.get("Ws") is not None:
        shortcut, cache["s"] = _conv_bn(x, params, "s", stride, 0, train)
    else:
        shortcut = x
    z1, cache["1"] = _conv_bn(x, params, "1", stride, 1, train)
    cache["mask1"] = z1 > 0
    z2, cache["2"] = _conv_bn(z1 * cache["mask1"], params, "2", 1, 1, train)
    total = z2 + shortcut
    cache["mask"] = total > 0
    return np.where(cache["mask"], total, 0.0), cache
''',
    "residual_block_backward": '''\
import numpy as np
from cnn_course import ref

def _conv_bn_back(d, part, s, grads):
    dz, grads["dgamma" + s], grads["dbeta" + s] = ref.batchnorm_backward(d, part["bn"])
    dx, grads["dW" + s], grads["db" + s] = ref.conv2d_backward(dz, part["conv"])
    return dx

def residual_block_backward(dout, cache):
    grads = {}
    d = np.where(cache["mask"], dout, 0.0)
    d_main = _conv_bn_back(d, cache["2"], "2", grads)
    dx = _conv_bn_back(np.where(cache["mask1"], d_main, 0.0), cache["1"], "1", grads)
    dx = dx + (_conv_bn_back(d, cache["s"], "s", grads) if "s" in cache else d)
    grads["dx"] = dx
    return grads
''',
    "IdentityBlock": '''\
import torch
from torch import nn
import torch.nn.functional as F

class IdentityBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, kernel_size=3, stride=1, padding=1, bias=False), nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, kernel_size=3, stride=1, padding=1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x):
        return F.relu(self.body(x) + x)
''',
    "ConvolutionalBlock": '''\
import torch
from torch import nn
import torch.nn.functional as F

class ConvolutionalBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride=2):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False), nn.BatchNorm2d(out_channels))
        self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                      nn.BatchNorm2d(out_channels))

    def forward(self, x):
        return F.relu(self.main(x) + self.shortcut(x))
''',
    "block_parameters": '''\
def block_parameters(kind, in_channels, width, stride=1):
    if kind == "basic":
        convs = [(3, in_channels, width), (3, width, width)]
    else:
        convs = [(1, in_channels, width), (3, width, width), (1, width, 4 * width)]
    out_channels = convs[-1][2]
    if stride > 1 or in_channels != out_channels:
        convs.append((1, in_channels, out_channels))
    weights = sum(f * f * c_in * c_out for f, c_in, c_out in convs)
    gammas_and_betas = sum(2 * c_out for _, _, c_out in convs)
    return int(weights + gammas_and_betas)
''',
    "SmallResNet": '''\
import torch
from torch import nn

class SmallResNet(nn.Module):
    def __init__(self, stages, in_channels=1, num_classes=10):
        super().__init__()
        width = stages[0][0]
        self.conv = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        self.layers = nn.ModuleList()
        for channels, n_blocks, stride in stages:
            for k in range(n_blocks):
                s = stride if k == 0 else 1
                if s != 1 or channels != width:
                    self.layers.append(ConvolutionalBlock(width, channels, s))
                else:
                    self.layers.append(IdentityBlock(channels))
                width = channels
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x)))
        for layer in self.layers:
            x = layer(x)
        return self.fc(torch.flatten(self.pool(x), 1))
''',
}
