"""nbgrader extensions used by ``nbgrader_config.py`` and the ``cnn-course`` CLI.

Three preprocessors fill gaps in stock nbgrader 0.9.6:

``SandboxedExecute`` (autograde)
    Replaces nbgrader's ``Execute`` for untrusted submissions. Each notebook runs in a
    throw-away work dir holding only the submission's non-notebook files, its kernel in
    a :class:`~cnn_course.autograde.sandbox.Sandbox` (bubblewrap: own uid, no network, read-only
    system, resource limits; or resource limits alone). Test cells never run in that
    kernel: the grader executes them itself (:mod:`cnn_course.autograde.judge`), calling
    the student's functions in the kernel through :class:`KernelLink`, after a static look
    at the student's code (:mod:`cnn_course.autograde.static`); the test cell's outputs are
    the verdict. Outputs are capped as they arrive; a hang, crash, memory or fork bomb
    kills the sandbox, a fresh one replays the cells before, and only that exercise is
    lost.

``HideHiddenTestTracebacks`` (feedback)
    Feedback shows each cell's outputs. A failing hidden test leaves a traceback whose
    frames quote the cell's source, hidden lines included, and ``ClearHiddenTests`` only
    cleans the cell's *source*. This preprocessor runs before it and rewrites those
    tracebacks: the ``ename: evalue`` line (our feedback message) stays, the quoted
    source of a cell with hidden tests goes.

``ResilientExecute`` (``cnn-course validate``: the instructor's own notebooks)
    Stock ``Execute`` gives up on the whole notebook when the kernel dies
    (``os._exit``) or ignores the timeout interrupt (``except KeyboardInterrupt``
    inside a loop): the student ends with no autograded notebook. This one records an
    error in the offending cell, starts a fresh kernel, replays the cells that ran
    before (without their outputs) and carries on, so only the exercise that crashed
    loses its points. It runs everything in one ordinary kernel: not for untrusted code.

The rest are helpers shared by the CLI and the tests: loading the course's nbgrader
config with a throw-away root and gradebook, and canonical notebook output.
"""

from __future__ import annotations

import contextlib
import copy
import fnmatch
import json
import logging
import os
import re
import secrets
import shutil
import signal
import stat
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty

import nbformat
import psutil
import zmq
from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.connect import channel_socket_types
from jupyter_core.utils import ensure_async, run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbconvert.filters import strip_ansi
from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_output, output_from_msg
from nbgrader import utils as nbgrader_utils
from nbgrader.api import MissingEntry
from nbgrader.preprocessors import DeduplicateIds, Execute, NbGraderPreprocessor, OverwriteCells
from traitlets import Bool, Enum, Float, Integer, Unicode, default
from traitlets.config import Config, PyFileConfigLoader
from zmq.utils.monitor import recv_monitor_message

from . import static
from .codec import MAX_MESSAGE_BYTES, CodecError, decode_message, encode_message
from .judge import run_test_cell
from .links import AGENT_IMPORT, AGENT_NAME, AgentError, KernelDied, RemoteTimeout, open_envelope, request_envelope
from .sandbox import Limits, Sandbox, SandboxKernelManager

BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"
END_HIDDEN = "END HIDDEN TESTS"
CONFIG_FILE = "nbgrader_config.py"


# --------------------------------------------------------------------------- feedback


def hidden_test_lines(source: str) -> list[str]:
    """Stripped, non-empty lines between the hidden-test markers of a cell source."""
    hidden, inside = [], False
    for line in source.splitlines():
        if BEGIN_HIDDEN in line:
            inside = True
        elif END_HIDDEN in line:
            inside = False
        elif inside and line.strip():
            hidden.append(line.strip())
    return hidden


# "----> 12 check(x)" / "     11 y = 1" in IPython's frame listings (after strip_ansi).
_CONTEXT_LINE = re.compile(r"^\s*(?:-*>)?\s*\d+\s?(.*)$")
# The header of a frame that is a notebook cell: "Cell In[7], line 3" (IPython >= 8)
# or "<ipython-input-7-...>" (older).
_CELL_FRAME = re.compile(r"Cell In\s*\[(\d+)\]|<ipython-input-(\d+)-")


def _quotes_cell_source(entry: str, hidden: set[str], execution_count: int | None) -> bool:
    """Whether a traceback entry shows the source of the failing cell or a hidden line.

    Frames of *other* cells (the student's function, say) are kept: they help.
    """
    plain = strip_ansi(entry)
    m = _CELL_FRAME.search(plain)
    if m and (execution_count is None or int(m.group(1) or m.group(2)) == execution_count):
        return True
    for line in plain.splitlines():
        m = _CONTEXT_LINE.match(line)
        code = (m.group(1) if m else line).strip()
        if code and code in hidden:
            return True
    return False


