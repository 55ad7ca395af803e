"""Interactive explorers (ipywidgets 8) for the notebooks.

``conv_explorer()`` lets a student pick an image, a 3x3 filter, the padding and the
stride, and shows the input next to the feature map with the output size worked out
by the course's formula. ``pool_explorer()`` does the same for max/average pooling.
``optimizer_explorer()`` (optimizers notebook) draws the paths of gradient descent,
momentum, RMSProp and Adam on an elongated bowl for learning rates and β's set by sliders.

The pictures are rendered to JPEG with matplotlib's Agg canvas and placed in an
``ipywidgets.Image``, so the explorers need no plotting backend and behave the same
in JupyterLab, in tests and under nbval. Their text representation is short and
deterministic (no widget ids), which keeps nbval's output comparison stable.
"""

from __future__ import annotations

import io

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

__all__ = ["FILTERS", "SAMPLE_IMAGES", "conv_explorer", "pool_explorer", "ConvExplorer", "PoolExplorer",
           "OPTIMIZER_RULES", "optimizer_explorer", "OptimizerExplorer"]

# Hand-designed 3x3 filters. Each is applied as cross-correlation (no flip), like
# every deep-learning library, so "vertical" responds with + on a bright-left edge.
FILTERS: dict[str, np.ndarray] = {
    "vertical edge": np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]], dtype=np.float64),
    "horizontal edge": np.array([[1, 1, 1], [0, 0, 0], [-1, -1, -1]], dtype=np.float64),
    "Sobel x": np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float64),
    "Sobel y": np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], dtype=np.float64),
    "Scharr x": np.array([[3, 0, -3], [10, 0, -10], [3, 0, -3]], dtype=np.float64),
    "Scharr y": np.array([[3, 10, 3], [0, 0, 0], [-3, -10, -3]], dtype=np.float64),
    "box blur": np.full((3, 3), 1 / 9, dtype=np.float64),
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=np.float64),
    "Laplacian": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64),
    "identity": np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=np.float64),
}

# Photos offered in the image dropdown (names understood by cnn_course.data.sample_image).
SAMPLE_IMAGES = ("camera", "astronaut", "coins", "chelsea", "brick", "checkerboard", "grace_hopper")


def _load(name: str) -> np.ndarray:
    from cnn_course.data import sample_image

    return np.asarray(sample_image(name, gray=True), dtype=np.float64)


def _as_gray(image) -> np.ndarray:
    img = np.asarray(image, dtype=np.float64)
    if img.ndim == 3 and img.shape[-1] == 3:
        img = img @ np.array([0.299, 0.587, 0.114])
    if img.ndim != 2:
        raise ValueError(f"image must have shape (H, W) or (H, W, 3), got {np.shape(image)}")
    return img


def _size_line(symbol: str, n: int, f: int, p: int, s: int) -> str:
    """The output-size formula with the numbers filled in, e.g. 'n_H = ⌊(6 + 2·0 − 3)/1⌋ + 1 = 4'."""
    from cnn_course.ref import conv_output_size

    return f"{symbol} = ⌊({n} + 2·{p} − {f})/{s}⌋ + 1 = {conv_output_size(n, f, p, s)}"


def _jpeg(fig: Figure) -> bytes:
    # JPEG keeps the widget state that Jupyter saves in the notebook small (photos compress badly as PNG)
    buf = io.BytesIO()
    fig.savefig(buf, format="jpeg", dpi=72, pil_kwargs={"quality": 85})
    return buf.getvalue()


