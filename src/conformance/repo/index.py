"""The repository under test, indexed once: which files exist as git sees them, and what is ignored.

Paths are POSIX strings relative to the repository root (git's top level), the form that
`git mv` commands in fix hints need. A backend that is not in a git work tree falls back to a
filesystem walk that reads .gitignore files with pathspec. Names that are not valid UTF-8 are
kept byte-exact (surrogate escapes, as os.fsdecode does), so every path opens the file it names.

Symlinks are entries like any other file, as git records them (a link to a directory is one
entry, never descended into). A link whose target lies outside the backend is listed in
`links_out` and never followed: no check reads, copies or imports what it points to. The plan
says nothing about symlinks, so a link is not a finding in itself; its name is judged by the
structure rules like any file, and the report header names every link that was not followed.
Following it would make the result depend on the machine (a fresh clone elsewhere does not
have the target) and would read files the user never pointed the suite at.
"""

from __future__ import annotations

import functools
import os
import posixpath
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from conformance.model.spec import Spec
from conformance.repo.git import Git, GitError, IgnoreMatch, find_toplevel

ALWAYS_PRUNED = {".git", ".hg", ".svn"}


class RepoError(Exception):
    """The backend cannot be indexed (missing, unreadable, git failing)."""


@dataclass
class RepoIndex:
    root: Path
    backend: Path
    prefix: str
    files: frozenset[str]
    git: Git | None = None
    shallow: bool = False
    ignored_dirs: tuple[str, ...] = ()
    tracked_ignored: tuple[str, ...] = ()
    has_commits: bool = True
    links_out: dict[str, str] = field(default_factory=dict)  # path -> link target, outside the backend
    unreadable_dirs: tuple[str, ...] = ()  # walk mode: dirs that could not be listed
    _walk_ignore: _WalkIgnore | None = None
    _by_name: dict[str, dict[str, list[str]]] = field(default_factory=dict, repr=False)
    scopes: tuple[str, ...] = ()  # git mode: the pathspecs `files` was listed for
    dirs: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        self.dirs = parent_dirs(self.files)

    @property
    def is_git(self) -> bool:
        return self.git is not None

    def describe(self) -> str:
        """One line for the report header: where the file list comes from."""
        if self.git is None:
            return (f"{self.backend} is not in a git work tree: files come from a filesystem walk, "
                    f".gitignore files read with pathspec ({len(self.files)} files)")
        if not self.has_commits:
            return (f"files staged in {self.root}, a git repository without commits ({len(self.files)} files; "
                    "history checks skipped)")
        shallow = ", shallow clone: history checks skipped" if self.shallow else ""
        return f"files tracked by git in {self.root} ({len(self.files)} files{shallow})"

    def notes(self) -> list[str]:
        """Header lines about entries the suite lists but does not look into."""
        notes = []
        if self.links_out:
            shown = ", ".join(f"{shown_path(p)} -> {shown_path(t)}" for p, t in sorted(self.links_out.items())[:5])
            more = f" and {len(self.links_out) - 5} more" if len(self.links_out) > 5 else ""
            notes.append(f"{len(self.links_out)} symlink(s) point outside the backend; their names are checked, "
                         f"their targets are never read or followed: {shown}{more}")
        if self.unreadable_dirs:
            shown = ", ".join(shown_path(d) for d in self.unreadable_dirs[:5])
            notes.append(f"{len(self.unreadable_dirs)} director(ies) cannot be read, their files are not checked "
                         f"(fix the permissions): {shown}")
        return notes

    @functools.cached_property
    def repository_files(self) -> frozenset[str]:
        """Every tracked file of the repository, outside the backend too (asked of git once,
        and only by the checks that look for what left the backend); the index's own files
        when the backend is not in git."""
        if self.git is None:
            return self.files
        try:
            return frozenset(self.git.all_tracked())
        except GitError:
            return self.files

    @functools.cached_property
    def repository_dirs(self) -> frozenset[str]:
        return parent_dirs(self.repository_files)

    def named(self, name: str, *, repository: bool = False) -> list[str]:
        """Files with this file name (sorted, vendored node_modules left out): where a moved file
        went. The index's files, or with `repository` every tracked file of the repository."""
        key = "repository" if repository else "index"
        if key not in self._by_name:
            by_name: dict[str, list[str]] = {}
            for path in sorted(self.repository_files if repository else self.files):
                if "node_modules/" not in path:
                    by_name.setdefault(posixpath.basename(path), []).append(path)
            self._by_name[key] = by_name
        return list(self._by_name[key].get(name, [])) if name else []

    def link_out(self, path: str) -> str | None:
        """The target of `path` when it is a symlink out of the backend (never followed), else None."""
        return self.links_out.get(path)

    def rel(self, spec_path: str) -> str:
        """Repo-relative path of a spec path (backend-relative, or repo-relative with //)."""
        if spec_path.startswith("//"):
            return spec_path[2:]
        return posixpath.join(self.prefix, spec_path) if self.prefix else spec_path

    def backend_rel(self, path: str) -> str | None:
        """Backend-relative form of a repo path, or None when it lies outside the backend."""
        if not self.prefix:
            return path
        if path == self.prefix:
            return ""
        if path.startswith(self.prefix + "/"):
            return path[len(self.prefix) + 1 :]
        return None

    def is_dir(self, path: str) -> bool:
        return path == "" or path in self.dirs

    def under(self, directory: str) -> list[str]:
        if not directory:
            return sorted(self.files)
        start = directory.rstrip("/") + "/"
        return sorted(p for p in self.files if p.startswith(start))

    def backend_files(self) -> list[str]:
        return self.under(self.prefix)

    def ignore_matches(self, paths: list[str]) -> dict[str, IgnoreMatch | None]:
        """For each path (existing or not), the ignore rule that applies to it, if any."""
        if self.git is not None:
            return self.git.check_ignore(paths)
        assert self._walk_ignore is not None
        return {p: self._walk_ignore.match(p) for p in paths}


