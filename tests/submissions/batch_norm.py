'''Topic-3 submissions (batch normalisation): correct solutions, bugs and misbehaving code.

``CORRECT`` maps each exercise of ``solutions/03_batch_norm`` to the source a careful student
would write, in notebook order; the spatial functions reuse the (N, D) ones by moving the
channels last. ``ALTERNATIVE`` is a second, self-consistent correct set (its own cache
layout: a loop over features, the backward pass walked node by node through the
computational graph, the spatial pair written directly over axes (0, 2, 3)); it replaces
all four exercises at once. ``BUGS`` lists wrong or cheating submissions with the hint the
grader must give; ``breaks`` names the exercises whose checks fail (the backward checks
take the cache from the student's own forward pass, and the spatial functions of
``CORRECT`` call the (N, D) ones).

Exercise -> check(s) -> test cell(s):

    batchnorm_forward          batchnorm_forward_train, batchnorm_forward_eval
                               test_batchnorm_forward_train, test_batchnorm_forward_eval
    batchnorm_backward         batchnorm_backward(func, batchnorm_forward)      test_batchnorm_backward
    spatial_batchnorm_forward  spatial_batchnorm_forward                        test_spatial_batchnorm_forward
    spatial_batchnorm_backward spatial_batchnorm_backward(func, spatial_forward) test_spatial_batchnorm_backward
    BNConvNet                  batch_norm_torch.bn_conv_net                     test_BNConvNet
    evaluate_accuracy          batch_norm_torch.evaluate_accuracy               test_evaluate_accuracy

The last two are the PyTorch exercises (a class and a function on torch objects), judged by
behaviour through the probes; ``ALTERNATIVE`` has its own versions of them too.
'''

from __future__ import annotations

from . import Bug, replacer

CORRECT: dict[str, str] = {
    "batchnorm_forward": '''\
import numpy as np

def batchnorm_forward(x, gamma, beta, running_mean, running_var, train=True, momentum=0.1, eps=1e-5):
    if train:
        N = x.shape[0]
        mu = np.mean(x, axis=0)
        var = np.mean((x - mu) ** 2, axis=0)
        std = np.sqrt(var + eps)
        x_hat = (x - mu) / std
        out = gamma * x_hat + beta
        running_mean[:] = (1 - momentum) * running_mean + momentum * mu
        running_var[:] = (1 - momentum) * running_var + momentum * var * N / (N - 1)
    else:
        std = np.sqrt(running_var + eps)
        x_hat = (x - running_mean) / std
        out = gamma * x_hat + beta
    cache = (x_hat, gamma, std)
    return out, cache
''',
    "batchnorm_backward": '''\
import numpy as np

def batchnorm_backward(dout, cache):
    x_hat, gamma, std = cache
    N = dout.shape[0]
    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * x_hat, axis=0)
    dx_hat = dout * gamma
    dx = (N * dx_hat - np.sum(dx_hat, axis=0) - x_hat * np.sum(dx_hat * x_hat, axis=0)) / (N * std)
    return dx, dgamma, dbeta
''',
    "spatial_batchnorm_forward": '''\
import numpy as np

def spatial_batchnorm_forward(x, gamma, beta, running_mean, running_var, train=True, momentum=0.1, eps=1e-5):
    N, C, H, W = x.shape
    x_flat = x.transpose(0, 2, 3, 1).reshape(-1, C)
    out_flat, cache = batchnorm_forward(x_flat, gamma, beta, running_mean, running_var, train, momentum, eps)
    out = out_flat.reshape(N, H, W, C).transpose(0, 3, 1, 2)
    return out, cache
''',
    "spatial_batchnorm_backward": '''\
import numpy as np

def spatial_batchnorm_backward(dout, cache):
    N, C, H, W = dout.shape
    dout_flat = dout.transpose(0, 2, 3, 1).reshape(-1, C)
    dx_flat, dgamma, dbeta = batchnorm_backward(dout_flat, cache)
    dx = dx_flat.reshape(N, H, W, C).transpose(0, 3, 1, 2)
    return dx, dgamma, dbeta
''',
    "BNConvNet": '''\
import torch
from torch import nn

class BNConvNet(nn.Module):
    def __init__(self, c1=8, c2=16, n_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, c1, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c1)
        self.conv2 = nn.Conv2d(c1, c2, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c2)
        self.fc = nn.Linear(c2 * 7 * 7, n_classes)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 2)
        x = torch.max_pool2d(torch.relu(self.bn2(self.conv2(x))), 2)
        return self.fc(x.flatten(1))
''',
    "evaluate_accuracy": '''\
import torch

def evaluate_accuracy(model, x, y, batch_size=256):
    was_training = model.training
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            scores = model(x[start:start + batch_size])
            correct += (scores.argmax(dim=1) == y[start:start + batch_size]).sum().item()
    model.train(was_training)
    return correct / len(x)
''',
}