class _Explorer(widgets.VBox):
    """Shared plumbing: controls on top, a text line with the sizes, the picture below."""

    def __init__(self, controls: dict, image=None, images=SAMPLE_IMAGES):
        self._custom = None if image is None else _as_gray(image)
        names = ("your image",) if image is not None else tuple(images)
        self.controls = {"image": widgets.Dropdown(options=names, value=names[0], description="image")}
        self.controls.update(controls)
        self.info = widgets.HTML()
        self.picture = widgets.Image(format="jpeg")
        self.output_shape: tuple[int, int] | None = None
        self.message = ""
        self.result: np.ndarray | None = None
        self._cache: dict[str, np.ndarray] = {}
        self._fig: Figure | None = None
        #: set to False to recompute without redrawing (e.g. when sweeping settings in tests)
        self.draw = True
        for w in self.controls.values():
            w.observe(self.update, names="value")
        rows = list(self.controls.values())
        super().__init__([widgets.HBox(rows[:2]), widgets.HBox(rows[2:]), self.info, self.picture])
        self.update()

    def image(self) -> np.ndarray:
        """The selected image as a 2-D float array (n_H, n_W)."""
        if self._custom is not None:
            return self._custom
        name = self.controls["image"].value
        if name not in self._cache:
            self._cache[name] = _load(name)
        return self._cache[name]

    def update(self, change=None) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _show(self, x: np.ndarray, y: np.ndarray | None, y_title: str, diverging: bool) -> None:
        if not self.draw:
            return
        # One figure for the widget's lifetime: updating image data is far cheaper than
        # building a new figure (with a colour bar and a layout pass) on every slider move.
        if self._fig is None:
            self._fig = Figure(figsize=(8, 3.8))
            self._ax_in, self._ax_out = self._fig.subplots(1, 2)
            self._im_in = self._ax_in.imshow(x, cmap="gray")
            self._im_out = self._ax_out.imshow(x, cmap="gray")
            self._cbar = self._fig.colorbar(self._im_out, ax=self._ax_out, fraction=0.046, pad=0.04)
            self._no_output = self._ax_out.text(0.5, 0.5, "no output:\nthe window does not fit", ha="center",
                                                va="center", transform=self._ax_out.transAxes)
            for ax in (self._ax_in, self._ax_out):
                ax.set_axis_off()
            self._fig.subplots_adjust(left=0.02, right=0.92, bottom=0.03, top=0.9, wspace=0.15)
        self._im_in.set_data(x)
        self._im_in.set_extent((-0.5, x.shape[1] - 0.5, x.shape[0] - 0.5, -0.5))
        self._im_in.set_clim(float(x.min()), float(x.max()))
        self._ax_in.set_title(f"input  {x.shape[0]} × {x.shape[1]}")
        self._im_out.set_visible(y is not None)
        self._cbar.ax.set_visible(y is not None)
        self._no_output.set_visible(y is None)
        if y is None:
            self._ax_out.set_title("")
        else:
            if diverging:
                lim = float(np.abs(y).max()) or 1.0
                self._im_out.set_cmap("RdBu_r")
                lo, hi = -lim, lim
            else:
                self._im_out.set_cmap("gray")
                lo, hi = float(y.min()), float(y.max())
            self._im_out.set_data(y)
            self._im_out.set_extent((-0.5, y.shape[1] - 0.5, y.shape[0] - 0.5, -0.5))
            self._ax_out.set_xlim(-0.5, y.shape[1] - 0.5)
            self._ax_out.set_ylim(y.shape[0] - 0.5, -0.5)
            self._im_out.set_clim(lo, hi if hi > lo else lo + 1e-12)
            self._ax_out.set_title(f"{y_title}  {y.shape[0]} × {y.shape[1]}")
        self._ax_in.set_xlim(-0.5, x.shape[1] - 0.5)
        self._ax_in.set_ylim(x.shape[0] - 0.5, -0.5)
        self.picture.value = _jpeg(self._fig)

    def __repr__(self) -> str:
        return f"{type(self).__name__}: {self.message}"


