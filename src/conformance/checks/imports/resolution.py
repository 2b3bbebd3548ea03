"""test_imports_resolve: every backend import resolves, lazy ones too, and a broken one says
where the module or name lives now, with a replacement import that itself resolves.

Imports anywhere (functions, TYPE_CHECKING, try blocks) are resolved against the files on
disk, so a lazy import left behind by a move fails here even though no import-time check would
execute it. What an unknown top-level name is (planned, former, elsewhere in the repository,
third party) comes from conformance.analysis.importnames.
"""

from __future__ import annotations

import posixpath
import re
from collections import defaultdict

from conformance.analysis.importnames import Origin, Whereabouts
from conformance.analysis.pysource import ImportStmt, ParsedSource
from conformance.checks.imports.groups import group_of
from conformance.checks.imports.scan import ImportScan, file_of, module_name
from conformance.model.findings import Finding
from conformance.model.rules import RuleId, rule
from conformance.repo.index import shell_quote, shown_path


def absolute_target(scan_: ImportScan, rel: str, stmt: ImportStmt) -> tuple[str | None, str | None]:
    """The absolute module an import names, or (None, reason) when a relative import cannot resolve."""
    if stmt.level == 0:
        return stmt.module, None
    own = module_name(rel)
    if own is None:
        return None, "is a relative import in a file that is not inside an importable package"
    parts = own.split(".")
    package = parts if rel.endswith("__init__.py") else parts[:-1]
    if stmt.level - 1 > len(package) - 1 or not package:
        return None, f"goes {stmt.level} levels up from {own}, beyond the top-level package"
    base = package[: len(package) - (stmt.level - 1)]
    target = ".".join(base + ([stmt.module] if stmt.module else []))
    return target, None


def check_resolution(scan_: ImportScan) -> dict[str, list[Finding]]:
    """Findings of unresolved backend imports, grouped by the file's top-level directory."""
    grouped: dict[str, list[Finding]] = defaultdict(list)
    for rel, source in sorted(scan_.sources.items()):
        if source.error:
            continue
        for stmt in source.imports:
            problem = resolution_problem(scan_, rel, stmt)
            if problem is None:
                continue
            reason, fix = problem
            grouped[group_of(scan_.spec, rel)].append(_import_finding(scan_, rel, stmt, reason, fix))
    return grouped


def _import_finding(scan_: ImportScan, rel: str, stmt: ImportStmt, reason: str, fix: str) -> Finding:
    where = " (lazy: inside a function, so no import-time check runs it)" if stmt.lazy else ""
    if stmt.type_checking:
        where = " (under TYPE_CHECKING)"
    severity = "warning" if stmt.guarded else "error"
    if stmt.guarded:
        reason += "; it sits in try/except ImportError, so the code silently takes the fallback"
    return rule(RuleId.IMPORTS_RESOLVE).finding(
        scan_.repo_path(rel), f"`{stmt.text}`{where}: {reason}", fix, line=stmt.line,
        severity=severity, phase=scan_.spec.phase_of(RuleId.IMPORTS_RESOLVE))  # type: ignore[arg-type]


def resolution_problem(scan_: ImportScan, rel: str, stmt: ImportStmt) -> tuple[str, str] | None:
    target, reason = absolute_target(scan_, rel, stmt)
    if target is None:
        return reason or "cannot be resolved", "use an absolute import from the backend root"
    if not target:
        return None
    top = target.split(".")[0]
    if stmt.level == 0 and top not in scan_.backend_names:
        if top in scan_.spec.imports.forbidden_prefixes:
            return None  # `backend.x`: test_no_backend_prefix owns it
        origin = scan_.name_origins().origin(top)
        if not origin.is_backend:
            return None  # stdlib or third party: the declared-dependency check owns it
        return _missing_module(scan_, stmt, target, top, origin)
    missing_module = _first_missing_module(scan_, target)
    if missing_module is not None:
        return _missing_module(scan_, stmt, target, missing_module, Origin.BACKEND)
    missing = _missing_names(scan_, target, stmt)
    if not missing:
        return None
    where = file_of(scan_, target)
    noun = "name" if len(missing) == 1 else "names"
    return (f"{noun} {', '.join(missing)} not defined in {where}",
            _moved_name_hint(scan_, target, missing, stmt))


