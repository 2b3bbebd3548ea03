"""What an imported top-level name is, and where a backend module lives now.

After a reorganization, an import left at a module's old place names something that is not on
disk in the backend. Taken for a third-party package it would be reported as a missing
distribution ("add it to requirements.txt", "install it"): wrong, and risky, since a package
of that name may exist on the index and belong to someone else. The spec (planned dirs and
moves), the git history (former backend modules, renames) and the rest of the repository say
which names are the backend's own; only what none of them knows is third party.

Pure logic over the repo index; git is asked lazily, and only when some imported name is not
already known, so a conforming backend costs no history walk.
"""

from __future__ import annotations

import functools
import posixpath
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum

from conformance.repo.index import RepoIndex
from conformance.model.spec import Spec

class Origin(Enum):
    """Where an imported top-level name comes from, in the order the classifier asks."""

    BACKEND = "a module or package of the backend"
    STDLIB = "the standard library"
    DECLARED = "a declared requirement"
    PLANNED = "a module or package the plan creates"
    FORMER = "a former module of the backend"
    INSTALLED = "installed in the backend interpreter"
    REPOSITORY = "a module elsewhere in the repository"
    UNKNOWN = "third party, not installed"

    @property
    def is_backend(self) -> bool:
        """Names that are, were or will be backend modules: an import of one must resolve in
        the backend, and no distribution may ever be suggested for it."""
        return self in (Origin.BACKEND, Origin.PLANNED, Origin.FORMER, Origin.REPOSITORY)


@dataclass(frozen=True)
class Whereabouts:
    """Where a module that is not at the imported place lives now."""

    path: str  # repo-relative file (x.py, x/__init__.py) or directory (x/)
    module: str | None  # dotted name from the backend root; None outside the backend
    how: str  # why we think it is this one, for the message


def module_of(rel: str) -> str | None:
    """Backend-relative `scripts/admin/tool.py` -> `scripts.admin.tool`; None if not importable."""
    path = rel.rstrip("/")
    if path.endswith(".py"):
        path = path[:-3]
        if path.endswith("/__init__") or path == "__init__":
            path = path[: -len("__init__")].rstrip("/")
    parts = path.split("/") if path else []
    if not parts or not all(p.isidentifier() for p in parts):
        return None
    return ".".join(parts)


@dataclass
class ModuleHistory:
    """Renames and deletions of the current branch, newest first (from git)."""

    renamed: dict[str, str]  # old repo path -> the path of its latest rename
    deleted: dict[str, str]  # repo path -> short sha of the commit that deleted it last

    @classmethod
    def from_log(cls, entries: Iterable[object]) -> ModuleHistory:
        renamed: dict[str, str] = {}
        deleted: dict[str, str] = {}
        for entry in entries:
            status, paths, sha = getattr(entry, "status", ""), getattr(entry, "paths", ()), getattr(entry, "sha", "")
            if status.startswith("R") and len(paths) == 2:
                renamed.setdefault(paths[0], paths[1])
            elif status == "D" and paths:
                deleted.setdefault(paths[0], sha[:7])
        return cls(renamed, deleted)

    def current(self, path: str, exists: Callable[[str], bool]) -> str | None:
        """The path a renamed file has now, following later renames; None when the trail ends."""
        seen: set[str] = set()
        while path in self.renamed and path not in seen:
            seen.add(path)
            path = self.renamed[path]
            if exists(path):
                return path
        return None

    def removed_paths(self) -> Iterable[str]:
        return (*self.renamed, *self.deleted)


