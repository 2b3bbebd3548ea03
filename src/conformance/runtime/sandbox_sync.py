"""A sandbox kept between runs and brought up to date, instead of copied anew every run.

Creating thousands of files is the slowest part of a warm run on many disks (0.6 to 4 s for
5,000 files here). The kept copy lives in the run cache, outside the repository; each run first
makes it equal to what a fresh copy (sandbox_copy.make_sandbox) would be: files whose content id
(conformance.repo.content_keys) changed are copied again, files the backend's code wrote or
changed during an earlier run (their size, times or inode differ from what was recorded right
after copying; code cannot forge a change time) are restored, everything else is removed. One
run uses it at a time (an exclusive lock held until the process exits); a second run at the
same time, or another xdist worker, gets a fresh copy of its own.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import shutil
import stat
import sys
from pathlib import Path
from typing import IO

from conformance.repo.index import RepoIndex, parent_dirs
from conformance.runtime.sandbox_copy import copy_entry, finish_copy, wanted_files

MANIFEST = "manifest.pickle"
FORMAT = 1
Signature = tuple[int, int, int, int, int]

_held: dict[Path, IO[str]] = {}  # locks of kept sandboxes in use by this process, released at exit


def synced_sandbox(index: RepoIndex, ids: dict[str, str], base: Path) -> Path | None:
    """The backend root inside the kept copy under `base`, equal to a fresh copy of `index`'s
    files; None when another process holds it (the caller makes a fresh copy instead)."""
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    if base not in _held:
        lock = open(base / "lock", "w")  # noqa: SIM115 - held for the life of the process
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            return None
        _held[base] = lock
    tree = base / "tree"
    wanted = {path: ids.get(path, "") for path in wanted_files(index)}
    try:
        manifest = _sync(index, tree, wanted, _load(base / MANIFEST))
    except OSError:  # something in the old copy resists (permissions changed by the backend): start over
        _remove_tree(tree)
        manifest = _sync(index, tree, wanted, {})
    _save(base / MANIFEST, manifest)
    return finish_copy(index, tree)


def is_kept(base: Path) -> bool:
    """Whether an earlier run kept a sandbox under `base` (its manifest was written)."""
    return (base / MANIFEST).is_file()


def _sync(index: RepoIndex, tree: Path, wanted: dict[str, str], manifest: dict[str, tuple[str, Signature]]
          ) -> dict[str, tuple[str, Signature]]:
    """Make `tree` hold exactly the wanted files; return the new manifest."""
    tree.mkdir(parents=True, exist_ok=True)
    fresh_mode = _fresh_dir_mode(tree)
    kept: dict[str, tuple[str, Signature]] = {}
    wanted_dirs = parent_dirs(wanted)
    for current, dirnames, filenames in os.walk(tree, topdown=True):
        rel_dir = os.path.relpath(current, tree)
        rel_dir = "" if rel_dir == "." else rel_dir
        for name in list(dirnames):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            full = os.path.join(current, name)
            if os.path.islink(full):  # a link the backend made, or node_modules: never followed
                os.unlink(full)
                dirnames.remove(name)
            elif rel not in wanted_dirs:
                _remove_tree(Path(full))
                dirnames.remove(name)
            elif stat.S_IMODE(os.lstat(full).st_mode) != fresh_mode:  # the backend made it read-only?
                os.chmod(full, fresh_mode)
        for name in filenames:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            full = os.path.join(current, name)
            entry = manifest.get(rel)
            if wanted.get(rel) and entry is not None and entry[0] == wanted[rel] and entry[1] == _signature(full):
                kept[rel] = entry
            else:
                os.unlink(full)
    made: set[Path] = set()
    for rel, content in wanted.items():
        if rel in kept:
            continue
        target = tree / rel
        if target.is_dir() and not target.is_symlink():
            _remove_tree(target)  # a directory where the file belongs now
        if copy_entry(index, rel, tree, made):
            kept[rel] = (content, _signature(str(target)))
    return kept


def _fresh_dir_mode(tree: Path) -> int:
    """The mode a directory gets when a fresh copy makes it (the umask decides)."""
    probe = tree.parent / "mode-probe"  # beside the copy: no tracked name can collide
    if probe.exists():
        _remove_tree(probe)
    probe.mkdir()
    mode = stat.S_IMODE(probe.stat().st_mode)
    probe.rmdir()
    return mode


def _signature(path: str) -> Signature:
    st = os.lstat(path)
    return (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def remove_unless_held(tree: Path, base: Path) -> bool:
    """Remove `tree` unless a run holds the kept sandbox under `base` (inside it or not); whether
    it was removed."""
    lock_path = base / "lock"
    lock = None
    if lock_path.is_file():
        lock = open(lock_path, "w")  # noqa: SIM115 - closed below
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            return False
    try:
        _remove_tree(tree)
        return True
    except OSError:
        return False
    finally:
        if lock is not None:
            lock.close()


def forget_locks() -> None:
    """In a forked child: the parent's locks are not this process's to release or hold."""
    _held.clear()


def _remove_tree(path: Path) -> None:
    """Remove a directory the backend's code may have made read-only."""
    def writable_again(function: object, failed: str, _exc: object) -> None:
        parent = os.path.dirname(failed)
        os.chmod(parent, stat.S_IRWXU)
        if os.path.isdir(failed) and not os.path.islink(failed):
            os.chmod(failed, stat.S_IRWXU)
            remove(failed)
        else:
            os.unlink(failed)

    def remove(tree: str | Path) -> None:
        if sys.version_info >= (3, 12):  # onerror is deprecated there; onexc gets the same three arguments
            shutil.rmtree(tree, onexc=writable_again)
        else:
            shutil.rmtree(tree, onerror=writable_again)

    if path.exists() or path.is_symlink():
        remove(path)


def _load(path: Path) -> dict[str, tuple[str, Signature]]:
    try:
        version, manifest = pickle.loads(path.read_bytes())  # noqa: S301 - the user's own cache dir
    except Exception:  # missing or damaged: every file is copied again
        return {}
    return manifest if version == FORMAT and isinstance(manifest, dict) else {}


def _save(path: Path, manifest: dict[str, tuple[str, Signature]]) -> None:
    partial = path.with_suffix(".partial")
    partial.write_bytes(pickle.dumps((FORMAT, manifest), protocol=pickle.HIGHEST_PROTOCOL))
    partial.replace(path)
