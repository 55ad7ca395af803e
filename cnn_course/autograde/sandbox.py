"""Where a submission's code runs: a bubblewrap sandbox, or resource limits alone.

The autograder never runs a student's notebook in its own process or with its own
rights. Each submission's Jupyter kernel starts inside a :class:`Sandbox`:

``bwrap`` mode (the grader runs as root and ``bwrap`` works)
    The kernel runs under bubblewrap in new pid, network, ipc and uts namespaces, in a
    fresh root file system that holds only read-only binds of ``/usr`` (with the
    ``/bin``, ``/lib``, ``/lib64``, ``/sbin`` links), ``/etc``, the Python installation
    (``sys.base_prefix``), the virtual environment (``sys.prefix``) and the
    ``cnn_course`` package folder (not the repository: ``solutions/`` and the gradebook
    are not there), plus a private ``/tmp`` (tmpfs of ``Limits.tmp_bytes``), a fresh
    ``/dev`` and ``/proc``, and ONE writable folder: the submission's work dir, bound at
    its own path. ``setpriv`` then drops to an unprivileged uid (one per grading
    worker) with no capabilities and ``no_new_privs``. The network namespace is empty,
    so the kernel talks to the grader over ZeroMQ ``ipc`` (unix sockets in
    ``workdir/.kernel/``). Killing ``bwrap`` kills the sandbox's pid 1, and with it
    every process of the sandbox, daemons included.

``rlimits`` mode (no bwrap, or not root)
    The kernel runs as the grader's own user with the same resource limits, its own
    working directory and a minimal environment, over tcp on 127.0.0.1. Files and the
    network are NOT isolated; :meth:`Sandbox.describe` says so.

In both modes the resource limits (:class:`Limits`: address space, CPU seconds,
processes, file size, open files) are set in the child only (``preexec_fn``), never in
the grader.

:class:`SandboxKernelManager` is a ``jupyter_client.KernelManager`` that starts
``ipykernel`` inside a given sandbox; the executor hands it to nbclient.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from jupyter_client import AsyncKernelManager, KernelManager
from jupyter_core.utils import run_sync
from traitlets import Any as AnyTrait
from traitlets import Dict as DictTrait
from traitlets import Float

__all__ = [
    "DEFAULT_UID",
    "AsyncSandboxKernelManager",
    "Limits",
    "Sandbox",
    "SandboxKernelManager",
    "SandboxUnavailable",
    "probe_bwrap",
    "processes_of_uid",
    "sandbox_mode",
]

#: uid of the sandbox when none is given; grading worker ``k`` should use ``DEFAULT_UID + k``
#: (two sandboxes that run at the same time must not share a uid: the process limit and
#: the clean-up after a kill are per uid).
DEFAULT_UID = 61000
MODES = ("auto", "bwrap", "rlimits")
#: Environment variables of the grader passed on to the kernel (course configuration,
#: never secrets). A folder they name is also bound read-only into the sandbox.
PASSTHROUGH_ENV = ("CNN_COURSE_FASHION_MNIST", "CNN_COURSE_OPENCV_DIGITS")
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # cnn_course/


_SPAWNER: tuple[int, concurrent.futures.ThreadPoolExecutor] | None = None


def _spawner() -> concurrent.futures.ThreadPoolExecutor:
    """One long-lived thread per process that starts every sandbox.

    ``bwrap --die-with-parent`` kills the sandbox when the *thread* that started it
    exits (PR_SET_PDEATHSIG), so sandboxes are never started from a caller's thread,
    which may be a short-lived one. Made anew after a fork (the thread does not survive it).
    """
    global _SPAWNER
    if _SPAWNER is None or _SPAWNER[0] != os.getpid():
        _SPAWNER = (os.getpid(), concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="cnn-sandbox-spawner"))
    return _SPAWNER[1]


class SandboxUnavailable(RuntimeError):
    """The requested sandbox cannot be used here; the message says why."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of every process in one sandbox."""

    memory_bytes: int = 3 * 2**30  # RLIMIT_AS of every process in the sandbox
    cpu_seconds: int = 1200  # RLIMIT_CPU (whole kernel lifetime; wall-clock timeouts are the executor's)
    processes: int = 128  # RLIMIT_NPROC for the sandbox uid (threads count too)
    file_bytes: int = 64 * 2**20  # RLIMIT_FSIZE
    open_files: int = 512  # RLIMIT_NOFILE
    tmp_bytes: int = 256 * 2**20  # size of the tmpfs /tmp (bwrap --size)
    work_bytes: int = 256 * 2**20  # size of the work dir: a tmpfs mounted on it (bwrap mode, see mount_workdir)


