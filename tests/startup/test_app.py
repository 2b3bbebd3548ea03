"""FastAPI server starts without errors: the app boots under real uvicorn, answers its health
path, lists the spec's routes in /openapi.json and stops cleanly on SIGTERM.

The app is booted ONCE per test run (fixture `app_run` in conftest.py, shared by xdist workers):
boot, probes and the SIGTERM all happen in the fixture, and each test judges one part of the
record. So the tests are independent of their order (and of xdist's distribution), and a broken
app costs one startup timeout, not three.

The database is always a throwaway SQLite file from test_env ({tmp} is a fresh directory), even
with --database-url: this check does not migrate, and must not touch a real database.
"""

import pytest

from conformance.model.rules import RuleId
from conformance.pytest_plugin.plugin import assert_conforms

pytestmark = pytest.mark.startup

NOT_BOOTED = "the app did not boot (see test_app_boots_and_answers_health)"


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
