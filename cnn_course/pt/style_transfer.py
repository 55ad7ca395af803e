"""Neural style transfer by optimisation (Gatys et al. 2015): paint a photo in a painting's style.

The generated image G is a tensor of pixels, optimised directly (the network's weights stay fixed):

    J(G) = α J_content(C, G) + β Σ_l λ_l J_style^[l](S, G)

with ``cnn_course.pt.style``'s costs on the activations of a feature network. G starts from the
content photo plus uniform noise, Adam updates its pixels, and after every step they are clipped
to [0, 1]. The default feature network is the pretrained MobileNet-v2 of
``cnn_course.pt.style_net`` (Magenta's style predictor): ReLU6 activations of the stem and of four
blocks' expansions for the style, block 6's output for the content (``STYLE_LAYERS``,
``CONTENT_LAYER``). ``benchmarks/compare_style_features.py`` compares it with random and
course-trained features (the pretrained network wins: see its docstring).

Defaults (α = 10, β = 10⁴, Adam with learning rate 0.05, 100 steps, 256 px): a recognisable
stylisation of a 256-px photo in about 30 s on one CPU thread. β/α is 1000 here, not the 4 of
α = 10, β = 40 used with VGG-19: J_style^[l] divides by 4 n_C² (n_H n_W)², and with this network's
ReLU6 activations (at most 6, 32 to 384 channels) the photo's and the painting's style costs are
only about 0.1 apart (β·J_style ≈ 1000 at the start, against α·J_content ≈ 10 after the first steps).

Images: H×W×3 arrays (uint8, or floats in [0, 1]) or (3, H, W) / (1, 3, H, W) tensors in [0, 1].
The content image is resized so that its longer side is ``size``; the style image is
centre-cropped to the content's aspect ratio and resized to the same (H, W), so that every layer's
style cost compares activations of the same shape.
"""

from __future__ import annotations

import numbers
import time

import numpy as np
import torch
import torch.nn.functional as F

from . import style

__all__ = ["CONTENT_LAYER", "STYLE_LAYERS", "prepare_image", "stylize", "to_numpy_image"]

#: λ_l per style layer of the default network (summing to 1), and the content layer.
STYLE_LAYERS = {"stem": 0.2, "block1_expand": 0.2, "block3_expand": 0.2, "block6_expand": 0.2, "block10_expand": 0.2}
CONTENT_LAYER = "block6"


