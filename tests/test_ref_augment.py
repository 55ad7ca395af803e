"""cnn_course.ref.augment: shapes, ranges, determinism, geometry and AlexNet's PCA colour shift."""

import numpy as np
import pytest
from scipy import ndimage

from cnn_course import ref


@pytest.fixture
def rgb(rng):
    return rng.random((9, 12, 3))


@pytest.fixture
def grey(rng):
    return rng.random((10, 7)).astype(np.float32)


def _random_steps():
    return [
        (ref.mirror, {}),
        (ref.random_crop, {"size": (6, 5), "pad": 2}),
        (ref.rotate, {"max_degrees": 20}),
        (ref.shear, {"max_shear": 0.3}),
        (ref.color_shift, {"max_shift": 0.2}),
    ]


@pytest.mark.parametrize("image_name", ["rgb", "grey"])
def test_shapes_ranges_dtype_and_purity(request, image_name):
    image = request.getfixturevalue(image_name)
    before = image.copy()
    for fn, kwargs in _random_steps():
        out = fn(image, np.random.default_rng(3), **kwargs)
        expected = ((6, 5) if fn is ref.random_crop else image.shape[:2]) + image.shape[2:]
        assert out.shape == expected, f"{fn.__name__}: shape {out.shape}, expected {expected}"
        assert out.dtype == image.dtype, f"{fn.__name__}: dtype {out.dtype}, expected {image.dtype}"
        assert out.min() >= 0 and out.max() <= 1, f"{fn.__name__}: values outside [0, 1]"
        assert not np.shares_memory(out, image), f"{fn.__name__} returned a view of its input"
        np.testing.assert_array_equal(image, before, err_msg=f"{fn.__name__} modified its input")


def test_same_seed_same_output_other_seed_other_output(rgb):
    eig = ref.pca_color_fit(rgb)
    steps = _random_steps() + [(ref.pca_color, {"eigvals": eig[0], "eigvecs": eig[1]})]
    for fn, kwargs in steps:
        a = fn(rgb, np.random.default_rng(7), **kwargs)
        b = fn(rgb, np.random.default_rng(7), **kwargs)
        np.testing.assert_array_equal(a, b, err_msg=fn.__name__)
        outs = [fn(rgb, np.random.default_rng(s), **kwargs) for s in range(8)]
        assert any(not np.array_equal(outs[0], o) for o in outs[1:]), f"{fn.__name__} ignores its rng"
    steps = [("mirror", {}), ("random_crop", {"size": 8, "pad": 1}), ("color_shift", {"max_shift": 0.1})]
    np.testing.assert_array_equal(ref.augment(rgb, np.random.default_rng(1), steps), ref.augment(rgb, np.random.default_rng(1), steps))


def test_mirror_flips_the_width_axis(rgb, grey):
    np.testing.assert_array_equal(ref.mirror(rgb), rgb[:, ::-1])
    np.testing.assert_array_equal(ref.mirror(grey)[:, 0], grey[:, -1])
    np.testing.assert_array_equal(ref.mirror(ref.mirror(rgb)), rgb)
    flips = [not np.array_equal(ref.mirror(rgb, np.random.default_rng(s)), rgb) for s in range(200)]
    assert 70 < sum(flips) < 130, f"p=0.5 flipped {sum(flips)} of 200"
    assert all(np.array_equal(ref.mirror(rgb, np.random.default_rng(s), p=0.0), rgb) for s in range(20))
    assert all(np.array_equal(ref.mirror(rgb, np.random.default_rng(s), p=1.0), rgb[:, ::-1]) for s in range(20))
    rng = np.random.default_rng(5)
    flip = rng.random() < 0.5  # the documented decision
    np.testing.assert_array_equal(ref.mirror(rgb, np.random.default_rng(5)), rgb[:, ::-1] if flip else rgb)


