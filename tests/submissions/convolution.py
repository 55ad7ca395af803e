'''Topic-1 submissions: loop-based correct solutions, vectorised correct ones, and bugs.

``CORRECT`` maps each exercise of ``solutions/01_convolution`` to the source a careful
student would write (plain NumPy loops, calling their own earlier functions).
``VECTORISED`` holds other correct solutions (np.pad, sliding windows, einsum) that the
anti-cheat must not flag. ``BUGS`` lists wrong or cheating submissions with the hint the
grader must give. ``PIPELINE_BUGS``, ``FEEDBACK_BUG`` and ``MISBEHAVING`` drive the nbgrader
pipeline tests (tests/_pipeline.py).
'''

from __future__ import annotations

from . import Bug, replacer

# The checks that grade each exercise, where they are not the exercise's own name (the test
# cells call check.<name>(<exercise>)): pool_forward has a second test cell for unknown modes.
CHECKS = {"pool_forward": ("pool_forward", "pool_forward_unknown_mode"), "ConvNet": ("conv_net",)}

CORRECT: dict[str, str] = {
    "conv_output_size": '''\
import numpy as np

def conv_output_size(n, f, pad, stride):
    if f > n + 2 * pad:
        raise ValueError(f"the filter (f={f}) does not fit in the padded input (n + 2*pad = {n + 2 * pad})")
    return (n + 2 * pad - f) // stride + 1
''',
    "conv_layer_params": '''\
import numpy as np

def conv_layer_params(f, n_C_prev, n_C):
    weights = f * f * n_C_prev * n_C
    biases = n_C
    return weights + biases
''',
    "zero_pad": '''\
import numpy as np

def zero_pad(X, pad):
    X_pad = np.pad(X, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant", constant_values=0)
    return X_pad
''',
    "conv_single_step": '''\
import numpy as np

def conv_single_step(a_slice_prev, W, b):
    s = a_slice_prev * W
    Z = np.sum(s)
    Z = Z + float(b)
    return Z
''',
    "conv_forward": '''\
import numpy as np

def conv_forward(A_prev, W, b, stride=1, pad=0):
    m, n_C_prev, n_H_prev, n_W_prev = A_prev.shape
    n_C, _, f, _ = W.shape
    n_H = (n_H_prev + 2 * pad - f) // stride + 1
    n_W = (n_W_prev + 2 * pad - f) // stride + 1
    Z = np.zeros((m, n_C, n_H, n_W), dtype=A_prev.dtype)
    A_prev_pad = zero_pad(A_prev, pad)
    for i in range(m):
        a_prev_pad = A_prev_pad[i]
        for c in range(n_C):
            for h in range(n_H):
                vert_start = h * stride
                vert_end = vert_start + f
                for w in range(n_W):
                    horiz_start = w * stride
                    horiz_end = horiz_start + f
                    a_slice_prev = a_prev_pad[:, vert_start:vert_end, horiz_start:horiz_end]
                    Z[i, c, h, w] = conv_single_step(a_slice_prev, W[c], b[c])
    cache = (A_prev, W, b, stride, pad)
    return Z, cache
''',
    "pool_forward": '''\
import numpy as np

def pool_forward(A_prev, f, stride, mode="max"):
    if mode not in ("max", "average"):
        raise ValueError(f"unknown mode {mode!r}: use 'max' or 'average'")
    m, n_C, n_H_prev, n_W_prev = A_prev.shape
    n_H = (n_H_prev - f) // stride + 1
    n_W = (n_W_prev - f) // stride + 1
    A = np.zeros((m, n_C, n_H, n_W), dtype=A_prev.dtype)
    for i in range(m):
        for c in range(n_C):
            for h in range(n_H):
                vert_start = h * stride
                for w in range(n_W):
                    horiz_start = w * stride
                    window = A_prev[i, c, vert_start:vert_start + f, horiz_start:horiz_start + f]
                    if mode == "max":
                        A[i, c, h, w] = np.max(window)
                    elif mode == "average":
                        A[i, c, h, w] = np.mean(window)
    cache = (A_prev, f, stride, mode)
    return A, cache
''',
    "conv_backward": '''\
import numpy as np

def conv_backward(dZ, cache):
    A_prev, W, b, stride, pad = cache
    m, n_C_prev, n_H_prev, n_W_prev = A_prev.shape
    n_C, _, f, _ = W.shape
    _, _, n_H, n_W = dZ.shape
    dA_prev = np.zeros(A_prev.shape, dtype=A_prev.dtype)
    dW = np.zeros(W.shape, dtype=W.dtype)
    db = np.zeros(b.shape, dtype=b.dtype)
    A_prev_pad = zero_pad(A_prev, pad)
    dA_prev_pad = zero_pad(dA_prev, pad)
    for i in range(m):
        a_prev_pad = A_prev_pad[i]
        da_prev_pad = dA_prev_pad[i]
        for c in range(n_C):
            for h in range(n_H):
                vert_start = h * stride
                vert_end = vert_start + f
                for w in range(n_W):
                    horiz_start = w * stride
                    horiz_end = horiz_start + f
                    a_slice = a_prev_pad[:, vert_start:vert_end, horiz_start:horiz_end]
                    da_prev_pad[:, vert_start:vert_end, horiz_start:horiz_end] += W[c] * dZ[i, c, h, w]
                    dW[c] += a_slice * dZ[i, c, h, w]
                    db[c] += dZ[i, c, h, w]
        dA_prev[i] = da_prev_pad[:, pad:pad + n_H_prev, pad:pad + n_W_prev]
    return dA_prev, dW, db
''',
    "pool_backward": '''\
import numpy as np

def pool_backward(dA, cache):
    A_prev, f, stride, mode = cache
    m, n_C, n_H, n_W = dA.shape
    dA_prev = np.zeros(A_prev.shape, dtype=A_prev.dtype)
    for i in range(m):
        for c in range(n_C):
            for h in range(n_H):
                vert_start = h * stride
                vert_end = vert_start + f
                for w in range(n_W):
                    horiz_start = w * stride
                    horiz_end = horiz_start + f
                    window = A_prev[i, c, vert_start:vert_end, horiz_start:horiz_end]
                    if mode == "max":
                        mask = np.zeros(window.shape, dtype=bool)
                        mask[np.unravel_index(np.argmax(window), window.shape)] = True
                        dA_prev[i, c, vert_start:vert_end, horiz_start:horiz_end] += mask * dA[i, c, h, w]
                    elif mode == "average":
                        dA_prev[i, c, vert_start:vert_end, horiz_start:horiz_end] += dA[i, c, h, w] / (f * f)
    return dA_prev
''',
    "ConvNet": '''\
import torch
from torch import nn
import torch.nn.functional as F

class ConvNet(nn.Module):
    def __init__(self, n_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, kernel_size=3, padding=1)
        self.fc = nn.Linear(16 * 7 * 7, n_classes)

    def forward(self, x):
        x = F.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = F.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc(torch.flatten(x, 1))
''',
    "train_step": '''\
import torch
import torch.nn.functional as F

def train_step(model, optimizer, X, y):
    model.train()
    optimizer.zero_grad()
    loss = F.cross_entropy(model(X), y)
    loss.backward()
    optimizer.step()
    return loss.item()
''',
}

