"""Training numbers must not depend on the CPU that computes them (cnn_course.numerics).

The notebooks' recorded outputs come from one machine and nbval re-computes them on another.
A short run in a fresh interpreter, imported in the notebooks' order (torch first, then
cnn_course), must give the same bits when oneMKL and oneDNN are restricted to the instruction
sets of an older or an AMD CPU (MKL_ENABLE_INSTRUCTIONS, ONEDNN_MAX_CPU_ISA): without the
pinned code paths, an AVX-512 machine and an AVX2 one disagree in the last bits after one step.
"""

import os
import platform
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from cnn_course import numerics
from cnn_course.pt import BatchNorm2d
from cnn_course.pt.experiments import train_run
from cnn_course.pt.train import _aligned, fit, set_seed

X86_AVX2 = numerics.is_x86_64() and torch.cpu._is_avx2_supported()
needs_x86_avx2 = pytest.mark.skipif(not X86_AVX2, reason="the pinned code paths exist on x86-64 CPUs with AVX2")

# A notebook in miniature: torch imported before cnn_course; a small CNN with batch norm
# trained with SGD, an MLP with Adam through fit; prints every loss and a hash of the weights.
PROBE = r"""
import hashlib, sys
import numpy as np
import torch
from torch import nn
TORCH_FIRST = len(sys.argv) > 1
if TORCH_FIRST:
    torch.ones(8, 8) @ torch.ones(8, 8)         # computes before cnn_course can pin anything
import warnings
warnings.simplefilter("always")
from cnn_course import numerics
from cnn_course.pt import BatchNorm2d, MLP
from cnn_course.pt.experiments import train_run
from cnn_course.pt.train import fit, set_seed

torch.set_num_threads(1)
rng = np.random.default_rng(0)
x = rng.random((192, 1, 12, 12), dtype=np.float32)
y = rng.integers(0, 4, 192)
set_seed(0)
cnn = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1, bias=False), BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                    nn.Flatten(), nn.Linear(8 * 6 * 6, 4))
run = train_run(cnn, (x, y), (x[:64], y[:64]), epochs=2, lr=0.05, batch_size=32, optimizer="sgd")
set_seed(0)
mlp = MLP([144, 64, 4], activation="relu")
hist = fit(mlp, (x.reshape(192, -1), y), None, epochs=2, lr=1e-2, batch_size=32, optimizer="adam", progress=False)
weights = b"".join(p.detach().numpy().tobytes() for m in (cnn, mlp) for p in m.parameters())
print("losses", [v.hex() for v in run.step_loss + run.test_loss + hist.train_loss])
print("weights", hashlib.sha256(weights).hexdigest())
print("problems", numerics.problems())
"""


def _probe(extra_env: dict[str, str], *args: str) -> subprocess.Popen:
    # The pins must come from `import cnn_course` itself, not from run.py's environment.
    env = {k: v for k, v in os.environ.items() if k not in numerics.PORTABLE_ENV}
    env.update(extra_env)
    return subprocess.Popen([sys.executable, "-c", PROBE, *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture(scope="module")
def probes():
    """The probe's (stdout, stderr) on this CPU, on this CPU with oneMKL and oneDNN limited to
    AVX2 (as on AMD EPYC CI runners), and with torch used before cnn_course; run side by side."""
    started = {"native": _probe({}),
               "avx2": _probe({"MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}),
               "torch-first": _probe({}, "torch-first")}
    results = {}
    for name, proc in started.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"probe {name} failed:\n{err}"
        results[name] = out, err
    return results


def _bits(out: str) -> list[str]:
    """The probe's losses (as float.hex) and weight hash; fit's timing line is left out."""
    return [line for line in out.splitlines() if line.startswith(("losses", "weights"))]


@needs_x86_avx2
def test_training_bits_do_not_depend_on_the_cpus_instruction_sets(probes):
    native, err = probes["native"]
    bits, older = _bits(native), _bits(probes["avx2"][0])
    assert older == bits, ("the same seeded run gave different bits with oneMKL/oneDNN limited to AVX2: "
                           f"the numbers depend on the CPU.\nnative: {bits}\nAVX2:   {older}")
    assert "problems []" in native, f"`import cnn_course` did not pin the CPU code paths:\n{native}\n{err}"


@needs_x86_avx2
def test_torch_used_before_import_gets_a_clear_warning(probes):
    out, err = probes["torch-first"]
    assert "problems []" not in out, out
    assert "CPU numerics are not pinned" in err, err
    assert "Import cnn_course before computing anything with torch" in err, err


def test_apply_portable_env_keeps_explicit_settings_and_skips_other_processors(monkeypatch):
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    environ = {"MKL_CBWR": "AUTO"}
    assert numerics.apply_portable_env(environ) == {"ATEN_CPU_CAPABILITY": "avx2"}
    assert environ == {"MKL_CBWR": "AUTO", "ATEN_CPU_CAPABILITY": "avx2"}
    monkeypatch.setattr(platform, "machine", lambda: "arm64")
    environ = {}
    assert numerics.apply_portable_env(environ) == {} and environ == {}


def test_run_py_test_environment_pins_the_same_paths():
    sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
    try:
        import run
    finally:
        sys.path.pop(0)
    expected = numerics.PORTABLE_ENV if numerics.is_x86_64() else {}
    assert run.portable_numerics_env() == expected


def test_portable_cpu_turns_onednn_and_nnpack_off_and_restores_them():
    before = (torch.backends.mkldnn.enabled, torch._C._get_nnpack_enabled())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with numerics.portable_cpu("cpu"):
            assert not torch.backends.mkldnn.enabled and not torch._C._get_nnpack_enabled()
            x, w = torch.randn(64, 8, 14, 14), torch.randn(16, 8, 3, 3)
            backend = torch._C._select_conv_backend(x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1, None)
            assert str(backend).endswith("Slow2d"), backend
    assert (torch.backends.mkldnn.enabled, torch._C._get_nnpack_enabled()) == before


def _misaligned_copy(a: np.ndarray, offset: int) -> np.ndarray:
    """``a`` copied into a buffer that starts ``offset`` bytes past a 64-byte boundary."""
    raw = np.empty(a.nbytes + 128, dtype=np.uint8)
    start = (-raw.ctypes.data) % 64 + offset
    out = raw[start:start + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


def test_aligned_copies_only_what_is_misaligned():
    t = torch.arange(64, dtype=torch.float32)
    assert _aligned(t) is t
    odd = torch.as_tensor(_misaligned_copy(np.arange(64, dtype=np.float32), 16))
    fixed = _aligned(odd)
    assert fixed.data_ptr() % 64 == 0 and torch.equal(fixed, odd)
    assert _aligned(t[1:]).data_ptr() % 64 == 0


def test_same_run_from_differently_aligned_numpy_arrays_gives_identical_bits():
    rng = np.random.default_rng(1)
    x = rng.random((128, 1, 8, 8), dtype=np.float32)
    y = rng.integers(0, 3, 128)
    runs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # this pytest process may have used torch before cnn_course
        for offset in (0, 16, 4):
            set_seed(0)
            model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                                  nn.Linear(4 * 8 * 8, 3))
            xs = _misaligned_copy(x, offset)
            run = train_run(model, (xs, y), (xs, y), epochs=1, lr=0.1, batch_size=16)
            runs.append(run.step_loss + run.test_loss + [p.detach().clone() for p in model.parameters()])
    for other in runs[1:]:
        assert all(torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b for a, b in zip(runs[0], other))