class NameOrigins:
    """Classifies imported top-level names and finds where backend modules moved."""

    def __init__(self, index: RepoIndex, spec: Spec, *, backend: Iterable[str], stdlib: Iterable[str],
                 declared: Iterable[str] = (), uninstalled_requirements: Iterable[str] = (),
                 installed: Callable[[str], bool] = lambda name: False, python: str = ""):
        self.index = index
        self.python = python
        self.spec = spec
        self.backend = frozenset(backend)
        self.stdlib = frozenset((*stdlib, "__future__"))
        self.declared = frozenset(declared)
        self.uninstalled_requirements = tuple(uninstalled_requirements)
        self.installed = installed
        self._origins: dict[str, Origin] = {}

    # -- classification ---------------------------------------------------------------------

    def origin(self, name: str) -> Origin:
        if name not in self._origins:
            self._origins[name] = self._classify(name)
        return self._origins[name]

    def _classify(self, name: str) -> Origin:
        if name in self.backend:
            return Origin.BACKEND
        if name in self.stdlib:
            return Origin.STDLIB
        if self.is_declared(name):
            return Origin.DECLARED
        if name in self.planned:
            return Origin.PLANNED
        if name in self.former:
            return Origin.FORMER
        if self.installed(name):
            return Origin.INSTALLED
        if name in self.repository_modules:
            return Origin.REPOSITORY
        return Origin.UNKNOWN

    def is_declared(self, name: str) -> bool:
        """Declared in the requirements: by the interpreter's metadata (already folded into
        `declared`), or plausibly by a declared distribution that is not installed."""
        from conformance.analysis.distributions import might_provide

        return name in self.declared or any(might_provide(d, name) for d in self.uninstalled_requirements)

    def backend_like(self, names: Iterable[str]) -> set[str]:
        """Of `names`, those that are, were or will be backend modules but are not on disk."""
        return {n for n in names if n not in self.backend and self.origin(n).is_backend}

    @functools.cached_property
    def planned(self) -> dict[str, str]:
        """Top-level names the spec creates or moves, with the spec line that says so."""
        planned: dict[str, str] = {}
        for rule in self.spec.dirs:
            top = rule.path.split("/")[0]
            if not rule.runtime and not rule.path.startswith("//") and top.isidentifier():
                planned.setdefault(top, f"the plan's target layout has {rule.path}/")
        for move in self.spec.moves:
            source = module_of(move.source) if move.source.endswith(".py") else None
            if source:
                planned.setdefault(source.split(".")[0], f"the plan moves {move.source} to {move.to or '.'}/")
            top = move.to.split("/")[0]
            if move.to and not move.to.startswith("//") and top.isidentifier():
                planned.setdefault(top, f"the plan moves files to {move.to}/")
        return planned

    @functools.cached_property
    def history(self) -> ModuleHistory:
        if self.index.git is None or not self.index.has_commits:
            return ModuleHistory({}, {})
        from conformance.repo.git import GitError

        try:
            return ModuleHistory.from_log(self.index.git.moves_and_deletions())
        except GitError:
            return ModuleHistory({}, {})

    @functools.cached_property
    def former(self) -> dict[str, str]:
        """Top-level module names that had a .py file under the backend in git history -> that path."""
        former: dict[str, str] = {}
        for path in self.history.removed_paths():
            rel = self.index.backend_rel(path)
            if not rel or not path.endswith(".py"):
                continue
            top = rel.split("/")[0] if "/" in rel else rel[:-3]
            if top.isidentifier():
                former.setdefault(top, path)
        return former

    @property
    def repository_files(self) -> frozenset[str]:
        """Every tracked file of the repository (the backend's index when it is not in git)."""
        return self.index.repository_files

    @functools.cached_property
    def repository_modules(self) -> dict[str, list[str]]:
        """Leaf module name -> repo paths (x.py, x/__init__.py, or x/ for a dir holding .py files)."""
        found: dict[str, set[str]] = {}
        for path in self.repository_files:
            if not path.endswith(".py") or "node_modules/" in path:
                continue
            directory, base = posixpath.split(path)
            if base == "__init__.py":
                leaf = posixpath.basename(directory)
                if leaf.isidentifier():
                    found.setdefault(leaf, set()).add(path)
                continue
            if base[:-3].isidentifier():
                found.setdefault(base[:-3], set()).add(path)
            leaf = posixpath.basename(directory)
            if leaf.isidentifier():
                found.setdefault(leaf, set()).add(directory + "/")
        return {name: sorted(paths) for name, paths in found.items()}

    # -- where a module lives now -------------------------------------------------------------

    def locate(self, module: str, names: tuple[str, ...] = (), *, history_only: bool = False) -> list[Whereabouts]:
        """Where the backend module `module` (dotted, from the backend root) lives now: by a
        rename in git history, by a move of the spec, else by its name anywhere in the
        repository (only those defining `names`). Empty when nothing is known."""
        files = self.repository_files
        exists = files.__contains__
        old_places = [self.index.rel(module.replace(".", "/") + suffix) for suffix in (".py", "/__init__.py")]
        for old in old_places:
            new = self.history.current(old, exists)
            if new is not None and _same_package(old, new):
                return [self._where(new, f"{old} moved there in git history")]
        if history_only:
            return []
        if "." not in module:
            for move in self.spec.moves:
                if module_of(move.source) == module:
                    destination = self.index.rel(move.destination)
                    if destination in files and destination not in old_places:
                        return [self._where(destination, "where the plan moves it")]
        leaf = module.rsplit(".", 1)[-1]
        candidates = [p for p in self.repository_modules.get(leaf, []) if p not in old_places]
        candidates.sort(key=lambda p: (self.index.backend_rel(p) is None, p.endswith("/"), p))
        if names:
            defining = [p for p in candidates if self._defines(p, names)]
            candidates = defining or [p for p in candidates if p.endswith("/")]
        how = "the only module of that name" if len(candidates) == 1 else "a module of that name"
        return [self._where(p, how) for p in candidates[:3]]

    def _where(self, path: str, how: str) -> Whereabouts:
        rel = self.index.backend_rel(path)
        return Whereabouts(path, module_of(rel) if rel else None, how)

    def _defines(self, path: str, names: tuple[str, ...]) -> bool:
        """Whether a module file binds every name (read and parsed here: only a few candidates)."""
        if path.endswith("/"):
            return all(f"{path}{n}.py" in self.repository_files or f"{path}{n}/__init__.py" in self.repository_files
                       for n in names)
        bound = _bound_names(self.index.root / path)
        if bound is None:
            return False
        if "*" in bound:  # module __getattr__ or a star import: cannot tell, so it may
            return True
        directory = posixpath.dirname(path) + "/"
        return all(n in bound or (path.endswith("__init__.py") and (f"{directory}{n}.py" in self.repository_files))
                   for n in names)


