"""cnn_course.pt.mobilenet (through the zoo, cnn_course.pt.models): depthwise twin, blocks, MobileNet-v1/v2,
compound scaling."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnn_course.pt import mobilenet as M
from cnn_course.pt import models
from cnn_course.pt.summary import layer_table

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# --------------------------------------------------------------------------- depthwise twin

@pytest.mark.parametrize("shape, f, stride, pad", [
    ((2, 3, 7, 7), 3, 1, 1), ((1, 5, 8, 6), 3, 2, 1), ((2, 4, 9, 9), 5, 2, 2), ((3, 1, 4, 5), 1, 1, 0),
    ((1, 6, 10, 10), 3, 3, 0), ((2, 2, 5, 5), 2, 1, 3),
])
def test_depthwise_twin_equals_grouped_conv_with_gradients(shape, f, stride, pad):
    g = torch.Generator().manual_seed(0)
    C = shape[1]
    x = torch.randn(shape, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(C, 1, f, f, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(C, generator=g, dtype=torch.float64, requires_grad=True)
    ours = models.depthwise_conv2d(x, w, b, stride=stride, pad=pad)
    ref = F.conv2d(x, w, b, stride=stride, padding=pad, groups=C)
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    dout = torch.randn(ref.shape, generator=g, dtype=torch.float64)
    got = torch.autograd.grad(ours, (x, w, b), dout)
    want = torch.autograd.grad(ref, (x, w, b), dout)
    for name, a, e in zip("xwb", got, want):
        torch.testing.assert_close(a, e, rtol=1e-12, atol=1e-12, msg=f"d{name} differs")
    no_bias = models.depthwise_conv2d(x, w, stride=stride, pad=pad)
    torch.testing.assert_close(no_bias, F.conv2d(x, w, None, stride, pad, groups=C), rtol=1e-12, atol=1e-12)


def test_depthwise_twin_never_mixes_channels_and_uses_no_groups():
    x = torch.zeros(1, 3, 5, 5, dtype=torch.float64)
    x[0, 1] = 1.0  # only channel 1 is non-zero
    out = models.depthwise_conv2d(x, torch.ones(3, 1, 3, 3, dtype=torch.float64), pad=1)
    assert not out[0, 0].any() and not out[0, 2].any() and out[0, 1, 2, 2] == 9
    source = open(M.__file__).read()
    body = source[source.index("def depthwise_conv2d"):source.index("def make_divisible")]
    assert "groups" not in body.split('"""')[2] and "conv2d(" not in body.split('"""')[2]


def test_depthwise_twin_passes_gradcheck():
    g = torch.Generator().manual_seed(1)
    args = (torch.randn(1, 2, 5, 5, generator=g, dtype=torch.float64, requires_grad=True),
            torch.randn(2, 1, 3, 3, generator=g, dtype=torch.float64, requires_grad=True),
            torch.randn(2, generator=g, dtype=torch.float64, requires_grad=True))
    assert torch.autograd.gradcheck(lambda x, w, b: models.depthwise_conv2d(x, w, b, 2, 1), args)


@pytest.mark.parametrize("x, w, b, kw, message", [
    (torch.zeros(1, 3, 5, 5), torch.zeros(4, 3, 3, 3), None, {}, r"must have shape \(3, 1, f, f\).*mixes channels"),
    (torch.zeros(1, 3, 5, 5), torch.zeros(2, 1, 3, 3), None, {}, r"C=3 channels must have shape \(3, 1, f, f\)"),
    (torch.zeros(3, 5, 5), torch.zeros(3, 1, 3, 3), None, {}, r"x must be 4-D with shape \(N, C, H, W\)"),
    (torch.zeros(1, 3, 5, 5), torch.zeros(3, 3, 3), None, {}, r"w must be 4-D with shape \(C, 1, f, f\)"),
    (torch.zeros(1, 3, 5, 5), torch.zeros(3, 1, 3, 3), torch.zeros(4), {}, r"b must have shape \(C,\) = \(3,\)"),
    (torch.zeros(1, 3, 5, 5), torch.zeros(3, 1, 3, 3), None, {"stride": 0}, "stride must be a positive integer"),
    (torch.zeros(1, 3, 5, 5), torch.zeros(3, 1, 3, 3), None, {"pad": -1}, "pad must be a non-negative integer"),
    (torch.zeros(1, 3, 2, 2), torch.zeros(3, 1, 3, 3), None, {}, r"filter \(3x3\) is larger than the padded input"),
    (torch.zeros(1, 3, 5, 5, dtype=torch.int64), torch.zeros(3, 1, 3, 3, dtype=torch.int64), None, {},
     "x must have a floating-point dtype"),
    (torch.zeros(1, 3, 5, 5), torch.zeros(3, 1, 3, 3, dtype=torch.float64), None, {}, "w must have x's dtype"),
])
def test_depthwise_twin_bad_input(x, w, b, kw, message):
    with pytest.raises(ValueError, match=message):
        models.depthwise_conv2d(x, w, b, **kw)


# --------------------------------------------------------------------------- blocks

def test_depthwise_separable_conv_layout_and_count():
    block = models.DepthwiseSeparableConv(32, 64, stride=2)
    assert block.depthwise.weight.shape == (32, 1, 3, 3) and block.depthwise.groups == 32
    assert block.depthwise.stride == (2, 2) and block.depthwise.padding == (1, 1)
    assert block.pointwise.weight.shape == (64, 32, 1, 1) and block.pointwise.stride == (1, 1)
    assert block.depthwise.bias is None and block.pointwise.bias is None
    assert n_params(block) == 9 * 32 + 32 * 64 + 2 * 32 + 2 * 64
    assert block(torch.randn(2, 32, 9, 9)).shape == (2, 64, 5, 5)
    block.eval()
    x = torch.randn(2, 32, 8, 8)
    manual = torch.relu(block.bn2(block.pointwise(torch.relu(block.bn1(block.depthwise(x))))))
    torch.testing.assert_close(block(x), manual)


@pytest.mark.parametrize("c_in, c_out, stride, t, residual", [
    (8, 8, 1, 6, True), (8, 16, 1, 6, False), (8, 8, 2, 6, False), (16, 16, 1, 1, True), (16, 24, 2, 1, False),
])
def test_inverted_residual_adds_the_input_only_when_the_shape_is_kept(c_in, c_out, stride, t, residual):
    torch.manual_seed(0)
    block = models.InvertedResidual(c_in, c_out, stride, t)
    assert block.use_residual is residual
    for m in block.modules():  # non-trivial running statistics, so eval mode is not the identity BN
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-1, 1)
    block.eval()
    x = torch.randn(2, c_in, 7, 7)
    with torch.no_grad():
        out, body = block(x), block.conv(x)
    assert out.shape == (2, c_out, (7 - 1) // stride + 1, (7 - 1) // stride + 1)
    torch.testing.assert_close(out, x + body if residual else body)


def test_inverted_residual_layout_linear_projection_and_count():
    block = models.InvertedResidual(24, 32, 2, 6)
    kinds = [type(m).__name__ for m in block.conv]
    assert kinds == ["Sequential", "Sequential", "Conv2d", "BatchNorm2d"]  # projection, then BN, nothing after
    expand, dw, proj = block.conv[0], block.conv[1], block.conv[2]
    assert [type(m).__name__ for m in expand] == [type(m).__name__ for m in dw] == ["Conv2d", "BatchNorm2d", "ReLU6"]
    assert expand[0].weight.shape == (144, 24, 1, 1)
    assert dw[0].weight.shape == (144, 1, 3, 3) and dw[0].groups == 144 and dw[0].stride == (2, 2)
    assert proj.weight.shape == (32, 144, 1, 1)
    assert n_params(block) == 24 * 144 + 2 * 144 + 9 * 144 + 2 * 144 + 144 * 32 + 2 * 32
    no_expansion = models.InvertedResidual(32, 16, 1, 1)
    assert [type(m).__name__ for m in no_expansion.conv] == ["Sequential", "Conv2d", "BatchNorm2d"]
    assert no_expansion.conv[0][0].groups == 32
    torch.manual_seed(0)
    out = models.InvertedResidual(8, 16, 1, 6).eval()(torch.randn(4, 8, 5, 5))
    assert (out < 0).any()  # a ReLU/ReLU6 after the projection would make every output >= 0


# --------------------------------------------------------------------------- networks

def test_famous_parameter_counts():
    assert n_params(models.mobilenet_v1()) == 4_231_976
    assert n_params(models.mobilenet_v2()) == 3_504_872
    assert n_params(models.mobilenet_v2(width=0.5)) == 1_968_680  # torchvision's mobilenet_v2(width_mult=0.5)


def torchvision_v2_names() -> list[str]:
    """torchvision's mobilenet_v2 parameter names, written out from its layout (no torchvision here)."""
    bn = lambda p: [f"{p}.weight", f"{p}.bias"]  # noqa: E731
    names = ["features.0.0.weight", *bn("features.0.1")]
    repeats = [1, 2, 3, 4, 3, 3, 1]
    block = 1
    for stage, n in enumerate(repeats):
        for _ in range(n):
            p = f"features.{block}.conv"
            if stage == 0:  # expansion 1: depthwise (conv.0), projection (conv.1), BN (conv.2)
                names += [f"{p}.0.0.weight", *bn(f"{p}.0.1"), f"{p}.1.weight", *bn(f"{p}.2")]
            else:
                names += [f"{p}.0.0.weight", *bn(f"{p}.0.1"), f"{p}.1.0.weight", *bn(f"{p}.1.1"),
                          f"{p}.2.weight", *bn(f"{p}.3")]
            block += 1
    return names + ["features.18.0.weight", *bn("features.18.1"), "classifier.1.weight", "classifier.1.bias"]


