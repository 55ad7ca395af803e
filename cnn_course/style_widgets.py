"""Notebook 12's pictures and explorer: stylisations side by side, the cost curves, and a widget
that re-runs :func:`cnn_course.pt.style_transfer.stylize` on a small image for α, β and the
style-layer weights set by sliders (the run starts on a button press, never on its own, so
executing the notebook does not run it)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["show_images", "plot_style_costs", "style_explorer"]


def show_images(images, titles, size=3.0):
    """Images (H, W, 3) in [0, 1] or uint8 side by side, with titles. Returns the figure, closed:
    a notebook shows it once, as the cell's value (or with ``display``)."""
    fig, axes = plt.subplots(1, len(images), figsize=(size * len(images), size), squeeze=False)
    for ax, img, title in zip(axes[0], images, titles):
        ax.imshow(img)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_style_costs(history, alpha, beta, ax=None):
    """α·J_content, β·J_style and J per step (log scale) from ``stylize``'s history. Draws on ``ax``
    and returns it, or (ax None) on a new figure and returns that figure, closed (see show_images)."""
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.2))
    steps = np.arange(1, len(history["J"]) + 1)
    ax.semilogy(steps, history["J"], label="J = α J_content + β J_style", color="k")
    ax.semilogy(steps, alpha * np.asarray(history["J_content"]), label="α J_content", color="tab:blue")
    ax.semilogy(steps, beta * np.asarray(history["J_style"]), label="β J_style", color="tab:orange")
    ax.set_xlabel("Adam step")
    ax.set_ylabel("cost")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    if fig is not None:
        fig.tight_layout()
        plt.close(fig)
        return fig
    return ax


def style_explorer(content, style_image, feature_net, size=128, steps=40):
    """Sliders for log10(β/α) (α = 10) and the λ of each style layer, a button that runs
    ``stylize`` at ``size`` px for ``steps`` steps, and an output with the image and its costs."""
    import ipywidgets as widgets
    from IPython.display import display

    from .pt.style_transfer import STYLE_LAYERS, stylize, to_numpy_image

    ratio = widgets.FloatSlider(value=3.0, min=0.0, max=5.0, step=0.5, description="log10(β/α)")
    sliders = {name: widgets.FloatSlider(value=w, min=0.0, max=1.0, step=0.1, description=f"λ {name}",
                                         style={"description_width": "120px"})
               for name, w in STYLE_LAYERS.items()}
    button = widgets.Button(description="stylize")
    out = widgets.Output()

    def run(_=None):
        weights = {n: s.value for n, s in sliders.items() if s.value > 0}
        alpha, beta = 10.0, 10.0 * 10 ** ratio.value
        with out:
            out.clear_output(wait=True)
            if not weights:
                print("give at least one style layer a weight above 0")
                return
            G, hist = stylize(content, style_image, steps=steps, alpha=alpha, beta=beta, layer_weights=weights,
                              feature_net=feature_net, size=size)
            fig, axes = plt.subplots(1, 2, figsize=(9, 3.3))
            axes[0].imshow(to_numpy_image(G))
            axes[0].set_title(f"β/α = {beta / alpha:g}, {steps} steps, {hist['seconds'][-1]:.1f} s", fontsize=9)
            axes[0].axis("off")
            plot_style_costs(hist, alpha, beta, ax=axes[1])
            fig.tight_layout()
            plt.close(fig)
            display(fig)

    button.on_click(run)
    return widgets.VBox([ratio, *sliders.values(), button, out])
