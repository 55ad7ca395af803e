"""cnn_course.pt.inception (through the zoo, cnn_course.pt.models): 1×1 convolution, Inception module,
GoogLeNet's table, the small GoogLeNet with its auxiliary classifier."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnn_course.pt import inception as I
from cnn_course.pt import models
from cnn_course.pt.summary import layer_table

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# --------------------------------------------------------------------------- 1×1 convolution

@pytest.mark.parametrize("shape, n_F, bias", [
    ((2, 3, 4, 5), 6, True), ((1, 8, 1, 1), 2, False), ((3, 1, 6, 2), 4, True)])
def test_pointwise_conv_equals_conv2d_with_gradients(shape, n_F, bias):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(n_F, shape[1], 1, 1, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(n_F, generator=g, dtype=torch.float64, requires_grad=True) if bias else None
    ours, ref = models.pointwise_conv2d(x, w, b), F.conv2d(x, w, b)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    inputs = (x, w, b) if bias else (x, w)
    dout = torch.randn(ref.shape, generator=g, dtype=torch.float64)
    for a, e in zip(torch.autograd.grad(ours, inputs, dout), torch.autograd.grad(ref, inputs, dout)):
        torch.testing.assert_close(a, e, rtol=1e-12, atol=1e-12)


def test_pointwise_conv_is_a_fully_connected_layer_at_every_pixel():
    g = torch.Generator().manual_seed(1)
    x, w, b = torch.randn(2, 5, 3, 4, generator=g), torch.randn(7, 5, 1, 1, generator=g), torch.randn(7, generator=g)
    out = models.pointwise_conv2d(x, w, b)
    fc = nn.Linear(5, 7)
    with torch.no_grad():
        fc.weight.copy_(w[:, :, 0, 0])
        fc.bias.copy_(b)
        torch.testing.assert_close(out, fc(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))


@pytest.mark.parametrize("x, w, b, message", [
    (torch.zeros(1, 3, 4, 4), torch.zeros(5, 3, 3, 3), None, r"w must have shape \(F, C, 1, 1\) = \(F, 3, 1, 1\)"),
    (torch.zeros(1, 3, 4, 4), torch.zeros(5, 4, 1, 1), None, "for x with C=3 channels"),
    (torch.zeros(1, 3, 4, 4), torch.zeros(5, 3), None, r"w must be 4-D with shape \(F, C, 1, 1\)"),
    (torch.zeros(3, 4, 4), torch.zeros(5, 3, 1, 1), None, r"x must be 4-D"),
    (torch.zeros(1, 3, 4, 4), torch.zeros(5, 3, 1, 1), torch.zeros(3), r"b must have shape \(F,\) = \(5,\)"),
    (torch.zeros(1, 3, 4, 4, dtype=torch.int32), torch.zeros(5, 3, 1, 1, dtype=torch.int32), None,
     "x must have a floating-point dtype"),
])
def test_pointwise_conv_bad_input(x, w, b, message):
    with pytest.raises(ValueError, match=message):
        models.pointwise_conv2d(x, w, b)


# --------------------------------------------------------------------------- Inception module

def test_the_course_module_has_163696_parameters_and_256_channels():
    module = models.InceptionModule(192, 64, 96, 128, 16, 32, 32)
    assert n_params(module) == 163_696 and module.out_channels == 256
    assert [n_params(b) for b in (module.branch1, module.branch3, module.branch5, module.branch_pool)] == [
        12_352, 129_248, 15_920, 6_176]
    with torch.no_grad():
        assert module(torch.randn(1, 192, 28, 28)).shape == (1, 256, 28, 28)


def test_branches_are_concatenated_on_channels_in_order():
    torch.manual_seed(0)
    module = models.InceptionModule(6, 2, 3, 4, 2, 5, 3)
    x = torch.randn(2, 6, 7, 5)
    with torch.no_grad():
        out = module(x)
        parts = [module.branch1(x), module.branch3(x), module.branch5(x), module.branch_pool(x)]
    assert out.shape == (2, 2 + 4 + 5 + 3, 7, 5) and module.out_channels == 14
    torch.testing.assert_close(out, torch.cat(parts, dim=1), rtol=0, atol=0)
    assert [p.shape[1] for p in parts] == [2, 4, 5, 3]


def test_every_branch_keeps_the_size_and_ends_with_a_relu():
    module = models.InceptionModule(8, 4, 3, 5, 2, 6, 7)
    convs = {name: [m for m in getattr(module, name) if isinstance(m, nn.Conv2d)]
             for name in ("branch1", "branch3", "branch5", "branch_pool")}
    assert {name: [c.kernel_size[0] for c in cs] for name, cs in convs.items()} == {
        "branch1": [1], "branch3": [1, 3], "branch5": [1, 5], "branch_pool": [1]}
    for cs in convs.values():
        for c in cs:
            assert c.padding == ((c.kernel_size[0] - 1) // 2,) * 2 and c.stride == (1, 1) and c.bias is not None
    for name in convs:
        seq = list(getattr(module, name))
        assert all(isinstance(seq[i + 1], nn.ReLU) for i, m in enumerate(seq) if isinstance(m, nn.Conv2d))
    assert [type(m) for m in module.branch_pool] == [nn.MaxPool2d, nn.Conv2d, nn.ReLU]
    pool, proj = module.branch_pool[0], module.branch_pool[1]
    assert (pool.kernel_size, pool.stride, pool.padding) == (3, 1, 1)
    assert proj.weight.shape == (7, 8, 1, 1)  # the pool branch's 1×1 shrinks 8 channels to pool_proj = 7
    assert module.branch3[0].weight.shape == (3, 8, 1, 1) and module.branch3[2].weight.shape == (5, 3, 3, 3)
    assert module.branch5[0].weight.shape == (2, 8, 1, 1) and module.branch5[2].weight.shape == (6, 2, 5, 5)
    with torch.no_grad():
        out = module(torch.randn(1, 8, 5, 9))
    assert out.shape == (1, 22, 5, 9) and (out >= 0).all()


def test_googlenet_table():
    outs = [c1 + c3 + c5 + pp for (_, c1, _, c3, _, c5, pp) in I.GOOGLENET_CFG.values()]
    assert outs == [256, 480, 512, 512, 512, 528, 832, 832, 1024]
    assert list(I.GOOGLENET_CFG) == ["3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"]
    ins = [cfg[0] for cfg in I.GOOGLENET_CFG.values()]
    assert ins == [192] + outs[:-1]  # each module takes the previous one's channels (pools keep them)
    assert n_params(models.InceptionModule(*I.GOOGLENET_CFG["3a"])) == 163_696


# --------------------------------------------------------------------------- small GoogLeNet

@pytest.mark.parametrize("width, aux, count", [(0.25, False, 88_308), (0.25, True, 95_326), (0.5, False, 348_542)])
def test_small_googlenet_counts(width, aux, count):
    assert n_params(models.small_googlenet(width=width, aux=aux)) == count


def test_small_googlenet_shapes_and_channel_bookkeeping():
    model = models.small_googlenet()
    mods = [model.inception3a, model.inception3b, model.inception4a, model.inception4b]
    assert [m.out_channels for m in mods] == [64, 120, 128, 128]
    assert [m.in_channels for m in mods] == [48, 64, 120, 128]
    table = layer_table(model, (2, 1, 28, 28))
    assert table.total_params == 88_308 and table.total_mult_adds == 2 * 9_721_224
    shapes = {r.name: r.output_shape for r in table}
    assert shapes["pool1"] == (2, 48, 14, 14) and shapes["pool2"] == (2, 120, 7, 7)
    assert shapes["inception4b.branch_pool.2"] == (2, 16, 7, 7) and shapes["fc"] == (2, 10)


def test_aux_classifier_only_in_training_mode():
    torch.manual_seed(0)
    x, y = torch.randn(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    model = models.small_googlenet(aux=True).train()
    out = model(x)
    assert isinstance(out, tuple) and len(out) == 2 and [t.shape for t in out] == [(4, 10), (4, 10)]
    loss = models.googlenet_loss(out, y)
    torch.testing.assert_close(loss, F.cross_entropy(out[0], y) + 0.3 * F.cross_entropy(out[1], y))
    loss.backward()
    assert model.aux[1].weight.grad is not None and model.aux[1].weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        assert model(x).shape == (4, 10)
    plain = models.small_googlenet().train()
    assert not hasattr(plain, "aux") and plain(x).shape == (4, 10)
    assert torch.equal(models.googlenet_loss(out[0], y), F.cross_entropy(out[0], y))
    assert torch.equal(models.googlenet_loss(out, y, aux_weight=0), F.cross_entropy(out[0], y))
    table = layer_table(model.train(), (1, 1, 28, 28))  # eval mode inside: no aux rows
    assert table.total_params == 88_308 and not any(r.name.startswith("aux") for r in table) and model.training


@pytest.mark.parametrize("call, error, message", [
    (lambda: models.InceptionModule(192, 64, 0, 128, 16, 32, 32), ValueError, "c3_reduce must be a positive integer"),
    (lambda: models.InceptionModule(192, 64, 96, 128, 16, 32, 2.0), ValueError, "pool_proj must be a positive"),
    (lambda: models.small_googlenet(width=0), ValueError, r"width must be a number in \(0, 4\]"),
    (lambda: models.small_googlenet(aux=1), TypeError, "aux must be True or False"),
    (lambda: models.small_googlenet(dropout=1), ValueError, "dropout must be a probability"),
    (lambda: models.googlenet_loss(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), -1), ValueError,
     "aux_weight must be a non-negative number"),
    (lambda: models.googlenet_loss((torch.zeros(2, 3),) * 3, torch.zeros(2, dtype=torch.long)), ValueError,
     r"the pair \(logits, aux_logits\)"),
    (lambda: models.InceptionModule(8, 1, 1, 1, 1, 1, 1)(torch.zeros(1, 4, 5, 5)), ValueError,
     "InceptionModule expects 8 input channels"),
    (lambda: models.small_googlenet()(torch.zeros(1, 3, 28, 28)), ValueError, "SmallGoogLeNet expects 1 input"),
])
def test_bad_arguments_get_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