def _first_missing_module(scan_: ImportScan, target: str) -> str | None:
    """The shortest prefix of a dotted name that is no module, package or namespace dir."""
    parts = target.split(".")
    for depth in range(1, len(parts) + 1):
        prefix = ".".join(parts[:depth])
        if scan_.table.kind(prefix) is None:
            return prefix
    return None


def _missing_names(scan_: ImportScan, target: str, stmt: ImportStmt) -> list[str]:
    if not stmt.is_from:
        return []
    return [n for n in stmt.names if n != "*" and not _has_name(scan_, target, n)]


def _missing_module(scan_: ImportScan, stmt: ImportStmt, target: str, missing: str,
                    origin: Origin) -> tuple[str, str]:
    """Why a backend module is not there (absent, planned, moved away) and where it is now,
    with a replacement import that itself resolves, or the honest next step."""
    origins = scan_.name_origins()
    path = missing.replace(".", "/")
    if origin is Origin.PLANNED and missing not in origins.former:
        reason = f"{missing} is not in the backend yet ({origins.planned[missing]}), and is not a third-party package"
    elif origin in (Origin.PLANNED, Origin.FORMER):
        reason = (f"{missing} is no longer in the backend (it was {shown_path(origins.former[missing])}), and is not "
                  "a third-party package")
    elif origin is Origin.REPOSITORY:
        reason = (f"{missing} is not in the backend; a module of that name is elsewhere in the repository, so it "
                  "is not a third-party package")
    else:
        reason = f"no module {path}.py (nor package {path}/) in the backend"
    places, submodule = _whereabouts(scan_, stmt, target)
    if not places:
        return reason, _no_place_hint(scan_, stmt, target, missing, origin)
    shown = "; ".join(f"{_shown_place(scan_, place)} ({place.how})" for place in places)
    located = f"{target}.{submodule}" if submodule else target
    reason += f"; {located} now lives at {shown}" if len(places) == 1 else f"; modules of that name: {shown}"
    fixes = [fix for place in places if (fix := _replacement(scan_, stmt, target, place, submodule))]
    if len(fixes) == 1:
        return reason, fixes[0]
    if fixes:
        return reason, "import it from the one you mean:\n" + "\n".join(fixes)
    outside = [p for p in places if p.module is None]
    if outside:
        where = outside[0].path
        return reason, (f"{where} is outside the backend root, so no import from the backend reaches it: bring "
                        f"it into a backend package (git mv {shell_quote(where)} "
                        f"{shell_quote(scan_.index.rel('<package>/' + posixpath.basename(where.rstrip('/'))))}) "
                        "and import it from there, or drop this import")
    located = places[0].module or ""
    names = _missing_names(scan_, located, stmt) if located else []
    if names:
        return reason, _moved_name_hint(scan_, located, names, stmt)
    return reason, _no_place_hint(scan_, stmt, target, missing, origin)


def _shown_place(scan_: ImportScan, place: Whereabouts) -> str:
    inside = "" if place.module is not None else ", outside the backend"
    return f"{shown_path(place.path)}{inside}"


def _whereabouts(scan_: ImportScan, stmt: ImportStmt, target: str) -> tuple[list[Whereabouts], str | None]:
    """Where the imported module lives now; for `from old import sub`, where `old.sub` went."""
    origins = scan_.name_origins()
    names = tuple(n for n in stmt.names if n != "*") if stmt.is_from else ()
    if len(names) == 1:  # `from scripts import tool`: tool may be the module that moved
        moved = origins.locate(f"{target}.{names[0]}", history_only=True)
        if moved:
            return moved, names[0]
    return origins.locate(target, names), None


