"""NumPy reference implementation of the course's layers (NCHW layout).

Functional API (each forward returns ``(out, cache)``, each backward takes ``(dout, cache)``):
``zero_pad``, ``conv_output_size``, ``conv2d_forward``/``conv2d_backward``,
``pool2d_forward``/``pool2d_backward`` and their readable ``*_loops`` twins.
Layer classes ``Conv2d``, ``Pool2d``, ``MaxPool2d``, ``AvgPool2d`` compute the same numbers
and keep their scratch buffers between calls. Gradient checking: ``rel_error``,
``eval_numerical_gradient``, ``eval_numerical_gradient_array``.
"""

from .conv import (
    Conv2d,
    conv2d_backward,
    conv2d_backward_loops,
    conv2d_forward,
    conv2d_forward_loops,
    conv_output_size,
    zero_pad,
)
from .gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from .pool import (
    AvgPool2d,
    MaxPool2d,
    Pool2d,
    pool2d_backward,
    pool2d_backward_loops,
    pool2d_forward,
    pool2d_forward_loops,
)

__all__ = [
    "AvgPool2d",
    "Conv2d",
    "MaxPool2d",
    "Pool2d",
    "conv2d_backward",
    "conv2d_backward_loops",
    "conv2d_forward",
    "conv2d_forward_loops",
    "conv_output_size",
    "eval_numerical_gradient",
    "eval_numerical_gradient_array",
    "pool2d_backward",
    "pool2d_backward_loops",
    "pool2d_forward",
    "pool2d_forward_loops",
    "rel_error",
    "zero_pad",
]
