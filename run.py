#!/usr/bin/env python3
"""The course's two entry points; needs nothing but Python 3.11.

    python3 run.py lab     # set up (once) and open the course in JupyterLab
    python3 run.py test    # set up (once) and run the whole test suite

Both create the virtual environment ``.venv`` on first use and bring it up to date
whenever ``pyproject.toml`` or ``requirements.lock`` change; otherwise they start at once.
The notebooks also train on Fashion-MNIST from Debian's ``dataset-fashion-mnist``: run as
root on Debian/Ubuntu (CI, containers) they install it with apt-get; otherwise they say how.
Extra arguments after ``test`` go to pytest (``python3 run.py test -k conv``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".cnn-course-installed"
LOCK_FILES = ("pyproject.toml", "requirements.lock")
WORK = ROOT / "work"  # the student's own copies of the notebooks (git-ignored)
# Real data the notebooks train on, from Debian packages: (package, folder, env var to use another folder).
DEBIAN_DATA = [("dataset-fashion-mnist", "/usr/share/datasets/fashion-mnist", "CNN_COURSE_FASHION_MNIST")]


def venv_python() -> Path:
    sub = "Scripts/python.exe" if os.name == "nt" else "bin/python"
    return VENV / sub


def wanted_stamp() -> str:
    digest = hashlib.sha256()
    for name in LOCK_FILES:
        digest.update((ROOT / name).read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def ensure_venv() -> Path:
    """Create or update .venv so that it holds exactly the pinned packages."""
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"cnn-course needs Python 3.11; this is {sys.version.split()[0]} ({sys.executable}).")
    stamp = wanted_stamp()
    if STAMP.exists() and STAMP.read_text() == stamp and venv_python().exists():
        return venv_python()
    if not venv_python().exists():
        print(f"Creating the virtual environment in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    print("Installing the pinned packages (first run only; a few minutes) ...", flush=True)
    pip = [str(venv_python()), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["-r", str(ROOT / "requirements.lock")], check=True, cwd=ROOT)
    subprocess.run(pip + ["--no-deps", "-e", ".[test]"], check=True, cwd=ROOT)
    STAMP.write_text(stamp)
    return venv_python()


def ensure_data() -> None:
    """Install the Debian data packages the notebooks need, when missing and possible.

    As root on Debian/Ubuntu (CI, containers) this runs apt-get; otherwise it says what to do.
    A folder given through the package's environment variable counts as present.
    """
    missing = [pkg for pkg, folder, env in DEBIAN_DATA
               if not os.environ.get(env) and not Path(folder).is_dir()]
    if not missing:
        return
    apt = shutil.which("apt-get")
    if apt and hasattr(os, "geteuid") and os.geteuid() == 0:
        print(f"Installing data packages: {' '.join(missing)} ...", flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run([apt, "update", "-qq"], check=True, env=env)
        subprocess.run([apt, "install", "-y", "-qq", *missing], check=True, env=env)
        return
    for pkg, folder, env in DEBIAN_DATA:
        if pkg in missing:
            print(f"WARNING: {folder} is missing; notebooks 02 onwards need it. Install it with "
                  f"`sudo apt-get install {pkg}` (Debian/Ubuntu), or put the files in a folder and set "
                  f"{env} to it (see README.md).", flush=True)


def copy_course_to_work() -> None:
    """Give the student their own copy of each notebook; never overwrite their work."""
    for src in sorted((ROOT / "course").rglob("*")):
        if ".ipynb_checkpoints" in src.parts or not src.is_file():
            continue
        dst = WORK / src.relative_to(ROOT / "course")
        if not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)


def venv_env(**extra: str) -> dict[str, str]:
    """The environment of an activated .venv: nbgrader runs tools such as ``alembic`` by name."""
    path = os.pathsep.join([str(venv_python().parent), os.environ.get("PATH", "")])
    return dict(os.environ, VIRTUAL_ENV=str(VENV), PATH=path, **extra)


def lab(args: list[str]) -> int:
    python = ensure_venv()
    ensure_data()
    copy_course_to_work()
    print(f"Opening the course; your notebooks are in {WORK}", flush=True)
    cmd = [str(python), "-m", "jupyter", "lab", f"--ServerApp.root_dir={WORK}", *args]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # e.g. inside a Docker container
        cmd.append("--allow-root")
    return subprocess.call(cmd, cwd=WORK, env=venv_env())


def test(args: list[str]) -> int:
    python = ensure_venv()
    ensure_data()
    # Two pytest workers share the cores; one BLAS/torch thread each avoids oversubscription,
    # which makes small tensor work 5-25x slower.
    env = venv_env(MPLBACKEND="Agg", PYTHONHASHSEED="0", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = [
        str(python), "-m", "pytest",
        "tests", "solutions",
        "--nbval", "--nbval-current-env", "--nbval-sanitize-with", "tests/nbval_sanitize.cfg",
        "-n", "2", "--dist", "loadfile",
        "-p", "no:cacheprovider",
        *args,
    ]
    return subprocess.call(cmd, cwd=ROOT, env=env)


def main() -> int:
    commands = {"lab": lab, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__.strip())
        return 2
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