class ConvExplorer(_Explorer):
    """Widget: image * filter with adjustable padding and stride (see ``conv_explorer``)."""

    def __init__(self, image=None, images=SAMPLE_IMAGES):
        controls = {
            "filter": widgets.Dropdown(options=tuple(FILTERS), value="vertical edge", description="filter"),
            "pad": widgets.IntSlider(value=0, min=0, max=3, description="padding p"),
            "stride": widgets.IntSlider(value=1, min=1, max=4, description="stride s"),
        }
        super().__init__(controls, image, images)

    def update(self, change=None) -> None:
        """Recompute the feature map for the current settings and redraw."""
        from cnn_course.ref import conv2d_forward

        x = self.image()
        name = self.controls["filter"].value
        k = FILTERS[name]
        p, s = self.controls["pad"].value, self.controls["stride"].value
        f = k.shape[0]
        n_H, n_W = x.shape
        if f > n_H + 2 * p or f > n_W + 2 * p:
            self.output_shape, self.result = None, None
            self.message = (f"the {f}×{f} filter does not fit: the padded image is only "
                            f"{n_H + 2 * p}×{n_W + 2 * p}; increase the padding")
            self.info.value = f"<b>No output.</b> The {f}×{f} filter does not fit: the padded image is only " \
                              f"{n_H + 2 * p} × {n_W + 2 * p} (n + 2p &lt; f). Increase the padding p."
            self._show(x, None, "", True)
            return
        out, _ = conv2d_forward(x[None, None], k[None, None], np.zeros(1), stride=s, pad=p)
        self.result = out[0, 0]
        self.output_shape = self.result.shape
        lines = [_size_line("n_H", n_H, f, p, s), _size_line("n_W", n_W, f, p, s)]
        skipped = [(n + 2 * p - f) % s for n in (n_H, n_W)]
        note = ""
        if any(skipped):
            note = (f"<br>The floor at work: the last {skipped[0]} padded row(s) and {skipped[1]} column(s) "
                    f"are never covered by a window.")
        self.message = (f"{self.controls['image'].value} {n_H}×{n_W} * {name} {f}×{f}, p={p}, s={s} "
                        f"-> {self.output_shape[0]}×{self.output_shape[1]}")
        self.info.value = f"<tt>{lines[0]}<br>{lines[1]}</tt>{note}"
        self._show(x, self.result, f"{name} feature map", name not in ("box blur", "identity"))


class PoolExplorer(_Explorer):
    """Widget: max or average pooling with adjustable window and stride (see ``pool_explorer``)."""

    def __init__(self, image=None, images=SAMPLE_IMAGES):
        controls = {
            "mode": widgets.Dropdown(options=("max", "average"), value="max", description="mode"),
            "f": widgets.IntSlider(value=2, min=1, max=8, description="window f"),
            "stride": widgets.IntSlider(value=2, min=1, max=8, description="stride s"),
        }
        super().__init__(controls, image, images)

    def update(self, change=None) -> None:
        """Recompute the pooled map for the current settings and redraw."""
        from cnn_course.ref import pool2d_forward

        x = self.image()
        mode, f, s = self.controls["mode"].value, self.controls["f"].value, self.controls["stride"].value
        n_H, n_W = x.shape
        if f > n_H or f > n_W:
            self.output_shape, self.result = None, None
            self.message = f"the {f}×{f} window does not fit in the {n_H}×{n_W} image"
            self.info.value = f"<b>No output.</b> The {f}×{f} window does not fit in the {n_H} × {n_W} image."
            self._show(x, None, "", False)
            return
        out, _ = pool2d_forward(x[None, None], f, s, mode=mode)
        self.result = out[0, 0]
        self.output_shape = self.result.shape
        self.message = (f"{self.controls['image'].value} {n_H}×{n_W}, {mode} pooling f={f}, s={s} "
                        f"-> {self.output_shape[0]}×{self.output_shape[1]}")
        self.info.value = (f"<tt>{_size_line('n_H', n_H, f, 0, s)}<br>{_size_line('n_W', n_W, f, 0, s)}</tt>"
                           f"<br>No parameters to learn; the number of channels is unchanged.")
        self._show(x, self.result, f"{mode} pooled", False)


def conv_explorer(image=None) -> ConvExplorer:
    """Build the convolution explorer.

    image: optional (H, W) or (H, W, 3) array to explore instead of the sample photos.
    Returns the widget (display it by ending a cell with it). Its attributes
    ``controls`` (dict of the image/filter/pad/stride widgets), ``output_shape``
    ((n_H, n_W) or None when the filter does not fit), ``result`` (the feature map)
    and ``message`` (one line of text) follow the controls.
    """
    return ConvExplorer(image)


def pool_explorer(image=None) -> PoolExplorer:
    """Build the pooling explorer (controls: image, mode, window f, stride s); see ``conv_explorer``."""
    return PoolExplorer(image)


# --------------------------------------------------------------------------- optimizers (topic 2)

#: The update rules the optimizer explorer draws: rule name of ``cnn_course.ref.optimize_path`` -> label.
OPTIMIZER_RULES = {"gd": "GD", "momentum": "momentum", "rmsprop": "RMSProp", "adam": "Adam"}


def _finite_or_nan(path: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(path), path, np.nan)


