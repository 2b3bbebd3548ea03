"""Telegram bots function properly: worker scripts parse, their packages are sound, and each
worker of the spec answers a message through a fake Telegram Bot API and stops cleanly."""

import pytest

from conformance.pytest_plugin.plugin import assert_conforms

pytestmark = pytest.mark.startup


def require_node(ctx):
    """Node.js >= 20 on PATH; without it the test fails (not errors) with one clear line."""
    from conformance.checks.workers.nodejs import node_problem

    problem = ctx.cached("node_problem", node_problem)
    if problem:
        pytest.fail(problem, pytrace=False)


@pytest.mark.rule("workers_syntax")
def test_worker_js_syntax(conformance_context, backend_index):
    """Every worker script parses (node --check) and its relative requires resolve."""
    from conformance.checks.workers.requires import check_requires
    from conformance.checks.workers.nodejs import check_syntax, js_files
    from conformance.checks.workers.common import workers_dir

    spec = conformance_context.spec
    files = js_files(backend_index, spec)
    if not files:
        pytest.skip(f"no JavaScript file under {workers_dir(backend_index, spec)}/: nothing to check "
                    "(test_required_dir reports a missing workers dir)")
    require_node(conformance_context)
    parsed = check_syntax(backend_index, spec)
    assert_conforms([*parsed.findings, *check_requires(backend_index, spec, files).findings])


@pytest.mark.rule("workers_packages")
def test_worker_packages(conformance_context, backend_index):
    from conformance.checks.workers.packages import check_packages

    assert_conforms(check_packages(backend_index, conformance_context.spec))


@pytest.mark.rule("workers_function")
def test_worker_functions(worker_process, conformance_context, backend_index, tmp_path, request):
    from conformance.checks.workers.message_roundtrip import WorkerRunInputs, check_worker

    ctx = conformance_context
    require_node(ctx)
    sandbox_backend = request.getfixturevalue("sandbox_backend")  # only copied once node is there
    assert_conforms(check_worker(WorkerRunInputs(
        spec=ctx.spec, worker=worker_process, sandbox_backend=sandbox_backend, repo_prefix=backend_index.prefix,
        python=ctx.python, tmp=tmp_path)))  # the spec's throwaway database, never --database-url
