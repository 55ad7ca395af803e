"""cnn_course.autograde.sandbox: what a submission's code can and cannot do, and its kernel.

Each test runs Python inside a bwrap sandbox (CI runs as root with bubblewrap
installed) next to a fake course: a gradebook, a solutions/ folder and another
student's submission, none of which the sandbox may see. The uids used here
(61990-61993) are not used by grading workers, so tests running beside this file are
not disturbed by its process scans and kills.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import nbformat
import pytest
from jupyter_client.blocking import BlockingKernelClient
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

import cnn_course
from cnn_course.autograde import sandbox as sbmod
from cnn_course.autograde.sandbox import (
    AsyncSandboxKernelManager,
    Limits,
    Sandbox,
    SandboxKernelManager,
    SandboxUnavailable,
    probe_bwrap,
    processes_of_uid,
    sandbox_mode,
)

REPO = Path(__file__).resolve().parent.parent
UID, FORK_UID, KERNEL_UID, NB_UID = 61990, 61991, 61992, 61993


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A fake course next to the submissions: what must stay invisible."""
    root = tmp_path_factory.mktemp("c")
    (root / "gradebook.db").write_text("hidden tests and grades")
    (root / "solutions" / "01_convolution").mkdir(parents=True)
    (root / "solutions" / "01_convolution" / "01_convolution.ipynb").write_text("{}")
    (root / "s" / "bob").mkdir(parents=True)
    (root / "s" / "bob" / "bob.ipynb").write_text("bob's answers")
    return root


@pytest.fixture
def workdir(course, request):
    path = course / "s" / f"alice-{request.node.name[5:25]}"
    yield path
    for uid in (UID, FORK_UID, KERNEL_UID, NB_UID):
        assert wait_no_process(uid) == [], f"processes of uid {uid} left behind"