# Correct but written differently: whole-array NumPy. The anti-cheat must accept these.
VECTORISED: dict[str, str] = {
    "zero_pad": '''\
import numpy as np

def zero_pad(X, pad):
    m, n_C, n_H, n_W = X.shape
    X_pad = np.zeros((m, n_C, n_H + 2 * pad, n_W + 2 * pad), dtype=X.dtype)
    X_pad[:, :, pad:pad + n_H, pad:pad + n_W] = X
    return X_pad
''',
    "conv_single_step": '''\
import numpy as np

def conv_single_step(a_slice_prev, W, b):
    return float(np.tensordot(a_slice_prev, W, axes=3)) + b
''',
    "conv_forward": '''\
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

def conv_forward(A_prev, W, b, stride=1, pad=0):
    f = W.shape[2]
    A_pad = np.pad(A_prev, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    windows = sliding_window_view(A_pad, (f, f), axis=(2, 3))[:, :, ::stride, ::stride]
    Z = np.einsum("mchwij,kcij->mkhw", windows, W) + b[None, :, None, None]
    return Z, (A_prev, W, b, stride, pad)
''',
    "pool_forward": '''\
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

def pool_forward(A_prev, f, stride, mode="max"):
    if mode not in ("max", "average"):
        raise ValueError(f"unknown mode {mode!r}")
    windows = sliding_window_view(A_prev, (f, f), axis=(2, 3))[:, :, ::stride, ::stride]
    reduce = np.max if mode == "max" else np.mean
    return reduce(windows, axis=(4, 5)), (A_prev, f, stride, mode)
''',
    "conv_backward": '''\
import numpy as np

def _window_grad(dZ, W, shape, stride, f):
    dA = np.zeros(shape)
    for h in range(dZ.shape[2]):
        for w in range(dZ.shape[3]):
            dA[:, :, h * stride:h * stride + f, w * stride:w * stride + f] += np.einsum(
                "mk,kcij->mcij", dZ[:, :, h, w], W)
    return dA

def conv_backward(dZ, cache):
    A_prev, W, b, stride, pad = cache
    f = W.shape[2]
    A_pad = zero_pad(A_prev, pad)
    dA_pad = _window_grad(dZ, W, A_pad.shape, stride, f)
    dW = np.zeros_like(W)
    for h in range(dZ.shape[2]):
        for w in range(dZ.shape[3]):
            window = A_pad[:, :, h * stride:h * stride + f, w * stride:w * stride + f]
            dW += np.einsum("mk,mcij->kcij", dZ[:, :, h, w], window)
    H, Wd = A_prev.shape[2:]
    return dA_pad[:, :, pad:pad + H, pad:pad + Wd], dW, dZ.sum(axis=(0, 2, 3))
''',
}