def test_mobilenet_v2_has_torchvisions_names_order_and_shapes():
    model = models.mobilenet_v2()
    names = [n for n, _ in model.named_parameters()]
    assert names == torchvision_v2_names()
    assert len(names) == 158 and len(model.state_dict()) == 314
    state = model.state_dict()
    assert state["features.0.0.weight"].shape == (32, 3, 3, 3)
    assert state["features.1.conv.0.0.weight"].shape == (32, 1, 3, 3)
    assert state["features.2.conv.0.0.weight"].shape == (96, 16, 1, 1)
    assert state["features.17.conv.2.weight"].shape == (320, 960, 1, 1)
    assert state["features.18.0.weight"].shape == (1280, 320, 1, 1)
    assert state["classifier.1.weight"].shape == (1000, 1280)
    assert isinstance(model.classifier[0], nn.Dropout) and model.classifier[0].p == 0.2
    assert [b.use_residual for b in model.blocks()].count(True) == 10  # every block but each stage's first
    assert [b.stride for b in model.blocks() if b.stride == 2] == [2, 2, 2, 2]


def test_mobilenet_v1_layout():
    model = models.mobilenet_v1()
    blocks = list(model.features)[1:]
    assert len(blocks) == 13 and all(isinstance(b, models.DepthwiseSeparableConv) for b in blocks)
    assert [b.out_channels for b in blocks] == [64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024]
    assert [b.stride for b in blocks] == [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]
    assert model.features[0][0].weight.shape == (32, 3, 3, 3) and model.features[0][0].stride == (2, 2)
    assert model.classifier[1].weight.shape == (1000, 1024)
    assert n_params(model.classifier) == 1_025_000