class OptimizerExplorer(widgets.VBox):
    """Widget: the paths of GD, momentum, RMSProp and Adam on an ill-conditioned bowl
    (see ``optimizer_explorer``)."""

    #: the view: the bowl's start (-8, 1.5) and its minimum at the origin, with room for overshoot
    XLIM, YLIM = (-9.5, 4.0), (-2.6, 2.6)
    #: default learning rate of each rule for the default bowl (kappa = 100: GD needs alpha < 0.02)
    DEFAULT_LR = {"gd": 0.018, "momentum": 0.1, "rmsprop": 0.3, "adam": 0.3}

    def __init__(self, start=None, kappa=100.0):
        from cnn_course.ref import optim

        self._optim = optim
        self.start = np.array(optim.ILL_CONDITIONED_START if start is None else start, dtype=np.float64)
        if self.start.shape != (2,):
            raise ValueError(f"start must be a point of shape (2,), got {self.start.shape}")
        if isinstance(kappa, bool) or not isinstance(kappa, (int, float)) or not 1 <= kappa <= 1000:
            raise ValueError(f"kappa must be a number between 1 and 1000, got {kappa!r}")
        log = dict(base=10, min=-3, max=0.5, step=0.05, readout_format=".3g", continuous_update=False)
        self.controls = {
            f"lr_{rule}": widgets.FloatLogSlider(value=self.DEFAULT_LR[rule], description=f"α {label}", **log)
            for rule, label in OPTIMIZER_RULES.items()
        }
        self.controls.update({
            "beta": widgets.FloatSlider(value=0.9, min=0.0, max=0.99, step=0.01, description="β",
                                        continuous_update=False),
            "beta1": widgets.FloatSlider(value=0.9, min=0.0, max=0.99, step=0.01, description="β₁",
                                         continuous_update=False),
            "beta2": widgets.FloatSlider(value=0.999, min=0.5, max=0.999, step=0.001, readout_format=".3f",
                                         description="β₂", continuous_update=False),
            "steps": widgets.IntSlider(value=60, min=5, max=300, step=5, description="steps",
                                       continuous_update=False),
            "kappa": widgets.FloatLogSlider(value=float(kappa), base=10, min=0, max=3, step=0.05,
                                            readout_format=".3g", description="κ", continuous_update=False),
        })
        self.show = {rule: widgets.Checkbox(value=True, description=label, indent=False,
                                            layout=widgets.Layout(width="110px"))
                     for rule, label in OPTIMIZER_RULES.items()}
        self.info = widgets.HTML()
        self.picture = widgets.Image(format="png")
        self.paths: dict[str, np.ndarray] = {}
        self.final_loss: dict[str, float] = {}
        self.message = ""
        #: set to False to recompute without redrawing (e.g. when sweeping settings in tests)
        self.draw = True
        self._fig: Figure | None = None
        self._drawn_kappa: float | None = None
        self._lines: dict = {}
        for w in [*self.controls.values(), *self.show.values()]:
            w.observe(self.update, names="value")
        c = self.controls
        super().__init__([
            widgets.HBox([c["lr_gd"], c["lr_momentum"], c["steps"]]),
            widgets.HBox([c["lr_rmsprop"], c["lr_adam"], c["kappa"]]),
            widgets.HBox([c["beta"], c["beta1"], c["beta2"]]),
            widgets.HBox(list(self.show.values())),
            self.info,
            self.picture,
        ])
        self.update()

    @property
    def kappa(self) -> float:
        """The condition number of the bowl: J = ½(w0² + κ·w1²)."""
        return float(self.controls["kappa"].value)

    def hyperparameters(self, rule: str) -> dict:
        """The keyword arguments of ``ref.optimize_path`` for ``rule`` under the current settings."""
        c = {k: w.value for k, w in self.controls.items()}
        return {
            "gd": {"lr": c["lr_gd"]},
            "momentum": {"lr": c["lr_momentum"], "beta": c["beta"]},
            "rmsprop": {"lr": c["lr_rmsprop"], "beta": c["beta"]},
            "adam": {"lr": c["lr_adam"], "beta1": c["beta1"], "beta2": c["beta2"]},
        }[rule]

    def _loss(self, w):
        return self._optim.ill_conditioned(w, self.kappa)

    def update(self, change=None) -> None:
        """Recompute the paths of the ticked rules for the current settings and redraw."""
        steps = self.controls["steps"].value
        self.paths, self.final_loss = {}, {}
        for rule, box in self.show.items():
            if not box.value:
                continue
            with np.errstate(over="ignore", invalid="ignore"):
                path = self._optim.optimize_path(rule, self.start, steps, self._loss, **self.hyperparameters(rule))
            self.paths[rule] = path
            end = path[-1]
            with np.errstate(over="ignore", invalid="ignore"):
                self.final_loss[rule] = self._loss(end)[0] if np.all(np.isfinite(end)) else float("inf")
        parts = []
        for rule, f in self.final_loss.items():
            parts.append(f"{OPTIMIZER_RULES[rule]} " + (f"J={f:.2g}" if f < 1e6 else "diverged"))
        c = self.controls
        rates = ", ".join(f"{OPTIMIZER_RULES[r]} α={c['lr_' + r].value:.3g}" for r in OPTIMIZER_RULES)
        self.message = (f"κ={self.kappa:.3g}, {steps} steps, {rates}, β={c['beta'].value:.2f}, "
                        f"β₁={c['beta1'].value:.2f}, β₂={c['beta2'].value:.3f}: " + (", ".join(parts) or "no rule ticked"))
        warn = ""
        gd_lr = c["lr_gd"].value
        if "gd" in self.paths and gd_lr * self.kappa >= 2:
            warn = (f"<br><b>α·κ = {gd_lr * self.kappa:.3g} ≥ 2:</b> plain gradient descent overshoots "
                    f"further at every step along the steep direction and diverges.")
        self.info.value = (f"J(w) = ½(w₀² + {self.kappa:.3g}·w₁²), start {tuple(float(x) for x in self.start)}. "
                           f"Loss after {steps} steps: " + (", ".join(parts) or "tick a rule") + warn)
        self._draw()

    def _draw(self) -> None:
        if not self.draw:
            return
        from cnn_course.plot import draw_paths

        if self._fig is None or self._drawn_kappa != self.kappa:
            # The contours are drawn once per bowl, then only the paths move (a contour pass on
            # every slider move would make the sliders sluggish).
            self._fig = Figure(figsize=(8, 3.6))
            ax = self._fig.subplots()
            dummy = {OPTIMIZER_RULES[r]: np.tile(self.start, (2, 1)) for r in OPTIMIZER_RULES}
            lines = draw_paths(ax, dummy, self._loss, self.XLIM, self.YLIM)
            self._lines = {r: lines[OPTIMIZER_RULES[r]] for r in OPTIMIZER_RULES}
            self._fig.subplots_adjust(left=0.08, right=0.98, bottom=0.14, top=0.95)
            self._drawn_kappa = self.kappa
        for rule, line in self._lines.items():
            path = self.paths.get(rule)
            line.set_visible(path is not None)
            if path is not None:
                path = _finite_or_nan(path)
                line.set_data(path[:, 0], path[:, 1])
        buf = io.BytesIO()
        self._fig.savefig(buf, format="png", dpi=72)
        self.picture.value = buf.getvalue()

    def __repr__(self) -> str:
        return f"{type(self).__name__}: {self.message}"


def optimizer_explorer(start=None, kappa=100.0) -> OptimizerExplorer:
    """Build the optimizer explorer: GD, momentum, RMSProp and Adam on an elongated bowl.

    The loss is ``cnn_course.ref.ill_conditioned`` with condition number κ
    (J = ½(w₀² + κ·w₁²), κ = 100 at first, a slider from 1 to 1000), the paths come from
    ``cnn_course.ref.optimize_path``. Controls: one learning rate per rule on a log scale
    (GD and momentum take steps proportional to the gradient; RMSProp and Adam divide by its
    size, so their α is a step length on another scale), β (momentum and RMSProp), β₁ and β₂
    (Adam), the number of steps, κ, and a tick box per rule.
    start: optional start point (2,) (default ``ref.optim.ILL_CONDITIONED_START``).
    Attributes after each change: ``paths`` ({rule: (steps + 1, 2) array} for the ticked
    rules), ``final_loss`` ({rule: J at the last point}, inf when it diverged) and ``message``.
    """
    return OptimizerExplorer(start, kappa)
