"""cnn_course.pt.style_transfer: short Gatys runs on real images lower the cost, stay in [0, 1] and
are deterministic under a seed; images are prepared as documented; bad arguments are refused."""

import numpy as np
import pytest
import torch
from skimage import data
from torch import nn

from cnn_course.data import load_painting
from cnn_course.pt import style_transfer as st

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def images():
    return data.chelsea(), load_painting("the_kiss")


@pytest.fixture(scope="module")
def run(images):
    seen = []
    G, history = st.stylize(*images, steps=12, alpha=10, beta=1e4, size=64, seed=0,
                            callback=lambda step, image, costs: seen.append((step, tuple(image.shape), costs["J"])))
    return G, history, seen


def test_short_run_lowers_the_costs_and_stays_in_range(run):
    G, history, _ = run
    assert G.shape == (1, 3, 43, 64) and G.dtype == torch.float32 and not G.requires_grad   # chelsea is 300×451
    assert float(G.min()) >= 0 and float(G.max()) <= 1
    J, J_style = history["J"], history["J_style"]
    assert len(J) == len(history["J_content"]) == len(J_style) == len(history["J_tv"]) == len(history["seconds"]) == 12
    assert J[-1] < 0.5 * J[0], f"J should fall well within 12 steps: {J[0]:.4g} -> {J[-1]:.4g}"
    assert J_style[-1] < J_style[0]
    assert history["J_content"][0] > 0   # the noise moves G away from the content
    np.testing.assert_allclose(J, [10 * c + 1e4 * s for c, s in zip(history["J_content"], J_style)], rtol=1e-5)
    assert all(b >= a for a, b in zip(history["seconds"], history["seconds"][1:]))


def test_callback_sees_every_step(run):
    _, history, seen = run
    assert [s for s, _, _ in seen] == list(range(12))
    assert all(shape == (1, 3, 43, 64) for _, shape, _ in seen)
    assert [j for _, _, j in seen] == history["J"]


def test_deterministic_under_a_seed(images, run):
    G, history, _ = run
    again, history2 = st.stylize(*images, steps=12, alpha=10, beta=1e4, size=64, seed=0)
    assert torch.equal(G, again) and history["J"] == history2["J"]
    other, _ = st.stylize(*images, steps=1, alpha=10, beta=1e4, size=64, seed=1)
    first, _ = st.stylize(*images, steps=1, alpha=10, beta=1e4, size=64, seed=0)
    assert not torch.equal(first, other)


def test_alpha_and_layer_weights_steer_the_result(images):
    content_only, h = st.stylize(*images, steps=8, alpha=10, beta=0, size=48, noise=0.2, lr=0.05)
    assert h["J_content"][-1] < 0.5 * h["J_content"][0]
    np.testing.assert_allclose(h["J"], [10 * c for c in h["J_content"]], rtol=1e-6)   # β = 0: J = α J_content
    _, one = st.stylize(*images, steps=2, size=48, layer_weights={"stem": 1.0})
    _, two = st.stylize(*images, steps=2, size=48, layer_weights={"stem": 1.0, "block3_expand": 1.0})
    assert one["J_style"][0] < two["J_style"][0]


def test_any_feature_network_that_returns_a_dict_works(images):
    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.conv = nn.Conv2d(3, 8, 3, padding=1)

        def forward(self, x):
            a = torch.relu(self.conv(x))
            return {"a": a, "b": torch.nn.functional.avg_pool2d(a, 2)}

    G, h = st.stylize(*images, steps=5, beta=100, size=32, lr=0.01, feature_net=Tiny(), layer_weights={"a": 1, "b": 1},
                      content_layer="b")
    assert G.shape[3] == 32 and h["J"][-1] < h["J"][0]
    with pytest.raises(ValueError, match="no activations for"):
        st.stylize(*images, steps=1, size=32, feature_net=Tiny(), layer_weights={"c": 1}, content_layer="b")


def test_prepare_image_resizes_crops_and_checks():
    photo = data.astronaut()                                   # 512×512 uint8
    x = st.prepare_image(photo, size=100)
    assert x.shape == (1, 3, 100, 100) and x.dtype == torch.float32 and 0 <= float(x.min()) <= float(x.max()) <= 1
    same = st.prepare_image(photo.astype(np.float32) / 255, size=100)
    torch.testing.assert_close(x, same)
    tensor = st.prepare_image(torch.from_numpy(photo).permute(2, 0, 1).float() / 255, size=100)
    torch.testing.assert_close(x, tensor)
    wide = st.prepare_image(photo, shape=(30, 60))            # centre crop to 2:1, then resize
    assert wide.shape == (1, 3, 30, 60)
    assert st.to_numpy_image(wide).shape == (30, 60, 3) and st.to_numpy_image(wide).dtype == np.uint8
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        st.prepare_image(photo[..., 0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        st.prepare_image(photo.astype(np.float32))


def test_total_variation_smooths_the_pixels(images):
    plain, h0 = st.stylize(*images, steps=10, size=64)
    smooth, h1 = st.stylize(*images, steps=10, size=64, tv_weight=3000)
    assert h0["J_tv"][0] == h1["J_tv"][0]             # same start
    assert h1["J_tv"][-1] < 0.8 * h0["J_tv"][-1], (h0["J_tv"][-1], h1["J_tv"][-1])
    assert float(smooth.min()) >= 0 and float(smooth.max()) <= 1


@pytest.mark.parametrize("kwargs, message", [
    ({"tv_weight": -1}, "tv_weight"),
    ({"alpha": -1}, "alpha"), ({"beta": float("nan")}, "beta"), ({"lr": 0}, "lr"),
    ({"steps": -3}, "steps"), ({"steps": 2.5}, "steps"), ({"size": 64.5}, "size"), ({"layer_weights": {}}, "at least one"), ({"size": 0}, "size"),
])
def test_bad_arguments_are_refused(images, kwargs, message):
    with pytest.raises(ValueError, match=message):
        st.stylize(*images, **{"steps": 1, "size": 32, **kwargs})


def test_exported_from_cnn_course_pt():
    from cnn_course import pt
    from cnn_course.pt import style_net
    assert pt.stylize is st.stylize and pt.load_style_features is style_net.load_style_features