@pytest.mark.parametrize("build, shape, features", [
    (lambda: models.mobilenet_v1(num_classes=7), (2, 3, 64, 64), (2, 1024, 2, 2)),
    (lambda: models.mobilenet_v2(num_classes=7), (2, 3, 64, 64), (2, 1280, 2, 2)),
    (lambda: models.mobilenet_v1(7, 0.25, 1, small_input=True), (2, 1, 28, 28), (2, 256, 4, 4)),
    (lambda: models.mobilenet_v2(7, 0.25, 1, small_input=True), (2, 1, 28, 28), (2, 320, 4, 4)),
    (lambda: models.mobilenet_v2(7, 0.5, 3, small_input=True), (2, 3, 32, 32), (2, 640, 4, 4)),
])
def test_output_shapes(build, shape, features):
    torch.manual_seed(0)
    model = build().eval()
    with torch.no_grad():
        x = torch.randn(shape)
        assert tuple(model.features(x).shape) == features
        assert model.forward_features(x).shape == features[:2]
        out = model(x)
    assert out.shape == (shape[0], 7) and torch.isfinite(out).all()


# (num_classes=10, in_channels=1, small_input=True): width -> parameters
SMALL_V2_COUNTS = {1.0: 2_236_106, 0.5: 590_122, 0.35: 305_482, 0.25: 162_458}


