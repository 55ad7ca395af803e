"""One submission's kernel in its sandbox, and the judge's link to it.

:class:`SandboxKernel` starts ``ipykernel`` in a :class:`~.sandbox.Sandbox` (with
``python -P``, so that files the notebook writes cannot replace the kernel), loads the
agent (:mod:`.agent`), executes code with a wall-clock limit, tells a crash from a hang,
interrupts, kills every process of the sandbox and starts again. Its client
(:class:`_CappedKernelClient`) refuses oversized messages and bounds its queues, so a
kernel that prints a gigabyte cannot make the grader hold it in memory.

:class:`KernelLink` is the judge's :class:`~.links.Link` through that kernel: a request is
a file in ``workdir/.grader/``, the kernel runs the agent on it as a silent execute
request, and the answer is read back, never through a link the notebook may have planted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import signal
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty

import psutil
import zmq
from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.connect import channel_socket_types
from zmq.utils.monitor import recv_monitor_message

from .codec import CodecError, encode_message, read_message
from .links import AGENT_IMPORT, AGENT_NAME, AgentError, KernelDied, RemoteTimeout, open_envelope, request_envelope
from .sandbox import SandboxKernelManager

_GRADER_DIR = ".grader"  # agent requests and answers, in the work dir
_KERNEL_DIR = ".kernel"  # the kernel's connection file and sockets (cnn_course.autograde.sandbox)


def _seconds(t: float) -> str:
    return f"{t:.0f}" if t >= 9.5 else f"{t:.2g}"


def _exit_description(code: int | None) -> str:
    """'exit code 1', 'killed by signal SIGKILL' from a kernel's (or bwrap's) exit status."""
    if code is None:
        return "exit status unknown"
    sig = -code if code < 0 else (code - 128 if code > 128 else None)
    if sig:
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        hint = {"SIGKILL": ": out of memory, or killed", "SIGSEGV": ": a segmentation fault",
                "SIGXCPU": ": the CPU-time limit", "SIGABRT": ": the interpreter aborted"}.get(name, "")
        return f"killed by {name}{hint}"
    return f"exit code {code}"


class _CappedKernelClient(BlockingKernelClient):
    """A kernel client whose sockets refuse any single message frame larger than
    ``max_message_bytes`` and queue a bounded number of messages: a kernel that prints a
    gigabyte cannot make the grader hold it in memory.

    ZeroMQ drops the connection that carried an oversized frame and does not connect
    again by itself. Each socket has a monitor; :meth:`replace_dropped` then gives the
    channel a brand-new socket. (It never calls ``disconnect``/``connect`` on the old
    one: libzmq 4.3 aborts the whole process, "Assertion failed: !_more (fq.cpp)", when
    a pipe is cut by ``disconnect`` while a message is being read.)"""

    max_message_bytes = 8 * 2**20
    receive_queue = 64

    def _create_connected_socket(self, channel, identity=None):
        sock = self.context.socket(channel_socket_types[channel])
        sock.linger = 1000
        sock.setsockopt(zmq.MAXMSGSIZE, int(self.max_message_bytes))
        sock.setsockopt(zmq.RCVHWM, int(self.receive_queue))
        if identity:
            sock.identity = identity
        if getattr(self, "curve_publickey", None) is not None:
            sock.curve_secretkey = self.curve_secretkey
            sock.curve_publickey = self.curve_publickey
            sock.curve_serverkey = self.curve_publickey
        if not hasattr(self, "_monitors"):
            self._monitors = {}
        self._monitors[channel] = (sock, sock.get_monitor_socket(zmq.EVENT_DISCONNECTED))
        sock.connect(self._make_url(channel))
        return sock

    def monitor_sockets(self) -> list:
        return [mon for _, mon in getattr(self, "_monitors", {}).values()]

    def replace_dropped(self, monitor) -> bool:
        """Drain ``monitor``'s events; when its socket lost its connection, give the
        channel a new socket (True: the caller must poll the new one)."""
        for channel, (sock, mon) in list(getattr(self, "_monitors", {}).items()):
            if mon is not monitor:
                continue
            dropped = False
            while mon.poll(0):
                try:
                    event = recv_monitor_message(mon, zmq.NOBLOCK)
                except zmq.ZMQError:
                    break
                dropped |= event.get("event") == zmq.EVENT_DISCONNECTED
            holder = {"iopub": self._iopub_channel, "shell": self._shell_channel}.get(channel)
            if not dropped or holder is None:
                return False
            _stop_monitor(sock, mon)
            with contextlib.suppress(Exception):
                sock.close(linger=0)
            holder.socket = self.connect_iopub() if channel == "iopub" else self.connect_shell()
            return True
        return False

    def stop_channels(self) -> None:
        for sock, mon in getattr(self, "_monitors", {}).values():
            _stop_monitor(sock, mon)
        self._monitors = {}
        super().stop_channels()


def _stop_monitor(sock, mon) -> None:
    with contextlib.suppress(Exception):
        sock.disable_monitor()
    with contextlib.suppress(Exception):
        mon.close(linger=0)


@dataclass
class _Run:
    """How one execute request ended: ``status`` ok | error | timeout | died."""

    status: str
    content: dict = field(default_factory=dict)
    exit: str = ""


# Run silently in each fresh kernel: the agent, and the work dir on the import path (the
# kernel starts with ``python -P``, see below, as Jupyter would have it for the notebook).
_KERNEL_SETUP = (
    f"{AGENT_IMPORT}\n"
    "import os as __cnn_os, sys as __cnn_sys\n"
    "__cnn_sys.path.insert(0, __cnn_os.getcwd())\n"
    "del __cnn_os, __cnn_sys"
)


class _SafePathKernelManager(SandboxKernelManager):
    """The sandbox's kernel started with ``python -P``: the work dir is not on the import
    path while the kernel starts, so a file the notebook wrote there
    (``ipykernel_launcher.py``, ``zmq.py``, ``json.py``...) cannot replace the kernel
    when it is restarted after a crash. :data:`_KERNEL_SETUP` puts the work dir back
    afterwards."""

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = list(super().format_kernel_cmd(extra_arguments))
        if cmd and "-P" not in cmd[1:3]:
            cmd.insert(1, "-P")
        return cmd


class SandboxKernel:
    """One submission's kernel in its :class:`~cnn_course.autograde.sandbox.Sandbox`, driven
    synchronously: execute code with a wall-clock limit, interrupt, tell a crash from a
    hang, kill everything and start again."""

    def __init__(self, sandbox, *, startup_timeout: float = 60, max_message_bytes: int = 8 * 2**20,
                 extra_arguments=("--HistoryManager.hist_file=:memory:",), iopub_grace: float = 2.0, log=None):
        self.sandbox = sandbox
        self.startup_timeout = startup_timeout
        self.max_message_bytes = max_message_bytes
        self.extra_arguments = list(extra_arguments)
        self.iopub_grace = iopub_grace
        self.log = log or logging.getLogger(__name__)
        self.km = None
        self.kc = None
        self.pending: str | None = None  # msg_id of a request that ran past its time
        self.dead = False
        self.language_info: dict | None = None
        self._baseline: set[int] = set()

    @property
    def workdir(self) -> Path:
        return self.sandbox.workdir

    # ---------------------------------------------------------------- life cycle

    def start(self, timeout: float | None = None) -> None:
        """Start a fresh kernel (the previous one must be stopped) and load the agent."""
        timeout = self.startup_timeout if timeout is None else min(timeout, self.startup_timeout)
        deadline = time.monotonic() + timeout
        # Nothing of the sandbox runs now: remove what the student's code may have put
        # where the grader (root) writes, links especially.
        for name in (_KERNEL_DIR, _GRADER_DIR):
            _remove_entry(self.workdir / name)
        self.pending, self.dead, self._baseline = None, False, set()
        self.km = _SafePathKernelManager(sandbox=self.sandbox, kernel_name="python3")
        self.km.client_factory = _CappedKernelClient
        self.km.start_kernel(extra_arguments=self.extra_arguments)
        kc = self.km.client()
        kc.max_message_bytes = self.max_message_bytes
        kc.allow_stdin = False
        self.kc = kc
        kc.start_channels(shell=True, iopub=True, stdin=False, hb=False, control=False)
        kc.wait_for_ready(timeout=max(1.0, deadline - time.monotonic()))
        reply = self._wait(kc.kernel_info(), max(1.0, deadline - time.monotonic()), None, for_reply_only=True)
        if reply.status != "ok":
            raise RuntimeError(f"the kernel did not answer kernel_info ({reply.status})")
        self.language_info = reply.content.get("language_info")
        os.close(self._grader_dir())
        run = self.execute(_KERNEL_SETUP, timeout=max(1.0, deadline - time.monotonic()), silent=True)
        if run.status != "ok":
            raise RuntimeError(f"the grading agent could not be loaded in the kernel: {run.status} "
                               f"{run.content.get('ename', '')} {run.content.get('evalue', '')}".strip())
        self._baseline = set(self._tree())

    def stop(self) -> None:
        """Kill the kernel and every process of its sandbox; never raises."""
        km, kc = self.km, self.kc
        self.km = self.kc = None
        self.pending = None
        if kc is not None:
            try:
                kc.stop_channels()
            except Exception as e:  # pragma: no cover - defensive
                self.log.debug("stop_channels: %s", e)
        if km is not None:
            try:
                km.shutdown_kernel(now=True)
            except Exception as e:
                self.log.warning("could not shut the kernel down cleanly: %s", e)
                try:
                    km.cleanup_resources()
                except Exception:
                    pass

    def alive(self) -> bool:
        return self.km is not None and not self.dead and bool(self.km.is_alive())

    def exit_description(self) -> str:
        proc = getattr(getattr(self.km, "provisioner", None), "process", None)
        return _exit_description(getattr(proc, "returncode", None))

    # ---------------------------------------------------------------- running code

    def execute(self, code: str, *, timeout: float, silent: bool = False, collector=None) -> _Run:
        """Run ``code``; wait at most ``timeout`` s. Outputs go to ``collector`` (dropped
        when it is None). A timeout leaves the request pending (see :meth:`settle`)."""
        if self.pending is not None:
            return _Run("timeout")
        if self.km is None or self.dead:
            return _Run("died", exit=self.exit_description())
        msg_id = self.kc.execute(code, silent=silent, store_history=not silent, allow_stdin=False,
                                 stop_on_error=False)
        return self._wait(msg_id, timeout, collector, wait_idle=collector is not None)

    def interrupt(self) -> None:
        try:
            self.km.interrupt_kernel()
        except Exception as e:
            self.log.warning("could not interrupt the kernel: %s", e)

    def settle(self, grace: float) -> bool:
        """After a timeout: interrupt, and whether the kernel finished the pending request
        within ``grace`` s (it is usable again) or not (it must be killed)."""
        if self.pending is None:
            return self.alive()
        self.interrupt()
        msg_id, self.pending = self.pending, None
        run = self._wait(msg_id, grace, None)
        if run.status == "timeout":
            self.pending = msg_id
            return False
        return run.status != "died"

    def _wait(self, msg_id: str, timeout: float, collector, *, wait_idle: bool = False,
              for_reply_only: bool = False) -> _Run:
        kc = self.kc
        shell, iopub = kc.shell_channel, kc.iopub_channel

        def make_poller():
            poller = zmq.Poller()
            poller.register(shell.socket, zmq.POLLIN)
            poller.register(iopub.socket, zmq.POLLIN)
            monitors = kc.monitor_sockets()
            for mon in monitors:
                poller.register(mon, zmq.POLLIN)
            return poller, monitors

        poller, monitors = make_poller()
        now = time.monotonic()
        deadline = now + max(0.0, timeout)
        next_check = now + 0.2
        reply, idle_deadline, idle = None, None, False
        while True:
            now = time.monotonic()
            if reply is not None and (idle or not wait_idle or now >= idle_deadline):
                return _Run(str(reply["content"].get("status", "error")), reply["content"])
            if reply is None and now >= deadline:
                self.pending = msg_id
                return _Run("timeout")
            if now >= next_check:
                next_check = now + 0.2
                if not self.km.is_alive():
                    self.dead = True
                    self.pending = None
                    return _Run("died", exit=self.exit_description())
            until = min(deadline if reply is None else idle_deadline, next_check)
            events = dict(poller.poll(max(0, int((until - now) * 1000)) + 1))
            if any(mon in events for mon in monitors):
                # A lost connection: the kernel died (the next check says so), or an
                # oversized message was refused: then a new socket replaces the old.
                if not self.km.is_alive():
                    next_check = 0.0
                    continue
                if any([kc.replace_dropped(mon) for mon in monitors if mon in events]):
                    poller, monitors = make_poller()
                    continue
            if iopub.socket in events:
                for _ in range(500):  # bounded: the shell reply and the clock are checked too
                    msg = _recv(iopub)
                    if msg is None:
                        break
                    if msg.get("parent_header", {}).get("msg_id") != msg_id:
                        continue  # late output of an earlier request: dropped
                    if msg.get("msg_type") == "status":
                        if msg["content"].get("execution_state") == "idle":
                            idle = True
                    elif collector is not None:
                        collector.add(msg)
            if shell.socket in events:
                while reply is None:
                    msg = _recv(shell)
                    if msg is None:
                        break
                    if msg.get("parent_header", {}).get("msg_id") == msg_id:
                        reply = msg
                        idle_deadline = time.monotonic() + self.iopub_grace
                        if for_reply_only:
                            return _Run("ok", reply["content"])

    # ---------------------------------------------------------------- the agent's files

    def _grader_dir(self) -> int:
        """An open directory handle of workdir/.grader, created if need be, owned by the
        sandbox user and writable by it alone; never reached through a link the student's
        code may have planted. Permissions the notebook changed (on the work dir or the
        folder) are put back, so that a notebook cannot stop the agent from answering
        later tests."""
        uid = getattr(self.sandbox, "uid", None)

        def own(fd: int) -> None:
            st = os.fstat(fd)
            if uid is not None and (st.st_uid, st.st_gid) != (uid, uid):
                os.fchown(fd, uid, uid)
            if stat.S_IMODE(st.st_mode) != 0o700:
                os.fchmod(fd, 0o700)

        wfd = os.open(self.workdir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            own(wfd)
            try:
                gfd = os.open(_GRADER_DIR, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=wfd)
            except OSError:
                with contextlib.suppress(FileNotFoundError):
                    st = os.stat(_GRADER_DIR, dir_fd=wfd, follow_symlinks=False)
                    if stat.S_ISDIR(st.st_mode):
                        shutil.rmtree(self.workdir / _GRADER_DIR, ignore_errors=True)
                    else:
                        os.unlink(_GRADER_DIR, dir_fd=wfd)
                os.mkdir(_GRADER_DIR, 0o700, dir_fd=wfd)
                gfd = os.open(_GRADER_DIR, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=wfd)
            own(gfd)
            return gfd
        finally:
            os.close(wfd)

    # ---------------------------------------------------------------- processes

    def _tree(self) -> dict[int, psutil.Process]:
        """The sandbox's processes: bwrap (or the kernel) and its descendants."""
        proc = getattr(getattr(self.km, "provisioner", None), "process", None)
        if proc is None or proc.returncode is not None:
            return {}
        try:
            root = psutil.Process(proc.pid)
            return {p.pid: p for p in [root, *root.children(recursive=True)]}
        except psutil.Error:
            return {}

    def kill_strays(self) -> bool:
        """Kill processes the notebook left running in the sandbox (a fork bomb's
        children, a background job); False when they keep coming back (or linger as
        zombies its kernel never reaps, which still count against the process limit)."""
        for _ in range(5):
            strays = [p for pid, p in self._tree().items() if pid not in self._baseline]
            if not strays:
                return True
            for p in strays:
                with contextlib.suppress(psutil.Error, OSError):
                    p.kill()  # psutil checks that the pid still names this process
            time.sleep(0.05)
        return not (set(self._tree()) - self._baseline)


