"""``cnn-course``: the instructor's whole loop, nbgrader underneath.

Subcommands, in the order of a term (``cnn-course SUBCOMMAND --help`` for details):

    generate [ASSIGNMENT ...]       solutions/ -> course/ through nbgrader (deterministic)
    validate PATH ...               run a notebook's tests; exit 1 when one fails
    collect ASSIGNMENT SOURCE       check and file a folder/.zip of <student_id>.ipynb
    autograde ASSIGNMENT            grade the collected submissions in parallel (resumable)
    export ASSIGNMENT               grades as CSV, one row per student
    feedback ASSIGNMENT             feedback HTML + summary.txt per student, no hidden tests
    check-sync                      fail when course/ differs from a fresh generation
    execute [ASSIGNMENT ...]        re-execute the solution notebooks in place

Every subcommand takes ``--root`` (the course root) and ``--db-url`` (the gradebook;
default ``$CNN_COURSE_DB_URL``, else nbgrader_config.py's ``CourseDirectory.db_url``).

Each subcommand is a ``Command``: a name, a function that adds its arguments and a
function that runs it and returns the exit status. The work itself is in plain
functions (``generate_release``, ``validate_notebook``, ``execute_notebook``,
``compare_trees`` here; ``collect``, ``autograde``, ``export_csv``, ``feedback`` in
``cnn_course.instructor``) that the tests call directly.

Exit status: 0 success, 1 a check failed (a test, a sync difference, a notebook that
raised, a submission that could not be collected or graded), 2 bad usage (unknown
assignment or student, unreadable notebook, no course root).
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from cnn_course.front_page import front_page_problems, release_front_page

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
CONFIG_FILE = "nbgrader_config.py"
DB_URL_ENV = "CNN_COURSE_DB_URL"
ASSIGNMENT_RE = re.compile(r"^\d\d_[a-z0-9_]+$")  # topic folders: 01_convolution


class UsageError(Exception):
    """Bad input from the user: reported without a traceback, exit status 2."""


class CheckFailed(Exception):
    """A check did not pass: reported without a traceback, exit status 1."""


# --------------------------------------------------------------------------- the work


def find_root(start: str | os.PathLike | None = None) -> Path:
    """The course root: the nearest folder at or above ``start`` (default: the current
    directory, then this package's checkout) holding both ``nbgrader_config.py`` and
    ``solutions/``."""
    candidates = [Path(start or os.getcwd()).resolve()]
    if start is None:
        candidates.append(Path(__file__).resolve().parent.parent)
    for base in candidates:
        for folder in (base, *base.parents):
            if (folder / CONFIG_FILE).is_file() and (folder / "solutions").is_dir():
                return folder
    raise FileNotFoundError(
        f"no course root found: expected a folder containing {CONFIG_FILE} and solutions/ "
        f"at or above {candidates[0]} (pass --root)"
    )


def list_assignments(solutions: str | os.PathLike) -> list[str]:
    """Assignment folders ``NN_topic`` under ``solutions`` that hold a notebook."""
    solutions = Path(solutions)
    if not solutions.is_dir():
        return []
    return sorted(
        p.name for p in solutions.iterdir() if p.is_dir() and ASSIGNMENT_RE.match(p.name) and any(p.glob("*.ipynb"))
    )


def _assignments(root: Path, requested: Sequence[str] | None) -> list[str]:
    known = list_assignments(root / "solutions")
    if not requested:
        if not known:
            raise UsageError(f"no assignments (NN_topic folders with a notebook) in {root / 'solutions'}")
        return known
    unknown = [a for a in requested if a not in known]
    if unknown:
        raise UsageError(
            f"unknown assignment(s) {', '.join(map(repr, unknown))}: expected one of "
            f"{', '.join(known) or '(none)'} (folders under {root / 'solutions'})"
        )
    return list(dict.fromkeys(requested))


def generate_release(
    root: Path,
    assignments: Sequence[str],
    dest: Path,
    *,
    config_dir: Path | None = None,
    quiet: bool = True,
    db_url: str | None = None,
) -> None:
    """Generate the student version of ``assignments`` from ``root/solutions`` into
    ``dest/<assignment>/`` (replacing what is there) with nbgrader's GenerateAssignment,
    configured by ``config_dir/nbgrader_config.py`` (default: ``root``'s).

    nbgrader runs on a throw-away copy, so the repository is not touched; every notebook
    is then rewritten in canonical form so that two runs give byte-identical files. The
    gradebook is a throw-away one too, unless ``db_url`` names the instructor's: then the
    assignment, its cells and hidden tests are recorded there, ready for autograding.
    """
    import nbformat
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    from cnn_course.nbgrader_ext import canonical_notebook, load_config

    root, dest = Path(root), Path(dest)
    with tempfile.TemporaryDirectory(prefix="cnn-course-generate-") as tmp:
        tmp = Path(tmp)
        for a in assignments:
            shutil.copytree(
                root / "solutions" / a,
                tmp / "solutions" / a,
                ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc", ".pytest_cache"),
            )
        config = load_config(
            config_dir or root,
            **{
                "CourseDirectory.root": str(tmp),
                "CourseDirectory.source_directory": "solutions",
                "CourseDirectory.release_directory": "release",
                "CourseDirectory.db_url": db_url or f"sqlite:///{tmp / 'gradebook.db'}",
            },
        )
        api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
        for a in assignments:
            result = api.generate_assignment(a, force=True, create=True)
            if not result["success"]:
                raise CheckFailed(
                    f"nbgrader could not generate {a}:\n{result.get('log', '')}\n{result.get('error', '')}"
                )
            out = tmp / "release" / a
            for path in sorted(out.rglob("*.ipynb")):
                nb = nbformat.read(path, as_version=4)
                path.write_text(canonical_notebook(nb), encoding="utf-8")
            target = dest / a
            if target.exists():
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(out, target)
            for path in target.rglob("*"):
                if path.is_file():
                    path.chmod(0o644)
            if not quiet:
                print(f"generated {target}")


def compare_trees(expected: Path, actual: Path, max_diff_lines: int = 40) -> list[str]:
    """Human-readable differences between two folders (empty list: identical)."""
    def files(base: Path) -> set[str]:
        return {str(p.relative_to(base)) for p in base.rglob("*") if p.is_file()} if base.exists() else set()

    problems: list[str] = []
    want, have = files(expected), files(actual)
    for rel in sorted(want - have):
        problems.append(f"missing: {actual / rel}")
    for rel in sorted(have - want):
        problems.append(f"not generated by solutions/ (stale): {actual / rel}")
    for rel in sorted(want & have):
        a, b = (expected / rel).read_bytes(), (actual / rel).read_bytes()
        if a == b:
            continue
        try:
            diff = list(
                difflib.unified_diff(
                    b.decode().splitlines(), a.decode().splitlines(), f"committed/{rel}", f"generated/{rel}", lineterm=""
                )
            )
        except UnicodeDecodeError:
            diff = ["(binary files differ)"]
        more = f"\n    ... {len(diff) - max_diff_lines} more diff lines" if len(diff) > max_diff_lines else ""
        problems.append(f"differs: {actual / rel}\n    " + "\n    ".join(diff[:max_diff_lines]) + more)
    return problems


def check_sync(root: Path) -> list[str]:
    """Differences between ``root/course`` and a fresh generation of every assignment.

    Only assignment folders (``NN_topic``) and the front page are compared; other files
    in course/ (a README, say) are left alone.
    """
    root = Path(root)
    assignments = _assignments(root, None)
    committed = root / "course"
    with tempfile.TemporaryDirectory(prefix="cnn-course-sync-") as tmp:
        fresh = Path(tmp) / "course"
        generate_release(root, assignments, fresh)
        problems = []
        for a in assignments:
            problems += compare_trees(fresh / a, committed / a)
    problems += front_page_problems(root)  # course/00_start_here.ipynb, not an assignment
    if committed.is_dir():
        for extra in sorted(committed.iterdir()):
            if extra.is_dir() and ASSIGNMENT_RE.match(extra.name) and extra.name not in assignments:
                problems.append(f"stale assignment folder (no solutions/{extra.name}): {extra}")
    return problems


def _read_notebook(path: Path):
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except FileNotFoundError:
        raise UsageError(f"no such notebook: {path}") from None
    except Exception as e:  # JSON errors, schema errors: all mean "not a notebook"
        raise UsageError(f"cannot read {path} as a Jupyter notebook: {type(e).__name__}: {e}") from None
    return nb


@dataclass
class ValidationResult:
    path: Path
    failed: list[dict]  # {"source", "error"} per failing cell
    changed: list[dict]  # locked cells whose content no longer matches the checksum
    type_changed: list[dict]

    @property
    def ok(self) -> bool:
        return not (self.failed or self.changed or self.type_changed)


def validate_notebook(path: Path, root: Path | None = None, timeout: int | None = None) -> ValidationResult:
    """Run ``path`` through nbgrader's Validator (all tests, hidden ones included when
    the notebook has them) with the course's execution settings."""
    from nbgrader.preprocessors import CheckCellMetadata, ClearOutput
    from nbgrader.validator import Validator

    from cnn_course.nbgrader_ext import ResilientExecute, load_config

    path = Path(path).resolve()
    _read_notebook(path)
    overrides = {"Execute.timeout": timeout} if timeout else {}
    config = load_config(root or find_root(), **overrides)
    validator = Validator(config=config)
    validator.preprocessors = [CheckCellMetadata, ClearOutput, ResilientExecute]
    cwd = os.getcwd()
    try:
        results = validator.validate(str(path))
    finally:
        os.chdir(cwd)  # nbgrader's chdir is undone on success only
    return ValidationResult(
        path,
        [{"source": r["source"], "error": r["raw_error"]} for r in results.get("failed", [])],
        results.get("changed", []),
        results.get("type_changed", []),
    )


def execute_notebook(path: Path, timeout: int = 600) -> None:
    """Execute ``path`` in place with the kernel named in its metadata (as nbval does),
    with the notebook's folder as working directory; raise CheckFailed if a cell
    raises (cells tagged ``raises-exception`` may)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    path = Path(path).resolve()
    nb = _read_notebook(path)
    client = NotebookClient(
        nb,
        timeout=timeout,
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,  # timestamps in metadata would churn every commit
    )
    # The environment of `python3 run.py test`, under which nbval compares these outputs.
    env = {"PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        client.execute()
    except CellExecutionError as e:
        raise CheckFailed(f"{path}: a cell raised:\n{e}") from None
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    nbformat.write(nb, path)


# --------------------------------------------------------------------------- commands


def _run_generate(args) -> int:
    root = args.root
    assignments = _assignments(root, args.assignments)
    db_url = None
    if args.gradebook:
        from cnn_course.instructor import _shown_url, gradebook_url, prepare_sqlite, resolve_db_url

        db_url = gradebook_url(resolve_db_url(root, args.db_url))
        prepare_sqlite(db_url)
    generate_release(root, assignments, root / "course", quiet=False, db_url=db_url)
    front = release_front_page(root, root / "course")  # the front page: not an nbgrader assignment
    if front:
        print(f"generated {front}")
    if db_url:
        print(f"recorded {', '.join(assignments)} in the gradebook {_shown_url(db_url)}")
    if not args.assignments:  # a full regeneration also drops topics gone from solutions/
        for old in sorted((root / "course").iterdir()):
            if old.is_dir() and ASSIGNMENT_RE.match(old.name) and old.name not in assignments:
                shutil.rmtree(old)
                print(f"removed {old} (no solutions/{old.name})")
    return EXIT_OK


def _run_check_sync(args) -> int:
    problems = check_sync(args.root)
    if problems:
        print(f"course/ is out of sync with solutions/ ({len(problems)} problem(s)):", file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
        print("run `cnn-course generate` and commit course/", file=sys.stderr)
        return EXIT_FAILED
    print("course/ is in sync with solutions/")
    return EXIT_OK


def _notebook_paths(paths: Sequence[str]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(q for q in p.glob("*.ipynb") if ".ipynb_checkpoints" not in q.parts)
            if not found:
                raise UsageError(f"no notebooks in folder {p}")
            out.extend(found)
        elif p.suffix != ".ipynb":
            raise UsageError(f"not a notebook (expected a .ipynb file or a folder): {p}")
        else:
            out.append(p)
    return out


def _run_validate(args) -> int:
    status = EXIT_OK
    for path in _notebook_paths(args.paths):
        result = validate_notebook(path, root=args.root, timeout=args.timeout)
        if result.ok:
            print(f"PASS {path}")
            continue
        status = EXIT_FAILED
        print(f"FAIL {path}")
        for kind, cells in (("type changed", result.type_changed), ("changed (checksum)", result.changed)):
            for cell in cells:
                print(f"  cell {kind}:\n" + _indent(cell["source"], 6))
        for cell in result.failed:
            print("  failed cell:\n" + _indent(cell["source"], 6) + "\n    error:\n" + _indent(cell["error"], 6))
    return status


def _run_execute(args) -> int:
    root = args.root
    for a in _assignments(root, args.assignments):
        for path in sorted((root / "solutions" / a).glob("*.ipynb")):
            print(f"executing {path}", flush=True)
            execute_notebook(path, timeout=args.timeout)
    return EXIT_OK


def _run_collect(args) -> int:
    from cnn_course import instructor

    result = instructor.collect(args.root, args.assignment, args.source, db_url=args.db_url, roster=args.roster)
    for c in result.collected:
        note = f"; missing cell(s) {', '.join(c.missing_cells)}: nbgrader puts deleted test cells back" if c.missing_cells else ""
        print(f"collected {c.student} ({c.state}{note})")
    for name, reason in result.problems:
        print(f"skipped {name}: {reason}", file=sys.stderr)
    print(
        f"{len(result.collected)} submission(s) of {result.assignment} in {args.root / 'submitted'}"
        + (f"; {len(result.problems)} file(s) skipped" if result.problems else "")
    )
    return EXIT_OK if result.ok else EXIT_FAILED


def _run_autograde(args) -> int:
    from cnn_course import instructor

    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be at least 1")
    try:
        result = instructor.autograde(
            args.root, args.assignment, db_url=args.db_url, workers=args.workers, students=args.student,
            force=args.force, cell_timeout=args.timeout, hard_limit=args.hard_limit,
        )
    except instructor.Interrupted as e:
        r = e.result
        again = ["cnn-course", "autograde", args.assignment]
        if args.student:
            again += ["--student", *args.student]
        again += ["--root", str(args.root)] + (["--db-url", args.db_url] if args.db_url else [])
        print(
            f"interrupted: the workers and their kernels are stopped; {len(r.graded)} submission(s) graded in this "
            f"run are kept. To resume (grading only what has no completion record), run:\n  {shlex.join(again)}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    n_done = len(result.outcomes)
    print(
        f"{result.assignment}: graded {len(result.graded)}, skipped {len(result.skipped)} (already graded), "
        f"failed {len(result.failed)}"
        + (f" (needs manual grading: {', '.join(o.student for o in result.failed)})" if result.failed else "")
    )
    if n_done:
        print(
            f"throughput: {result.per_minute:.1f} submissions/minute "
            f"({n_done} in {result.elapsed:.1f} s with {result.workers} worker(s))"
        )
    for o in result.failed:
        print(f"  {o.student}: {o.reason}", file=sys.stderr)
    return EXIT_FAILED if result.failed else EXIT_OK


def _run_export(args) -> int:
    from cnn_course import instructor

    path = args.csv or Path(f"grades-{args.assignment}.csv")
    rows = instructor.export_csv(args.root, args.assignment, path, db_url=args.db_url)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    detail = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    print(f"wrote {len(rows)} student(s) to {path}" + (f" ({detail})" if detail else ""))
    return EXIT_OK


def _run_feedback(args) -> int:
    from cnn_course import instructor

    result = instructor.feedback(args.root, args.assignment, db_url=args.db_url, students=args.student)
    for s in result.written:
        print(f"feedback {args.root / 'feedback' / s / args.assignment}")
    for s, reason in result.problems:
        print(f"no feedback for {s}: {reason}", file=sys.stderr)
    if not result.written and not result.problems:
        print(f"no graded submissions of {args.assignment}: nothing to do")
    return EXIT_FAILED if result.problems else EXIT_OK


def _indent(text: str, n: int) -> str:
    from nbconvert.filters import strip_ansi

    return "\n".join(" " * n + line for line in strip_ansi(text).splitlines())


@dataclass
class Command:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _assignment_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="topic folder(s) under solutions/, e.g. 01_convolution (default: all)")


def _configure_generate(p: argparse.ArgumentParser) -> None:
    _assignment_args(p)
    p.add_argument(
        "--gradebook",
        action="store_true",
        help="also record the assignment (with its hidden tests) in the gradebook of nbgrader_config.py, "
        "which `nbgrader autograde` needs",
    )


def _configure_validate(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="notebook(s), or folder(s) whose notebooks to validate")
    p.add_argument("--timeout", type=int, default=None, help="seconds per cell (default: Execute.timeout of nbgrader_config.py)")


def _configure_execute(p: argparse.ArgumentParser) -> None:
    _assignment_args(p)
    p.add_argument("--timeout", type=int, default=600, help="seconds per cell (default: 600)")


def _one_assignment(p: argparse.ArgumentParser) -> None:
    p.add_argument("assignment", metavar="ASSIGNMENT", help="topic folder under solutions/, e.g. 01_convolution")


def _configure_collect(p: argparse.ArgumentParser) -> None:
    _one_assignment(p)
    p.add_argument(
        "source", metavar="SOURCE", type=Path,
        help="folder or .zip of notebooks named <student_id>.ipynb (a zip may hold one top folder; "
        "__MACOSX/ and dotfiles are ignored)",
    )
    p.add_argument(
        "--roster", type=Path, default=None,
        help="CSV with an `id` column (optional first_name, last_name, email), or one id per line: "
        "a notebook of anyone else is an error",
    )


def _configure_autograde(p: argparse.ArgumentParser) -> None:
    _one_assignment(p)
    p.add_argument("--workers", type=int, default=None, metavar="N", help="grading processes (default: the cores available here)")
    p.add_argument("--student", action="extend", nargs="+", default=None, metavar="ID", help="grade only these students (repeatable)")
    p.add_argument("--force", action="store_true", help="regrade submissions that are already graded")
    p.add_argument(
        "--timeout", type=int, default=None, metavar="SECONDS",
        help="time limit per notebook cell (default: Execute.timeout of nbgrader_config.py)",
    )
    p.add_argument(
        "--hard-limit", type=float, default=None, metavar="SECONDS",
        help="wall-clock limit per submission, after which its worker is killed and the student flagged "
        "for manual grading (default: the executor's notebook_timeout + 300, else 2 x code cells x cell timeout + 300)",
    )


def _configure_export(p: argparse.ArgumentParser) -> None:
    _one_assignment(p)
    p.add_argument("--csv", type=Path, default=None, metavar="FILE", help="output file (default: grades-ASSIGNMENT.csv)")


def _configure_feedback(p: argparse.ArgumentParser) -> None:
    _one_assignment(p)
    p.add_argument("--student", action="extend", nargs="+", default=None, metavar="ID", help="only these students (default: every graded one)")


COMMANDS: list[Command] = [  # the instructor's loop, in order; then maintenance
    Command("generate", "1. regenerate course/ (student notebooks) from solutions/", _configure_generate, _run_generate),
    Command("validate", "2. run a notebook's tests; exit 1 when one fails", _configure_validate, _run_validate),
    Command("collect", "3. check a folder/.zip of <student_id>.ipynb and file them as submissions", _configure_collect, _run_collect),
    Command("autograde", "4. grade the collected submissions in parallel (resumes where it stopped)", _configure_autograde, _run_autograde),
    Command("export", "5. write the grades as CSV (one row per student)", _configure_export, _run_export),
    Command("feedback", "6. feedback per student (HTML + summary.txt, hidden tests never shown)", _configure_feedback, _run_feedback),
    Command("check-sync", "exit 1 when course/ differs from a fresh generation", lambda p: None, _run_check_sync),
    Command("execute", "re-execute the solution notebooks in place (fresh outputs)", _configure_execute, _run_execute),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnn-course",
        description="The cnn-course instructor command (nbgrader underneath). A term: generate -> validate -> "
        "collect -> autograde -> export -> feedback.",
        epilog="Every subcommand also takes --root and --db-url; `cnn-course COMMAND --help` for its options. "
        "Exit status: 0 ok, 1 something failed, 2 usage error.",
    )
    root_help = "course root holding nbgrader_config.py and solutions/ (default: found from the current folder)"
    db_help = (
        f"gradebook database URL, e.g. sqlite:////abs/gradebook.db or postgresql://user@host/db "
        f"(default: ${DB_URL_ENV}, else CourseDirectory.db_url of nbgrader_config.py)"
    )
    parser.add_argument("--root", type=Path, default=None, help=root_help)
    parser.add_argument("--db-url", default=None, metavar="URL", help=db_help)
    # --root/--db-url are accepted after the subcommand too; SUPPRESS keeps the subparser
    # from overwriting a value given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", type=Path, default=argparse.SUPPRESS, help=root_help)
    common.add_argument("--db-url", default=argparse.SUPPRESS, metavar="URL", help=db_help)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for cmd in COMMANDS:
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help, parents=[common])
        cmd.configure(p)
        p.set_defaults(_command=cmd)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.root is not None:
            args.root = args.root.resolve()
            if not (args.root / CONFIG_FILE).is_file() or not (args.root / "solutions").is_dir():
                raise UsageError(f"--root {args.root} must contain {CONFIG_FILE} and solutions/")
        else:
            try:
                args.root = find_root()
            except FileNotFoundError as e:
                raise UsageError(str(e)) from None
        return args._command.run(args)
    except UsageError as e:
        print(f"cnn-course {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except CheckFailed as e:
        print(f"cnn-course {args.command}: {e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"cnn-course {args.command}: interrupted", file=sys.stderr)
        return EXIT_FAILED
    except Exception as e:  # one sentence, no traceback (set CNN_COURSE_DEBUG=1 for it)
        if os.environ.get("CNN_COURSE_DEBUG"):
            raise
        first = (str(e).strip().splitlines() or [""])[0]
        print(f"cnn-course {args.command}: error: {type(e).__name__}: {first} (CNN_COURSE_DEBUG=1 shows the traceback)", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
