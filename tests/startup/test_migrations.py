"""Database migrations work: one alembic head, a clean upgrade/downgrade round trip, models match.

Every test gets a database of its own: a throwaway SQLite file by default, or, with
--database-url, a fresh database created on that server and dropped afterwards (the given
database itself is never migrated or downgraded).
"""

import warnings

import pytest

from conformance.runtime.dburl import database_values, throwaway_sqlite
from conformance.model.findings import ConformanceWarning
from conformance.checks.migrations.drift import drift
from conformance.checks.migrations.heads import single_head
from conformance.checks.migrations.roundtrip import roundtrip
from conformance.runtime.alembic_runner import Alembic
from conformance.runtime.throwaway_db import DatabaseSetupError, create_database, drop_database
from conformance.pytest_plugin.plugin import assert_conforms, runs_test

pytestmark = pytest.mark.startup


@pytest.fixture(scope="module")
def alembic(conformance_context, backend_index, spec_env, sandbox_backend, tmp_path_factory):
    """The backend's alembic, run by its interpreter in the sandbox copy with the spec's test_env;
    each command's {db_url}, {db_host}, ... are the database of its test (checked here with a
    stand-in, so a bad placeholder fails every test with one line)."""
    ctx = conformance_context
    tmp = tmp_path_factory.mktemp("migrations-env")
    values = {"tmp": str(tmp), "python": ctx.python, "backend": str(sandbox_backend)}
    env = spec_env({**values, **database_values(throwaway_sqlite(tmp))})
    return Alembic.from_spec(ctx.spec, python=ctx.python, backend=sandbox_backend, env=env,
                             repo_prefix=backend_index.prefix, values=values, scratch=(tmp,))


@pytest.fixture
def migration_database(conformance_context, tmp_path):
    """A database only this test uses: SQLite in tmp_path, or a fresh one on --database-url's server."""
    ctx = conformance_context
    try:
        database = create_database(ctx.database_url, tmp_path, python=ctx.python)
    except DatabaseSetupError as exc:
        database, problem = None, str(exc)
    if database is None:
        pytest.fail(problem, pytrace=False)
    try:
        yield database
    finally:
        try:
            drop_database(database, python=ctx.python)
        except DatabaseSetupError as exc:
            warnings.warn(ConformanceWarning(str(exc)), stacklevel=1)


@pytest.mark.rule("migrations_single_head")
def test_single_head(alembic):
    assert_conforms(single_head(alembic))


@pytest.mark.rule("migrations_roundtrip")
def test_upgrade_downgrade_roundtrip(alembic, migration_database):
    assert_conforms(roundtrip(alembic, migration_database))


@pytest.mark.rule("migrations_drift")
def test_models_match_migrations(alembic, migration_database, request):
    # env.py connecting elsewhere: the round trip, which starts with the same upgrade, reports it
    owner = "test_upgrade_downgrade_roundtrip"
    assert_conforms(drift(alembic, migration_database, owner if runs_test(request.session, owner) else None))