# --------------------------------------------------------------------------- mounting

_MS_NOSUID, _MS_NODEV, _MNT_DETACH = 2, 4, 2  # <sys/mount.h>


@functools.lru_cache(maxsize=1)
def _libc():
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
    libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
    return libc


def _raise_errno():
    import ctypes

    err = ctypes.get_errno()
    raise OSError(err, os.strerror(err))


# --------------------------------------------------------------------------- probing


def _which(name: str) -> str | None:
    return shutil.which(name, path=os.environ.get("PATH", "") + os.pathsep + "/usr/bin:/bin:/usr/sbin:/sbin")


@functools.lru_cache(maxsize=None)
def probe_bwrap() -> str | None:
    """``None`` when the bwrap sandbox works here (as root), else a one-line reason. Cached."""
    if not sys.platform.startswith("linux"):
        return f"bubblewrap needs Linux (this is {sys.platform})"
    if os.geteuid() != 0:
        return "the grader is not root (bwrap mode needs root to switch the sandbox to its own uid)"
    bwrap, setpriv = _which("bwrap"), _which("setpriv")
    if bwrap is None:
        return "bwrap is not installed (Debian: apt-get install bubblewrap)"
    if setpriv is None:
        return "setpriv is not installed (Debian: util-linux)"
    if not _inside_ro_system(Path(setpriv)):
        return f"setpriv is at {setpriv}, outside /usr: it would not be visible in the sandbox"
    try:
        with tempfile.TemporaryDirectory(prefix="cnng-probe-") as tmp:
            sb = Sandbox(tmp, mode="bwrap", uid=65534, _probing=True)
            sb.prepare()
            cmd = sb.command(["/bin/sh", "-c", 'test "$(id -u)" = 65534 && test -d /proc/self && echo ok'])
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=sb.env())
    except (OSError, subprocess.SubprocessError) as e:
        return f"bwrap could not be run: {e}"
    if out.returncode != 0 or out.stdout.strip() != "ok":
        err = (out.stderr.strip().splitlines() or [f"exit status {out.returncode}"])[-1]
        return f"bwrap does not work here: {err}"
    return None


def sandbox_mode(requested: str = "auto") -> str:
    """The mode to use: ``"bwrap"`` or ``"rlimits"``.

    ``"auto"`` picks bwrap when :func:`probe_bwrap` finds it usable; ``"bwrap"`` raises
    :class:`SandboxUnavailable` with the reason when it is not.
    """
    if requested not in MODES:
        raise ValueError(f"unknown sandbox mode {requested!r}: expected one of {', '.join(MODES)}")
    if requested == "rlimits":
        return "rlimits"
    reason = probe_bwrap()
    if reason is None:
        return "bwrap"
    if requested == "bwrap":
        raise SandboxUnavailable(f"the bwrap sandbox is not available: {reason}")
    return "rlimits"


