"""cnn_course.data.load_solvay_faces (Debian `visp-images-data`) and run.py installing that package."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnn_course import data

ROOT = Path(__file__).resolve().parents[1]


def _write(folder: Path, boxes_text: str, size=(40, 60)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pixels = (np.arange(size[0] * size[1]) % 256).astype(np.uint8).reshape(size)
    Image.fromarray(pixels).save(folder / data.SOLVAY_IMAGE)
    (folder / data.SOLVAY_BOXES).write_text(boxes_text)


TWO_BOXES = "detection_0\n5 10\n5 20\n15 10\n15 20\ndetection_1\n1 2\n1 4\n30 2\n30 4\n"


def test_real_solvay_photo_and_boxes():
    image, boxes, is_face = data.load_solvay_faces()
    assert image.shape == (926, 1280) and image.dtype == np.float32 and 0 <= image.min() and image.max() <= 1
    assert boxes.shape == (30, 4) and boxes.dtype == np.float64
    assert is_face.dtype == bool and is_face.sum() == 29 and not is_face[data.SOLVAY_NOT_A_FACE]
    np.testing.assert_array_equal(boxes[0], [35, 376, 114, 454])  # rows 376..454, columns 35..114
    np.testing.assert_array_equal(boxes[1], [499, 488, 555, 544])
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    assert (np.abs(w - h) <= 1).all() and (40 <= w[1:]).all() and (w[1:] <= 60).all(), "square-ish boxes of face size"


def test_reads_the_format_from_root_and_env(tmp_path, monkeypatch):
    _write(tmp_path / "faces", TWO_BOXES)
    image, boxes, is_face = data.load_solvay_faces(tmp_path / "faces")
    assert image.shape == (40, 60) and image.dtype == np.float32
    np.testing.assert_array_equal(boxes, [[10, 5, 20, 15], [2, 1, 4, 30]])  # x = column, y = row
    assert is_face.all(), "only ViSP's 30-box file has the pillar box"
    monkeypatch.setenv("CNN_COURSE_SOLVAY_FACES", str(tmp_path / "faces"))
    np.testing.assert_array_equal(data.load_solvay_faces()[1], boxes)


def test_missing_files_name_the_package(tmp_path, monkeypatch):
    monkeypatch.delenv("CNN_COURSE_SOLVAY_FACES", raising=False)
    monkeypatch.setattr(data, "SOLVAY_FACES_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="apt-get install visp-images-data") as err:
        data.load_solvay_faces()
    assert "CNN_COURSE_SOLVAY_FACES" in str(err.value)
    (tmp_path / "half").mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "half" / data.SOLVAY_IMAGE)
    with pytest.raises(FileNotFoundError, match="ground_truth_detection.txt"):
        data.load_solvay_faces(tmp_path / "half")


@pytest.mark.parametrize("text, match", [
    ("detection_0\n5 10\n5 20\n15 10\n", "blocks of 5 lines"),
    ("face_0\n5 10\n5 20\n15 10\n15 20\n", "block 0"),
    ("detection_0\n5 10 3\n5 20\n15 10\n15 20\n", "block 0"),
    ("detection_0\n5 10\n5 200\n15 10\n15 200\n", "outside the 60×40 image"),
])
def test_broken_box_files(tmp_path, text, match):
    _write(tmp_path, text)
    with pytest.raises(ValueError, match=match):
        data.load_solvay_faces(tmp_path)


def _run_py():
    spec = importlib.util.spec_from_file_location("cnn_course_run_py_solvay", ROOT / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_run_py_installs_visp_images_data_like_fashion_mnist(tmp_path, monkeypatch, capsys):
    run = _run_py()
    packages = {pkg: (folder, env) for pkg, folder, env, _ in run.DEBIAN_DATA}
    assert packages["visp-images-data"] == (data.SOLVAY_FACES_DIR, "CNN_COURSE_SOLVAY_FACES")
    assert packages["dataset-fashion-mnist"] == (data.FASHION_MNIST_DIR, "CNN_COURSE_FASHION_MNIST")
    monkeypatch.setattr(run, "DEBIAN_DATA", [(p, str(tmp_path / p), env, who) for p, _, env, who in run.DEBIAN_DATA])
    for _, _, env, _ in run.DEBIAN_DATA:
        monkeypatch.delenv(env, raising=False)
    asked = []
    monkeypatch.setattr(run, "apt_install", lambda pkgs: asked.append(list(pkgs)) or True)
    run.ensure_data()
    assert asked == [[pkg for pkg, _, _, _ in run.DEBIAN_DATA]] and "visp-images-data" in asked[0]
    monkeypatch.setattr(run, "apt_install", lambda pkgs: False)  # not root: say what to install
    run.ensure_data()
    out = capsys.readouterr().out
    assert "sudo apt-get install visp-images-data" in out and "notebook 11" in out
    assert "sudo apt-get install dataset-fashion-mnist" in out and "notebooks 02 onwards" in out
    monkeypatch.setenv("CNN_COURSE_SOLVAY_FACES", str(tmp_path))  # a folder of one's own counts as present
    asked.clear()
    monkeypatch.setattr(run, "apt_install", lambda pkgs: asked.append(list(pkgs)) or True)
    run.ensure_data()
    assert asked == [[pkg for pkg, _, _, _ in run.DEBIAN_DATA if pkg != "visp-images-data"]]
