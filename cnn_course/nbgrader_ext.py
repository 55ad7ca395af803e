"""nbgrader extensions used by ``nbgrader_config.py`` and the ``cnn-course`` CLI.

Two preprocessors fill gaps in stock nbgrader 0.9.6:

``HideHiddenTestTracebacks``
    Feedback shows each cell's outputs. A failing hidden test leaves a traceback whose
    frames quote the cell's source, hidden lines included, and ``ClearHiddenTests`` only
    cleans the cell's *source*. This preprocessor runs before it and rewrites those
    tracebacks: the ``ename: evalue`` line (our feedback message) stays, the quoted
    source of a cell with hidden tests goes.

``ResilientExecute``
    Stock ``Execute`` gives up on the whole notebook when the kernel dies
    (``os._exit``) or ignores the timeout interrupt (``except KeyboardInterrupt``
    inside a loop): the student ends with no autograded notebook. This one records an
    error in the offending cell, starts a fresh kernel, replays the cells that ran
    before (without their outputs) and carries on, so only the exercise that crashed
    loses its points.

The rest are helpers shared by the CLI and the tests: loading the course's nbgrader
config with a throw-away root and gradebook, and canonical notebook output.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
from jupyter_core.utils import ensure_async, run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbconvert.filters import strip_ansi
from nbformat.notebooknode import NotebookNode
from nbgrader import utils as nbgrader_utils
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Integer, Unicode
from traitlets.config import Config, PyFileConfigLoader

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
