"""The executors: nbgrader's ``Execute`` replaced, for students' and for instructors' notebooks.

``SandboxedExecute`` (autograde, ``nbgrader_config.py``)
    Replaces nbgrader's ``Execute`` for untrusted submissions. Each notebook runs in a
    throw-away work dir holding only the submission's non-notebook files, its kernel in
    a :class:`~.sandbox.Sandbox` (bubblewrap: own uid, no network, read-only system,
    resource limits; or resource limits alone). Test cells never run in that kernel: the
    grader executes them itself (:mod:`.judge`), calling the student's functions in the
    kernel through :class:`~.kernel.KernelLink`, after a static look at the student's
    code (:mod:`.static`); the test cell's outputs are the verdict. Outputs are capped as
    they arrive; a hang, crash, memory or fork bomb kills the sandbox, a fresh one
    replays the cells before, and only that exercise is lost.

``ResilientExecute`` (``cnn-course validate``: the instructor's own notebooks)
    Stock ``Execute`` gives up on the whole notebook when the kernel dies
    (``os._exit``) or ignores the timeout interrupt (``except KeyboardInterrupt``
    inside a loop): the student ends with no autograded notebook. This one records an
    error in the offending cell, starts a fresh kernel, replays the cells that ran
    before (without their outputs) and carries on, so only the exercise that crashed
    loses its points. It runs everything in one ordinary kernel: not for untrusted code.

The sandboxed kernel and its link are in :mod:`.kernel`, the output caps in
:mod:`.outputs`, the other preprocessors of ``nbgrader_config.py`` in :mod:`.preprocessors`.
"""

from __future__ import annotations

import contextlib
import copy
import fnmatch
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path

import nbformat
from jupyter_core.utils import ensure_async, run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_output
from nbgrader import utils as nbgrader_utils
from nbgrader.preprocessors import Execute
from traitlets import Bool, Enum, Float, Integer, Unicode, default

from . import seeds, static
from .course import REVIEW_KEY, without_hidden_tests
from .judge import run_test_cell
from .kernel import KernelLink, SandboxKernel, _seconds
from .outputs import _OutputCollector
from .preprocessors import _read_release_notebook
from .sandbox import Limits, Sandbox

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

# What of a submission folder never reaches the work dir.
_NOT_COPIED = (
    "*.ipynb", "gradebook.db*", "*.sqlite*", ".ipynb_checkpoints", "__pycache__", "feedback",
    "timestamp.txt", ".kernel", ".grader",
)