# A second correct set with its own cache layout; the four replace CORRECT together.
ALTERNATIVE: dict[str, str] = {
    "batchnorm_forward": '''\
import numpy as np

def batchnorm_forward(x, gamma, beta, running_mean, running_var, train=True, momentum=0.1, eps=1e-5):
    N, D = x.shape
    out = np.zeros_like(x)
    mu = np.zeros(D)
    var = np.zeros(D)
    for j in range(D):
        column = x[:, j]
        if train:
            mu[j] = column.sum() / N
            var[j] = ((column - mu[j]) ** 2).sum() / N
        else:
            mu[j] = running_mean[j]
            var[j] = running_var[j]
        out[:, j] = gamma[j] * (column - mu[j]) / np.sqrt(var[j] + eps) + beta[j]
    if train:
        running_mean *= 1 - momentum
        running_mean += momentum * mu
        running_var *= 1 - momentum
        running_var += momentum * np.var(x, axis=0, ddof=1)
    cache = (x, mu, var, gamma, eps)
    return out, cache
''',
    "batchnorm_backward": '''\
import numpy as np

def batchnorm_backward(dout, cache):
    x, mu, var, gamma, eps = cache
    N = x.shape[0]
    xmu = x - mu
    sqrtvar = np.sqrt(var + eps)
    ivar = 1.0 / sqrtvar
    xhat = xmu * ivar
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    divar = (dxhat * xmu).sum(axis=0)
    dxmu1 = dxhat * ivar
    dsqrtvar = -divar / sqrtvar ** 2
    dvar = 0.5 * dsqrtvar / sqrtvar
    dsq = np.ones_like(x) * dvar / N
    dxmu2 = 2 * xmu * dsq
    dx1 = dxmu1 + dxmu2
    dmu = -dx1.sum(axis=0)
    dx2 = np.ones_like(x) * dmu / N
    return dx1 + dx2, dgamma, dbeta
''',
    "spatial_batchnorm_forward": '''\
import numpy as np

def spatial_batchnorm_forward(x, gamma, beta, running_mean, running_var, train=True, momentum=0.1, eps=1e-5):
    N, C, H, W = x.shape
    M = N * H * W
    if train:
        mu = x.mean(axis=(0, 2, 3))
        var = x.var(axis=(0, 2, 3))
        running_mean[:] = (1 - momentum) * running_mean + momentum * mu
        running_var[:] = (1 - momentum) * running_var + momentum * var * M / (M - 1)
    else:
        mu, var = running_mean, running_var
    std = np.sqrt(var + eps).reshape(1, C, 1, 1)
    x_hat = (x - mu.reshape(1, C, 1, 1)) / std
    out = gamma.reshape(1, C, 1, 1) * x_hat + beta.reshape(1, C, 1, 1)
    return out, (x_hat, gamma, std)
''',
    "BNConvNet": '''\
from torch import nn

def block(c_in, c_out):
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]

class BNConvNet(nn.Module):
    def __init__(self, c1=8, c2=16, n_classes=10):
        super().__init__()
        self.layers = nn.Sequential(*block(1, c1), *block(c1, c2), nn.Flatten(), nn.Linear(c2 * 49, n_classes))

    def forward(self, x):
        return self.layers(x)
''',
    "evaluate_accuracy": '''\
import torch

def evaluate_accuracy(model, x, y, batch_size=256):
    mode = model.training
    model.train(False)
    try:
        with torch.inference_mode():
            predictions = torch.cat([model(xb).argmax(1) for xb in torch.split(x, batch_size)])
        return float((predictions == y).float().mean())
    finally:
        model.train(mode)
''',
    "spatial_batchnorm_backward": '''\
import numpy as np

def spatial_batchnorm_backward(dout, cache):
    x_hat, gamma, std = cache
    N, C, H, W = dout.shape
    M = N * H * W
    axes = (0, 2, 3)
    dbeta = dout.sum(axis=axes)
    dgamma = (dout * x_hat).sum(axis=axes)
    dx_hat = dout * gamma.reshape(1, C, 1, 1)
    dx = (M * dx_hat - dx_hat.sum(axis=axes, keepdims=True)
          - x_hat * (dx_hat * x_hat).sum(axis=axes, keepdims=True)) / (M * std)
    return dx, dgamma, dbeta
''',
}


