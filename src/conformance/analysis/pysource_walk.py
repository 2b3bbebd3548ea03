"""Walk one module's AST: every import with the context it runs in (lazy, guarded, type
checking), the names the module binds at top level, and its sys.path edits.

pysource.parse_source decodes and parses the file, then hands the tree here. Stdlib-only, like
pysource.py: a child interpreter of another Python version loads this file beside it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}


@dataclass(frozen=True)
class ImportStmt:
    """One import statement (one per imported module for `import a, b`)."""

    line: int
    text: str
    module: str  # as written, without dots ("" for `from . import x`)
    level: int  # number of leading dots
    names: tuple[str, ...] = ()  # for `from m import a, b`; empty for `import m`
    is_from: bool = False
    lazy: bool = False  # inside a function or method: runs only when called
    guarded: bool = False  # inside try/except ImportError: has a runtime fallback
    type_checking: bool = False


def statement_text(lines: list[str], node: ast.stmt) -> str:
    start, end = node.lineno - 1, (node.end_lineno or node.lineno)
    text = " ".join(line.strip() for line in lines[start:end])
    text = " ".join(text.replace("( ", "(").replace(" )", ")").split())
    return text if len(text) <= 160 else text[:157] + "..."


class ImportVisitor(ast.NodeVisitor):
    """Collects every import anywhere in the file, with the context it runs in."""

    def __init__(self, lines: list[str], track_sys_path: bool = True):
        self.lines = lines
        self.track = track_sys_path  # False: expressions are not walked (they hold no import statement)
        self.imports: list[ImportStmt] = []
        self.sys_path_edits: list[tuple[int, str]] = []
        self.function_depth = 0
        self.guard_depth = 0
        self.type_checking_depth = 0
        self.scopes: list[tuple[bool, dict[str, str]]] = []  # (is a class body, aliases in force)

    def _context(self) -> dict[str, bool]:
        return dict(lazy=self.function_depth > 0, guarded=self.guard_depth > 0,
                    type_checking=self.type_checking_depth > 0)

    def visit_Import(self, node: ast.Import) -> None:
        text = statement_text(self.lines, node)
        for alias in node.names:
            self.imports.append(ImportStmt(node.lineno, text, alias.name, 0, **self._context()))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.imports.append(ImportStmt(
            node.lineno, statement_text(self.lines, node), node.module or "", node.level,
            tuple(a.name for a in node.names), is_from=True, **self._context()))

    def _aliases(self, node: ast.AST, outer: dict[str, str]) -> dict[str, str]:
        return _scope_aliases(node, outer) if self.track else outer

    def _visit_function(self, node: ast.AST) -> None:
        self.function_depth += 1
        self.scopes.append((False, self._aliases(node, self._enclosing())))
        self.generic_visit(node)
        self.scopes.pop()
        self.function_depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _visit_function

    def visit_Try(self, node: ast.Try) -> None:
        guarded = any(_catches_import_error(h) for h in node.handlers)
        self.guard_depth += guarded
        for stmt in node.body:
            self.visit(stmt)
        self.guard_depth -= guarded
        for part in (*node.handlers, *node.orelse, *node.finalbody):
            self.visit(part)

    visit_TryStar = visit_Try

    def visit_If(self, node: ast.If) -> None:
        checking = _is_type_checking(node.test)
        self.visit(node.test)
        self.type_checking_depth += checking
        for stmt in node.body:
            self.visit(stmt)
        self.type_checking_depth -= checking
        for stmt in node.orelse:
            self.visit(stmt)

    # sys.path edits: `sys`, `site`, `sys.path` and `site.addsitedir` under any name this scope gives them.

    def visit_Module(self, node: ast.Module) -> None:
        self.scopes.append((False, self._aliases(node, dict(_BUILTIN_ALIASES))))
        self.generic_visit(node)
        self.scopes.pop()

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.scopes.append((True, self._aliases(node, self._enclosing())))
        self.generic_visit(node)
        self.scopes.pop()

    def _enclosing(self) -> dict[str, str]:
        """Aliases a nested scope inherits: class bodies are not enclosing scopes in Python."""
        for is_class, aliases in reversed(self.scopes):
            if not is_class:
                return aliases
        return dict(_BUILTIN_ALIASES)

    def _kind(self, node: ast.AST) -> str | None:
        return _alias_kind(node, self.scopes[-1][1] if self.scopes else _BUILTIN_ALIASES)

    def _edits_in_place(self, target: ast.AST) -> bool:
        """`sys.path = ...` replaces sys.path; `path = ...` after `from sys import path` only rebinds a name."""
        if isinstance(target, ast.Subscript):
            return self._kind(target.value) == "path"
        return isinstance(target, ast.Attribute) and self._kind(target) == "path"

    def _edit(self, node: ast.expr | ast.stmt) -> None:
        self.sys_path_edits.append((node.lineno, statement_text(self.lines, node)))  # type: ignore[arg-type]

    def visit_Call(self, node: ast.Call) -> None:
        if not self.track:
            return
        func = node.func
        if (isinstance(func, ast.Attribute) and func.attr in _LIST_EDITS and self._kind(func.value) == "path") \
                or self._kind(func) == "addsitedir":
            self._edit(node)
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        if not self.track:
            return
        if any(self._edits_in_place(t) for t in node.targets):
            self._edit(node)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if not self.track:
            return
        # `path += [...]` extends the list in place, so it edits sys.path through a bare-name alias too
        if self._kind(node.target) == "path" or self._edits_in_place(node.target):
            self._edit(node)
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        if not self.track:
            return
        if any(isinstance(t, ast.Subscript) and self._kind(t.value) == "path" for t in node.targets):
            self._edit(node)
        self.generic_visit(node)


_LIST_EDITS = {"insert", "append", "extend", "remove", "pop", "clear"}
_BUILTIN_ALIASES = {"sys": "sys", "site": "site"}  # what the bare names mean unless a scope rebinds them
_MEMBERS = {("sys", "path"): "path", ("site", "addsitedir"): "addsitedir"}
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def _alias_kind(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """What an expression means among sys / sys.path / site / site.addsitedir, given a scope's aliases."""
    if isinstance(node, ast.Name):
        return aliases.get(node.id)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return _MEMBERS.get((aliases.get(node.value.id, ""), node.attr))
    return None


