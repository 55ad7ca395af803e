#!/usr/bin/env python3
"""The course's entry points; needs nothing but Python 3.11.

    python3 run.py lab           # set up (once) and open the course in JupyterLab
    python3 run.py test          # set up (once) and run the whole test suite
    python3 run.py grade-setup   # set up (once) a grading machine: the environment plus bubblewrap

All create the virtual environment ``.venv`` on first use and bring it up to date
whenever ``pyproject.toml`` or ``requirements.lock`` change; otherwise they start at once.
The notebooks also train on Fashion-MNIST from Debian's ``dataset-fashion-mnist``, segment
the brain MRI of Debian's ``mricron-data``, detect faces in the Solvay photo of
``visp-images-data`` (a 75 MB download) and paint in the style of Klimt (same package) and Van
Gogh (``opencv-doc``); the autograder's sandbox needs ``bubblewrap`` and the
gradebook tests start a throw-away PostgreSQL server from ``postgresql``. Run as root on
Debian/Ubuntu (CI, containers) these
commands install what they need with apt-get; otherwise they say what to install.
Extra arguments after ``test`` go to pytest (``python3 run.py test -k conv``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
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
FRONT_PAGE = "00_start_here.ipynb"  # course/'s front page, opened first
WORK_ENV = "CNN_COURSE_WORK"  # another folder for them (the browser test uses a throw-away one)
# The student's JupyterLab configuration: only the assignment list and the Validate button of
# nbgrader's extensions, no news pop-up, nbgrader's settings for Validate (lab_config/README.md).
LAB_CONFIG = ROOT / "lab_config"
# One BLAS/OpenMP thread per kernel, as CI has (run.py test): on a laptop's few cores NumPy's
# OpenBLAS pool and torch's OpenMP pool otherwise take the cores from each other, and a cell
# that needs 0.3 s takes seconds.
KERNEL_THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# Real data the notebooks use, from Debian packages:
# (package, folder, env var to use another folder, the notebooks that need it).
DEBIAN_DATA = [
    ("dataset-fashion-mnist", "/usr/share/datasets/fashion-mnist", "CNN_COURSE_FASHION_MNIST", "notebooks 02 onwards"),
    ("mricron-data", "/usr/share/mricron/templates", "CNN_COURSE_MRICRON", "the U-Net and 3-D convolution notebooks"),
    ("visp-images-data", "/usr/share/visp-images-data/ViSP-images/faces", "CNN_COURSE_SOLVAY_FACES",
     "notebook 11 (the Solvay faces) and notebook 12 (Klimt's The Kiss)"),
    ("opencv-doc", "/usr/share/doc/opencv-doc/examples/data", "CNN_COURSE_PAINTINGS",
     "notebook 12 (Van Gogh's The Starry Night)"),
]
# PostgreSQL's server programs: Debian keeps them in /usr/lib/postgresql/<version>/bin (only
# psql & co. are on PATH); other systems put initdb/pg_ctl on PATH. CNN_COURSE_PG_BIN names
# another folder. tests/test_gradebook_postgres.py looks them up the same way.
PG_BIN_ENV = "CNN_COURSE_PG_BIN"


def postgres_bin() -> Path | None:
    """The folder holding PostgreSQL's ``initdb`` and ``pg_ctl``, or None."""
    candidates = []
    if os.environ.get(PG_BIN_ENV):
        candidates.append(Path(os.environ[PG_BIN_ENV]))
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: _version_key(p.parent.name))
    candidates += reversed(debian)  # newest first
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for folder in candidates:
        if all(os.access(folder / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def _version_key(name: str) -> tuple:
    return tuple(int(part) if part.isdigit() else 0 for part in name.split("."))


CHROMIUM_ENV = "CNN_COURSE_CHROMIUM"  # another Chromium/Chrome binary for the browser test


def chromium_path() -> Path | None:
    """Chromium for tests/test_browser.py: $CNN_COURSE_CHROMIUM, else Debian's ``chromium``."""
    named = os.environ.get(CHROMIUM_ENV) or shutil.which("chromium") or shutil.which("chromium-browser")
    return Path(named) if named and os.access(named, os.X_OK) else None


# System programs from Debian packages: (package, test that it is present, what needs it).
SYSTEM_TOOLS = {
    "bubblewrap": (lambda: shutil.which("bwrap") is not None, "the autograder's sandbox (bwrap)"),
    "postgresql": (lambda: postgres_bin() is not None, "the PostgreSQL gradebook test (initdb, pg_ctl)"),
    "chromium": (lambda: chromium_path() is not None, "the real-browser test of the student's JupyterLab"),
}


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


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def apt_install(packages: list[str]) -> bool:
    """``apt-get install -y packages`` when running as root on Debian/Ubuntu (CI, containers).

    Tries the install first and refreshes the package lists (``apt-get update``) only when
    that fails (fresh containers have none). Returns False when apt-get is not usable here
    or the install failed; the caller then says what to install by hand.
    """
    apt = shutil.which("apt-get")
    if not packages or not apt or not _is_root():
        return False
    print(f"Installing Debian packages: {' '.join(packages)} ...", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = [apt, "install", "-y", "-qq", "--no-install-recommends", *packages]
    if subprocess.run(install, env=env, stdout=subprocess.DEVNULL).returncode == 0:
        return True
    print("apt-get install failed; refreshing the package lists (apt-get update) and retrying ...", flush=True)
    if subprocess.run([apt, "update", "-qq"], env=env).returncode != 0:
        return False
    return subprocess.run(install, env=env, stdout=subprocess.DEVNULL).returncode == 0


def ensure_data() -> None:
    """Install the Debian data packages the notebooks need, when missing and possible.

    As root on Debian/Ubuntu (CI, containers) this runs apt-get; otherwise it says what to do.
    A folder given through the package's environment variable counts as present.
    """
    missing = [pkg for pkg, folder, env, _ in DEBIAN_DATA
               if not os.environ.get(env) and not Path(folder).is_dir()]
    if not missing or apt_install(missing):
        return
    for pkg, folder, env, needed_by in DEBIAN_DATA:
        if pkg in missing:
            print(f"WARNING: {folder} is missing; {needed_by} need it. Install it with "
                  f"`sudo apt-get install {pkg}` (Debian/Ubuntu), or put the files in a folder and set "
                  f"{env} to it (see README.md).", flush=True)


def ensure_system_tools(packages: list[str]) -> list[str]:
    """Make sure the system programs of ``packages`` (keys of SYSTEM_TOOLS) are installed.

    As root on Debian/Ubuntu the missing ones are installed with apt-get; otherwise this
    prints exactly what to install. Returns the packages still missing afterwards.
    """
    missing = [pkg for pkg in packages if not SYSTEM_TOOLS[pkg][0]()]
    if missing:
        apt_install(missing)
        missing = [pkg for pkg in missing if not SYSTEM_TOOLS[pkg][0]()]
    if missing:
        needs = "; ".join(f"{pkg}: {SYSTEM_TOOLS[pkg][1]}" for pkg in missing)
        elsewhere = "other systems: the same programs from their package manager"
        if "postgresql" in missing:
            elsewhere += f", and set {PG_BIN_ENV} to the folder holding initdb and pg_ctl"
        print(f"WARNING: missing system packages ({needs}). Install them with "
              f"`sudo apt-get install {' '.join(missing)}` (Debian/Ubuntu; {elsewhere}).", flush=True)
    return missing


def copy_course_to_work(work: Path = WORK) -> None:
    """Give the student their own copy of each notebook; never overwrite their work. The
    front page holds none, so it is always the course's current one."""
    for src in sorted((ROOT / "course").rglob("*")):
        if ".ipynb_checkpoints" in src.parts or not src.is_file():
            continue
        dst = work / src.relative_to(ROOT / "course")
        if not dst.exists() or (dst == work / FRONT_PAGE and dst.read_bytes() != src.read_bytes()):
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)


def venv_env(**extra: str) -> dict[str, str]:
    """The environment of an activated .venv: nbgrader runs tools such as ``alembic`` by name."""
    path = os.pathsep.join([str(venv_python().parent), os.environ.get("PATH", "")])
    return dict(os.environ, VIRTUAL_ENV=str(VENV), PATH=path, **extra)


def ensure_kernel_threads(python: Path) -> None:
    """Give the environment's ``python3`` kernel spec (ipykernel's, in .venv) the thread
    settings of KERNEL_THREADS, so that a ``jupyter lab`` started by hand in .venv runs its
    kernels as ``run.py lab`` does. Done again whenever pip has put ipykernel's spec back."""
    spec = VENV / "share" / "jupyter" / "kernels" / "python3" / "kernel.json"
    if not spec.is_file():
        subprocess.run([str(python), "-m", "ipykernel", "install", "--sys-prefix"],
                       check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    data = json.loads(spec.read_text())
    env = data.get("env") or {}
    if any(env.get(name) != value for name, value in KERNEL_THREADS.items()):
        data["env"] = {**env, **KERNEL_THREADS}
        tmp = spec.with_name(f"kernel.json.{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        os.replace(tmp, spec)  # atomic: a kernel starting meanwhile reads the old or the new spec


def lab_env() -> dict[str, str]:
    """The student's server: the venv, one thread per maths library, lab_config first."""
    config_path = os.pathsep.join(p for p in (str(LAB_CONFIG), os.environ.get("JUPYTER_CONFIG_PATH")) if p)
    return venv_env(**KERNEL_THREADS, JUPYTER_CONFIG_PATH=config_path)


def portable_numerics_env() -> dict[str, str]:
    """The variables that pin torch's CPU code paths, so that training numbers are the same on
    every x86-64 CPU (PORTABLE_ENV of cnn_course/numerics.py, read without importing the
    package, which needs the venv; empty on other processors)."""
    spec = importlib.util.spec_from_file_location("_cnn_course_numerics", ROOT / "cnn_course" / "numerics.py")
    numerics = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(numerics)
    return numerics.apply_portable_env({})


def lab(args: list[str]) -> int:
    """Open the course in JupyterLab. Extra arguments go to ``jupyter lab`` (``--port 8890``,
    ``--no-browser``); CNN_COURSE_WORK names another folder for the student's notebooks."""
    python = ensure_venv()
    ensure_data()
    ensure_kernel_threads(python)
    work = Path(os.environ.get(WORK_ENV) or WORK).resolve()
    copy_course_to_work(work)
    print(f"Opening the course; your notebooks are in {work}", flush=True)
    cmd = [str(python), "-m", "jupyter", "lab", f"--ServerApp.root_dir={work}",
           f"--LabApp.default_url=/lab/tree/{FRONT_PAGE}", *args]
    if _is_root():  # e.g. inside a Docker container
        cmd.append("--allow-root")
    return subprocess.call(cmd, cwd=work, env=lab_env())


def test(args: list[str]) -> int:
    python = ensure_venv()
    ensure_data()
    # The sandbox tests need bwrap; the gradebook test starts its own PostgreSQL server; the
    # browser test drives Chromium.
    ensure_system_tools(["bubblewrap", "postgresql", "chromium"])
    # Two pytest workers share the cores; one BLAS/torch thread each avoids oversubscription,
    # which makes small tensor work 5-25x slower. The pinned CPU code paths make nbval's kernels
    # compute the recorded training numbers on any x86-64 CPU (cnn_course/numerics.py).
    env = venv_env(MPLBACKEND="Agg", PYTHONHASHSEED="0", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   **portable_numerics_env())
    cmd = [
        str(python), "-m", "pytest",
        "tests", "solutions",
        "--nbval", "--nbval-current-env", "--nbval-sanitize-with", "tests/nbval_sanitize.cfg",
        "-n", "2", "--dist", "loadfile",
        "-p", "no:cacheprovider",
        *args,
    ]
    return subprocess.call(cmd, cwd=ROOT, env=env)


def grade_setup(args: list[str]) -> int:
    """Prepare a grading machine: .venv, the data, bubblewrap; then say how grading will run."""
    if args:
        print("grade-setup takes no arguments.")
        return 2
    python = ensure_venv()
    ensure_data()
    missing = ensure_system_tools(["bubblewrap"])
    probe = subprocess.run(
        [str(python), "-c", "from cnn_course.autograde.sandbox import probe_bwrap; print(probe_bwrap() or '')"],
        cwd=ROOT, env=venv_env(), capture_output=True, text=True,
    )
    if probe.returncode != 0:
        reason = "could not check the sandbox: " + (probe.stderr.strip().splitlines() or ["?"])[-1]
    else:
        reason = probe.stdout.strip()
    if not reason and not missing:
        print("Sandbox: bubblewrap works here; each submission runs in its own namespaces as an "
              "unprivileged per-worker uid (see README.md, 'Instructors').")
    else:
        print(f"WARNING: the bubblewrap sandbox is not usable here ({reason or 'bwrap missing'}); "
              "autograding falls back to resource limits only, which do NOT hide files or the "
              "network from student code. Install bubblewrap and run the grader as root.")
    if not _is_root():
        print("Note: run `cnn-course autograde` as root so that each worker can drop to its own uid.")
    print(f"Next: source {VENV}/bin/activate && cnn-course --help")
    return 0 if not missing else 1


def main() -> int:
    commands = {"lab": lab, "test": test, "grade-setup": grade_setup}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__.strip())
        return 2
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
