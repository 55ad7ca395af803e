"""Plotting helpers for the notebooks (matplotlib only).

Every helper draws one figure, closes it in pyplot (so Jupyter's inline backend does
not draw it a second time) and returns it: a notebook cell that ends with the call
shows the picture exactly once (elsewhere use ``display(fig)`` or ``fig.savefig``),
and a test can count the axes. None of them calls ``plt.show()``. Images are NumPy arrays: ``(H, W)`` grey or ``(H, W, 3)`` colour;
stacks of maps follow the course layout ``(C, H, W)`` (or ``(1, C, H, W)``).

The helpers live in modules by what they draw, and every one is importable from here
(``from cnn_course.plot import show_images``):

* :mod:`.images`: images, matrices with their numbers, a convolution step, feature maps, filters;
* :mod:`.training`: training curves (one run, several runs, any curves on one axes);
* :mod:`.optim`: the optimizers notebook (paths, decision boundaries, averages, surfaces, samples);
* :mod:`.batchnorm`: the batch-norm notebook (runs across learning rates, distributions, batch sizes).
"""

from __future__ import annotations

from .batchnorm import (  # noqa: F401  (_bn_moving_average: the tests use it)
    _bn_moving_average,
    plot_batch_size_effect,
    plot_histograms,
    plot_percentile_bands,
    plot_run_comparison,
)
from .images import show_conv_step, show_feature_maps, show_filters, show_images, show_matrices, show_matrix
from .optim import draw_paths, plot_decision_boundary, plot_ewa, plot_paths, plot_samples, plot_surfaces
from .training import compare_histories, plot_curves, plot_history

__all__ = [
    "show_images",
    "show_matrix",
    "show_matrices",
    "show_conv_step",
    "show_feature_maps",
    "show_filters",
    "plot_history",
    "plot_run_comparison",
    "plot_percentile_bands",
    "plot_batch_size_effect",
    "plot_histograms",
    "plot_paths",
    "draw_paths",
    "plot_decision_boundary",
    "plot_curves",
    "compare_histories",
    "plot_ewa",
    "plot_surfaces",
    "plot_samples",
]

# What units respond to (cnn_course.plot.features): a row of top image patches per unit.
from .features import show_top_patches  # noqa: E402

__all__ += ["show_top_patches"]

# Boxes with class names and scores (cnn_course.plot.detection, topics 8 and 9).
from .detection import draw_boxes, show_detections  # noqa: E402

__all__ += ["draw_boxes", "show_detections"]