_replace = replacer(CORRECT)


_ALL = frozenset(CORRECT) - {"BNConvNet", "evaluate_accuracy"}  # a wrong forward output breaks every NumPy check after it
_RUNNING = frozenset({"batchnorm_forward", "spatial_batchnorm_forward"})  # only the running statistics are wrong
_BACKWARD = frozenset({"batchnorm_backward", "spatial_batchnorm_backward"})
_SPATIAL = frozenset({"spatial_batchnorm_forward", "spatial_batchnorm_backward"})
_NET = frozenset({"BNConvNet"})
_EVAL = frozenset({"evaluate_accuracy"})

# The spatial bugs written directly over (N, C, H, W), with the running statistics right.
_SPATIAL_DIRECT = '''\
import numpy as np

def spatial_batchnorm_forward(x, gamma, beta, running_mean, running_var, train=True, momentum=0.1, eps=1e-5):
    N, C, H, W = x.shape
    M = N * H * W
    g, b = gamma.reshape(1, C, 1, 1), beta.reshape(1, C, 1, 1)
    if train:
        mu = x.mean(axis=AXES, keepdims=True)
        var = x.var(axis=AXES, keepdims=True)
        running_mean[:] = (1 - momentum) * running_mean + momentum * x.mean(axis=(0, 2, 3))
        running_var[:] = (1 - momentum) * running_var + momentum * x.var(axis=(0, 2, 3)) * M / (M - 1)
    else:
        mu, var = running_mean.reshape(1, C, 1, 1), running_var.reshape(1, C, 1, 1)
    x_hat = (x - mu) / np.sqrt(var + eps)
    return g * x_hat + b, (x_hat, gamma, np.sqrt(var + eps))
'''

# The spatial backward written directly, for the cache of CORRECT's spatial forward.
_SPATIAL_BACKWARD_DIRECT = '''\
import numpy as np

def spatial_batchnorm_backward(dout, cache):
    x_hat, gamma, std = cache
    N, C, H, W = dout.shape
    M = COUNT
    x_hat = x_hat.reshape(N, H, W, C).transpose(0, 3, 1, 2)
    g, s = gamma.reshape(1, C, 1, 1), std.reshape(1, C, 1, 1)
    dbeta = dout.sum(axis=SUM_AXES)
    dgamma = (dout * x_hat).sum(axis=SUM_AXES)
    dx_hat = dout * g
    dx = (M * dx_hat - dx_hat.sum(axis=(0, 2, 3), keepdims=True)
          - x_hat * (dx_hat * x_hat).sum(axis=(0, 2, 3), keepdims=True)) / (M * s)
    return dx, dgamma, dbeta
'''