def _recv(channel) -> dict | None:
    """One message from a channel without waiting; None when none is there (or it was
    unreadable: a malformed or forged message is dropped)."""
    try:
        if not channel.socket.poll(0):
            return None
        return channel.get_msg(timeout=0)
    except Empty:
        return None
    except Exception:  # bad signature, bad JSON...
        return {}


def _remove_entry(path: Path) -> None:
    """Remove a file, link or folder without following links."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


class KernelLink:
    """The judge's :class:`~cnn_course.autograde.links.Link` to the sandboxed kernel.

    A request is written (by the grader) to ``workdir/.grader/req-<random>.npz``, the
    kernel runs ``__cnn_agent__.serve(request, response)`` as a silent execute request
    (whatever it prints is received and dropped) and the answer is read back; both files
    are opened relative to a directory handle, never through a link. After a timeout
    or a crash every further request fails at once; ``state`` says which. What the
    student's function printed during a call (the agent's ``out``) is dropped too.
    """

    SERVE = f"{AGENT_IMPORT}\n{AGENT_NAME}.serve({{req!r}}, {{resp!r}})"

    def __init__(self, kernel: SandboxKernel):
        self.kernel = kernel
        self.state: str | None = None  # None | "timeout" | "died"
        self.requests = 0

    def request(self, op: str, payload: dict, arrays: dict, timeout: float):
        if self.state == "died" or self.kernel.dead:
            self.state = "died"
            raise KernelDied(f"the kernel is gone ({self.kernel.exit_description()})")
        if self.state == "timeout" or self.kernel.pending is not None:
            self.state = "timeout"
            raise RemoteTimeout("the kernel is still busy with an earlier call")
        self.requests += 1
        data = encode_message(request_envelope(op, payload), arrays)
        token = secrets.token_hex(8)
        req, resp = f"req-{token}.npz", f"resp-{token}.npz"
        gfd = self.kernel._grader_dir()
        try:
            fd = os.open(req, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=gfd)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            base = self.kernel.workdir / _GRADER_DIR
            run = self.kernel.execute(self.SERVE.format(req=str(base / req), resp=str(base / resp)),
                                      timeout=timeout, silent=True)
            if run.status == "timeout":
                self.state = "timeout"
                raise RemoteTimeout(f"no answer within {_seconds(timeout)} s")
            if run.status == "died":
                self.state = "died"
                raise KernelDied(f"the kernel died ({run.exit})")
            try:
                tree, out_arrays = read_message(resp, dir_fd=gfd)
            except (OSError, CodecError) as exc:
                detail = f"{run.content.get('ename')}: {run.content.get('evalue')}" if run.status == "error" else exc
                raise AgentError(f"the kernel's answer could not be read ({detail})") from None
            payload = open_envelope(tree)
            # What the student's function printed stays in the sandbox: a test cell shows
            # the judge's verdict only.
            payload.pop("out", None)
            return payload, out_arrays
        finally:
            for name in (req, resp):
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=gfd)
            os.close(gfd)
