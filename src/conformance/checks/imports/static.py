"""Static import checks: every backend import resolves, and imports follow the plan's style.

The backend root is the import root (the plan: "absolute paths from backend root"). Every
.py file is parsed once; imports anywhere (functions, TYPE_CHECKING, try blocks) are resolved
against the files on disk, so a lazy import left behind by a move fails here even though no
import-time check would execute it.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import os
import posixpath
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from conformance.model.findings import Finding
from conformance.analysis.importnames import NameOrigins, Origin, Whereabouts
from conformance.analysis.pysource import ImportStmt, ParsedSource, parse_source
from conformance.repo.index import RepoIndex, shell_quote, shown_path
from conformance.model.spec import Spec

PLAN_RESOLVE = "Success criteria: All imports work correctly"
PLAN_ABSOLUTE = "Phase 3.1: Ensure all Python imports use absolute paths from backend root"
PLAN_RELATIVE = "Import Problems: Some modules using relative imports beyond 2 levels"
PLAN_INIT = "Phase 3.2: Add proper __init__.py files where needed"
PLAN_CLASH = "Import Problems: Multiple files importing with inconsistent paths"
PLAN_PARSE = "Phase 3.3: Test all imports work correctly"


@dataclass
class ModuleTable:
    """Dotted module names of the backend and the files behind them."""

    files: dict[str, str] = field(default_factory=dict)  # module -> backend-relative file
    packages: set[str] = field(default_factory=set)  # modules that are regular packages
    namespaces: set[str] = field(default_factory=set)  # dirs importable as namespace packages

    def kind(self, module: str) -> str | None:
        if module in self.packages:
            return "package"
        if module in self.files:
            return "module"
        if module in self.namespaces:
            return "namespace"
        return None

    @property
    def top_level(self) -> set[str]:
        return {m.split(".")[0] for m in (*self.files, *self.namespaces)}


def module_name(rel: str) -> str | None:
    """`api/chat.py` -> `api.chat`; None when a path part is not an identifier."""
    parts = rel[:-3].split("/")
    if parts[-1] == "__init__":
        parts.pop()
    if not parts or not all(p.isidentifier() for p in parts):
        return None
    return ".".join(parts)


def build_table(python_files: list[str]) -> ModuleTable:
    table = ModuleTable()
    dirs_with_python: set[str] = set()
    for rel in python_files:
        name = module_name(rel)
        if name is None:
            continue
        table.files[name] = rel
        if rel.endswith("/__init__.py"):
            table.packages.add(name)
        parent = name.rpartition(".")[0]
        while parent:
            dirs_with_python.add(parent)
            parent = parent.rpartition(".")[0]
    table.namespaces = {d for d in dirs_with_python if d not in table.packages}
    return table


@dataclass
class ImportScan:
    """All parsed Python files of the backend, with the module table and checks over them."""

    index: RepoIndex
    spec: Spec
    sources: dict[str, ParsedSource]  # backend-relative path -> parsed
    table: ModuleTable
    backend_names: set[str]  # top-level names that resolve to the backend
    external_shadowed: set[str] = field(default_factory=set)
    unfollowed: dict[str, str] = field(default_factory=dict)  # symlinks out of the backend -> target
    origins: NameOrigins | None = None  # set by the caller that knows the backend interpreter

    def name_origins(self) -> NameOrigins:
        """The classifier of imported names; without the interpreter's facts, our own stdlib
        list and every requirement taken as possibly providing a name."""
        if self.origins is None:
            import sys

            from conformance.analysis.distributions import requirement_names

            requirements = self.index.root / self.index.rel(self.spec.imports.requirements)
            try:
                declared = requirement_names(requirements) if requirements.is_file() else []
            except OSError:
                declared = []
            self.origins = NameOrigins(self.index, self.spec, backend=self.backend_names,
                                       stdlib=sys.stdlib_module_names, uninstalled_requirements=declared)
        return self.origins

    def imported_tops(self) -> set[str]:
        """Top-level names of every absolute import of the backend."""
        return {stmt.module.split(".")[0] for source in self.sources.values() for stmt in source.imports
                if stmt.level == 0 and stmt.module}

    def backend_like_imports(self) -> set[str]:
        """Imported top-level names that are, were or will be backend modules but are not on
        disk: never third party, whatever a dependency tool or a failed import says."""
        return self.name_origins().backend_like(self.imported_tops() - set(self.spec.imports.forbidden_prefixes))

    def repo_path(self, rel: str) -> str:
        """The repo-relative path as shown in a finding (printable even when not UTF-8)."""
        return shown_path(self.index.rel(rel))


def python_files(index: RepoIndex) -> list[str]:
    files = []
    for path in index.backend_files():
        rel = index.backend_rel(path)
        if rel and rel.endswith(".py") and "node_modules/" not in f"/{rel}":
            files.append(rel)
    return files


def scan(index: RepoIndex, spec: Spec, installed: dict[str, bool] | None = None, backend: Any = None) -> ImportScan:
    """Parse every backend .py file once. `installed` says which top-level names are importable
    from the backend interpreter's site-packages: a backend namespace dir (no __init__.py) of
    such a name, e.g. `alembic/`, never shadows the installed package. `backend` (the probe's
    InterpreterInfo) re-parses the files our Python refuses when it is a newer Python."""
    files = python_files(index)
    sources: dict[str, ParsedSource] = {}
    unfollowed: dict[str, str] = {}
    refused: dict[str, bytes] = {}  # files our parser refused: maybe newer syntax
    for rel in files:
        target = index.link_out(index.rel(rel))
        if target is not None:
            unfollowed[rel] = target  # a module whose content the suite does not read: "cannot tell"
            continue
        try:
            data = (index.backend / rel).read_bytes()
        except OSError as exc:
            sources[rel] = _unreadable(index, rel, exc)
            continue
        sources[rel] = parse_source(rel, data)
        if sources[rel].syntax_error:
            refused[rel] = data
    if refused:  # the fast path stays fast: only refused files pay for the backend-Python check
        from conformance.analysis.newersyntax import settle

        sources.update(settle(index, {rel: sources[rel] for rel in refused}, refused, backend))
    table = build_table(files)
    installed = installed or {}
    declared = _declared_import_names(index, spec)
    backend_names = set()
    shadowed = set()
    for name in table.top_level:
        # A dir without __init__.py never shadows a regular package of that name; when the
        # package is not installed in the backend interpreter but declared in the requirements,
        # the declared dependency is what the code means (the dependency check says it is missing).
        if table.kind(name) == "namespace" and (installed.get(name) or name in declared):
            shadowed.add(name)
        else:
            backend_names.add(name)
    return ImportScan(index, spec, sources, table, backend_names, shadowed, unfollowed)


def _unreadable(index: RepoIndex, rel: str, exc: OSError) -> ParsedSource:
    """A Python file that cannot be read: say why in the words of the cause, with its own fix."""
    path = index.rel(rel)
    quoted = shell_quote(path)
    full = index.backend / rel
    if os.path.islink(full):
        target = os.readlink(full)
        what = "a symlink loop" if exc.errno == errno.ELOOP else f"a symlink to {target}"
        return ParsedSource(rel, error=f"is {what} that cannot be read ({exc.strerror})",
                            error_fix=f"point the link at a file that exists, or remove it: "
                                      f"{'git rm' if index.is_git else 'rm'} {quoted}   # deletes the link only, "
                                      "not what it points to")
    if exc.errno == errno.ENOENT:
        return ParsedSource(rel, error="is tracked by git but missing from the work tree",
                            error_fix=f"git checkout -- {quoted}   # restores the committed file: it is missing, "
                                      "so nothing local is overwritten\n"
                                      f"or, if it was deleted on purpose: git rm {quoted}   # removes it from the "
                                      "index too; git history keeps it")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return ParsedSource(rel, error=f"cannot be read ({exc.strerror}): Python cannot import it either",
                            error_fix=f"chmod a+r {quoted}")
    return ParsedSource(rel, error=f"cannot be read ({exc.strerror})", error_fix="check the file and the disk")


def _declared_import_names(index: RepoIndex, spec: Spec) -> set[str]:
    """Import names the requirements file promises, as far as a name can tell without metadata
    (`python-dateutil` -> python_dateutil, `alembic` -> alembic)."""
    from conformance.analysis.distributions import requirement_names

    path = index.rel(spec.imports.requirements)
    if path not in index.files or index.link_out(path) is not None:
        return set()
    try:
        names = requirement_names(index.root / path)
    except OSError:
        return set()
    return {re.sub(r"[-.]+", "_", name).lower() for name in names}


def namespace_candidates(index: RepoIndex) -> list[str]:
    """Top-level backend names to ask the interpreter about (namespace dirs and modules)."""
    return sorted(build_table(python_files(index)).top_level)


# -- resolution -----------------------------------------------------------------------------


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


def _file_of(scan_: ImportScan, module: str) -> str:
    kind = scan_.table.kind(module)
    path = module.replace(".", "/")
    return {"package": f"{path}/__init__.py", "module": f"{path}.py"}.get(kind or "", f"{path}/")


def check_resolution(scan_: ImportScan) -> dict[str, list[Finding]]:
    """Findings of unresolved backend imports, grouped by the file's top-level directory."""
    grouped: dict[str, list[Finding]] = defaultdict(list)
    for rel, source in sorted(scan_.sources.items()):
        if source.error:
            continue
        for stmt in source.imports:
            problem = _resolve(scan_, rel, stmt)
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
    return Finding(rule="imports_resolve", path=scan_.repo_path(rel), line=stmt.line,
                   message=f"`{stmt.text}`{where}: {reason}", fix=fix, severity=severity,  # type: ignore[arg-type]
                   plan=PLAN_RESOLVE, phase=scan_.spec.phase_of("imports_resolve"))


