"""Do the paths a script references exist in a fresh clone? Answered from the repository index.

A path is judged only inside the scopes the index covers (the backend and the spec's //
paths); outside them the answer is "unknown" and the reference is not reported.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from conformance.repo.index import RepoIndex
from conformance.analysis.shell_paths import Ref, ShellScan, join_path
from conformance.model.spec import Spec
from conformance.repo.index import index_scopes


@dataclass
class Missing:
    """A reference whose path does not exist in a fresh clone."""

    ref: Ref
    tried: str  # repo-relative path that does not exist
    suggestion: str | None = None  # a tracked file with the same name (its new place?)


class TrackedTree:
    """Existence of repo-relative paths in a fresh clone (the index), tri-state outside its scope."""

    def __init__(self, index: RepoIndex, scopes: Iterable[str] = ()):
        self.index = index
        self.scopes = [s.strip("/") for s in (index.prefix, *scopes) if s is not None]

    @classmethod
    def for_spec(cls, index: RepoIndex, spec: Spec) -> TrackedTree:
        """The backend plus the spec's // scopes (e.g. workers that live beside the backend)."""
        return cls(index, index_scopes(spec))

    def known(self, path: str) -> bool:
        if path.startswith("..") or path.startswith("/"):
            return False
        return any(not s or path == s or path.startswith(s + "/") for s in self.scopes) or \
            any(s.startswith(path + "/") for s in self.scopes if s)

    def exists(self, path: str) -> bool | None:
        if not self.known(path):
            return None
        return path == "" or path in self.index.files or path in self.index.dirs or \
            (self.index.root / path).is_symlink()

    def ignored(self, path: str) -> bool:
        """Git ignores it (or one of its parent dirs): created on the server, never shipped."""
        candidates = []
        parts = path.split("/")
        for n in range(1, len(parts) + 1):
            candidates.append("/".join(parts[:n]))
        try:
            matches = self.index.ignore_matches(candidates)
        except Exception:  # noqa: BLE001 - a failing ignore query must not turn into a finding
            return False
        return any(m is not None for m in matches.values())

    def same_name(self, path: str) -> list[str]:
        return self.index.named(posixpath.basename(path))

    def glob(self, pattern: str) -> bool:
        parts = pattern.split("/")
        for path in (*self.index.files, *self.index.dirs):
            segments = path.split("/")
            if len(segments) == len(parts) and all(
                    fnmatch.fnmatchcase(segment, part) for segment, part in zip(segments, parts, strict=True)):
                return True
        return False


def missing_references(scan: ShellScan, tree: TrackedTree, *, resolve: Callable[[str], str | None] | None = None,
                       fallback_base: str | None = None) -> list[Missing]:
    """References of `scan` that do not exist. `resolve` maps an analysis path to a repo path (None:
    unknown, skip); `fallback_base` is a second base dir tried for relative words."""
    resolve = resolve or (lambda p: p)
    missing: list[Missing] = []
    seen: set[tuple[int, str]] = set()
    for ref in scan.refs:
        if any(ref.path == o or ref.path.startswith(o + "/") for o in scan.optional):
            continue
        if ref.only_if is not None:
            gate = resolve(ref.only_if)
            # A local regular package or module shadows an installed one; a bare directory (a
            # namespace portion such as the migrations' alembic/) does not.
            if gate is None or not (tree.exists(gate + "/__init__.py") or tree.exists(gate + ".py")):
                continue
        paths = [resolve(p) for p in (ref.path, *ref.alternatives)]
        if any(p is None for p in paths[:1]):
            continue
        states = [tree.exists(p) for p in paths if p is not None]
        if any(s is None for s in states[:1]) or any(states):
            continue
        if fallback_base is not None and ref.kind in ("path", "dir") and ref.cwd != fallback_base:
            alt = resolve(join_path(fallback_base, ref.word))
            if alt is not None and tree.exists(alt):
                continue
        tried = paths[0] or ref.path
        if tree.ignored(tried):
            continue
        if (ref.line, tried) in seen:
            continue
        seen.add((ref.line, tried))
        same = [f for f in tree.same_name(tried) if f != tried]
        missing.append(Missing(ref, tried, same[0] if len(same) == 1 else None))
    return missing
