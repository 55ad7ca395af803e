"""NumPy reference implementation of the course's layers (NCHW layout).

Functional API (each forward returns ``(out, cache)``, each backward takes ``(dout, cache)``):
``zero_pad``, ``conv_output_size``, ``conv2d_forward``/``conv2d_backward``,
``pool2d_forward``/``pool2d_backward`` and their readable ``*_loops`` twins.
Layer classes ``Conv2d``, ``Pool2d``, ``MaxPool2d``, ``AvgPool2d`` compute the same numbers
and keep their scratch buffers between calls. Gradient checking: ``rel_error``,
``eval_numerical_gradient``, ``eval_numerical_gradient_array``.
Batch normalisation (``cnn_course.ref.batchnorm``): ``batchnorm_forward``/``batchnorm_backward``
(fast, (N, D) or (N, C, H, W)), the step-by-step ``batchnorm_backward_steps``, the layer
``BatchNorm`` and the cache type ``BatchNormCache``.
Optimisation (``cnn_course.ref.optim``): ``random_mini_batches``, ``ewa``, the update rules
``gd_update``, ``momentum_update``, ``rmsprop_update``, ``adam_update`` (with their ``*_init``
states) and ``update_parameters``, learning-rate decays ``lr_*``, the samplers
``sample_log_uniform``/``sample_beta``, and ``ill_conditioned``/``optimize_path`` for path pictures.
Fully connected networks: ``init_std``/``initialize_parameters`` (``cnn_course.ref.init``),
``softmax``, ``log_softmax``, ``one_hot``, ``cross_entropy``, ``softmax_cross_entropy``,
``l2_cost``, ``l2_grads`` (``cnn_course.ref.losses``), inverted dropout ``dropout_forward``/
``dropout_backward`` (``cnn_course.ref.dropout``), whole-network gradient checking
``gradient_check`` with ``dict_to_vector``/``vector_to_dict`` and the ``GRADCHECK_OK``/
``GRADCHECK_BAD`` thresholds, and the small network of ``cnn_course.ref.mlp``: ``mlp_forward``,
``mlp_backward``, ``mlp_loss``, ``mlp_predict``, ``mlp_accuracy`` and ``train_mlp``.
Whole networks: the residual block of ``cnn_course.ref.resnet`` (``residual_block_init``,
``residual_block_forward``/``residual_block_backward``, ``residual_block_learnable``) and
LeNet-5 of ``cnn_course.ref.classic`` (``lenet5_init``, ``lenet5_forward``/``lenet5_backward``,
``lenet5_loss``, ``lenet5_train_step``, ``lenet5_train``, ``lenet5_accuracy``, and
``params_to_torch``/``params_from_torch`` to copy weights to and from a torch LeNet-5).

Inception and MobileNet: the 1×1 convolution as one matrix product ``pointwise_conv_forward``/
``pointwise_conv_backward`` and the multiply counts ``conv_mults``, ``pointwise_mults``,
``bottleneck_mults``, ``depthwise_mults``, ``separable_mults``, ``separable_ratio``
(``cnn_course.ref.inception``); the depthwise convolution ``depthwise_conv2d_forward``/
``depthwise_conv2d_backward``, their ``*_loops`` twins and the depthwise-then-pointwise
``separable_conv2d_forward``/``separable_conv2d_backward`` (``cnn_course.ref.mobilenet``).
Data augmentation (``cnn_course.ref.augment``), pure functions of (image, rng) on (H, W) or
(H, W, C) images in [0, 1]: ``mirror``, ``random_crop``, ``rotate``, ``shear``, ``color_shift``,
``pca_color`` (with ``pca_color_fit``), their deterministic cores ``hflip``, ``crop``,
``rotate_by``, ``shear_by``, ``shift_color``, ``pca_shift``, and ``augment`` composing them.

Layer tables (``cnn_course.ref.summary``): ``spec_table(spec, input_shape)`` gives each layer's
output shape, parameters and multiply-adds (``Row``s in a ``LayerTable``, ``print_table``) from
a layer spec built with ``cnn_course.ref.summary``'s constructors (``conv``, ``pool``, ``fc``,
``residual``…); the zoo's specs ``LENET5``, ``ALEXNET``, ``VGG16`` and ``lenet5_spec``,
``alexnet_spec``, ``vgg_spec``, ``resnet_spec``, ``cifar_resnet_spec``.
"""

