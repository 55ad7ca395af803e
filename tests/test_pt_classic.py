"""cnn_course.pt.classic (through the zoo, cnn_course.pt.models): LeNet-5, AlexNet, VGG."""

import pytest
import torch
from torch import nn

from cnn_course.pt import models

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def vgg16():
    return models.vgg16()


@pytest.fixture(scope="module")
def alexnet():
    return models.alexnet()


@pytest.mark.parametrize("modern", [False, True])
def test_lenet5_has_61706_parameters_in_five_layers(modern):
    model = models.lenet5(modern=modern)
    assert n_params(model) == 61_706
    counts = {name: n_params(m) for name, m in model.named_children() if n_params(m)}
    assert counts == {"conv1": 156, "conv2": 2_416, "fc3": 48_120, "fc4": 10_164, "fc5": 850}
    assert n_params(models.lenet5(num_classes=2, modern=modern)) == 61_706 - 8 * 85


def test_lenet5_classic_and_modern_layers():
    classic, modern = models.lenet5(), models.lenet5(modern=True)
    names = ["conv1", "act1", "pool1", "conv2", "act2", "pool2", "flatten", "fc3", "act3", "fc4", "act4", "fc5"]
    assert [n for n, _ in classic.named_children()] == names == [n for n, _ in modern.named_children()]
    assert isinstance(classic.act1, nn.Tanh) and isinstance(classic.pool1, nn.AvgPool2d)
    assert isinstance(modern.act1, nn.ReLU) and isinstance(modern.pool1, nn.MaxPool2d)
    assert classic.pool2.kernel_size == classic.pool2.stride == 2
    assert classic.input_shape == (1, 32, 32)


@pytest.mark.parametrize("device", DEVICES)
def test_lenet5_output_shape_on_each_device(device):
    model = models.lenet5().to(device)
    out = model(torch.randn(3, 1, 32, 32, device=device))
    assert out.shape == (3, 10) and out.device.type == device
    x = torch.randn(2, 1, 32, 32, device=device)
    assert model[:6](x).shape == (2, 16, 5, 5)  # a slice is a network too, without a fixed input shape


def test_alexnet_has_62378344_parameters(alexnet):
    assert n_params(alexnet) == 62_378_344
    per_layer = {name: n_params(m) for name, m in alexnet.named_children() if n_params(m)}
    assert per_layer == {"conv1": 34_944, "conv2": 614_656, "conv3": 885_120, "conv4": 1_327_488,
                         "conv5": 884_992, "fc6": 37_752_832, "fc7": 16_781_312, "fc8": 4_097_000}
    assert alexnet.conv1.stride == (4, 4) and alexnet.pool1.kernel_size == 3 and alexnet.pool1.stride == 2
    assert sum(isinstance(m, nn.Dropout) for m in alexnet.modules()) == 2
    assert not any("Norm" in type(m).__name__ for m in alexnet.modules())  # no LRN


def test_alexnet_output_shape(alexnet):
    alexnet.eval()
    with torch.no_grad():
        assert alexnet[:3](torch.randn(1, 3, 227, 227)).shape == (1, 96, 27, 27)
        assert alexnet(torch.randn(1, 3, 227, 227)).shape == (1, 1000)


def test_vgg16_has_138357544_parameters_most_in_fc1(vgg16):
    assert n_params(vgg16) == 138_357_544
    convs = sum(n_params(m) for m in vgg16.modules() if isinstance(m, nn.Conv2d))
    assert convs == 14_714_688
    assert n_params(vgg16.fc1) == 102_764_544 == 7 * 7 * 512 * 4096 + 4096
    assert [n for n, _ in vgg16.named_children()] == [
        "block1", "block2", "block3", "block4", "block5", "flatten",
        "fc1", "relu1", "drop1", "fc2", "relu2", "drop2", "fc3"]
    assert sum(isinstance(m, nn.Conv2d) for m in vgg16.modules()) == 13
    assert models.VGG16_CFG == ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))
    assert vgg16.input_shape == (3, 224, 224)