def prepare_image(image, size=None, shape=None) -> torch.Tensor:
    """An image (H, W, 3) array (uint8 or floats in [0, 1]) or a (3, H, W) / (1, 3, H, W) tensor ->
    (1, 3, H', W') float32 in [0, 1]: resized so that its longer side is ``size``, or centre-cropped to
    the aspect ratio of ``shape`` = (H', W') and resized to it."""
    if isinstance(image, torch.Tensor):
        x = image.detach().float().cpu()
        x = x[None] if x.ndim == 3 else x
        if x.ndim != 4 or x.shape[:2] != (1, 3):
            raise ValueError(f"an image tensor must have shape (3, H, W) or (1, 3, H, W), got {tuple(image.shape)}")
    else:
        a = np.asarray(image)
        if a.ndim != 3 or a.shape[2] not in (3, 4):
            raise ValueError(f"an image array must have shape (H, W, 3), got {a.shape}")
        a = a[..., :3]
        a = a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a.astype(np.float32)
        x = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None]
    if float(x.min()) < 0 or float(x.max()) > 1:
        raise ValueError(f"image values must be in [0, 1] (or uint8), got [{float(x.min()):.3g}, {float(x.max()):.3g}]")
    H, W = x.shape[2:]
    if shape is not None:
        th, tw = shape
        if H * tw > W * th:                      # too tall: crop rows
            h = max(1, round(W * th / tw))
            x = x[:, :, (H - h) // 2:(H - h) // 2 + h]
        else:
            w = max(1, round(H * tw / th))
            x = x[:, :, :, (W - w) // 2:(W - w) // 2 + w]
    elif size is not None:
        scale = size / max(H, W)
        th, tw = max(1, round(H * scale)), max(1, round(W * scale))
    else:
        return x.contiguous()
    return F.interpolate(x, size=(th, tw), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)


def to_numpy_image(x: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) tensor in [0, 1] -> (H, W, 3) uint8 array, for plotting and saving."""
    return (x.detach()[0].permute(1, 2, 0).clamp(0, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)


def _check_number(value, name, positive=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) \
            or value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be a {'positive' if positive else 'non-negative'} number, got {value!r}")
    return float(value)


def stylize(content, style_image, steps=100, alpha=10, beta=1e4, layer_weights=None, feature_net=None,
            size=256, seed=0, callback=None, content_layer=None, lr=0.05, noise=0.1, tv_weight=0.0):
    """Gatys optimisation: G from content + noise, Adam on its pixels, clipped to [0, 1] each step.

    content, style_image: images (see the module docstring). steps: Adam steps. alpha, beta: the
    weights of J_content and J_style. layer_weights: {layer name: λ_l} of the style layers (default
    ``STYLE_LAYERS``). feature_net: a module mapping (1, 3, H, W) in [0, 1] to a dict of
    activations that holds those layers and ``content_layer`` (default: the pretrained
    ``load_style_features`` network; ``CONTENT_LAYER``). size: longer side of G in pixels. seed: for
    the noise (the run is deterministic on the CPU for a given thread count). noise: half-width of
    the uniform noise added to the content. callback(step, G, costs) is called after every step.
    tv_weight: adds tv_weight · J_tv to the minimised cost, J_tv = mean squared difference of
    neighbouring pixels (total variation); about 300 removes the faint 2-pixel checkerboard that the
    network's stride-2 stem leaves, at almost no cost in J. 0 (default) minimises J(G) alone.

    Returns (G (1, 3, H, W) in [0, 1], history) where history is a dict of lists, one value per step
    (the costs of the image before that step's update): "J" (= α J_content + β J_style, without the
    total variation), "J_content", "J_style", "J_tv", and "seconds" since the start (features of C
    and S included).
    """
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    alpha, beta = _check_number(alpha, "alpha"), _check_number(beta, "beta")
    lr, noise = _check_number(lr, "lr", positive=True), _check_number(noise, "noise")
    tv_weight = _check_number(tv_weight, "tv_weight")
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise ValueError(f"size must be a positive integer (pixels), got {size!r}")
    layer_weights = dict(STYLE_LAYERS if layer_weights is None else layer_weights)
    if not layer_weights:
        raise ValueError("layer_weights must name at least one style layer")
    content_layer = CONTENT_LAYER if content_layer is None else content_layer
    if feature_net is None:
        from .style_net import load_style_features
        feature_net = load_style_features(layers=tuple(dict.fromkeys([*layer_weights, content_layer])))
    device = next((p.device for p in feature_net.parameters()), torch.device("cpu"))
    start = time.perf_counter()

    C = prepare_image(content, size=size).to(device)
    S = prepare_image(style_image, shape=tuple(C.shape[2:])).to(device)
    names = list(layer_weights)
    weights = [layer_weights[name] for name in names]

    def activations(x):
        acts = feature_net(x)
        missing = [n for n in [*names, content_layer] if n not in acts]
        if missing:
            raise ValueError(f"feature_net gave no activations for {missing}; it gives {list(acts)}")
        return acts

    with torch.no_grad():
        a_S = activations(S)
        style_targets = [a_S[n].detach() for n in names]
        content_target = activations(C)[content_layer].detach()

    gen = torch.Generator().manual_seed(int(seed))
    G = (C.cpu() + (torch.rand(C.shape, generator=gen) * 2 - 1) * noise).clamp(0, 1).to(device).requires_grad_(True)
    optimizer = torch.optim.Adam([G], lr=lr)
    history = {"J": [], "J_content": [], "J_style": [], "J_tv": [], "seconds": []}
    for step in range(steps):
        optimizer.zero_grad()
        acts = activations(G)
        J_content = style.content_cost(content_target, acts[content_layer])
        J_style = style.style_cost(style_targets, [acts[n] for n in names], weights)
        J = style.total_cost(J_content, J_style, alpha, beta)
        J_tv = ((G[..., 1:, :] - G[..., :-1, :]) ** 2).mean() + ((G[..., :, 1:] - G[..., :, :-1]) ** 2).mean()
        (J + tv_weight * J_tv if tv_weight else J).backward()
        optimizer.step()
        with torch.no_grad():
            G.clamp_(0, 1)
        for key, value in (("J", J), ("J_content", J_content), ("J_style", J_style), ("J_tv", J_tv)):
            history[key].append(float(value.detach()) if isinstance(value, torch.Tensor) else float(value))
        history["seconds"].append(time.perf_counter() - start)
        if callback is not None:
            callback(step, G.detach(), {k: history[k][-1] for k in ("J", "J_content", "J_style")})
    return G.detach(), history