def run_in(sb: Sandbox, code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run Python code in the sandbox; stdout, stderr as text."""
    sb.prepare()
    proc = sb.popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
        proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def run_json(sb: Sandbox, code: str, timeout: float = 60):
    """Run code that prints one JSON document last; return it."""
    res = run_in(sb, code, timeout)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def wait_no_process(uid: int, timeout: float = 5.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (pids := processes_of_uid(uid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return pids


# --------------------------------------------------------------------------- modes


def test_bwrap_is_usable_here_and_modes_resolve(monkeypatch):
    assert probe_bwrap() is None, f"CI runs as root with bubblewrap installed: {probe_bwrap()}"
    assert sandbox_mode("auto") == "bwrap"
    assert sandbox_mode("bwrap") == "bwrap"
    assert sandbox_mode("rlimits") == "rlimits"
    with pytest.raises(ValueError, match="unknown sandbox mode"):
        sandbox_mode("docker")
    monkeypatch.setattr(sbmod, "probe_bwrap", lambda: "bwrap is not installed")
    assert sandbox_mode("auto") == "rlimits"
    with pytest.raises(SandboxUnavailable, match="bwrap is not installed"):
        sandbox_mode("bwrap")


def test_command_shape(workdir):
    sb = Sandbox(workdir, mode="bwrap", uid=UID, limits=Limits(tmp_bytes=2**20))
    cmd = sb.command(["python", "-c", "pass"])
    assert cmd[0].endswith("bwrap") and cmd[-3:] == ["python", "-c", "pass"]
    for flag in ("--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
                 "--new-session", "--clearenv"):
        assert flag in cmd
    assert "--unshare-all" not in cmd and "--unshare-user" not in cmd  # setpriv would fail (EINVAL)
    i = cmd.index("--tmpfs")
    assert cmd[i + 1] == "/tmp" and cmd[i - 2:i] == ["--size", str(2**20)]
    i = cmd.index("--chdir")
    assert cmd[i + 1] == str(workdir)
    sep = cmd.index("--")
    assert cmd[sep + 1].endswith("setpriv") and f"--reuid={UID}" in cmd and "--no-new-privs" in cmd
    # The repository itself is not bound: only its package folder and the venv.
    binds = {cmd[j + 1] for j, a in enumerate(cmd) if a in ("--ro-bind", "--bind")}
    assert str(REPO) not in binds and str(Path(cnn_course.__file__).resolve().parent) in binds
    assert str(workdir) in binds


def test_describe_says_what_is_isolated(workdir):
    bw = Sandbox(workdir, mode="bwrap", uid=UID).describe()
    assert "bwrap" in bw and f"uid {UID}" in bw and "no network" in bw and str(workdir) in bw
    rl = Sandbox(workdir, mode="rlimits").describe()
    assert "NOT isolated" in rl and "memory 3 GiB" in rl
    assert Sandbox(workdir, mode="rlimits").uid is None


def test_env_is_minimal(workdir, monkeypatch):
    monkeypatch.setenv("GRADER_SECRET_TOKEN", "s3cret")
    sb = Sandbox(workdir, mode="bwrap", uid=UID, env={"EXTRA": "1"})
    env = sb.env({"MORE": "2"})
    assert "GRADER_SECRET_TOKEN" not in env and env["EXTRA"] == "1" and env["MORE"] == "2"
    for key, value in {"HOME": str(workdir), "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg",
                       "OMP_NUM_THREADS": "1", "NBGRADER_EXECUTION": "autograde"}.items():
        assert env[key] == value
    assert env["MPLCONFIGDIR"].startswith("/tmp/") and env["IPYTHONDIR"].startswith("/tmp/")
    inside = run_json(sb, "import os, json; print(json.dumps(dict(os.environ)))")
    assert "GRADER_SECRET_TOKEN" not in inside and inside["HOME"] == str(workdir)
    assert "JPY_PARENT_PID" not in inside and inside["EXTRA"] == "1"


# --------------------------------------------------------------------------- files


def test_cannot_see_gradebook_solutions_root_or_other_students(course, workdir):
    sb = Sandbox(workdir, uid=UID)
    paths = [course / "gradebook.db", course / "solutions", course / "s" / "bob", course / "s" / "bob" / "bob.ipynb",
             REPO / "solutions", REPO / "nbgrader_config.py", REPO / "tests", Path.home() / ".cache", Path("/work")]
    seen = run_json(sb, f"""
        import os, json
        found = {{}}
        for p in {[str(p) for p in paths]!r}:
            try:
                with open(p) as fh: fh.read(); found[p] = 'read'
            except IsADirectoryError:
                found[p] = 'dir ' + ','.join(sorted(os.listdir(p)))
            except OSError as e:
                found[p] = type(e).__name__
        found['siblings'] = sorted(os.listdir(os.path.dirname(os.getcwd())))
        found['root'] = sorted(os.listdir('/root'))
        found['repo'] = sorted(os.listdir({str(REPO)!r}))
        print(json.dumps(found))
    """)
    for p in paths[:-1]:
        assert seen[str(p)] == "FileNotFoundError", (p, seen[str(p)])
    assert seen["siblings"] == [workdir.name], "another student's folder is visible"
    assert seen["root"] == [".pyenv"] or not str(sys.base_prefix).startswith("/root")
    assert seen["repo"] == sorted([".venv", "cnn_course"]) or not str(sys.prefix).startswith(str(REPO))
    assert (course / "gradebook.db").read_text() == "hidden tests and grades"


def test_only_workdir_and_tmp_are_writable(workdir):
    sb = Sandbox(workdir, uid=UID)
    res = run_json(sb, f"""
        import os, json
        out = {{}}
        for p in ['/usr/x', '/etc/x', {sys.prefix + '/x'!r}, {str(Path(cnn_course.__file__).parent / 'x')!r},
                  '/x', 'mine.txt', '/tmp/mine.txt', '/dev/shm/x']:
            try:
                with open(p, 'w') as fh: fh.write('hi')
                out[p] = 'ok'
            except OSError as e:
                out[p] = type(e).__name__
        print(json.dumps(out))
    """)
    assert res.pop("mine.txt") == "ok" and res.pop("/tmp/mine.txt") == "ok" and res.pop("/dev/shm/x") == "ok"
    assert all(v in ("PermissionError", "OSError") for v in res.values()), res
    assert (workdir / "mine.txt").stat().st_uid == UID
    assert not Path("/tmp/mine.txt").exists() or Path("/tmp/mine.txt").stat().st_uid != UID


def test_imports_numpy_torch_and_cnn_course(workdir):
    got = run_json(Sandbox(workdir, uid=UID), """
        import json, numpy, torch, cnn_course, cnn_course.grading, cnn_course.ref
        print(json.dumps([cnn_course.__file__, float(torch.ones(3).sum()), float(numpy.ones(2).sum())]))
    """)
    assert got == [cnn_course.__file__, 3.0, 2.0]


# --------------------------------------------------------------------------- network and privileges


def test_no_network(workdir):
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    server.settimeout(0.1)
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass  # reachable from outside the sandbox
    res = run_json(Sandbox(workdir, uid=UID), f"""
        import json, socket
        out = {{}}
        for host, port in [('127.0.0.1', {port}), ('192.0.2.1', 80), ('8.8.8.8', 53)]:
            try:
                socket.create_connection((host, port), timeout=3).close()
                out[host] = 'connected'
            except OSError as e:
                out[host] = type(e).__name__
        try:
            socket.getaddrinfo('pypi.org', 443); out['dns'] = 'resolved'
        except OSError as e:
            out['dns'] = type(e).__name__
        print(json.dumps(out))
    """)
    server.close()
    assert "connected" not in res.values() and res["dns"] != "resolved", res


def test_unprivileged_user_without_capabilities(workdir):
    res = run_json(Sandbox(workdir, uid=UID), """
        import os, json
        status = dict(l.split(':', 1) for l in open('/proc/self/status'))
        out = {k: status[k].strip() for k in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs')}
        out['uid'], out['gid'], out['groups'] = os.getuid(), os.getgid(), os.getgroups()
        for name, call in [('setuid', lambda: os.setuid(0)), ('chown', lambda: os.chown('.', 0, 0)),
                           ('kill1', lambda: os.kill(1, 9))]:
            try:
                call(); out[name] = 'done'
            except OSError as e:
                out[name] = type(e).__name__
        out['pids'] = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())
        print(json.dumps(out))
    """)
    assert res["uid"] == UID and res["gid"] == UID and res["groups"] == []
    for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(res[cap], 16) == 0, (cap, res[cap])
    assert res["NoNewPrivs"] == "1"
    assert res["setuid"] == res["chown"] == res["kill1"] == "PermissionError"
    assert max(res["pids"]) < 10, "the sandbox sees host processes"


# --------------------------------------------------------------------------- limits


def test_rlimits_are_set_in_the_sandbox_only(workdir):
    before = {r: resource.getrlimit(r) for r in (resource.RLIMIT_AS, resource.RLIMIT_NPROC, resource.RLIMIT_FSIZE)}
    lim = Limits(memory_bytes=2 * 2**30, cpu_seconds=77, processes=99, file_bytes=5 * 2**20, open_files=300)
    got = run_json(Sandbox(workdir, uid=UID, limits=lim), """
        import json, resource as r
        print(json.dumps([r.getrlimit(x) for x in (r.RLIMIT_AS, r.RLIMIT_CPU, r.RLIMIT_NPROC, r.RLIMIT_FSIZE,
                                                   r.RLIMIT_NOFILE)]))
    """)
    want = [lim.memory_bytes, 77, 99, lim.file_bytes, 300]
    assert got == [[v, v] for v in want]
    assert {r: resource.getrlimit(r) for r in before} == before, "the grader must not get the sandbox's limits"


def test_cannot_raise_limits(workdir):
    res = run_in(Sandbox(workdir, uid=UID), """
        import resource as r
        r.setrlimit(r.RLIMIT_AS, (r.RLIM_INFINITY, r.RLIM_INFINITY))
    """)
    assert res.returncode != 0 and ("ValueError" in res.stderr or "PermissionError" in res.stderr)


def test_memory_bomb_raises_memory_error(workdir):
    res = run_in(Sandbox(workdir, uid=UID), """
        import numpy as np
        try:
            np.ones(10**10)
        except MemoryError:
            print('MemoryError')
    """)
    assert res.stdout.strip() == "MemoryError", res.stderr


def test_file_size_is_bounded(workdir):
    res = run_in(Sandbox(workdir, uid=UID, limits=Limits(file_bytes=2**20)), """
        import errno
        with open('small.bin', 'wb') as fh:
            fh.write(b'x' * 2**19)
        try:
            with open('big.bin', 'wb') as fh:
                fh.write(b'x' * (2**20 + 1))
        except OSError as e:
            print(errno.errorcode[e.errno])
    """)
    assert res.stdout.strip() == "EFBIG", res.stderr
    assert (workdir / "small.bin").stat().st_size == 2**19
    assert (workdir / "big.bin").stat().st_size <= 2**20


def test_tmp_is_writable_but_bounded(workdir):
    res = run_in(Sandbox(workdir, uid=UID, limits=Limits(tmp_bytes=4 * 2**20)), """
        import errno, os
        with open('/tmp/a.bin', 'wb') as fh:
            fh.write(b'x' * 2**20)
        print('wrote', os.path.getsize('/tmp/a.bin'))
        try:
            with open('/tmp/b.bin', 'wb') as fh:
                for _ in range(8):
                    fh.write(b'x' * 2**20)
                    fh.flush()
        except OSError as e:
            print(errno.errorcode[e.errno])
    """)
    assert res.stdout.split() == ["wrote", str(2**20), "ENOSPC"], (res.stdout, res.stderr)


def test_fork_bomb_is_stopped_and_nothing_survives_the_sandbox(workdir):
    limit = 24
    sb = Sandbox(workdir, uid=FORK_UID, limits=Limits(processes=limit))
    sb.prepare()
    bomb = textwrap.dedent("""
        import os, sys, time
        top, stopped = os.getpid(), False
        # a double-forked daemon in its own session, reparented to the sandbox's init
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(1000)
            os._exit(0)
        while True:  # every process forks until the kernel refuses
            try:
                pid = os.fork()
            except OSError as e:
                if os.getpid() == top:
                    print('refused', type(e).__name__, flush=True)
                break
        time.sleep(1000)
    """)
    proc = sb.popen([sys.executable, "-c", bomb], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.split() == ["refused", "BlockingIOError"], line
        count = len(processes_of_uid(FORK_UID))
        assert 3 <= count <= limit, count
    finally:
        proc.kill()  # SIGKILL bwrap only: the pid namespace takes everything else with it
        proc.wait()
        proc.stdout.close()
    assert wait_no_process(FORK_UID) == [], "processes survived the sandbox"


# --------------------------------------------------------------------------- kernels


def _execute(kc: BlockingKernelClient, code: str, timeout: float = 30):
    """(reply content, stdout text) of one execution."""
    out = []

    def hook(msg):
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "execute_result":
            out.append(msg["content"]["data"]["text/plain"])

    reply = kc.execute_interactive(code, timeout=timeout, output_hook=hook)
    return reply["content"], "".join(out)


@pytest.mark.parametrize("mode", ["bwrap", "rlimits"])
def test_kernel_runs_in_the_sandbox_is_interruptible_and_leaves_nothing(workdir, mode):
    sb = Sandbox(workdir, mode=mode, uid=KERNEL_UID)
    km = SandboxKernelManager(sandbox=sb, kernel_name="python3")
    km.start_kernel()
    kc = km.client()
    try:
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        assert Path(km.connection_file).parent == workdir / ".kernel"
        assert km.transport == ("ipc" if mode == "bwrap" else "tcp")
        content, out = _execute(kc, "1+1")
        assert content["status"] == "ok" and out == "2"
        content, out = _execute(kc, "import os; print(os.getcwd(), os.getuid())")
        cwd, uid = out.split()
        assert cwd == str(workdir) and int(uid) == (KERNEL_UID if mode == "bwrap" else os.getuid())

        threading.Timer(1.0, km.interrupt_kernel).start()
        t0 = time.monotonic()
        content, _ = _execute(kc, "import time; time.sleep(100)")
        assert content["status"] == "error" and content["ename"] == "KeyboardInterrupt"
        assert time.monotonic() - t0 < 10
        content, out = _execute(kc, "print('still alive')")
        assert out.strip() == "still alive"
        if mode == "bwrap":
            # children and a daemonized grandchild; shutting down must take them too.
            # The kernel reaps the middle process, so the grandchild exists before the
            # cell returns (a /proc scan racing a fork can miss it once pids wrap).
            _execute(kc, textwrap.dedent("""
                import os, subprocess, time
                subprocess.Popen(['sleep', '1000'])
                middle = os.fork()
                if middle == 0:
                    os.setsid()
                    if os.fork() == 0:
                        time.sleep(1000)
                    os._exit(0)
                os.waitpid(middle, 0)
            """))
            assert len(processes_of_uid(KERNEL_UID)) >= 3
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    if mode == "bwrap":
        assert wait_no_process(KERNEL_UID) == []
    assert not km.is_alive()


def test_restart_and_graceful_shutdown(workdir):
    km = SandboxKernelManager(sandbox=Sandbox(workdir, uid=KERNEL_UID), kernel_name="python3")
    km.start_kernel()
    kc = km.client()
    try:
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        _execute(kc, "x = 41")
        km.restart_kernel(now=True)
        kc.wait_for_ready(timeout=60)
        content, _ = _execute(kc, "x")
        assert content["status"] == "error" and content["ename"] == "NameError"
        assert _execute(kc, "import os; os.getcwd()")[1] == repr(str(workdir))
    finally:
        kc.stop_channels()
        km.shutdown_kernel()  # polite: shutdown_request first
    assert wait_no_process(KERNEL_UID) == []
    assert not (workdir / ".kernel" / "kernel.json").exists()


def test_nbclient_runs_a_notebook_with_the_async_manager(workdir):
    sb = Sandbox(workdir, uid=NB_UID)
    nb = new_notebook(cells=[
        new_code_cell("import os, numpy as np\nprint(os.getuid(), np.arange(3).sum())"),
        new_code_cell("open('out.txt', 'w').write('hi')"),
    ])
    client = NotebookClient(nb, timeout=60, kernel_name="python3",
                            kernel_manager_class=AsyncSandboxKernelManager.for_sandbox(sb))
    client.execute()
    assert nb.cells[0].outputs[0]["text"].split() == [str(NB_UID), "3"]
    assert (workdir / "out.txt").read_text() == "hi"
    assert nbformat.validate(nb) is None
    assert wait_no_process(NB_UID) == []


def test_kernel_manager_needs_a_sandbox():
    with pytest.raises(RuntimeError, match="needs a sandbox"):
        SandboxKernelManager(kernel_name="python3").start_kernel()


def test_sandbox_outlives_the_thread_that_started_it(workdir):
    # bwrap --die-with-parent fires when the starting *thread* exits; the sandbox
    # module starts every sandbox from its own long-lived thread.
    sb = Sandbox(workdir, uid=UID)
    sb.prepare()
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("p", sb.popen(["sleep", "30"])))
    t.start()
    t.join()
    try:
        deadline = time.monotonic() + 10
        while not processes_of_uid(UID) and time.monotonic() < deadline:
            time.sleep(0.05)  # bwrap and setpriv still starting
        time.sleep(0.3)
        assert box["p"].poll() is None and len(processes_of_uid(UID)) == 1
    finally:
        box["p"].kill()
        box["p"].wait()
    assert wait_no_process(UID) == []


def test_kernel_start_does_not_follow_student_symlinks(course, workdir):
    decoy = course / "decoy"
    decoy.mkdir(exist_ok=True)
    (decoy / "keep.txt").write_text("keep")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / ".kernel").symlink_to(decoy)  # left by a previous kernel of this student
    sb = Sandbox(workdir, uid=KERNEL_UID)
    km = SandboxKernelManager(sandbox=sb, kernel_name="python3")
    km.start_kernel()
    kc = km.client()
    try:
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        # while it runs the student swaps the folder for a symlink again
        assert (workdir / ".kernel").is_dir() and not (workdir / ".kernel").is_symlink()
        content, _ = _execute(kc, "import os, shutil; shutil.rmtree('.kernel'); os.symlink('/etc', '.kernel')")
        assert content["status"] == "ok" and (workdir / ".kernel").is_symlink()
        km.restart_kernel(now=True)
        kc.wait_for_ready(timeout=60)
        assert _execute(kc, "print('ok')")[1].strip() == "ok"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert decoy.stat().st_uid == 0 and (decoy / "keep.txt").read_text() == "keep"
    assert Path("/etc").stat().st_uid == 0 and not (workdir / ".kernel").is_symlink()


def test_socket_paths_must_stay_short(course):
    sb = Sandbox(course / ("x" * 120), uid=KERNEL_UID)
    with pytest.raises(ValueError, match="too long for unix sockets"):
        SandboxKernelManager(sandbox=sb, kernel_name="python3").start_kernel()


@pytest.mark.parametrize("bad", ["/tmp", "/", "/usr/local/x", str(REPO)])
def test_workdir_must_not_expose_the_host(bad):
    with pytest.raises(ValueError, match="work dir"):
        Sandbox(bad, mode="bwrap", uid=UID)