def test_crop_lies_inside_the_padded_image(rng, rgb):
    H, W = rgb.shape[:2]
    pad, (h, w) = 2, (6, 5)
    padded = np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)))
    seen = set()
    for seed in range(60):
        r = np.random.default_rng(seed)
        top, left = int(r.integers(0, H + 2 * pad - h + 1)), int(r.integers(0, W + 2 * pad - w + 1))
        out = ref.random_crop(rgb, np.random.default_rng(seed), (h, w), pad)
        np.testing.assert_array_equal(out, padded[top : top + h, left : left + w])
        seen.add((top, left))
    assert len(seen) > 20
    # the extreme windows: top-left corner of the padding, bottom-right corner
    np.testing.assert_array_equal(ref.crop(rgb, 0, 0, (h, w), pad), padded[:h, :w])
    np.testing.assert_array_equal(ref.crop(rgb, H + 2 * pad - h, W + 2 * pad - w, (h, w), pad), padded[-h:, -w:])
    np.testing.assert_array_equal(ref.random_crop(rgb, rng, (H, W)), rgb)  # nothing to choose


def test_rotate_and_shear_geometry(rng):
    square = rng.random((7, 7))
    np.testing.assert_allclose(ref.rotate_by(square, 90), np.rot90(square), atol=1e-12)  # anticlockwise
    np.testing.assert_allclose(ref.rotate_by(square, 0), square, atol=1e-12)
    np.testing.assert_allclose(ref.rotate_by(square, 33), np.clip(ndimage.rotate(square, 33, reshape=False, order=1), 0, 1), atol=1e-12)
    np.testing.assert_allclose(ref.rotate(square, rng, 0), square, atol=1e-12)
    np.testing.assert_allclose(ref.shear_by(square, 0.0), square, atol=1e-12)
    # shear 1 about the centre row 3: row r moves right by 3 - r
    sheared = ref.shear_by(square, 1.0)
    np.testing.assert_allclose(sheared[3], square[3], atol=1e-12)
    np.testing.assert_allclose(sheared[1, 2:], square[1, :-2], atol=1e-12)
    np.testing.assert_allclose(sheared[1, :2], 0, atol=1e-12)
    np.testing.assert_allclose(sheared[5, :-2], square[5, 2:], atol=1e-12)
    rgb = rng.random((6, 8, 3))
    for fn, arg in ((ref.rotate_by, 25), (ref.shear_by, 0.4)):  # colour: each channel like a grey image
        out = fn(rgb, arg)
        for c in range(3):
            np.testing.assert_allclose(out[..., c], fn(rgb[..., c], arg), atol=1e-12)


def test_color_shift(rgb, grey):
    mid = np.full((4, 5, 3), 0.5)
    m = 0.2
    out = ref.color_shift(mid, np.random.default_rng(2), m)
    expected = np.random.default_rng(2).uniform(-m, m, size=3)  # the documented draw
    np.testing.assert_allclose(out, np.broadcast_to(0.5 + expected, mid.shape), atol=1e-12)
    np.testing.assert_allclose(ref.shift_color(rgb, [1.0, -1.0, 0.0]), np.stack([np.ones((9, 12)), np.zeros((9, 12)), rgb[..., 2]], -1))
    g = ref.color_shift(grey, np.random.default_rng(4), 0.1)
    d = g - grey
    inside = (g > 0) & (g < 1)
    assert np.ptp(d[inside]) < 1e-6, "a grey image gets one shift for all its pixels"


def test_pca_shift_lies_along_the_principal_axes(rng):
    # colours that vary mostly along (1, 1, 1)/√3 and a little along (1, -1, 0)/√2
    t = rng.normal(size=(500, 1))
    u = rng.normal(size=(500, 1))
    pixels = 0.5 + 0.08 * t * np.array([1, 1, 1]) / np.sqrt(3) + 0.02 * u * np.array([1, -1, 0]) / np.sqrt(2)
    images = pixels.reshape(5, 10, 10, 3)
    eigvals, eigvecs = ref.pca_color_fit(images)
    assert eigvals.shape == (3,) and eigvecs.shape == (3, 3)
    assert eigvals[0] >= eigvals[1] >= eigvals[2] >= 0
    np.testing.assert_allclose(eigvecs.T @ eigvecs, np.eye(3), atol=1e-12)
    assert abs(abs(eigvecs[:, 0] @ np.ones(3)) / np.sqrt(3) - 1) < 1e-2, "first axis is the grey direction"
    np.testing.assert_allclose(eigvals, np.linalg.eigvalsh(np.cov(pixels, rowvar=False))[::-1], rtol=1e-10, atol=1e-15)
    image = np.full((4, 4, 3), 0.5)
    sigma = 0.1
    out = ref.pca_color(image, np.random.default_rng(9), eigvals, eigvecs, sigma=sigma)
    alphas = np.random.default_rng(9).normal(0.0, sigma, size=3)  # the documented draw
    shift = out[0, 0] - 0.5
    np.testing.assert_allclose(out, image + shift, atol=1e-12)  # the same shift at every pixel
    np.testing.assert_allclose(shift, sum(alphas[i] * eigvals[i] * eigvecs[:, i] for i in range(3)), atol=1e-12)
    np.testing.assert_allclose(eigvecs.T @ shift, alphas * eigvals, atol=1e-12)  # coordinates along the axes
    np.testing.assert_allclose(ref.pca_shift(eigvals, eigvecs, [1, 0, 0]), eigvals[0] * eigvecs[:, 0])
    # clipping only when asked
    big = ref.pca_color(image, np.random.default_rng(9), eigvals * 1e4, eigvecs, clip=False)
    assert big.min() < 0 or big.max() > 1
    assert 0 <= ref.pca_color(image, np.random.default_rng(9), eigvals * 1e4, eigvecs).min()