def _resolve(scan_: ImportScan, rel: str, stmt: ImportStmt) -> tuple[str, str] | None:
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
    where = _file_of(scan_, target)
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
    source = scan_.sources.get(_file_of(scan_, module))
    if source is None or source.error:
        return True  # cannot tell; the parse check reports the broken file
    return name in source.bound or source.dynamic


def _moved_name_hint(scan_: ImportScan, module: str, names: list[str], stmt: ImportStmt) -> str:
    hint = _owners_hint(scan_, module, names)
    return hint or f"define or re-export {', '.join(names)} in {_file_of(scan_, module)}, or fix the import"


def _owners_hint(scan_: ImportScan, module: str, names: list[str]) -> str | None:
    """Where each name is defined in the backend, as imports that resolve; None if nowhere."""
    hints = []
    for name in names:
        owners = sorted(m for m, f in scan_.table.files.items()
                        if m != module and name in (scan_.sources.get(f) or ParsedSource(f)).defined)
        for owner in owners:
            statement = f"from {owner} import {name}"
            if statement_resolves(scan_, statement):
                hints.append(f"{name} is defined in {_file_of(scan_, owner)}: {statement}")
                break
    return "; ".join(hints) or None


def group_of(spec: Spec, rel: str) -> str:
    """The test id a file's import findings belong to: its top-level spec dir, root or other."""
    if "/" not in rel:
        return "root"
    top = rel.split("/")[0]
    return top if top in resolution_groups(spec) else "other"


