"""Layer tables: cnn_course.ref.summary.spec_table (NumPy side, from a spec) equals
cnn_course.pt.summary.layer_table (torchinfo on the torch model) for every network of the zoo."""

import gc
import subprocess
import sys
import weakref

import pytest
import torch
from torch import nn

from cnn_course.pt import models
from cnn_course.pt.summary import layer_table
from cnn_course.ref import summary as S

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# (builder, spec, input shape); every builder of the zoo, plain and residual, at its input size.
ZOO = {
    "lenet5": (models.lenet5, S.LENET5, (1, 1, 32, 32)),
    "lenet5-modern": (lambda: models.lenet5(modern=True), S.lenet5_spec(modern=True), (2, 1, 32, 32)),
    "alexnet": (models.alexnet, S.ALEXNET, (1, 3, 227, 227)),
    "vgg16": (models.vgg16, S.VGG16, (1, 3, 224, 224)),
    "vgg-narrow": (lambda: models.vgg(((1, 32), (2, 64)), num_classes=10, in_channels=1, width=0.25, image_size=28,
                                      hidden=64),
                   S.vgg_spec(((1, 32), (2, 64)), num_classes=10, width=0.25, hidden=64), (3, 1, 28, 28)),
    "resnet18": (models.resnet18, S.resnet_spec(18), (1, 3, 224, 224)),
    "resnet34-plain": (lambda: models.resnet34(plain=True), S.resnet_spec(34, plain=True), (1, 3, 224, 224)),
    "resnet50": (models.resnet50, S.resnet_spec(50), (1, 3, 224, 224)),
    "resnet20": (models.resnet20, S.cifar_resnet_spec(20), (1, 1, 28, 28)),
    "resnet32-plain": (lambda: models.resnet32(plain=True, in_channels=3), S.cifar_resnet_spec(32, plain=True),
                       (2, 3, 32, 32)),
    "resnet56": (models.resnet56, S.cifar_resnet_spec(56), (1, 1, 28, 28)),
    "resnet20-plain-w8": (lambda: models.cifar_resnet(20, plain=True, width=8),
                          S.cifar_resnet_spec(20, plain=True, width=8), (1, 1, 28, 28)),
}


@pytest.mark.parametrize("key", list(ZOO))
def test_spec_table_equals_layer_table_row_for_row(key):
    build, spec, shape = ZOO[key]
    model = build()
    measured, computed = layer_table(model, shape), S.spec_table(spec, shape)
    assert len(measured) == len(computed)
    for got, want in zip(measured, computed):
        assert got == want, f"{key}: torch row {got} != spec row {want}"
    assert measured.total_params == computed.total_params == sum(p.numel() for p in model.parameters())
    assert measured.total_mult_adds == computed.total_mult_adds


def test_lenet5_table_by_hand():
    rows = S.spec_table(S.LENET5, (1, 1, 32, 32))
    assert [r.output_shape for r in rows if r.params] == [(1, 6, 28, 28), (1, 16, 10, 10), (1, 120), (1, 84), (1, 10)]
    conv1, conv2 = rows[0], rows[3]
    assert (conv1.params, conv1.mult_adds) == (6 * 26, 6 * 26 * 28 * 28)  # (5·5·1 + 1) per filter, 784 positions
    assert (conv2.params, conv2.mult_adds) == (16 * 151, 16 * 151 * 10 * 10)
    assert [r.kind for r in rows] == ["Conv2d", "Tanh", "AvgPool2d", "Conv2d", "Tanh", "AvgPool2d", "Flatten",
                                      "Linear", "Tanh", "Linear", "Tanh", "Linear"]
    assert rows.total_params == 61_706 and rows.total_mult_adds == 423_038
    assert S.spec_table(S.LENET5, (4, 1, 32, 32)).total_mult_adds == 4 * 423_038  # for the whole batch


def test_famous_totals():
    assert S.spec_table(S.ALEXNET, (1, 3, 227, 227)).total_params == 62_378_344
    vgg = S.spec_table(S.VGG16, (1, 3, 224, 224))
    assert vgg.total_params == 138_357_544
    fc1 = next(r for r in vgg if r.name == "fc1")
    assert fc1.params == 102_764_544 and fc1.params / vgg.total_params > 0.74
    assert round(vgg.total_mult_adds / 1e9, 1) == 15.5
    assert [S.spec_table(S.resnet_spec(d), (1, 3, 224, 224)).total_params for d in (18, 34, 50)] == [
        11_689_512, 21_797_672, 25_557_032]
    assert round(S.spec_table(S.resnet_spec(50), (1, 3, 224, 224)).total_mult_adds / 1e9, 1) == 4.1


