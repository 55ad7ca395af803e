"""The course on disk as nbgrader sees it: its configuration and its notebooks' format.

Light on purpose (nbformat and nbgrader are imported where they are used): the
``cnn-course`` command imports this module to start.

* :func:`load_config`: the course's ``nbgrader_config.py`` as a traitlets ``Config``,
  with overrides (a throw-away root and gradebook, say).
* The hidden-test markers of an instructor's test cell (:func:`hidden_test_lines`,
  :func:`without_hidden_tests`: the cell as nbgrader releases it).
* :func:`canonical_notebook`: a notebook as stable text (deterministic cell ids), so two
  generations of ``course/`` are byte-identical; :func:`grade_cell_ids`: the autograded
  test cells of a notebook.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from traitlets.config import Config, PyFileConfigLoader

if TYPE_CHECKING:
    from nbformat.notebooknode import NotebookNode

CONFIG_FILE = "nbgrader_config.py"
BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"
END_HIDDEN = "END HIDDEN TESTS"


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


def without_hidden_tests(source: str) -> str:
    """The cell as nbgrader releases it (ClearHiddenTests): hidden-test regions removed."""
    out, inside = [], False
    for line in source.split("\n"):
        if BEGIN_HIDDEN in line:
            inside = True
        elif END_HIDDEN in line:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def canonical_notebook(nb: NotebookNode, id_prefix: str = "cell") -> str:
    """The notebook as stable text: nbformat's own layout, deterministic cell ids.

    A cell that lacks an id (nbformat makes random ones) gets one derived from its
    nbgrader grade_id or its position, so two generations are byte-identical.
    """
    import nbformat

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
    from nbgrader import utils as nbgrader_utils

    return [
        c.metadata.nbgrader["grade_id"]
        for c in nb.cells
        if nbgrader_utils.is_grade(c) and not nbgrader_utils.is_solution(c)
    ]
