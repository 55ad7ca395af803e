"""cnn_course.pt.unet (through the zoo, cnn_course.pt.models): shapes, parameter counts, skips, 3-D."""

import pytest
import torch
from torch import nn

from cnn_course.pt import models

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _count(model):
    return sum(p.numel() for p in model.parameters())


def _conv(c_in, c_out, f, bias=True):
    return c_in * c_out * f * f + (c_out if bias else 0)


def test_original_configuration_parameter_count():
    """in 1, 2 classes, base 64, depth 4, same-padded 3x3 convs, no BN: counted layer by layer."""
    widths = [64, 128, 256, 512, 1024]
    encoder = _conv(1, 64, 3) + _conv(64, 64, 3)
    encoder += sum(_conv(widths[i], widths[i + 1], 3) + _conv(widths[i + 1], widths[i + 1], 3) for i in range(4))
    decoder = 0
    for i in reversed(range(4)):  # up-conv 2x2 halves the channels; concat doubles them back
        decoder += widths[i + 1] * widths[i] * 2 * 2 + widths[i]
        decoder += _conv(2 * widths[i], widths[i], 3) + _conv(widths[i], widths[i], 3)
    head = _conv(64, 2, 1)
    expected = encoder + decoder + head
    assert expected == 31_030_658
    assert _count(models.unet(1, 2, base=64, depth=4)) == expected


def test_output_size_equals_input_size():
    torch.manual_seed(0)
    model = models.unet(3, 5, base=4, depth=3)
    for shape in [(2, 3, 32, 24), (1, 3, 16, 16), (1, 3, 21, 30)]:  # the last: not a multiple of 8
        out = model(torch.randn(shape))
        assert out.shape == (shape[0], 5) + shape[2:]


def test_up_block_shapes_and_concat_axis():
    torch.manual_seed(0)
    block = models.UpBlock(16, 8)
    x, skip = torch.randn(2, 16, 5, 6), torch.randn(2, 8, 10, 12)
    assert block(x, skip).shape == (2, 8, 10, 12)
    assert block.conv[0].in_channels == 16, "skip (8) + up-sampled (8) channels, concatenated on dim 1"
    assert block.up.kernel_size == (2, 2) and block.up.stride == (2, 2)
    # concatenation order [skip, up]: the first conv's first 8 input channels read the skip
    with torch.no_grad():
        block.conv[0].weight[:, 8:] = 0
    out1 = block(x, skip)
    out2 = block(torch.randn(2, 16, 5, 6), skip)
    torch.testing.assert_close(out1, out2)
    # a larger skip (the paper's unpadded encoder) is centre-cropped
    assert block(x, torch.randn(2, 8, 14, 16)).shape == (2, 8, 10, 12)
    with pytest.raises(ValueError, match=r"skip \(N, 8"):
        block(x, torch.randn(2, 4, 10, 12))
    with pytest.raises(ValueError, match=r"\(N, 16"):
        block(torch.randn(2, 8, 5, 6), skip)


def test_crop_or_pad():
    skip = torch.arange(2 * 3 * 6 * 7, dtype=torch.float32).reshape(2, 3, 6, 7)
    cropped = models.crop_or_pad(skip, torch.zeros(1, 1, 4, 4))
    torch.testing.assert_close(cropped, skip[:, :, 1:5, 1:5])
    padded = models.crop_or_pad(skip, torch.zeros(1, 1, 9, 8))
    assert padded.shape == (2, 3, 9, 8)
    torch.testing.assert_close(padded[:, :, 1:7, 0:7], skip)  # odd extra goes to the end
    assert padded.sum() == skip.sum()
    mixed = models.crop_or_pad(skip, torch.zeros(1, 1, 4, 9))
    torch.testing.assert_close(mixed[:, :, :, 1:8], skip[:, :, 1:5])
    vol = torch.randn(1, 2, 5, 6, 7)
    assert models.crop_or_pad(vol, torch.zeros(1, 1, 4, 8, 7)).shape == (1, 2, 4, 8, 7)
    with pytest.raises(ValueError, match="same number of axes"):
        models.crop_or_pad(skip, torch.zeros(4, 4))