class HideHiddenTestTracebacks(NbGraderPreprocessor):
    """Drop the source context of tracebacks raised in cells that hold hidden tests
    (and hidden lines echoed in their stream outputs, as warnings do).

    Must run before ``ClearHiddenTests`` (it reads the hidden-test markers).
    """

    notice = Unicode(
        "[test cell code not shown: it contains hidden tests]",
        help="Replaces each traceback frame that quotes the source of a cell with hidden tests.",
    ).tag(config=True)

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code":
            return cell, resources
        hidden = set(hidden_test_lines(cell.source))
        if not hidden:
            return cell, resources
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                # Python's warnings echo the source line that triggered them.
                lines = output.text.splitlines(keepends=True)
                output.text = "".join(x for x in lines if x.strip() not in hidden)
            if output.output_type != "error":
                continue
            kept = []
            for entry in output.get("traceback", []):
                if _quotes_cell_source(entry, hidden, cell.get("execution_count")):
                    if not kept or kept[-1] != self.notice:
                        kept.append(self.notice)
                else:
                    kept.append(entry)
            # The last entry is IPython's "ename: evalue"; make sure it survives even if
            # the message happened to repeat a hidden line.
            final = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
            if not kept or strip_ansi(kept[-1]).strip() != final.strip():
                kept.append(final)
            output.traceback = kept
        return cell, resources


# --------------------------------------------------------------------------- execution


class ResilientExecute(Execute):
    """nbgrader's ``Execute`` that survives a dead or unresponsive kernel."""

    max_kernel_restarts = Integer(
        3,
        help="Fresh kernels started per notebook before the remaining cells are left unrun.",
    ).tag(config=True)

    crash_message = Unicode(
        "The Python kernel stopped while running this cell ({reason}). The cells before it "
        "were re-run in a fresh kernel and grading went on; this cell scores 0.",
        help="evalue of the error recorded in a cell that killed or hung the kernel.",
    ).tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self._replay: list[str] = []
        self._restarts = 0
        self._given_up = False
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if self._given_up:
            # An unrun test cell has no error output, which nbgrader would score as a
            # pass: record why it did not run instead.
            self._record(cell, "NotRun", "", evalue="Not run: the kernel kept crashing, grading stopped here.")
            return cell, resources
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._record(cell, "KernelDied", "it exited or crashed")
            self._recover()
        except CellTimeoutError:
            self._record(cell, "KernelUnresponsive", "it ran past the time limit and ignored the interrupt")
            self._recover()
        else:
            if not any(o.get("ename") == "CellTimeoutError" for o in cell.get("outputs", [])):
                self._replay.append(cell.source)
        return cell, resources

    def _record(self, cell, ename, reason, evalue=None):
        log = evalue is None
        evalue = evalue or self.crash_message.format(reason=reason)
        cell.setdefault("outputs", []).append(
            NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])
        )
        if log:
            self.log.warning("%s in a cell; restarting the kernel", ename)

    def _recover(self):
        while self._restarts < self.max_kernel_restarts:
            self._restarts += 1
            try:
                run_sync(self._async_fresh_kernel)()
                for source in self._replay:
                    msg_id = self.kc.execute(source, silent=True, store_history=False, allow_stdin=False)
                    if self.wait_for_reply(msg_id) is None:
                        raise CellTimeoutError("replay timed out")
                return
            except Exception as e:  # any failure here: try another fresh kernel, then give up
                self.log.warning("replaying earlier cells in a fresh kernel failed: %s", e)
        self.log.error("giving up on this notebook after %d kernel restarts", self._restarts)
        self._given_up = True

    async def _async_fresh_kernel(self):
        # A kernel manager cannot be restarted once shut down (its zmq context is
        # gone), so the old one is torn down and a new one created.
        old_km, old_kc = self.km, self.kc
        try:
            if old_kc is not None:
                old_kc.stop_channels()
            if old_km is not None and await ensure_async(old_km.is_alive()):
                await ensure_async(old_km.shutdown_kernel(now=True))
        except Exception as e:  # the old kernel is beyond help; do not let it block grading
            self.log.warning("could not shut the old kernel down cleanly: %s", e)
        finally:
            if old_km is not None:
                try:
                    await ensure_async(old_km.cleanup_resources())
                except Exception:
                    pass
        self.km, self.kc = None, None
        self.create_kernel_manager()
        await self.async_start_new_kernel()
        await self.async_start_new_kernel_client()


# --------------------------------------------------------------------------- sandboxed execution

# nbclient's clean-up of progress-bar output: text before a carriage return (on the same
# line) and a character before a backspace are overwritten.
_RGX_CARRIAGERETURN = re.compile(r".*\r(?=[^\n])")
_RGX_BACKSPACE = re.compile("[^\n\x08]\x08")
# What of a submission folder never reaches the work dir.
_NOT_COPIED = (
    "*.ipynb", "gradebook.db*", "*.sqlite*", ".ipynb_checkpoints", "__pycache__", "feedback",
    "timestamp.txt", ".kernel", ".grader",
)
_GRADER_DIR = ".grader"  # agent requests and answers, in the work dir
_KERNEL_DIR = ".kernel"  # the kernel's connection file and sockets (cnn_course.autograde.sandbox)


