"""PyTorch twins of the NumPy reference: same operations, same shapes, autograd backward.

``cnn_course.pt.conv`` mirrors ``cnn_course.ref.conv`` and ``cnn_course.pt.pool`` mirrors
``cnn_course.ref.pool``. The training helpers live in ``cnn_course.pt.train`` and the small
networks in ``cnn_course.pt.models``.
"""

from .conv import Conv2d, conv2d, conv_output_size, zero_pad
from .device import default_device, to_device
from .models import SmallConvNet
from .pool import AvgPool2d, MaxPool2d, pool2d
from .train import History, evaluate, fit, set_seed

__all__ = [
    "default_device", "to_device",
    "zero_pad", "conv_output_size", "conv2d", "Conv2d",
    "pool2d", "MaxPool2d", "AvgPool2d",
    "SmallConvNet", "History", "fit", "evaluate", "set_seed",
]
