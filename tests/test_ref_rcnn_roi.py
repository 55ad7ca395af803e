"""cnn_course.ref RoI pooling and RoIAlign against straightforward loops written from
torchvision's CPU kernels (roi_pool_kernel.cpp, roi_align_kernel.cpp, roi_align_common.h),
hand cases, numerical gradients and bad input."""

import math

import numpy as np
import pytest

from cnn_course import ref
from cnn_course.ref import rcnn

FLT_MAX = float(np.finfo(np.float32).max)

# ---------------------------------------------------------------------- independent loops


def c_round(x):
    """C's round(): half away from zero."""
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def roi_pool_loops(features, rois, oh, ow, scale):
    """The kernel, one output at a time, in Python floats (float64 inputs)."""
    N, C, H, W = features.shape
    out = np.zeros((len(rois), C, oh, ow))
    argmax = np.full((len(rois), C, oh, ow), -1)
    for n, roi in enumerate(rois):
        b = int(roi[0])
        sw, sh, ew, eh = (c_round(float(roi[i]) * scale) for i in (1, 2, 3, 4))
        rw, rh = max(ew - sw + 1, 1), max(eh - sh + 1, 1)
        bh, bw = rh / oh, rw / ow
        for ph in range(oh):
            for pw in range(ow):
                hstart = min(max(math.floor(ph * bh) + sh, 0), H)
                hend = min(max(math.ceil((ph + 1) * bh) + sh, 0), H)
                wstart = min(max(math.floor(pw * bw) + sw, 0), W)
                wend = min(max(math.ceil((pw + 1) * bw) + sw, 0), W)
                empty = hend <= hstart or wend <= wstart
                for c in range(C):
                    best, idx = (0.0 if empty else -FLT_MAX), -1
                    for h in range(hstart, hend):
                        for w in range(wstart, wend):
                            if features[b, c, h, w] > best:
                                best, idx = features[b, c, h, w], h * W + w
                    out[n, c, ph, pw], argmax[n, c, ph, pw] = best, idx
    return out, argmax


def bilinear_loops(img, H, W, y, x):
    """Value and the four (index, weight) pairs of one sample (roi_align_common.h)."""
    if not (-1.0 <= y <= H and -1.0 <= x <= W):
        return []
    y, x = max(y, 0.0), max(x, 0.0)
    yl, xl = int(y), int(x)
    if yl >= H - 1:
        yh = yl = H - 1
        y = float(yl)
    else:
        yh = yl + 1
    if xl >= W - 1:
        xh = xl = W - 1
        x = float(xl)
    else:
        xh = xl + 1
    ly, lx = y - yl, x - xl
    hy, hx = 1 - ly, 1 - lx
    return [(yl, xl, hy * hx), (yl, xh, hy * lx), (yh, xl, ly * hx), (yh, xh, ly * lx)]


def roi_align_loops(features, rois, oh, ow, scale, sampling_ratio, aligned, dout=None):
    """The kernel, sample by sample: the output, and with ``dout`` the gradient of the features."""
    N, C, H, W = features.shape
    out = np.zeros((len(rois), C, oh, ow))
    grad = np.zeros(features.shape)
    for n, roi in enumerate(rois):
        b = int(roi[0])
        off = 0.5 if aligned else 0.0
        sw, sh, ew, eh = (float(roi[i]) * scale - off for i in (1, 2, 3, 4))
        rw, rh = ew - sw, eh - sh
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bh, bw = rh / oh, rw / ow
        gh = sampling_ratio if sampling_ratio > 0 else math.ceil(rh / oh)
        gw = sampling_ratio if sampling_ratio > 0 else math.ceil(rw / ow)
        count = max(gh * gw, 1)
        for ph in range(oh):
            for pw in range(ow):
                for iy in range(gh):
                    y = sh + ph * bh + (iy + 0.5) * bh / gh
                    for ix in range(gw):
                        x = sw + pw * bw + (ix + 0.5) * bw / gw
                        for yy, xx, wgt in bilinear_loops(None, H, W, y, x):
                            out[n, :, ph, pw] += wgt * features[b, :, yy, xx] / count
                            if dout is not None:
                                grad[b, :, yy, xx] += wgt * dout[n, :, ph, pw] / count
    return out, grad


