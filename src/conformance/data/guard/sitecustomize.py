"""Database guard of the conformance suite, loaded before the backend's code (PYTHONPATH).

Why: the startup checks run the backend's own code (alembic's env.py, the app, the start
script). That code decides by itself where it connects; a backend whose env.py ignores
DATABASE_URL would migrate the developer's or CI's real database. This module refuses, BEFORE a
statement runs, every database connection except the throwaway database the check handed out
(and SQLite files inside the check's scratch directories), and records each refusal as a JSON
line in the report file the suite names, so the suite can say where and what.

Active only when imported as `sitecustomize` with CONFORMANCE_DB_GUARD set (JSON: "allow": the
allowed URLs, "dirs": directories where SQLite files may live, "backend": the tree whose frames
locate a connection, "report": the JSON-lines file, "net": the network policy). Stdlib only; at
startup it merely installs an import hook: drivers are patched right after they are imported
(sqlite3, psycopg2, psycopg, asyncpg, pymysql; SQLAlchemy engines at connect), and so are
socket, asyncio's event loop and uvloop, for every other connection (_conformance_netguard.py). Afterwards any other `sitecustomize` further
down sys.path runs, so a backend's own keeps working. Written for Python >= 3.8.
"""

from __future__ import annotations

import os
import sys

ENV = "CONFORMANCE_DB_GUARD"
WATCHED = ("sqlite3", "psycopg2", "psycopg", "asyncpg", "pymysql", "sqlalchemy", "socket", "asyncio.base_events",
           "uvloop", "threading")


def _patch(name: str, module: object) -> None:
    """The policy and the patches live in _conformance_dbguard (beside this file), loaded only now."""
    import _conformance_dbguard

    _conformance_dbguard.patch(name, module)


class _Loader:
    """Runs the real loader, puts it back on the module, then patches the module."""

    def __init__(self, loader: object, name: str):
        self.loader, self.name = loader, name

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        self.loader.exec_module(module)
        module.__loader__ = self.loader
        if getattr(module, "__spec__", None) is not None:
            module.__spec__.loader = self.loader
        _patch(self.name, module)

    def __getattr__(self, name: str):
        return getattr(self.loader, name)


class _Finder:
    """A meta path finder that only wraps the loaders of the modules in WATCHED."""

    busy: set = set()

    def find_spec(self, name, path=None, target=None):
        if name not in WATCHED or name in self.busy:
            return None
        self.busy.add(name)
        try:
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(name, path, target)
                if spec is not None:
                    break
            else:
                return None
        finally:
            self.busy.discard(name)
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _Loader(spec.loader, name)
        return spec


def install() -> None:
    for name in WATCHED:
        if name in sys.modules:
            _patch(name, sys.modules[name])
    sys.meta_path.insert(0, _Finder())


def chain() -> None:
    """Run the next `sitecustomize` on sys.path (the backend's or its venv's own)."""
    import importlib.machinery
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


if __name__ == "sitecustomize":
    if os.environ.get(ENV):
        install()
    chain()