def _default_uid() -> int:
    try:
        return int(os.environ.get("CNN_COURSE_SANDBOX_UID", "") or 61000)
    except ValueError:
        return 61000


def _seconds(t: float) -> str:
    return f"{t:.0f}" if t >= 9.5 else f"{t:.2g}"


def _size(n: int) -> str:
    for unit, size in (("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} bytes"


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


class _OutputCollector:
    """A cell's outputs as the kernel sends them, capped while they arrive: at most
    ``max_chars`` characters of text (streams, tracebacks), ``max_outputs`` outputs and
    ``max_rich_bytes`` of rich data (images, HTML); the rest is counted, not kept."""

    def __init__(self, max_chars: int, max_outputs: int, max_rich_bytes: int, execution_count: int | None):
        self.max_chars, self.max_outputs, self.max_rich = max_chars, max_outputs, max_rich_bytes
        self.execution_count = execution_count
        self.outputs: list[NotebookNode] = []
        self.chars = 0
        self.rich = 0
        self.dropped_chars = 0
        self.dropped_outputs = 0
        self.clear_pending = False

    # ---------------------------------------------------------------- receiving

    def add(self, msg: dict) -> None:
        kind = msg.get("msg_type") or msg.get("header", {}).get("msg_type")
        content = msg.get("content") or {}
        try:
            if kind == "stream":
                self._stream(str(content.get("name", "stdout")), str(content.get("text", "")))
            elif kind in ("display_data", "execute_result"):
                self._rich(msg)
            elif kind == "error":
                self._error(content)
            elif kind == "clear_output":
                if content.get("wait"):
                    self.clear_pending = True
                else:
                    self._clear()
            # status, execute_input, comm_*, update_display_data: nothing to keep
        except Exception:  # a malformed message from the kernel is dropped, never fatal
            self.dropped_outputs += 1

    def _clear(self) -> None:
        self.outputs.clear()
        self.chars = self.rich = 0
        self.clear_pending = False

    def _room(self) -> bool:
        if self.clear_pending:
            self._clear()
        return len(self.outputs) < self.max_outputs

    def _stream(self, name: str, text: str) -> None:
        if name not in ("stdout", "stderr"):
            name = "stdout"
        if self.chars >= self.max_chars:
            self.dropped_chars += len(text)
            return
        if self.clear_pending:
            self._clear()
        last = self.outputs[-1] if self.outputs else None
        if last is None or last.output_type != "stream" or last.name != name:
            if len(self.outputs) >= self.max_outputs:
                self.dropped_outputs += 1
                self.dropped_chars += len(text)
                return
            last = new_output("stream", name=name, text="")
            self.outputs.append(last)
        old = last.text
        cut = old.rfind("\n") + 1
        tail = old[cut:] + text
        if "\r" in tail or "\x08" in tail:
            while True:
                shorter = _RGX_BACKSPACE.sub("", tail)
                if len(shorter) == len(tail):
                    break
                tail = shorter
            tail = _RGX_CARRIAGERETURN.sub("", tail)
        new = old[:cut] + tail
        room = self.max_chars - (self.chars - len(old))
        if len(new) > room:
            self.dropped_chars += len(new) - max(room, 0)
            new = new[: max(room, 0)]
        self.chars += len(new) - len(old)
        last.text = new

    def _rich(self, msg: dict) -> None:
        data = (msg.get("content") or {}).get("data") or {}
        size = sum(len(v) if isinstance(v, str) else len(json.dumps(v)) for v in data.values())
        if not self._room() or self.rich + size > self.max_rich:
            self.dropped_outputs += 1
            return
        out = output_from_msg(msg)
        if out.output_type == "execute_result":
            out.execution_count = self.execution_count
        self.rich += size
        self.outputs.append(out)

    def _error(self, content: dict) -> None:
        if not self._room():
            self.dropped_outputs += 1
            return
        ename = str(content.get("ename", "Error"))[:200]
        evalue = str(content.get("evalue", ""))[:10_000]
        budget = max(self.max_chars - self.chars, 2_000)
        kept: list[str] = []
        for entry in reversed([str(x) for x in content.get("traceback") or []]):
            if len(entry) > budget:
                if not kept:  # the last entry is "ename: evalue": keep its start
                    kept.append(entry[:budget])
                break
            kept.append(entry)
            budget -= len(entry)
        kept.reverse()
        self.chars += sum(len(x) for x in kept)
        self.outputs.append(new_output("error", ename=ename, evalue=evalue, traceback=kept))

    # ---------------------------------------------------------------- result

    def finish(self) -> list[NotebookNode]:
        notes = []
        if self.dropped_chars:
            notes.append(f"[output cut: the grader keeps {self.max_chars:,} characters of a cell's output; "
                         f"{self.dropped_chars:,} more were dropped]\n")
        if self.dropped_outputs:
            notes.append(f"[{self.dropped_outputs:,} more output(s) dropped: the grader keeps {self.max_outputs} "
                         f"outputs and {_size(self.max_rich)} of images per cell]\n")
        if notes:
            self.outputs.append(new_output("stream", name="stderr", text="".join(notes)))
        return self.outputs


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
                answer = _read_answer(resp, gfd, MAX_MESSAGE_BYTES)
                tree, out_arrays = decode_message(answer)
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


def _read_answer(name: str, dir_fd: int, cap: int) -> bytes:
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise OSError("the answer is not a regular file")
        if st.st_size > cap:
            raise OSError(f"the answer is larger than {cap // 2**20} MiB")
        return fh.read(cap + 1)


class SandboxedExecute(Execute):
    """nbgrader's ``Execute`` for autograding untrusted notebooks.

    Per notebook: a throw-away work dir (``workdir_root/<uid>-<random>/``) holding only
    the submission folder's non-notebook files (no notebook: it now holds the hidden
    tests; no gradebook), a kernel in a :class:`~cnn_course.autograde.sandbox.Sandbox` started
    there, and, at the end, nothing left (processes killed, work dir removed, also
    after errors).

    * Code cells that are not autograder tests run in the kernel, one ``timeout`` each
      (``Execute.timeout``), their outputs capped while they arrive.
    * Autograder test cells (nbgrader ``grade`` and not ``solution``) never reach the
      kernel: the static report (:mod:`cnn_course.autograde.static`) speaks first, then
      :func:`cnn_course.autograde.judge.run_test_cell` runs the cell in this process, the
      student's functions called in the kernel through :class:`KernelLink`. The cell's
      outputs are written from the verdict alone: the checks' "✓" lines when it passes,
      one ``error`` output (``ename: message``) when it fails, which is how nbgrader's
      SaveAutoGrades scores it (0 with an error output, full points without).
    * A cell that runs past its time is interrupted; a kernel that does not come back
      within ``interrupt_grace`` seconds, or that crashed, is killed with its whole
      sandbox, a fresh one started and the cells that ran before replayed silently
      (a replayed cell that crashes again is left out); at most ``max_restarts`` times,
      then the remaining test cells fail with a message. ``notebook_timeout`` bounds
      the whole notebook.
    """

    sandbox_mode = Enum(["auto", "bwrap", "rlimits"], "auto",
                        help="auto: bubblewrap when usable (root, bwrap installed), else resource limits only.",
                        ).tag(config=True)
    sandbox_uid = Integer(help="uid the sandboxed kernel runs as (bwrap mode); one per concurrent grading worker. "
                               "Default: $CNN_COURSE_SANDBOX_UID or 61000.").tag(config=True)
    sandbox_memory_bytes = Integer(Limits.memory_bytes, help="Address-space limit of each sandboxed process.").tag(
        config=True)
    sandbox_cpu_seconds = Integer(Limits.cpu_seconds, help="CPU-time limit of each sandboxed process.").tag(config=True)
    sandbox_processes = Integer(Limits.processes, help="Process limit of the sandbox user.").tag(config=True)
    sandbox_file_bytes = Integer(Limits.file_bytes, help="Largest file the notebook may write.").tag(config=True)
    sandbox_open_files = Integer(Limits.open_files, help="Open-file limit of each sandboxed process.").tag(config=True)
    sandbox_tmp_bytes = Integer(Limits.tmp_bytes, help="Size of the sandbox's private /tmp.").tag(config=True)
    workdir_root = Unicode("/tmp/cnng", help="Parent of the per-notebook work dirs (keep it short: unix socket "
                                             "paths live under it).").tag(config=True)
    copy_max_bytes = Integer(256 * 2**20, help="Most bytes of submission files copied into the work dir.").tag(
        config=True)
    notebook_timeout = Integer(1200, help="Wall-clock budget of one notebook, in seconds.").tag(config=True)
    interrupt_grace = Float(5.0, help="Seconds a timed-out cell gets to stop after the interrupt before the "
                                      "kernel is killed.").tag(config=True)
    max_restarts = Integer(6, help="Fresh kernels per notebook after crashes and hangs before grading stops.").tag(
        config=True)
    max_output_chars = Integer(64 * 1024, help="Text kept per cell; the rest is dropped while it arrives.").tag(
        config=True)
    max_outputs = Integer(64, help="Outputs kept per cell.").tag(config=True)
    max_rich_bytes = Integer(4 * 2**20, help="Bytes of images and other rich outputs kept per cell.").tag(
        config=True)
    max_message_bytes = Integer(8 * 2**20, help="Largest single message accepted from the kernel.").tag(config=True)
    static_analysis = Bool(True, help="Judge student code statically (cnn_course.autograde.static) before each "
                                      "test cell.").tag(config=True)

    timeout_message = Unicode(
        "This cell did not finish within {seconds} s and was stopped (an infinite loop, or far too slow?).",
        help="evalue recorded in a code cell that ran past its time.").tag(config=True)
    unresponsive_message = Unicode(
        " The kernel did not respond to the interrupt: it was restarted and the cells before this one were run "
        "again.", help="Added when the kernel had to be killed after a timeout.").tag(config=True)
    crash_message = Unicode(
        "The Python kernel crashed while running this cell ({reason}). A fresh kernel re-ran the cells before "
        "it and grading went on.", help="evalue recorded in a code cell that killed the kernel.").tag(config=True)
    strays_message = Unicode(
        "This cell left processes running that could not be stopped (a fork bomb?). The kernel was restarted "
        "and the cells before this one were run again, without this one.",
        help="evalue recorded in a code cell that left processes behind.").tag(config=True)
    gave_up_message = Unicode(
        "Not run: the kernel crashed or hung {restarts} times in this notebook, so automatic grading stopped "
        "before this cell.", help="evalue of test cells left after max_restarts.").tag(config=True)
    budget_message = Unicode(
        "Not run: the notebook used up its time budget of {seconds} s before this cell.",
        help="evalue of test cells left when notebook_timeout is reached.").tag(config=True)

    @default("sandbox_uid")
    def _sandbox_uid_default(self):
        return _default_uid()

    # ---------------------------------------------------------------- the notebook

    def preprocess(self, nb, resources=None, km=None):
        resources = resources if resources is not None else {}
        self.nb, self.resources = nb, resources
        self._start = time.monotonic()
        self._deadline = self._start + self.notebook_timeout if self.notebook_timeout > 0 else float("inf")
        self._count = 0
        self._replay: list[tuple[int, str]] = []
        self._restarts = 0
        self._given_up: str | None = None
        self.kernel = None
        workdir = self._make_workdir()
        try:
            sandbox = Sandbox(workdir, mode=self.sandbox_mode, uid=self.sandbox_uid, limits=self._limits())
            self._copy_inputs(resources.get("metadata", {}).get("path"), workdir, sandbox.uid)
            self.log.debug("%s", sandbox.describe())
            report = self._static_report(nb, resources)
            self.kernel = SandboxKernel(sandbox, startup_timeout=self.startup_timeout,
                                        max_message_bytes=self.max_message_bytes, log=self.log,
                                        extra_arguments=["--HistoryManager.hist_file=:memory:",
                                                         *self.extra_arguments])
            try:
                self._start_kernel()
            except Exception as e:  # a slow or overloaded machine: one more try
                self.log.warning("starting the sandboxed kernel failed (%s): trying again", e)
                self.kernel.stop()
                self._start_kernel()
            if self.kernel.language_info:
                nb.metadata["language_info"] = self.kernel.language_info
            for index, cell in enumerate(nb.cells):
                self._preprocess_cell(cell, index, report)
        finally:
            if self.kernel is not None:
                self.kernel.stop()
            shutil.rmtree(workdir, ignore_errors=True)
            self.log.info("graded %s in %.1f s (%d kernel restart(s))",
                          resources.get("nbgrader", {}).get("notebook", "the notebook"),
                          time.monotonic() - self._start, self._restarts)
        return nb, resources

    def preprocess_cell(self, cell, resources, index):  # nbconvert's per-cell entry point
        self._preprocess_cell(cell, index, None)
        return cell, resources

    def _limits(self) -> Limits:
        return Limits(memory_bytes=self.sandbox_memory_bytes, cpu_seconds=self.sandbox_cpu_seconds,
                      processes=self.sandbox_processes, file_bytes=self.sandbox_file_bytes,
                      open_files=self.sandbox_open_files, tmp_bytes=self.sandbox_tmp_bytes)

    def _left(self) -> float:
        return self._deadline - time.monotonic()

    def _cell_timeout(self) -> float:
        per_cell = self.timeout if self.timeout and self.timeout > 0 else float("inf")
        return max(0.0, min(per_cell, self._left()))

    def _start_kernel(self) -> None:
        self.kernel.start(timeout=max(1.0, min(self.startup_timeout, self._left())))

    # ---------------------------------------------------------------- cells

    def _preprocess_cell(self, cell, index, report) -> None:
        if cell.cell_type != "code":
            return
        test = nbgrader_utils.is_grade(cell) and not nbgrader_utils.is_solution(cell)
        if not cell.source.strip() and not test:
            return
        self._count += 1
        cell.execution_count = self._count
        cell.outputs = []
        if self._given_up is None and self._left() < 1:
            self._given_up = self.budget_message.format(seconds=self.notebook_timeout)
        if self._given_up is not None:
            if test:
                # An unrun test cell has no error output, which nbgrader would score as a
                # pass: say why it did not run instead.
                cell.outputs = [_error_output("NotRun", self._given_up)]
            return
        if test:
            self._judge(cell, index, report)
        else:
            self._run(cell, index)

    def _run(self, cell, index) -> None:
        timeout = self._cell_timeout()
        collector = _OutputCollector(self.max_output_chars, self.max_outputs, self.max_rich_bytes, self._count)
        run = self.kernel.execute(cell.source, timeout=timeout, collector=collector)
        cell.outputs = collector.finish()
        if run.status in ("ok", "error"):
            if self.kernel.kill_strays():
                self._replay.append((index, cell.source))
                return
            cell.outputs.append(_error_output("ProcessesLeftRunning", self.strays_message))
            self.log.warning("processes left by cell %d could not be stopped: restarting the sandbox", index)
            self._recover()
            return
        if run.status == "timeout":
            message = self.timeout_message.format(seconds=_seconds(timeout))
            if self.kernel.settle(self.interrupt_grace) and self.kernel.kill_strays():
                cell.outputs.append(_error_output("CellTimeoutError", message))
                return
            cell.outputs.append(_error_output("CellTimeoutError", message + self.unresponsive_message))
            self.log.warning("cell %d ran past %s s and the kernel did not come back: restarting", index,
                             _seconds(timeout))
        else:
            cell.outputs.append(_error_output("KernelDied", self.crash_message.format(reason=run.exit)))
            self.log.warning("the kernel died in cell %d (%s): restarting", index, run.exit)
        self._recover()

    def _judge(self, cell, index, report) -> None:
        problem = None
        if report is not None:
            try:
                problem = report.problem(cell.source, index)
            except Exception as e:  # the static look must never stop grading
                self.log.error("static analysis failed on cell %d: %s", index, e)
        if problem:
            tampering = bool(getattr(report, "tampering_before", lambda i: [])(index))
            cell.outputs = [_error_output("NotGraded" if tampering else "NotYourOwnWork", problem)]
            return
        timeout = self._cell_timeout()
        link = KernelLink(self.kernel)
        gid = cell.metadata.get("nbgrader", {}).get("grade_id", index)
        result = run_test_cell(cell.source, link, timeout=timeout, filename=f"<test cell {gid}>",
                                      output_limit=self.max_output_chars)
        outputs = []
        if result.output:
            outputs.append(new_output("stream", name="stdout", text=result.output))
        if not result.passed:
            ename, evalue = result.ename or "Error", result.evalue or "the test failed"
            if link.state == "died":
                ename, evalue = "KernelDied", f"{evalue} [the kernel: {self.kernel.exit_description()}]"
            outputs.append(_error_output(ename, evalue))
        elif link.state is not None:  # a test that caught the failure itself still costs the cell
            outputs.append(_error_output("KernelDied" if link.state == "died" else "TimeoutError",
                                         "the kernel crashed or hung during this test"))
        cell.outputs = outputs
        if link.state == "died":
            self.log.warning("the kernel died during test cell %d: restarting", index)
            self._recover()
        elif link.state == "timeout":
            if not (self.kernel.settle(self.interrupt_grace) and self.kernel.kill_strays()):
                self.log.warning("test cell %d hung the kernel: restarting", index)
                self._recover()
        elif not self.kernel.kill_strays():
            self._recover()

    # ---------------------------------------------------------------- restarts

    def _recover(self) -> None:
        """Kill the sandbox, start a fresh one and replay the cells that ran before."""
        while True:
            self.kernel.stop()
            if self._restarts >= self.max_restarts:
                self._given_up = self.gave_up_message.format(restarts=self._restarts)
                self.log.error("giving up on this notebook after %d kernel restarts", self._restarts)
                return
            if self._left() < 1:
                self._given_up = self.budget_message.format(seconds=self.notebook_timeout)
                return
            self._restarts += 1
            try:
                self._start_kernel()
            except Exception as e:
                self.log.warning("starting a fresh kernel failed: %s", e)
                continue
            culprit = self._replay_cells()
            if culprit is None:
                return
            # Left out from now on: it crashes or hangs the kernel every time it runs.
            self._replay = [(i, s) for i, s in self._replay if i != culprit]

    def _replay_cells(self) -> int | None:
        """Run the cells that ran before, silently; the index of one that crashed or hung."""
        for index, source in self._replay:
            run = self.kernel.execute(source, timeout=self._cell_timeout(), silent=True)
            if run.status in ("ok", "error") and self.kernel.kill_strays():
                continue
            what = "it left processes running" if run.status in ("ok", "error") else run.status
            self.log.warning("replaying cell %d failed (%s): leaving it out", index, what)
            return index
        return None

    # ---------------------------------------------------------------- the work dir

    def _make_workdir(self) -> Path:
        """A fresh folder under ``workdir_root``, which must be ours and writable by us
        alone (else, say another user made it in /tmp first, ``<workdir_root>-u<uid>``)."""
        for root in (Path(self.workdir_root), Path(f"{self.workdir_root}-u{os.geteuid()}")):
            with contextlib.suppress(OSError):
                root.mkdir(parents=True, exist_ok=True, mode=0o711)
            try:
                st = root.lstat()
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022:
                return Path(tempfile.mkdtemp(prefix=f"{self.sandbox_uid}-", dir=root))
        raise RuntimeError(f"{self.workdir_root} must be a folder owned by uid {os.geteuid()} that only its owner "
                           "can write to (it holds the sandboxes' work dirs)")

    def _copy_inputs(self, src, workdir: Path, uid: int | None) -> None:
        """The submission folder's files, except notebooks, gradebooks and links."""
        if not src or not os.path.isdir(src):
            return
        budget, files = self.copy_max_bytes, 0
        for folder, dirs, names in os.walk(src, followlinks=False):
            rel = os.path.relpath(folder, src)
            dirs[:] = [d for d in dirs if not _skipped(d) and not os.path.islink(os.path.join(folder, d))]
            target = workdir if rel == "." else workdir / rel
            target.mkdir(exist_ok=True)
            if uid is not None:
                os.chown(target, uid, uid)
            for name in names:
                path = os.path.join(folder, name)
                if _skipped(name) or os.path.islink(path) or not os.path.isfile(path):
                    continue
                size = os.path.getsize(path)
                files += 1
                if size > budget or files > 10_000:
                    self.log.warning("not copied into the work dir (too large or too many files): %s", path)
                    continue
                budget -= size
                shutil.copyfile(path, target / name, follow_symlinks=False)
                if uid is not None:
                    os.chown(target / name, uid, uid)

    # ---------------------------------------------------------------- static analysis

    def _static_report(self, nb, resources):
        if not self.static_analysis:
            return None
        try:
            release = resources.get("cnn_course_release_nb") or self._release_notebook(resources) \
                or _release_like(nb)
            return static.analyze(nb, release)
        except Exception as e:  # never stop grading: the judge still runs every test
            self.log.error("static analysis failed: %s", e)
            return None

    def _release_notebook(self, resources):
        nb = _read_release_notebook(self.config, resources, self.log)
        if nb is None and resources.get("nbgrader"):
            self.log.warning("judging every answer cell as student code (no release notebook)")
        return nb


def _skipped(name: str) -> bool:
    return any(fnmatch.fnmatch(name.lower(), pattern) for pattern in _NOT_COPIED)


def _error_output(ename: str, evalue: str) -> NotebookNode:
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def _release_like(nb):
    """A stand-in for the release notebook when it cannot be found: the locked cells
    (restored from the gradebook by nbgrader, hidden tests cut) and empty answer cells;
    cells the student added are missing from it, so they count as the student's."""
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if nbgrader_utils.is_solution(cell):
            cells.append(nbformat.v4.new_code_cell("", metadata=copy.deepcopy(cell.metadata)))
        elif nbgrader_utils.is_grade(cell) or nbgrader_utils.is_locked(cell):
            source = "\n".join(line for line in _without_hidden(cell.source))
            cells.append(nbformat.v4.new_code_cell(source, metadata=copy.deepcopy(cell.metadata)))
    return nbformat.v4.new_notebook(cells=cells)


def _without_hidden(source: str):
    inside = False
    for line in source.split("\n"):
        if BEGIN_HIDDEN in line:
            inside = True
        elif END_HIDDEN in line:
            inside = False
        elif not inside:
            yield line


# --------------------------------------------------------------------------- sanitizing


class SafeDeduplicateIds(DeduplicateIds):
    """nbgrader's ``DeduplicateIds``, first dropping nbgrader metadata that is not the
    instructor's shape (not a dict, no string ``grade_id``): stock nbgrader crashes on it
    (KeyError), which would take the whole submission out of automatic grading."""

    def preprocess_cell(self, cell, resources, cell_index):
        md = cell.get("metadata", {})
        if "nbgrader" in md:
            nbg = md["nbgrader"]
            if not isinstance(nbg, dict) or not isinstance(nbg.get("grade_id"), str) or not nbg["grade_id"]:
                self.log.warning("cell %d has nbgrader metadata without a grade_id: dropped", cell_index)
                del md["nbgrader"]
                return cell, resources
        return super().preprocess_cell(cell, resources, cell_index)


class RestoreCells(OverwriteCells):
    """nbgrader's ``OverwriteCells``, hardened against submissions that edit cells.

    * The nbgrader metadata of every cell the gradebook knows is rebuilt from the
      gradebook (grade, solution, task, locked, points), so a test cell turned into an
      answer cell, or given 100 points, is the instructor's again (stock nbgrader only
      restores ``locked`` and ``points``, then fails with "Inconsistent checksums").
    * A cell whose grade_id the gradebook does not know loses its nbgrader metadata
      entirely: it is the student's code, never a grade cell (stock nbgrader leaves its
      flags and then crashes on the missing id).
    * Deleted grade cells (``add_missing_cells``) go back after the nearest cell before
      them, in the release notebook's order, that the submission still has (stock
      nbgrader assumes the cell just before is a grade or answer cell that is present,
      and crashes otherwise).
    """

    def preprocess(self, nb, resources):
        self._order = _release_grade_ids(self.config, resources)
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, cell_index):
        nbg = cell.get("metadata", {}).get("nbgrader")
        if not isinstance(nbg, dict) or not nbg.get("grade_id"):
            cell.get("metadata", {}).pop("nbgrader", None)
            return cell, resources
        grade_id = nbg["grade_id"]
        try:
            source = self.gradebook.find_source_cell(grade_id, self.notebook_id, self.assignment_id)
        except MissingEntry:
            self.log.warning("cell %s is not in the gradebook: its nbgrader metadata is dropped", grade_id)
            del cell.metadata["nbgrader"]
            return cell, resources
        restored = {"grade_id": grade_id, "locked": bool(source.locked), "schema_version": 3,
                    "grade": False, "solution": False, "task": False}
        for kind, find in (("grade", self.gradebook.find_grade_cell), ("solution", self.gradebook.find_solution_cell),
                           ("task", self.gradebook.find_task_cell)):
            try:
                found = find(grade_id, self.notebook_id, self.assignment_id)
            except MissingEntry:
                continue
            restored[kind] = True
            if kind in ("grade", "task"):
                restored["points"] = float(found.max_score)
        changed = {k: (nbg.get(k), v) for k, v in restored.items() if nbg.get(k) != v and k != "schema_version"}
        if changed:
            self.log.warning("cell %s: nbgrader metadata restored from the gradebook: %s", grade_id, changed)
        cell.metadata["nbgrader"] = restored
        return super().preprocess_cell(cell, resources, cell_index)

    def add_missing_grade_cells(self, nb, resources):
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        source_cells = {c.name: c for c in source_nb.source_cells}
        solution_ids = {c.name for c in source_nb.solution_cells}
        grade_cells = {c.name: c for c in source_nb.grade_cells}
        order = [g for g in self._order if g in source_cells] or list(source_cells)
        order += [g for g in grade_cells if g not in order]

        def present() -> dict[str, int]:
            out = {}
            for i, c in enumerate(nb.cells):
                gid = c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                if gid is not None:
                    out.setdefault(gid, i)
            return out

        for k, grade_id in enumerate(order):
            if grade_id not in grade_cells or grade_id in present():
                continue
            self.log.warning("Missing grade cell %s encountered, adding to notebook", grade_id)
            cell = self.missing_cell_transform(source_cells[grade_id], grade_cells[grade_id].max_score,
                                               is_solution=grade_id in solution_ids)
            where = present()
            before = [where[g] for g in order[:k] if g in where]
            after = [where[g] for g in order[k + 1:] if g in where]
            index = before[-1] + 1 if before else (after[0] if after else len(nb.cells))
            nb.cells.insert(index, cell)
        return nb, resources


def _release_grade_ids(config, resources) -> list[str]:
    """grade_ids of the release notebook's cells, in notebook order ([] if not found)."""
    nb = _read_release_notebook(config, resources)
    if nb is None:
        return []
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if isinstance(c.get("metadata", {}).get("nbgrader"), dict) and c.metadata["nbgrader"].get("grade_id")]


