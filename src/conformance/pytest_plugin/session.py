"""Per-process state of a conformance run: the spec, the backend, and results built once.

Every fixture asks the context, so the repo is indexed and scanned once per process.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conformance.repo.index import RepoError, RepoIndex, build_index
from conformance.model.spec import Spec


@dataclass
class Context:
    """Per-process state: the spec, the backend, and the lazily built, cached repo index."""

    spec: Spec
    backend: Path
    python: str = sys.executable
    database_url: str | None = None
    contracts_file: Path | None = None
    contracts: list[Any] = field(default_factory=list)
    _index: RepoIndex | None = None
    _error: str | None = field(default=None)
    _cache: dict[str, Any] = field(default_factory=dict)
    cache_root: Path | None = None  # the run cache between runs (None: off)
    cache_note: str | None = None  # why the run cache is off, when it was asked for
    _store: Any = None
    _locks: dict[str, threading.RLock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)
    _prefetches: list[threading.Thread] = field(default_factory=list)
    _warmup: int | None = None  # pid of the child warming the kept sandbox (runtime.sandbox_warmup)

    def store(self) -> Any:
        """The cache kept between runs (conformance.pytest_plugin.run_cache), off when not asked for."""
        with self._lock("store"):
            return self._make_store()

    def _make_store(self) -> Any:
        if self._store is None:
            from conformance.pytest_plugin.run_cache import cache_for

            try:
                root: Path | None = self.index().root
            except RepoError:
                root = None
            self._store, note = cache_for(self.cache_root, self.backend, self.spec.source, root)
            self.cache_note = note or self.cache_note
        return self._store

    def content(self) -> Any:
        """Content ids of the indexed files (conformance.repo.content_keys), asked once per process."""
        from conformance.repo.content_keys import content_keys

        return self.cached("content_keys", lambda: content_keys(self.index()))

    def cached(self, key: str, build: Any) -> Any:
        """Compute once per process: every fixture that needs the scan shares one result. Safe
        from two threads (a prefetch and the tests): the second waits for the first's result."""
        if key in self._cache:
            return self._cache[key]
        with self._lock(key):
            if key not in self._cache:
                self._cache[key] = build()
        return self._cache[key]

    def _lock(self, key: str) -> threading.RLock:
        with self._guard:
            return self._locks.setdefault(key, threading.RLock())

    def prefetch(self, key: str, build: Any) -> None:
        """Start computing `key` in a background thread (it waits on children most of the time),
        so the tests that need it find it ready; a failure is left for the test to meet again."""
        def work() -> None:
            try:
                self.cached(key, build)
            except BaseException:  # noqa: BLE001 - the fixture computes it again and reports
                pass

        thread = threading.Thread(target=work, name=f"conformance-prefetch-{key}", daemon=True)
        self._prefetches.append(thread)
        thread.start()

    def release(self) -> None:
        """Drop the results (thousands of parsed files): pytest's last gc.collect passes then walk a
        small heap instead of this process's whole scan."""
        from conformance.runtime import sandbox_warmup

        self.stop_prefetches()
        sandbox_warmup.stop(self._warmup)
        self._warmup = None
        self._cache.clear()

    def start_warmup(self) -> None:
        """Warm the kept sandbox in a forked child while pytest configures and collects (serial
        runs with the run cache on; nothing else runs in this process yet, so forking is safe).
        Only a copy kept by an earlier run: a first copy is made at once when the session starts
        (it is quicker than the fork, and the importability child waits for it)."""
        from conformance.runtime import sandbox_sync, sandbox_warmup

        try:
            store = self.store()
            if store.enabled and sandbox_sync.is_kept(store.directory / "sandbox"):
                self._warmup = sandbox_warmup.start(self.index(), self.content().ids, store.directory / "sandbox")
        except (RepoError, OSError):
            self._warmup = None  # the fixtures meet the problem again and report it

    def finish_warmup(self) -> None:
        from conformance.runtime import sandbox_warmup

        sandbox_warmup.finish(self._warmup)
        self._warmup = None

    def prefetching(self, key: str) -> bool:
        """Whether a prefetch of `key` was started in this process."""
        return any(thread.name == f"conformance-prefetch-{key}" for thread in self._prefetches)

    def stop_prefetches(self) -> None:
        """End of the run: stop what a prefetch still runs (an interrupted run), children included."""
        from conformance.proc.processes import allow_running, stop_running

        if not any(thread.is_alive() for thread in self._prefetches):
            return
        stop_running()
        try:
            for thread in self._prefetches:
                thread.join(timeout=10)
        finally:
            allow_running()

    def interpreter(self) -> Any:
        """The backend interpreter's facts, or an InterpreterError instance when it cannot run."""
        from conformance.checks.imports.scan import namespace_candidates
        from conformance.runtime.interpreter import InterpreterError, probe

        from conformance.pytest_plugin import incremental

        def run(names: list[str]) -> Any:
            try:
                return probe(self.python, names)
            except InterpreterError as exc:
                return exc

        def build() -> Any:
            names = namespace_candidates(self.index())
            return incremental.probe(self, names, lambda: run(names))

        return self.cached("interpreter", build)

    def import_scan(self) -> Any:
        from conformance.analysis.importnames import name_origins
        from conformance.checks.imports.scan import scan
        from conformance.runtime.interpreter import InterpreterError

        from conformance.pytest_plugin import incremental

        def build() -> Any:
            info = self.interpreter()
            installed = {} if isinstance(info, InterpreterError) else info.installed
            known, save = incremental.known_parses(self)
            result = scan(self.index(), self.spec, installed, None if isinstance(info, InterpreterError) else info,
                          known=known)
            save(result)
            if not isinstance(info, InterpreterError):
                result.origins = name_origins(result, info)
            return result

        return self.cached("import_scan", build)

    def index(self) -> RepoIndex:
        with self._lock("index"):
            return self._make_index()

    def _make_index(self) -> RepoIndex:
        if self._error:
            raise RepoError(self._error)
        if self._index is None:
            from conformance.repo.index import index_scopes

            try:
                self._index = build_index(self.backend, index_scopes(self.spec))
            except RepoError as exc:
                self._error = str(exc)
                raise
        return self._index

    def structure(self) -> Any:
        from conformance.checks.structure import evaluate

        from conformance.pytest_plugin import incremental

        return self.cached("structure", lambda: incremental.structure(self, lambda: evaluate(self.spec, self.index())))


CONTEXT = pytest.StashKey[Context]()


def serial_run(config: pytest.Config) -> bool:
    """Neither an xdist worker nor a controller that starts workers: the run that may start
    children early (with xdist the workers already run side by side)."""
    return not hasattr(config, "workerinput") and not getattr(config.option, "numprocesses", None)


def runs_test(session: pytest.Session, name: str) -> bool:
    """A test of that name (any parameters) is selected in this session: a check may then leave a
    cause that test reports to it (one cause, one failure)."""
    return any(getattr(item, "originalname", "") == name for item in session.items)
