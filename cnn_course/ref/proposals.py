"""Region proposals for R-CNN: graph-based segmentation and selective-search-style grouping.

R-CNN (Girshick et al. 2014) did not slide a window: it classified about 2,000 *proposals*
per image, boxes likely to hold an object whatever its class, from selective search
(Uijlings et al. 2013). Selective search here, in one of its strategies:

1. Over-segment the image with Felzenszwalb and Huttenlocher's graph-based method
   (``skimage.segmentation.felzenszwalb``): pixels are nodes, neighbours are joined by edges
   weighted by their difference, and two components merge when the edge between them is weaker
   than each one's internal variation plus ``scale / size``; larger ``scale`` gives larger
   regions, ``min_size`` merges away smaller ones afterwards, ``sigma`` smooths the image first.
2. Group hierarchically: repeatedly merge the two *neighbouring* regions that are most similar,
   until one region is left; every region ever made (the initial ones and each merge)
   contributes its bounding box. The similarity of regions i and j, each term in [0, 1]:

       s(i, j) = s_colour + s_size + s_fill            (Uijlings' s_texture is left out)
       s_colour = Σ_k min(c_i[k], c_j[k])   c: a 25-bin histogram per channel, L1-normalised
       s_size   = 1 - (size_i + size_j) / size_image        (merge small regions first)
       s_fill   = 1 - (size(BB_ij) - size_i - size_j) / size_image
                                            (BB_ij: the box around both; prefer regions that fit)

   A merged region's histogram is the size-weighted mean of its parts', so no pixel is read
   twice. Colour is a histogram of grey levels for a grey image.
3. Diversify: repeat with several segmentation scales and pool the boxes (Uijlings also vary
   the colour space and the similarity mix); one hierarchy alone misses the objects whose
   outline its segmentation cut across.

Boxes are corners (x1, y1, x2, y2) with continuous pixel coordinates: a region whose pixels
span columns c0..c1 and rows r0..r1 has the box (c0, r0, c1 + 1, r1 + 1), tight around it.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import _validate as v

__all__ = ["felzenszwalb_regions", "region_boxes", "selective_search"]

HIST_BINS = 25


def _check_image(image) -> np.ndarray:
    """(H, W), (H, W, 3) or the course's (1, H, W) / (3, H, W)  ->  (H, W) or (H, W, C) float64."""
    if not hasattr(image, "ndim") or image.ndim not in (2, 3):
        shape = getattr(image, "shape", None)
        raise ValueError(f"image must be an array of shape (H, W), (H, W, 3), (1, H, W) or (3, H, W), got "
                         f"{'shape ' + str(tuple(shape)) if shape is not None else type(image).__name__}")
    if image.dtype.kind not in "fiub":
        raise ValueError(f"image must hold real numbers, got dtype {image.dtype}")
    im = np.asarray(image, dtype=np.float64)
    if im.ndim == 3:
        if im.shape[0] in (1, 3) and im.shape[-1] not in (1, 3):
            im = np.moveaxis(im, 0, -1)
        if im.shape[-1] == 1:
            im = im[..., 0]
        elif im.shape[-1] != 3:
            raise ValueError(f"image must have 1 or 3 channels, (H, W, C) or (C, H, W), got shape {image.shape}")
    if im.shape[0] < 2 or im.shape[1] < 2:
        raise ValueError(f"image must be at least 2×2 pixels, got shape {image.shape}")
    if not np.isfinite(im).all():
        raise ValueError("image holds NaN or infinite values")
    return im


def _check_number(x, name: str, low: float, inclusive: bool = True) -> float:
    ok = (isinstance(x, numbers.Real) and not isinstance(x, bool) and np.isfinite(x)
          and (x >= low if inclusive else x > low))
    if not ok:
        raise ValueError(f"{name} must be a finite number {'>=' if inclusive else '>'} {low}, got {x!r}")
    return float(x)


