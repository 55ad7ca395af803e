"""Layer tables of torch models, measured with torchinfo: the twin of ``cnn_course.ref.summary``.

``layer_table(model, input_size)`` runs one forward pass (eval mode, no gradients) on a
zero batch of ``input_size`` through ``torchinfo.summary`` and returns a
:class:`~cnn_course.ref.summary.LayerTable`: one :class:`~cnn_course.ref.summary.Row`
(name, kind, output_shape, params, mult_adds) per layer call, in the order the forward pass
runs them, with ``total_params`` and ``total_mult_adds``. ``print_table(rows)`` prints it.

Conventions (shared with ``cnn_course.ref.summary.spec_table``, which computes the same
table from a layer spec; the tests hold them equal for every network of the zoo):

* a row for each call of a layer with no sub-layers (and of any module holding parameters
  of its own); ``name`` is its dotted name in the model (``layer1.0.conv1``), ``kind`` its
  class name; a layer called twice (the blocks' shared ``relu``) gives two rows, its
  parameters counted in the first.
* output_shape includes the batch axis; mult_adds are for the whole batch (use N = 1 for
  the cost of one image).
* mult_adds: torchinfo's count for convolutions and linear layers — every parameter, bias
  included, does one multiply-add per output position: params · N·H_out·W_out for a
  convolution, params · N for a linear layer; 0 for layers without parameters. Batch norm:
  0 (torchinfo counts 2·C per image; at inference batch norm folds into the convolution
  before it, so we leave it out). A module with sub-layers and parameters of its own gets
  a row with those parameters and 0 multiply-adds (what it computes is not known).
"""

from __future__ import annotations

import torch
import torchinfo
import torchinfo.torchinfo
from torch import nn

from .. import _validate
from ..ref.summary import LayerTable, Row, format_table, print_table

__all__ = ["LayerTable", "Row", "format_table", "layer_table", "print_table"]


def _input_size(model: nn.Module, input_size) -> tuple[int, ...]:
    if input_size is None:
        shape = getattr(model, "input_shape", None)
        if shape is None:
            raise ValueError("input_size is needed for this model: give the batch shape, e.g. (1, 3, 224, 224)")
        return (1, *shape)
    if not isinstance(input_size, (tuple, list, torch.Size)) or len(input_size) < 2:
        raise ValueError(f"input_size must be the shape of an input batch, e.g. (1, 3, 224, 224), got {input_size!r}")
    return tuple(_validate.check_positive_int(d, "input_size[i]") for d in input_size)


def _is_norm(module: nn.Module) -> bool:
    return isinstance(module, nn.modules.batchnorm._NormBase) or "Norm" in type(module).__name__


def layer_table(model: nn.Module, input_size=None) -> LayerTable:
    """Per-layer output shape, parameters and multiply-adds of ``model`` on a batch of ``input_size``.

    model: any ``nn.Module``; input_size: the input batch shape, e.g. (1, 3, 224, 224)
    (default: (1, *model.input_shape) for the zoo's classic networks). The forward pass
    runs on the device and in the floating dtype of the model's parameters (CPU and
    float32 for a model without parameters), in eval mode, without gradients; the model's
    training mode is restored and nothing else changes (running statistics included).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    size = _input_size(model, input_size)
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    try:
        stats = torchinfo.summary(model, input_size=size, dtypes=[dtype], device=device, mode="eval",
                                  verbose=0, cache_forward_pass=False)
    except RuntimeError as err:  # torchinfo wraps the model's own error
        cause = err.__cause__ or err
        raise ValueError(f"the model cannot run on an input of size {size}: {cause}") from cause
    finally:  # torchinfo keeps every summary (and so the model) in a module-level cache
        torchinfo.torchinfo.clear_cached_forward_pass()
    names = {id(m): name for name, m in model.named_modules()}
    seen: set[int] = set()
    table = LayerTable()
    for info in stats.summary_list:
        module = info.module
        own = sum(p.numel() for p in module.parameters(recurse=False))
        if not info.executed or not (info.is_leaf_layer or own):
            continue
        params = 0 if id(module) in seen else own
        seen.add(id(module))
        mult_adds = 0 if (_is_norm(module) or not info.is_leaf_layer or not own) else int(info.macs)
        name = names.get(id(module)) or type(module).__name__
        table.append(Row(name, type(module).__name__, tuple(info.output_size), params, mult_adds))
    return table
