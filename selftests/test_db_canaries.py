"""Canaries for the database guard: a backend whose alembic env.py ignores DATABASE_URL and builds
its URL from DB_HOST/DB_NAME/... (defaulting to a canary database outside the sandbox that holds
a table with rows). The startup checks must leave the canary untouched and name it, with the
line of env.py that connected; the same backend with test_env mapping DB_* to the {db_*}
placeholders passes the migration checks as it is.

PostgreSQL: set CONFORMANCE_TEST_DATABASE_URL (CI sets it from `.ci/postgres start DIR`); the
canary database is created there and dropped at the end. Without it those tests are skipped.
"""

from __future__ import annotations

import os
import re
import secrets
import sqlite3
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.model.spec_loader import load_spec
from selftests.builder import Repo
from selftests.trees import PROJECT, reference_repo

PART = "startup/test_migrations.py"
MIGRATION_TESTS = {"test_single_head", "test_upgrade_downgrade_roundtrip", "test_models_match_migrations"}
ENV_PY = "backend/alembic/env.py"
CONNECT_LINE = "with connectable.connect() as connection:"
POSTGRES_URL = os.environ.get("CONFORMANCE_TEST_DATABASE_URL")
needs_postgres = pytest.mark.skipif(not POSTGRES_URL, reason="CONFORMANCE_TEST_DATABASE_URL is not set (CI sets it "
                                    "from `.ci/postgres start DIR`); the PostgreSQL canary is skipped")


def db_vars_env_py(repo: Repo, *, host: str = "", port: str = "", name: str, user: str = "",
                   password: str = "") -> int:
    """Make env.py ignore DATABASE_URL: its URL comes from DB_* (defaults: the canary). Returns
    the line of env.py that connects."""
    code = textwrap.dedent(f'''\
        import os as _os

        from sqlalchemy.engine import URL as _URL


        def _database_url() -> str:
            """DB_HOST/DB_NAME/... like many backends; SQLite when there is no host."""
            host = _os.environ.get("DB_HOST", {host!r})
            name = _os.environ.get("DB_NAME", {name!r})
            if not host:
                return f"sqlite:///{{name}}"
            return _URL.create("postgresql+psycopg", username=_os.environ.get("DB_USER", {user!r}) or None,
                               password=_os.environ.get("DB_PASSWORD", {password!r}) or None, host=host,
                               port=int(_os.environ.get("DB_PORT", {port!r}) or 5432),
                               database=name).render_as_string(hide_password=False)


        database_url = _database_url()''')
    repo.edit(ENV_PY, "database_url = get_settings().database_url", code).commit("env.py reads DB_* variables")
    return next(n for n, line in enumerate((repo.root / ENV_PY).read_text().splitlines(), 1) if CONNECT_LINE in line)


def spec_with_db_vars(tmp_path: Path, backend: Path) -> Path:
    """The project's spec with an absolute backend and test_env mapping DB_* to the placeholders."""
    text = (PROJECT / "pyproject.toml").read_text(encoding="utf-8")
    conf = text[text.index("[tool.conformance]"):]
    conf, n_backend = re.subn(r'(?m)^backend = ".*"$', f'backend = "{backend}"', conf)
    conf, n_env = re.subn(r"(?m)^\[tool\.conformance\.test_env\]$", "[tool.conformance.test_env]\n"
                          'DB_HOST = "{db_host}"\nDB_PORT = "{db_port}"\nDB_NAME = "{db_name}"\n'
                          'DB_USER = "{db_user}"\nDB_PASSWORD = "{db_password}"', conf)
    assert (n_backend, n_env) == (1, 1), "pyproject.toml's [tool.conformance] changed shape"
    path = tmp_path / "spec.toml"
    path.write_text(conf, encoding="utf-8")
    load_spec(path)
    return path


def refused(line: int, url: str, given: str, via: str, command: str = "`alembic upgrade heads`") -> str:
    return (f"{ENV_PY}:{line} connects to {url}, not to the `DATABASE_URL` it was given ({given}): the suite "
            f"refused the connection before any statement ran ({command}, {via})")


# -- SQLite ---------------------------------------------------------------------------------------

@pytest.fixture
def sqlite_canary(tmp_path: Path) -> Path:
    """A SQLite database outside any sandbox, with a table and rows."""
    path = tmp_path / "outside" / "canary.db"
    path.parent.mkdir()
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
    connection.executemany("INSERT INTO users (email) VALUES (?)", [("ada@example.com",), ("grace@example.com",)])
    connection.commit()
    connection.close()
    return path


def test_startup_checks_never_touch_a_sqlite_canary_and_name_it(run_suite, tmp_path: Path,
                                                                 sqlite_canary: Path) -> None:
    repo = reference_repo(tmp_path / "repo")
    line = db_vars_env_py(repo, name=str(sqlite_canary))
    before = sqlite_canary.read_bytes()
    result = run_suite(repo.root / "backend", "-k", "migrations or deploy or app", part="startup")
    assert sqlite_canary.read_bytes() == before
    # the drift check starts with the same upgrade: it names the round trip's finding as a warning
    assert result.failed == {"test_upgrade_downgrade_roundtrip", "test_start_script_starts_app"}, result.output
    assert result.outcomes["test_models_match_migrations"] == "passed"
    url = f"sqlite:///{sqlite_canary}"
    via = "SQLAlchemy sqlite+pysqlite"
    message = result.messages["test_upgrade_downgrade_roundtrip"]
    assert "1 finding:" in message  # the refusal, not also the failed step it causes
    assert refused(line, url, "a throwaway SQLite file", via) in message
    assert "fix:  make backend/alembic/env.py read DATABASE_URL" in message
    assert 'DB_HOST = "{db_host}"' in message
    assert "on a throwaway SQLite file" not in message
    assert f"{ENV_PY}:{line} is reported by test_upgrade_downgrade_roundtrip: connects to {url}" in result.output
    deploy = result.messages["test_start_script_starts_app"]
    assert "1 finding:" in deploy
    assert refused(line, url, "a throwaway SQLite file", via, "run of backend/start_production.sh") in deploy