def _read_release_notebook(config, resources, log=None):
    """The release (student) version of the notebook being graded, from the course
    directory nbgrader's config names; None when it is not there."""
    info = resources.get("nbgrader", {})
    assignment, notebook = info.get("assignment"), info.get("notebook")
    if not assignment or not notebook:
        return None
    try:
        from nbgrader.coursedir import CourseDirectory

        coursedir = CourseDirectory(config=config)
        path = Path(coursedir.format_path(coursedir.release_directory, ".", assignment)) / f"{notebook}.ipynb"
        if path.is_file():
            return nbformat.read(path, as_version=4)
        if log is not None:
            log.warning("release notebook %s not found", path)
    except Exception as e:
        if log is not None:
            log.warning("could not read the release notebook: %s", e)
    return None


# --------------------------------------------------------------------------- course helpers


def load_config(root: str | os.PathLike, **overrides) -> Config:
    """The course's ``nbgrader_config.py`` as a traitlets ``Config``.

    ``overrides`` are ``"Section.trait"`` keys with their values, e.g.
    ``{"CourseDirectory.root": tmp, "Execute.timeout": 10}`` (pass them as
    ``**{...}``); they win over the file.
    """
    root = Path(root)
    config = PyFileConfigLoader(CONFIG_FILE, path=str(root)).load_config()
    for key, value in overrides.items():
        section, trait = key.rsplit(".", 1)
        config[section][trait] = value
    return config


def canonical_notebook(nb: NotebookNode, id_prefix: str = "cell") -> str:
    """The notebook as stable text: nbformat's own layout, deterministic cell ids.

    A cell that lacks an id (nbformat makes random ones) gets one derived from its
    nbgrader grade_id or its position, so two generations are byte-identical.
    """
    nb = nbformat.from_dict(nb)
    nb.nbformat, nb.nbformat_minor = 4, 5
    seen = set()
    for i, cell in enumerate(nb.cells):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        cid = cell.get("id") or grade_id or f"{id_prefix}-{i}"
        cid = re.sub(r"[^A-Za-z0-9_-]", "-", cid)[:64]
        if cid in seen:
            cid = f"{cid[:56]}-{i}"
        seen.add(cid)
        cell["id"] = cid
        # Timing metadata and widget state differ run to run.
        cell.get("metadata", {}).pop("execution", None)
    nb.metadata.pop("widgets", None)
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def grade_cell_ids(nb: NotebookNode) -> list[str]:
    """grade_ids of the autograded test cells (grade, not solution) in notebook order."""
    return [
        c.metadata.nbgrader["grade_id"]
        for c in nb.cells
        if nbgrader_utils.is_grade(c) and not nbgrader_utils.is_solution(c)
    ]