VECTORISED["ConvNet"] = '''\
import torch
from torch import nn

class ConvNet(nn.Module):  # nn.Sequential blocks, nn.Module layers for ReLU and pooling
    def __init__(self, n_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 16, 3, padding="same")
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(784, n_classes)

    def forward(self, x):
        x = self.pool(self.relu(self.conv1(x)))
        x = self.pool(self.relu(self.conv2(x)))
        return self.fc(self.flatten(x))
'''
VECTORISED["train_step"] = '''\
from torch import nn

loss_fn = nn.CrossEntropyLoss()

def train_step(model, optimizer, X, y):
    model.train()
    optimizer.zero_grad(set_to_none=False)
    scores = model(X)
    loss = loss_fn(scores, y)
    loss.backward()
    optimizer.step()
    return float(loss.detach())
'''


_replace = replacer(CORRECT)


BUGS: list[Bug] = [
    Bug("conv_output_size_no_plus_one", "conv_output_size",
        _replace("conv_output_size", "// stride + 1", "// stride"),
        frozenset({"conv_output_size"}), "forgot the + 1"),
    Bug("conv_output_size_true_division", "conv_output_size",
        _replace("conv_output_size", "// stride + 1", "/ stride + 1"),
        frozenset({"conv_output_size"}), "floor division"),
    Bug("conv_output_size_no_value_error", "conv_output_size",
        _replace("conv_output_size", '''    if f > n + 2 * pad:
        raise ValueError(f"the filter (f={f}) does not fit in the padded input (n + 2*pad = {n + 2 * pad})")
''', ""),
        frozenset({"conv_output_size"}), "instead of raising ValueError"),
    Bug("conv_output_size_int_of_float", "conv_output_size",
        _replace("conv_output_size", "return (n + 2 * pad - f) // stride + 1", "return int((n + 2 * pad - f) / stride + 1)"),
        frozenset({"conv_output_size"}), "a float keeps only about 16 significant digits"),
    Bug("conv_output_size_float_no_error", "conv_output_size",  # what passed every test before: both bugs
        '''\
import numpy as np

def conv_output_size(n, f, pad, stride):
    return int((n + 2 * pad - f) / stride + 1)
''', frozenset({"conv_output_size"}), "instead of raising ValueError"),
    Bug("conv_output_size_check_ignores_padding", "conv_output_size",
        _replace("conv_output_size", "if f > n + 2 * pad:", "if f > n:"),
        frozenset({"conv_output_size"}), "The padding counts"),
    Bug("conv_output_size_check_off_by_one", "conv_output_size",
        _replace("conv_output_size", "if f > n + 2 * pad:", "if f >= n + 2 * pad:"),
        frozenset({"conv_output_size"}), "fits exactly once"),
    Bug("conv_layer_params_no_bias", "conv_layer_params",
        _replace("conv_layer_params", "return weights + biases", "return weights"),
        frozenset({"conv_layer_params"}), "but not the biases"),
    Bug("conv_layer_params_float", "conv_layer_params",
        _replace("conv_layer_params", "return weights + biases", "return float(weights + biases)"),
        frozenset({"conv_layer_params"}), "a count is a whole number"),
    Bug("zero_pad_all_axes", "zero_pad",
        '''\
import numpy as np

def zero_pad(X, pad):
    return np.pad(X, pad)
''', frozenset({"zero_pad", "conv_forward", "conv_backward"}), "never the batch or channel axes"),
    Bug("zero_pad_channels_last", "zero_pad",
        _replace("zero_pad", "((0, 0), (0, 0), (pad, pad), (pad, pad))", "((0, 0), (pad, pad), (pad, pad), (0, 0))"),
        frozenset({"zero_pad", "conv_forward", "conv_backward"}), "channels-last"),
    Bug("conv_single_step_no_bias", "conv_single_step",
        _replace("conv_single_step", "Z = Z + float(b)", "Z = Z"),
        frozenset({"conv_single_step", "conv_forward"}), "forget to add the bias"),
    Bug("conv_single_step_in_place", "conv_single_step",
        '''\
import numpy as np

def conv_single_step(a_slice_prev, W, b):
    a_slice_prev *= W
    return np.sum(a_slice_prev) + float(b)
''', frozenset({"conv_single_step", "conv_forward"}), "in place"),
    Bug("conv_forward_channels_last", "conv_forward",
        '''\
import numpy as np

def conv_forward(A_prev, W, b, stride=1, pad=0):
    m, n_H_prev, n_W_prev, n_C_prev = A_prev.shape
    f, f, n_C_prev, n_C = W.shape
    n_H = (n_H_prev + 2 * pad - f) // stride + 1
    n_W = (n_W_prev + 2 * pad - f) // stride + 1
    Z = np.zeros((m, n_H, n_W, n_C))
    A_prev_pad = np.pad(A_prev, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    vs, hs = h * stride, w * stride
                    a_slice = A_prev_pad[i, vs:vs + f, hs:hs + f, :]
                    Z[i, h, w, c] = np.sum(a_slice * W[:, :, :, c]) + b[c]
    return Z, (A_prev, W, b, stride, pad)
''', frozenset({"conv_forward"}), "channels-last"),
    Bug("conv_forward_off_by_one", "conv_forward",
        _replace("conv_forward", "// stride + 1", "// stride", count=2),
        frozenset({"conv_forward"}), "forgot the + 1"),
    Bug("conv_forward_no_bias", "conv_forward",
        _replace("conv_forward", "conv_single_step(a_slice_prev, W[c], b[c])", "conv_single_step(a_slice_prev, W[c], 0.0)"),
        frozenset({"conv_forward"}), "did you forget to add the bias"),
    Bug("conv_forward_stride_ignored", "conv_forward",
        _replace("conv_forward", "vert_start = h * stride", "vert_start = h").replace(
            "horiz_start = w * stride", "horiz_start = w"),
        frozenset({"conv_forward"}), "move by stride"),
    Bug("conv_forward_int_output", "conv_forward",
        _replace("conv_forward", "dtype=A_prev.dtype)", "dtype=int)"),
        frozenset({"conv_forward"}), "floating-point"),
    Bug("conv_forward_float64_for_float32", "conv_forward",  # accepted: float64 is still a float result
        _replace("conv_forward", "dtype=A_prev.dtype)", "dtype=np.float64)"),
        frozenset(), ""),
    Bug("conv_forward_calls_ref", "conv_forward",
        '''\
import numpy as np
from cnn_course.ref import conv2d_forward

def conv_forward(A_prev, W, b, stride=1, pad=0):
    Z, _ = conv2d_forward(A_prev, W, b, stride=stride, pad=pad)
    return Z, (A_prev, W, b, stride, pad)
''', frozenset({"conv_forward"}), "cnn_course.ref"),
    Bug("conv_forward_calls_torch", "conv_forward",
        '''\
import numpy as np
import torch
import torch.nn.functional as F

def conv_forward(A_prev, W, b, stride=1, pad=0):
    Z = F.conv2d(torch.from_numpy(A_prev), torch.from_numpy(W), torch.from_numpy(b), stride=stride, padding=pad)
    return Z.numpy(), (A_prev, W, b, stride, pad)
''', frozenset({"conv_forward"}), "torch"),
    Bug("conv_forward_hidden_import", "conv_forward",  # only the dynamic watcher can see this one
        '''\
import numpy as np

def conv_forward(A_prev, W, b, stride=1, pad=0):
    import importlib
    lib = importlib.import_module("cnn_" + "course.ref")
    Z, _ = getattr(lib, "conv2d_" + "forward")(A_prev, W, b, stride, pad)
    return Z, (A_prev, W, b, stride, pad)
''', frozenset({"conv_forward"}), "cnn_course.ref"),
    Bug("pool_forward_scipy", "pool_forward",
        '''\
import numpy as np
from scipy import ndimage

def pool_forward(A_prev, f, stride, mode="max"):
    filt = ndimage.maximum_filter if mode == "max" else ndimage.uniform_filter
    full = filt(A_prev, size=(1, 1, f, f), mode="constant", origin=(0, 0, -(f // 2), -(f // 2)) if f > 1 else 0)
    n_H = (A_prev.shape[2] - f) // stride + 1
    n_W = (A_prev.shape[3] - f) // stride + 1
    return full[:, :, :n_H * stride:stride, :n_W * stride:stride], (A_prev, f, stride, mode)
''', frozenset({"pool_forward"}), "scipy.ndimage"),
    Bug("pool_forward_average_in_max_mode", "pool_forward",
        _replace("pool_forward", "A[i, c, h, w] = np.max(window)", "A[i, c, h, w] = np.mean(window)"),
        frozenset({"pool_forward"}), "must take the maximum"),
    Bug("pool_forward_avg_name", "pool_forward",  # rejects the course's spelling "average"
        _replace("pool_forward", '''if mode not in ("max", "average"):
        raise ValueError(f"unknown mode {mode!r}: use 'max' or 'average'")''', '''if mode not in ("max", "avg"):
        raise ValueError(f"unknown mode {mode}")''').replace('elif mode == "average":', 'elif mode == "avg":'),
        frozenset({"pool_forward"}), 'when called with mode="avg", but not with mode="average"'),
    Bug("pool_forward_avg_name_else_max", "pool_forward",  # mishandles it: "average" falls into max pooling
        '''\
import numpy as np

def pool_forward(A_prev, f, stride, mode="max"):
    m, n_C, n_H_prev, n_W_prev = A_prev.shape
    n_H = (n_H_prev - f) // stride + 1
    n_W = (n_W_prev - f) // stride + 1
    A = np.zeros((m, n_C, n_H, n_W))
    for i in range(m):
        for c in range(n_C):
            for h in range(n_H):
                for w in range(n_W):
                    window = A_prev[i, c, h * stride:h * stride + f, w * stride:w * stride + f]
                    A[i, c, h, w] = np.mean(window) if mode == "avg" else np.max(window)
    return A, (A_prev, f, stride, mode)
''', frozenset({"pool_forward"}), 'compares mode with "avg"'),
    Bug("pool_forward_no_mode_check", "pool_forward",  # the exercise's ValueError is missing
        _replace("pool_forward", '''    if mode not in ("max", "average"):
        raise ValueError(f"unknown mode {mode!r}: use 'max' or 'average'")
''', "").replace('elif mode == "average":', "else:"),
        frozenset({"pool_forward"}), "treats every unknown mode like one of the two"),
    Bug("pool_forward_unknown_mode_zeros", "pool_forward",  # no else: an unknown mode returns zeros
        _replace("pool_forward", '''    if mode not in ("max", "average"):
        raise ValueError(f"unknown mode {mode!r}: use 'max' or 'average'")
''', ""),
        frozenset({"pool_forward"}), "no branch matched mode="),
    Bug("pool_forward_assert_mode", "pool_forward",  # an assert is not the ValueError the exercise asks for
        _replace("pool_forward", '''    if mode not in ("max", "average"):
        raise ValueError(f"unknown mode {mode!r}: use 'max' or 'average'")
''', '''    assert mode in ("max", "average"), "unknown mode"
'''),
        frozenset({"pool_forward"}), "raised AssertionError: unknown mode, but it must raise ValueError"),
    Bug("conv_backward_no_db", "conv_backward",
        _replace("conv_backward", "db[c] += dZ[i, c, h, w]", "pass"),
        frozenset({"conv_backward"}), "db is all zeros"),
    Bug("conv_backward_no_accumulate", "conv_backward",
        _replace("conv_backward", "horiz_end] += W[c]", "horiz_end] = W[c]"),
        frozenset({"conv_backward"}), "accumulate with +=, not ="),
    Bug("conv_backward_pad_slice", "conv_backward",
        _replace("conv_backward", "da_prev_pad[:, pad:pad + n_H_prev, pad:pad + n_W_prev]",
                 "da_prev_pad[:, pad:-pad, pad:-pad]"),
        frozenset({"conv_backward"}), "-0 == 0"),
    Bug("conv_backward_unpad_wrong_axes", "conv_backward",
        _replace("conv_backward", "da_prev_pad[:, pad:pad + n_H_prev, pad:pad + n_W_prev]",
                 "da_prev_pad[pad:pad + n_H_prev, pad:pad + n_W_prev]"),
        frozenset({"conv_backward"}), "Keep the channel axis whole"),
    Bug("conv_backward_unpad_one_short", "conv_backward",
        _replace("conv_backward", "da_prev_pad[:, pad:pad + n_H_prev, pad:pad + n_W_prev]",
                 "da_prev_pad[:, pad:pad + n_H_prev - 1, pad:pad + n_W_prev - 1]"),
        frozenset({"conv_backward"}), "The end of a slice is excluded"),
    Bug("conv_backward_unpad_shifted", "conv_backward",  # vectorised style: one slice at the end
        _replace("conv_backward", "        dA_prev[i] = da_prev_pad[:, pad:pad + n_H_prev, pad:pad + n_W_prev]\n", "")
        .replace("return dA_prev, dW, db", "return dA_prev_pad[:, :, 2 * pad:2 * pad + n_H_prev, pad:pad + n_W_prev], dW, db"),
        frozenset({"conv_backward"}), "the slice starts at"),
    Bug("conv_backward_dW_from_unpadded", "conv_backward",  # right without padding only
        _replace("conv_backward", "a_slice = a_prev_pad[:, vert_start:vert_end, horiz_start:horiz_end]",
                 "a_slice = A_prev[i][:, vert_start:vert_end, horiz_start:horiz_end]"),
        frozenset({"conv_backward"}), "right for this input with pad = 0"),
    Bug("conv_backward_not_implemented", "conv_backward",
        '''\
import numpy as np

def conv_backward(dZ, cache):
    # YOUR CODE HERE
    raise NotImplementedError()
''', frozenset({"conv_backward"}), "replace the `raise NotImplementedError()`"),
    Bug("pool_backward_all_ties", "pool_backward",
        _replace("pool_backward", """                        mask = np.zeros(window.shape, dtype=bool)
                        mask[np.unravel_index(np.argmax(window), window.shape)] = True
""", """                        mask = window == np.max(window)
"""),
        frozenset({"pool_backward"}), "every tied maximum"),
    Bug("pool_backward_last_tie", "pool_backward",  # the last of the tied maxima (np.argwhere(...)[-1])
        _replace("pool_backward", "mask[np.unravel_index(np.argmax(window), window.shape)] = True",
                 "mask[tuple(np.argwhere(window == np.max(window))[-1])] = True"),
        frozenset({"pool_backward"}), "the last of a window's tied maxima"),
    Bug("pool_backward_average_no_divide", "pool_backward",
        _replace("pool_backward", "+= dA[i, c, h, w] / (f * f)", "+= dA[i, c, h, w]"),
        frozenset({"pool_backward"}), "got the whole gradient"),
    Bug("pool_backward_average_divide_by_f", "pool_backward",
        _replace("pool_backward", "+= dA[i, c, h, w] / (f * f)", "+= dA[i, c, h, w] / f"),
        frozenset({"pool_backward"}), "the window has f·f entries"),
    Bug("pool_backward_no_accumulate", "pool_backward",
        _replace("pool_backward", "horiz_end] += mask", "horiz_end] = mask"),
        frozenset({"pool_backward"}), "accumulate with +=, not ="),
    Bug("pool_backward_stale_mask", "pool_backward",
        '''\
import numpy as np

def pool_backward(dA, cache):
    A_prev, f, stride, mode = cache
    m, n_C, n_H, n_W = dA.shape
    dA_prev = np.zeros(A_prev.shape)
    mask = np.zeros((f, f), dtype=bool)
    for i in range(m):
        for c in range(n_C):
            for h in range(n_H):
                for w in range(n_W):
                    vs, hs = h * stride, w * stride
                    if mode == "max":
                        window = A_prev[i, c, vs:vs + f, hs:hs + f]
                        mask[np.unravel_index(np.argmax(window), window.shape)] = True
                        dA_prev[i, c, vs:vs + f, hs:hs + f] += mask * dA[i, c, h, w]
                    else:
                        dA_prev[i, c, vs:vs + f, hs:hs + f] += dA[i, c, h, w] / (f * f)
    return dA_prev
''', frozenset({"pool_backward"}), "fresh mask for every window"),
    Bug("pool_backward_avg_name", "pool_backward",  # the cache says "average"; this branch waits for "avg"
        _replace("pool_backward", 'elif mode == "average":', 'elif mode == "avg":'),
        frozenset({"pool_backward"}), 'this course spells the mode "average"'),
    # ------------------------------------------------------------------ PyTorch: ConvNet and train_step
    Bug("convnet_no_padding", "ConvNet",
        _replace("ConvNet", "kernel_size=3, padding=1)", "kernel_size=3)", count=2).replace("16 * 7 * 7", "16 * 5 * 5"),
        frozenset({"ConvNet"}), "400 = 16·5·5 is the size without padding"),
    Bug("convnet_one_pool", "ConvNet",
        _replace("ConvNet", "x = F.max_pool2d(torch.relu(self.conv2(x)), 2)", "x = torch.relu(self.conv2(x))")
        .replace("16 * 7 * 7", "16 * 14 * 14"),
        frozenset({"ConvNet"}), "after one pooling only"),
    Bug("convnet_no_relu", "ConvNet",
        _replace("ConvNet", "torch.relu(self.conv1(x))", "self.conv1(x)").replace("torch.relu(self.conv2(x))",
                                                                               "self.conv2(x)"),
        frozenset({"ConvNet"}), "without ReLU"),
    Bug("convnet_softmax_output", "ConvNet",
        _replace("ConvNet", "return self.fc(torch.flatten(x, 1))", "return torch.softmax(self.fc(torch.flatten(x, 1)), dim=1)"),
        frozenset({"ConvNet"}), "returns probabilities"),
    Bug("convnet_avg_pool", "ConvNet",
        _replace("ConvNet", "F.max_pool2d", "F.avg_pool2d", count=2),
        frozenset({"ConvNet"}), "average pooling"),
    Bug("convnet_flatten_channels_last", "ConvNet",
        _replace("ConvNet", "torch.flatten(x, 1)", "x.permute(0, 2, 3, 1).reshape(len(x), -1)"),
        frozenset({"ConvNet"}), "(height, width, channels)"),
    Bug("convnet_other_names", "ConvNet",
        _replace("ConvNet", "self.conv1", "self.c1", count=2),
        frozenset({"ConvNet"}), "named conv1, conv2 and fc"),
    Bug("convnet_fixed_classes", "ConvNet",  # ignores n_classes: caught by the hidden ConvNet(n_classes=3)
        _replace("ConvNet", "nn.Linear(16 * 7 * 7, n_classes)", "nn.Linear(16 * 7 * 7, 10)"),
        frozenset({"ConvNet"}), "has shape (10, 784), expected (3, 784)"),
    Bug("convnet_calls_library", "ConvNet",
        _replace("ConvNet", "import torch.nn.functional as F", "import torch.nn.functional as F\nfrom cnn_course import pt")
        .replace("nn.Conv2d(1, 8, kernel_size=3, padding=1)", "pt.Conv2d(1, 8, f=3, pad=1)"),
        frozenset({"ConvNet"}), "ConvNet earns no points: it calls cnn_course.pt"),
    Bug("convnet_not_a_module", "ConvNet",
        '''\
import torch

class ConvNet:
    def __init__(self, n_classes=10):
        self.n_classes = n_classes

    def __call__(self, x):
        return torch.zeros(len(x), self.n_classes)
''', frozenset({"ConvNet"}), "derive the class from nn.Module"),
    Bug("train_step_no_zero_grad", "train_step",
        _replace("train_step", "    optimizer.zero_grad()\n", ""),
        frozenset({"train_step"}), "call optimizer.zero_grad() before loss.backward()"),
    Bug("train_step_step_before_backward", "train_step",
        _replace("train_step", "    loss.backward()\n    optimizer.step()\n", "    optimizer.step()\n    loss.backward()\n"),
        frozenset({"train_step"}), "the parameters did not change"),
    Bug("train_step_returns_tensor", "train_step",
        _replace("train_step", "return loss.item()", "return loss"),
        frozenset({"train_step"}), "return loss.item()"),
    Bug("train_step_no_train_mode", "train_step",
        _replace("train_step", "    model.train()\n", ""),
        frozenset({"train_step"}), "put it in training mode at the start of the step"),
    Bug("train_step_eval_mode", "train_step",
        _replace("train_step", "model.train()", "model.eval()"),
        frozenset({"train_step"}), "the model ran in evaluation mode"),
    Bug("train_step_softmax_then_loss", "train_step",
        _replace("train_step", "F.cross_entropy(model(X), y)", "F.cross_entropy(torch.softmax(model(X), dim=1), y)"),
        frozenset({"train_step"}), "applies it itself"),
    Bug("train_step_loss_after_update", "train_step",
        _replace("train_step", "return loss.item()", "return F.cross_entropy(model(X), y).item()"),
        frozenset({"train_step"}), "you returned the loss after the update"),
    Bug("train_step_no_grad", "train_step",
        _replace("train_step", "    loss = F.cross_entropy(model(X), y)\n",
                 "    with torch.no_grad():\n        loss = F.cross_entropy(model(X), y)\n"),
        frozenset({"train_step"}), "do not run the forward pass under torch.no_grad()"),
    Bug("pool_backward_calls_pt", "pool_backward",
        '''\
import numpy as np
import cnn_course.pt

def pool_backward(dA, cache):
    import torch
    A_prev, f, stride, mode = cache
    x = torch.tensor(A_prev, requires_grad=True)
    out = cnn_course.pt.pool2d(x, f, stride, mode=mode)
    out.backward(torch.tensor(dA))
    return x.grad.numpy()
''', frozenset({"pool_backward"}), "cnn_course.pt"),
]

