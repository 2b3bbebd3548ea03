"""The database guard (data/guard/sitecustomize.py) in a real child interpreter: what it refuses,
what it allows under another spelling, what it records, and that it chains to another
sitecustomize. The canary runs of the migration checks are in test_db_canaries.py."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conformance.proc.childenv import child_env
from conformance.proc.dbguard import Guard, GuardRecord, read_records
from conformance.proc.processes import free_port


def run_guarded(tmp_path: Path, code: str, database: str | None, *, extra_path: list[Path] = ()) -> tuple[
        subprocess.CompletedProcess[str], list[GuardRecord]]:
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    backend = tmp_path / "backend"
    backend.mkdir(exist_ok=True)
    script = backend / "connect.py"
    script.write_text(textwrap.dedent(code))
    report = tmp_path / "guard.jsonl"
    report.unlink(missing_ok=True)
    guard = Guard(database, (scratch,), backend, report)
    env = child_env({"PYTHONPATH": ":".join(str(p) for p in extra_path)} if extra_path else None,
                    python_path=[backend], guard=guard)
    done = subprocess.run([sys.executable, str(script)], cwd=scratch, env=env, capture_output=True, text=True,
                          timeout=60)
    return done, read_records(report)


def canary(path: Path) -> bytes:
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    connection.executemany("INSERT INTO users (name) VALUES (?)", [("ada",), ("grace",)])
    connection.commit()
    connection.close()
    return path.read_bytes()


def test_sqlite3_outside_the_scratch_dirs_is_refused_and_recorded(tmp_path: Path) -> None:
    before = canary(tmp_path / "canary.db")
    done, records = run_guarded(tmp_path, f"""\
        import sqlite3
        sqlite3.connect(":memory:").execute("SELECT 1")
        sqlite3.connect("inside.db").execute("CREATE TABLE t (x)")
        try:
            sqlite3.connect({str(tmp_path / 'canary.db')!r}).execute("DELETE FROM users")
        except ConnectionRefusedError as exc:
            print("REFUSED", exc)
        """, None)
    assert done.returncode == 0, done.stderr
    path = tmp_path / "backend" / "connect.py"
    assert f"REFUSED conformance guard: refused the connection to sqlite:///{tmp_path / 'canary.db'} made at " \
           f"{path}:5 (sqlite3)" in done.stdout
    assert (tmp_path / "canary.db").read_bytes() == before
    assert (tmp_path / "scratch" / "inside.db").is_file()
    assert records == [  # a scratch file is recorded (it is not the given database) but allowed
        GuardRecord(f"sqlite:///{tmp_path / 'scratch' / 'inside.db'}", "sqlite3", str(path), 3, "scratch"),
        GuardRecord(f"sqlite:///{tmp_path / 'canary.db'}", "sqlite3", str(path), 5, "refused")]


def test_sqlalchemy_and_psycopg_refuse_another_server_and_allow_the_given_one_in_any_spelling(
        tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    pytest.importorskip("sqlalchemy")
    port = free_port()  # nothing listens: an allowed connection fails in the driver, not in the guard
    done, records = run_guarded(tmp_path, f"""\
        import psycopg
        from sqlalchemy import create_engine

        def attempt(label, connect):
            try:
                connect()
                print(label, "ALLOWED")
            except ConnectionRefusedError as exc:
                print(label, "REFUSED")
            except Exception as exc:
                print(label, "ALLOWED", type(exc).__name__)

        attempt("engine-other", lambda: create_engine("postgresql+psycopg://app:secret@127.0.0.1:{port}/chatai").connect())
        attempt("engine-given", lambda: create_engine("postgresql+psycopg://u:pw@localhost:{port}/throwaway").connect())
        attempt("psycopg-other", lambda: psycopg.connect("host=127.0.0.1 port={port} dbname=chatai user=app"))
        attempt("psycopg-given", lambda: psycopg.connect("postgresql://u@[::1]:{port}/throwaway"))
        attempt("kwargs-given", lambda: psycopg.Connection.connect(host="localhost", port={port}, dbname="throwaway"))
        attempt("sqlite-given", lambda: create_engine("sqlite:///app.db").connect())
        attempt("sqlite-other", lambda: create_engine("sqlite:///{tmp_path / 'elsewhere.db'}").connect())
        """, f"postgres://u@127.0.0.1:{port}/throwaway")
    assert done.returncode == 0, done.stderr
    outcome = dict(line.split(" ", 2)[:2] for line in done.stdout.splitlines())
    assert outcome == {"engine-other": "REFUSED", "engine-given": "ALLOWED", "psycopg-other": "REFUSED",
                       "psycopg-given": "ALLOWED", "kwargs-given": "ALLOWED", "sqlite-given": "ALLOWED",
                       "sqlite-other": "REFUSED"}, done.stdout
    path = str(tmp_path / "backend" / "connect.py")
    assert [(r.url, r.via, r.line, r.refused) for r in records if r.refused] == [
        (f"postgresql://app@127.0.0.1:{port}/chatai", "SQLAlchemy postgresql+psycopg", 13, True),
        (f"postgresql://app@127.0.0.1:{port}/chatai", "psycopg", 15, True),
        (f"sqlite:///{tmp_path / 'elsewhere.db'}", "SQLAlchemy sqlite+pysqlite", 19, True),
    ]
    assert {r.path for r in records} == {path}
    assert [(r.line, r.verdict) for r in records if not r.refused] == [(14, "given"), (18, "scratch")]
    assert "secret" not in (tmp_path / "guard.jsonl").read_text()
    assert (tmp_path / "scratch" / "app.db").is_file()  # relative to the child's cwd, a scratch dir


def test_drivers_that_are_not_installed_here_are_patched_on_import(tmp_path: Path) -> None:
    """psycopg2, asyncpg and pymysql as stand-in modules with the real drivers' entry points."""
    fakes = tmp_path / "fakes"
    (fakes / "asyncpg").mkdir(parents=True)
    (fakes / "pymysql").mkdir()
    (fakes / "psycopg2.py").write_text("def connect(dsn=None, connection_factory=None, cursor_factory=None, **kw):\n"
                                       "    return 'psycopg2 connected'\n")
    (fakes / "asyncpg" / "__init__.py").write_text("from .connection import connect\n")
    (fakes / "asyncpg" / "connection.py").write_text("async def connect(dsn=None, **kw):\n"
                                                     "    return 'asyncpg connected'\n")
    (fakes / "pymysql" / "__init__.py").write_text("from . import connections\nconnect = connections.Connection\n")
    (fakes / "pymysql" / "connections.py").write_text("class Connection:\n    def __init__(self, **kw):\n"
                                                      "        self.kw = kw\n")
    done, records = run_guarded(tmp_path, """\
        import asyncio
        import asyncpg, psycopg2, pymysql

        def attempt(label, connect):
            try:
                connect()
                print(label, "ALLOWED")
            except ConnectionRefusedError:
                print(label, "REFUSED")

        attempt("psycopg2-other", lambda: psycopg2.connect("dbname=prod host=10.0.0.5"))
        attempt("psycopg2-given", lambda: psycopg2.connect(host="localhost", dbname="throwaway", user="u"))
        attempt("asyncpg-other", lambda: asyncio.run(asyncpg.connect("postgresql://app@127.0.0.1/chatai")))
        attempt("asyncpg-given", lambda: asyncio.run(asyncpg.connect(host="127.0.0.1", database="throwaway")))
        attempt("pymysql-other", lambda: pymysql.connect(host="127.0.0.1", database="chatai"))
        """, "postgresql+psycopg://u@127.0.0.1:5432/throwaway", extra_path=[fakes])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["psycopg2-other", "REFUSED", "psycopg2-given", "ALLOWED", "asyncpg-other",
                                   "REFUSED", "asyncpg-given", "ALLOWED", "pymysql-other", "REFUSED"]
    assert [(r.url, r.via, r.line) for r in records if r.refused] == [
        ("postgresql://10.0.0.5/prod", "psycopg2", 11),
        ("postgresql://app@127.0.0.1/chatai", "asyncpg", 13),
        ("mysql://127.0.0.1/chatai", "pymysql", 15)]