def processes_of_uid(uid: int) -> list[int]:
    """Host pids of the live processes whose real uid is ``uid`` (a scan of /proc;
    zombies, already dead and waiting to be reaped, are not listed)."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status", "rb") as fh:
                state = None
                for line in fh:
                    if line.startswith(b"State:"):
                        state = line.split()[1]
                    elif line.startswith(b"Uid:"):
                        if int(line.split()[1]) == uid and state not in (b"Z", b"X"):
                            pids.append(int(entry.name))
                        break
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
    return pids


def _threads_of_uid(uid: int) -> int:
    count = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status", "rb") as fh:
                real_uid, threads = None, 1
                for line in fh:
                    if line.startswith(b"Uid:"):
                        real_uid = int(line.split()[1])
                    elif line.startswith(b"Threads:"):
                        threads = int(line.split()[1])
            if real_uid == uid:
                count += threads
        except (OSError, ValueError, IndexError):
            continue
    return count


# --------------------------------------------------------------------------- the sandbox

_RO_SYSTEM = ("/usr", "/etc")


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _inside_ro_system(path: Path) -> bool:
    path = Path(os.path.realpath(path))
    return any(_inside(path, Path(p)) for p in _RO_SYSTEM)


def _fmt_bytes(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


class Sandbox:
    """Where and how one submission's code runs.

    ``workdir`` is the one writable folder (created by :meth:`prepare`); keep its path
    short (unix socket paths under it must stay below ~100 characters), e.g.
    ``/tmp/cnng/w0/<student>``. ``mode`` is ``"auto"``, ``"bwrap"`` or ``"rlimits"``
    (see :func:`sandbox_mode`). ``uid`` is the sandbox user in bwrap mode (default
    :data:`DEFAULT_UID`; give each concurrently running sandbox its own); it is ``None``
    in rlimits mode, where the code runs as the grader's user. ``extra_ro`` are more
    host paths to bind read-only (data folders). ``env`` are extra environment
    variables for the code (nothing is copied from the grader's environment but
    :data:`PASSTHROUGH_ENV`).
    """

    def __init__(
        self,
        workdir: str | os.PathLike,
        *,
        mode: str = "auto",
        uid: int | None = None,
        limits: Limits = Limits(),
        extra_ro: Iterable[str | os.PathLike] = (),
        env: Mapping[str, str] | None = None,
        _probing: bool = False,
    ):
        self.workdir = Path(os.path.abspath(workdir))
        self.mode = mode if _probing else sandbox_mode(mode)
        self.limits = limits
        self.uid = (DEFAULT_UID if uid is None else int(uid)) if self.mode == "bwrap" else None
        if self.uid == 0:
            raise ValueError("the sandbox uid must not be 0")
        self.extra_env = dict(env or {})
        passthrough = {k: os.environ[k] for k in PASSTHROUGH_ENV if os.environ.get(k)}
        self.passthrough_env = passthrough
        extra = [Path(os.path.abspath(p)) for p in extra_ro]
        extra += [Path(os.path.abspath(v)) for v in passthrough.values() if os.path.exists(v)]
        self.extra_ro = tuple(dict.fromkeys(extra))
        self._nproc = limits.processes
        self._rlimit_values = self.rlimits()
        if self.mode == "bwrap":
            self._check_workdir()

    def _ro_paths(self) -> list[Path]:
        """Host paths bound read-only besides /usr and /etc (resolved, existing)."""
        ro = [Path(os.path.realpath(p)) for p in (sys.base_prefix, sys.prefix, PACKAGE_DIR, *self.extra_ro)]
        return [p for p in dict.fromkeys(ro) if p.exists()]

    def _check_workdir(self) -> None:
        wd = self.workdir
        if wd in {Path(p) for p in ("/", "/tmp", "/dev", "/dev/shm", "/proc", "/root", "/home")}:
            raise ValueError(f"the work dir must be a folder of its own, not {wd}")
        if any(_inside(wd, Path(p)) for p in _RO_SYSTEM):
            raise ValueError(f"the work dir {wd} must not be inside {' or '.join(_RO_SYSTEM)}")
        for path in self._ro_paths():
            if _inside(path, wd):
                raise ValueError(f"the work dir {wd} must not contain {path} (it would be writable)")

    def __repr__(self) -> str:
        return f"Sandbox({str(self.workdir)!r}, mode={self.mode!r}, uid={self.uid})"

    # ---------------------------------------------------------------- environment

    @property
    def tmp(self) -> Path:
        """The sandbox's scratch folder: the private /tmp (bwrap) or workdir/.tmp (rlimits)."""
        return Path("/tmp") if self.mode == "bwrap" else self.workdir / ".tmp"

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The complete environment of the sandboxed code.

        A fixed minimal set (no variable of the grader's environment is copied, except
        :data:`PASSTHROUGH_ENV`), then the ``env`` given at construction, then ``base``.
        """
        tmp = str(self.tmp)
        env = {
            "PATH": os.pathsep.join([str(Path(sys.prefix) / "bin"), "/usr/local/bin", "/usr/bin", "/bin"]),
            "HOME": str(self.workdir),
            "USER": "student",
            "LOGNAME": "student",
            "LANG": "C.UTF-8",
            "TMPDIR": tmp,
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": f"{tmp}/matplotlib",
            "IPYTHONDIR": f"{tmp}/ipython",
            "JUPYTER_CONFIG_DIR": f"{tmp}/jupyter",
            "JUPYTER_DATA_DIR": f"{tmp}/jupyter/data",
            "JUPYTER_RUNTIME_DIR": f"{tmp}/jupyter/runtime",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "NBGRADER_EXECUTION": "autograde",
            "VIRTUAL_ENV": sys.prefix,
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        }
        env.update(self.passthrough_env)
        env.update(self.extra_env)
        env.update(base or {})
        return {str(k): str(v) for k, v in env.items()}

    # ---------------------------------------------------------------- limits

    def rlimits(self) -> list[tuple[int, int]]:
        """``(resource, value)`` pairs that :meth:`preexec` sets (soft = hard)."""
        lim = self.limits
        return [
            (resource.RLIMIT_AS, lim.memory_bytes),
            (resource.RLIMIT_CPU, lim.cpu_seconds),
            (resource.RLIMIT_NPROC, self._nproc),
            (resource.RLIMIT_FSIZE, lim.file_bytes),
            (resource.RLIMIT_NOFILE, lim.open_files),
            (resource.RLIMIT_CORE, 0),
        ]

    def preexec(self) -> None:
        """Set the resource limits: the ``preexec_fn`` of the sandbox's Popen (child only).

        In bwrap mode they are inherited through bwrap and setpriv by everything in the
        sandbox, which has no capability to raise them again.
        """
        for res, value in self._rlimit_values:  # computed before the fork: only system calls here
            resource.setrlimit(res, (value, value))

    # ---------------------------------------------------------------- preparing and running

    def prepare(self) -> None:
        """Create the work dir (and its private scratch folders), owned by the sandbox uid."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.mode == "bwrap":
            if self.workdir.is_symlink() or not self.workdir.is_dir():
                raise ValueError(f"the work dir {self.workdir} is not a folder")
            os.chown(self.workdir, self.uid, self.uid, follow_symlinks=False)
            os.chmod(self.workdir, 0o700)
        else:
            self.tmp.mkdir(exist_ok=True)
            # RLIMIT_NPROC counts every process and thread of the user, the grader's
            # included: allow the sandbox its share on top of what runs now (root is not
            # limited at all).
            self._nproc = self.limits.processes + (_threads_of_uid(os.getuid()) if os.getuid() else 0)
        self._rlimit_values = self.rlimits()

    def command(self, argv: list[str], *, env: Mapping[str, str] | None = None) -> list[str]:
        """``argv`` wrapped for this sandbox: ``bwrap ... setpriv ... argv`` (bwrap mode),
        or ``argv`` unchanged (rlimits mode: run it with ``env``, ``cwd=workdir`` and
        ``preexec_fn=preexec``). ``env`` (default :meth:`env`) is set inside bwrap."""
        argv = [str(a) for a in argv]
        if self.mode != "bwrap":
            return argv
        env = self.env() if env is None else dict(env)
        bwrap, setpriv = _which("bwrap") or "bwrap", _which("setpriv") or "/usr/bin/setpriv"
        cmd = [
            bwrap,
            "--die-with-parent", "--new-session",
            "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
            "--hostname", "sandbox",
            "--ro-bind", "/usr", "/usr",
        ]
        for name in ("bin", "lib", "lib32", "lib64", "libx32", "sbin"):
            host = Path("/") / name
            if host.is_symlink():
                cmd += ["--symlink", os.readlink(host), str(host)]
            elif host.is_dir():
                cmd += ["--ro-bind", str(host), str(host)]
        cmd += ["--ro-bind", "/etc", "/etc", "--dev", "/dev", "--proc", "/proc"]
        cmd += ["--perms", "1777", "--size", str(self.limits.tmp_bytes), "--tmpfs", "/tmp"]
        cmd += ["--perms", "1777", "--size", str(self.limits.tmp_bytes), "--tmpfs", "/dev/shm"]

        self._check_workdir()
        binds = [("--ro-bind", p) for p in self._ro_paths()]
        binds.append(("--bind", self.workdir))
        mounted = [Path(p) for p in ("/usr", "/etc", "/dev", "/proc")]
        made = {Path("/"), Path("/tmp")}
        for kind, path in sorted(binds, key=lambda b: len(b[1].parts)):
            if any(_inside(path, m) for m in mounted):
                if kind == "--bind":
                    raise ValueError(f"the work dir {path} lies inside a read-only part of the sandbox")
                continue  # already visible
            for parent in reversed(path.parents):
                if parent not in made and not any(_inside(parent, m) for m in mounted):
                    cmd += ["--perms", "0755", "--dir", str(parent)]
                    made.add(parent)
            cmd += [kind, str(path), str(path)]
            mounted.append(path)
        cmd += ["--chdir", str(self.workdir), "--clearenv"]
        for key, value in env.items():
            cmd += ["--setenv", key, value]
        cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--"]
        cmd += [
            setpriv, f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--",
        ]
        return cmd + argv

    def popen(self, argv: list[str], **kwargs) -> subprocess.Popen:
        """``subprocess.Popen`` of ``argv`` in this sandbox (its env, cwd and limits).

        ``kwargs`` go to Popen (stdout=..., ...); ``env=`` adds variables to :meth:`env`.
        """
        env = self.env(kwargs.pop("env", None))
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("start_new_session", True)
        cmd = self.command(argv, env=env)
        return _spawner().submit(
            subprocess.Popen, cmd, env=env, cwd=str(self.workdir), preexec_fn=self.preexec, **kwargs
        ).result()

    def kill_leftovers(self, timeout: float = 5.0) -> list[int]:
        """SIGKILL every process of the sandbox uid and wait until none is left (bwrap
        mode; nothing to do in rlimits mode). Returns the pids that were killed."""
        if self.mode != "bwrap" or self.uid is None:
            return []
        killed: set[int] = set()
        deadline = time.monotonic() + timeout
        while True:
            pids = processes_of_uid(self.uid)
            if not pids:
                return sorted(killed)
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"processes of sandbox uid {self.uid} survive SIGKILL: {pids}")
            time.sleep(0.02)

    # ---------------------------------------------------------------- a bounded work dir

    _mounted = False

    def mount_workdir(self) -> str | None:
        """Mount a tmpfs of ``limits.work_bytes`` on the (empty) work dir, so a submission can
        fill at most that much, in memory, never the grading host's disk. bwrap mode only
        (the grader is root); ``None`` when mounted, else why not (grading goes on, without
        that bound). :meth:`unmount_workdir` removes it with everything in it."""
        if self.mode != "bwrap":
            return "not in bwrap mode"
        opts = f"size={int(self.limits.work_bytes)},mode=0700,uid={self.uid},gid={self.uid}".encode()
        try:
            _libc().mount(b"tmpfs", os.fsencode(self.workdir), b"tmpfs", _MS_NOSUID | _MS_NODEV, opts) == 0 \
                or _raise_errno()
        except OSError as e:
            return f"mounting a tmpfs on the work dir failed ({e.strerror or e})"
        self._mounted = True
        return None

    def workdir_full(self, margin: int = 2**20) -> bool:
        """Whether the mounted work dir has less than ``margin`` bytes left."""
        if not self._mounted:
            return False
        try:
            st = os.statvfs(self.workdir)
        except OSError:
            return False
        return st.f_bavail * st.f_frsize < margin

    def unmount_workdir(self) -> None:
        if self._mounted:
            _libc().umount2(os.fsencode(self.workdir), _MNT_DETACH)  # detached: gone once unused
            self._mounted = False

    def describe(self) -> str:
        """One line for logs and the README: what is isolated and how."""
        lim = self.limits
        limits = (
            f"limits per process: memory {_fmt_bytes(lim.memory_bytes)}, CPU {lim.cpu_seconds} s, "
            f"files {_fmt_bytes(lim.file_bytes)}, {lim.open_files} open files; {lim.processes} processes"
        )
        if self.mode == "bwrap":
            return (
                f"bwrap sandbox: uid {self.uid} without capabilities (no_new_privs), new pid/net/ipc/uts "
                f"namespaces (no network), read-only /usr /etc, Python, venv and cnn_course only; writable: "
                f"{self.workdir}" + (f" (a tmpfs of {_fmt_bytes(lim.work_bytes)})" if self._mounted else "")
                + f" and a private /tmp and /dev/shm of {_fmt_bytes(lim.tmp_bytes)} each; {limits} "
                f"for uid {self.uid}"
            )
        reason = probe_bwrap() or "rlimits mode requested"
        return (
            f"rlimits only ({reason}): files and network are NOT isolated, the code runs as the grader's "
            f"user (uid {os.getuid()}) in {self.workdir} with a minimal environment; {limits}"
            + (" (as root the code could raise them, and processes are not limited)" if os.getuid() == 0 else "")
        )


