"""The classic-networks notebook (topic 4): layer tables as text, and where a network's
parameters and computation sit.

A *table* is a list of rows ``(kind, output_shape, params, mult_adds)``, one per layer, as the
notebook's ``network_table`` returns it (``output_shape`` per example: ``(n_C, n_H, n_W)`` or
``(n,)``).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ._common import _tight

__all__ = ["print_spec_table", "plot_cost_shares"]


def _shape_text(shape) -> str:
    return " × ".join(str(int(v)) for v in shape)


def print_spec_table(rows, input_shape=None, title: str | None = None, only_weights: bool = False) -> None:
    """Print ``rows`` as an aligned table with totals (``only_weights``: skip the rows without
    parameters, e.g. activations, pooling, flatten, dropout)."""
    rows = list(rows)
    if not rows:
        raise ValueError("rows is empty: expected [(kind, output_shape, params, mult_adds), ...]")
    for k, row in enumerate(rows):
        if not isinstance(row, (tuple, list)) or len(row) != 4:
            raise ValueError(f"row {k} must be (kind, output_shape, params, mult_adds), got {row!r}")
    if title:
        print(title)
    head = f"{'#':>3}  {'layer':8s} {'output (n_C × n_H × n_W)':>26s} {'params':>13s} {'mult-adds':>15s}"
    print(head)
    print("-" * len(head))
    if input_shape is not None:
        print(f"{'':>3}  {'input':8s} {_shape_text(input_shape):>26s}")
    for k, (kind, shape, params, madds) in enumerate(rows, 1):
        if only_weights and not params:
            continue
        print(f"{k:>3}  {kind:8s} {_shape_text(shape):>26s} {int(params):>13,d} {int(madds):>15,d}")
    print("-" * len(head))
    total_p, total_m = sum(int(r[2]) for r in rows), sum(int(r[3]) for r in rows)
    print(f"{'':>3}  {'total':8s} {'':>26s} {total_p:>13,d} {total_m:>15,d}")


def plot_cost_shares(tables: dict, size: float = 4.2):
    """For each named table, the share of the parameters and of the mult-adds of every layer
    that has parameters (conv and fc), as bars side by side. Returns the figure."""
    if not tables:
        raise ValueError("tables is empty: expected {name: rows}")
    fig, axes = plt.subplots(1, len(tables), figsize=(size * len(tables), 3.2), squeeze=False)
    for ax, (name, rows) in zip(axes[0], tables.items()):
        weighted = [r for r in rows if r[2]]
        labels, convs, fcs = [], 0, 0
        for kind, *_ in weighted:
            if kind == "conv":
                convs += 1
                labels.append(f"conv{convs}")
            else:
                fcs += 1
                labels.append(f"fc{fcs}")
        params = np.array([r[2] for r in weighted], dtype=float)
        madds = np.array([r[3] for r in weighted], dtype=float)
        x = np.arange(len(weighted))
        ax.bar(x - 0.2, 100 * params / params.sum(), width=0.4, label="parameters")
        ax.bar(x + 0.2, 100 * madds / madds.sum(), width=0.4, label="mult-adds")
        ax.set_xticks(x, labels, rotation=90 if len(x) > 10 else 0, fontsize=8)
        ax.set_ylabel("% of the network")
        ax.set_title(name)
        ax.legend(fontsize=8)
    _tight(fig)
    plt.close(fig)
    return fig