def index_scopes(spec: Spec) -> list[str]:
    """Repo-relative scopes the index must cover beyond the backend (spec paths with //)."""
    paths = [spec.workers, *(d.path for d in spec.dirs), *(m.to for m in spec.moves)]
    return sorted({p[2:].split("/")[0] for p in paths if p.startswith("//") and p[2:]})


def parent_dirs(files: Iterable[str]) -> frozenset[str]:
    """Every directory that holds one of `files`, at any depth (git tracks no directories)."""
    dirs: set[str] = set()
    for path in files:
        parent = posixpath.dirname(path)
        while parent and parent not in dirs:
            dirs.add(parent)
            parent = posixpath.dirname(parent)
    return frozenset(dirs)


def build_index(backend: Path, extra_scopes: Iterable[str] = ()) -> RepoIndex:
    """Index the backend (plus repo-relative scopes such as //workers) once per session."""
    backend = backend.resolve()
    if not backend.is_dir():
        raise RepoError(f"backend root {backend} is not a directory")
    top = find_toplevel(backend)
    if top is None:
        ignore = _WalkIgnore(backend)
        files = frozenset(ignore.walk())
        return RepoIndex(root=backend, backend=backend, prefix="", files=files,
                         ignored_dirs=tuple(ignore.ignored_dirs), _walk_ignore=ignore,
                         links_out=_links_out(backend, "", files), unreadable_dirs=tuple(ignore.unreadable))
    prefix = backend.relative_to(top).as_posix()
    prefix = "" if prefix == "." else prefix
    scopes = sorted({prefix or ".", *extra_scopes})
    git = Git(top)
    try:
        files = frozenset(git.tracked(scopes))
        return RepoIndex(
            root=top, backend=backend, prefix=prefix, files=files, git=git,
            shallow=git.is_shallow(),
            has_commits=git.has_commits(),
            ignored_dirs=tuple(git.ignored_dirs(scopes)),
            tracked_ignored=tuple(git.tracked_but_ignored(scopes)),
            links_out=_links_out(top, prefix, files), scopes=tuple(scopes),
        )
    except GitError as exc:
        raise RepoError(str(exc)) from None


def _links_out(root: Path, prefix: str, files: Iterable[str]) -> dict[str, str]:
    """Symlinks among `files` whose target resolves outside the backend (outside the repository
    for paths of // scopes). Only the link itself is inspected (lstat, readlink); a loop or a
    dangling link inside the backend is not "out" (reading it fails with a clear error)."""
    backend = root / prefix if prefix else root
    found = {}
    for path in files:
        full = root / path
        if not os.path.islink(full):
            continue
        inside_backend = not prefix or path == prefix or path.startswith(prefix + "/")
        boundary = backend if inside_backend else root
        try:
            target = os.readlink(full)
            real = Path(os.path.realpath(full))
        except (OSError, ValueError):
            continue
        if not real.is_relative_to(boundary):
            found[path] = target
    return found


