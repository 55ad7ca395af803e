"""The convolutional implementation of sliding windows (cnn_course.pt.sliding and its NumPy twin
cnn_course.ref.sliding): the same weights, each output position equal to the classifier on its window."""

import numpy as np
import pytest
import torch

from cnn_course.pt import sliding as pts
from cnn_course.ref import sliding as refs

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _model(seed=0, num_classes=4):
    torch.manual_seed(seed)
    return pts.WindowClassifier(num_classes).double().eval()


def _params(model):
    return {k: t.detach().numpy().copy() for k, t in model.state_dict().items()}


@pytest.mark.parametrize("size, grid", [((14, 14), (1, 1)), ((16, 16), (2, 2)), ((28, 28), (8, 8)), ((17, 20), (2, 4))])
def test_conv_version_equals_the_classifier_on_every_window(size, grid):
    model = _model()
    conv = pts.fc_to_conv(model)
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    out = conv(x)
    assert tuple(out.shape) == (2, 4, *grid)  # 16x16 -> 12x12x16 -> 6x6x16 -> 2x2x400 -> 2x2x4
    loop = pts.sliding_window_loop(model, x, 14, 2)
    torch.testing.assert_close(out, loop, rtol=1e-12, atol=1e-12)
    # position (i, j) is the window with top-left corner (2i, 2j)
    i, j = grid[0] - 1, grid[1] - 1
    torch.testing.assert_close(out[:, :, i, j], model(x[:, :, 2 * i:2 * i + 14, 2 * j:2 * j + 14]), rtol=1e-12, atol=1e-12)


def test_same_weights_copied_not_shared():
    model = _model()
    conv = pts.fc_to_conv(model)
    assert torch.equal(conv[3].weight.flatten(1), model.fc1.weight)
    assert tuple(conv[3].weight.shape) == (400, 16, 5, 5)
    assert tuple(conv[5].weight.shape) == (400, 400, 1, 1) and tuple(conv[7].weight.shape) == (4, 400, 1, 1)
    assert sum(p.numel() for p in conv.parameters()) == sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        conv[3].weight.zero_()
    assert model.fc1.weight.abs().sum() > 0
    assert conv[0].weight.dtype == torch.float64


def test_float32_model():
    torch.manual_seed(3)
    model = pts.WindowClassifier(5).eval()
    x = torch.randn(1, 3, 16, 18)
    torch.testing.assert_close(pts.fc_to_conv(model)(x), pts.sliding_window_loop(model, x), rtol=1e-4, atol=1e-5)


def test_numpy_twin():
    model = _model(2)
    params = _params(model)
    x = np.random.default_rng(0).normal(size=(2, 3, 16, 16))
    logits = refs.window_classifier_forward(params, x[:, :, :14, :14])
    np.testing.assert_allclose(logits, model(torch.from_numpy(x[:, :, :14, :14])).detach().numpy(), rtol=1e-10, atol=1e-12)
    conv_params = refs.fc_to_conv_params(params)
    out = refs.conv_sliding_forward(conv_params, x)
    assert out.shape == (2, 4, 2, 2)
    loop = refs.sliding_window_loop(lambda w: refs.window_classifier_forward(params, w), x)
    np.testing.assert_allclose(out, loop, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out, pts.fc_to_conv(model)(torch.from_numpy(x)).detach().numpy(), rtol=1e-10, atol=1e-12)
    p = refs.window_classifier_init(np.random.default_rng(0), 3)
    xx = np.random.default_rng(1).normal(size=(1, 3, 20, 18))
    np.testing.assert_allclose(refs.conv_sliding_forward(refs.fc_to_conv_params(p), xx),
                               refs.sliding_window_loop(lambda w: refs.window_classifier_forward(p, w), xx), rtol=1e-10, atol=1e-12)


def test_bad_input():
    model = _model()
    with pytest.raises(ValueError, match="14×14 windows"):
        model(torch.zeros(1, 3, 16, 16, dtype=torch.float64))
    with pytest.raises(ValueError, match="smaller than the window"):
        pts.sliding_window_loop(model, torch.zeros(1, 3, 10, 20, dtype=torch.float64))
    with pytest.raises(ValueError, match="WindowClassifier"):
        pts.fc_to_conv(torch.nn.Linear(2, 2))
    params = _params(model)
    with pytest.raises(ValueError, match="14×14 windows"):
        refs.window_classifier_forward(params, np.zeros((1, 3, 16, 16)))
    with pytest.raises(ValueError, match="fc_to_conv_params"):
        refs.conv_sliding_forward(params, np.zeros((1, 3, 16, 16)))
    with pytest.raises(ValueError, match="keys"):
        refs.window_classifier_forward({}, np.zeros((1, 3, 14, 14)))
    with pytest.raises(ValueError, match="at least 14×14"):
        refs.conv_sliding_forward(refs.fc_to_conv_params(params), np.zeros((1, 3, 12, 16)))