def test_without_skips():
    with_skips, without = models.unet(1, 2, base=4, depth=2), models.unet(1, 2, base=4, depth=2, skips=False)
    # the first conv of each up-block reads out_channels fewer inputs: 8 -> 8 and 4 -> 4 weights of 3x3
    assert _count(with_skips) - _count(without) == 8 * 8 * 3 * 3 + 4 * 4 * 3 * 3
    assert without(torch.randn(1, 1, 8, 8)).shape == (1, 2, 8, 8)
    assert all(not b.skip for b in without.up)


def test_batch_norm_option():
    model = models.unet(1, 3, base=4, depth=2, batch_norm=True)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 2 * (3 + 2)
    assert all(c.bias is None for c in model.modules() if isinstance(c, nn.Conv2d) and c.kernel_size == (3, 3))
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 3, 8, 8)


def test_unet3d():
    torch.manual_seed(0)
    model = models.unet3d(1, 2, base=4, depth=2)
    assert model(torch.randn(1, 1, 8, 12, 8)).shape == (1, 2, 8, 12, 8)
    assert model(torch.randn(1, 1, 9, 10, 7)).shape == (1, 2, 9, 10, 7)
    assert any(isinstance(m, nn.ConvTranspose3d) for m in model.modules())
    with pytest.raises(ValueError, match=r"\(N, C, D, H, W\)"):
        model(torch.randn(1, 1, 8, 8))


def test_learns_a_toy_mask():
    """A few Adam steps on a bright square: the loss drops and the mask appears."""
    torch.manual_seed(0)
    x = torch.zeros(4, 1, 16, 16)
    y = torch.zeros(4, 16, 16, dtype=torch.long)
    for i in range(4):
        x[i, 0, 2 + i : 9 + i, 3 : 10 + i] = 1
        y[i, 2 + i : 9 + i, 3 : 10 + i] = 1
    x = x + 0.1 * torch.randn_like(x)
    model = models.unet(1, 2, base=4, depth=2)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    assert (model(x).argmax(1) == y).float().mean() > 0.95


def test_bad_arguments():
    with pytest.raises(ValueError, match="dims"):
        models.UNet(dims=1)
    with pytest.raises(TypeError, match="skips"):
        models.unet(skips=1)
    with pytest.raises(ValueError, match="depth"):
        models.unet(depth=0)
    with pytest.raises(ValueError, match="3 input channels"):
        models.unet(3, 2, base=4, depth=1)(torch.randn(1, 1, 4, 4))


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_twins_and_models_on_each_device(device):
    """The torch twins of this topic keep everything on the input's device."""
    from cnn_course import pt

    torch.manual_seed(0)
    x = torch.randn(2, 3, 5, 5, device=device)
    w = torch.randn(3, 2, 3, 3, device=device)
    out = pt.conv_transpose2d(x, w, torch.zeros(2, device=device), stride=2, pad=1, output_padding=1)
    torch.testing.assert_close(out, torch.nn.functional.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1))
    v = torch.randn(1, 2, 6, 5, 4, device=device)
    k = torch.randn(3, 2, 3, 3, 3, device=device)
    torch.testing.assert_close(pt.conv3d(v, k, pad=1), torch.nn.functional.conv3d(v, k, padding=1))
    assert pt.pool3d(v, 2).device.type == device
    logits = torch.randn(2, 3, 8, 8, device=device, requires_grad=True)
    target = torch.randint(0, 3, (2, 8, 8), device=device)
    pt.dice_ce_loss(logits, target).backward()
    assert logits.grad.device.type == device
    assert 0 <= pt.mean_iou(logits.argmax(1), target, 3) <= 1
    assert pt.dice(logits.argmax(1), target, 3).device.type == device
    for model, shape in ((models.unet(1, 3, base=4, depth=2), (1, 1, 12, 12)),
                         (models.unet3d(1, 2, base=2, depth=1), (1, 1, 4, 6, 4)),
                         (models.cnn1d(2, 3), (2, 2, 40)), (models.cnn3d(1, 2), (2, 1, 8, 8, 8))):
        model = model.to(device).eval()
        with torch.no_grad():
            out = model(torch.randn(shape, device=device))
        assert out.device.type == device and torch.isfinite(out).all()
