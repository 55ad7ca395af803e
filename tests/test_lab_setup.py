"""`python3 run.py lab`: the student's server gets one thread per maths library, the
student-only configuration of lab_config/, a work folder of its own and the front page."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _run_py():
    spec = importlib.util.spec_from_file_location("cnn_course_run_py", REPO / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lab_starts_jupyterlab_on_the_work_folder_with_one_thread_and_the_student_config(tmp_path, monkeypatch):
    run = _run_py()
    started = {}
    monkeypatch.setattr(run, "ensure_venv", lambda: Path(sys.executable))
    monkeypatch.setattr(run, "ensure_data", lambda: None)
    monkeypatch.setattr(run, "ensure_kernel_threads", lambda python: started.setdefault("spec", python))
    monkeypatch.setattr(run.subprocess, "call", lambda cmd, **kw: started.update(cmd=cmd, **kw) or 0)
    monkeypatch.setenv("CNN_COURSE_WORK", str(tmp_path / "work"))
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", "/somewhere/else")
    assert run.lab(["--port", "8890", "--no-browser"]) == 0
    env, cmd = started["env"], started["cmd"]
    assert {k: env[k] for k in THREADS} == THREADS
    assert env["JUPYTER_CONFIG_PATH"].split(os.pathsep) == [str(REPO / "lab_config"), "/somewhere/else"]
    assert started["cwd"] == tmp_path / "work" and f"--ServerApp.root_dir={tmp_path / 'work'}" in cmd
    assert "--LabApp.default_url=/lab/tree/00_start_here.ipynb" in cmd
    assert cmd[cmd.index("--port"):][:3] == ["--port", "8890", "--no-browser"]
    assert started["spec"] == Path(sys.executable)
    copied = sorted(str(p.relative_to(tmp_path / "work")) for p in (tmp_path / "work").rglob("*.ipynb"))
    assert copied == sorted(str(p.relative_to(REPO / "course")) for p in (REPO / "course").rglob("*.ipynb"))
    assert "00_start_here.ipynb" in copied


def test_lab_keeps_the_students_notebooks(tmp_path):
    run = _run_py()
    mine = tmp_path / "01_convolution" / "01_convolution.ipynb"
    mine.parent.mkdir()
    mine.write_text("my answers")
    (tmp_path / "00_start_here.ipynb").write_text("last year's front page")
    run.copy_course_to_work(tmp_path)
    assert mine.read_text() == "my answers"
    assert (tmp_path / "02_optimizers" / "02_optimizers.ipynb").is_file()
    # the front page holds no answers: it is always the course's current one
    assert (tmp_path / "00_start_here.ipynb").read_text() == (REPO / "course" / "00_start_here.ipynb").read_text()


def test_kernel_spec_gets_the_thread_variables_and_keeps_the_rest(tmp_path, monkeypatch):
    run = _run_py()
    monkeypatch.setattr(run, "VENV", tmp_path)
    spec = tmp_path / "share" / "jupyter" / "kernels" / "python3" / "kernel.json"
    spec.parent.mkdir(parents=True)
    ipykernels = {"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                  "display_name": "Python 3 (ipykernel)", "language": "python", "metadata": {"debugger": True}}
    spec.write_text(json.dumps(ipykernels))
    run.ensure_kernel_threads(Path(sys.executable))
    assert json.loads(spec.read_text()) == {**ipykernels, "env": THREADS}
    before = spec.stat().st_mtime_ns
    run.ensure_kernel_threads(Path(sys.executable))  # already there: not rewritten
    assert spec.stat().st_mtime_ns == before and not list(spec.parent.glob("kernel.json.*"))
    spec.write_text(json.dumps({**ipykernels, "env": {"MY_VAR": "x", "OMP_NUM_THREADS": "4"}}))
    run.ensure_kernel_threads(Path(sys.executable))  # other variables of the spec are kept
    assert json.loads(spec.read_text())["env"] == {"MY_VAR": "x", **THREADS}


def test_lab_config_keeps_only_the_students_nbgrader_tools():
    server = json.loads((REPO / "lab_config" / "jupyter_server_config.json").read_text())
    assert server["ServerApp"]["jpserver_extensions"] == {
        "nbgrader.server_extensions.formgrader": False, "nbgrader.server_extensions.course_list": False,
        "nbgrader.server_extensions.assignment_list": True, "nbgrader.server_extensions.validate_assignment": True}
    page = json.loads((REPO / "lab_config" / "labconfig" / "page_config.json").read_text())
    assert {k for k, off in page["disabledExtensions"].items() if off} == {
        "@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:course-list", "@jupyter/nbgrader:create-assignment",
        "@jupyterlab/apputils-extension:announcements"}


def test_environment_yml_sets_the_thread_variables():
    text = (REPO / "environment.yml").read_text()
    for name, value in THREADS.items():
        assert f'  {name}: "{value}"' in text.split("variables:")[1]
