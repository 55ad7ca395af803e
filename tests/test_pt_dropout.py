"""cnn_course.pt.dropout: the mask, the reference's formulas, autograd and nn.Dropout's semantics."""

import numpy as np
import pytest
import torch
from torch import nn

from cnn_course import pt, ref
from cnn_course.pt.dropout import Dropout, dropout

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
DTYPES = [torch.float32, torch.float64]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 4)])
def test_equals_the_reference_given_the_mask(device, dtype, shape):
    x = torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(0)).to(device)
    x.requires_grad_()
    out = dropout(x, 0.7, generator=torch.Generator(device).manual_seed(5))
    mask = torch.rand(shape, generator=torch.Generator(device).manual_seed(5), device=device) < 0.7
    assert out.dtype == dtype and out.shape == shape and out.device == x.device
    torch.testing.assert_close(out, x * mask / 0.7, rtol=0, atol=0)
    # the reference's forward on the same input and mask; the gradient is its backward
    mask_np = mask.cpu().numpy()
    x_np = x.detach().cpu().numpy()
    np.testing.assert_array_equal(out.detach().cpu().numpy(), ref.dropout_backward(x_np, mask_np, 0.7))
    dout = torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(1)).to(device)
    (dx,) = torch.autograd.grad(out, x, dout)
    np.testing.assert_array_equal(dx.cpu().numpy(), ref.dropout_backward(dout.cpu().numpy(), mask_np, 0.7))


@pytest.mark.parametrize("device", DEVICES)
def test_cpu_generator_gives_the_same_mask_on_every_device(device):
    x = torch.ones(6, 7, device=device)
    out = dropout(x, 0.4, generator=torch.Generator().manual_seed(3))
    out_cpu = dropout(torch.ones(6, 7), 0.4, generator=torch.Generator().manual_seed(3))
    assert out.device == x.device
    torch.testing.assert_close(out.cpu(), out_cpu, rtol=0, atol=0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("keep", [0.2, 0.5, 0.9])
def test_same_semantics_as_nn_dropout(device, keep):
    x = torch.full((400, 500), 2.0, device=device)
    ours = dropout(x, keep, generator=torch.Generator(device).manual_seed(0))
    theirs = nn.Dropout(p=1 - keep)(x)  # module in training mode by default
    for out in (ours, theirs):
        kept = out != 0
        # 200000 Bernoulli draws: the kept fraction is within 0.005 of keep
        assert kept.float().mean().item() == pytest.approx(keep, abs=0.005)
        torch.testing.assert_close(out[kept], torch.full_like(out[kept], 2.0 / keep))  # same scaling
        assert out.mean().item() == pytest.approx(2.0, rel=0.03)  # E[out] = x


@pytest.mark.parametrize("device", DEVICES)
def test_identity_in_eval_mode_and_for_keep_prob_one(device):
    x = torch.randn(3, 4, device=device)
    g = torch.Generator(device).manual_seed(0)
    state = g.get_state()
    assert dropout(x, 0.5, train=False, generator=g) is x
    assert dropout(x, 1.0, generator=g) is x
    assert torch.equal(g.get_state(), state)  # nothing drawn
    layer = Dropout(0.5).to(device).eval()
    assert layer(x) is x
    nn_layer = nn.Dropout(0.5).eval()
    assert torch.equal(layer(x), nn_layer(x))


def test_module_uses_its_generator_and_train_flag():
    layer = Dropout(0.6, generator=torch.Generator().manual_seed(9))
    x = torch.ones(5, 8)
    expected = dropout(x, 0.6, generator=torch.Generator().manual_seed(9))
    torch.testing.assert_close(layer(x), expected)
    assert layer.training and "keep_prob=0.6" in repr(layer) and "p=0.4" in repr(layer)
    assert isinstance(pt.Dropout(0.5), nn.Module)


def test_errors_say_what_was_expected():
    x = torch.ones(2, 3)
    for bad in (0.0, -0.5, 1.2):
        with pytest.raises(ValueError, match=r"\(0, 1\]"):
            dropout(x, bad)
        with pytest.raises(ValueError, match=r"p = 1 - keep_prob"):
            Dropout(bad)
    with pytest.raises(TypeError, match="keep_prob"):
        dropout(x, None)
    with pytest.raises(TypeError, match="floating-point"):
        dropout(torch.ones(2, 3, dtype=torch.int64), 0.5)
    with pytest.raises(TypeError, match="tensor"):
        dropout(np.ones((2, 3)), 0.5)
    with pytest.raises(TypeError, match="torch.Generator"):
        dropout(x, 0.5, generator=np.random.default_rng(0))
