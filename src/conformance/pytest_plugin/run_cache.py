"""Results kept between runs, keyed by content (conformance.pytest_plugin.incremental says what).

One directory per (suite version, Python version) under the user's cache directory
(`--conformance-cache-dir`, env CONFORMANCE_CACHE_DIR, default $XDG_CACHE_HOME or ~/.cache, then
backend-conformance), one subdirectory per backend and spec, one file per result. Never inside
the repository under test. An entry is the pickled tuple (MAGIC, FORMAT, key, value); it is
written to a temp file beside it and renamed into place, so a reader (another xdist worker,
another terminal) sees the old entry or the new one, never half of one. A key that differs is a
plain miss; an entry that cannot be read or was written by another format is ignored with one
warning and rebuilt. The suite's own source is part of every key: an edited suite never reuses
results of the old code. A slot no run used for MAX_AGE_DAYS is removed (prune_stale).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import conformance
from conformance.model.findings import ConformanceWarning

MAGIC = "backend-conformance-cache"
FORMAT = 1
MISS = object()


def default_cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "backend-conformance"


def code_version() -> str:
    """Digest of the suite's own Python source: results of other code are never reused."""
    h = hashlib.sha1(conformance.__version__.encode())
    package = Path(conformance.__file__).parent
    for path in sorted(package.rglob("*.py")):
        try:
            h.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
        except OSError:
            h.update(b"unreadable")
    return h.hexdigest()


class RunCache:
    """The cache of one backend and spec. `root` None: off (every load misses, saves are dropped)."""

    def __init__(self, root: Path | None, slot: str):
        self.root = root
        self.warned = False
        self.code = code_version() if root is not None else ""
        if root is not None:
            self.directory = root / f"{conformance.__version__}-py{sys.version_info[0]}.{sys.version_info[1]}" / slot

    @property
    def enabled(self) -> bool:
        return self.root is not None

    def mark_used(self) -> None:
        """Stamp the slot as used now (prune_stale removes slots no run used for a month)."""
        if self.root is None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            (self.directory / USED).touch()
        except OSError:
            pass  # a read-only cache: saves warn once, this stays silent

    def _path(self, name: str) -> Path:
        return self.directory / f"{name}.pickle"

    def load(self, name: str, key: str) -> Any:
        """The value saved under `name` for `key`, else MISS."""
        if self.root is None:
            return MISS
        path = self._path(name)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return MISS
        except OSError as exc:
            self._warn(f"{path} cannot be read ({exc.strerror})")
            return MISS
        try:
            magic, version, stored_key, value = pickle.loads(data)  # noqa: S301 - the user's own cache dir
        except Exception:  # any damage: truncated, garbage, classes that no longer exist
            self._warn(f"{path} is damaged")
            return MISS
        if magic != MAGIC or version != FORMAT:
            self._warn(f"{path} was written by another version of the suite")
            return MISS
        return value if stored_key == self._full(key) else MISS

    def save(self, name: str, key: str, value: Any) -> None:
        if self.root is None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            data = pickle.dumps((MAGIC, FORMAT, self._full(key), value), protocol=pickle.HIGHEST_PROTOCOL)
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=self.directory)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(tmp, self._path(name))
            except BaseException:
                os.unlink(tmp)
                raise
        except (OSError, pickle.PicklingError, TypeError, AttributeError) as exc:
            self._warn(f"{self.directory} cannot be written ({getattr(exc, 'strerror', None) or exc})")

    def _full(self, key: str) -> str:
        return f"{self.code}:{key}"

    def _warn(self, what: str) -> None:
        if not self.warned:
            self.warned = True
            warnings.warn(ConformanceWarning(f"conformance cache: {what}; ignored, the results are computed "
                                             "again and the cache rebuilt"), stacklevel=3)


def cache_for(root: Path | None, backend: Path, spec_source: Path, repo_root: Path | None) -> tuple[RunCache, str | None]:
    """The cache of this backend and spec under `root`, and a note when it had to be turned off
    (a directory inside the repository under test: the suite writes nothing there)."""
    if root is None:
        return RunCache(None, ""), None
    root = root.expanduser().resolve()
    for inside in {backend.resolve(), *([repo_root.resolve()] if repo_root else [])}:
        if root.is_relative_to(inside):
            return RunCache(None, ""), (f"cache directory {root} is inside the repository under test ({inside}); "
                                        "the cache is off (the suite writes nothing there)")
    slot = hashlib.sha1(f"{backend.resolve()}\0{spec_source.resolve()}".encode()).hexdigest()[:16]
    cache = RunCache(root, slot)
    cache.mark_used()
    prune_stale(root, keep=cache.directory)
    return cache, None


USED = "used"  # a slot's stamp file: its modification time is the slot's last run
MAX_AGE_DAYS = 30


def prune_stale(root: Path, keep: Path, max_age_days: float = MAX_AGE_DAYS) -> list[Path]:
    """Remove the slots (one backend and spec, any suite or Python version) under `root` that no
    run used for `max_age_days`: a moved or deleted checkout would otherwise keep its copy and
    parses forever. A slot whose kept sandbox another run holds is left alone. Returns what went."""
    import time

    from conformance.runtime.sandbox_sync import remove_unless_held

    cutoff = time.time() - max_age_days * 86400
    removed = []
    for version in _subdirs(root):
        for slot in _subdirs(version):
            if slot == keep or _last_used(slot) >= cutoff:
                continue
            if remove_unless_held(slot, slot / "sandbox"):
                removed.append(slot)
        try:
            version.rmdir()  # only when it is empty now
        except OSError:
            pass
    return removed


def _subdirs(path: Path) -> list[Path]:
    try:
        return [entry for entry in path.iterdir() if entry.is_dir() and not entry.is_symlink()]
    except OSError:
        return []


def _last_used(slot: Path) -> float:
    for stamp in (slot / USED, slot):  # a slot of a suite version that wrote no stamp: the directory's time
        try:
            return stamp.stat().st_mtime
        except OSError:
            continue
    return float("inf")  # unreadable: not ours to judge