def test_another_sitecustomize_further_down_the_path_still_runs(tmp_path: Path) -> None:
    own = tmp_path / "own"
    own.mkdir()
    (own / "sitecustomize.py").write_text("import builtins\nbuiltins.BACKEND_SITECUSTOMIZE = True\n")
    done, _ = run_guarded(tmp_path, """\
        import sys, sqlite3
        print(BACKEND_SITECUSTOMIZE, sys.modules["sitecustomize"].__file__)
        print(sqlite3.connect.__module__)
        """, None, extra_path=[own])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", str(own / "sitecustomize.py"), "_conformance_dbguard"]


def test_the_guard_costs_nothing_heavy_at_startup(tmp_path: Path) -> None:
    """Only an import hook at startup: no driver, no json, no SQLAlchemy imported by the guard."""
    code = "import sys\nprint(' '.join(sorted(sys.modules)))\n"
    guarded, _ = run_guarded(tmp_path, code, None)
    plain = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True, text=True, timeout=60)
    assert guarded.returncode == 0, guarded.stderr
    added = set(guarded.stdout.split()) - set(plain.stdout.split())
    assert added <= {"sitecustomize", "importlib.util", "importlib._abc"}, added  # not even _conformance_dbguard


def test_records_are_one_per_cause_and_survive_a_cut_line(tmp_path: Path) -> None:
    report = tmp_path / "r.jsonl"
    line = {"url": "sqlite:///x.db", "via": "sqlite3", "path": "/b/env.py", "line": 3, "verdict": "refused"}
    report.write_text(json.dumps(line) + "\n" + json.dumps(line) + "\n" + '{"url": "sqlite:///y')
    assert read_records(report) == [GuardRecord("sqlite:///x.db", "sqlite3", "/b/env.py", 3, "refused")]