def felzenszwalb_regions(image, scale: float = 100.0, sigma: float = 0.5, min_size: int = 20) -> np.ndarray:
    """Graph-based over-segmentation (Felzenszwalb & Huttenlocher 2004).

    image: (H, W) grey, (H, W, 3) colour or (C, H, W) with C = 1 or 3  ->  labels (H, W) int64,
    regions numbered 0..R-1 in order of their first pixel (row-major). ``scale`` > 0: larger
    gives larger regions; ``sigma`` >= 0: Gaussian smoothing before segmenting; ``min_size``:
    smaller regions are merged into a neighbour.
    """
    from skimage.segmentation import felzenszwalb

    im = _check_image(image)
    scale = _check_number(scale, "scale", 0, inclusive=False)
    sigma = _check_number(sigma, "sigma", 0)
    min_size = v.check_positive_int(min_size, "min_size")
    labels = felzenszwalb(im, scale=scale, sigma=sigma, min_size=min_size,
                          channel_axis=-1 if im.ndim == 3 else None)
    # renumber by first appearance, so the numbering does not depend on skimage's internals
    _, first, inverse = np.unique(labels.ravel(), return_index=True, return_inverse=True)
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inverse].reshape(labels.shape)


def region_boxes(labels) -> np.ndarray:
    """Tight boxes of the regions of a label image: labels (H, W) ints 0..R-1 -> (R, 4) float64,
    row r = (x1, y1, x2, y2) around region r (x2, y2 one past its last column / row)."""
    v.check_ndim(labels, 2, "labels", "(H, W)")
    if labels.dtype.kind not in "iu" or (labels.size and labels.min() < 0):
        raise ValueError(f"labels must be non-negative integer region numbers, got dtype {labels.dtype}")
    R = int(labels.max()) + 1 if labels.size else 0
    rows, cols = np.indices(labels.shape)
    flat = labels.ravel()
    boxes = np.empty((R, 4))
    boxes[:, 0] = np.full(R, np.inf)
    np.minimum.at(boxes[:, 0], flat, cols.ravel())
    boxes[:, 1] = np.inf
    np.minimum.at(boxes[:, 1], flat, rows.ravel())
    boxes[:, 2] = -np.inf
    np.maximum.at(boxes[:, 2], flat, cols.ravel() + 1)
    boxes[:, 3] = -np.inf
    np.maximum.at(boxes[:, 3], flat, rows.ravel() + 1)
    if not np.isfinite(boxes).all():
        raise ValueError("labels must number the regions 0..R-1 without gaps")
    return boxes


def _histograms(im: np.ndarray, labels: np.ndarray, R: int) -> np.ndarray:
    """(R, C·25) colour histograms, each L1-normalised over all its channels."""
    chans = im[..., None] if im.ndim == 2 else im
    lo, hi = chans.min(), chans.max()
    bins = np.clip(((chans - lo) / max(hi - lo, 1e-12) * HIST_BINS).astype(np.int64), 0, HIST_BINS - 1)
    C = chans.shape[-1]
    index = (labels[..., None] * C + np.arange(C)) * HIST_BINS + bins  # (H, W, C)
    hist = np.bincount(index.ravel(), minlength=R * C * HIST_BINS).reshape(R, C * HIST_BINS).astype(np.float64)
    return hist / hist.sum(axis=1, keepdims=True)


def _neighbour_pairs(labels: np.ndarray) -> set[tuple[int, int]]:
    """Pairs (i, j), i < j, of regions that touch horizontally or vertically."""
    pairs = set()
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
        diff = a != b
        lo, hi = np.minimum(a[diff], b[diff]), np.maximum(a[diff], b[diff])
        pairs.update(zip(*np.unique(np.stack([lo, hi]), axis=1).tolist()))
    return pairs


