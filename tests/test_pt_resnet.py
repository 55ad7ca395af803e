"""cnn_course.pt.resnet (through the zoo, cnn_course.pt.models): blocks, ResNet-18/34/50, CIFAR ResNets."""

import pytest
import torch
from torch import nn

from cnn_course.pt import models

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def torchvision_names(blocks_per_stage, bottleneck: bool) -> list[str]:
    """torchvision's ResNet parameter names, written out from its layout (no torchvision here)."""
    bn = lambda p: [f"{p}.weight", f"{p}.bias"]  # noqa: E731
    names = ["conv1.weight", *bn("bn1")]
    for i, n in enumerate(blocks_per_stage, start=1):
        for j in range(n):
            p = f"layer{i}.{j}"
            for k in (1, 2, 3) if bottleneck else (1, 2):
                names += [f"{p}.conv{k}.weight", *bn(f"{p}.bn{k}")]
            if j == 0 and (i > 1 or bottleneck):
                names += [f"{p}.downsample.0.weight", *bn(f"{p}.downsample.1")]
    return names + ["fc.weight", "fc.bias"]


@pytest.mark.parametrize("build, count", [
    (models.resnet18, 11_689_512), (models.resnet34, 21_797_672), (models.resnet50, 25_557_032)])
def test_imagenet_resnets_have_the_famous_parameter_counts(build, count):
    assert n_params(build()) == count


@pytest.mark.parametrize("build, stages, bottleneck, n_names, n_state", [
    (models.resnet18, [2, 2, 2, 2], False, 62, 122),
    (models.resnet34, [3, 4, 6, 3], False, 110, 218),
    (models.resnet50, [3, 4, 6, 3], True, 161, 320),
])
def test_parameter_names_and_order_are_torchvisions(build, stages, bottleneck, n_names, n_state):
    model = build()
    names = [name for name, _ in model.named_parameters()]
    assert names == torchvision_names(stages, bottleneck)
    assert len(names) == n_names and len(model.state_dict()) == n_state
    assert names[:6] == ["conv1.weight", "bn1.weight", "bn1.bias",
                         "layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer1.0.bn1.bias"]
    assert names[-2:] == ["fc.weight", "fc.bias"]
    assert "layer2.0.downsample.0.weight" in names and "layer2.1.downsample.0.weight" not in names
    assert {k.rsplit(".", 1)[1] for k in model.state_dict()} == {
        "weight", "bias", "running_mean", "running_var", "num_batches_tracked"}


def test_resnet_shapes_of_stem_and_stages():
    r18, r50 = models.resnet18(), models.resnet50()
    assert r18.conv1.weight.shape == (64, 3, 7, 7) and r18.conv1.stride == (2, 2) and r18.conv1.bias is None
    assert r18.maxpool.kernel_size == 3 and r18.maxpool.stride == 2 and r18.maxpool.padding == 1
    assert r18.layer2[0].downsample[0].weight.shape == (128, 64, 1, 1)
    assert r18.layer2[0].downsample[0].stride == (2, 2) and r18.layer2[0].conv1.stride == (2, 2)
    block = r50.layer2[0]  # v1.5: the stride sits on the 3×3, not on the first 1×1
    assert block.conv1.stride == (1, 1) and block.conv2.stride == (2, 2) and block.conv3.stride == (1, 1)
    assert block.conv1.weight.shape == (128, 256, 1, 1) and block.conv3.weight.shape == (512, 128, 1, 1)
    assert r50.layer1[0].downsample[0].weight.shape == (256, 64, 1, 1)  # 64 -> 256 channels, stride 1
    assert r50.fc.in_features == 2048


@pytest.mark.parametrize("device", DEVICES)
def test_resnet_outputs_on_each_device(device):
    torch.manual_seed(0)
    for model, shape in ((models.resnet18(num_classes=7), (2, 3, 64, 64)),
                         (models.resnet50(num_classes=5, in_channels=1), (1, 1, 64, 64)),
                         (models.resnet20(), (2, 1, 28, 28)),
                         (models.resnet32(in_channels=3, num_classes=4), (2, 3, 32, 32))):
        model = model.to(device).eval()
        with torch.no_grad():
            out = model(torch.randn(shape, device=device))
        assert out.shape == (shape[0], model.fc.out_features) and out.device.type == device
        assert torch.isfinite(out).all()


