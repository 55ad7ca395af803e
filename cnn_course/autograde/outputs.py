"""A cell's outputs as the sandboxed kernel sends them, capped while they arrive.

The executor collects each code cell's output messages through an :class:`_OutputCollector`:
text (streams, tracebacks), the number of outputs and rich data (images, HTML) are capped
per cell, the rest is counted, not kept, and a note says what was dropped. Progress bars
are cleaned up as nbclient does (carriage returns and backspaces).
"""

from __future__ import annotations

import json
import re

from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_output, output_from_msg

# nbclient's clean-up of progress-bar output: text before a carriage return (on the same
# line) and a character before a backspace are overwritten.
_RGX_CARRIAGERETURN = re.compile(r".*\r(?=[^\n])")
_RGX_BACKSPACE = re.compile("[^\n\x08]\x08")


def _size(n: int) -> str:
    for unit, size in (("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} bytes"


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
            # "at least": the grader counts what reached it; a kernel printing faster than it is
            # read also loses messages in transport (ZeroMQ drops them past its high-water mark)
            notes.append(f"[output cut: the grader keeps {self.max_chars:,} characters of a cell's output; "
                         f"at least {self.dropped_chars:,} more were dropped]\n")
        if self.dropped_outputs:
            notes.append(f"[{self.dropped_outputs:,} more output(s) dropped: the grader keeps {self.max_outputs} "
                         f"outputs and {_size(self.max_rich)} of images per cell]\n")
        if notes:
            self.outputs.append(new_output("stream", name="stderr", text="".join(notes)))
        return self.outputs
