"""A fully connected network in PyTorch, the twin of ``cnn_course.ref.mlp``.

``MLP([n0, n1, ..., nL])`` is an ``nn.Sequential`` of named layers:

    flatten                      (m, ...) -> (m, n0)   (images (m, 1, 28, 28) become rows)
    fc{l}, [bn{l}], act{l}, [drop{l}]   for the hidden layers l = 1..L-1
    fc{L}                        -> (m, nL) logits

fc{l} is ``nn.Linear(n_{l-1}, n_l)`` (weight (n_l, n_{l-1}), as W{l} of the reference);
bn{l} is ``cnn_course.pt.batchnorm.BatchNorm1d`` (the course's own batch norm) when
batchnorm=True, and then fc{l} has no bias (batch norm's β takes its place); drop{l} is the
course's inverted ``Dropout(keep_prob)`` when keep_prob < 1.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from ..ref.dropout import _check_keep_prob
from ..ref.init import _check_layer_dims
from ..ref.mlp import _check_activation
from .dropout import Dropout
from .init import initialize_

__all__ = ["MLP"]

_ACTIVATION_MODULES = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


class MLP(nn.Sequential):
    """Fully connected classifier: hidden layers Linear -> [BatchNorm1d] -> act -> [Dropout].

    layer_dims: [n0, n1, ..., nL]; activation: "relu", "tanh" or "sigmoid"; keep_prob: keep probability of
    dropout after every hidden activation (1.0 = no dropout layers); batchnorm: add the course's
    BatchNorm1d after every hidden Linear. method: weight initialisation (``INIT_METHODS`` of
    ``cnn_course.pt.init``; None keeps torch's default); generator: optional ``torch.Generator``
    for the initial weights and the dropout masks. Input (m, n0) or (m, ...) with n0 entries per
    example -> logits (m, nL).
    """

    def __init__(self, layer_dims, activation="relu", keep_prob=1.0, batchnorm=False, *, method="he",
                 generator=None, scale=0.01):
        dims = _check_layer_dims(layer_dims)
        activation = _check_activation(activation)
        keep_prob = _check_keep_prob(keep_prob)
        layers = OrderedDict(flatten=nn.Flatten())
        L = len(dims) - 1
        for layer in range(1, L + 1):
            hidden = layer < L
            layers[f"fc{layer}"] = nn.Linear(dims[layer - 1], dims[layer], bias=not (hidden and batchnorm))
            if not hidden:
                break
            if batchnorm:
                from .batchnorm import BatchNorm1d  # the course's own batch norm, not torch's

                layers[f"bn{layer}"] = BatchNorm1d(dims[layer])
            layers[f"act{layer}"] = _ACTIVATION_MODULES[activation]()
            if keep_prob < 1:
                layers[f"drop{layer}"] = Dropout(keep_prob, generator)
        super().__init__(layers)
        self.layer_dims, self.activation, self.keep_prob, self.batchnorm = dims, activation, keep_prob, bool(batchnorm)
        if method is not None:
            initialize_(self, method, generator, scale)

    def __getitem__(self, idx):
        # nn.Sequential would rebuild a slice with MLP(OrderedDict); a plain Sequential fits
        if isinstance(idx, slice):
            return nn.Sequential(OrderedDict(list(self._modules.items())[idx]))
        return super().__getitem__(idx)

    def linears(self) -> list:
        """The Linear layers fc1, ..., fcL in order."""
        return [getattr(self, f"fc{layer}") for layer in range(1, len(self.layer_dims))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a tensor of shape (m, {self.layer_dims[0]}), got {type(x).__name__}")
        if x.ndim < 2 or math.prod(x.shape[1:]) != self.layer_dims[0]:
            raise ValueError(
                f"MLP expects input (m, {self.layer_dims[0]}) or (m, ...) with {self.layer_dims[0]} entries per "
                f"example, got shape {tuple(x.shape)}"
            )
        return super().forward(x)

    def load_params(self, params) -> MLP:
        """Copy a reference params dict {"W1": (n1, n0), "b1": (n1,), ...} (NumPy) into fc1..fcL.

        Only for networks without batch norm (their Linear layers have biases). Returns self.
        """
        if self.batchnorm:
            raise ValueError("load_params needs an MLP without batch norm (the reference has no BN parameters)")
        for layer, fc in enumerate(self.linears(), start=1):
            for name, tensor in ((f"W{layer}", fc.weight), (f"b{layer}", fc.bias)):
                if name not in params:
                    raise ValueError(f"params has no entry {name!r}")
                value = np.asarray(params[name])
                if value.shape != tuple(tensor.shape):
                    raise ValueError(f"params[{name!r}] must have shape {tuple(tensor.shape)}, got {value.shape}")
                with torch.no_grad():
                    tensor.copy_(torch.as_tensor(value))
        return self

    def export_params(self) -> dict:
        """The weights as a reference params dict of NumPy arrays {"W1": ..., "b1": ..., ...}."""
        params = {}
        for layer, fc in enumerate(self.linears(), start=1):
            params[f"W{layer}"] = fc.weight.detach().cpu().numpy().copy()
            if fc.bias is not None:
                params[f"b{layer}"] = fc.bias.detach().cpu().numpy().copy()
        return params
