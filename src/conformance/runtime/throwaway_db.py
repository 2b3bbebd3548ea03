"""Throwaway databases for the migration checks: made for one test, inspected without alembic, dropped.

Without a --database-url: a SQLite file in the test's tmp dir. With a server URL (PostgreSQL,
MySQL): CREATE DATABASE conformance_<random> there, through the BACKEND interpreter's SQLAlchemy
(never ours), dropped afterwards; the given database itself is only used to connect.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from conformance.proc.childenv import child_env
from conformance.proc.processes import ProcessTimeout, run


class DatabaseSetupError(Exception):
    """A throwaway database could not be created (or dropped) on the given server."""


@dataclass(frozen=True)
class Database:
    """A database the migration checks may destroy: made for one test, dropped afterwards."""

    url: str
    description: str
    sqlite_path: Path | None = None
    name: str | None = None  # server database we created
    admin_url: str | None = None  # where we created it (the --database-url as given)


_DB_HELPER = r"""
import json, sys
request = json.load(sys.stdin)
try:
    from sqlalchemy import create_engine, inspect, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool
    url = make_url(request["url"])
    action = request["action"]
    if action == "tables":
        engine = create_engine(url, poolclass=NullPool)
        with engine.connect() as connection:
            print(json.dumps({"tables": inspect(connection).get_table_names()}))
    else:
        engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        name = request["name"]
        quoted = engine.dialect.identifier_preparer.quote(name)
        with engine.connect() as connection:
            if action == "create":
                connection.execute(text("CREATE DATABASE " + quoted))
            else:
                if engine.dialect.name == "postgresql":
                    connection.execute(text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
                connection.execute(text("DROP DATABASE IF EXISTS " + quoted))
        print(json.dumps({"url": url.set(database=name).render_as_string(hide_password=False),
                          "dialect": engine.dialect.name}))
except Exception as exc:
    print(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}", file=sys.stderr)
    sys.exit(3)
"""


def redact(url: str) -> str:
    """The URL with its password replaced, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def is_sqlite(url: str) -> bool:
    return urlsplit(url).scheme.split("+", 1)[0] == "sqlite"


def _helper(python: str, request: dict[str, str], timeout: float) -> dict[str, object]:
    try:
        done = run([python, "-c", _DB_HELPER], env=child_env(), timeout=timeout,
                   stdin=json.dumps(request).encode())
    except (ProcessTimeout, OSError) as exc:
        raise DatabaseSetupError(str(exc)) from None
    if done.returncode != 0:
        raise DatabaseSetupError(last_lines(done.error_text, 3) or f"exit code {done.returncode}")
    return json.loads(done.text.strip().splitlines()[-1])


def create_database(url: str | None, tmp_dir: Path, *, python: str, timeout: float = 60.0) -> Database:
    """A fresh database for one test. Without `url`: a SQLite file in `tmp_dir`. With a SQLite
    `url`: a file in `tmp_dir` with the same driver (the given file is never touched). With a
    server `url` (PostgreSQL, MySQL): CREATE DATABASE conformance_<random> there, through the
    backend interpreter's SQLAlchemy; the given database itself is only used to connect."""
    if url is None or is_sqlite(url):
        scheme = urlsplit(url).scheme if url else "sqlite"
        path = (tmp_dir / "migrations.db").resolve()
        return Database(f"{scheme}:///{path}", "a throwaway SQLite file", sqlite_path=path)
    name = f"conformance_{secrets.token_hex(6)}"
    try:
        answer = _helper(python, {"action": "create", "url": url, "name": name}, timeout)
    except DatabaseSetupError as exc:
        raise DatabaseSetupError(
            f"cannot create a throwaway database {name} on {redact(url)} (--database-url) with {python}: {exc}. "
            "(each migration test creates a fresh database there, so the user needs CREATEDB; the given database "
            "itself is never migrated)") from None
    where = redact(url).rsplit("/", 1)[0]
    return Database(str(answer["url"]), f"the throwaway {answer['dialect']} database {name} on {where}",
                    name=name, admin_url=url)


def drop_database(database: Database, *, python: str, timeout: float = 60.0) -> None:
    """Drop a database made by create_database (SQLite files go with their tmp dir)."""
    if database.name is None or database.admin_url is None:
        return
    try:
        _helper(python, {"action": "drop", "url": database.admin_url, "name": database.name}, timeout)
    except DatabaseSetupError as exc:
        raise DatabaseSetupError(
            f"could not drop the throwaway database {database.name} on {redact(database.admin_url)}: {exc}") from None


def database_tables(database: Database, *, python: str, timeout: float = 60.0) -> list[str]:
    """Tables in the database, read without alembic or env.py."""
    if database.sqlite_path is not None:
        if not database.sqlite_path.exists():
            return []
        connection = sqlite3.connect(f"file:{quote(str(database.sqlite_path))}?mode=ro", uri=True)
        try:
            rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        finally:
            connection.close()
        return sorted(row[0] for row in rows)
    answer = _helper(python, {"action": "tables", "url": database.url}, timeout)
    return sorted(str(name) for name in answer["tables"])  # type: ignore[union-attr]


def last_lines(text: str, count: int) -> str:
    """The last `count` lines of a command's output."""
    return "\n".join(text.strip().splitlines()[-count:])
