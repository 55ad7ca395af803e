"""Hidden tests draw new cases for every submission.

A graded function can record the arguments it is called with, and a later cell can print
them into the feedback. With the public check code and a fixed hidden seed, a student could
then replay the hidden cases offline before resubmitting. So the grader never runs a test
cell's ``seed=<int>`` as written: each one becomes

    seed' = sha256(secret | student | submission digest | grade_id | seed) mod 2**31

where ``secret`` is the course's (:func:`course_secret`: ``$CNN_COURSE_HIDDEN_SECRET``,
else a random one kept in the instructor's configuration folder), and the submission digest
hashes every cell's source. Regrading the same notebook draws the same cases (grades are
reproducible); another student, or the same student's next submission, draws new ones, so
recorded cases are worthless. Only the numbers change: a check's cases are drawn the same
way from whatever seed it gets, and the cell's text, line numbers and messages stay as the
instructor wrote them. Visible tests have no seed and are unchanged.
"""

from __future__ import annotations

import ast
import hashlib
import os
import secrets
from pathlib import Path

SECRET_ENV = "CNN_COURSE_HIDDEN_SECRET"
SECRET_FILE = "hidden-seed-secret"


def course_secret() -> str:
    """``$CNN_COURSE_HIDDEN_SECRET``, else the secret in ``$XDG_CONFIG_HOME/cnn-course/``
    (``~/.config/cnn-course/hidden-seed-secret``), made on first use, readable by its owner
    only. Graders on several machines must share it (set the variable, or copy the file)."""
    if os.environ.get(SECRET_ENV):
        return os.environ[SECRET_ENV]
    folder = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "cnn-course"
    path = folder / SECRET_FILE
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another grader made it first
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(value + "\n")
    return value


def submission_key(secret: str, student: str, nb) -> bytes:
    """What every hidden seed of one submission is derived from."""
    h = hashlib.sha256()
    for part in (secret, student):
        h.update(part.encode("utf-8", "surrogatepass") + b"\0")
    for cell in nb.cells:
        h.update(str(cell.get("source", "")).encode("utf-8", "surrogatepass") + b"\0")
    return h.digest()


def derive(key: bytes, grade_id: str, seed: int) -> int:
    """The seed a test cell's ``seed=<seed>`` runs with, in [0, 2**31)."""
    digest = hashlib.sha256(key + f"\0{grade_id}\0{seed}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 2**31


def reseed_source(source: str, key: bytes, grade_id: str) -> str:
    """``source`` with every integer literal passed as ``seed=`` replaced by its derived
    seed, the rest of the text untouched (same lines, same columns elsewhere)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source  # the judge reports it
    spots = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                v = kw.value
                if kw.arg == "seed" and isinstance(v, ast.Constant) and type(v.value) is int:
                    spots.append((v.lineno, v.col_offset, v.end_lineno, v.end_col_offset, v.value))
    if not spots:
        return source
    lines = source.splitlines(keepends=True)
    for line, col, end_line, end_col, value in sorted(spots, reverse=True):
        if line != end_line:
            continue
        text = lines[line - 1].encode("utf-8")  # ast columns are UTF-8 byte offsets
        new = str(derive(key, grade_id, value)).encode()
        lines[line - 1] = (text[:col] + new + text[end_col:]).decode("utf-8")
    return "".join(lines)