def shown_path(path: str) -> str:
    """A path as text that can always be printed and stored: undecodable bytes become \\xNN."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class _WalkIgnore:
    """.gitignore semantics for a tree outside git: nested files, deepest rule wins."""

    def __init__(self, root: Path):
        self.root = root
        self.specs: dict[str, object] = {}
        self.lines: dict[str, list[str]] = {}
        self.ignored_dirs: list[str] = []
        self.unreadable: list[str] = []

    def _load(self, rel_dir: str) -> None:
        import pathspec

        path = self.root / rel_dir / ".gitignore"
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return
        self.specs[rel_dir] = pathspec.GitIgnoreSpec.from_lines(lines)
        self.lines[rel_dir] = lines

    def match(self, path: str, is_dir: bool = False) -> IgnoreMatch | None:
        """Walk the .gitignore files from the path's own directory up; the deepest verdict wins."""
        parent = posixpath.dirname(path)
        while True:
            spec = self.specs.get(parent)
            if spec is not None:
                rel = path[len(parent) + 1 :] if parent else path
                result = spec.check_file(rel + ("/" if is_dir else ""))  # type: ignore[attr-defined]
                if result.include is not None:
                    if not result.include:
                        return None
                    source = posixpath.join(parent, ".gitignore") if parent else ".gitignore"
                    pattern = spec.patterns[result.index].pattern or ""  # type: ignore[attr-defined]
                    return IgnoreMatch(source, _line_of(self.lines[parent], pattern), pattern)
            if not parent:
                return None
            parent = posixpath.dirname(parent)

    def walk(self) -> list[str]:
        """Files as `git add` would see them: a symlink (to a file or a directory, even a loop or
        out of the tree) is one entry and is never descended into."""
        files: list[str] = []
        for current, dirnames, filenames in os.walk(self.root, onerror=self._unreadable):
            rel_dir = Path(current).relative_to(self.root).as_posix()
            rel_dir = "" if rel_dir == "." else rel_dir
            if ".gitignore" in filenames:
                self._load(rel_dir)
            kept = []
            for name in sorted(dirnames):
                rel = posixpath.join(rel_dir, name) if rel_dir else name
                if name in ALWAYS_PRUNED:
                    continue
                if os.path.islink(os.path.join(current, name)):
                    if not self.match(rel):
                        files.append(rel)
                    continue
                if self.match(rel, is_dir=True):
                    self.ignored_dirs.append(rel)
                    continue
                kept.append(name)
            dirnames[:] = kept
            for name in filenames:
                rel = posixpath.join(rel_dir, name) if rel_dir else name
                if not self.match(rel):
                    files.append(rel)
        return files

    def _unreadable(self, error: OSError) -> None:
        if error.filename is None:
            return
        rel = Path(error.filename).relative_to(self.root).as_posix()
        self.unreadable.append(f"{rel or '.'} ({error.strerror})")


def _line_of(lines: list[str], pattern: str) -> int:
    """1-based line of the last line holding `pattern` (pathspec reports pattern indexes)."""
    for number in range(len(lines), 0, -1):
        if lines[number - 1].strip() == pattern:
            return number
    return 0


def shell_quote(path: str) -> str:
    """A path as one shell word that bash takes back byte for byte: shlex quoting for printable
    names (spaces, accents, quotes), ANSI-C $'...' for control characters and bytes that are
    not UTF-8, and ./ before a leading dash so no command reads the name as an option."""
    if path.startswith("-"):
        path = "./" + path
    if path.isprintable():  # lone surrogates (undecodable bytes) are not printable
        return shlex.quote(path)
    out = []
    for char in path:
        if "\udc80" <= char <= "\udcff":
            out.append(f"\\x{ord(char) - 0xDC00:02x}")
        elif char in "\\'":
            out.append("\\" + char)
        elif not char.isprintable():
            out.append("".join(f"\\x{b:02x}" for b in char.encode("utf-8")))
        else:
            out.append(char)
    return "$'" + "".join(out) + "'"
