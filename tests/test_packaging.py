"""The set-up files agree with each other: one pinned set of versions everywhere."""

import re
from pathlib import Path

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
    specs = project["dependencies"] + project["optional-dependencies"]["test"]
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
