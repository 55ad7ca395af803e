"""cnn_course.data: bundled images, digits split, and the two Debian-file parsers.

The parsers are exercised on tiny synthetic files written into tmp_path; the real
Fashion-MNIST (Debian `dataset-fashion-mnist`, installed by `python3 run.py test` when
missing) is checked once as the notebooks load it.
"""

import gzip
import socket
import struct

import numpy as np
import pytest
from PIL import Image

from cnn_course import data

COLOUR = {"astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "china", "flower", "grace_hopper"}


@pytest.fixture
def no_network(monkeypatch):
    """Fail loudly if anything tries to open a connection."""
    def refuse(*args, **kwargs):
        raise AssertionError("cnn_course.data tried to use the network")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_every_sample_image_loads_offline(no_network):
    names = data.list_sample_images()
    assert set(names) == COLOUR | {"camera", "brick", "grass", "gravel", "coins", "checkerboard"}
    for name in names:
        img = data.sample_image(name)
        assert img.dtype == np.float32 and img.flags.c_contiguous, name
        assert 0.0 <= img.min() and img.max() <= 1.0 and img.max() > 0.5, name
        if name in COLOUR:
            assert img.ndim == 3 and img.shape[2] == 3, (name, img.shape)
            gray = data.sample_image(name, gray=True)
            assert gray.shape == img.shape[:2] and gray.dtype == np.float32, name
            assert 0.0 <= gray.min() and gray.max() <= 1.0, name
        else:
            assert img.ndim == 2, (name, img.shape)
            np.testing.assert_array_equal(data.sample_image(name, gray=True), img)


def test_sample_image_unknown_name():
    with pytest.raises(ValueError, match="unknown sample image 'cells3d'.*astronaut"):
        data.sample_image("cells3d")


def test_load_digits_split():
    x, y, xt, yt = data.load_digits()
    assert x.shape == (1437, 1, 8, 8) and xt.shape == (360, 1, 8, 8)
    assert x.dtype == xt.dtype == np.float32 and y.dtype == yt.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    # stratified: every digit's share of the test set matches its share overall (±1 image)
    counts = np.bincount(np.concatenate([y, yt]), minlength=10)
    assert np.all(np.abs(np.bincount(yt, minlength=10) - 0.2 * counts) <= 1)
    # deterministic for a seed, different across seeds
    again = data.load_digits()
    for a, b in zip((x, y, xt, yt), again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(data.load_digits(seed=1)[1], y)
    assert data.load_digits(test_fraction=0.5)[2].shape[0] == 899


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.1, "0.2"])
def test_load_digits_bad_fraction(bad):
    with pytest.raises(ValueError, match="test_fraction must be a number strictly between 0 and 1"):
        data.load_digits(test_fraction=bad)


# ----------------------------------------------------------------------- Fashion-MNIST

def write_idx(path, array, compress=True):
    """Write an unsigned-byte IDX file (the MNIST format)."""
    array = np.asarray(array, dtype=np.uint8)
    payload = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    payload += struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    opener = gzip.open if compress else open
    with opener(path, "wb") as fh:
        fh.write(payload)


def write_fake_fashion_mnist(root, n_train=12, n_test=5, compress=True, seed=0):
    g = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = g.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = g.integers(0, 10, size=n, dtype=np.uint8)
        suffix = ".gz" if compress else ""
        write_idx(root / f"{split}-images-idx3-ubyte{suffix}", images, compress)
        write_idx(root / f"{split}-labels-idx1-ubyte{suffix}", labels, compress)
        arrays[split] = (images, labels)
    return arrays


@pytest.mark.parametrize("compress", [True, False])
def test_fashion_mnist_reads_idx_files(tmp_path, compress):
    truth = write_fake_fashion_mnist(tmp_path, compress=compress)
    x, y, xt, yt = data.load_fashion_mnist(tmp_path)
    assert x.shape == (12, 1, 28, 28) and xt.shape == (5, 1, 28, 28)
    assert x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(x[:, 0], truth["train"][0].astype(np.float32) / 255)
    np.testing.assert_array_equal(yt, truth["t10k"][1])
    assert len(data.FASHION_MNIST_CLASSES) == 10


