"""The notebook's module scope and the scanner that reads one piece of student code.

:class:`_Module` records every module-level binding of the notebook's code cells in
execution order and resolves aliases (``F`` -> ``torch.nn.functional``) as they stand when
a given cell runs. :class:`_Scanner` walks one piece of code (a cell, or a function the
graded function reaches) and collects references: forbidden modules, tampering, dynamic
imports, calls that write files, and the global names it reads (for following helpers).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from .cells import _parse
from .rules import (
    CODE_MAGICS, DYNAMIC_DOTTED, DYNAMIC_NAMES, EXTENSION_MAGICS, FILE_MAGICS, GRADING_PACKAGE, MODULE_STORE_OK,
    SENSITIVE_MODULES, SYS_ATTRS, TAMPER_ATTRS, TAMPER_DOTTED, TAMPER_NAMES, TAMPER_STRINGS, WRITER_CALLS,
    WRITER_METHODS, WRITING_MAGICS, _check_api, _installed, _is_module, _matches,
)


@dataclass
class _Binding:
    kind: str  # "def" (function/class/lambda), "assign" (value expression), "import", "other"
    node: ast.AST | None  # def node, value expression, or None
    dotted: str | None  # import target
    cell: int
    student: bool
    conditional: bool


def _chain(node: ast.AST) -> tuple[str, list[str]] | None:
    """``a.b.c`` -> ("a", ["b", "c"]); None when the chain does not start at a name."""
    attrs = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return node.id, attrs[::-1]
    return None


def _const_str(node) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _function_scope(node) -> tuple[set[str], set[str]]:
    """(local names, names declared global) of a function or lambda, nested scopes included
    (a conservative union: a name local anywhere inside is treated as local)."""
    local, glob = set(), set()
    args = node.args
    for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
        if a is not None:
            local.add(a.arg)
    body = node.body if isinstance(node.body, list) else [node.body]
    for stmt in body:
        for n in ast.walk(stmt):
            if isinstance(n, ast.Global):
                glob.update(n.names)
            elif isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
                local.add(n.id)
            elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                local.add(n.name)
            elif isinstance(n, (ast.Import, ast.ImportFrom)):
                for a in n.names:
                    if a.name != "*":
                        local.add((a.asname or a.name).split(".")[0])
            elif isinstance(n, ast.arg):
                local.add(n.arg)
            elif isinstance(n, ast.ExceptHandler) and n.name:
                local.add(n.name)
    return local - glob, glob


class _Module:
    """The notebook's module-level bindings, all code cells in execution order."""

    def __init__(self):
        self.bindings: dict[str, list[_Binding]] = {}
        self.star_forbidden: list[tuple[int, str]] = []  # (cell, module) of `from <forbidden> import *`
        # The moment names are looked up: the index of the cell being run (a test cell runs
        # after the cells above it only), or None with ``union``: every binding ever.
        self.horizon: int | None = None
        self.union = False

    def bind(self, name: str, b: _Binding) -> None:
        self.bindings.setdefault(name, []).append(b)

    def bound(self, name: str) -> bool:
        return any(self.horizon is None or b.cell < self.horizon for b in self.bindings.get(name, []))

    def live(self, name: str) -> list[_Binding]:
        """Bindings that may hold when cell ``horizon`` runs: from the last unconditional one
        before it on (all of them with ``union``)."""
        bs = [b for b in self.bindings.get(name, []) if self.horizon is None or b.cell < self.horizon]
        if self.union:
            return bs
        for k in range(len(bs) - 1, -1, -1):
            if not bs[k].conditional:
                return bs[k:]
        return bs

    def stars_before(self) -> list[tuple[int, str]]:
        return [(c, m) for c, m in self.star_forbidden if self.horizon is None or c < self.horizon]

    def add_cell(self, tree: ast.Module, cell: int, student: bool, forbidden) -> None:
        for stmt in tree.body:
            self._statement(stmt, cell, student, False, forbidden)

    def _statement(self, stmt, cell, student, conditional, forbidden) -> None:
        def bind(name, kind, node=None, dotted=None):
            self.bind(name, _Binding(kind, node, dotted, cell, student, conditional))

        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bind(stmt.name, "def", stmt)
            self._globals_in(stmt, cell, student)
        elif isinstance(stmt, ast.Import):
            for a in stmt.names:
                if a.asname:
                    bind(a.asname, "import", dotted=a.name)
                else:
                    top = a.name.split(".")[0]
                    bind(top, "import", dotted=top)
        elif isinstance(stmt, ast.ImportFrom):
            if stmt.level or not stmt.module:
                return
            for a in stmt.names:
                if a.name == "*":
                    if student and _matches(stmt.module, forbidden):
                        self.star_forbidden.append((cell, stmt.module))
                    continue
                bind(a.asname or a.name, "import", dotted=f"{stmt.module}.{a.name}")
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            value = stmt.value
            for t in targets:
                self._target(t, value, bind, aug=isinstance(stmt, ast.AugAssign))
            if value is not None:
                self._walrus(value, bind)
        elif isinstance(stmt, (ast.For, ast.AsyncFor)):
            self._target(stmt.target, None, bind)
            for s in [*stmt.body, *stmt.orelse]:
                self._statement(s, cell, student, True, forbidden)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                if item.optional_vars is not None:
                    self._target(item.optional_vars, None, bind)
            for s in stmt.body:
                self._statement(s, cell, student, True, forbidden)
        elif isinstance(stmt, (ast.If, ast.While)):
            for s in [*stmt.body, *stmt.orelse]:
                self._statement(s, cell, student, True, forbidden)
        elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            for s in [*stmt.body, *stmt.orelse, *stmt.finalbody]:
                self._statement(s, cell, student, True, forbidden)
            for h in stmt.handlers:
                if h.name:
                    bind(h.name, "other")
                for s in h.body:
                    self._statement(s, cell, student, True, forbidden)
        elif isinstance(stmt, ast.Match):
            for case in stmt.cases:
                for s in case.body:
                    self._statement(s, cell, student, True, forbidden)
        elif isinstance(stmt, ast.Delete):
            for t in stmt.targets:
                if isinstance(t, ast.Name):
                    bind(t.id, "other")
        elif isinstance(stmt, ast.Expr):
            self._walrus(stmt.value, bind)

    def _target(self, target, value, bind, aug=False) -> None:
        if isinstance(target, ast.Name):
            if aug or value is None:
                bind(target.id, "other" if value is None else "assign", value)
            elif isinstance(value, ast.Lambda):
                bind(target.id, "def", value)
            else:
                bind(target.id, "assign", value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            values = value.elts if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(
                target.elts) else [value] * len(target.elts)
            for t, v in zip(target.elts, values):
                self._target(t, v, bind, aug)
        elif isinstance(target, ast.Starred):
            self._target(target.value, value, bind, aug)

    def _walrus(self, expr, bind) -> None:
        for n in ast.walk(expr):
            if isinstance(n, ast.NamedExpr) and isinstance(n.target, ast.Name):
                bind(n.target.id, "assign", n.value)

    def _globals_in(self, fdef, cell, student) -> None:
        """Imports and assignments inside a function to names it declares ``global``."""
        glob = {n for s in ast.walk(fdef) if isinstance(s, ast.Global) for n in s.names}
        if not glob:
            return
        for n in ast.walk(fdef):
            if isinstance(n, ast.Import):
                for a in n.names:
                    name = a.asname or a.name.split(".")[0]
                    if name in glob:
                        self.bind(name, _Binding("import", None, a.name if a.asname else name, cell, student, True))
            elif isinstance(n, ast.ImportFrom) and n.module and not n.level:
                for a in n.names:
                    if (a.asname or a.name) in glob:
                        self.bind(a.asname or a.name,
                                  _Binding("import", None, f"{n.module}.{a.name}", cell, student, True))
            elif isinstance(n, ast.Assign):
                for t in n.targets:
                    if isinstance(t, ast.Name) and t.id in glob:
                        self.bind(t.id, _Binding("assign", n.value, None, cell, student, True))

    # ---- alias resolution

    def resolve(self, name: str, depth: int = 0) -> set[str]:
        """Dotted module paths a global name may stand for (``F`` -> torch.nn.functional)."""
        if depth > 8:
            return set()
        out = set()
        for b in self.live(name):
            if b.kind == "import" and b.dotted:
                out.add(b.dotted)
            elif b.kind == "assign" and b.node is not None:
                out |= self.resolve_expr(b.node, {}, set(), depth + 1)
        return out

    def resolve_expr(self, node, local_aliases: dict, local: set, depth: int = 0) -> set[str]:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
                and len(node.args) >= 2 and _const_str(node.args[1]) is not None:
            return {f"{d}.{_const_str(node.args[1])}" for d in self.resolve_expr(node.args[0], local_aliases, local,
                                                                                  depth)}
        c = _chain(node)
        if c is None:
            return set()
        root, attrs = c
        if root in local_aliases:
            bases = set(local_aliases[root])
        elif root in local:
            return set()
        else:
            bases = self.resolve(root, depth)
        return {".".join([b, *attrs]) for b in bases}


# --------------------------------------------------------------------------- scanning code


@dataclass
class _Ref:
    kind: str  # "forbidden", "tamper", "dynamic", "global"
    what: str
    why: str
    line: int
    top_def: str | None


class _Scanner(ast.NodeVisitor):
    """Collects references in one piece of code: forbidden modules, tampering, and the
    global names it reads (for following helpers)."""

    def __init__(self, module: _Module, forbidden, top_def: str | None = None):
        self.m, self.forbidden = module, tuple(forbidden)
        self.refs: list[_Ref] = []
        self.scopes: list[tuple[set[str], dict[str, set[str]]]] = []  # (locals, local aliases)
        self.top_def = top_def

    # ---- helpers

    def _local(self, name: str) -> bool:
        return any(name in loc for loc, _ in self.scopes)

    def _local_aliases(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for _, al in self.scopes:
            out.update(al)
        return out

    def _all_locals(self) -> set[str]:
        out = set()
        for loc, _ in self.scopes:
            out |= loc
        return out

    def _add(self, kind, what, why, node) -> None:
        self.refs.append(_Ref(kind, what, why, getattr(node, "lineno", 0), self.top_def))

    def _classify(self, dotted: str, node) -> None:
        if _matches(dotted, self.forbidden):
            self._add("forbidden", dotted, "", node)
        hit = _matches(dotted, TAMPER_DOTTED)
        if hit and not (hit == GRADING_PACKAGE and dotted in _check_api()):
            self._add("tamper", dotted, TAMPER_DOTTED[hit], node)
        hit = _matches(dotted, DYNAMIC_DOTTED)
        if hit:
            self._add("dynamic", dotted, DYNAMIC_DOTTED[hit], node)

    def _resolve(self, node) -> set[str]:
        return self.m.resolve_expr(node, self._local_aliases(), self._all_locals())

    def _import_check(self, dotted: str, node) -> None:
        self._classify(dotted, node)
        top = dotted.split(".")[0]
        if not _installed(top):
            self._add("unknown", top, "a module that is not installed in the course environment: one the notebook "
                                      "wrote itself, whose code the grader cannot check", node)

    # ---- imports

    def visit_Import(self, node):
        for a in node.names:
            self._import_check(a.name, node)
            if self.scopes:
                name = a.asname or a.name.split(".")[0]
                self.scopes[-1][1][name] = {a.name if a.asname else a.name.split(".")[0]}

    def visit_ImportFrom(self, node):
        if node.level or not node.module:
            return
        for a in node.names:  # the most precise name first: cnn_course.ref.conv.conv2d_forward
            if a.name == "*":
                continue
            dotted = f"{node.module}.{a.name}"
            self._classify(dotted, node)
            if self.scopes:
                self.scopes[-1][1][a.asname or a.name] = {dotted}
        self._import_check(node.module, node)

    # ---- names and attributes

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load) or isinstance(node.ctx, ast.Del):
            name = node.id
            if name in self._local_aliases():
                for d in self._local_aliases()[name]:
                    self._classify(d, node)
                return
            if self._local(name):
                return
            if name in TAMPER_NAMES:
                self._add("tamper", name, TAMPER_NAMES[name], node)
            elif name in DYNAMIC_NAMES:
                self._add("dynamic", name, DYNAMIC_NAMES[name], node)
            for d in self.m.resolve(name):
                self._classify(d, node)
            self._add("global", name, "", node)

    def visit_Attribute(self, node):
        if node.attr == "register" and isinstance(node.value, ast.Attribute) and node.value.attr == "events":
            self._add("tamper", ".events.register", "IPython's internals", node)
        c = _chain(node)
        if c is None:
            if node.attr in TAMPER_ATTRS:
                self._add("tamper", f".{node.attr}", TAMPER_ATTRS[node.attr], node)
            self.generic_visit(node)
            return
        attrs = c[1]
        for a in attrs:
            if a in TAMPER_ATTRS:
                self._add("tamper", f".{a}", TAMPER_ATTRS[a], node)
        for k, a in enumerate(attrs[:-1]):  # sys reached through another module: os.sys.setprofile
            if a == "sys" and attrs[k + 1] in SYS_ATTRS:
                self._classify("sys." + ".".join(attrs[k + 1:]), node)
        dotted = self._resolve(node)
        for d in dotted:
            self._classify(d, node)
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            for d in self._resolve(node.value):
                if not _matches(".".join([d, node.attr]), MODULE_STORE_OK) and _is_module(d):
                    self._add("tamper", f"{d}.{node.attr}", "replacing part of a library (monkeypatching)",
                              node)
        # the root name: a global helper or alias read
        root = node
        while isinstance(root, ast.Attribute):
            root = root.value
        if not dotted:
            self.visit(root)
        elif not self._local(root.id):
            self._add("global", root.id, "", root)

    def visit_Constant(self, node):
        if isinstance(node.value, str):
            for s, why in TAMPER_STRINGS.items():
                if s in node.value:
                    self._add("tamper", repr(s), why, node)

    # ---- calls: getattr & co, IPython magics

    def _writes(self, node) -> None:
        """Note code that writes files or runs other programs (which could write a module
        the notebook then imports)."""
        f = node.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
        if name == "open":
            mode = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"),
                                                                 None)
            text = _const_str(mode) if mode is not None else "r"
            if text is None or set(text) & set("wax+"):
                self._add("writes", "open", "", node)
        elif name in WRITER_METHODS or any(_matches(d, WRITER_CALLS) for d in self._resolve(f)):
            self._add("writes", name, "", node)
        elif name in ("run_cell_magic", "run_line_magic") and node.args \
                and (_const_str(node.args[0]) or "").lstrip("%") in WRITING_MAGICS:
            self._add("writes", _const_str(node.args[0]), "", node)

    def visit_Call(self, node):
        self._writes(node)
        f = node.func
        if isinstance(f, ast.Name) and f.id in ("vars", "locals") and not node.args and not self.scopes \
                and not self._local(f.id):
            self._add("tamper", f"{f.id}()", "rewrites the notebook's namespace behind the grader's back", node)
        if isinstance(f, ast.Name) and not self._local(f.id) and f.id in ("getattr", "setattr", "delattr", "hasattr",
                                                                         "vars") and node.args:
            self._attr_call(f.id, node)
        elif isinstance(f, ast.Attribute) and f.attr in ("run_line_magic", "run_cell_magic", "magic"):
            self._magic(f.attr, node)
        self.generic_visit(node)

    def _attr_call(self, fn: str, node) -> None:
        bases = self._resolve(node.args[0])
        if fn == "vars":
            for d in bases:
                if _is_module(d):
                    self._add("tamper", f"vars({d})", "a module's namespace", node)
            return
        if len(node.args) < 2:
            return
        name = _const_str(node.args[1])
        if name is None:
            for d in bases:
                if _matches(d, SENSITIVE_MODULES):
                    self._add("tamper", f"{fn}({d}, <computed name>)", "a module the grader relies on", node)
            return
        if name in TAMPER_ATTRS:
            self._add("tamper", f".{name}", TAMPER_ATTRS[name], node)
        for d in bases:
            self._classify(f"{d}.{name}", node)
            if fn in ("setattr", "delattr") and _is_module(d) \
                    and not _matches(f"{d}.{name}", MODULE_STORE_OK):
                self._add("tamper", f"{fn}({d}, {name!r})", "replacing part of a library (monkeypatching)", node)

    def _magic(self, fn: str, node) -> None:
        args = [_const_str(a) for a in node.args]
        if not args or args[0] is None:
            return
        name = args[0].lstrip("%")
        if fn == "magic":  # get_ipython().magic("time x = 1")
            name, _, rest = name.partition(" ")
            args = [name, rest]
        if name in CODE_MAGICS:
            code = args[-1] if fn == "run_cell_magic" and len(args) >= 3 else (args[1] if len(args) > 1 else None)
            if code:
                tree = _parse(code)
                if tree is not None:
                    self.scopes.append((set(), {}))  # its imports stay its own
                    try:
                        for stmt in tree.body:
                            self.visit(stmt)
                    finally:
                        self.scopes.pop()
        elif name in FILE_MAGICS:
            self._add("tamper", f"%{name}", "code from a file, which the grader cannot check", node)
        elif name in EXTENSION_MAGICS and len(args) > 1 and args[1]:
            for mod in args[1].split():
                self._import_check(mod, node)

    # ---- scopes

    def _visit_function(self, node):
        for d in getattr(node, "decorator_list", []):
            self.visit(d)
        args = node.args
        for dflt in [*args.defaults, *[d for d in args.kw_defaults if d is not None]]:
            self.visit(dflt)
        local, _ = _function_scope(node)
        self.scopes.append((local, {}))
        outer = self.top_def
        if self.top_def is None and not isinstance(node, ast.Lambda) and len(self.scopes) == 1:
            self.top_def = node.name
        try:
            body = node.body if isinstance(node.body, list) else [node.body]
            for stmt in body:
                self.visit(stmt)
        finally:
            self.scopes.pop()
            self.top_def = outer

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _visit_function

    def visit_ClassDef(self, node):
        for d in [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]:
            self.visit(d)
        local = {n.id for s in node.body for n in ast.walk(s) if isinstance(n, ast.Name)
                 and isinstance(n.ctx, ast.Store)}
        self.scopes.append((local, {}))
        outer = self.top_def
        if self.top_def is None and len(self.scopes) == 1:
            self.top_def = node.name
        try:
            for stmt in node.body:
                self.visit(stmt)
        finally:
            self.scopes.pop()
            self.top_def = outer
