"""cnn_course.pt.mtcnn: the shipped weights load into the course's modules, the pieces of the cascade,
and detection on real photos (scikit-image's astronaut; the Solvay photo with its reference boxes)."""

import fnmatch
import hashlib
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

from cnn_course import data, pt, ref
from cnn_course.pt import mtcnn

pytestmark = pytest.mark.usefixtures("one_torch_thread")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model():
    return mtcnn.load_mtcnn()


# ---------------------------------------------------------------------- weights and modules


def test_weights_match_the_readme_hashes_and_ship_as_package_data():
    readme = (mtcnn.MTCNN_WEIGHTS / "README.md").read_text()
    assert "MIT License" in readme and "Timothy Esler" in readme and "facenet-pytorch==2.6.0" in readme
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["cnn_course"]
    for name in ("pnet", "rnet", "onet"):
        path = mtcnn.MTCNN_WEIGHTS / f"{name}.pt"
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert re.search(rf"`{name}\.pt` \| {path.stat().st_size} \| `{digest}`", readme), name
        relative = path.relative_to(ROOT / "cnn_course").as_posix()
        assert any(fnmatch.fnmatch(relative, g) for g in globs), f"{relative} is not package data ({globs})"
    assert any(fnmatch.fnmatch("weights/mtcnn/README.md", g) for g in globs), "the licence must ship with the weights"
    total = sum((mtcnn.MTCNN_WEIGHTS / f"{n}.pt").stat().st_size for n in ("pnet", "rnet", "onet"))
    assert total < 2.5e6


def test_state_dict_keys_match_the_files(model):
    for name in ("pnet", "rnet", "onet"):
        state = torch.load(mtcnn.MTCNN_WEIGHTS / f"{name}.pt", map_location="cpu", weights_only=True)
        ours = getattr(model, name).state_dict()
        assert list(ours) == list(state), name
        for key, value in state.items():
            assert torch.equal(ours[key], value), f"{name}.{key}"
    assert not model.training


@pytest.mark.parametrize("H, W", [(12, 12), (13, 20), (40, 31)])
def test_network_output_shapes(model, H, W):
    prob, reg = model.pnet(torch.zeros(2, 3, H, W))
    h, w = -(-(H - 2) // 2) - 4, -(-(W - 2) // 2) - 4  # conv 3, pool 2 (ceil), conv 3, conv 3
    assert prob.shape == (2, h, w) and reg.shape == (2, 4, h, w)
    assert ((prob >= 0) & (prob <= 1)).all()
    prob, reg = model.rnet(torch.zeros(5, 3, 24, 24))
    assert prob.shape == (5,) and reg.shape == (5, 4)
    prob, reg, marks = model.onet(torch.zeros(3, 3, 48, 48))
    assert prob.shape == (3,) and reg.shape == (3, 4) and marks.shape == (3, 10)


def test_load_mtcnn_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="facenet-pytorch 2.6.0"):
        mtcnn.load_mtcnn(folder=tmp_path)
    for name in ("pnet", "rnet", "onet"):
        (tmp_path / f"{name}.pt").write_bytes((mtcnn.MTCNN_WEIGHTS / f"{name}.pt").read_bytes())
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "rnet.pt")
    with pytest.raises(ValueError, match="R-Net state dict"):
        mtcnn.load_mtcnn(folder=tmp_path)


# ---------------------------------------------------------------------- pieces of the cascade


def test_pyramid_scales():
    scales = mtcnn._pyramid_scales(100, 200, 20.0, 0.5)
    assert scales == pytest.approx([0.6, 0.3, 0.15])  # 100·0.15 = 15 >= 12; 100·0.075 < 12
    assert mtcnn._pyramid_scales(30, 30, 40.0, 0.709) == []  # 30·(12/40) = 9 < 12: faces that big cannot fit


