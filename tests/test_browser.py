"""The student's JupyterLab in a real browser.

Starts ``python3 run.py lab`` (from a throw-away work folder, on a free port) and drives
Debian's Chromium headless through Playwright (``executable_path``: Playwright downloads no
browser). In notebook 01 it runs the set-up cell and the convolution explorer, moves the
explorer's stride slider with the keyboard, and checks that the widget rendered and
updated: the size formula's text follows the slider and the picture is not blank. It checks
that the student sees nbgrader's assignment list and Validate button and none of the
instructor's tools, and that Validate runs the notebook's checks with the course's feedback.

Screenshots go to the test's temporary folder; the path is printed (``pytest -s``) and
kept by pytest for the last three runs (``/tmp/pytest-of-$USER/pytest-N/browser*/``).

Skipped only where Chromium is missing and ``CI`` is not set; under CI a missing Chromium
fails (``python3 run.py test`` installs Debian's ``chromium`` as root).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from _lab_server import REPO, LabServer

# The flags this closed network needs: without the background-networking ones Chromium's
# own connections (updates, sync, field trials) are refused and slow everything down.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
NOTEBOOK = "01_convolution/01_convolution.ipynb"
# nbgrader's instructor tools and JupyterLab's news pop-up, which lab_config/ turns off.
INSTRUCTOR_PLUGINS = ["@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:course-list",
                      "@jupyter/nbgrader:create-assignment", "@jupyterlab/apputils-extension:announcements"]
INSTRUCTOR_LABELS = ["Formgrader", "Course List", "Create Assignment", "Courses"]
TIMEOUT_MS = 180_000  # a kernel start or a cell on two busy cores


def _run_py():
    spec = importlib.util.spec_from_file_location("cnn_course_run_py", REPO / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def chromium() -> Path:
    path = _run_py().chromium_path()
    if path is None:
        why = ("Chromium is not installed: `python3 run.py test` installs Debian's chromium when run as root "
               "(or `sudo apt-get install chromium`, or set CNN_COURSE_CHROMIUM to a Chromium binary)")
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    return path


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("browser")
    print(f"\nbrowser test screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lab")
    server = LabServer(tmp / "work", tmp / "server.log").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def page(chromium, lab, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),  # a fresh --user-data-dir
            executable_path=str(chromium), headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(TIMEOUT_MS)
        page = context.pages[0] if context.pages else context.new_page()
        try:
            yield page
        finally:
            context.close()


def _open(page, lab, notebook: str) -> None:
    """Make ``notebook`` the active tab, opening it (from the URL) when it is not open yet;
    wait until its kernel is idle."""
    name = notebook.rsplit("/", 1)[-1]
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text=name)
    if tab.count():
        tab.first.click()
    else:
        page.goto(lab.lab_url(notebook))
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator[data-status='idle']")


def _code_cell_index(cell_id: str) -> int:
    """Position, among all cells of notebook 01, of the cell with this id or grade_id."""
    cells = json.loads((REPO / "course" / NOTEBOOK).read_text())["cells"]
    for i, cell in enumerate(cells):
        if cell_id in (cell.get("id"), cell["metadata"].get("nbgrader", {}).get("grade_id")):
            return i
    raise AssertionError(f"notebook 01 has no cell {cell_id!r}")


def _run_cell(page, index: int):
    """Select the cell at ``index`` and run it with Shift+Enter, as a student does; wait until
    its prompt shows an execution count. Returns the cell's locator."""
    cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").nth(index)
    cell.scroll_into_view_if_needed()
    prompt = cell.locator(".jp-InputPrompt").first
    for _ in range(3):  # a key press can be lost while JupyterLab is still settling
        prompt.click()
        page.keyboard.press("Shift+Enter")
        try:
            page.wait_for_function("el => /\\[(\\*|\\d+)\\]/.test(el.textContent)", arg=prompt.element_handle(),
                                   timeout=10_000)
            break
        except Exception:  # noqa: BLE001 - playwright's TimeoutError; try the key again
            continue
    page.wait_for_function("el => /\\[\\d+\\]/.test(el.textContent)", arg=prompt.element_handle())
    stderr = cell.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    raised = [t for t in stderr.all_inner_texts() if "Error" in t]
    assert not raised, f"cell {index} raised:\n" + "\n".join(raised)
    return cell


def _formula(text: str) -> list[tuple[int, int, int, int, int]]:
    """(n, p, f, s, result) of each 'n_H = ⌊(n + 2·p − f)/s⌋ + 1 = result' line."""
    pattern = r"n_[HW] = ⌊\((\d+) \+ 2·(\d+) − (\d+)\)/(\d+)⌋ \+ 1 = (\d+)"
    return [tuple(map(int, m)) for m in re.findall(pattern, text)]


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L"), dtype=np.float64)


def test_lab_opens_the_front_page_first(page, lab, shots):
    page.goto(f"{lab.base}/?token={lab.token}")  # what `run.py lab` opens in the student's browser
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    panel.get_by_role("heading", name="The thirteen topics").wait_for()
    assert page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current", has_text="00_start_here.ipynb").count()
    page.wait_for_timeout(1000)
    page.screenshot(path=str(shots / "0-front-page.png"))
    assert panel.get_by_role("link", name="Convolution", exact=True).count()