def examined(scan_: ImportScan, findings: list[Finding], group: str | None = None) -> Any:
    """The check's result, or a skip that says why when it had no file to examine: a check
    over nothing must not pass as if it had looked (`group`: one test_imports_resolve item)."""
    from conformance.model.findings import CheckResult, Skipped

    files = [rel for rel in scan_.sources if group is None or group_of(scan_.spec, rel) == group]
    if files or findings:
        return CheckResult(list(findings))
    where = {None: "in the backend", "root": "in the backend root",
             "other": "outside the plan's top-level directories"}.get(group, f"in {scan_.repo_path(group or '')}/")
    return CheckResult(skipped=Skipped(f"no Python file {where}: nothing to check"))


def resolution_groups(spec: Spec) -> list[str]:
    workers = spec.workers.split("/")[0]
    tops = [d.path.split("/")[0] for d in spec.dirs if not d.runtime and not d.path.startswith("//")]
    ordered = list(dict.fromkeys(t for t in tops if t != workers))
    return [*ordered, "root", "other"]


# -- parse errors and style -------------------------------------------------------------------


def check_parse(scan_: ImportScan) -> list[Finding]:
    return [
        Finding(rule="python_parses", path=scan_.repo_path(rel), line=source.error_line,
                message=source.error or "", plan=PLAN_PARSE, phase=scan_.spec.phase_of("python_parses"),
                severity=source.error_severity,  # type: ignore[arg-type]  # newer syntax: a warning
                fix=shown_path(source.error_fix or "fix the file so Python can compile it "
                                                   f"(python -m py_compile {shell_quote(scan_.index.rel(rel))} "
                                                   "shows the error)"))
        for rel, source in sorted(scan_.sources.items()) if source.error
    ]


