"""Probes: what a check of a PyTorch exercise runs where the student's code lives.

A PyTorch exercise hands the check a class (an ``nn.Module``) or a function that works on
torch objects (a training step). The check needs torch objects next to that code: the
student's model, tensors, an optimizer. When a student runs a visible test in their own
notebook, that is this process. Under the autograder the check runs in the grader (the
judge) while the student's code lives in a sandboxed kernel, and only NumPy data and opaque
handles cross between the two. The probes are the fixed set of small functions a check may
run on the student's side: they take NumPy arrays, numbers, strings and torch objects, and
return NumPy arrays and numbers; a torch object they return (a model, a tensor, an
optimizer) reaches the judge as a handle that it can pass to the next probe.

    k = kernel(Net)                          # the probes, wherever Net lives
    model = Net()                            # the student's module (a handle in the judge)
    info = k.summary(model)                  # parameter names and shapes, mode, ...
    k.set_parameters(model, weights)         # fixed weights, in the order of model.parameters()
    out = k.forward(model, x, mode="eval")   # a NumPy array

A check computes its expected values itself (in the judge, with its own torch or NumPy),
so nothing the kernel does can change how a result is compared. The probes import torch
only when they run: the judge imports this module without pulling torch in.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PROBES", "probe", "kernel", "to_numpy"]

#: name -> probe function; the only functions of this module the judge may call in a kernel.
PROBES: dict = {}

# Classes a check may build on the student's side, by dotted name (see :func:`new`).
_BUILDABLE = ("torch.nn.", "torch.optim.")
_DTYPES = ("float32", "float64", "int64", "int32", "bool")


def probe(fn):
    """Register ``fn`` as a probe (a function the judge may run in the student's kernel)."""
    PROBES[fn.__name__] = fn
    return fn


def _torch():
    import torch

    return torch


def to_numpy(obj):
    """``obj`` with every tensor replaced by a NumPy copy (inside tuples, lists and dicts
    too); numbers, strings, None and other objects stay as they are."""
    torch = _torch()
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().numpy().copy()
    if isinstance(obj, (list, tuple)):
        items = [to_numpy(v) for v in obj]
        return items if isinstance(obj, list) else tuple(items)
    if isinstance(obj, dict):
        return {k: to_numpy(v) for k, v in obj.items()}
    return obj


def _shape(t) -> tuple[int, ...]:
    return tuple(int(d) for d in t.shape)


# --------------------------------------------------------------------------- probes


@probe
def summary(model) -> dict:
    """What a check reads off a module without running it: its class name, whether it is in
    training mode, its parameters ``[(name, shape, requires_grad)]`` and buffers
    ``[(name, shape)]`` (in ``named_parameters()`` / ``named_buffers()`` order), its direct
    and nested submodules ``[(name, class name)]``, and the number of parameters."""
    torch = _torch()
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(model).__name__}")
    params = [(name, _shape(p), bool(p.requires_grad)) for name, p in model.named_parameters()]
    return {
        "class": type(model).__name__,
        "training": bool(model.training),
        "parameters": params,
        "buffers": [(name, _shape(b)) for name, b in model.named_buffers()],
        "modules": [(name, type(m).__name__) for name, m in model.named_modules() if name],
        "n_parameters": int(sum(p.numel() for p in model.parameters())),
    }


def _assign(targets: list, arrays, what: str) -> None:
    torch = _torch()
    arrays = list(arrays)
    if len(arrays) != len(targets):
        raise ValueError(f"the model has {len(targets)} {what}, the check gives {len(arrays)}")
    with torch.no_grad():
        for (name, t), a in zip(targets, arrays):
            a = np.asarray(a)
            if tuple(a.shape) != _shape(t):
                raise ValueError(f"{what[:-1]} {name} has shape {_shape(t)}, the check gives {tuple(a.shape)}")
            t.copy_(torch.as_tensor(a, dtype=t.dtype))


@probe
def set_parameters(model, arrays) -> None:
    """Copy ``arrays`` into the parameters of ``model``, in ``named_parameters()`` order."""
    _assign(list(model.named_parameters()), arrays, "parameters")


@probe
def set_buffers(model, arrays) -> None:
    """Copy ``arrays`` into the buffers of ``model`` (running statistics, ...), in
    ``named_buffers()`` order."""
    _assign(list(model.named_buffers()), arrays, "buffers")


@probe
def parameters(model) -> list[np.ndarray]:
    """The parameters of ``model``, as NumPy copies, in ``named_parameters()`` order."""
    return [to_numpy(p) for p in model.parameters()]


@probe
def gradients(model) -> list:
    """Each parameter's ``.grad`` as a NumPy copy, or None where it has none."""
    return [None if p.grad is None else to_numpy(p.grad) for p in model.parameters()]


@probe
def buffers(model) -> list[np.ndarray]:
    """The buffers of ``model``, as NumPy copies, in ``named_buffers()`` order."""
    return [to_numpy(b) for b in model.buffers()]