def test_residual_rows_and_names():
    rows = S.spec_table(S.resnet_spec(18), (1, 3, 224, 224))
    block = [r for r in rows if r.name.startswith("layer2.0.")]
    assert [r.name.removeprefix("layer2.0.") for r in block] == [
        "conv1", "bn1", "relu", "conv2", "bn2", "downsample.0", "downsample.1", "relu"]
    assert block[-1].output_shape == (1, 128, 28, 28)
    assert all(r.mult_adds == 0 for r in rows if r.kind == "BatchNorm2d")
    plain = S.spec_table(S.resnet_spec(18, plain=True), (1, 3, 224, 224))
    assert not any("downsample" in r.name for r in plain)


def test_layer_table_leaves_the_model_as_it_was():
    model = models.resnet20().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    layer_table(model, (2, 1, 28, 28))
    assert model.training and all(m.training for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # running stats too
    assert next(model.parameters()).device.type == "cpu"  # not moved to a GPU even where one exists
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None  # torchinfo's cache does not keep the model (and its memory) alive


@pytest.mark.parametrize("device", DEVICES)
def test_layer_table_runs_on_the_models_device_and_dtype(device):
    model = models.lenet5().double().to(device)
    rows = layer_table(model)  # the zoo's classic networks know their input shape
    assert rows == S.spec_table(S.LENET5, (1, 1, 32, 32))
    assert next(model.parameters()).device.type == device


def test_a_layer_called_twice_gives_two_rows_and_counts_its_parameters_once():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(torch.relu(self.fc(x)))

    rows = layer_table(Twice(), (3, 4))
    assert [(r.name, r.params, r.mult_adds) for r in rows] == [("fc", 20, 60), ("fc", 0, 60)]
    assert rows.total_params == 20


def test_printed_table(capsys):
    rows = S.spec_table(S.LENET5, (1, 1, 32, 32))
    S.print_table(rows)
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0].split() == ["layer", "kind", "output", "shape", "params", "mult-adds"]
    assert lines[2].split() == ["conv1", "Conv2d", "(1,", "6,", "28,", "28)", "156", "122,304"]
    assert lines[-2].split() == ["total", "61,706", "423,038"]
    assert lines[-1] == "61,706 parameters (61.71 k), 423,038 multiply-adds (423.04 k)"
    assert str(rows) == text.rstrip("\n") == S.format_table(rows)
    assert len({len(line) for line in lines[:-1]}) == 1  # aligned columns, numbers flush right


@pytest.mark.parametrize("call, error, message", [
    (lambda: layer_table("lenet5", (1, 1, 32, 32)), TypeError, "model must be a torch.nn.Module"),
    (lambda: layer_table(models.lenet5(), (1, 1, 28, 28)), ValueError,
     r"cannot run on an input of size \(1, 1, 28, 28\): lenet5 expects images of shape \(N, 1, 32, 32\)"),
    (lambda: layer_table(models.resnet20(), None), ValueError, "input_size is needed"),
    (lambda: layer_table(models.resnet20(), 28), ValueError, "input_size must be the shape of an input batch"),
    (lambda: S.spec_table([S.conv(3, 4), S.fc(10)], (1, 1, 8, 8)), ValueError, r"add flatten\(\) before it"),
    (lambda: S.spec_table([S.conv(9, 4)], (1, 1, 8, 8)), ValueError, "filter length f=9 is larger"),
    (lambda: S.spec_table([S.residual([S.conv(3, 8, 2, 1)])], (1, 8, 8, 8)), ValueError,
     r"body gives \(1, 8, 4, 4\) but the shortcut gives \(1, 8, 8, 8\).*projection"),
    (lambda: S.spec_table([{"kind": "lrn"}], (1, 1, 8, 8)), ValueError, "unknown layer kind 'lrn'"),
    (lambda: S.spec_table(S.conv(3, 4), (1, 1, 8, 8)), TypeError, "a spec must be a list of layer dicts"),
    (lambda: S.spec_table(S.LENET5, (1, 32, 32)), ValueError, r"input_shape must be \(N, C, H, W\)"),
    (lambda: S.pool(2, mode="avg"), ValueError, r"mode must be one of \('max', 'average'\)"),
    (lambda: S.conv(0, 4), ValueError, "f must be a positive integer"),
    (lambda: S.resnet_spec(20), ValueError, "cifar_resnet_spec"),
    (lambda: S.cifar_resnet_spec(50.0), ValueError, r"depth must be 6n \+ 2"),
])
def test_bad_input_gets_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_the_numpy_side_does_not_import_torch():
    code = ("import sys, cnn_course.ref.summary as s; s.spec_table(s.VGG16, (1, 3, 224, 224)); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
