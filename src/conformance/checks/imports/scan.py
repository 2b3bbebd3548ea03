"""The backend's Python files parsed once (`ImportScan`), and the parse check over them.

The backend root is the import root (the plan: "absolute paths from backend root"). Every
.py file is parsed once per session; the module table says which dotted names are backend
modules, packages and namespace dirs. The checks of this family judge this scan:
test_python_files_parse (check_parse, here), resolution.py, style.py, aliases.py,
entrypoints.py and importability_verdicts.py.
"""

from __future__ import annotations

import errno
import functools
import os
import re
from dataclasses import dataclass, field
from typing import Any

from conformance.analysis.importnames import NameOrigins
from conformance.analysis.pysource import ParsedSource, parse_source
from conformance.model.findings import Finding
from conformance.model.rules import RuleId, rule
from conformance.model.spec import Spec
from conformance.repo.index import RepoIndex, shell_quote, shown_path


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

            from conformance.analysis.distributions import backend_requirements

            self.origins = NameOrigins(self.index, self.spec, backend=self.backend_names, stdlib=sys.stdlib_module_names,
                                       uninstalled_requirements=backend_requirements(self.index, self.spec))
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


def scan(index: RepoIndex, spec: Spec, installed: dict[str, bool] | None = None, backend: Any = None,
         known: dict[str, ParsedSource] | None = None) -> ImportScan:
    """Parse every backend .py file once. `installed` says which top-level names are importable
    from the backend interpreter's site-packages: a backend namespace dir (no __init__.py) of
    such a name, e.g. `alembic/`, never shadows the installed package. `backend` (the probe's
    InterpreterInfo) re-parses the files our Python refuses when it is a newer Python. `known`:
    parses of files whose content is unchanged since a previous run (not read again)."""
    files = python_files(index)
    sources: dict[str, ParsedSource] = {}
    unfollowed: dict[str, str] = {}
    refused: dict[str, bytes] = {}  # files our parser refused: maybe newer syntax
    for rel in files:
        target = index.link_out(index.rel(rel))
        if target is not None:
            unfollowed[rel] = target  # a module whose content the suite does not read: "cannot tell"
            continue
        if known and rel in known:
            sources[rel] = known[rel]
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
    from conformance.analysis.distributions import backend_requirements

    return {re.sub(r"[-.]+", "_", name).lower() for name in backend_requirements(index, spec)}


def namespace_candidates(index: RepoIndex) -> list[str]:
    """Top-level backend names to ask the interpreter about (namespace dirs and modules)."""
    return sorted(build_table(python_files(index)).top_level)


def file_of(scan_: ImportScan, module: str) -> str:
    """The backend-relative file behind a dotted name: `pkg/__init__.py`, `mod.py` or `dir/`."""
    kind = scan_.table.kind(module)
    path = module.replace(".", "/")
    return {"package": f"{path}/__init__.py", "module": f"{path}.py"}.get(kind or "", f"{path}/")


def is_production(spec: Spec, rel: str, extra: tuple[str, ...] = ()) -> bool:
    """Whether a backend-relative path is production code: not matched by the spec's
    non_production patterns (nor by `extra`, more patterns of the same kind)."""
    return not _matches((*spec.non_production, *extra), rel)


@functools.lru_cache(maxsize=1 << 16)
def _matches(patterns: tuple[str, ...], rel: str) -> bool:
    """Remembered per path: several checks ask about every file, and a match costs 10 us."""
    return bool(_compiled(patterns).match_file(rel))


@functools.lru_cache(maxsize=32)
def _compiled(patterns: tuple[str, ...]) -> Any:
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(list(patterns))


def check_parse(scan_: ImportScan) -> list[Finding]:
    """test_python_files_parse: every backend .py file compiles (a file for a newer Python is a warning)."""
    return [
        rule(RuleId.PYTHON_PARSES).finding(
            scan_.repo_path(rel), source.error or "",
            shown_path(source.error_fix or "fix the file so Python can compile it "
                                           f"(python -m py_compile {shell_quote(scan_.index.rel(rel))} "
                                           "shows the error)"),
            line=source.error_line, phase=scan_.spec.phase_of(RuleId.PYTHON_PARSES),
            severity=source.error_severity)  # type: ignore[arg-type]  # newer syntax: a warning
        for rel, source in sorted(scan_.sources.items()) if source.error
    ]