# --------------------------------------------------------------------------- kernels


_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes; keep a margin


def _remove(path: Path) -> None:
    """Remove a file, symlink or folder tree without following symlinks."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


class _SandboxKernelMixin(KernelManager):
    """What the sync and async sandbox kernel managers share (see SandboxKernelManager)."""

    sandbox = AnyTrait(allow_none=True, help="The Sandbox the kernel runs in.")
    kernel_env = DictTrait(help="Extra environment variables for the kernel.").tag(config=True)
    leftover_timeout = Float(5.0, help="Seconds to wait for the sandbox's processes to die.").tag(config=True)
    _default_sandbox: Sandbox | None = None

    def __init__(self, *args, sandbox: Sandbox | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        sandbox = sandbox if sandbox is not None else type(self)._default_sandbox
        if sandbox is not None:
            self.sandbox = sandbox

    @classmethod
    def for_sandbox(cls, sandbox: Sandbox) -> type:
        """A subclass whose instances use ``sandbox`` by default: for APIs that create
        the manager themselves (nbclient's ``kernel_manager_class(config=...)``)."""
        return type(cls.__name__, (cls,), {"_default_sandbox": sandbox})

    @property
    def kernel_dir(self) -> Path:
        return self._sb().workdir / ".kernel"

    def _sb(self) -> Sandbox:
        if not isinstance(self.sandbox, Sandbox):
            raise RuntimeError(f"{type(self).__name__} needs a sandbox: {type(self).__name__}(sandbox=Sandbox(...))")
        return self.sandbox

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        # Always this Python's ipykernel: a kernelspec elsewhere cannot point the kernel
        # at another program.
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", self.connection_file]
        return argv + list(extra_arguments or [])

    def write_connection_file(self, **kwargs) -> None:
        super().write_connection_file(**kwargs)
        sb = self._sb()
        if sb.mode == "bwrap" and os.path.exists(self.connection_file):
            os.chown(self.connection_file, sb.uid, sb.uid)
            os.chmod(self.connection_file, 0o400)

    async def _async_pre_start_kernel(self, **kw):
        sb = self._sb()
        # No process of the sandbox may run while root works in its (student-owned)
        # work dir: it could swap a folder for a symlink to /etc under our feet.
        self._kill_sandbox()
        sb.prepare()
        kdir = self.kernel_dir
        ip = str(kdir / "k")
        if len(ip) + 4 > _MAX_SOCKET_PATH:
            raise ValueError(
                f"the work dir {sb.workdir} is too long for unix sockets ({ip}-NN must stay under "
                f"{_MAX_SOCKET_PATH} characters): use a shorter one, e.g. /tmp/cnng/w0/<student>"
            )
        # A fresh folder each start: whatever the student left at .kernel (a symlink, a
        # file, old sockets) goes, and nothing in it is followed.
        _remove(kdir)
        os.mkdir(kdir, 0o700)
        if sb.mode == "bwrap":
            os.chown(kdir, sb.uid, sb.uid, follow_symlinks=False)
            self.transport = "ipc"
            self.ip = ip
        else:
            self.transport = "tcp"
            self.ip = "127.0.0.1"
        self.connection_file = str(kdir / "kernel.json")
        self._connection_file_written = False  # rewritten (same key and ports on a restart)
        # The caller's environment and working directory do not reach the sandbox.
        caller_env = kw.pop("env", None) or {}
        kw.pop("cwd", None)
        env = sb.env({**self.kernel_env, **{k: v for k, v in caller_env.items() if k == "JPY_SESSION_NAME"}})
        cmd, kw = await super()._async_pre_start_kernel(env=dict(env), **kw)
        cmd = sb.command(cmd, env=env)
        kw.update(
            env=env,
            cwd=str(sb.workdir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # a C-level flood of output must not reach the grader
            stderr=subprocess.DEVNULL,
            preexec_fn=sb.preexec,
        )
        return cmd, kw

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        # Popen in the spawner thread (see _spawner): the provisioner's launch_kernel
        # only runs synchronous code, so it gets an event loop of its own there.
        provisioner = self.provisioner
        assert provisioner is not None
        future = _spawner().submit(asyncio.run, provisioner.launch_kernel(kernel_cmd, **kw))
        connection_info = await asyncio.wrap_future(future)
        assert provisioner.has_process
        self._reconcile_connection_info(connection_info)

    async def _async_interrupt_kernel(self) -> None:
        # A signal to bwrap would not reach the kernel (another session, another pid
        # namespace): ask the kernel itself, which signals SIGINT to its own process.
        if not self.has_kernel:
            return await super()._async_interrupt_kernel()  # waits for a start, or raises
        msg = self.session.msg("interrupt_request", content={})
        self._connect_control_socket()
        self.session.send(self._control_socket, msg)

    async def _async_kill_kernel(self, restart: bool = False) -> None:
        await super()._async_kill_kernel(restart=restart)
        self._kill_sandbox()

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        self._kill_sandbox()
        await super()._async_cleanup_resources(restart=restart)

    def _kill_sandbox(self) -> None:
        if isinstance(self.sandbox, Sandbox):
            try:
                self.sandbox.kill_leftovers(self.leftover_timeout)
            except RuntimeError as e:
                self.log.error("%s", e)


class SandboxKernelManager(_SandboxKernelMixin, KernelManager):
    """A ``KernelManager`` that starts ipykernel inside a :class:`Sandbox`.

    ``SandboxKernelManager(sandbox=sb, kernel_name="python3")``, or
    ``SandboxKernelManager.for_sandbox(sb)`` as a class for nbclient. The kernel is
    ``python -m ipykernel_launcher -f {connection_file}`` of this Python, wrapped by
    ``sb.command``; in bwrap mode it listens on ZeroMQ ``ipc`` sockets in
    ``workdir/.kernel/`` (the sandbox has no network), in rlimits mode on tcp
    127.0.0.1. Its stdout and stderr go to /dev/null. Interrupts are sent as
    ``interrupt_request`` messages (a signal to bwrap would not reach the kernel).
    Shutting down or killing the kernel leaves no process of the sandbox behind.
    """

    # KernelManager binds these public names to its own coroutines at class creation.
    pre_start_kernel = run_sync(_SandboxKernelMixin._async_pre_start_kernel)
    _launch_kernel = run_sync(_SandboxKernelMixin._async_launch_kernel)
    interrupt_kernel = run_sync(_SandboxKernelMixin._async_interrupt_kernel)
    cleanup_resources = run_sync(_SandboxKernelMixin._async_cleanup_resources)
    _kill_kernel = run_sync(_SandboxKernelMixin._async_kill_kernel)


class AsyncSandboxKernelManager(_SandboxKernelMixin, AsyncKernelManager):
    """The ``AsyncKernelManager`` twin of :class:`SandboxKernelManager` (nbclient's default kind)."""

    pre_start_kernel = _SandboxKernelMixin._async_pre_start_kernel
    _launch_kernel = _SandboxKernelMixin._async_launch_kernel
    interrupt_kernel = _SandboxKernelMixin._async_interrupt_kernel
    cleanup_resources = _SandboxKernelMixin._async_cleanup_resources
    _kill_kernel = _SandboxKernelMixin._async_kill_kernel