def test_the_drift_check_alone_reports_the_refusal_itself(run_suite, tmp_path: Path, sqlite_canary: Path) -> None:
    repo = reference_repo(tmp_path / "repo")
    line = db_vars_env_py(repo, name=str(sqlite_canary))
    before = sqlite_canary.read_bytes()
    result = run_suite(repo.root / "backend", "-k", "models_match", part=PART)
    assert sqlite_canary.read_bytes() == before
    assert result.failed == {"test_models_match_migrations"}, result.output
    message = result.messages["test_models_match_migrations"]
    assert "1 finding:" in message
    assert refused(line, f"sqlite:///{sqlite_canary}", "a throwaway SQLite file", "SQLAlchemy sqlite+pysqlite") in message


def test_env_py_reading_db_vars_passes_when_test_env_maps_them(run_suite, tmp_path: Path,
                                                                sqlite_canary: Path) -> None:
    repo = reference_repo(tmp_path / "repo")
    db_vars_env_py(repo, name=str(sqlite_canary))
    before = sqlite_canary.read_bytes()
    config = spec_with_db_vars(tmp_path, repo.root / "backend")
    result = run_suite(None, "--conformance-config", str(config), part=PART)
    assert result.outcomes == dict.fromkeys(MIGRATION_TESTS, "passed"), result.output
    assert sqlite_canary.read_bytes() == before


# -- PostgreSQL -----------------------------------------------------------------------------------

def _libpq(url: str) -> str:
    """A SQLAlchemy URL as psycopg takes it. psycopg, not SQLAlchemy, reads the canary: SQLAlchemy
    modules first imported inside pytester's in-process run are unloaded after it."""
    return re.sub(r"^postgres(?:ql)?\+\w+://", "postgresql://", url)


@pytest.fixture
def postgres_canary() -> Iterator[tuple[str, str]]:
    """(name, url) of a canary database on the CI server with a table and rows; dropped afterwards."""
    import psycopg
    from sqlalchemy.engine import make_url

    assert POSTGRES_URL
    name = f"canary_{secrets.token_hex(4)}"
    with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(_libpq(url)) as connection:
        connection.execute("CREATE TABLE users (id integer PRIMARY KEY, email text)")
        connection.execute("INSERT INTO users VALUES (1, 'ada@example.com'), (2, 'grace@example.com')")
    try:
        yield name, url
    finally:
        with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


def canary_state(url: str) -> tuple[list[str], list[tuple[object, ...]]]:
    import psycopg

    with psycopg.connect(_libpq(url)) as connection:
        tables = connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                    "ORDER BY tablename").fetchall()
        rows = connection.execute("SELECT id, email FROM users ORDER BY id").fetchall()
    return [t[0] for t in tables], [tuple(r) for r in rows]


@needs_postgres
def test_migration_checks_never_touch_a_postgresql_canary(run_suite, tmp_path: Path, postgres_server: None,
                                                          postgres_canary: tuple[str, str]) -> None:
    from sqlalchemy.engine import make_url

    name, canary_url = postgres_canary
    parts = make_url(canary_url)
    repo = reference_repo(tmp_path / "repo")
    line = db_vars_env_py(repo, host=parts.host or "127.0.0.1", port=str(parts.port or ""), name=name,
                          user=parts.username or "", password=parts.password or "")
    before = canary_state(canary_url)
    result = run_suite(repo.root / "backend", f"--database-url={POSTGRES_URL}", part=PART)
    assert canary_state(canary_url) == before == (["users"], [(1, "ada@example.com"), (2, "grace@example.com")])
    assert result.failed == {"test_upgrade_downgrade_roundtrip"}, result.output  # drift: a warning naming it
    shown = f"postgresql://{parts.username + '@' if parts.username else ''}{parts.host or '127.0.0.1'}" \
            f":{parts.port or 5432}/{name}"
    assert f"{ENV_PY}:{line} is reported by test_upgrade_downgrade_roundtrip: connects to {shown}" in result.output
    for test in result.failed:
        message = result.messages[test]
        assert "1 finding:" in message
        assert f"{ENV_PY}:{line} connects to {shown}, not to the `DATABASE_URL` it was given (the throwaway " \
               "postgresql database conformance_" in message
        assert "(`alembic upgrade heads`, SQLAlchemy postgresql+psycopg)" in message
        if parts.password:
            assert parts.password not in message


@needs_postgres
def test_env_py_reading_db_vars_passes_on_postgresql(run_suite, tmp_path: Path, postgres_server: None,
                                                     postgres_canary: tuple[str, str]) -> None:
    from sqlalchemy.engine import make_url

    name, canary_url = postgres_canary
    parts = make_url(canary_url)
    repo = reference_repo(tmp_path / "repo")
    db_vars_env_py(repo, host=parts.host or "127.0.0.1", port=str(parts.port or ""), name=name,
                   user=parts.username or "", password=parts.password or "")
    before = canary_state(canary_url)
    config = spec_with_db_vars(tmp_path, repo.root / "backend")
    result = run_suite(None, "--conformance-config", str(config), f"--database-url={POSTGRES_URL}", part=PART)
    assert result.outcomes == dict.fromkeys(MIGRATION_TESTS, "passed"), result.output
    assert canary_state(canary_url) == before
