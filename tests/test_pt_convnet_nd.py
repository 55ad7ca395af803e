"""cnn_course.pt.convnet_nd (through cnn_course.pt.models): the small 1-D and 3-D classifiers."""

import pytest
import torch
from torch import nn

from cnn_course.pt import models

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_shapes_and_parameter_counts():
    m1 = models.cnn1d(1, 2, widths=(16, 32), f=5, batch_norm=False)
    assert m1(torch.randn(3, 1, 150)).shape == (3, 2)
    assert m1(torch.randn(1, 1, 37)).shape == (1, 2), "global pooling: any length that survives the poolings"
    assert sum(p.numel() for p in m1.parameters()) == (1 * 16 * 5 + 16) + (16 * 32 * 5 + 32) + (32 * 2 + 2)
    m3 = models.cnn3d(1, 4, widths=(8, 16), f=3, batch_norm=False)
    assert m3(torch.randn(2, 1, 12, 16, 8)).shape == (2, 4)
    assert sum(p.numel() for p in m3.parameters()) == (8 * 27 + 8) + (8 * 16 * 27 + 16) + (16 * 4 + 4)
    bn = models.cnn1d(6, 4)
    assert sum(isinstance(m, nn.BatchNorm1d) for m in bn.modules()) == 2
    assert bn(torch.randn(2, 6, 100)).shape == (2, 4)


def test_learns_a_toy_signal_task():
    torch.manual_seed(0)
    t = torch.linspace(0, 1, 64)
    x = torch.randn(64, 1, 64) * 0.3
    y = torch.arange(64) % 2
    x[y == 1, 0] += torch.sin(20 * t)  # class 1 carries an oscillation
    model = models.cnn1d(1, 2, widths=(8, 8))
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(40):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    assert (model(x).argmax(1) == y).float().mean() > 0.95


def test_bad_arguments():
    with pytest.raises(ValueError, match="odd"):
        models.cnn1d(f=4)
    with pytest.raises(ValueError, match="dims"):
        models.ConvNetND(4, 1, 2)
    with pytest.raises(ValueError, match=r"\(N, C, T\)"):
        models.cnn1d()(torch.randn(2, 1, 8, 8))
    with pytest.raises(ValueError, match="6 input channels"):
        models.cnn1d(6, 4)(torch.randn(2, 1, 100))