def _same_package(old: str, new: str) -> bool:
    """A package's __init__.py renamed into a package of another name is git pairing two
    (often empty) files by content, not the package moving: trust only a rename that keeps the
    package's name."""
    if posixpath.basename(old) != "__init__.py":
        return True
    return posixpath.basename(posixpath.dirname(old)) == posixpath.basename(posixpath.dirname(new))


def _bound_names(path: object) -> set[str] | None:
    from conformance.analysis.pysource import parse_source

    try:
        data = path.read_bytes()  # type: ignore[attr-defined]
    except OSError:
        return None
    parsed = parse_source(str(path), data)
    if parsed.error:
        return None
    return set(parsed.bound) | ({"*"} if parsed.dynamic else set())


def name_origins(scan: object, info: object) -> NameOrigins:
    """The classifier for an ImportScan, told by the backend interpreter what is stdlib, which
    declared requirements are installed and under which import names."""
    from conformance.analysis.distributions import backend_requirements, normalize_distribution

    index: RepoIndex = scan.index  # type: ignore[attr-defined]
    spec: Spec = scan.spec  # type: ignore[attr-defined]
    requirements = backend_requirements(index, spec)
    distributions: dict[str, list[str]] = info.distributions  # type: ignore[attr-defined]
    wanted = {normalize_distribution(r) for r in requirements}
    declared = {name for name, dists in distributions.items()
                if any(normalize_distribution(d) in wanted for d in dists)}
    installed_dists = {normalize_distribution(d) for dists in distributions.values() for d in dists}
    uninstalled = [r for r in requirements if normalize_distribution(r) not in installed_dists]
    probed: dict[str, bool] = info.installed  # type: ignore[attr-defined]
    return NameOrigins(index, spec, backend=scan.backend_names, stdlib=info.stdlib,  # type: ignore[attr-defined]
                       declared=declared, uninstalled_requirements=uninstalled,
                       installed=lambda name: bool(probed.get(name)) or name in distributions,
                       python=info.python)  # type: ignore[attr-defined]