def test_student_lab_shows_assignment_list_and_validate_but_no_instructor_tools(page, lab, shots):
    _open(page, lab, NOTEBOOK)
    config = json.loads(page.locator("#jupyter-config-data").text_content())
    assert set(INSTRUCTOR_PLUGINS) <= set(config["disabledExtensions"])
    toolbar = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-NotebookPanel-toolbar")
    assert toolbar.get_by_text("Validate", exact=True).is_visible(), "no Validate button in the notebook toolbar"

    page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text="Nbgrader").click()
    items = [t for t in page.locator(".lm-Menu .lm-Menu-item:not(.lm-mod-hidden) .lm-Menu-itemLabel")
             .all_inner_texts() if t.strip()]
    page.screenshot(path=str(shots / "1-nbgrader-menu.png"))
    assert items == ["Assignment List"], f"the Nbgrader menu offers {items}"
    page.locator(".lm-Menu .lm-Menu-itemLabel", has_text="Assignment List").click()
    assignments = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="Assignments")
    assignments.click()
    page.get_by_text("Released assignments").first.wait_for()
    page.wait_for_timeout(1000)  # the list asks the server for the exchange's courses
    page.screenshot(path=str(shots / "2-assignment-list.png"))
    body = page.locator("body").inner_text()
    assert "exchange directory does not exist" not in body and "Traceback" not in body
    for label in INSTRUCTOR_LABELS:  # no instructor menu item, panel or side-bar tab anywhere
        assert not page.get_by_text(label, exact=True).count(), f"the student's JupyterLab shows {label!r}"
        assert not page.locator(f"[title='{label}'], [aria-label='{label}']").count(), label
    assert "Jupyter news" not in body, "JupyterLab's news pop-up is shown"
    assert lab.api("GET", "/api/status")  # the server is up, and its instructor endpoints are gone:
    with pytest.raises(Exception, match="404"):
        lab.api("GET", "/formgrader")
    assignments.locator(".lm-TabBar-tabCloseIcon").click()
    assert "No nbgrader_config.py file found" not in lab.log()


def test_convolution_explorer_renders_and_updates(page, lab, shots):
    _open(page, lab, NOTEBOOK)
    _run_cell(page, _code_cell_index("setup"))
    cell = _run_cell(page, _code_cell_index("explorer"))
    widget = cell.locator(".jp-OutputArea-output .widget-vbox").first
    widget.wait_for()
    info = widget.locator(".widget-html-content").first
    page.wait_for_function("el => /= \\d+/.test(el.textContent)", arg=info.element_handle())
    widget.locator("img").first.wait_for()
    widget.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    before = _formula(info.inner_text())
    widget.screenshot(path=str(shots / "3-explorer-before.png"))
    assert len(before) == 2 and all(s == 1 for _, _, _, s, _ in before), info.inner_text()
    assert all(out == (n + 2 * p - f) // s + 1 for n, p, f, s, out in before)

    # Move the stride slider one step to the right, as a student does with the keyboard.
    stride = widget.locator(".widget-slider", has_text="stride").locator(".noUi-handle").first
    stride.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("el => /\\)\\/2⌋/.test(el.textContent)", arg=info.element_handle())
    page.wait_for_timeout(1500)  # the kernel redraws the picture after the text
    after = _formula(info.inner_text())
    widget.screenshot(path=str(shots / "4-explorer-stride-2.png"))
    page.screenshot(path=str(shots / "5-notebook-explorer.png"))
    assert [(n, p, f) for n, p, f, _, _ in after] == [(n, p, f) for n, p, f, _, _ in before]
    assert all(s == 2 and out == (n + 2 * p - f) // 2 + 1 for n, p, f, s, out in after), info.inner_text()

    pic_before, pic_after = _pixels(shots / "3-explorer-before.png"), _pixels(shots / "4-explorer-stride-2.png")
    assert pic_before.std() > 20 and pic_after.std() > 20, "the explorer's screenshot is blank"
    h, w = min(pic_before.shape[0], pic_after.shape[0]), min(pic_before.shape[1], pic_after.shape[1])
    changed = np.abs(pic_before[:h, :w] - pic_after[:h, :w]) > 30
    assert changed.mean() > 0.005, "the explorer's picture did not change with the stride"


def test_validate_button_runs_the_checks(page, lab, shots):
    _open(page, lab, NOTEBOOK)
    toolbar = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-NotebookPanel-toolbar")
    toolbar.get_by_text("Validate", exact=True).click()
    dialog = page.locator(".jp-Dialog")
    dialog.get_by_text("Validation Results").wait_for(timeout=600_000)  # the whole notebook runs
    page.wait_for_timeout(500)
    page.screenshot(path=str(shots / "6-validate.png"))
    text = dialog.inner_text()
    # The released notebook has no answers yet: every check fails with the course's feedback.
    assert "zero_pad failed visible case 1" in text and "Hint:" in text, text[:2000]
    dialog.get_by_role("button", name="Ok").click()
