"""How a request reaches the agent in the student's kernel: the :class:`Link` protocol.

A link carries one request to the agent (an envelope, :func:`request_envelope`, and its
arrays, encoded by :mod:`.codec`) and returns the answer's payload (:func:`open_envelope`);
it raises :class:`RemoteTimeout` when the kernel does not answer in time,
:class:`KernelDied` when it dies, :class:`AgentError` when the agent reports an error.
The executor's link goes through the sandboxed Jupyter kernel (:class:`.kernel.KernelLink`);
:class:`FileLink` goes through a directory both sides see, :class:`LoopbackLink` runs the
agent in this process (tests). A kernel loads the agent with :data:`AGENT_IMPORT`, under
the name :data:`AGENT_NAME`.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Callable, Protocol

from . import agent
from .codec import MAX_TEXT, CodecError, decode_message, encode_message, read_message, write_message

__all__ = [
    "Link", "LoopbackLink", "FileLink", "RemoteError", "RemoteTimeout", "KernelDied", "AgentError",
    "AGENT_NAME", "AGENT_IMPORT", "request_envelope", "open_envelope",
]

AGENT_NAME = "__cnn_agent__"  # the agent's name in the kernel's namespace
AGENT_IMPORT = f"import {agent.__name__} as {AGENT_NAME}"


class RemoteError(Exception):
    """The transport to the kernel failed (raised by a :class:`Link`)."""


class RemoteTimeout(RemoteError):
    """The kernel did not answer within the time given."""


class KernelDied(RemoteError):
    """The kernel died (crash, os._exit, out of memory) while handling the request."""


class AgentError(RemoteError):
    """The agent in the kernel answered with an error, or its answer is unreadable."""


class Link(Protocol):
    """Carries one request to the agent in the kernel and returns its answer's payload.

    ``payload``/``arrays`` are what :func:`.agent.handle` receives; the answer is what it
    returned. Raises :class:`RemoteTimeout` after ``timeout`` seconds, :class:`KernelDied`
    when the kernel dies, :class:`AgentError` when the agent reports an error.
    """

    def request(self, op: str, payload: dict, arrays: dict, timeout: float) -> tuple[dict, dict]:
        ...


def request_envelope(op: str, payload: dict) -> dict:
    return {"op": op, "payload": payload}


def open_envelope(tree: dict) -> dict:
    """The payload of the agent's answer; :class:`AgentError` when the agent reported one."""
    if not isinstance(tree, dict) or not isinstance(tree.get("ok"), bool):
        raise AgentError("the kernel's answer is not an answer")
    if not tree["ok"]:
        raise AgentError(str(tree.get("error", "unknown error"))[:MAX_TEXT])
    payload = tree.get("payload")
    if not isinstance(payload, dict):
        raise AgentError("the kernel's answer has no payload")
    return payload


class LoopbackLink:
    """A :class:`Link` that runs the agent in this process on ``namespace`` (a dict standing
    for the kernel's ``user_ns``), through the full message encoding. For tests."""

    def __init__(self, namespace: dict):
        self.namespace = namespace
        self.requests = 0

    def request(self, op, payload, arrays, timeout):
        self.requests += 1
        data = encode_message(request_envelope(op, payload), arrays)
        tree, out_arrays = decode_message(agent.process(data, self.namespace))
        return open_envelope(tree), out_arrays


class FileLink:
    """A :class:`Link` over a directory that the grader and the kernel both see.

    ``run_code(code, timeout)`` is the executor's: it runs ``code`` in the kernel and waits,
    raising :class:`RemoteTimeout` / :class:`KernelDied`. ``local_dir`` is the directory as
    the grader sees it, ``kernel_dir`` as the kernel sees it (the sandbox may mount it
    elsewhere). Each request writes ``<prefix>-request.npz``, runs
    ``__cnn_agent__.serve(request, response)`` in the kernel and reads ``<prefix>-response.npz``.
    """

    SETUP = AGENT_IMPORT

    def __init__(self, run_code: Callable[[str, float], Any], local_dir, kernel_dir=None, prefix: str = "cnn-agent"):
        self.run_code = run_code
        self.local_dir = os.fspath(local_dir)
        self.kernel_dir = os.fspath(kernel_dir) if kernel_dir is not None else self.local_dir
        self.prefix = prefix
        self.requests = 0

    def _paths(self, base):
        return (os.path.join(base, f"{self.prefix}-request.npz"), os.path.join(base, f"{self.prefix}-response.npz"))

    def request(self, op, payload, arrays, timeout):
        self.requests += 1
        req, resp = self._paths(self.local_dir)
        kreq, kresp = self._paths(self.kernel_dir)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(resp)
        write_message(req, request_envelope(op, payload), arrays)
        try:
            self.run_code(f"{self.SETUP}\n{AGENT_NAME}.serve({kreq!r}, {kresp!r})", timeout)
            try:
                tree, out_arrays = read_message(resp)
            except CodecError as exc:
                raise AgentError(f"the kernel's answer could not be read: {exc}") from None
        finally:
            for p in (req, resp):
                with contextlib.suppress(OSError):
                    os.unlink(p)
        return open_envelope(tree), out_arrays