def test_regress_and_square():
    boxes = torch.tensor([[10.0, 20.0, 30.0, 60.0]])  # w = 20, h = 40
    reg = torch.tensor([[0.1, -0.25, 0.5, 0.0]])
    torch.testing.assert_close(mtcnn._regress(boxes, reg), torch.tensor([[12.0, 10.0, 40.0, 60.0]]))
    torch.testing.assert_close(mtcnn._square(boxes), torch.tensor([[0.0, 20.0, 40.0, 60.0]]))


def test_crops_pad_with_black_and_resize():
    img = torch.arange(3 * 6 * 8, dtype=torch.float32).reshape(1, 3, 6, 8) + 1
    same = mtcnn._crops(img, torch.tensor([[2.0, 1.0, 6.0, 5.0]]), 4)
    torch.testing.assert_close(same[0], img[0, :, 1:5, 2:6])
    outside = mtcnn._crops(img, torch.tensor([[-2.0, -2.0, 2.0, 2.0]]), 4)
    assert (outside[0, :, :2, :] == 0).all() and (outside[0, :, :, :2] == 0).all()
    torch.testing.assert_close(outside[0, :, 2:, 2:], img[0, :, :2, :2])
    halved = mtcnn._crops(img, torch.tensor([[0.0, 0.0, 4.0, 4.0]]), 2)  # area averaging of 2×2 blocks
    torch.testing.assert_close(halved[0, 0, 0, 0], img[0, 0, :2, :2].mean())


# ---------------------------------------------------------------------- real photos


def test_astronaut_one_face(model):
    image = data.sample_image("astronaut")
    faces = mtcnn.detect_faces(image, model=model)
    assert isinstance(faces, mtcnn.Faces)
    assert faces.boxes.shape == (1, 4) and faces.probs.shape == (1,) and faces.landmarks.shape == (1, 5, 2)
    assert faces.boxes.dtype == faces.probs.dtype == faces.landmarks.dtype == np.float32
    assert faces.probs[0] > 0.99
    x1, y1, x2, y2 = faces.boxes[0]
    # Eileen Collins's face in the 512×512 photo: about x 180..265, y 60..175 (checked by eye)
    assert ref.box_iou(faces.boxes.astype(np.float64), np.array([[180.0, 60.0, 265.0, 175.0]]))[0, 0] > 0.7
    (lx, ly), (rx, ry), (nx, ny), (mlx, mly), (mrx, mry) = faces.landmarks[0]
    assert lx < nx < rx and mlx < mrx, "left eye, nose, right eye from left to right"
    assert max(ly, ry) < ny < min(mly, mry), "eyes above the nose above the mouth"
    assert (x1 <= faces.landmarks[0, :, 0]).all() and (faces.landmarks[0, :, 0] <= x2).all()
    assert (y1 <= faces.landmarks[0, :, 1]).all() and (faces.landmarks[0, :, 1] <= y2).all()
    # the same photo as uint8 pixels, and as the grey luminance: the same face
    as_uint8 = mtcnn.detect_faces(np.round(image * 255).astype(np.uint8), model=model)
    np.testing.assert_allclose(as_uint8.boxes, faces.boxes, atol=0.5)
    grey = mtcnn.detect_faces(data.sample_image("astronaut", gray=True), model=model)
    assert len(grey.boxes) == 1 and ref.box_iou(grey.boxes.astype(float), faces.boxes.astype(float))[0, 0] > 0.8
    crops = mtcnn.crop_faces(image, faces.boxes, size=32, margin=0.2)
    assert crops.shape == (1, 32, 32, 3) and crops.dtype == np.float32 and 0 <= crops.min() and crops.max() <= 1


def test_solvay_faces_are_found(model):
    image, boxes, is_face = data.load_solvay_faces()
    faces = mtcnn.detect_faces(image, model=model)  # the default settings
    iou = ref.box_iou(boxes, faces.boxes.astype(np.float64))  # (30 reference, K detections)
    matched = int((iou[is_face].max(axis=1) >= 0.3).sum())
    false_positives = int((iou.max(axis=0) < 0.3).sum())
    # measured here: all 29 real faces matched (IoU 0.53..0.81), no other detection, the pillar box not matched
    assert matched >= 28, f"only {matched} of the 29 faces matched at IoU >= 0.3"
    assert false_positives <= 1, f"{false_positives} detections match no reference face"
    assert iou[~is_face].max() < 0.3, "the reference box on the pillar holds no face"
    assert (np.diff(faces.probs) <= 0).all() and (faces.probs > 0.7).all()