def test_fashion_mnist_env_var(tmp_path, monkeypatch):
    write_fake_fashion_mnist(tmp_path, n_train=3, n_test=2)
    monkeypatch.setenv("CNN_COURSE_FASHION_MNIST", str(tmp_path))
    assert data.load_fashion_mnist()[0].shape == (3, 1, 28, 28)


def test_fashion_mnist_missing_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_COURSE_FASHION_MNIST", str(tmp_path))  # an empty folder
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist") as err:
        data.load_fashion_mnist()
    assert "CNN_COURSE_FASHION_MNIST" in str(err.value) and str(tmp_path) in str(err.value)


def test_read_idx_rejects_broken_files(tmp_path):
    bad = tmp_path / "bad.gz"
    with gzip.open(bad, "wb") as fh:
        fh.write(b"\x08\x03\x00\x00junk")
    with pytest.raises(ValueError, match="not an IDX file"):
        data.read_idx(bad)
    short = tmp_path / "short-ubyte"
    short.write_bytes(struct.pack(">BBBBI", 0, 0, 0x08, 1, 10) + b"\x01\x02")
    with pytest.raises(ValueError, match=r"header says shape \(10,\).*holds 2 bytes"):
        data.read_idx(short)


# ----------------------------------------------------------------------- OpenCV digits

def make_sheet(rows=10, cols=5, cell=20, seed=0):
    """A sheet like OpenCV's digits.png: rows*cols random cells, digits in blocks of rows."""
    cells = np.random.default_rng(seed).integers(0, 256, size=(rows * cols, cell, cell), dtype=np.uint8)
    sheet = np.zeros((rows * cell, cols * cell), np.uint8)
    for k, c in enumerate(cells):
        r, q = divmod(k, cols)
        sheet[r * cell:(r + 1) * cell, q * cell:(q + 1) * cell] = c
    labels = np.repeat(np.arange(10), rows * cols // 10)
    return sheet, cells, labels


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_opencv_digits_cuts_and_labels_the_sheet(tmp_path, mode):
    sheet, cells, labels = make_sheet()
    path = tmp_path / "digits.png"
    Image.fromarray(sheet).convert(mode).save(path)
    x, y, xt, yt = data.load_opencv_digits(path)
    assert x.shape == (40, 1, 20, 20) and xt.shape == (10, 1, 20, 20)
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert np.array_equal(np.bincount(yt, minlength=10), np.ones(10)), "stratified: one test image per digit"
    truth = {c.tobytes(): int(label) for c, label in zip(cells, labels)}
    for img, label in zip(np.concatenate([x, xt]), np.concatenate([y, yt])):
        key = np.rint(img[0] * 255).astype(np.uint8).tobytes()
        assert truth.get(key) == label, "a cell was cut or labelled wrongly"


def test_opencv_digits_env_var_and_missing_file(tmp_path, monkeypatch):
    sheet, _, _ = make_sheet(rows=20, cols=2)
    path = tmp_path / "sheet.png"
    Image.fromarray(sheet).save(path)
    monkeypatch.setenv("CNN_COURSE_OPENCV_DIGITS", str(path))
    assert data.load_opencv_digits(test_fraction=0.5)[0].shape == (20, 1, 20, 20)
    monkeypatch.setenv("CNN_COURSE_OPENCV_DIGITS", str(tmp_path / "absent.png"))
    with pytest.raises(FileNotFoundError, match="apt-get install opencv-doc") as err:
        data.load_opencv_digits()
    assert "CNN_COURSE_OPENCV_DIGITS" in str(err.value)


def test_opencv_digits_rejects_a_wrong_sheet(tmp_path):
    path = tmp_path / "odd.png"
    Image.fromarray(np.zeros((50, 40), np.uint8)).save(path)
    with pytest.raises(ValueError, match=r"20×20 cells .* got an image of 50×40"):
        data.load_opencv_digits(path)


def test_real_fashion_mnist_is_installed_and_sane(monkeypatch):
    """Notebooks 02 and 03 train on it; `python3 run.py test` installs the Debian package."""
    monkeypatch.delenv("CNN_COURSE_FASHION_MNIST", raising=False)
    x, y, xt, yt = data.load_fashion_mnist()
    assert x.shape == (60000, 1, 28, 28) and xt.shape == (10000, 1, 28, 28)
    assert x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
    assert np.array_equal(np.bincount(y), np.full(10, 6000))
    assert np.array_equal(np.bincount(yt), np.full(10, 1000))
