"""The set-up files agree with each other: one pinned set of versions everywhere; run.py
brings the system programs the tests need; the README's command lines are real."""

import ast
import importlib.util
import re
import shlex
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        assert sep, f"requirements.lock line {line!r} is not pinned with '=='"
        pins[name.lower().replace("_", "-")] = version
    return pins


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_direct_dependencies_are_pinned_and_match_the_lock():
    project = _pyproject()["project"]
    lock = _lock()
    specs = project["dependencies"] + [s for extra in project["optional-dependencies"].values() for s in extra]
    for spec in specs:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)==([0-9][^;\s]*)", spec)
        assert m, f"pyproject dependency {spec!r} must be pinned exactly (name==version)"
        name, version = m.group(1).lower().replace("_", "-"), m.group(2)
        assert lock.get(name) == version, f"{name}: pyproject pins {version}, requirements.lock has {lock.get(name)}"


def test_torch_is_pinned_exactly_to_the_cpu_wheel_version():
    assert _lock()["torch"] == "2.13.0"
    assert "torch==2.13.0" in _pyproject()["project"]["dependencies"]


def test_environment_yml_installs_the_same_lock():
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"^\s*-\s*python=3\.11\s*$", text, re.M), "environment.yml must pin python=3.11"
    assert "-r requirements.lock" in text
    assert "-e .[test]" in text


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 run.py test" in readme
    assert "python3 run.py lab" in readme
    assert re.search(r"^python3 run\.py test$", ci, re.M), ".ci/run must run the README's test command"


def test_postgres_driver_is_pinned_with_the_course():
    # tests/test_gradebook_postgres.py and `cnn-course ... --db-url postgresql+psycopg2://...` need it.
    assert "psycopg2-binary==2.9.13" in _pyproject()["project"]["dependencies"]
    assert _lock()["psycopg2-binary"] == "2.9.13"


# --------------------------------------------------------------------------- run.py


def _run_py():
    spec = importlib.util.spec_from_file_location("cnn_course_run_py", ROOT / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_run_py_needs_only_the_standard_library():
    tree = ast.parse((ROOT / "run.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert imported - {"__future__"} <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)


def test_run_py_test_installs_bubblewrap_postgresql_and_chromium(monkeypatch, capsys):
    run = _run_py()
    assert set(run.SYSTEM_TOOLS) == {"bubblewrap", "postgresql", "chromium"}
    calls = {}
    monkeypatch.setattr(run, "ensure_venv", lambda: Path(sys.executable))
    monkeypatch.setattr(run, "ensure_data", lambda: None)
    monkeypatch.setattr(run, "ensure_system_tools", lambda pkgs: calls.setdefault("tools", list(pkgs)) and [])
    monkeypatch.setattr(run.subprocess, "call", lambda cmd, **kw: calls.setdefault("pytest", cmd) and 0)
    assert run.test(["-k", "x"]) == 0
    assert calls["tools"] == ["bubblewrap", "postgresql", "chromium"]
    assert calls["pytest"][1:3] == ["-m", "pytest"] and calls["pytest"][-2:] == ["-k", "x"]


def test_run_py_installs_missing_tools_with_apt_or_says_what_to_install(monkeypatch, capsys):
    run = _run_py()
    present = {"bubblewrap": False, "postgresql": True}
    for pkg in run.SYSTEM_TOOLS:
        monkeypatch.setitem(run.SYSTEM_TOOLS, pkg, (lambda p=pkg: present[p], run.SYSTEM_TOOLS[pkg][1]))
    installed = []

    def fake_apt(packages):  # as root on Debian: apt-get installs them
        installed.extend(packages)
        present.update({p: True for p in packages})
        return True

    monkeypatch.setattr(run, "apt_install", fake_apt)
    assert run.ensure_system_tools(["bubblewrap", "postgresql"]) == []
    assert installed == ["bubblewrap"]
    # Not root (apt_install gives up): nothing installed, the exact command printed.
    present["bubblewrap"] = present["postgresql"] = False
    monkeypatch.setattr(run, "apt_install", lambda packages: False)
    assert run.ensure_system_tools(["bubblewrap", "postgresql"]) == ["bubblewrap", "postgresql"]
    assert "sudo apt-get install bubblewrap postgresql" in capsys.readouterr().out


def test_run_py_finds_postgresql_server_programs(tmp_path, monkeypatch):
    run = _run_py()
    folder = tmp_path / "pgbin"
    folder.mkdir()
    for tool in ("initdb", "pg_ctl", "postgres"):
        (folder / tool).write_text("#!/bin/sh\n")
        (folder / tool).chmod(0o755)
    monkeypatch.setenv("CNN_COURSE_PG_BIN", str(folder))
    assert run.postgres_bin() == folder
    assert run._version_key("15") > run._version_key("9.6") and run._version_key("16") > run._version_key("15")


# --------------------------------------------------------------------------- README


def _readme_command_lines(program: str) -> list[str]:
    """``program ...`` lines of the README's code blocks and inline code spans."""
    text = (ROOT / "README.md").read_text()
    lines = []
    for block in re.findall(r"```(?:bash|sh)?\n(.*?)```", text, re.S):
        lines += [ln.split(" #")[0].strip() for ln in block.splitlines() if ln.strip().startswith(program + " ")]
    lines += [m for m in re.findall(r"`([^`\n]+)`", text) if m.startswith(program + " ")]
    return lines


def test_readme_run_py_commands_exist():
    run = _run_py()
    lines = _readme_command_lines("python3 run.py")
    assert {"python3 run.py lab", "python3 run.py test", "python3 run.py grade-setup"} <= set(lines)
    source = (ROOT / "run.py").read_text()
    for line in lines:
        command = shlex.split(line)[2]
        assert f'"{command}":' in source, f"README uses `{line}`, but run.py has no command {command!r}"
    assert run.main.__code__  # importable without running anything


def test_readme_cnn_course_command_lines_parse():
    """Every ``cnn-course ...`` line the README shows is accepted by the real parser."""
    from cnn_course.cli import build_parser

    lines = _readme_command_lines("cnn-course")
    used = {shlex.split(line)[1] for line in lines if len(shlex.split(line)) > 1}
    assert {"generate", "validate", "collect", "autograde", "export", "feedback"} <= used
    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    for line in lines:
        argv = shlex.split(line)[1:]
        if argv in (["--help"], ["COMMAND", "--help"]):
            continue
        if len(argv) == 1:  # a mention in the text, e.g. `cnn-course validate`
            assert argv[0] in sub.choices, f"README mentions `{line}`, but cnn-course has no command {argv[0]!r}"
            continue
        try:
            build_parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"README shows `{line}`, which cnn-course's argument parser rejects")
