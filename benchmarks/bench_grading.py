"""Throughput and overhead of the sandboxed autograder on the convolution notebook.

    python benchmarks/bench_grading.py [--n 200] [--workers 2] [--plain-sample 0] [--shards S] [--db-url URL]

Builds ``--n`` submissions of ``01_convolution`` from the release notebook (a mix of the
correct, vectorised and buggy answers of ``tests/submissions/convolution.py``), then

1. **graded**: ``cnn-course collect`` + ``cnn-course autograde --workers W`` in a throw-away
   course root with its own SQLite gradebook: sandbox, judge outside the kernel, nbgrader's
   gradebook writes, everything an instructor runs;
2. **plain**: the same notebooks, with the instructor's test cells (hidden tests included)
   put back, executed by nbclient in an ordinary kernel, W notebooks at a time, nothing else.
   This is what executing the notebooks costs before any grading machinery.

It prints both wall times, the throughput (submissions per minute) and the overhead ratio
graded/plain (the goal is at most 1.3). ``--plain-sample K`` executes only the first K
notebooks plainly and scales (K=0: all). ``--shards S`` grades with S independent
``cnn-course autograde --shard K/S`` processes started together (the workers split between
them), as S machines sharing the course folder and a PostgreSQL gradebook (``--db-url``)
would; ``--no-plain`` skips step 2. Not a test; exits 0. Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import nbformat  # noqa: E402
from nbgrader import utils as nbu  # noqa: E402

from tests.submissions import convolution as catalog  # noqa: E402

ASSIGNMENT = "01_convolution"


def submissions(n: int) -> list[tuple[str, dict[str, str]]]:
    """(student id, answers) pairs: every 4th correct, every 4th vectorised, the rest one bug each."""
    bugs = catalog.BUGS
    out = []
    for i in range(n):
        answers = dict(catalog.CORRECT)
        if i % 4 == 1:
            answers.update(catalog.VECTORISED)
        elif i % 4 in (2, 3):
            bug = bugs[(i // 2) % len(bugs)]
            answers[bug.function] = bug.source
        out.append((f"s{i:03d}", answers))
    return out


def fill(release_nb, answers: dict[str, str]):
    nb = copy.deepcopy(release_nb)
    for c in nb.cells:
        gid = c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if nbu.is_solution(c) and gid in answers:
            c.source = answers[gid]
    return nb


def with_instructor_tests(nb, source_nb):
    """The submission with every test cell replaced by the instructor's (hidden tests included)."""
    tests = {c.metadata.nbgrader["grade_id"]: c.source for c in source_nb.cells
             if nbu.is_grade(c) and not nbu.is_solution(c)}
    nb = copy.deepcopy(nb)
    for c in nb.cells:
        gid = c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in tests:
            c.source = tests[gid]
    return nb


def _execute_plain(path: str) -> float:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": os.path.dirname(path)}}).execute()
    return time.perf_counter() - start


def run(cmd: list[str], env: dict) -> None:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200, help="submissions (default 200)")
    ap.add_argument("--workers", type=int, default=2, help="grading workers = plain notebooks at a time")
    ap.add_argument("--plain-sample", type=int, default=0, help="execute only this many plainly (0: all)")
    ap.add_argument("--shards", type=int, default=1,
                    help="run this many `autograde --shard K/S` graders at once, --workers split between them")
    ap.add_argument("--db-url", default=None, help="gradebook to use (default: SQLite in the throw-away folder); "
                    "an empty PostgreSQL database for the sharded set-up of a large course")
    ap.add_argument("--no-plain", action="store_true", help="skip the plain execution")
    ap.add_argument("--keep", action="store_true", help="keep the throw-away course folder")
    args = ap.parse_args(argv)

    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYTHONHASHSEED="0", MPLBACKEND="Agg")
    tmp = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    try:
        root = tmp / "course"
        (root / "solutions").mkdir(parents=True)
        shutil.copytree(REPO / "solutions" / ASSIGNMENT, root / "solutions" / ASSIGNMENT)
        shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
        db = args.db_url or f"sqlite:///{tmp / 'gradebook.db'}"
        release = nbformat.read(REPO / "course" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
        source = nbformat.read(REPO / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
        inbox, plain = tmp / "inbox", tmp / "plain"
        inbox.mkdir()
        plain.mkdir()
        subs = submissions(args.n)
        for sid, answers in subs:
            nb = fill(release, answers)
            nbformat.write(nb, inbox / f"{sid}.ipynb")
            (plain / sid).mkdir()
            nbformat.write(with_instructor_tests(nb, source), plain / sid / f"{ASSIGNMENT}.ipynb")

        cli = [sys.executable, "-m", "cnn_course.autograde.cli"]
        common = ["--root", str(root), "--db-url", db]
        run(cli + ["collect", ASSIGNMENT, str(inbox)] + common, env)
        start = time.perf_counter()
        if args.shards <= 1:
            run(cli + ["autograde", ASSIGNMENT, "--workers", str(args.workers)] + common, env)
        else:  # independent graders started at the same moment, as on several machines
            per = max(1, args.workers // args.shards)
            procs = [subprocess.Popen(cli + ["autograde", ASSIGNMENT, "--workers", str(per), "--shard",
                                             f"{k}/{args.shards}"] + common, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True) for k in range(1, args.shards + 1)]
            for k, proc in enumerate(procs, 1):
                out = proc.communicate()[0]
                print(f"shard {k}/{args.shards}: {out.strip().splitlines()[0] if out.strip() else '(no output)'}")
        graded = time.perf_counter() - start
        total_workers = args.workers if args.shards <= 1 else max(1, args.workers // args.shards) * args.shards

        print(f"submissions: {len(subs)}  workers: {total_workers} in {max(1, args.shards)} grader(s)  "
              f"cores: {os.cpu_count()}")
        print(f"graded (collect excluded): {graded:8.1f} s  -> {60 * len(subs) / graded:6.2f} submissions/min, "
              f"{60 * len(subs) / graded / total_workers:.2f} per worker")
        if args.no_plain:
            return 0
        sample = subs[: args.plain_sample] if args.plain_sample else subs
        penv = dict(env, NBGRADER_EXECUTION="autograde")  # the same shortened training as under grading
        os.environ.update(penv)
        start = time.perf_counter()
        with ProcessPoolExecutor(args.workers) as pool:
            list(pool.map(_execute_plain, [str(plain / sid / f"{ASSIGNMENT}.ipynb") for sid, _ in sample]))
        plain_wall = (time.perf_counter() - start) * len(subs) / len(sample)

        scaled = f" (scaled from {len(sample)})" if len(sample) != len(subs) else ""
        print(f"plain execution{scaled}:   {plain_wall:8.1f} s  -> {60 * len(subs) / plain_wall:6.2f} notebooks/min")
        print(f"overhead graded/plain: {graded / plain_wall:.2f}x (goal <= 1.3x)")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