# Option-B shortcuts (1×1 projections at the two stage transitions); plain = option A's count.
CIFAR_COUNTS = {
    (20, 1, False): 272_186, (20, 3, False): 272_474, (20, 1, True): 269_434, (20, 3, True): 269_722,
    (32, 1, False): 466_618, (32, 3, False): 466_906, (32, 1, True): 463_866, (32, 3, True): 464_154,
    (56, 1, False): 855_482, (56, 3, False): 855_770, (56, 1, True): 852_730, (56, 3, True): 853_018,
}


@pytest.mark.parametrize("depth, in_channels, plain", list(CIFAR_COUNTS))
def test_cifar_resnet_counts(depth, in_channels, plain):
    model = models.cifar_resnet(depth, in_channels=in_channels, plain=plain)
    assert n_params(model) == CIFAR_COUNTS[depth, in_channels, plain]
    named = {20: models.resnet20, 32: models.resnet32, 56: models.resnet56}[depth]
    assert n_params(named(in_channels=in_channels, plain=plain)) == CIFAR_COUNTS[depth, in_channels, plain]
    n = (depth - 2) // 6
    assert [len(getattr(model, f"layer{i}")) for i in (1, 2, 3)] == [n, n, n]
    assert not hasattr(model, "layer4") and not hasattr(model, "maxpool")
    assert round(CIFAR_COUNTS[depth, 3, True] / 1e6, 2) == {20: 0.27, 32: 0.46, 56: 0.85}[depth]  # the paper's


def test_cifar_resnet_stages_and_width():
    model = models.cifar_resnet(8, width=8)
    assert model.conv1.weight.shape == (8, 1, 3, 3) and model.conv1.stride == (1, 1)
    assert [model.layer1[0].out_channels, model.layer2[0].out_channels, model.layer3[0].out_channels] == [8, 16, 32]
    shapes = []
    x = model.relu(model.bn1(model.conv1(torch.randn(1, 1, 28, 28))))
    for stage in (model.layer1, model.layer2, model.layer3):
        x = stage(x)
        shapes.append(tuple(x.shape))
    assert shapes == [(1, 8, 28, 28), (1, 16, 14, 14), (1, 32, 7, 7)]


def test_plain_networks_have_no_shortcut_at_all():
    for model in (models.resnet20(plain=True), models.resnet18(plain=True), models.resnet50(plain=True)):
        assert not any("downsample" in name for name, _ in model.named_modules())
        assert all(block.plain and block.downsample is None for block in model.blocks())
    torch.manual_seed(0)
    block = models.BasicBlock(8, 8, plain=True).eval()
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        assert torch.equal(block(x), torch.relu(block.residual(x)))


def test_blocks_add_the_shortcut_before_the_last_relu():
    torch.manual_seed(0)
    same = models.BasicBlock(8, 8).eval()
    proj = models.BasicBlock(8, 16, stride=2).eval()
    bottle = models.Bottleneck(16, 4).eval()  # 16 -> 16 channels: identity shortcut
    x = torch.randn(2, 8, 7, 7)
    with torch.no_grad():
        torch.testing.assert_close(same(x), torch.relu(same.residual(x) + x))
        manual = torch.relu(proj.bn2(proj.conv2(torch.relu(proj.bn1(proj.conv1(x))))) + proj.downsample(x))
        torch.testing.assert_close(proj(x), manual)
        assert proj(x).shape == (2, 16, 4, 4)
        y = torch.randn(2, 16, 5, 5)
        torch.testing.assert_close(bottle(y), torch.relu(bottle.residual(y) + y))
    assert same.downsample is None and bottle.downsample is None
    assert isinstance(proj.downsample[0], nn.Conv2d) and proj.downsample[0].kernel_size == (1, 1)
    assert isinstance(proj.downsample[1], nn.BatchNorm2d)
    assert models.Bottleneck(16, 8, stride=2).downsample[0].stride == (2, 2)