def _default_uid() -> int:
    try:
        return int(os.environ.get("CNN_COURSE_SANDBOX_UID", "") or 61000)
    except ValueError:
        return 61000


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
    sandbox_work_bytes = Integer(Limits.work_bytes, help="Size of the sandbox's work dir (a tmpfs: all the "
                                 "submission can write besides /tmp; bwrap mode).").tag(config=True)
    _seed_key: bytes | None = None  # set per notebook by preprocess

    per_submission_seeds = Bool(True, help="Run each test cell's seed=<int> as a seed derived from the course's "
                                "secret, the student and the submission (cnn_course/autograde/seeds.py), so recorded "
                                "hidden cases are worthless for the next submission.").tag(config=True)
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
    disk_full_message = Unicode(
        "[the notebook filled its work dir ({size}), so the grader replaced its sandbox with a fresh one and ran "
        "the cells before this one again: files written so far are gone]\n",
        help="Added to a cell after which the sandbox's work dir was full.").tag(config=True)
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
        self._reviews: list[dict] = []
        student = str((resources.get("nbgrader") or {}).get("student") or "")
        self._seed_key = seeds.submission_key(seeds.course_secret(), student, nb) \
            if student and self.per_submission_seeds else None
        nb.metadata.pop(REVIEW_KEY, None)  # only the grader writes it
        self.kernel = self._sandbox = None
        workdir = self._make_workdir()
        try:
            sandbox = self._sandbox = Sandbox(workdir, mode=self.sandbox_mode, uid=self.sandbox_uid,
                                              limits=self._limits())
            self._inputs = resources.get("metadata", {}).get("path")
            why_not = sandbox.mount_workdir()
            if why_not and sandbox.mode == "bwrap":
                self.log.warning("the work dir has no size limit: %s", why_not)
            self._copy_inputs(self._inputs, workdir, sandbox.uid)
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
            if self._reviews:
                nb.metadata[REVIEW_KEY] = self._reviews
        finally:
            if self.kernel is not None:
                self.kernel.stop()
            if self._sandbox is not None:
                self._sandbox.unmount_workdir()
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
                      open_files=self.sandbox_open_files, tmp_bytes=self.sandbox_tmp_bytes,
                      work_bytes=self.sandbox_work_bytes)

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
        if self._given_up is None and self.kernel is not None:
            self._check_disk(cell, index)

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
        problem, tampering = None, []
        gid = cell.metadata.get("nbgrader", {}).get("grade_id", index)
        if report is not None:
            try:
                tampering = report.tampering_before(index)
                problem = report.problem(cell.source, index, tampering=False)
            except Exception as e:  # the static look must never stop grading
                self.log.error("static analysis failed on cell %d: %s", index, e)
        if problem:
            cell.outputs = [_error_output("NotYourOwnWork", problem)]
            return
        self._grade_test_cell(cell, index, gid)
        if tampering:  # the verdict came from the grader: it stands, and a person reviews it
            passed = not any(o.get("output_type") == "error" for o in cell.outputs)
            names = static.graded_names(cell.source)
            label = names[0] if names else "this exercise"
            cell.outputs.insert(0, new_output("stream", name="stdout",  # stderr would fail the cell (nbgrader)
                                              text=report.review_message(label, tampering, passed) + "\n"))
            self._reviews.append({"grade_id": str(gid), "reason": report.review_reason(tampering), "passed": passed})

    def _grade_test_cell(self, cell, index, gid) -> None:
        timeout = self._cell_timeout()
        link = KernelLink(self.kernel)
        source = seeds.reseed_source(cell.source, self._seed_key, str(gid)) if self._seed_key else cell.source
        result = run_test_cell(source, link, timeout=timeout, filename=f"<test cell {gid}>",
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

    def _fresh_workdir(self) -> None:
        """The work dir is full: an empty one (a fresh tmpfs, the submission's files copied
        again) for the next kernel, so that filling it costs only what ran then."""
        self.kernel.stop()
        sb = self._sandbox
        sb.unmount_workdir()
        shutil.rmtree(sb.workdir, ignore_errors=True)
        sb.workdir.mkdir(mode=0o700)
        sb.mount_workdir()
        self._copy_inputs(self._inputs, sb.workdir, sb.uid)

    def _check_disk(self, cell, index) -> None:
        """After a cell or test: a full work dir gets the sandbox replaced, with a note; the
        cell that filled it is not replayed."""
        if not self._sandbox.workdir_full():
            return
        self._replay = [(i, s) for i, s in self._replay if i != index]
        cell.outputs.append(new_output("stream", name="stdout", text=self.disk_full_message.format(
            size=_mib(self.sandbox_work_bytes))))
        self.log.warning("the notebook filled its work dir: a fresh sandbox replays the cells before")
        self._fresh_workdir()
        self._recover()

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
            full = self._sandbox.workdir_full()
            if run.status in ("ok", "error") and self.kernel.kill_strays() and not full:
                continue
            what = "it filled the work dir" if full else \
                "it left processes running" if run.status in ("ok", "error") else run.status
            if full:
                self._fresh_workdir()
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


def _mib(n: int) -> str:
    return f"{n / 2**20:g} MiB"


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
            source = without_hidden_tests(cell.source)
            cells.append(nbformat.v4.new_code_cell(source, metadata=copy.deepcopy(cell.metadata)))
    return nbformat.v4.new_notebook(cells=cells)