def random_rois(g, K, N, H_img, W_img, margin=0.3):
    """K regions, some partly outside the image, some tiny."""
    x1 = g.uniform(-margin * W_img, W_img, K)
    y1 = g.uniform(-margin * H_img, H_img, K)
    w = g.uniform(0, 0.8 * W_img, K) * (g.random(K) < 0.85)  # 15% degenerate widths
    h = g.uniform(0, 0.8 * H_img, K)
    return np.stack([g.integers(0, N, K), x1, y1, x1 + w, y1 + h], axis=1)


# ---------------------------------------------------------------------- RoI pooling


@pytest.mark.parametrize("seed", range(6))
def test_roi_pool_matches_the_kernel_loops(seed):
    g = np.random.default_rng(seed)
    N, C, H, W = int(g.integers(1, 3)), int(g.integers(1, 4)), int(g.integers(1, 12)), int(g.integers(1, 12))
    scale = [1.0, 0.5, 1 / 16, 0.25, 1 / 3, 2.0][seed]
    x = g.normal(size=(N, C, H, W))
    if seed % 2:
        x = np.round(x)  # many ties: the first maximum (row-major) must win
    rois = random_rois(g, 12, N, H / scale, W / scale)
    oh, ow = int(g.integers(1, 5)), int(g.integers(1, 5))
    out, cache = rcnn.roi_pool_forward(x, rois, (oh, ow), scale)
    expected, argmax = roi_pool_loops(x, rois, oh, ow, scale)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(cache[3], argmax)
    dout = g.normal(size=out.shape)
    dx = rcnn.roi_pool_backward(dout, cache)
    dx_loop = np.zeros(x.shape)
    for k in range(len(rois)):
        for c in range(C):
            for p in range(oh):
                for q in range(ow):
                    a = argmax[k, c, p, q]
                    if a >= 0:
                        dx_loop[int(rois[k, 0]), c, a // W, a % W] += dout[k, c, p, q]
    np.testing.assert_allclose(dx, dx_loop, rtol=1e-12, atol=1e-12)


def test_roi_pool_hand_cases():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    # the whole 4x4 map into 2x2: corners 0..3 inclusive, bins of 2 pixels
    out = ref.roi_pool(x, np.array([[0, 0, 0, 3, 3.0]]), 2)
    np.testing.assert_array_equal(out[0, 0], [[5, 7], [13, 15]])
    # x2 = 3 is pixel 3 *inclusive*: a region 0..3 is 4 pixels wide (the +1)
    assert ref.roi_pool(x, np.array([[0, 0, 0, 3, 0.0]]), (1, 4))[0, 0].tolist() == [[0, 1, 2, 3]]
    # rounding half away from zero, after the spatial scale: 1.5 * 1 -> 2, and 0.49 -> 0
    assert ref.roi_pool(x, np.array([[0, 1.5, 0, 1.5, 0.0]]), 1)[0, 0, 0, 0] == 2
    assert ref.roi_pool(x, np.array([[0, 0.49, 0, 0.49, 0.0]]), 1)[0, 0, 0, 0] == 0
    # spatial scale 1/16: image pixels 16..31 are feature pixel 1..2 (round(31/16) = 2)
    out = ref.roi_pool(x, np.array([[0, 16, 16, 31, 31.0]]), 1, 1 / 16)
    assert out[0, 0, 0, 0] == 10  # max of rows 1..2, cols 1..2
    # 3 pixels into 2 bins: bins [0, 2) and [1, 3) overlap (floor / ceil)
    out = ref.roi_pool(np.array([[[[5.0, 1.0, 2.0]]]]), np.array([[0, 0, 0, 2, 0.0]]), (1, 2))
    assert out[0, 0, 0].tolist() == [5.0, 2.0]
    # a region entirely outside the map: every bin is empty -> 0, and no gradient
    out, cache = rcnn.roi_pool_forward(x, np.array([[0, 10, 10, 12, 12.0]]), 2)
    assert (out == 0).all() and (cache[3] == -1).all()
    assert (rcnn.roi_pool_backward(np.ones_like(out), cache) == 0).all()
    # partly outside: the bins are clipped to the map
    out = ref.roi_pool(x, np.array([[0, -2, -2, 1, 1.0]]), 2)
    np.testing.assert_array_equal(out[0, 0], [[0, 0], [0, 5]])  # pixels -2..1: bins [-2, 0) are empty -> 0
    # a second image: the batch index picks it
    x2 = np.concatenate([x, -x], axis=0)
    assert ref.roi_pool(x2, np.array([[1, 0, 0, 3, 3.0]]), 1)[0, 0, 0, 0] == 0
    # on the border: the last row and column are pixel 3; corners past it are clipped
    assert ref.roi_pool(x, np.array([[0, 3, 3, 3, 3.0]]), 1)[0, 0, 0, 0] == 15
    np.testing.assert_array_equal(ref.roi_pool(x, np.array([[0, 2, 2, 5, 5.0]]), 2)[0, 0], [[15, 0], [0, 0]])
    # x1 == x2: a 1-pixel-wide region, never empty inside the map
    assert ref.roi_pool(x, np.array([[0, 2, 1, 2, 1.0]]), 2)[0, 0].tolist() == [[6, 6], [6, 6]]


def test_roi_pool_ties_and_extreme_values():
    x = np.zeros((1, 1, 2, 2))
    out, cache = rcnn.roi_pool_forward(x, np.array([[0, 0, 0, 1, 1.0]]), 1)
    assert cache[3][0, 0, 0, 0] == 0  # the first of four equal values
    x = np.array([[[[np.nan, -np.inf], [-1e300, 3.0]]]])
    assert ref.roi_pool(x, np.array([[0, 0, 0, 1, 1.0]]), 1)[0, 0, 0, 0] == 3.0  # NaN is never picked
    out, cache = rcnn.roi_pool_forward(x, np.array([[0, 0, 0, 1, 0.0]]), 1)
    assert out[0, 0, 0, 0] == -FLT_MAX and cache[3][0, 0, 0, 0] == -1  # nothing above -FLT_MAX


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_roi_pool_gradient_is_numerical(dtype):
    g = np.random.default_rng(1)
    x = g.permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6).astype(dtype) / 10  # distinct: no ties
    rois = np.array([[0, 0, 0, 5, 6], [1, 1.2, 2.7, 4.4, 5.1], [1, -3, -2, 2, 3], [0, 3, 3, 3, 3]], dtype)
    out, cache = rcnn.roi_pool_forward(x, rois, (2, 3), 1.0)
    assert out.dtype == dtype
    dout = g.normal(size=out.shape)
    dx = rcnn.roi_pool_backward(dout, cache)
    assert dx.dtype == dtype
    num = ref.eval_numerical_gradient_array(
        lambda z: rcnn.roi_pool(z, rois.astype(np.float64), (2, 3), 1.0), x.astype(np.float64), dout, h=1e-3)
    np.testing.assert_allclose(dx, num, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------- RoIAlign


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("seed", range(5))
def test_roi_align_matches_the_kernel_loops(seed, aligned):
    g = np.random.default_rng(10 + seed)
    N, C, H, W = int(g.integers(1, 3)), int(g.integers(1, 4)), int(g.integers(1, 10)), int(g.integers(1, 10))
    scale = [1.0, 0.5, 1 / 16, 0.25, 2.0][seed]
    ratio = [-1, 0, 2, 1, 3][seed]
    x = g.normal(size=(N, C, H, W))
    rois = random_rois(g, 10, N, H / scale, W / scale)
    oh, ow = int(g.integers(1, 4)), int(g.integers(1, 4))
    out, cache = rcnn.roi_align_forward(x, rois, (oh, ow), scale, ratio, aligned)
    dout = g.normal(size=out.shape)
    expected, grad = roi_align_loops(x, rois, oh, ow, scale, ratio, aligned, dout)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rcnn.roi_align_backward(dout, cache), grad, rtol=1e-12, atol=1e-12)