def _production(spec: Spec, rel: str, extra: tuple[str, ...] = ()) -> bool:
    return not _compiled((*spec.non_production, *extra)).match_file(rel)


@functools.lru_cache(maxsize=32)
def _compiled(patterns: tuple[str, ...]) -> Any:
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(list(patterns))


def is_production(spec: Spec, rel: str) -> bool:
    return _production(spec, rel)


def importable_groups(spec: Spec) -> list[str]:
    """Importability items: the top-level package dirs of the spec, root modules, the rest."""
    tops = [d.path for d in spec.dirs if d.package and "/" not in d.path and not d.path.startswith("//")]
    return [*dict.fromkeys(tops), "root", "other"]


def static_claims(scan_: ImportScan, resolution: dict[str, list[Finding]],
                  others: dict[str, list[Finding]] = {}) -> dict[str, str]:  # noqa: B006 - read only
    """Places that a static check already fails, -> the test that reports them: an import
    failure raised there is the same violation seen again, so importability names that test
    instead of reporting it. Keys are backend-relative "path:line" for a finding on one
    statement, and "path" for one that breaks the whole file (it does not parse, it is
    shadowed). `resolution` is check_resolution's result, computed once per session; `others`
    maps further test ids to their findings (the dependency and structure checks)."""
    claims: dict[str, str] = {}

    def claim(findings: list[Finding], test: str, whole_file: bool = False) -> None:
        for finding in findings:
            if finding.severity != "error" and finding.rule != "python_parses":
                continue  # a file reported as newer syntax (a warning) still fails to import here
            rel = _backend_rel(scan_, finding.path)
            claims.setdefault(rel if whole_file or not finding.line else f"{rel}:{finding.line}", test)

    claim(check_parse(scan_), "test_python_files_parse", whole_file=True)
    claim(check_backend_prefix(scan_), "test_no_backend_prefix")
    for group, findings in resolution.items():
        claim(findings, f"test_imports_resolve[{group}]")
    for test, findings in others.items():
        claim(findings, test, whole_file=test == "test_module_package_clash")
    for _, directory in _init_file_findings(scan_):  # "dir/": a namespace chain too deep to import
        claims.setdefault(directory + "/", "test_init_files")
    return claims


def _backend_rel(scan_: ImportScan, repo_path: str) -> str:
    return scan_.index.backend_rel(repo_path) or repo_path


