"""A disposable copy of the backend's tracked files, where startup checks may run freely.

Servers, start scripts and migrations write logs, data and caches next to themselves. The
suite never writes into the repository under test, so they run in a copy: the files a fresh
clone would have, which is also what "production deployment unchanged" means.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Mapping
from pathlib import Path

from conformance.repo.index import RepoIndex


class PlaceholderError(Exception):
    """A spec value names a placeholder the check does not provide."""


def make_sandbox(index: RepoIndex, dest: Path) -> Path:
    """Copy the tracked files of the backend (and the spec's // scopes) into `dest`; return
    the backend root inside the copy. `node_modules` dirs are linked, not copied (npm ci made
    them; copying is slow and they are not tracked).

    The copy never reaches out of the backend: a symlink whose target lies outside it is left
    out (see repo.py; the header names it), a link into the backend is recreated relative, so
    it points into the copy. Files that cannot be read are left out too (the import checks
    report unreadable Python files), and so are .py files whose names are not UTF-8: no import
    can name them, and the tools that walk the copy (grimp, deptry) cannot handle them."""
    made: set[Path] = set()  # one mkdir per directory, not per file: 5,000 files copy in 0.5 s, not 4
    for path in wanted_files(index):
        copy_entry(index, path, dest, made)
    return finish_copy(index, dest)


def finish_copy(index: RepoIndex, dest: Path) -> Path:
    """Link node_modules into a copy's files; the backend root inside it (made if it held nothing)."""
    link_node_modules(index, dest)
    backend = dest / index.prefix if index.prefix else dest
    backend.mkdir(parents=True, exist_ok=True)
    return backend


def wanted_files(index: RepoIndex) -> list[str]:
    """The index's files a copy holds: not a link out of the backend, not a .py file whose name
    is not printable (see make_sandbox)."""
    return [path for path in index.files
            if index.link_out(path) is None and not (path.endswith(".py") and not path.isprintable())]


def copy_entry(index: RepoIndex, path: str, dest: Path, made: set[Path]) -> bool:
    """Copy one file or symlink of the index into `dest`; False when it cannot be read."""
    source = index.root / path
    target = dest / path
    try:
        mode = os.lstat(source).st_mode
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        if stat.S_ISLNK(mode):
            link = os.readlink(source)
            if os.path.isabs(link):  # into this repository: point into the copy instead
                inside = Path(os.path.realpath(source)).relative_to(index.root.resolve())
                link = os.path.relpath(dest / inside, target.parent)
            target.symlink_to(link)
        elif stat.S_ISREG(mode):
            shutil.copyfile(source, target)  # content and mode only: times and xattrs are two more
            os.chmod(target, stat.S_IMODE(mode))  # syscalls per file, and nothing here reads them
        else:
            return False
    except (OSError, ValueError):
        return False
    return True


def link_node_modules(index: RepoIndex, dest: Path) -> None:
    """node_modules dirs are linked, not copied (npm ci made them; copying is slow, they are not tracked)."""
    for ignored in index.ignored_dirs:
        if Path(ignored).name == "node_modules" and (index.root / ignored).is_dir():
            link = dest / ignored
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(index.root / ignored, target_is_directory=True)


def expand(template: str, values: Mapping[str, str], where: str) -> str:
    """Fill {placeholders} in a spec value; an unknown one is a clear error, not a KeyError."""
    try:
        return template.format_map(dict(values))
    except KeyError as exc:
        known = ", ".join("{" + k + "}" for k in sorted(values))
        raise PlaceholderError(f"{where}: unknown placeholder {{{exc.args[0]}}} in {template!r}; known: {known}") \
            from None
    except (ValueError, IndexError) as exc:
        raise PlaceholderError(f"{where}: malformed placeholder in {template!r}: {exc}") from None


def expand_env(env: Mapping[str, str], values: Mapping[str, str], where: str) -> dict[str, str]:
    return {key: expand(value, values, f"{where}.{key}") for key, value in env.items()}