def _no_place_hint(scan_: ImportScan, stmt: ImportStmt, target: str, missing: str, origin: Origin) -> str:
    """The next step when the module is nowhere: the names' new home, the plan, or the history."""
    names = [n for n in stmt.names if n != "*"] if stmt.is_from else []
    if names:
        hint = _owners_hint(scan_, target, names)
        if hint:
            return hint
    origins = scan_.name_origins()
    if origin is Origin.PLANNED and missing not in origins.former:
        directory = scan_.index.rel(missing.replace(".", "/"))
        return (f"create it as the plan says (mkdir -p {shell_quote(directory)} && touch "
                f"{shell_quote(directory + '/__init__.py')}) and move the code there, or import it from where it "
                "lives now")
    if missing in origins.former:
        return (f"it left the backend: `git log --diff-filter=DR --stat -- {shell_quote(origins.former[missing])}` "
                "shows where it went; import it from there or drop this import")
    return "fix the module path, or restore the module"


def _replacement(scan_: ImportScan, stmt: ImportStmt, target: str, place: Whereabouts,
                 submodule: str | None) -> str | None:
    """The import statement that names the module at its new place, when it resolves there."""
    new = place.module
    if new is None or scan_.table.kind(new) is None:
        return None
    if stmt.is_from:
        match = re.match(r"from\s+\.*[\w.]*\s+import\s+(.+)$", stmt.text)
        if match is None:
            return None
        if submodule is None:
            statement = f"from {new} import {match.group(1)}"
        else:
            alias = re.search(rf"\b{re.escape(submodule)}\s+as\s+(\w+)", match.group(1))
            statement = _import_as(new, alias.group(1) if alias else submodule)
    else:
        alias = re.search(rf"\b{re.escape(stmt.module)}\s+as\s+(\w+)", stmt.text)
        if alias:
            statement = f"import {new} as {alias.group(1)}"
        elif "." not in stmt.module:
            statement = _import_as(new, stmt.module)
        else:
            statement = f"import {new}   # then refer to it as {new} where the code says {stmt.module}"
    return statement if statement_resolves(scan_, statement) else None


def _import_as(module: str, bound: str) -> str:
    """An import that binds `bound` to `module`, in its most natural spelling."""
    parent, _, leaf = module.rpartition(".")
    if parent:
        return f"from {parent} import {leaf}" + (f" as {bound}" if leaf != bound else "")
    return f"import {module}" + (f" as {bound}" if module != bound else "")


def statement_resolves(scan_: ImportScan, statement: str) -> bool:
    """Whether an absolute import statement (a suggested fix) resolves in the backend."""
    import ast

    try:
        node = ast.parse(statement.split("#", 1)[0].strip()).body[0]
    except (SyntaxError, IndexError):
        return False
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        names = tuple(a.name for a in node.names)
        stmt = ImportStmt(0, statement, node.module, 0, names, is_from=True)
        return _first_missing_module(scan_, node.module) is None and not _missing_names(scan_, node.module, stmt)
    if isinstance(node, ast.Import):
        return all(_first_missing_module(scan_, alias.name) is None for alias in node.names)
    return False


def _has_name(scan_: ImportScan, module: str, name: str) -> bool:
    if scan_.table.kind(f"{module}.{name}") is not None:
        return True
    kind = scan_.table.kind(module)
    if kind == "namespace":
        return False
    source = scan_.sources.get(file_of(scan_, module))
    if source is None or source.error:
        return True  # cannot tell; the parse check reports the broken file
    return name in source.bound or source.dynamic


def _moved_name_hint(scan_: ImportScan, module: str, names: list[str], stmt: ImportStmt) -> str:
    hint = _owners_hint(scan_, module, names)
    return hint or f"define or re-export {', '.join(names)} in {file_of(scan_, module)}, or fix the import"


def _owners_hint(scan_: ImportScan, module: str, names: list[str]) -> str | None:
    """Where each name is defined in the backend, as imports that resolve; None if nowhere."""
    hints = []
    for name in names:
        owners = sorted(m for m, f in scan_.table.files.items()
                        if m != module and name in (scan_.sources.get(f) or ParsedSource(f)).defined)
        for owner in owners:
            statement = f"from {owner} import {name}"
            if statement_resolves(scan_, statement):
                hints.append(f"{name} is defined in {file_of(scan_, owner)}: {statement}")
                break
    return "; ".join(hints) or None