BUGS: list[Bug] = [
    # ------------------------------------------------------------------ batchnorm_forward
    Bug("bn_forward_running_stats_in_train", "batchnorm_forward",
        _replace("batchnorm_forward", "        std = np.sqrt(var + eps)\n        x_hat = (x - mu) / std",
                 "        std = np.sqrt(running_var + eps)\n        x_hat = (x - running_mean) / std"),
        _ALL, "in train mode, normalise with the batch's own mean"),
    Bug("bn_forward_batch_stats_in_eval", "batchnorm_forward",
        _replace("batchnorm_forward",
                 "        std = np.sqrt(running_var + eps)\n        x_hat = (x - running_mean) / std",
                 "        mu = np.mean(x, axis=0)\n        std = np.sqrt(np.var(x, axis=0) + eps)\n"
                 "        x_hat = (x - mu) / std"),
        _RUNNING, "in eval mode (train=False), normalise with running_mean and running_var"),
    Bug("bn_forward_no_running_update", "batchnorm_forward",
        _replace("batchnorm_forward",
                 "        running_mean[:] = (1 - momentum) * running_mean + momentum * mu\n"
                 "        running_var[:] = (1 - momentum) * running_var + momentum * var * N / (N - 1)\n", ""),
        _RUNNING, "running_mean was not updated"),
    Bug("bn_forward_momentum_swapped", "batchnorm_forward",
        _replace("batchnorm_forward",
                 "        running_mean[:] = (1 - momentum) * running_mean + momentum * mu\n"
                 "        running_var[:] = (1 - momentum) * running_var + momentum * var * N / (N - 1)\n",
                 "        running_mean[:] = momentum * running_mean + (1 - momentum) * mu\n"
                 "        running_var[:] = momentum * running_var + (1 - momentum) * var * N / (N - 1)\n"),
        _RUNNING, "You swapped the two weights"),
    Bug("bn_forward_running_var_biased", "batchnorm_forward",
        _replace("batchnorm_forward", "momentum * var * N / (N - 1)", "momentum * var"),
        _RUNNING, "the running variance uses the unbiased batch variance"),
    Bug("bn_forward_normalise_unbiased", "batchnorm_forward",
        _replace("batchnorm_forward", "        var = np.mean((x - mu) ** 2, axis=0)\n",
                 "        var = np.var(x, axis=0, ddof=1)\n").replace("momentum * var * N / (N - 1)", "momentum * var"),
        _ALL, "normalise the batch with the biased variance"),
    Bug("bn_forward_eps_outside_sqrt", "batchnorm_forward",
        _replace("batchnorm_forward", "        std = np.sqrt(var + eps)", "        std = np.sqrt(var) + eps"),
        _ALL, "ε goes inside the square root"),
    Bug("bn_forward_gamma_beta_swapped", "batchnorm_forward",
        _replace("batchnorm_forward", "out = gamma * x_hat + beta", "out = beta * x_hat + gamma", count=2),
        _ALL, "γ and β are swapped"),
    Bug("bn_forward_axis1", "batchnorm_forward",
        _replace("batchnorm_forward",
                 "        mu = np.mean(x, axis=0)\n        var = np.mean((x - mu) ** 2, axis=0)",
                 "        mu = np.mean(x, axis=1, keepdims=True)\n"
                 "        var = np.mean((x - mu) ** 2, axis=1, keepdims=True)"),
        _ALL, "taken over axis=0"),
    Bug("bn_forward_rebinds_running", "batchnorm_forward",
        _replace("batchnorm_forward", "running_mean[:] =", "running_mean =").replace(
            "running_var[:] =", "running_var ="),
        _RUNNING, "assigns a new array to the name running_mean"),
    Bug("bn_forward_eval_updates_running", "batchnorm_forward",
        '''\
import numpy as np

def batchnorm_forward(x, gamma, beta, running_mean, running_var, train=True, momentum=0.1, eps=1e-5):
    N = x.shape[0]
    mu = np.mean(x, axis=0)
    var = np.var(x, axis=0)
    running_mean[:] = (1 - momentum) * running_mean + momentum * mu
    running_var[:] = (1 - momentum) * running_var + momentum * var * N / max(N - 1, 1)
    if train:
        std = np.sqrt(var + eps)
        x_hat = (x - mu) / std
    else:
        std = np.sqrt(running_var + eps)
        x_hat = (x - running_mean) / std
    return gamma * x_hat + beta, (x_hat, gamma, std)
''', _RUNNING, "the running statistics must not change"),
    Bug("bn_forward_returns_out_only", "batchnorm_forward",
        _replace("batchnorm_forward", "    return out, cache", "    return out"),
        _ALL, "must return a tuple (out, cache)"),
    Bug("bn_forward_calls_torch", "batchnorm_forward",
        '''\
import numpy as np
import torch
import torch.nn.functional as F

def batchnorm_forward(x, gamma, beta, running_mean, running_var, train=True, momentum=0.1, eps=1e-5):
    rm, rv = torch.from_numpy(running_mean), torch.from_numpy(running_var)
    out = F.batch_norm(torch.from_numpy(x), rm, rv, torch.from_numpy(gamma), torch.from_numpy(beta),
                       training=train, momentum=momentum, eps=eps)
    return out.numpy(), None
''', _ALL, "torch"),
    Bug("bn_forward_calls_ref", "batchnorm_forward",
        '''\
import numpy as np
from cnn_course.ref import batchnorm as bn

def batchnorm_forward(x, gamma, beta, running_mean, running_var, train=True, momentum=0.1, eps=1e-5):
    return bn.batchnorm_forward(x, gamma, beta, running_mean, running_var, train, momentum, eps)
''', _ALL, "cnn_course.ref"),
    # ------------------------------------------------------------------ batchnorm_backward
    Bug("bn_backward_dgamma_no_xhat", "batchnorm_backward",
        _replace("batchnorm_backward", "dgamma = np.sum(dout * x_hat, axis=0)", "dgamma = np.sum(dout, axis=0)"),
        _BACKWARD, "you summed dout alone"),
    Bug("bn_backward_dbeta_axis1", "batchnorm_backward",
        _replace("batchnorm_backward", "dbeta = np.sum(dout, axis=0)", "dbeta = np.sum(dout, axis=1)"),
        _BACKWARD, "sum over the batch axis (axis=0), not axis 1"),
    Bug("bn_backward_constant_stats", "batchnorm_backward",
        _replace("batchnorm_backward",
                 "    dx = (N * dx_hat - np.sum(dx_hat, axis=0) - x_hat * np.sum(dx_hat * x_hat, axis=0)) / (N * std)",
                 "    dx = dx_hat / std"),
        _BACKWARD, "treats μ and σ as constants"),
    Bug("bn_backward_missing_1_over_n", "batchnorm_backward",
        _replace("batchnorm_backward", ") / (N * std)", ") / std"),
        _BACKWARD, "wrong 1/N factor"),
    Bug("bn_backward_autograd", "batchnorm_backward",
        '''\
import numpy as np
import torch

def batchnorm_backward(dout, cache):
    x_hat, gamma, std = cache
    x = torch.tensor(x_hat * std, requires_grad=True)
    g = torch.tensor(gamma, requires_grad=True)
    b = torch.zeros(gamma.shape, dtype=x.dtype, requires_grad=True)
    mu = x.mean(dim=0)
    var = ((x - mu) ** 2).mean(dim=0)
    out = g * (x - mu) / torch.sqrt(var + 1e-5) + b
    out.backward(torch.tensor(dout))
    return x.grad.numpy(), g.grad.numpy(), b.grad.numpy()
''', _BACKWARD, "torch"),
    # ------------------------------------------------------------------ spatial_batchnorm_forward
    Bug("spatial_forward_axis0", "spatial_batchnorm_forward",
        _SPATIAL_DIRECT.replace("AXES", "0"), _SPATIAL, "axes (0, 2, 3)"),
    Bug("spatial_forward_axes01", "spatial_batchnorm_forward",
        # With C = 1 (some hidden cases) axes (0, 1) and axis 0 give the same numbers, so the hint
        # may be the axis-0 one; both end with the right axes.
        _SPATIAL_DIRECT.replace("AXES", "(0, 1)"), _SPATIAL, "axes (0, 2, 3)"),
    Bug("spatial_forward_reshape_no_transpose", "spatial_batchnorm_forward",
        _replace("spatial_batchnorm_forward", "x.transpose(0, 2, 3, 1).reshape(-1, C)", "x.reshape(-1, C)").replace(
            "out_flat.reshape(N, H, W, C).transpose(0, 3, 1, 2)", "out_flat.reshape(N, C, H, W)"),
        _SPATIAL, "mixes the channels"),
    Bug("spatial_forward_no_transpose_back", "spatial_batchnorm_forward",
        _replace("spatial_batchnorm_forward", "out_flat.reshape(N, H, W, C).transpose(0, 3, 1, 2)",
                 "out_flat.reshape(N, C, H, W)"),
        _SPATIAL, "undo the transpose"),
    Bug("spatial_forward_calls_ref", "spatial_batchnorm_forward",
        '''\
import numpy as np
import cnn_course.ref

def spatial_batchnorm_forward(x, gamma, beta, running_mean, running_var, train=True, momentum=0.1, eps=1e-5):
    return cnn_course.ref.batchnorm.batchnorm_forward(x, gamma, beta, running_mean, running_var, train, momentum, eps)
''', _SPATIAL, "cnn_course.ref"),
    # ------------------------------------------------------------------ spatial_batchnorm_backward
    Bug("spatial_backward_reshape_no_transpose", "spatial_batchnorm_backward",
        _replace("spatial_batchnorm_backward", "dout.transpose(0, 2, 3, 1).reshape(-1, C)", "dout.reshape(-1, C)"),
        frozenset({"spatial_batchnorm_backward"}), "dout.reshape(-1, C) mixes the channels"),
    Bug("spatial_backward_no_transpose_back", "spatial_batchnorm_backward",
        _replace("spatial_batchnorm_backward", "dx_flat.reshape(N, H, W, C).transpose(0, 3, 1, 2)",
                 "dx_flat.reshape(N, C, H, W)"),
        frozenset({"spatial_batchnorm_backward"}), "undo the transpose"),
    Bug("spatial_backward_sum_axis0", "spatial_batchnorm_backward",
        _SPATIAL_BACKWARD_DIRECT.replace("COUNT", "N * H * W").replace("SUM_AXES", "0"),
        frozenset({"spatial_batchnorm_backward"}), "sum over axes (0, 2, 3)"),
    Bug("spatial_backward_batch_count", "spatial_batchnorm_backward",
        _SPATIAL_BACKWARD_DIRECT.replace("COUNT", "N").replace("SUM_AXES", "(0, 2, 3)"),
        frozenset({"spatial_batchnorm_backward"}), "M = N·H·W, not the batch size"),
    # ------------------------------------------------------------------ BNConvNet (PyTorch)
    Bug("net_conv_bias", "BNConvNet", _replace("BNConvNet", ", bias=False)", ")").replace(", bias=False)", ")"),
        _NET, "Create them with bias=False"),
    Bug("net_bn_after_relu", "BNConvNet",
        _replace("BNConvNet", "torch.relu(self.bn1(self.conv1(x)))", "self.bn1(torch.relu(self.conv1(x)))").replace(
            "torch.relu(self.bn2(self.conv2(x)))", "self.bn2(torch.relu(self.conv2(x)))"),
        _NET, "Yours applies the ReLU first"),
    Bug("net_batchnorm1d", "BNConvNet", _replace("BNConvNet", "nn.BatchNorm2d(c1)", "nn.BatchNorm1d(c1)").replace(
        "nn.BatchNorm2d(c2)", "nn.BatchNorm1d(c2)"), _NET, "it needs nn.BatchNorm2d(C)"),
    Bug("net_batch_stats_always", "BNConvNet",
        _replace("BNConvNet", "self.bn1(self.conv1(x))",
                 "nn.functional.batch_norm(self.conv1(x), self.bn1.running_mean, self.bn1.running_var, "
                 "self.bn1.weight, self.bn1.bias, training=True)").replace(
            "self.bn2(self.conv2(x))",
            "nn.functional.batch_norm(self.conv2(x), self.bn2.running_mean, self.bn2.running_var, "
            "self.bn2.weight, self.bn2.bias, training=True)"),
        _NET, "in evaluation mode your network still normalises with the batch's own statistics"),
    Bug("net_fixed_sizes", "BNConvNet", _replace("BNConvNet", "nn.Linear(c2 * 7 * 7, n_classes)", "nn.Linear(784, n_classes)"),
        _NET, "computed from the constructor's arguments"),
    Bug("net_no_padding", "BNConvNet",
        _replace("BNConvNet", "kernel_size=3, padding=1, bias=False)", "kernel_size=3, bias=False)", count=2),
        _NET, "needs padding=1 to keep the image 28×28"),
    Bug("net_calls_course_bn", "BNConvNet",
        "from cnn_course.pt import BatchNorm2d\n" + _replace("BNConvNet", "nn.BatchNorm2d(c1)", "BatchNorm2d(c1)").replace(
            "nn.BatchNorm2d(c2)", "BatchNorm2d(c2)"), _NET, "cnn_course.pt"),
    # ------------------------------------------------------------------ evaluate_accuracy (PyTorch)
    Bug("eval_forgets_eval", "evaluate_accuracy", _replace("evaluate_accuracy", "    model.eval()\n", ""),
        _EVAL, "Call model.eval() before the predictions"),
    Bug("eval_stays_in_eval", "evaluate_accuracy", _replace("evaluate_accuracy", "    model.train(was_training)\n", ""),
        _EVAL, "restore it at the end"),
    Bug("eval_always_back_to_train", "evaluate_accuracy",
        _replace("evaluate_accuracy", "model.train(was_training)", "model.train()"), _EVAL, "not always in training mode"),
    Bug("eval_returns_tensor", "evaluate_accuracy",
        _replace("evaluate_accuracy", "y[start:start + batch_size]).sum().item()", "y[start:start + batch_size]).sum()"),
        _EVAL, "return the accuracy as a Python float"),
    Bug("eval_returns_count", "evaluate_accuracy", _replace("evaluate_accuracy", "return correct / len(x)", "return correct"),
        _EVAL, "not their number"),
    Bug("eval_calls_library", "evaluate_accuracy",
        "from cnn_course.pt.train import evaluate\n\ndef evaluate_accuracy(model, x, y, batch_size=256):\n"
        "    return evaluate(model, x, y, batch_size)[1]\n", _EVAL, "cnn_course.pt"),
]

