"""Fixtures the startup checks share: the indexed backend, and the spec's environment with its
placeholders filled. A backend that cannot be indexed or a bad placeholder fails the test with
one line, not a traceback."""

from collections.abc import Callable, Mapping

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
