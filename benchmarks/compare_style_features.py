"""Which feature network should notebook 12's style transfer use? Compare them by the picture.

Three options, each with ``cnn_course.pt.style_transfer.stylize`` (Gatys optimisation: Adam on the
pixels from the content photo plus noise, clipped to [0, 1], the course's own costs):

  pretrained   the MobileNet-v2 of Magenta's style predictor (``cnn_course.pt.style_net``), style on
               the ReLU6 activations of the stem and blocks 1, 3, 6, 10's expansions, content block 6
  random       a randomly initialised VGG-like net (Kaiming-normal 3×3 convs 32-64-128-256, ReLU,
               average pooling; "random features", Ustyuzhaninov et al. 2016, He et al. 2016)
  fashion8     the course's own MobileNet-v2 trained on grey 28×28 Fashion-MNIST
               (``load_pretrained_mobilenet_fashion8``), fed the image's grey level

α = 10 for all; β is calibrated per network so that β·J_style = 1000 at the start (the ratio
that works for the pretrained network: β = 1e4 there), and ×10 for a stronger style.
Prints the costs, the time and the step where J first comes within 10 % of its final value, and
saves each result to ``--out`` (PNG) with a strip of all of them.

    python benchmarks/compare_style_features.py [--steps 100] [--size 256] [--threads 1] [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402
from skimage import data  # noqa: E402
from torch import nn  # noqa: E402

from cnn_course.data import load_painting  # noqa: E402
from cnn_course.pt import style  # noqa: E402
from cnn_course.pt.mobilenet import load_pretrained_mobilenet_fashion8  # noqa: E402
from cnn_course.pt.style_net import load_style_features  # noqa: E402
from cnn_course.pt.style_transfer import (CONTENT_LAYER, STYLE_LAYERS, prepare_image, stylize,  # noqa: E402
                                          to_numpy_image)



class RandomVGG(nn.Module):
    """Random features: 3×3 conv → ReLU at 4 scales (32, 64, 128, 256 channels), 2×2 average pooling between."""

    def __init__(self, seed=0, widths=(32, 64, 128, 256)):
        super().__init__()
        torch.manual_seed(seed)
        chans = (3, *widths)
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1, padding_mode="reflect")
                                   for a, b in zip(chans, chans[1:]))
        for conv in self.convs:
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)
            conv.weight.requires_grad_(False)
            conv.bias.requires_grad_(False)

    def forward(self, x):
        out = {}
        x = (x - 0.45) / 0.25
        for k, conv in enumerate(self.convs):
            if k:
                x = F.avg_pool2d(x, 2)
            x = F.relu(conv(x))
            out[f"relu{k + 1}"] = x
        return out


class Fashion8Features(nn.Module):
    """The course's Fashion-MNIST MobileNet-v2 on the image's grey level: stem and block outputs."""

    def __init__(self):
        super().__init__()
        self.net = load_pretrained_mobilenet_fashion8()
        for p in self.net.parameters():
            p.requires_grad_(False)

    def forward(self, x):
        x = x.mean(dim=1, keepdim=True)
        out = {}
        for k, layer in enumerate(self.net.features[:8]):
            x = layer(x)
            out[f"features{k}"] = x
        return out


OPTIONS = {
    "pretrained": (lambda: load_style_features(layers=(*STYLE_LAYERS, CONTENT_LAYER)), STYLE_LAYERS, CONTENT_LAYER),
    "random": (RandomVGG, {f"relu{k}": 0.25 for k in range(1, 5)}, "relu3"),
    "fashion8": (Fashion8Features, {f"features{k}": 0.25 for k in (0, 2, 4, 7)}, "features4"),
}


def calibrated_beta(net, layers, content, style_image, size, target=1000.0):
    """β such that β·J_style(content, style) = target."""
    with torch.no_grad():
        C = prepare_image(content, size=size)
        S = prepare_image(style_image, shape=tuple(C.shape[2:]))
        aC, aS = net(C), net(S)
        J = style.style_cost([aS[n] for n in layers], [aC[n] for n in layers], list(layers.values()))
    return target / float(J)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--options", default="pretrained,random,fashion8")
    parser.add_argument("--styles", default="starry")
    parser.add_argument("--strength", default="1,10", help="multiples of the calibrated β")
    parser.add_argument("--out", default="style_results")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    content = data.astronaut()
    styles = {"starry": "starry_night", "klimt": "the_kiss"}
    strip = []
    for style_name in args.styles.split(","):
        painting = load_painting(styles[style_name])
        for option in args.options.split(","):
            make, layers, content_layer = OPTIONS[option]
            net = make()
            beta0 = calibrated_beta(net, layers, content, painting, args.size)
            for strength in (float(s) for s in args.strength.split(",")):
                G, h = stylize(content, painting, steps=args.steps, alpha=10, beta=beta0 * strength,
                               layer_weights=layers, feature_net=net, size=args.size, seed=0,
                               content_layer=content_layer, lr=0.05)
                good = next(k for k, J in enumerate(h["J"]) if J <= 1.1 * h["J"][-1])
                name = f"{style_name}_{option}_x{strength:g}_{args.size}px"
                Image.fromarray(to_numpy_image(G)).save(out / f"{name}.png")
                strip.append(to_numpy_image(G))
                print(f"{name:32s} beta {beta0 * strength:9.3g}  J {h['J'][0]:9.4g} -> {h['J'][-1]:8.4g}  "
                      f"J_content {h['J_content'][-1]:.4g}  beta*J_style {beta0 * strength * h['J_style'][-1]:.4g}  "
                      f"{h['seconds'][-1]:5.1f} s for {args.steps} steps; within 10 % of the final J at step {good} "
                      f"({h['seconds'][good]:.1f} s)", flush=True)
    strip_name = f"strip_{args.styles.replace(',', '_')}_{args.size}px.png"
    Image.fromarray(np.concatenate(strip, axis=1)).save(out / strip_name)


if __name__ == "__main__":
    t = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t:.0f} s")