def importability_results(scan_: ImportScan, report: object, claims: dict[str, str] | None = None) -> dict[str, object]:
    """Map an ImportabilityReport to one CheckResult per importability group, one finding per
    root cause: failures raised at the same place with the same exception are one finding
    listing the modules they break; a cause a static check reports (`claims`, see
    static_claims) is named, not reported again; declared requirements missing from the
    backend interpreter are one note about the environment, not a finding per module."""
    from conformance.model.findings import CheckResult, Skipped

    groups = importable_groups(scan_.spec)
    error = getattr(report, "error", None)
    if error and not getattr(report, "checked", None):
        return {g: CheckResult(skipped=Skipped(f"importability not checked: {error}")) for g in groups}
    results: dict[str, CheckResult] = {g: CheckResult() for g in groups}
    causes = _root_causes(scan_, getattr(report, "failures", {}), claims or {})
    environment: dict[str, list[str]] = defaultdict(list)  # group -> modules not checked
    for cause in causes:
        group = _group_of_file(groups, cause.path)
        if cause.environment:
            for failure in cause.failures:
                environment[_group_of_file(groups, failure.path)].append(failure.module)
            continue
        results[group].findings.append(cause.finding(scan_))
    if environment:
        note = _environment_note(scan_)
        for group, modules in environment.items():
            text = f"{len(modules)} module(s) not checked ({', '.join(sorted(modules)[:5])}" \
                   f"{', ...' if len(modules) > 5 else ''}): {note}"
            if results[group].errors:
                results[group].findings.append(Finding(
                    rule="importable", path=scan_.index.prefix or ".", message=text, severity="warning",
                    fix=note.split(": run ", 1)[-1], plan=PLAN_PARSE, phase=scan_.spec.phase_of("importable")))
            else:
                results[group].skipped = Skipped(f"importability not fully checked: {text}")
    if error:
        for group in groups:
            results[group].findings.append(Finding(
                rule="importable", path=scan_.index.prefix or ".", message=f"import check incomplete: {error}",
                fix="see the message", plan=PLAN_PARSE, phase=scan_.spec.phase_of("importable")))
    checked = {_group_of_file(groups, rel) for rel in getattr(report, "checked", [])}
    for group, result in results.items():
        if group not in checked and not result.findings and result.skipped is None:
            where = {"root": "in the backend root", "other": "outside the plan's top-level packages"}.get(
                group, f"in {scan_.repo_path(group)}/")
            result.skipped = Skipped(f"no production module {where}: nothing to import")
    return results  # type: ignore[return-value]


def _group_of_file(groups: list[str], rel: str) -> str:
    top = rel.split("/")[0] if "/" in rel else "root"
    return top if top in groups else "other"


def _environment_note(scan_: ImportScan) -> str:
    origins = scan_.name_origins()
    missing = list(origins.uninstalled_requirements)
    names = ", ".join(missing[:8]) + (", ..." if len(missing) > 8 else "")
    requirements = shell_quote(scan_.index.rel(scan_.spec.imports.requirements))
    python = getattr(origins, "python", None) or "the backend's python"
    return (f"the backend interpreter lacks {len(missing)} declared requirement(s) of {requirements} ({names}): "
            f"run {shell_quote(python)} -m pip install -r {requirements}")


