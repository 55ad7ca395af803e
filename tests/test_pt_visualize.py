"""cnn_course.pt.visualize: receptive fields against autograd and perturbation, top patches against brute force."""

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn

from cnn_course import plot, pt
from cnn_course.pt import visualize as vis

matplotlib.use("Agg")
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_receptive_field_hand_cases():
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3))
    assert vis.receptive_field(net) == (8, 2, 3.5)  # the first unit sees pixels 0..7, centre 3.5
    assert vis.receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3, padding=1))) == (3, 1, 0.0)
    assert vis.receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3, dilation=2))) == (5, 1, 2.0)
    nested = nn.Sequential(nn.Sequential(nn.Conv2d(1, 1, 5, stride=2), nn.BatchNorm2d(1)), nn.Conv2d(1, 1, 3))
    assert vis.receptive_field(nested) == (9, 2, 4.0)
    # VGG's stacks: two 3×3 convolutions see 5×5, three see 7×7
    assert vis.receptive_field(nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=1) for _ in range(3)])).size == 7


def _positive_net():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 5, stride=2, padding=2), nn.AvgPool2d(3, 2, padding=1),
                        nn.Conv2d(2, 2, 3, dilation=2, padding=1), nn.Conv2d(2, 3, 3, stride=2)).double()
    with torch.no_grad():
        for p in net.parameters():
            p.uniform_(0.1, 1.0)  # all positive: no cancellation, the gradient is non-zero on the whole field
    return net


@pytest.mark.parametrize("y, x", [(0, 0), (1, 2), (2, 1)])
def test_receptive_field_is_where_the_gradient_lives(y, x):
    net = _positive_net()
    field = vis.receptive_field(net)
    img = torch.rand(1, 1, 40, 40, dtype=torch.float64, requires_grad=True)
    out = net(img)
    out[0, 1, y, x].backward()
    rows, cols = torch.nonzero(img.grad[0, 0] != 0, as_tuple=True)
    half = (field.size - 1) / 2
    y0, x0 = field.start + y * field.jump - half, field.start + x * field.jump - half
    assert (int(rows.min()), int(cols.min())) == (max(0, y0), max(0, x0))
    assert (int(rows.max()), int(cols.max())) == (min(39, y0 + field.size - 1), min(39, x0 + field.size - 1))


def test_pixels_outside_the_field_do_not_matter_with_max_pooling():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(2, 2, 3), nn.MaxPool2d(2))
    field = vis.receptive_field(net)
    assert field == (10, 4, 4.5)  # 3, then 4 (pool), 8, then 10 (pool)
    img = torch.rand(1, 1, 30, 30)
    y, x = 2, 3
    y0, x0 = int(field.start + y * field.jump - 4.5), int(field.start + x * field.jump - 4.5)
    other = torch.rand(1, 1, 30, 30)
    other[..., y0 : y0 + 10, x0 : x0 + 10] = img[..., y0 : y0 + 10, x0 : x0 + 10]
    assert net(other)[0, :, y, x].tolist() == net(img)[0, :, y, x].tolist()
    inside = other.clone()
    inside[..., y0 : y0 + 10, x0 : x0 + 10] += torch.rand(10, 10)  # change the field: the unit changes
    assert net(inside)[0, :, y, x].tolist() != net(img)[0, :, y, x].tolist()


def test_top_patches_match_brute_force():
    torch.manual_seed(2)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))  # size 4, jump 2, start 0.5
    images = torch.rand(10, 3, 12, 12)
    acts = net(images).detach()
    res = pt.top_patches(net, images, channel=2, k=4)
    best = acts[:, 2].reshape(10, -1).max(dim=1).values
    order = torch.argsort(best, descending=True)[:4]
    assert res.image_index.tolist() == order.tolist()
    torch.testing.assert_close(res.values, best[order])
    assert res.patches.shape == (4, 3, 4, 4) and res.boxes.shape == (4, 4)
    for patch, n, (x1, y1, x2, y2) in zip(res.patches, res.image_index, res.boxes.long().tolist()):
        padded = nn.functional.pad(images[n], (4, 4, 4, 4))  # black outside the image
        torch.testing.assert_close(patch, padded[:, y1 + 4 : y2 + 4, x1 + 4 : x2 + 4])
    anywhere = pt.top_patches(net, images, channel=2, k=6, one_per_image=False)
    torch.testing.assert_close(anywhere.values, torch.sort(acts[:, 2].flatten(), descending=True).values[:6])
    layer = pt.layer_top_patches(net, images, channels=[0, 2], k=4)
    assert list(layer) == [0, 2] and layer[2].image_index.tolist() == res.image_index.tolist()
    fig = plot.show_top_patches(layer)
    assert len(fig.axes) == 8
    grey = nn.Sequential(nn.Conv2d(1, 4, 3))
    fig = plot.show_top_patches(pt.layer_top_patches(grey, torch.ones(5, 1, 8, 8), k=3))
    assert len(fig.axes) == 12  # constant grey patches draw too


def test_bad_input():
    with pytest.raises(ValueError, match="Flatten"):
        vis.receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Flatten(), nn.Linear(4, 2)))
    with pytest.raises(ValueError, match="AdaptiveAvgPool2d"):
        vis.receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3), nn.AdaptiveAvgPool2d(1)))
    with pytest.raises(ValueError, match="non-square"):
        vis.receptive_field(nn.Sequential(nn.Conv2d(1, 1, (3, 5))))
    net = nn.Sequential(nn.Conv2d(1, 2, 3))
    with pytest.raises(ValueError, match=r"0\.\.1"):
        pt.top_patches(net, torch.zeros(2, 1, 8, 8), channel=2)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        pt.top_patches(net, torch.zeros(1, 8, 8), channel=0)
    with pytest.raises(ValueError, match="empty"):
        plot.show_top_patches({})
    assert np.isfinite(pt.top_patches(net, torch.zeros(2, 1, 8, 8), channel=0, k=5).values.numpy()).all()