@pytest.mark.parametrize("width", list(SMALL_V2_COUNTS))
def test_small_input_width_multiplier(width):
    model = models.mobilenet_v2(10, width, 1, small_input=True)
    assert n_params(model) == SMALL_V2_COUNTS[width]
    assert model.features[0][0].stride == (1, 1)  # the stem keeps 28×28
    strides = [b.stride for b in model.blocks()]
    assert strides.count(2) == 3  # the last of the four stride-2 stages (160 channels) runs at stride 1
    assert model.last_channel == M.make_divisible(1280 * width)
    sizes = []
    x = torch.zeros(1, 1, 28, 28)
    for layer in model.features:
        x = layer(x)
        sizes.append(x.shape[-1])
    assert sorted(set(sizes), reverse=True) == [28, 14, 7, 4]


def test_width_multiplier_rounds_to_multiples_of_8():
    assert [M.make_divisible(c * 0.25) for c in (32, 16, 24, 32, 64, 96, 160, 320)] == [8, 8, 8, 8, 16, 24, 40, 80]
    assert [M.make_divisible(v) for v in (11.2, 33.6, 4.0, 100.0)] == [16, 32, 8, 104]
    v1 = models.mobilenet_v1(width=0.5)
    assert [b.out_channels for b in list(v1.features)[1:]][:3] == [32, 64, 64]
    assert n_params(models.mobilenet_v1(10, 0.25, 1, small_input=True)) == 215_498


def test_layer_tables_give_the_papers_multiply_adds():
    v2 = layer_table(models.mobilenet_v2(), (1, 3, 224, 224))
    assert v2.total_params == 3_504_872 and round(v2.total_mult_adds / 1e6) == 301  # paper: 300 M
    v1 = layer_table(models.mobilenet_v1(), (1, 3, 224, 224))
    assert v1.total_params == 4_231_976 and round(v1.total_mult_adds / 1e6) == 569  # paper: 569 M
    small = layer_table(models.mobilenet_v2(8, 0.25, 1, small_input=True), (2, 1, 28, 28))
    assert small.total_params == 161_816
    dw = next(r for r in small if r.name == "features.2.conv.1.0")
    assert dw.output_shape == (2, 48, 14, 14) and dw.params == 48 * 9 and dw.mult_adds == 2 * 48 * 9 * 14 * 14


# --------------------------------------------------------------------------- compound scaling

def test_compound_scaling():
    assert M.compound_scaling(0) == (1.0, 1.0, 1.0)
    d, w, r = M.compound_scaling(2)
    assert (d, w, r) == pytest.approx((1.44, 1.21, 1.3225))
    assert abs(1.2 * 1.1 ** 2 * 1.15 ** 2 - 2) < 0.1  # α·β²·γ² ≈ 2: each step of φ doubles the cost
    assert M.compound_scaling(1, 1.5, 1.0, 1.0) == (1.5, 1.0, 1.0)