def test_roi_align_hand_cases():
    x = np.arange(16.0).reshape(1, 1, 4, 4)  # x[h, w] = 4h + w: bilinear sampling is exact on it
    # aligned: a region from pixel edge 0 to edge 4 has its 2x2 bin centres at 1 - 0.5 = 0.5 and 2.5 ...
    out = ref.roi_align(x, np.array([[0, 0, 0, 4, 4.0]]), 2, 1.0, sampling_ratio=1, aligned=True)
    np.testing.assert_allclose(out[0, 0], [[4 * 0.5 + 0.5, 4 * 0.5 + 2.5], [4 * 2.5 + 0.5, 4 * 2.5 + 2.5]])
    # ... and not aligned the same centres are 1 and 3: half a pixel off
    out = ref.roi_align(x, np.array([[0, 0, 0, 4, 4.0]]), 2, 1.0, sampling_ratio=1, aligned=False)
    np.testing.assert_allclose(out[0, 0], [[5, 7], [13, 15]])
    # adaptive sampling: a 4-pixel region into 2 bins takes ceil(4/2) = 2 samples per axis and bin
    _, cache = rcnn.roi_align_forward(x, np.array([[0, 0, 0, 4, 4.0]]), 2, 1.0, -1, True)
    assert cache[2][0][3] == 4
    # a linear map averaged over a bin is its value at the bin centre, whatever the samples
    for ratio in (1, 2, 3, -1):
        out = ref.roi_align(x, np.array([[0, 0.5, 0.5, 2.5, 2.5]]), 1, 1.0, ratio, aligned=True)
        assert abs(out[0, 0, 0, 0] - (4 * 1 + 1)) < 1e-12
    # not aligned, a degenerate region is grown to 1x1 feature pixel; aligned it stays empty -> 0
    out = ref.roi_align(x, np.array([[0, 1, 1, 1, 1.0]]), 1, 1.0, -1, aligned=False)
    assert out[0, 0, 0, 0] == 4 * 1.5 + 1.5
    assert ref.roi_align(x, np.array([[0, 1, 1, 1, 1.0]]), 1, 1.0, -1, aligned=True)[0, 0, 0, 0] == 0
    # samples beyond -1 or past H / W give 0; between -1 and 0 they read pixel 0
    assert ref.roi_align(x, np.array([[0, -3, -3, -2, -2.0]]), 1, 1.0, 1)[0, 0, 0, 0] == 0
    assert ref.roi_align(x, np.array([[0, -1, -1, 0, 0.0]]), 1, 1.0, 1)[0, 0, 0, 0] == 0  # sample at -0.5 -> pixel 0
    assert ref.roi_align(x, np.array([[0, 3, 3, 4, 4.0]]), 1, 1.0, 1)[0, 0, 0, 0] == 15  # 3.5 -> last pixel
    assert ref.roi_align(x, np.array([[0, 4.5, 0, 5.5, 1.0]]), 1, 1.0, 1)[0, 0, 0, 0] == 0  # x = 5 > W
    # on the border: x = W and y = -1 still count (x reads the last column, y row 0); just past them, 0
    assert ref.roi_align(x, np.array([[0, 3.5, 0, 4.5, 1.0]]), 1, 1.0, 1)[0, 0, 0, 0] == 4 * 0.5 + 3
    assert ref.roi_align(x, np.array([[0, 3.5, 0, 4.5001, 1.0]]), 1, 1.0, 1)[0, 0, 0, 0] == 0
    assert ref.roi_align(x, np.array([[0, 1, -1.5, 2, -0.5]]), 1, 1.0, 1)[0, 0, 0, 0] == 1.5
    assert ref.roi_align(x, np.array([[0, 1, -1.5001, 2, -0.5001]]), 1, 1.0, 1)[0, 0, 0, 0] == 0
    # spatial scale 1/16 and a second image
    x2 = np.concatenate([x, 2 * x])
    out = ref.roi_align(x2, np.array([[1, 16, 16, 48, 48.0]]), 1, 1 / 16, 1, aligned=True)
    assert abs(out[0, 0, 0, 0] - 2 * (4 * 1.5 + 1.5)) < 1e-12


