"""Start the student's JupyterLab the way ``python3 run.py lab`` does, and talk to it.

Used by the real-browser test (``tests/test_browser.py``) and by the kernel-thread
benchmark (``benchmarks/bench_lab_kernel.py``). The server runs from a throw-away work
folder (``CNN_COURSE_WORK``) on a free port of 127.0.0.1, with a random token; ``stop()``
ends the server, its kernels and nothing else.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """``python3 run.py lab --no-browser --port PORT`` with ``work`` as the student's folder."""

    def __init__(self, work: Path, log: Path, env: dict[str, str] | None = None, startup_timeout: float = 180):
        self.work, self.log_path = Path(work), Path(log)
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        # JupyterLab keeps open tabs (workspaces) and settings under ~/.jupyter: use fresh
        # ones, so the user's own never change what the server shows, nor the other way round.
        state = self.log_path.parent / "jupyterlab-state"
        self._env = dict(os.environ, CNN_COURSE_WORK=str(self.work),
                         JUPYTERLAB_WORKSPACES_DIR=str(state / "workspaces"),
                         JUPYTERLAB_SETTINGS_DIR=str(state / "user-settings"), **(env or {}))
        self._timeout = startup_timeout
        self.proc: subprocess.Popen | None = None

    # -- life cycle ------------------------------------------------------------------
    def start(self) -> "LabServer":
        cmd = [sys.executable, str(REPO / "run.py"), "lab", "--no-browser", "--ip=127.0.0.1",
               f"--port={self.port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}"]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=self._env, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"run.py lab exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                self.api("GET", "/api/status")
                return self
            except (OSError, urllib.error.URLError):
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"JupyterLab did not answer within {self._timeout:.0f} s:\n{self.log()[-3000:]}")

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            family = psutil.Process(self.proc.pid).children(recursive=True) + [psutil.Process(self.proc.pid)]
        except psutil.NoSuchProcess:
            family = []
        if self.proc.poll() is None:
            # SIGTERM to run.py's process group: the server shuts its kernels down and exits.
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        _, alive = psutil.wait_procs(family, timeout=5)
        for p in alive:  # only processes this server started (run.py, jupyter, its kernels)
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        self.proc.wait()
        self._log.close()
        self.proc = None

    def __enter__(self) -> "LabServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # -- REST ------------------------------------------------------------------------
    def api(self, method: str, path: str, body: dict | None = None, timeout: float = 30):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Authorization": f"token {self.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            text = resp.read()
        return json.loads(text) if text else None

    def lab_url(self, path: str = "") -> str:
        return f"{self.base}/lab/tree/{path}?token={self.token}"

    def kernel(self, notebook: str) -> "Kernel":
        """A new kernel session for ``notebook`` (a path inside the work folder), as the
        browser gets when it opens the notebook."""
        session = self.api("POST", "/api/sessions", {"path": notebook, "type": "notebook", "name": notebook,
                                                     "kernel": {"name": "python3"}})
        return Kernel(self, session["id"], session["kernel"]["id"])


class Kernel:
    """Execute code in one of the server's kernels over its websocket (JSON protocol)."""

    def __init__(self, server: LabServer, session_id: str, kernel_id: str):
        import websocket  # websocket-client, a dependency of jupyter_server's tooling

        self.server, self.session_id, self.kernel_id = server, session_id, kernel_id
        url = (f"ws://127.0.0.1:{server.port}/api/kernels/{kernel_id}/channels"
               f"?session_id={uuid.uuid4().hex}&token={server.token}")
        self.ws = websocket.create_connection(url, timeout=600)

    def execute(self, code: str, timeout: float = 600) -> tuple[str, float]:
        """Run ``code``; return its text output and the wall-clock seconds from the request
        to the reply. Raises RuntimeError with the traceback when the code raised."""
        msg_id = uuid.uuid4().hex
        msg = {"header": {"msg_id": msg_id, "username": "bench", "session": self.session_id, "msg_type":
                          "execute_request", "version": "5.3", "date": ""},
               "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
               "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                           "allow_stdin": False, "stop_on_error": True}}
        t0 = time.perf_counter()
        self.ws.send(json.dumps(msg))
        text, error, seconds, idle = [], None, None, False
        deadline = time.monotonic() + timeout
        while seconds is None or not idle:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no reply within {timeout} s to:\n{code[:300]}")
            reply = json.loads(self.ws.recv())
            if reply.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = reply["msg_type"], reply["content"]
            if kind == "execute_reply":
                seconds = time.perf_counter() - t0
            elif kind == "status" and content.get("execution_state") == "idle":
                idle = True
            elif kind == "stream":
                text.append(content["text"])
            elif kind in ("execute_result", "display_data"):
                text.append(content.get("data", {}).get("text/plain", "") + "\n")
            elif kind == "error":
                error = "\n".join(content.get("traceback", [])) or content.get("evalue", "")
        if error:
            raise RuntimeError(f"the cell raised:\n{error}")
        return "".join(text), seconds

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.server.api("DELETE", f"/api/sessions/{self.session_id}")