def test_augment_composes_in_order(rgb):
    steps = [("mirror", {"p": 1.0}), (ref.random_crop, {"size": 5})]
    rng = np.random.default_rng(11)
    expected = ref.random_crop(ref.mirror(rgb, rng, p=1.0), rng, 5)
    np.testing.assert_array_equal(ref.augment(rgb, np.random.default_rng(11), steps), expected)
    out = ref.augment(rgb, rng, [])
    np.testing.assert_array_equal(out, rgb)
    assert not np.shares_memory(out, rgb)


# ---------------------------------------------------------------------------- bad inputs


def test_bad_images(rng):
    with pytest.raises(ValueError, match=r"uint8.*/ 255"):
        ref.mirror(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match=r"\[0, 1\].*max 255"):
        ref.color_shift(np.full((4, 4), 255.0), rng, 0.1)
    with pytest.raises(ValueError, match=r"\(H, W\) or \(H, W, C\).*\(2, 4, 4, 3\)"):
        ref.rotate(np.zeros((2, 4, 4, 3)), rng, 10)
    with pytest.raises(ValueError, match="NumPy array"):
        ref.mirror([[0.0, 1.0]])
    with pytest.raises(ValueError, match="non-finite"):
        ref.shear(np.array([[0.5, np.nan]]), rng, 0.1)
    with pytest.raises(ValueError, match=r"RGB image \(H, W, 3\)"):
        ref.pca_color(np.zeros((4, 4)), rng, np.ones(3), np.eye(3))


def test_bad_arguments(rng):
    image = rng.random((6, 6, 3))
    with pytest.raises(ValueError, match="np.random.Generator"):
        ref.random_crop(image, 0, 4)
    with pytest.raises(ValueError, match="np.random.Generator"):
        ref.color_shift(image, np.random.RandomState(0), 0.1)
    with pytest.raises(ValueError, match=r"size \(9, 9\).*8x8"):
        ref.random_crop(image, rng, 9, pad=1)
    with pytest.raises(ValueError, match=r"does not fit.*8x8"):
        ref.crop(image, 3, 0, 6, pad=1)
    with pytest.raises(ValueError, match="pad"):
        ref.random_crop(image, rng, 4, pad=-1)
    with pytest.raises(ValueError, match="size"):
        ref.random_crop(image, rng, (4, 4, 4))
    with pytest.raises(ValueError, match="max_degrees"):
        ref.rotate(image, rng, -5)
    with pytest.raises(ValueError, match="p must be a probability"):
        ref.mirror(image, rng, p=1.5)
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        ref.shift_color(image, [0.1, 0.2])
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        ref.pca_color_fit(rng.random((4, 4)))
    with pytest.raises(ValueError, match=r"eigvecs must have shape \(3, 3\)"):
        ref.pca_color(image, rng, np.ones(3), np.eye(2))
    with pytest.raises(ValueError, match=r"unknown transform 'flip'.*mirror"):
        ref.augment(image, rng, [("flip", {})])
    with pytest.raises(ValueError, match=r"steps\[0\]"):
        ref.augment(image, rng, ["mirror"])
