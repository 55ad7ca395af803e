"""cnn_course.data.load_painting (Debian `opencv-doc` and `visp-images-data`) and run.py installing them."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnn_course import data

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name, shape", [("starry_night", (600, 752, 3)), ("the_kiss", (560, 558, 3))])
def test_real_paintings(name, shape, monkeypatch):
    monkeypatch.delenv(data.PAINTINGS_ENV, raising=False)
    image = data.load_painting(name)
    assert image.shape == shape and image.dtype == np.float32
    assert 0 <= image.min() and image.max() <= 1 and image.std() > 0.1
    assert np.abs(image[..., 0] - image[..., 2]).mean() > 0.05, "a colour painting, not grey"


def _write(path: Path, rgba=False):
    pixels = (np.arange(6 * 8 * 3) % 256).astype(np.uint8).reshape(6, 8, 3)
    if rgba:
        pixels = np.concatenate([pixels, np.full((6, 8, 1), 255, np.uint8)], axis=-1)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return pixels[..., :3].astype(np.float32) / 255


def test_path_and_env_folder(tmp_path, monkeypatch):
    expected = _write(tmp_path / "mine.png", rgba=True)
    np.testing.assert_array_equal(data.load_painting("the_kiss", path=tmp_path / "mine.png"), expected)
    expected = _write(tmp_path / "folder" / "Klimt.png")
    _write(tmp_path / "folder" / "starry_night.png")  # only the package's own file name counts
    monkeypatch.setenv(data.PAINTINGS_ENV, str(tmp_path / "folder"))
    np.testing.assert_array_equal(data.load_painting("the_kiss"), expected)
    with pytest.raises(FileNotFoundError, match="starry_night.jpg"):
        data.load_painting("starry_night")


@pytest.mark.parametrize("name, package", [("starry_night", "opencv-doc"), ("the_kiss", "visp-images-data")])
def test_missing_file_names_the_package(tmp_path, monkeypatch, name, package):
    monkeypatch.setenv(data.PAINTINGS_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=f"apt-get install {package}") as err:
        data.load_painting(name)
    assert data.PAINTINGS_ENV in str(err.value)


def test_unknown_name():
    with pytest.raises(ValueError, match="starry_night"):
        data.load_painting("mona_lisa")


def test_run_py_installs_both_packages():
    spec = importlib.util.spec_from_file_location("cnn_course_run_py_paintings", ROOT / "run.py")
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    listed = {pkg: (folder, env) for pkg, folder, env, _ in run.DEBIAN_DATA}
    for name, (package, file, _) in data.PAINTINGS.items():
        assert package in listed, f"run.py's DEBIAN_DATA must install {package} ({name})"
        if package == "opencv-doc":
            assert listed[package] == (str(Path(file).parent), data.PAINTINGS_ENV)
        else:
            assert Path(file).parts[:4] == Path(listed[package][0]).parts[:4], "same package folder"