@dataclass
class _RootCause:
    """Import failures raised at one place by one exception."""

    path: str  # backend-relative file where it is raised (the failing module itself if unknown)
    line: int | None
    error: str
    failures: list[Any] = field(default_factory=list)
    claimed_by: str | None = None
    environment: bool = False
    missing: str | None = None  # a missing top-level name, when the cause is ModuleNotFoundError

    def finding(self, scan_: ImportScan) -> Finding:
        modules = sorted(f.module for f in self.failures)
        shown = ", ".join(modules[:8]) + (f" and {len(modules) - 8} more" if len(modules) > 8 else "")
        breaks = f"; the import of {shown} fails because of it" if modules != [module_name(self.path)] else ""
        phase = scan_.spec.phase_of("importable")
        kind = getattr(self.failures[0], "kind", None) if self.failures else None
        error = self.error
        if kind == "namespace" and "/ down" in error:  # the chain's top as a repository path, like every path
            top = error.split("from ", 1)[1].split("/ down", 1)[0]
            error = error.replace(f"from {top}/ down", f"from {scan_.repo_path(top)}/ down", 1)
        if self.claimed_by and kind == "namespace":
            return Finding(rule="importable", path=scan_.repo_path(self.path), line=self.line, severity="warning",
                           message=f"{error}; {self.claimed_by} reports the missing __init__.py files",
                           fix=f"see {self.claimed_by}", plan=PLAN_PARSE, phase=phase)
        if self.claimed_by:
            return Finding(rule="importable", path=scan_.repo_path(self.path), line=self.line, severity="warning",
                           message=f"is reported by {self.claimed_by}{breaks}",
                           fix=f"see {self.claimed_by}", plan=PLAN_PARSE, phase=phase)
        if kind == "timeout":
            return Finding(rule="importable", path=scan_.repo_path(self.path), message=self.error,
                           fix=f"run `timeout 60 python -X importtime -c 'import {module_name(self.path)}'` from the "
                               "backend root to see where it stops; move network calls, sleeps and prompts out of "
                               "module level into functions the app calls at startup",
                           plan=PLAN_PARSE, phase=phase)
        if kind == "namespace":
            top = self.error.split("from ", 1)[1].split("/ down", 1)[0] if "/ down" in self.error else \
                posixpath.dirname(self.path)
            where = shell_quote(scan_.index.rel(top))
            return Finding(rule="importable", path=scan_.repo_path(self.path), message=error,
                           fix=f"find {where} -type d -exec touch {{}}/__init__.py \\;  (an __init__.py in every "
                               "directory below makes them regular packages), or flatten the tree",
                           plan=PLAN_PARSE, phase=phase)
        origin = scan_.name_origins().origin(self.missing) if self.missing else None
        if origin is not None and origin.is_backend:
            reason = (f"raises while being imported: {self.error}; `{self.missing}` is {origin.value}, "
                      "not a third-party package")
            fix = "import it from where it lives now in the backend (test_imports_resolve shows where)"
        elif self.missing:
            reason = (f"cannot be imported: it needs `{self.missing}`, which is neither installed in the backend "
                      f"interpreter nor declared in {scan_.spec.imports.requirements} ({self.error})")
            fix = (f"declare the distribution that provides `{self.missing}` in "
                   f"{shell_quote(scan_.index.rel(scan_.spec.imports.requirements))} and install it")
        else:
            reason = f"raises while being imported: {self.error}"
            fix = f"python -c 'import {module_name(self.path) or modules[0]}' from the backend root shows the full traceback"
        return Finding(rule="importable", path=scan_.repo_path(self.path), line=self.line,
                       message=f"{reason}{breaks}", fix=fix, plan=PLAN_PARSE, phase=phase)


EXCEPTION_KIND = re.compile(r"\b([A-Z]\w*(?:Error|Exception|Exit|Interrupt))\b")


def _root_causes(scan_: ImportScan, failures: dict[str, Any], claims: dict[str, str]) -> list[_RootCause]:
    unfollowed = {name for name in map(module_name, scan_.unfollowed) if name}
    origins = scan_.name_origins()
    prefixes = set(scan_.spec.imports.forbidden_prefixes)
    causes: dict[tuple[str, str], _RootCause] = {}
    for rel, failure in sorted(failures.items()):
        if any(f"No module named '{name}'" in failure.error for name in unfollowed):
            continue  # a symlink out of the backend, not followed (named in the report header)
        origin = failure.origin or rel
        path, _, line = origin.partition(":")
        kinds = EXCEPTION_KIND.findall(failure.error)
        key = (origin, kinds[-1] if kinds else failure.error)
        cause = causes.get(key)
        if cause is None:
            missing = failure.missing_dependency
            claimed = claims.get(origin) or claims.get(path) or claims.get(rel)
            if claimed is None and getattr(failure, "kind", None) == "namespace":
                parent = posixpath.dirname(rel)
                while parent and claimed is None:  # a directory test_init_files reports
                    claimed, parent = claims.get(parent + "/"), posixpath.dirname(parent)
            if claimed is None and missing in prefixes:
                claimed = "test_no_backend_prefix"
            cause = causes[key] = _RootCause(
                path, int(line) if line.isdigit() else None, failure.error, claimed_by=claimed, missing=missing,
                environment=bool(missing) and claimed is None and origins.origin(missing) is Origin.DECLARED)
        cause.failures.append(failure)
    return list(causes.values())