def _check_scales(scale) -> tuple[float, ...]:
    many = isinstance(scale, (tuple, list))
    scales = tuple(scale) if many else (scale,)
    if many and not scales:
        raise ValueError("scale must be a number > 0 or a non-empty sequence of them, got an empty sequence")
    return tuple(_check_number(s, "scale" if not many else f"scale[{k}]", 0, inclusive=False)
                 for k, s in enumerate(scales))


def _group(im: np.ndarray, labels: np.ndarray) -> list[tuple]:
    """Hierarchical grouping of one segmentation: the boxes of every region made, in order."""
    H, W = labels.shape
    R = int(labels.max()) + 1
    boxes = list(map(tuple, region_boxes(labels)))
    sizes = np.bincount(labels.ravel(), minlength=R).astype(np.float64).tolist()
    hists = list(_histograms(im, labels, R))
    neighbours = {r: set() for r in range(R)}
    for i, j in _neighbour_pairs(labels):
        neighbours[i].add(j)
        neighbours[j].add(i)
    area = float(H * W)

    def similarity(i, j):
        bi, bj = boxes[i], boxes[j]
        bb = (max(bi[2], bj[2]) - min(bi[0], bj[0])) * (max(bi[3], bj[3]) - min(bi[1], bj[1]))
        return (float(np.minimum(hists[i], hists[j]).sum()) + 1 - (sizes[i] + sizes[j]) / area
                + 1 - (bb - sizes[i] - sizes[j]) / area)

    sims = {(i, j): similarity(i, j) for i in range(R) for j in neighbours[i] if i < j}
    while sims:
        # the most similar pair; equal similarities: the pair with the lowest indices
        i, j = max(sims, key=lambda p: (sims[p], -p[0], -p[1]))
        t = len(boxes)
        bi, bj = boxes[i], boxes[j]
        boxes.append((min(bi[0], bj[0]), min(bi[1], bj[1]), max(bi[2], bj[2]), max(bi[3], bj[3])))
        sizes.append(sizes[i] + sizes[j])
        hists.append((sizes[i] * hists[i] + sizes[j] * hists[j]) / sizes[t])
        near = (neighbours.pop(i) | neighbours.pop(j)) - {i, j}
        neighbours[t] = near
        for k in near:
            neighbours[k] -= {i, j}
            neighbours[k].add(t)
        sims = {p: s for p, s in sims.items() if i not in p and j not in p}
        sims.update({(k, t): similarity(k, t) for k in near})
    return boxes


def selective_search(image, scale=(25, 50, 100, 200), sigma: float = 0.5, min_size: int = 10,
                     max_proposals=None) -> np.ndarray:
    """Selective-search proposals: Felzenszwalb regions, then hierarchical grouping by
    colour + size + fill similarity (see the module docstring).

    image: (H, W), (H, W, 3) or (C, H, W) with C = 1 or 3; sigma, min_size: passed to
    :func:`felzenszwalb_regions`; scale: one Felzenszwalb ``scale`` or several — like Uijlings'
    diversification, each gives its own segmentation and hierarchy, and their proposals are
    concatenated in the order of ``scale``; max_proposals: keep at most the first this many.
    Returns boxes (K, 4) float64 corners (x1, y1, x2, y2), per scale in the order the regions
    were made (its R initial regions, then each merge; the last merge is the whole image), a box
    that repeats an earlier one left out; K <= Σ (2R - 1). The defaults suit 64-pixel scenes.
    """
    if max_proposals is not None:
        max_proposals = v.check_positive_int(max_proposals, "max_proposals")
    scales = _check_scales(scale)
    im = _check_image(image)
    boxes = []
    for s in scales:
        boxes += _group(im, felzenszwalb_regions(im, s, sigma, min_size))
    out = np.array(boxes, np.float64).reshape(-1, 4)
    _, first = np.unique(out, axis=0, return_index=True)
    out = out[np.sort(first)]
    return out if max_proposals is None else out[:max_proposals]