def test_vgg_block_structure_shapes_and_count():
    block = models.vgg_block(3, 8, 16)
    assert isinstance(block, nn.Sequential)
    assert [n for n, _ in block.named_children()] == ["conv1", "relu1", "conv2", "relu2", "conv3", "relu3", "pool"]
    for conv in (block.conv1, block.conv2, block.conv3):
        assert conv.kernel_size == (3, 3) and conv.padding == (1, 1) and conv.stride == (1, 1)
    assert block.pool.kernel_size == 2 and block.pool.stride == 2
    assert block(torch.randn(2, 8, 10, 12)).shape == (2, 16, 5, 6)
    assert n_params(block) == 16 * (8 * 9 + 1) + 2 * 16 * (16 * 9 + 1)


@pytest.mark.parametrize("device", DEVICES)
def test_narrow_vgg_for_small_images(device):
    model = models.vgg(((1, 32), (2, 64)), num_classes=10, in_channels=1, width=0.25, image_size=28, hidden=64)
    assert model.block1.conv1.out_channels == 8 and model.block2.conv2.out_channels == 16
    assert model.fc1.in_features == 16 * 7 * 7 and model.fc2.out_features == 64
    model = model.to(device)
    assert model(torch.randn(4, 1, 28, 28, device=device)).shape == (4, 10)


def test_vgg_initialisation_like_torchvision():
    torch.manual_seed(0)
    model = models.vgg(((2, 64),), num_classes=10, in_channels=3, image_size=32, hidden=256)
    assert not model.block1.conv1.bias.detach().any() and not model.fc1.bias.detach().any()
    fan_out = 64 * 9
    assert model.block1.conv2.weight.std().item() == pytest.approx((2 / fan_out) ** 0.5, rel=0.05)
    assert model.fc1.weight.std().item() == pytest.approx(0.01, rel=0.05)
    no_dropout = models.vgg(((1, 4),), image_size=8, hidden=8, dropout=0)
    assert [m.p for m in no_dropout.modules() if isinstance(m, nn.Dropout)] == [0, 0]


@pytest.mark.parametrize("build, shape, expected", [
    (models.lenet5, (2, 1, 28, 28), r"lenet5 expects images of shape \(N, 1, 32, 32\), got x.shape=\(2, 1, 28, 28\)"),
    (models.lenet5, (1, 32, 32), r"x must be 4-D with shape \(N, 1, 32, 32\)"),
    (lambda: models.vgg(((1, 4),), image_size=8, hidden=8), (1, 1, 8, 8),
     r"vgg expects images of shape \(N, 3, 8, 8\)"),
])
def test_wrong_input_shape_says_what_was_expected(build, shape, expected):
    with pytest.raises(ValueError, match=expected):
        build()(torch.zeros(shape))


@pytest.mark.parametrize("call, error, message", [
    (lambda: models.lenet5(num_classes=0), ValueError, "num_classes must be a positive integer"),
    (lambda: models.lenet5(modern="yes"), TypeError, "modern must be True or False"),
    (lambda: models.alexnet(num_classes=2.5), ValueError, "num_classes must be a positive integer"),
    (lambda: models.vgg_block(0, 3, 8), ValueError, "num_convs must be a positive integer"),
    (lambda: models.vgg(((2, 64), (2,)), image_size=32), ValueError, r"cfg must be .*\(num_convs, out_channels\)"),
    (lambda: models.vgg([], image_size=32), ValueError, "cfg must be a non-empty"),
    (lambda: models.vgg(models.VGG16_CFG, image_size=100), ValueError, r"divisible by 2\*\*5 = 32"),
    (lambda: models.vgg(((1, 8),), image_size=8, width=0), ValueError, "width must be a positive number"),
    (lambda: models.vgg(((1, 8),), image_size=8, dropout=1.0), ValueError, r"dropout must be a probability"),
])
def test_bad_arguments_get_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
