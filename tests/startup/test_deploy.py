"""Production deployment unchanged (plan Phase 4.3: Update deployment scripts): the start script
parses, passes shellcheck, names only paths that exist, really starts the app on the PORT it is
given and installs nothing at start-up; the Dockerfile
names only paths that exist. The workers' package.json scripts: test_workers.py::test_worker_packages."""

import pytest

from conformance.model.rules import RuleId
from conformance.pytest_plugin.plugin import assert_conforms, runs_test

pytestmark = pytest.mark.startup


def _phase(ctx):
    return ctx.spec.phase_of(RuleId.DEPLOY)


@pytest.mark.rule("deploy")
def test_start_script_exists(conformance_context, backend_index):
    from conformance.checks.deploy.script_static import check_script_exists

    assert_conforms(check_script_exists(backend_index, conformance_context.spec, _phase(conformance_context)))


@pytest.mark.rule("deploy")
def test_start_script_syntax(conformance_context, backend_index):
    from conformance.checks.deploy.script_static import check_script_syntax

    assert_conforms(check_script_syntax(backend_index, conformance_context.spec, _phase(conformance_context)))


@pytest.mark.rule("deploy")
def test_start_script_paths(conformance_context, backend_index):
    from conformance.checks.deploy.script_static import check_script_paths

    assert_conforms(check_script_paths(backend_index, conformance_context.spec, _phase(conformance_context)))


@pytest.fixture(scope="session")
def deploy_run(conformance_context, backend_index, spec_env, tmp_path_factory, pytestconfig):
    """One run of the start script per test run (shared by xdist workers), in a FRESH copy of the
    tracked files (not the shared sandbox, where other checks may have created logs/, data/ or a
    database: a fresh clone has none of them). None when there is no start script."""
    from conformance.runtime.dburl import database_values, throwaway_sqlite
    from conformance.proc.processes import free_port
    from conformance.runtime.sandbox_copy import make_sandbox
    from conformance.pytest_plugin.xdist_share import shared
    from conformance.checks.deploy.script_run import run_start_script
    from conformance.checks.deploy.script_static import start_script

    ctx = conformance_context
    found = start_script(backend_index, ctx.spec)
    if found is None or found[0] not in backend_index.files:
        return None

    def run():
        sandbox_root = tmp_path_factory.mktemp("deploy-sandbox")
        backend = make_sandbox(backend_index, sandbox_root)
        tmp = tmp_path_factory.mktemp("deploy-env")
        port = free_port()
        values = {"tmp": str(tmp), "python": ctx.python, "backend": str(backend), "port": str(port),
                  **database_values(throwaway_sqlite(tmp))}
        env = spec_env(values, (ctx.spec.deploy.env, "deploy.env"))
        env.setdefault("DATABASE_URL", f"sqlite:///{tmp}/app.db")
        logs = tmp / "logs"
        logs.mkdir()
        return run_start_script(sandbox_root=sandbox_root, script=found[0], env=env, python=ctx.python,
                                health_path=ctx.spec.app.health_path, port=port,
                                timeout=ctx.spec.deploy.ready_timeout, log_dir=logs, network=ctx.spec.network)

    return ctx.cached("deploy_run", lambda: shared(pytestconfig, "deploy_run", run))


@pytest.mark.rule("deploy")
def test_start_script_starts_app(conformance_context, deploy_run, request):
    from conformance.checks.deploy.script_run import check_start

    if deploy_run is None:
        pytest.skip("no start script (see test_start_script_exists)")
    assert_conforms(check_start(deploy_run, _phase(conformance_context), _reported_by_app_check(deploy_run, request)))


def _reported_by_app_check(deploy_run, request) -> dict:
    """Refused connections the app check of this run reports too (the script boots the same app):
    one cause, one failure. Only looked up when the script was refused something and that check
    is selected (then the app's one boot is shared, not repeated)."""
    owner = "test_app_boots_and_answers_health"
    if not deploy_run.refused or not runs_test(request.session, owner):
        return {}
    return {record.cause: owner for record in request.getfixturevalue("app_run").refused}


@pytest.mark.rule("deploy")
def test_start_script_installs_nothing(conformance_context, deploy_run):
    """pip/uv/poetry/pipenv installs at start-up change whoever runs the script; the run stopped
    them (installguard.py), this names the lines."""
    from conformance.checks.deploy.install_guard import check_installs

    if deploy_run is None:
        pytest.skip("no start script (see test_start_script_exists): nothing ran, nothing to read")
    assert_conforms(check_installs(deploy_run.script, deploy_run.script_text, deploy_run.installs,
                                   _phase(conformance_context)))


@pytest.mark.rule("deploy")
def test_dockerfile_paths(conformance_context, backend_index):
    from conformance.checks.deploy.dockerfile import check_dockerfile

    assert_conforms(check_dockerfile(backend_index, conformance_context.spec, _phase(conformance_context)))