@pytest.mark.parametrize("aligned", [False, True])
def test_roi_align_gradient_is_numerical(aligned):
    g = np.random.default_rng(2)
    x = g.normal(size=(2, 2, 6, 5))
    rois = np.array([[0, 0, 0, 5, 6], [1, 1.2, 2.7, 4.4, 5.1], [1, -3, -2, 2, 3], [0, 3, 3, 3.2, 3.1], [1, 4, 5, 9, 9]])
    out, cache = rcnn.roi_align_forward(x, rois, (3, 2), 1.0, -1, aligned)
    dout = g.normal(size=out.shape)
    num = ref.eval_numerical_gradient_array(lambda z: rcnn.roi_align(z, rois, (3, 2), 1.0, -1, aligned), x, dout)
    assert ref.rel_error(rcnn.roi_align_backward(dout, cache), num) < 1e-8


def test_float32_keeps_its_dtype():
    g = np.random.default_rng(3)
    x = g.normal(size=(1, 2, 5, 5)).astype(np.float32)
    rois = np.array([[0, 0.3, 0.6, 3.3, 4.1]])
    for fwd, bwd in ((rcnn.roi_pool_forward, rcnn.roi_pool_backward), (rcnn.roi_align_forward, rcnn.roi_align_backward)):
        out, cache = fwd(x, rois, 2)
        assert out.dtype == np.float32
        assert bwd(np.ones_like(out), cache).dtype == np.float32
        np.testing.assert_allclose(out, fwd(x.astype(np.float64), rois, 2)[0], rtol=1e-5, atol=1e-6)