# Graded end to end through nbgrader by default: the mistakes the course brief names first.
PIPELINE_BUGS: list[str] = [
    "bn_forward_running_stats_in_train",
    "bn_forward_batch_stats_in_eval",
    "bn_forward_momentum_swapped",
    "bn_forward_running_var_biased",
    "bn_forward_eps_outside_sqrt",
    "bn_forward_rebinds_running",
    "bn_backward_dgamma_no_xhat",
    "bn_backward_constant_stats",
    "spatial_forward_reshape_no_transpose",
    "spatial_backward_sum_axis0",
    "net_bn_after_relu",
    "eval_forgets_eval",
]

# name -> ({answer cell grade_id: source}, the test cells that must score 0); the rest keeps full marks.
MISBEHAVING: dict[str, tuple[dict[str, str], set[str]]] = {
    # Hangs in its test cell (and in any demo cell that calls it); nothing else calls it.
    "bn_infinite_loop": (
        {"spatial_batchnorm_backward": "def spatial_batchnorm_backward(dout, cache):\n    while True:\n        pass"},
        {"test_spatial_batchnorm_backward"},
    ),
    # Kills the kernel while the answer cell runs: batchnorm_backward is never defined, and the
    # spatial backward of the solution calls it.
    "bn_kernel_crash": (
        {"batchnorm_backward": "import os\nos._exit(1)\n\ndef batchnorm_backward(dout, cache):\n    pass"},
        {"test_batchnorm_backward", "test_spatial_batchnorm_backward"},
    ),
}

# The bug whose feedback page the pipeline inspects.
FEEDBACK_BUG = "bn_forward_momentum_swapped"