def test_other_photos_faces_and_no_faces(model):
    # measured here: one face in each portrait, nothing in the cat, the coffee or the flowers
    for name in ("grace_hopper", "camera"):
        faces = mtcnn.detect_faces(data.sample_image(name), model=model)
        assert len(faces.boxes) == 1 and faces.probs[0] > 0.99, name
    for name in ("chelsea", "coffee", "flower", "brick"):
        assert len(mtcnn.detect_faces(data.sample_image(name), model=model).boxes) == 0, name


def test_lfw_subset_faces_vs_non_faces(model):
    import skimage.data

    crops = skimage.data.lfw_subset()  # 100 faces then 100 non-faces, 25×25 grey in [0, 1]
    found = np.array([len(mtcnn.detect_faces(c, min_face_size=12, model=model).boxes) > 0 for c in crops])
    # measured here: 96 of the 100 faces, none of the 100 non-faces
    assert found[:100].sum() >= 90 and found[100:].sum() <= 2, (found[:100].sum(), found[100:].sum())


def test_detect_faces_nothing_and_bad_input(model):
    blank = np.full((64, 80, 3), 0.5, np.float32)
    faces = mtcnn.detect_faces(blank, model=model)
    assert faces.boxes.shape == (0, 4) and faces.probs.shape == (0,) and faces.landmarks.shape == (0, 5, 2)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        mtcnn.detect_faces(blank * 255, model=model)
    with pytest.raises(ValueError, match="at least 12×12"):
        mtcnn.detect_faces(np.zeros((10, 40, 3), np.uint8), model=model)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        mtcnn.detect_faces(np.zeros((20, 20, 2), np.uint8), model=model)
    with pytest.raises(ValueError, match="three probabilities"):
        mtcnn.detect_faces(blank, thresholds=(0.6, 0.7), model=model)
    with pytest.raises(ValueError, match="min_face_size"):
        mtcnn.detect_faces(blank, min_face_size=5, model=model)
    with pytest.raises(ValueError, match="factor"):
        mtcnn.detect_faces(blank, factor=1.2, model=model)
    with pytest.raises(TypeError, match="uint8"):
        mtcnn.detect_faces(np.zeros((20, 20, 3), np.int32), model=model)


def test_exports():
    for name in ("PNet", "RNet", "ONet", "MTCNN", "load_mtcnn", "detect_faces", "crop_faces", "Faces"):
        assert getattr(pt, name) is getattr(mtcnn, name)


def test_face_candidates_are_the_boxes_before_the_last_suppressions(model):
    """On the Solvay photo: many overlapping scored boxes, sorted; NMS over the confident ones
    gives back every detection of detect_faces and every reference face."""
    image, boxes, is_face = data.load_solvay_faces()
    found = mtcnn.detect_faces(image, model=model)
    b, p, labels = mtcnn.face_candidates(image, model=model)
    assert b.shape == (len(p), 4) and labels.dtype == np.int64 and not labels.any()
    assert len(b) > 3 * len(found.boxes) and np.all(np.diff(p) <= 0) and p.min() > 0.05
    overlap = ref.box_iou(b.astype(np.float64), b.astype(np.float64))
    np.fill_diagonal(overlap, 0)
    assert np.mean(overlap.max(axis=1) > 0.5) > 0.9  # several boxes per face
    confident = p > 0.7
    kept = b[confident][ref.nms(b[confident].astype(np.float64), p[confident].astype(np.float64), 0.7)]
    assert ref.box_iou(found.boxes.astype(np.float64), kept.astype(np.float64)).max(axis=1).min() > 0.9
    assert ref.box_iou(boxes[is_face], kept.astype(np.float64)).max(axis=1).min() >= 0.3
