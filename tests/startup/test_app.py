"""FastAPI server starts without errors: the app boots under real uvicorn, answers its health
path, lists the spec's routes in /openapi.json and stops cleanly on SIGTERM.

The app is booted ONCE per module (fixture `app_run`): boot, probes and the SIGTERM all happen
in the fixture, and each test judges one part of the record. So the tests are independent of
their order (and of xdist's distribution), and a broken app costs one startup timeout, not three.

The database is always a throwaway SQLite file from test_env ({tmp} is a fresh directory), even
with --database-url: this check does not migrate, and must not touch a real database.
"""

from pathlib import Path

import pytest

from conformance.runtime.dburl import database_values, throwaway_sqlite
from conformance.model.rules import RuleId
from conformance.pytest_plugin.plugin import assert_conforms
from conformance.runtime.sandbox_copy import expand_env

pytestmark = pytest.mark.startup

NOT_BOOTED = "the app did not boot (see test_app_boots_and_answers_health)"


@pytest.fixture(scope="module")
def app_run(conformance_context, backend_index, spec_env, sandbox_backend, tmp_path_factory):
    from conformance.checks.app.boot import run_app

    ctx = conformance_context
    tmp = tmp_path_factory.mktemp("app")
    values = {"tmp": str(tmp), "python": ctx.python, "backend": str(sandbox_backend),
              **database_values(throwaway_sqlite(tmp))}
    env = spec_env(values)
    env.setdefault("DATABASE_URL", throwaway_sqlite(tmp))
    logs = tmp / "logs"
    logs.mkdir()
    shown_tmp = Path("/tmp/conformance")
    shown = expand_env(ctx.spec.test_env, {**values, "tmp": str(shown_tmp), "backend": ".",
                                           **database_values(throwaway_sqlite(shown_tmp))}, "test_env")
    return run_app(backend=sandbox_backend, repo_prefix=backend_index.prefix, python=ctx.python, app=ctx.spec.app,
                   env=env, log_dir=logs, shown_env=shown, network=ctx.spec.network)


@pytest.mark.rule("app_boots")
def test_app_boots_and_answers_health(app_run, conformance_context):
    from conformance.checks.app.boot import check_boot

    assert_conforms(check_boot(app_run, conformance_context.spec.phase_of(RuleId.APP_BOOTS)))


@pytest.mark.rule("app_boots")
def test_openapi_lists_routes(app_run, conformance_context):
    from conformance.checks.app.boot import check_routes

    if not app_run.healthy:
        pytest.skip(NOT_BOOTED)
    spec = conformance_context.spec
    assert_conforms(check_routes(app_run, spec.app.routes, spec.phase_of(RuleId.APP_BOOTS)))


@pytest.mark.rule("app_boots")
def test_app_shuts_down_cleanly(app_run, conformance_context):
    from conformance.checks.app.boot import check_shutdown

    if not app_run.healthy:
        pytest.skip(NOT_BOOTED)
    assert_conforms(check_shutdown(app_run, conformance_context.spec.phase_of(RuleId.APP_BOOTS)))
