"""Time notebook cells in the kernel a student gets from ``python3 run.py lab``.

Starts ``run.py lab`` (its server, from a throw-away work folder, on a free port), opens a
kernel session for the notebook as the browser does, runs the cells a target cell needs
(taken from the instructor notebook in ``solutions/``, so the exercises are solved) and
times the target cell over the kernel's websocket; a fresh kernel for every run. It prints
the kernel's thread set-up, the load average around each run, each run's seconds and the
target cell's own output (notebook 02's cell prints the time of each of its three runs).

    python benchmarks/bench_lab_kernel.py [--runs 3] [--only learn-filter]

Not a test; always exits 0. On shared cores the absolute times mean little: compare runs
made under the same load, and the ratios the cells print.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests._lab_server import LabServer  # noqa: E402

THREADS = """
import os, torch, threadpoolctl
blas = [(i["internal_api"], i["num_threads"]) for i in threadpoolctl.threadpool_info()]
env = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
print(f"torch threads {torch.get_num_threads()}, BLAS/OpenMP pools {blas}, env {env}")
"""


def _cells(topic: str) -> list[dict]:
    nb = json.loads((REPO / "solutions" / topic / f"{topic}.ipynb").read_text())
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def _src(cell: dict) -> str:
    return "".join(cell["source"])


def plan_learn_filter() -> tuple[str, list[str], str]:
    """Notebook 01: the set-up cell, then the cell that learns a filter (id ``learn-filter``)."""
    cells = _cells("01_convolution")
    target = next(c for c in cells if c.get("id") == "learn-filter")
    return "01_convolution", [_src(cells[0])], _src(target)


def plan_minibatch() -> tuple[str, list[str], str]:
    """Notebook 02: the batch / mini-batch / SGD comparison (found by its text), after the
    set-up cell, the solved exercises before it and the cells that define the network,
    load Fashion-MNIST and flatten it."""
    cells = _cells("02_optimizers")
    i = next(i for i, c in enumerate(cells) if "batch GD (size" in _src(c) and "mini-batch GD" in _src(c))
    needed = [cells[0]]
    for c in cells[1:i]:
        s = _src(c)
        if (c["metadata"].get("nbgrader", {}).get("solution") or "def train(" in s
                or "= load_fashion_mnist()" in s or "X_fm =" in s):
            needed.append(c)
    return "02_optimizers", [_src(c) for c in needed], _src(cells[i])


PLANS = {"learn-filter": plan_learn_filter, "minibatch": plan_minibatch}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh kernels per cell (default 3)")
    parser.add_argument("--only", choices=sorted(PLANS), help="time only this cell")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cnn-course-bench-lab-") as tmp:
        server = LabServer(Path(tmp) / "work", Path(tmp) / "server.log")
        with server:
            print(f"run.py lab server on port {server.port}, work folder {server.work}", flush=True)
            for name, plan in PLANS.items():
                if args.only and name != args.only:
                    continue
                topic, before, target = plan()
                for run in range(1, args.runs + 1):
                    kernel = server.kernel(f"{topic}/{topic}.ipynb")
                    try:
                        if run == 1:
                            print(kernel.execute(THREADS)[0].strip(), flush=True)
                        prep = sum(kernel.execute(code)[1] for code in before)
                        load0 = os.getloadavg()[0]
                        out, seconds = kernel.execute(target)
                        load1 = os.getloadavg()[0]
                    finally:
                        kernel.close()
                    print(f"{name} run {run}: {seconds:6.2f} s   (cells before it {prep:5.1f} s; "
                          f"load average {load0:.1f} -> {load1:.1f})", flush=True)
                    lines = [ln for ln in out.splitlines() if "(" in ln and " s)" in ln]
                    for ln in lines:
                        print("    " + ln.strip())
                    time.sleep(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
