"""Portable CPU numerics: the same training numbers, bit for bit, on every x86-64 machine.

A few epochs of training amplify a difference in the last bit of one gradient into the
second decimal of the final loss. PyTorch chooses its CPU code at run time from what the
processor offers, and each choice rounds differently:

- ATen's own kernels (element-wise maths, sums, softmax, and the float32 ``normal_`` that
  draws initial weights) exist in DEFAULT, AVX2 and AVX-512 builds; the widest the CPU
  supports runs, and vector width changes the order of additions and the use of FMA.
- Matrix products go to Intel oneMKL, which dispatches by processor (AVX-512, AVX2, its own
  paths on AMD) and blocks the work by cache size.
- Convolutions go to oneDNN (kernels JIT-compiled for the CPU, blocked by cache size) or
  NNPACK (blocked by cache size).

So the outputs recorded on one machine failed nbval on another (an AVX-512 Xeon here, CI
runners may be AMD EPYC without AVX-512). The course pins all three:

- ``ATEN_CPU_CAPABILITY=avx2``: the AVX2 kernels, which every x86-64 CPU since 2015 runs
  (Intel Haswell, AMD Zen); ``torch.backends.cpu.get_cpu_capability()`` then says "AVX2".
- ``MKL_CBWR=COMPATIBLE``: oneMKL's Conditional Numerical Reproducibility mode on its SSE2
  branch without approximate instructions, the one branch documented to give the same
  results on Intel and non-Intel processors (fixed blocking, deterministic reductions;
  conditions: a fixed thread count, and 64-byte-aligned arrays, which the course's training
  helpers hand over). It makes matrix products up to ~1.5x slower on small models.
- :func:`portable_cpu` switches oneDNN and NNPACK off while the course's training helpers
  run on the CPU, so that convolutions run as im2col + oneMKL matrix products.

Both variables are read once per process: ATen's when it first dispatches a kernel, oneMKL's
at its first call. ``import cnn_course`` sets them (unless already set), which is in time
whenever the notebook imports cnn_course before it computes anything with torch, as every
course notebook does; ``python3 run.py test`` also puts them in the environment of the
kernels it starts. :func:`problems` says when they did not take effect (torch used before
``import cnn_course``, a CPU without AVX2), and the training helpers then warn that the
numbers will differ from the recorded outputs. Thread counts are the notebook's business
(the course notebooks call ``torch.set_num_threads(1)``). On other processors (ARM, or x86
without AVX2) nothing is pinned: results are reproducible run to run but not equal to the
recorded ones. This module imports only the standard library until torch is needed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import warnings

__all__ = ["PORTABLE_ENV", "is_x86_64", "apply_portable_env", "problems", "warn_if_not_portable",
           "portable_cpu"]

#: Environment variables that pin torch's CPU code paths (see the module docstring).
PORTABLE_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "COMPATIBLE"}

_MKL_CBWR_BRANCH = 1       # mkl_cbwr_get(MKL_CBWR_BRANCH): which branch is in use
_MKL_CBWR_COMPATIBLE = 3
_warned = False


def is_x86_64() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64")


def apply_portable_env(environ=None) -> dict[str, str]:
    """Set each variable of ``PORTABLE_ENV`` that is not set yet (x86-64 only: elsewhere the
    values mean nothing). Returns the variables it set. Call before torch's first kernel."""
    environ = os.environ if environ is None else environ
    if not is_x86_64():
        return {}
    added = {k: v for k, v in PORTABLE_ENV.items() if k not in environ}
    environ.update(added)
    return added


def _mkl_branch() -> int | None:
    """oneMKL's CNR branch in this process (3 = COMPATIBLE, 1 = off), or None if unknown.

    torch links oneMKL statically; ``mkl_serv_cbwr_get`` is the entry point behind MKL's
    documented ``mkl_cbwr_get``. Reading it fixes the branch, as any MKL call would.
    """
    import torch

    try:
        lib = ctypes.CDLL(os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so"))
        get = lib.mkl_serv_cbwr_get
    except (OSError, AttributeError):
        return None
    get.restype, get.argtypes = ctypes.c_int, [ctypes.c_int]
    return get(_MKL_CBWR_BRANCH)


def problems() -> list[str]:
    """Why this process's CPU numbers may differ from the recorded outputs ([] when pinned).

    Only x86-64 is checked. Calling this fixes ATen's kernel choice and oneMKL's branch for
    the rest of the process, as the first torch computation would."""
    if not is_x86_64():
        return []
    import torch

    found = []
    capability = torch.backends.cpu.get_cpu_capability()
    if os.environ.get("ATEN_CPU_CAPABILITY", "").lower() != "avx2" or capability != "AVX2":
        found.append(f"torch runs its {capability} kernels, not AVX2 (ATEN_CPU_CAPABILITY="
                     f"{os.environ.get('ATEN_CPU_CAPABILITY', 'unset')}; a CPU without AVX2 runs DEFAULT)")
    if torch.backends.mkl.is_available():
        branch = _mkl_branch()
        if branch is not None and branch != _MKL_CBWR_COMPATIBLE:
            found.append(f"oneMKL is not in its COMPATIBLE reproducibility mode (branch {branch}, "
                         f"MKL_CBWR={os.environ.get('MKL_CBWR', 'unset')})")
    return found


def warn_if_not_portable() -> None:
    """Warn once per process when :func:`problems` finds any: the training numbers will
    then differ (in the second decimal, after a few epochs) from the recorded outputs."""
    global _warned
    if _warned:
        return
    found = problems()
    _warned = True
    if found:
        settings = " ".join(f"{k}={v}" for k, v in PORTABLE_ENV.items())
        # stacklevel 4: the training helper that entered portable_cpu(), not contextlib
        warnings.warn("CPU numerics are not pinned, so training numbers will differ from the course's "
                      "recorded outputs: " + "; ".join(found) + ". Import cnn_course before computing "
                      f"anything with torch, or start Python with {settings}.", RuntimeWarning, stacklevel=4)


@contextlib.contextmanager
def portable_cpu(device=None):
    """Inside: convolutions on the CPU avoid oneDNN and NNPACK (their blocking depends on
    the processor), so they run as im2col + oneMKL products. No effect on other devices."""
    import torch

    if device is not None and torch.device(device).type != "cpu":
        yield
        return
    warn_if_not_portable()
    # set_flags, not torch's flags() contexts: those also reset oneDNN's TF32 and precision settings
    mkldnn_before = torch.backends.mkldnn.set_flags(_enabled=False, _fp32_precision=None)[0]
    nnpack_before = torch.backends.nnpack.set_flags(False)[0]
    try:
        yield
    finally:
        torch.backends.mkldnn.set_flags(_enabled=mkldnn_before, _fp32_precision=None)
        torch.backends.nnpack.set_flags(nnpack_before)