def check_backend_prefix(scan_: ImportScan) -> list[Finding]:
    prefixes = scan_.spec.imports.forbidden_prefixes
    findings = []
    for rel, source in sorted(scan_.sources.items()):
        for stmt in source.imports:
            first = stmt.module.split(".")[0] if stmt.level == 0 else ""
            if first in prefixes:
                message = (f"`{stmt.text}` imports through the `{first}.` prefix; the backend root is the "
                           "import root, so this only works when the parent directory is on sys.path")
                if "." not in stmt.module:
                    findings.append(Finding(
                        rule="backend_prefix", path=scan_.repo_path(rel), line=stmt.line, message=message,
                        fix="import each module you need from the backend root (`from services import ...`)",
                        plan=PLAN_ABSOLUTE, phase=scan_.spec.phase_of("backend_prefix")))
                    continue
                fixed = dataclasses.replace(stmt, module=stmt.module[len(first) + 1:],
                                            text=stmt.text.replace(f"{first}.", "", 1))
                problem = _resolve(scan_, rel, fixed)
                fix = fixed.text
                if problem is not None:  # the import is wrong beyond its prefix: say so, fix both
                    message += f"; without the prefix, `{fixed.text}` does not resolve either: {problem[0]}"
                    fix = problem[1]
                findings.append(Finding(
                    rule="backend_prefix", path=scan_.repo_path(rel), line=stmt.line, message=message,
                    fix=fix, plan=PLAN_ABSOLUTE, phase=scan_.spec.phase_of("backend_prefix")))
    return findings


def check_relative_depth(scan_: ImportScan) -> list[Finding]:
    limit = scan_.spec.imports.max_relative_depth
    findings = []
    for rel, source in sorted(scan_.sources.items()):
        for stmt in source.imports:
            if stmt.level <= limit:
                continue
            target, _ = absolute_target(scan_, rel, stmt)
            fix = (f"from {target} import {', '.join(stmt.names)}" if target and stmt.names
                   else "use an absolute import from the backend root")
            findings.append(Finding(
                rule="relative_depth", path=scan_.repo_path(rel), line=stmt.line,
                message=f"`{stmt.text}` goes {stmt.level} levels up; the plan allows at most {limit}",
                fix=fix, plan=PLAN_RELATIVE, phase=scan_.spec.phase_of("relative_depth")))
    return findings


def check_sys_path(scan_: ImportScan) -> list[Finding]:
    allowed = scan_.spec.imports.sys_path_allowed
    findings = []
    for rel, source in sorted(scan_.sources.items()):
        if not _production(scan_.spec, rel, allowed) or rel.split("/")[0] in allowed:
            continue
        for line, text in source.sys_path_edits:
            findings.append(Finding(
                rule="sys_path", path=scan_.repo_path(rel), line=line,
                message=f"`{text}` changes sys.path in production code: imports then depend on who "
                        "imported this module first",
                fix="remove it and import absolutely from the backend root (run tools as "
                    "`python -m scripts.admin.tool` from the backend root)",
                plan=PLAN_ABSOLUTE, phase=scan_.spec.phase_of("sys_path")))
    return findings


def check_init_files(scan_: ImportScan) -> list[Finding]:
    """Directories holding Python files inside production packages without __init__.py.

    Top-level dirs of the spec are left to the structure check test_package_dir. A chain of
    nested directories that all lack one is one finding at its top (one cause, one fix), not one
    per level: a 120-level chain is one finding, not 120."""
    return [finding for finding, _ in _init_file_findings(scan_)]


