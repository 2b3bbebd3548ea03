"""Fixtures the startup checks share: the indexed backend, the spec's environment with its
placeholders filled, and the app's one boot (the app checks judge it; the deploy check leaves a
refused connection it reports to them). A backend that cannot be indexed or a bad placeholder
fails the test with one line, not a traceback."""

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from conformance.repo.index import RepoError, RepoIndex
from conformance.runtime.sandbox_copy import PlaceholderError, expand_env

EnvTable = tuple[Mapping[str, str], str]  # (a spec table of environment variables, its name in messages)


@pytest.fixture(scope="session")
def backend_index(conformance_context) -> RepoIndex:
    try:
        return conformance_context.index()
    except RepoError as exc:
        pytest.fail(f"cannot index the backend: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def spec_env(conformance_context) -> Callable[..., dict[str, str]]:
    """A function: placeholder values -> the spec's test_env filled in, with further tables such
    as (spec.deploy.env, "deploy.env") on top."""

    def fill(values: Mapping[str, str], *more: EnvTable) -> dict[str, str]:
        try:
            env = expand_env(conformance_context.spec.test_env, values, "test_env")
            for table, name in more:
                env.update(expand_env(table, values, name))
        except PlaceholderError as exc:
            pytest.fail(f"conformance spec: {exc}", pytrace=False)
        return env

    return fill


@pytest.fixture(scope="session")
def app_run(conformance_context, backend_index, spec_env, sandbox_backend, tmp_path_factory, pytestconfig):
    """The app booted once per test run (shared by xdist workers): health, OpenAPI, SIGTERM."""
    from conformance.checks.app.boot import run_app
    from conformance.pytest_plugin.xdist_share import shared
    from conformance.runtime.dburl import database_values, throwaway_sqlite

    ctx = conformance_context

    def run():
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
        return run_app(backend=sandbox_backend, repo_prefix=backend_index.prefix, python=ctx.python,
                       app=ctx.spec.app, env=env, log_dir=logs, shown_env=shown, network=ctx.spec.network)

    return ctx.cached("app_run", lambda: shared(pytestconfig, "app_run", run))
