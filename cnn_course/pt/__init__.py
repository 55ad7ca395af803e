"""PyTorch twins of the NumPy reference: same operations, same shapes, autograd backward.

``cnn_course.pt.conv`` mirrors ``cnn_course.ref.conv`` and ``cnn_course.pt.pool`` mirrors
``cnn_course.ref.pool``; ``cnn_course.pt.batchnorm`` mirrors ``cnn_course.ref.batchnorm``
(``batch_norm`` and the modules ``BatchNorm1d``/``BatchNorm2d``, drop-ins for torch's).
The training helpers live in ``cnn_course.pt.train`` and the networks in the model zoo
``cnn_course.pt.models`` (``SmallConvNet``; the classic ``lenet5``, ``alexnet``, ``vgg``,
``vgg16``, ``vgg_block`` of ``cnn_course.pt.classic``; the residual ``BasicBlock``,
``Bottleneck``, ``resnet18/34/50`` and small-image ``cifar_resnet``, ``resnet20/32/56`` of
``cnn_course.pt.resnet``; the MobileNets ``DepthwiseSeparableConv``, ``InvertedResidual``,
``mobilenet_v1/v2``, ``efficient_mobilenet`` and the pretrained
``load_pretrained_mobilenet_fashion8`` of ``cnn_course.pt.mobilenet``; ``InceptionModule``,
``small_googlenet`` and ``googlenet_loss`` of ``cnn_course.pt.inception``). ``cnn_course.pt.summary.layer_table(model, input_size)`` tabulates
any model layer by layer (torchinfo; ``print_table``), the twin of ``cnn_course.ref.summary``. ``cnn_course.pt.optim`` mirrors ``cnn_course.ref.optim``:
the optimizers ``GD``, ``Momentum``, ``RMSProp``, ``Adam`` (``torch.optim.Optimizer`` classes),
``schedule``/``lr_lambda`` for the learning-rate decays and ``random_mini_batches``.
Fully connected networks: ``cnn_course.pt.init`` (``init_std``, ``initialize_``),
``cnn_course.pt.losses`` (``softmax``, ``log_softmax``, ``cross_entropy``, ``l2_penalty``),
``cnn_course.pt.dropout`` (the function ``dropout`` and the module ``Dropout``, keep_prob
convention) and ``cnn_course.pt.mlp.MLP`` mirror the reference's init, losses, dropout and mlp.
``cnn_course.pt.experiments`` runs quiet side-by-side comparisons (``compare_runs``,
``train_run``) and measures test accuracy with batch statistics (``batch_stat_accuracy``).
"""

from .batchnorm import BatchNorm1d, BatchNorm2d, batch_norm
from .conv import Conv2d, conv2d, conv_output_size, zero_pad
from .device import default_device, to_device
from .dropout import Dropout  # the function stays cnn_course.pt.dropout.dropout (no shadowed module)
from .experiments import RunHistory, activation_modules, batch_stat_accuracy, compare_runs, train_run
from .init import init_std, initialize_
from .losses import cross_entropy, l2_penalty, log_softmax, softmax
from .mlp import MLP
from .models import (
    VGG16_CFG,
    BasicBlock,
    Bottleneck,
    ClassicNet,
    ResNet,
    SmallConvNet,
    alexnet,
    cifar_resnet,
    lenet5,
    resnet18,
    resnet20,
    resnet32,
    resnet34,
    resnet50,
    resnet56,
    vgg,
    vgg16,
    vgg_block,
)
from .models import (  # topics 06 and 07: Inception and MobileNet
    FASHION8_HELD_OUT,
    GOOGLENET_CFG,
    DepthwiseSeparableConv,
    InceptionModule,
    InvertedResidual,
    MobileNetV1,
    MobileNetV2,
    SmallGoogLeNet,
    compound_scaling,
    depthwise_conv2d,
    efficient_mobilenet,
    fashion8_subset,
    googlenet_loss,
    load_pretrained_mobilenet_fashion8,
    mobilenet_v1,
    mobilenet_v2,
    pointwise_conv2d,
    small_googlenet,
)
from .optim import GD, Adam, Momentum, RMSProp, lr_lambda, random_mini_batches, schedule
from .pool import AvgPool2d, MaxPool2d, pool2d
from .summary import format_table, layer_table, print_table
from .train import History, evaluate, fit, set_seed

__all__ = [
    "default_device", "to_device",
    "init_std", "initialize_", "softmax", "log_softmax", "cross_entropy", "l2_penalty", "Dropout", "MLP",
    "zero_pad", "conv_output_size", "conv2d", "Conv2d",
    "pool2d", "MaxPool2d", "AvgPool2d",
    "batch_norm", "BatchNorm1d", "BatchNorm2d",
    "SmallConvNet", "ClassicNet", "VGG16_CFG", "lenet5", "alexnet", "vgg_block", "vgg", "vgg16",
    "BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet34", "resnet50",
    "cifar_resnet", "resnet20", "resnet32", "resnet56", "layer_table", "print_table", "format_table",
    "depthwise_conv2d", "DepthwiseSeparableConv", "InvertedResidual", "MobileNetV1", "MobileNetV2",
    "mobilenet_v1", "mobilenet_v2", "compound_scaling", "efficient_mobilenet",
    "FASHION8_HELD_OUT", "fashion8_subset", "load_pretrained_mobilenet_fashion8",
    "pointwise_conv2d", "InceptionModule", "GOOGLENET_CFG", "SmallGoogLeNet", "small_googlenet", "googlenet_loss",
    "History", "fit", "evaluate", "set_seed",
    "RunHistory", "train_run", "compare_runs", "activation_modules", "batch_stat_accuracy",
    "GD", "Momentum", "RMSProp", "Adam", "lr_lambda", "schedule", "random_mini_batches",
]

# Data augmentation on batches, the twins of cnn_course.ref.augment: cnn_course.pt.augment's
# mirror, random_crop and color_shift (N, C, H, W), with a torch.Generator.
from . import augment  # noqa: E402

__all__ += ["augment"]
