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

# Bounding boxes, the twins of cnn_course.ref.boxes: box_area, box_iou, corners_to_centers,
# centers_to_corners, nms and the per-class batched_nms.
from .boxes import batched_nms, box_area, box_iou, centers_to_corners, corners_to_centers, nms  # noqa: E402

__all__ += ["batched_nms", "box_area", "box_iou", "centers_to_corners", "corners_to_centers", "nms"]

# YOLO, the twins of cnn_course.ref.yolo: yolo_encode, yolo_decode, yolo_activate, the loss
# yolo_loss (autograd) and anchors by shape IoU (anchor_iou, assign_anchors).
from .yolo import anchor_iou, assign_anchors, yolo_activate, yolo_decode, yolo_encode, yolo_loss  # noqa: E402

__all__ += ["anchor_iou", "assign_anchors", "yolo_activate", "yolo_decode", "yolo_encode", "yolo_loss"]

# R-CNN family, the twins of cnn_course.ref.rcnn: roi_pool and roi_align with torchvision's
# semantics (autograd backward) and their layers RoIPool, RoIAlign; encode_boxes/decode_boxes;
# the RPN's generate_anchors, match_anchors/label_anchors/anchor_targets, sample_anchors,
# rpn_loss and proposals_after_nms.
from .rcnn import (  # noqa: E402
    RoIAlign,
    RoIPool,
    anchor_targets,
    decode_boxes,
    encode_boxes,
    generate_anchors,
    label_anchors,
    match_anchors,
    proposals_after_nms,
    roi_align,
    roi_pool,
    rpn_loss,
    sample_anchors,
)

__all__ += ["RoIAlign", "RoIPool", "anchor_targets", "decode_boxes", "encode_boxes", "generate_anchors",
            "label_anchors", "match_anchors", "proposals_after_nms", "roi_align", "roi_pool", "rpn_loss",
            "sample_anchors"]

# The convolutional implementation of sliding windows (cnn_course.pt.sliding): the 14×14×3
# WindowClassifier, fc_to_conv (the same weights as convolutions) and sliding_window_loop.
from .sliding import WindowClassifier, fc_to_conv, sliding_window_loop  # noqa: E402

__all__ += ["WindowClassifier", "fc_to_conv", "sliding_window_loop"]
# Face verification and recognition, the twins of cnn_course.ref.face: triplet_loss (autograd),
# pairwise_distances, hardest_triplets, semi_hard_triplets, verify, who_is_it, roc_curve,
# threshold_for_far, and the SiameseHead module (σ(w·|f_i − f_j| + b)).
from .face import (  # noqa: E402
    SiameseHead,
    hardest_triplets,
    pair_distances,
    pairwise_distances,
    roc_curve,
    semi_hard_triplets,
    threshold_for_far,
    triplet_loss,
    verify,
    who_is_it,
)

__all__ += ["SiameseHead", "hardest_triplets", "pair_distances", "pairwise_distances", "roc_curve",
            "semi_hard_triplets", "threshold_for_far", "triplet_loss", "verify", "who_is_it"]

# Neural style transfer's costs, the twins of cnn_course.ref.style (autograd): unroll, gram_matrix,
# content_cost, layer_style_cost, style_cost, total_cost.
from .style import content_cost, gram_matrix, layer_style_cost, style_cost, total_cost, unroll  # noqa: E402

__all__ += ["content_cost", "gram_matrix", "layer_style_cost", "style_cost", "total_cost", "unroll"]

# MTCNN face detection (cnn_course.pt.mtcnn): PNet, RNet, ONet with the shipped facenet-pytorch
# weights (load_mtcnn), detect_faces (pyramid, cascade, the course's nms) -> Faces(boxes, probs,
# landmarks), and crop_faces for an embedding network.
from .mtcnn import MTCNN, Faces, ONet, PNet, RNet, crop_faces, detect_faces, load_mtcnn  # noqa: E402

__all__ += ["MTCNN", "Faces", "ONet", "PNet", "RNet", "crop_faces", "detect_faces", "load_mtcnn"]

# What are deep ConvNets learning (cnn_course.pt.visualize): receptive_field of an nn.Sequential and
# the image patches that excite a unit the most (top_patches, layer_top_patches; plot with
# cnn_course.plot.show_top_patches).
from .visualize import Field, TopPatches, layer_top_patches, receptive_field, top_patches  # noqa: E402

__all__ += ["Field", "TopPatches", "layer_top_patches", "receptive_field", "top_patches"]
# Transposed convolution, the twin of cnn_course.ref.conv_transpose: conv_transpose2d
# (matrix product + fold, autograd) and the layer ConvTranspose2d.
from .conv_transpose import ConvTranspose2d, conv_transpose2d  # noqa: E402

__all__ += ["ConvTranspose2d", "conv_transpose2d"]

# Convolution and pooling over any number of spatial axes, the twins of cnn_course.ref.convnd:
# convnd, conv1d, conv3d, poolnd, pool1d, pool3d (Tensor.unfold per axis, autograd).
from .convnd import conv1d, conv3d, convnd, pool1d, pool3d, poolnd  # noqa: E402

__all__ += ["conv1d", "conv3d", "convnd", "pool1d", "pool3d", "poolnd"]

# Segmentation, the twins of cnn_course.ref.segmentation (pixel_accuracy, confusion_matrix,
# per_class_iou, dice, mean_iou, mean_dice) and the losses dice_loss (soft Dice) and dice_ce_loss.
from .segmentation import (  # noqa: E402
    confusion_matrix,
    dice,
    dice_ce_loss,
    dice_loss,
    mean_dice,
    mean_iou,
    per_class_iou,
    pixel_accuracy,
)

__all__ += ["confusion_matrix", "dice", "dice_ce_loss", "dice_loss", "mean_dice", "mean_iou", "per_class_iou",
            "pixel_accuracy"]

# U-Net (cnn_course.pt.unet, also in cnn_course.pt.models): unet, unet3d, UNet, UpBlock,
# DoubleConv and crop_or_pad; small 1-D/3-D classifiers cnn1d, cnn3d (ConvNetND).
from .convnet_nd import ConvNetND, cnn1d, cnn3d  # noqa: E402
from .unet import DoubleConv, UNet, UpBlock, crop_or_pad, unet, unet3d  # noqa: E402

__all__ += ["DoubleConv", "UNet", "UpBlock", "crop_or_pad", "unet", "unet3d", "ConvNetND", "cnn1d", "cnn3d"]

# Neural style transfer (cnn_course.pt.style_net, cnn_course.pt.style_transfer): the pretrained
# MobileNet-v2 of Magenta's style predictor (load_style_features -> dict of activations) and
# stylize (Gatys optimisation on the pixels with the costs above).
from .style_net import StyleMobileNetV2, load_style_features  # noqa: E402
from .style_transfer import stylize  # noqa: E402

__all__ += ["StyleMobileNetV2", "load_style_features", "stylize"]
