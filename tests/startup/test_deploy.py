"""Production deployment unchanged (plan Phase 4.3: Update deployment scripts): the start script
parses, passes shellcheck, names only paths that exist and really starts the app; the Dockerfile
names only paths that exist. (The workers' package.json scripts: test_workers.py::test_worker_packages.)"""

import pytest

from conformance.plugin import assert_conforms
from conformance.repo import RepoError
from conformance.sandbox import PlaceholderError, expand_env

pytestmark = pytest.mark.startup


@pytest.fixture(scope="module")
def deploy_index(conformance_context):
    try:
        return conformance_context.index()
    except RepoError as exc:
        pytest.fail(f"cannot index the backend: {exc}", pytrace=False)


def _phase(ctx):
    return ctx.spec.phase_of("deploy")


@pytest.mark.rule("deploy")
def test_start_script_exists(conformance_context, deploy_index):
    from conformance.startscript import check_script_exists

    assert_conforms(check_script_exists(deploy_index, conformance_context.spec, _phase(conformance_context)))


@pytest.mark.rule("deploy")
def test_start_script_syntax(conformance_context, deploy_index):
    from conformance.startscript import check_script_syntax

    assert_conforms(check_script_syntax(deploy_index, conformance_context.spec, _phase(conformance_context)))


@pytest.mark.rule("deploy")
def test_start_script_paths(conformance_context, deploy_index):
    from conformance.startscript import check_script_paths

    assert_conforms(check_script_paths(deploy_index, conformance_context.spec, _phase(conformance_context)))


@pytest.mark.rule("deploy")
def test_start_script_starts_app(conformance_context, deploy_index, tmp_path_factory):
    """Run the start script in a FRESH copy of the tracked files (not the shared sandbox, where
    other checks may have created logs/, data/ or a database: a fresh clone has none of them)."""
    from conformance.processes import free_port
    from conformance.sandbox import make_sandbox
    from conformance.startrun import check_start, run_start_script
    from conformance.startscript import start_script

    ctx = conformance_context
    found = start_script(deploy_index, ctx.spec)
    if found is None or found[0] not in deploy_index.files:
        pytest.skip("no start script (see test_start_script_exists)")
    sandbox_root = tmp_path_factory.mktemp("deploy-sandbox")
    backend = make_sandbox(deploy_index, sandbox_root)
    tmp = tmp_path_factory.mktemp("deploy-env")
    port = free_port()
    values = {"tmp": str(tmp), "python": ctx.python, "backend": str(backend), "port": str(port)}
    try:
        env = expand_env(ctx.spec.test_env, values, "test_env")
        env.update(expand_env(ctx.spec.deploy.env, values, "deploy.env"))
    except PlaceholderError as exc:
        pytest.fail(f"conformance spec: {exc}", pytrace=False)
    env.setdefault("DATABASE_URL", f"sqlite:///{tmp}/app.db")
    logs = tmp / "logs"
    logs.mkdir()
    result = run_start_script(sandbox_root=sandbox_root, script=found[0], env=env, python=ctx.python,
                              health_path=ctx.spec.app.health_path, port=port,
                              timeout=ctx.spec.deploy.ready_timeout, log_dir=logs)
    assert_conforms(check_start(result, _phase(ctx)))


@pytest.mark.rule("deploy")
def test_dockerfile_paths(conformance_context, deploy_index):
    from conformance.dockerfile import check_dockerfile

    assert_conforms(check_dockerfile(deploy_index, conformance_context.spec, _phase(conformance_context)))