def test_empty_rois():
    x = np.ones((2, 3, 4, 4))
    for fwd, bwd in ((rcnn.roi_pool_forward, rcnn.roi_pool_backward), (rcnn.roi_align_forward, rcnn.roi_align_backward)):
        out, cache = fwd(x, np.zeros((0, 5)), (2, 3))
        assert out.shape == (0, 3, 2, 3)
        dx = bwd(np.zeros((0, 3, 2, 3)), cache)
        assert dx.shape == x.shape and (dx == 0).all()
        assert fwd(np.ones((0, 3, 4, 4)), np.zeros((0, 5)), 2)[0].shape == (0, 3, 2, 2)  # no images, no rois
    with pytest.raises(ValueError, match="N = 0 images"):
        ref.roi_align(np.ones((0, 3, 4, 4)), np.zeros((1, 5)), 2)


# ---------------------------------------------------------------------- bad input


BAD = [
    (lambda f: f(np.ones((3, 4, 4)), np.zeros((1, 5)), 2), "(N, C, H, W)"),
    (lambda f: f(np.ones((1, 1, 4, 4), np.int64), np.zeros((1, 5)), 2), "floating-point"),
    (lambda f: f(np.ones((1, 1, 4, 4)), np.zeros((1, 4)), 2), "(K, 5)"),
    (lambda f: f(np.ones((1, 1, 4, 4)), np.zeros(5), 2), "(K, 5)"),
    (lambda f: f(np.ones((1, 1, 4, 4)), np.array([[1, 0, 0, 2, 2.0]]), 2), "batch index 1"),
    (lambda f: f(np.ones((1, 1, 4, 4)), np.array([[-1, 0, 0, 2, 2.0]]), 2), "0..0"),
    (lambda f: f(np.ones((2, 1, 4, 4)), np.array([[0.5, 0, 0, 2, 2.0]]), 2), "integer image index"),
    (lambda f: f(np.ones((1, 1, 4, 4)), np.array([[0, 3, 0, 2, 2.0]]), 2), "x2 < x1"),
    (lambda f: f(np.ones((1, 1, 4, 4)), np.array([[0, 0, 3, 2, 2.0]]), 2), "y2 < y1"),
    (lambda f: f(np.ones((1, 1, 4, 4)), np.array([[0, 0, 0, np.nan, 2.0]]), 2), "not finite"),
    (lambda f: f(np.ones((1, 1, 4, 4)), np.zeros((1, 5)), 0), "output_size"),
    (lambda f: f(np.ones((1, 1, 4, 4)), np.zeros((1, 5)), (2, 2, 2)), "output_size"),
    (lambda f: f(np.ones((1, 1, 4, 4)), np.zeros((1, 5)), 2.0), "output_size"),
    (lambda f: f(np.ones((1, 1, 4, 4)), np.zeros((1, 5)), 2, 0.0), "spatial_scale"),
    (lambda f: f(np.ones((1, 1, 4, 4)), np.zeros((1, 5)), 2, -1 / 16), "spatial_scale"),
]


@pytest.mark.parametrize("case", range(len(BAD)))
@pytest.mark.parametrize("fn", [ref.roi_pool, ref.roi_align])
def test_bad_input(case, fn):
    call, needle = BAD[case]
    with pytest.raises(ValueError, match=None) as e:
        call(fn)
    assert needle in str(e.value), str(e.value)


def test_bad_align_args_and_caches():
    x, r = np.ones((1, 1, 4, 4)), np.zeros((1, 5))
    for kwargs, needle in (({"sampling_ratio": 1.5}, "sampling_ratio"), ({"aligned": 1}, "aligned")):
        with pytest.raises(ValueError) as e:
            ref.roi_align(x, r, 2, **kwargs)
        assert needle in str(e.value)
    out, cache = rcnn.roi_align_forward(x, r, 2)
    with pytest.raises(ValueError, match="dout"):
        rcnn.roi_align_backward(np.ones((1, 1, 3, 2)), cache)
    out, cache = rcnn.roi_pool_forward(x, r, 2)
    with pytest.raises(ValueError, match="dout"):
        rcnn.roi_pool_backward(np.ones((2, 1, 2, 2)), cache)
    with pytest.raises(ValueError, match="cache"):
        rcnn.roi_pool_backward(out, cache[:2])