def test_efficient_mobilenet_scales_depth_width_and_resolution():
    base = M.efficient_mobilenet(0)
    assert n_params(base) == n_params(models.mobilenet_v2(10, 0.25, 1, small_input=True))
    assert base.scaling == (1.0, 1.0, 1.0) and base.resolution == 28 and len(base.blocks()) == 17
    bigger = M.efficient_mobilenet(1)
    assert bigger.resolution == 32 and len(bigger.blocks()) == 24  # ceil(1.2·n) blocks per stage
    assert bigger.last_channel == M.make_divisible(1280 * 0.25 * 1.1)
    costs = [layer_table(m, (1, 1, m.resolution, m.resolution)).total_mult_adds for m in (base, bigger)]
    assert 1.7 < costs[1] / costs[0] < 2.4  # about (α·β²·γ²)^1 ≈ 2
    assert bigger(torch.zeros(2, 1, 32, 32)).shape == (2, 10)


# --------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("call, error, message", [
    (lambda: models.mobilenet_v2(width=0), ValueError, r"width must be a number in \(0, 10\]"),
    (lambda: models.mobilenet_v1(width="1"), ValueError, "width must be a number"),
    (lambda: models.mobilenet_v2(small_input=1), TypeError, "small_input must be True or False"),
    (lambda: models.mobilenet_v2(num_classes=0), ValueError, "num_classes must be a positive integer"),
    (lambda: models.mobilenet_v2(depth=0), ValueError, "depth must be a number"),
    (lambda: models.mobilenet_v2(dropout=1.0), ValueError, r"dropout must be a probability in \[0, 1\)"),
    (lambda: models.InvertedResidual(8, 8, 1, 0), ValueError, "expand_ratio must be a positive integer"),
    (lambda: models.InvertedResidual(8, 8, 0, 6), ValueError, "stride must be a positive integer"),
    (lambda: models.DepthwiseSeparableConv(0, 8), ValueError, "in_channels must be a positive integer"),
    (lambda: M.compound_scaling(1, alpha=0.9), ValueError, r"alpha must be >= 1"),
    (lambda: M.compound_scaling(float("nan")), ValueError, "phi must be a finite number"),
    (lambda: M.efficient_mobilenet(1, base_resolution=0), ValueError, "base_resolution must be a positive integer"),
])
def test_bad_arguments_get_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("module, shape, message", [
    (models.mobilenet_v2(10, 0.25, 1, small_input=True), (2, 3, 28, 28), "MobileNetV2 expects 1 input channels"),
    (models.mobilenet_v1(), (3, 224, 224), r"x must be 4-D with shape \(N, 3, H, W\)"),
    (models.InvertedResidual(8, 16, 1, 6), (1, 16, 5, 5), "InvertedResidual expects 8 input channels"),
    (models.DepthwiseSeparableConv(8, 16), (1, 4, 5, 5), "DepthwiseSeparableConv expects 8 input channels"),
])
def test_wrong_input_gets_a_clear_error(module, shape, message):
    with pytest.raises(ValueError, match=message):
        module(torch.zeros(shape))


# --------------------------------------------------------------------------- pretrained weights

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "pretrain_mobilenet_fashion8.py"


def test_fashion8_subset_drops_the_held_out_classes_and_renumbers():
    assert M.FASHION8_HELD_OUT == (2, 6) and M.FASHION8_CLASSES == (0, 1, 3, 4, 5, 7, 8, 9)
    y = np.array([0, 2, 9, 6, 3, 8, 1])
    x = np.arange(7.0)[:, None]
    x8, y8 = M.fashion8_subset(x, y)
    assert y8.tolist() == [0, 7, 2, 6, 1] and x8[:, 0].tolist() == [0, 2, 4, 5, 6] and y8.dtype == np.int64
    xt, yt = M.fashion8_subset(torch.from_numpy(x), torch.from_numpy(y))
    assert yt.tolist() == [0, 7, 2, 6, 1] and isinstance(xt, torch.Tensor)
    with pytest.raises(ValueError, match=r"fashion8_subset needs x \(N, ...\) and labels y \(N,\)"):
        M.fashion8_subset(x, y[:3])