# --------------------------------------------------------------------------- nbgrader pipeline

# Bugs autograded end to end by default: the ones the course brief names, plus one per
# exercise not covered by those (CNN_COURSE_ALL_BUGS=1 grades every bug).
PIPELINE_BUGS = [
    "conv_forward_channels_last",
    "zero_pad_all_axes",  # padding on the batch (and channel) axes
    "conv_forward_off_by_one",
    "conv_forward_no_bias",
    "pool_forward_average_in_max_mode",
    "pool_backward_stale_mask",  # mask not reset between windows
    "conv_output_size_no_plus_one",
    "conv_layer_params_no_bias",
    "conv_backward_no_accumulate",
    "pool_backward_all_ties",
    "pool_backward_average_no_divide",
    "conv_output_size_float_no_error",  # issue 9: passed every test before the ValueError was graded
    "pool_forward_no_mode_check",
    "conv_backward_unpad_wrong_axes",
    "pool_backward_avg_name",
    "convnet_no_relu",
    "train_step_no_zero_grad",
    "train_step_returns_tensor",
]

# The bug whose feedback page the pipeline reads.
FEEDBACK_BUG = "conv_forward_no_bias"

# Submissions that misbehave, graded alongside the others:
# name -> ({answer cell: source}, the test cells that must score 0). Everything else
# keeps full marks.
MISBEHAVING = {
    # Hangs in the test cell (and in the worked example after it); interrupted each time.
    "conv_infinite_loop": (
        {"conv_backward": "def conv_backward(dZ, cache):\n    while True:\n        pass"},
        {"test_conv_backward"},
    ),
    # Kills the kernel while the answer cell runs; the function is then never defined,
    # and conv_forward calls it.
    "conv_kernel_crash": (
        {"conv_single_step": "import os\nos._exit(1)\n\ndef conv_single_step(a_slice_prev, W, b):\n    pass"},
        {"test_conv_single_step", "test_conv_forward"},
    ),
}