@probe
def forward(model, x, mode: str | None = None):
    """``model(x)`` for the NumPy array ``x``, without autograd, as a NumPy array (a tuple or
    list of them when the model returns several). ``mode`` "train" or "eval" switches the
    model first; None leaves its mode alone."""
    torch = _torch()
    if mode is not None:
        if mode not in ("train", "eval"):
            raise ValueError(f"mode must be 'train', 'eval' or None, got {mode!r}")
        model.train(mode == "train")
    with torch.no_grad():
        return to_numpy(model(torch.as_tensor(np.asarray(x))))


@probe
def tensor(array, dtype: str | None = None, requires_grad: bool = False):
    """A torch tensor holding ``array`` (a copy), of ``dtype`` ("float32", "int64", ...;
    default: the array's own)."""
    torch = _torch()
    if dtype is not None and dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {_DTYPES}, got {dtype!r}")
    t = torch.tensor(np.asarray(array), dtype=getattr(torch, dtype) if dtype else None)
    return t.requires_grad_(requires_grad) if requires_grad else t


@probe
def new(name: str, *args, **kwargs):
    """An instance of the torch class ``name`` ("torch.nn.Linear", "torch.optim.SGD",
    "torch.optim.lr_scheduler.StepLR", ...; only ``torch.nn`` and ``torch.optim`` classes)
    built from ``args`` / ``kwargs``; an argument that is a module where the class wants
    parameters (an optimizer) is replaced by the module's parameters, and a dict as the only
    argument of ``torch.nn.Sequential`` names its children (as an ``OrderedDict`` would)."""
    torch = _torch()
    if not isinstance(name, str) or not name.startswith(_BUILDABLE):
        raise ValueError(f"only torch.nn and torch.optim classes can be built, not {name!r}")
    obj = torch
    for part in name.split(".")[1:]:
        obj = getattr(obj, part)
    if not isinstance(obj, type):
        raise ValueError(f"{name} is not a class")
    if issubclass(obj, torch.optim.Optimizer) and args and isinstance(args[0], torch.nn.Module):
        args = (args[0].parameters(), *args[1:])
    if obj is torch.nn.Sequential and len(args) == 1 and isinstance(args[0], dict):
        from collections import OrderedDict  # named children: nn.Sequential({"features": ..., "head": ...})

        args = (OrderedDict(args[0]),)
    return obj(*args, **kwargs)


@probe
def sequential(*layers):
    """``torch.nn.Sequential`` of the layers given as ``(name, args, kwargs)`` triples, e.g.
    ``("Conv2d", (1, 4, 3), {"padding": 1})``; names are classes of ``torch.nn``."""
    torch = _torch()
    built = []
    for spec in layers:
        name, args, kwargs = (list(spec) + [(), {}])[:3]
        built.append(new(f"torch.nn.{name}", *args, **dict(kwargs)))
    return torch.nn.Sequential(*built)


@probe
def call(func, *args, **kwargs) -> tuple:
    """``func(*args, **kwargs)`` (the student's function, handed torch objects), returned as
    ``(result with tensors as NumPy copies, the result's type name)`` — the type name tells
    a check whether the function returned a float, a tensor, ..."""
    result = func(*args, **kwargs)
    return to_numpy(result), type(result).__name__


@probe
def call_backward(func, *args, **kwargs) -> tuple:
    """``func(*args, **kwargs)`` (the student's loss, handed torch tensors), then
    ``result.backward()``: returns ``(result as NumPy, the result's type name, [the .grad of
    each tensor argument that requires grad, or None where no gradient reached it])``. When the
    result is not a tensor connected to those arguments (a float, a detached tensor) nothing
    is back-propagated and every gradient is None, which a check reports."""
    torch = _torch()
    for a in args:
        if isinstance(a, torch.Tensor) and a.requires_grad:
            a.grad = None
    result = func(*args, **kwargs)
    if isinstance(result, torch.Tensor) and result.requires_grad and result.numel() == 1:
        result.backward()
    grads = [to_numpy(a.grad) if a.grad is not None else None
             for a in args if isinstance(a, torch.Tensor) and a.requires_grad]
    return to_numpy(result), type(result).__name__, grads


@probe
def attribute(obj, name: str):
    """The attribute ``name`` of ``obj`` (a number, an array, or a handle), for reading a
    plain setting such as an optimizer's ``param_groups[0]["lr"]``: dotted and indexed
    paths are not supported, so a check reads ``param_groups`` and indexes it itself."""
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        raise ValueError(f"not a public attribute name: {name!r}")
    return to_numpy(getattr(obj, name))


# --------------------------------------------------------------------------- where the student's code lives


class _Probes:
    """The probes as attributes: the functions themselves, or proxies that run them in the
    kernel holding the student's code (see :func:`kernel`)."""

    def __init__(self, session=None):
        self._session = session

    def __getattr__(self, name):
        if name.startswith("_") or name not in PROBES:
            raise AttributeError(f"no probe named {name!r}")
        return PROBES[name] if self._session is None else self._session.probe(name)


def kernel(owner) -> _Probes:
    """The probes, run where ``owner`` (the student's class or function the check was
    given) lives: this process, or the sandboxed kernel behind a proxy of the judge."""
    if getattr(type(owner), "__cnn_remote__", False):
        return _Probes(owner._session)
    return _Probes()