def _init_file_findings(scan_: ImportScan) -> list[tuple[Finding, str]]:
    """check_init_files' findings with the backend-relative directory each one is about."""
    spec_packages = {d.path for d in scan_.spec.dirs if d.package}
    dirs: set[str] = set()
    for rel in scan_.sources:
        parent = posixpath.dirname(rel)
        while parent:
            dirs.add(parent)
            parent = posixpath.dirname(parent)
    findings: list[tuple[Finding, str]] = []
    git = scan_.index.is_git
    with_python = {posixpath.dirname(r) for r in scan_.sources if r.endswith(".py")}
    holding = set()  # directories with a .py file somewhere below them
    for directory in with_python:
        while directory and directory not in holding:
            holding.add(directory)
            directory = posixpath.dirname(directory)
    missing = [d for d in sorted(dirs) if d in holding and d not in spec_packages
               and _production(scan_.spec, d + "/") and f"{d}/__init__.py" not in scan_.sources
               and not ("/" not in d and not _top_is_package(scan_, d))]  # unplanned top dir: test_root_dirs
    chained = set(missing)
    below: dict[str, list[str]] = defaultdict(list)  # top of a chain -> the directories under it
    for directory in missing:
        top = directory
        while posixpath.dirname(top) in chained and posixpath.basename(top).isidentifier() \
                and posixpath.basename(posixpath.dirname(top)).isidentifier():
            top = posixpath.dirname(top)
        if top != directory:
            below[top].append(directory)
    inner = {d for under in below.values() for d in under}
    for directory in missing:
        if directory in inner:
            continue
        init = shell_quote(scan_.index.rel(f"{directory}/__init__.py"))
        name = posixpath.basename(directory)
        if name.isidentifier() and below.get(directory):
            chain = [directory, *below[directory]]
            deepest = max(chain, key=lambda d: d.count("/"))
            message = (f"holds Python files but no __init__.py, inside a production package, and neither do "
                       f"the {len(chain) - 1} directories below it down to {scan_.index.rel(deepest)}/")
            where = shell_quote(scan_.index.rel(directory))
            if len(chain) <= 4:
                inits = " ".join(shell_quote(scan_.index.rel(f"{d}/__init__.py")) for d in chain)
                fix = f"touch {inits}" + (f" && git add {inits}" if git else "")
            else:
                fix = (f"find {where} -name __pycache__ -prune -o -type d -exec touch {{}}/__init__.py \\;"
                       + (f" && git add {where}" if git else ""))
        elif name.isidentifier():
            message = "holds Python files but no __init__.py, inside a production package"
            fix = f"touch {init}" + (f" && git add {init}" if git else "")
        else:  # an __init__.py would not help: no import statement can name this directory
            renamed = re.sub(r"\W+", "_", name).strip("_") or "package"
            renamed = renamed if renamed.isidentifier() else f"_{renamed}"
            message = (f"holds Python files inside a production package, but {name!r} is not a valid Python "
                       "name, so no import can reach them")
            target = scan_.index.rel(posixpath.join(posixpath.dirname(directory), renamed))
            mover = "git mv" if git else "mv"
            fix = (f"{mover} {shell_quote(scan_.index.rel(directory))} {shell_quote(target)} && "
                   f"touch {shell_quote(target + '/__init__.py')}"
                   + (f" && git add {shell_quote(target)}" if git else "")
                   + "   # then update what loads these files by path")
        findings.append((Finding(
            rule="init_files", path=scan_.repo_path(directory) + "/", message=shown_path(message),
            fix=shown_path(fix), plan=PLAN_INIT, phase=scan_.spec.phase_of("init_files")), directory))
    return findings


def _top_is_package(scan_: ImportScan, directory: str) -> bool:
    return f"{directory}/__init__.py" in scan_.sources


def check_shadowing(scan_: ImportScan, stdlib: frozenset[str], installed: dict[str, bool]) -> list[Finding]:
    """Backend top-level modules named like a stdlib or installed module hide it for the whole app."""
    findings = []
    for name in sorted(scan_.backend_names):
        kind = scan_.table.kind(name)
        if kind == "namespace":
            continue
        other = "the standard library module" if name in stdlib else (
            "the installed package" if installed.get(name) else None)
        if other is None:
            continue
        findings.append(Finding(
            rule="name_clash", path=scan_.repo_path(_file_of(scan_, name)),
            message=f"shadows {other} `{name}`: with the backend root first on sys.path, every "
                    f"`import {name}` in the app and its libraries gets this one",
            fix=f"rename it (e.g. git mv {shown_path(shell_quote(scan_.index.rel(_file_of(scan_, name))))} ...) "
                "and update its imports",
            plan=PLAN_CLASH, phase=scan_.spec.phase_of("name_clash")))
    return findings