def test_block_parameter_counts():
    assert n_params(models.BasicBlock(64, 64)) == 2 * 64 * 64 * 9 + 4 * 64
    assert n_params(models.BasicBlock(64, 128, stride=2)) == 9 * 64 * 128 + 9 * 128 * 128 + 4 * 128 + 64 * 128 + 2 * 128
    assert n_params(models.Bottleneck(256, 64)) == 256 * 64 + 9 * 64 * 64 + 64 * 256 + 2 * (64 + 64 + 256)


@pytest.mark.parametrize("build, shape", [
    (lambda: models.resnet18(zero_init_residual=True), (2, 3, 64, 64)),
    (lambda: models.resnet50(zero_init_residual=True), (1, 3, 64, 64)),
    (lambda: models.resnet20(zero_init_residual=True), (2, 1, 28, 28)),
])
def test_zero_init_residual_makes_every_block_the_identity(build, shape):
    model = build().eval()
    blocks = model.blocks()
    assert all(not b.last_bn().weight.detach().any() for b in blocks)
    x = model.relu(model.bn1(model.conv1(torch.randn(shape))))  # a block's input is a ReLU output, >= 0
    with torch.no_grad():
        for block in blocks:
            out = block(x)
            assert not block.residual(x).any()
            expected = x if block.downsample is None else torch.relu(block.downsample(x))
            assert torch.equal(out, expected)
            x = out
    assert all(b.last_bn().weight.detach().eq(1).all() for b in models.resnet20().blocks())  # default: off


def test_kaiming_initialisation_like_torchvision():
    torch.manual_seed(0)
    model = models.resnet18()
    w = model.layer3[0].conv2.weight  # 256 filters of 256×3×3: fan_out = 256·9
    assert w.std().item() == pytest.approx((2 / (256 * 9)) ** 0.5, rel=0.03)
    assert all(m.weight.detach().eq(1).all() and not m.bias.detach().any()
               for m in model.modules() if isinstance(m, nn.BatchNorm2d))


@pytest.mark.parametrize("call, error, message", [
    (lambda: models.cifar_resnet(21), ValueError, r"depth must be 6n \+ 2"),
    (lambda: models.cifar_resnet(2), ValueError, r"depth must be 6n \+ 2"),
    (lambda: models.cifar_resnet(20, width=0), ValueError, "width must be a positive integer"),
    (lambda: models.resnet20(plain=True, zero_init_residual=True), ValueError,
     "zero_init_residual=True needs shortcuts"),
    (lambda: models.resnet18(plain=1), TypeError, "plain must be True or False"),
    (lambda: models.BasicBlock(0, 8), ValueError, "in_channels must be a positive integer"),
    (lambda: models.Bottleneck(8, 4, stride=0), ValueError, "stride must be a positive integer"),
    (lambda: models.ResNet(nn.Conv2d, [1]), TypeError, "block must be BasicBlock or Bottleneck"),
    (lambda: models.ResNet(models.BasicBlock, [1, 1], widths=(8,)), ValueError, "one entry per stage"),
])
def test_bad_arguments_get_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("module, shape, message", [
    (models.resnet20(), (2, 3, 28, 28), r"this ResNet expects 1 input channels, got x.shape=\(2, 3, 28, 28\)"),
    (models.resnet20(), (1, 28, 28), r"x must be 4-D with shape \(N, 1, H, W\)"),
    (models.BasicBlock(8, 16), (1, 16, 5, 5), "BasicBlock expects 8 input channels"),
    (models.Bottleneck(8, 4), (1, 4, 5, 5), "Bottleneck expects 8 input channels"),
])
def test_wrong_input_gets_a_clear_error(module, shape, message):
    with pytest.raises(ValueError, match=message):
        module(torch.zeros(shape))