from .augment import (
    augment,
    color_shift,
    crop,
    hflip,
    mirror,
    pca_color,
    pca_color_fit,
    pca_shift,
    random_crop,
    rotate,
    rotate_by,
    shear,
    shear_by,
    shift_color,
)
from .batchnorm import (
    BatchNorm,
    BatchNormCache,
    batchnorm_backward,
    batchnorm_backward_steps,
    batchnorm_forward,
)
from .classic import (
    LENET5_KEYS,
    lenet5_accuracy,
    lenet5_backward,
    lenet5_forward,
    lenet5_init,
    lenet5_loss,
    lenet5_train,
    lenet5_train_step,
    params_from_torch,
    params_to_torch,
)
from .conv import (
    Conv2d,
    conv2d_backward,
    conv2d_backward_loops,
    conv2d_forward,
    conv2d_forward_loops,
    conv_output_size,
    zero_pad,
)
from .dropout import dropout_backward, dropout_forward
from .gradcheck import (
    GRADCHECK_BAD,
    GRADCHECK_OK,
    dict_to_vector,
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    gradient_check,
    rel_error,
    vector_to_dict,
)
from .inception import (
    bottleneck_mults,
    conv_mults,
    depthwise_mults,
    pointwise_conv_backward,
    pointwise_conv_forward,
    pointwise_mults,
    separable_mults,
    separable_ratio,
)
from .init import INIT_METHODS, init_std, initialize_parameters
from .losses import cross_entropy, l2_cost, l2_grads, log_softmax, one_hot, softmax, softmax_cross_entropy
from .mlp import mlp_accuracy, mlp_backward, mlp_forward, mlp_loss, mlp_predict, train_mlp
from .mobilenet import (
    depthwise_conv2d_backward,
    depthwise_conv2d_backward_loops,
    depthwise_conv2d_forward,
    depthwise_conv2d_forward_loops,
    separable_conv2d_backward,
    separable_conv2d_forward,
)
from .optim import (
    adam_init,
    adam_update,
    ewa,
    gd_update,
    ill_conditioned,
    init_states,
    lr_exponential,
    lr_inverse_sqrt,
    lr_inverse_time,
    lr_scheduled,
    momentum_init,
    momentum_update,
    optimize_path,
    random_mini_batches,
    rmsprop_init,
    rmsprop_update,
    sample_beta,
    sample_log_uniform,
    update_parameters,
)
from .pool import (
    AvgPool2d,
    MaxPool2d,
    Pool2d,
    pool2d_backward,
    pool2d_backward_loops,
    pool2d_forward,
    pool2d_forward_loops,
)
from .resnet import (
    residual_block_backward,
    residual_block_forward,
    residual_block_init,
    residual_block_learnable,
)
from .summary import (
    ALEXNET,
    LENET5,
    VGG16,
    LayerTable,
    Row,
    alexnet_spec,
    cifar_resnet_spec,
    format_table,
    lenet5_spec,
    print_table,
    resnet_spec,
    spec_table,
    vgg_spec,
)

__all__ = [
    # batchnorm
    "BatchNorm",
    "BatchNormCache",
    "batchnorm_backward",
    "batchnorm_backward_steps",
    "batchnorm_forward",
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
    # fundamentals: init, losses, dropout, gradient check, mlp
    "INIT_METHODS",
    "init_std",
    "initialize_parameters",
    "cross_entropy",
    "l2_cost",
    "l2_grads",
    "log_softmax",
    "one_hot",
    "softmax",
    "softmax_cross_entropy",
    "dropout_backward",
    "dropout_forward",
    "GRADCHECK_BAD",
    "GRADCHECK_OK",
    "dict_to_vector",
    "gradient_check",
    "vector_to_dict",
    "mlp_accuracy",
    "mlp_backward",
    "mlp_forward",
    "mlp_loss",
    "mlp_predict",
    "train_mlp",
    "pool2d_backward",
    "pool2d_backward_loops",
    "pool2d_forward",
    "pool2d_forward_loops",
    # optim
    "adam_init",
    "adam_update",
    "ewa",
    "gd_update",
    "ill_conditioned",
    "init_states",
    "lr_exponential",
    "lr_inverse_sqrt",
    "lr_inverse_time",
    "lr_scheduled",
    "momentum_init",
    "momentum_update",
    "optimize_path",
    "random_mini_batches",
    "rmsprop_init",
    "rmsprop_update",
    "sample_beta",
    "sample_log_uniform",
    "update_parameters",
    "rel_error",
    "zero_pad",
    # whole networks: residual block, LeNet-5
    "residual_block_backward",
    "residual_block_forward",
    "residual_block_init",
    "residual_block_learnable",
    "LENET5_KEYS",
    "lenet5_accuracy",
    "lenet5_backward",
    "lenet5_forward",
    "lenet5_init",
    "lenet5_loss",
    "lenet5_train",
    "lenet5_train_step",
    "params_from_torch",
    "params_to_torch",
    # inception: the 1x1 convolution and multiply counts; mobilenet: the depthwise convolution
    "bottleneck_mults",
    "conv_mults",
    "depthwise_mults",
    "pointwise_conv_backward",
    "pointwise_conv_forward",
    "pointwise_mults",
    "separable_mults",
    "separable_ratio",
    "depthwise_conv2d_backward",
    "depthwise_conv2d_backward_loops",
    "depthwise_conv2d_forward",
    "depthwise_conv2d_forward_loops",
    "separable_conv2d_backward",
    "separable_conv2d_forward",
    # augment: data augmentation, pure functions of (image, rng)
    "augment",
    "color_shift",
    "crop",
    "hflip",
    "mirror",
    "pca_color",
    "pca_color_fit",
    "pca_shift",
    "random_crop",
    "rotate",
    "rotate_by",
    "shear",
    "shear_by",
    "shift_color",
    # summary: layer tables from a layer spec
    "ALEXNET",
    "LENET5",
    "VGG16",
    "LayerTable",
    "Row",
    "alexnet_spec",
    "cifar_resnet_spec",
    "format_table",
    "lenet5_spec",
    "print_table",
    "resnet_spec",
    "spec_table",
    "vgg_spec",
]