def _scope_nodes(scope: ast.AST) -> list[ast.AST]:
    """Every node that runs in `scope` itself: nested functions and classes are bindings, not bodies."""
    found: list[ast.AST] = []
    pending = list(ast.iter_child_nodes(scope))
    while pending:
        node = pending.pop()
        found.append(node)
        if not isinstance(node, _SCOPES):
            pending.extend(ast.iter_child_nodes(node))
    return found


def _scope_aliases(scope: ast.AST, outer: dict[str, str]) -> dict[str, str]:
    """Names meaning sys, sys.path, site or site.addsitedir in `scope`: its own imports and
    `p = sys.path` assignments, plus the enclosing scope's aliases it does not rebind (a local
    `path = []` is not sys.path). Flow-insensitive on purpose: an alias anywhere in the scope
    counts, so an edit cannot hide behind statement order."""
    nodes = _scope_nodes(scope)
    own: dict[str, str] = {}
    plain: set[str] = set()
    shared: set[str] = set()
    if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        args = scope.args
        plain.update(a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg) if a)
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.asname or alias.name.split(".")[0]
                if alias.name in _BUILTIN_ALIASES:
                    own[name] = _BUILTIN_ALIASES[alias.name]
                else:
                    plain.add(name)
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                member = _MEMBERS.get((node.module or "", alias.name)) if node.level == 0 else None
                if member:
                    own[alias.asname or alias.name] = member
                elif alias.name == "*" and node.level == 0:
                    own.update({name: kind for (module, name), kind in _MEMBERS.items() if module == node.module})
                else:
                    plain.add(alias.asname or alias.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            plain.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            plain.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            plain.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            shared.update(node.names)
    plain -= shared
    inherited = {name: kind for name, kind in outer.items() if name not in plain}
    assigns = [n for n in nodes if isinstance(n, ast.Assign)]
    for _ in range(3):  # `p = sys.path; q = p`, in any order
        before = dict(own)
        current = {**inherited, **own}
        for node in assigns:
            kind = _alias_kind(node.value, current)
            own.update({t.id: kind for t in node.targets if kind and isinstance(t, ast.Name)})
        if own == before:
            break
    return {**inherited, **own}


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    for item in types:
        name = item.attr if isinstance(item, ast.Attribute) else getattr(item, "id", "")
        if name in IMPORT_ERRORS:
            return True
    return False


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def module_bindings(body: list[ast.stmt], walrus: bool = True) -> tuple[set[str], set[str], bool]:
    """Names bound at module level (through if/try/with/for blocks, not into defs); `walrus`
    False skips the search for `:=` bindings inside expressions (the source has none)."""
    bound: set[str] = set()
    defined: set[str] = set()
    dynamic = False
    pending = list(body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
            defined.add(node.name)
            dynamic |= node.name == "__getattr__" and not isinstance(node, ast.ClassDef)
        elif isinstance(node, ast.Import):
            bound.update((a.asname or a.name.split(".")[0]) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    dynamic = True
                else:
                    bound.add(alias.asname or alias.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names = _target_names(target)
                bound.update(names)
                defined.update(names)
        else:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    pending.append(child)
                elif isinstance(child, (ast.ExceptHandler, ast.match_case)):
                    pending.extend(child.body)
                    if isinstance(child, ast.ExceptHandler) and child.name:
                        bound.add(child.name)
            if isinstance(node, (ast.For, ast.AsyncFor)):
                bound.update(_target_names(node.target))
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    if item.optional_vars is not None:
                        bound.update(_target_names(item.optional_vars))
        for sub in ast.walk(node) if walrus and isinstance(node, (ast.Assign, ast.Expr, ast.If)) else ():
            if isinstance(sub, ast.NamedExpr) and isinstance(sub.target, ast.Name):
                bound.add(sub.target.id)
    return bound, defined, dynamic


def _target_names(target: ast.AST) -> set[str]:
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, (ast.Tuple, ast.List)):
        return {name for element in target.elts for name in _target_names(element)}
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    return set()