def test_the_pretraining_script_runs_at_reduced_size_and_repeats(tmp_path):
    outs = [tmp_path / "a.pt", tmp_path / "b.pt"]
    for out in outs:
        run = subprocess.run([sys.executable, str(SCRIPT), "--limit", "300", "--test-limit", "200", "--epochs", "1",
                              "--threads", "1", "--out", str(out)], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        assert re.search(r"test accuracy on the 8 classes: \d+\.\d\d% \(200 images\); trained in \d+ s", run.stdout)
        assert "300 training and 200 test images" in run.stdout and "held out (2, 6)" in run.stdout
    a, b = (M.load_pretrained_mobilenet_fashion8(path=out) for out in outs)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))  # seeded
    assert not a.training and next(a.parameters()).dtype == torch.float32


# First 2,000 of the 8,000 test images of the 8 classes: the shipped weights' accuracy on them
# (the whole 8,000: FASHION8_TEST_ACCURACY), as the pretraining script measured it.
SUBSET = 2000
SUBSET_ACCURACY = 0.968  # 1,936 of 2,000


def test_the_shipped_weights_load_and_reach_their_accuracy():
    from cnn_course.data import load_fashion_mnist

    assert M.FASHION8_WEIGHTS.is_file() and M.FASHION8_WEIGHTS.stat().st_size <= 2_000_000
    model = M.load_pretrained_mobilenet_fashion8()
    assert not model.training and n_params(model) == 161_816
    assert all(t.dtype == torch.float32 for k, t in model.state_dict().items() if "num_batches" not in k)
    _, _, x_test, y_test = load_fashion_mnist()
    x8, y8 = (torch.from_numpy(a[:SUBSET]) for a in M.fashion8_subset(x_test, y_test))
    with torch.no_grad():
        accuracy = (model(x8).argmax(1) == y8).float().mean().item()
    assert accuracy == pytest.approx(SUBSET_ACCURACY, abs=0.003)  # a few images may flip on another CPU
    assert M.FASHION8_TEST_ACCURACY >= 0.9


def test_missing_or_broken_weights_get_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"weights not found at .*nothing\.pt; recreate it with `python "
                       r"benchmarks/pretrain_mobilenet_fashion8.py`"):
        M.load_pretrained_mobilenet_fashion8(path=tmp_path / "nothing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="is not a readable torch weights file"):
        M.load_pretrained_mobilenet_fashion8(path=junk)
    wrong = tmp_path / "wrong.pt"
    torch.save(models.mobilenet_v2(8, 0.5, 1, small_input=True).state_dict(), wrong)
    with pytest.raises(ValueError, match=r"does not fit mobilenet_v2\(8, 0.25, 1, small_input=True\)"):
        M.load_pretrained_mobilenet_fashion8(path=wrong)
    listed = tmp_path / "list.pt"
    torch.save([1, 2], listed)
    with pytest.raises(ValueError, match="holds a list, not a state dict"):
        M.load_pretrained_mobilenet_fashion8(path=listed)


def test_the_weights_ship_as_package_data():
    import fnmatch
    import tomllib

    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["cnn_course"]
    relative = M.FASHION8_WEIGHTS.relative_to(ROOT / "cnn_course").as_posix()
    assert any(fnmatch.fnmatch(relative, g) for g in globs), f"{relative} is not in cnn_course's package-data {globs}"


@pytest.mark.parametrize("device", ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
def test_pretrained_model_on_each_device(device):
    model = M.load_pretrained_mobilenet_fashion8(device=device)
    assert next(model.parameters()).device.type == device
    with torch.no_grad():
        out = model(torch.zeros(2, 1, 28, 28, device=device))
        features = model.forward_features(torch.zeros(2, 1, 28, 28, device=device))
    assert out.shape == (2, 8) and features.shape == (2, 320)
