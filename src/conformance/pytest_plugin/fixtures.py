"""Session fixtures of the conformance suite: the shared, expensive results the tests judge.

Registered as a plugin by conformance.pytest_plugin.plugin. Each fixture computes once per process (and,
for the heaviest, once per xdist run via conformance.pytest_plugin.xdist_share).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from conformance.model.rules import RuleId
from conformance.pytest_plugin.session import CONTEXT, Context
from conformance.repo.index import RepoError
from conformance.model.spec import Spec


@pytest.fixture(scope="session")
def conformance_context(pytestconfig: pytest.Config) -> Context:
    ctx = pytestconfig.stash.get(CONTEXT, None)
    if ctx is None:
        pytest.fail("no conformance spec: pass --conformance-config FILE, write conformance.toml "
                    f"(python -m conformance init) or add [tool.conformance] to "
                    f"{pytestconfig.rootpath / 'pyproject.toml'}", pytrace=False)
    return ctx


def _indexed(build: Any) -> Any:
    """Run a build that needs the repo index; an unindexable backend fails with the reason."""
    try:
        return build()
    except RepoError as exc:
        pytest.fail(f"cannot index the backend: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def structure_report(conformance_context: Context) -> Any:
    return _indexed(conformance_context.structure)


@pytest.fixture(scope="session")
def import_scan(conformance_context: Context) -> Any:
    return _indexed(conformance_context.import_scan)


@pytest.fixture(scope="session")
def resolution_findings(import_scan: Any) -> dict[str, list[Any]]:
    """Unresolved imports by group, computed once: test_imports_resolve and importability use it."""
    from conformance.checks.imports.resolution import check_resolution

    return check_resolution(import_scan)


@pytest.fixture(scope="session")
def backend_interpreter(conformance_context: Context) -> Any:
    """InterpreterInfo of the backend's python; dependent tests fail with the reason when it cannot run."""
    from conformance.runtime.interpreter import InterpreterError

    info = conformance_context.interpreter()
    if isinstance(info, InterpreterError):
        pytest.fail(str(info), pytrace=False)
    return info


@pytest.fixture(scope="session")
def dependency_report(conformance_context: Context, import_scan: Any, backend_interpreter: Any,
                      pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from conformance.checks.imports.dependencies import check_dependencies

    from conformance.pytest_plugin.xdist_share import shared

    from conformance.pytest_plugin import incremental

    first_party = import_scan.backend_names | import_scan.backend_like_imports()
    # deptry walks the sandbox copy: the indexed files, never a symlink out of the backend
    return conformance_context.cached("dependency_report", lambda: incremental.persistent(
        conformance_context, "dependencies", incremental.dependencies_key(conformance_context, import_scan,
                                                                          first_party),
        lambda: shared(pytestconfig, "dependency_report", lambda: check_dependencies(
            _sandbox(conformance_context, tmp_path_factory), conformance_context.spec, backend_interpreter,
            first_party, import_scan.repo_path, index=import_scan.index))))


def _sandbox(ctx: Context, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The backend's copy for this process: the run cache's kept copy brought up to date when the
    cache is on and no other run holds it, else a fresh copy in this run's temp dir."""
    from conformance.runtime.sandbox_copy import make_sandbox
    from conformance.runtime.sandbox_sync import synced_sandbox

    index = _indexed(ctx.index)

    def build() -> Path:
        store = ctx.store()
        if store.enabled:
            kept = synced_sandbox(index, ctx.content().ids, store.directory / "sandbox")
            if kept is not None:
                return kept
        return make_sandbox(index, tmp_path_factory.mktemp("sandbox"))

    return ctx.cached("sandbox", build)


@pytest.fixture(scope="session")
def missing_contract_roots(conformance_context: Context, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Root packages of the contracts file with no directory in the sandbox copy (what a clone has)."""
    from conformance.checks.imports.contracts_missing_roots import missing_roots
    from conformance.pytest_plugin import incremental

    ctx = conformance_context
    if ctx.contracts_file is None:
        return ()
    return ctx.cached("missing_roots", lambda: incremental.persistent(
        ctx, "missing_roots", incremental.contracts_key(ctx, _indexed(ctx.import_scan)),
        lambda: missing_roots(ctx.contracts_file, _sandbox(ctx, tmp_path_factory))))


@pytest.fixture(scope="session")
def sandbox_backend(conformance_context: Context, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the backend's tracked files: code that runs the backend runs there, never in the repo."""
    return _sandbox(conformance_context, tmp_path_factory)


def importability_report(ctx: Context, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The importability child's report for every production module, once per process; modules
    whose own source, import closure and environment are unchanged come from the run cache."""
    from conformance.pytest_plugin import incremental
    from conformance.runtime.dburl import database_values, throwaway_sqlite
    from conformance.runtime.sandbox_copy import expand_env
    from conformance.checks.imports.importability_run import check_importability

    def build() -> Any:
        scan = _indexed(ctx.import_scan)
        files = [rel for rel in scan.sources if importable_file(ctx.spec, rel)]

        def run(todo: list[str]) -> Any:
            tmp = tmp_path_factory.mktemp("import-env")
            env = expand_env(ctx.spec.test_env, {"tmp": str(tmp), **database_values(throwaway_sqlite(tmp))},
                             "test_env")
            env.setdefault("DATABASE_URL", throwaway_sqlite(tmp))  # the guard's allowed database, as for the app
            return check_importability(_sandbox(ctx, tmp_path_factory), todo, python=ctx.python, env=env)

        return incremental.importability(ctx, scan, files, run)

    return ctx.cached("importability_report", build)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the importability child in a background thread as soon as the import scan exists:
    it runs on another core while the static checks run here (serial runs only: with xdist the
    workers already run side by side, and one of them computes it for all)."""
    config = session.config
    ctx = config.stash.get(CONTEXT, None)
    factory = getattr(config, "_tmp_path_factory", None)
    if ctx is None or factory is None or hasattr(config, "workerinput") or config.option.collectonly:
        return
    if any("importability" in getattr(item, "fixturenames", ()) for item in session.items):
        factory.getbasetemp()  # made here: its first call empties the dir, not safe from two threads
        # The scan itself is left to the tests' thread: CPython 3.11 cannot parse in two threads
        # at once ("AST constructor recursion depth mismatch"), and pytest parses too.
        ctx.after_scan.append(lambda: ctx.prefetch("importability_report", lambda: importability_report(ctx, factory)))


@pytest.fixture(scope="session")
def importability(conformance_context: Context, import_scan: Any,
                  dependency_report: Any, resolution_findings: dict[str, list[Any]],
                  tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Any:
    """A function: group -> CheckResult of the modules of that group that fail to import."""
    from conformance.checks.imports.importability_verdicts import importability_results, static_claims

    def build() -> Any:
        report = importability_report(conformance_context, tmp_path_factory)
        structure = _indexed(conformance_context.structure)  # a shadowed module is the clash check's finding
        others = {"test_module_package_clash": structure.result(RuleId.MODULE_PACKAGE_CLASH).findings}
        if not dependency_report.skipped:
            others["test_dependencies_declared[missing]"] = dependency_report.findings.get("missing", [])
        return importability_results(import_scan, report, static_claims(import_scan, resolution_findings, others))

    from conformance.pytest_plugin.xdist_share import shared

    results = conformance_context.cached("importability", lambda: shared(pytestconfig, "importability", build))
    return lambda group: results.get(group)


def importable_file(spec: Spec, rel: str) -> bool:
    from conformance.checks.imports.scan import is_production

    return is_production(spec, rel)


@pytest.fixture(scope="session")
def contract_results(conformance_context: Context, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """All contracts checked against one import graph per process; grimp's cache lives in this
    worker's own temp dir (never shared between xdist workers, never in the repo)."""
    from conformance.checks.imports.contracts import check_contracts

    ctx = conformance_context
    assert ctx.contracts_file is not None

    def build() -> Any:
        # grimp walks the sandbox copy (never a symlink out of the backend); messages name the backend
        copy = _sandbox(ctx, tmp_path_factory)
        results = check_contracts(ctx.contracts_file, copy, cache_dir=tmp_path_factory.mktemp("grimp-cache"))

        def named(message: str) -> str:
            for shown in {str(copy.resolve()), str(copy)}:
                message = message.replace(shown, str(ctx.backend))
            return message

        return {key: dataclasses.replace(result, message=named(result.message), skipped=named(result.skipped))
                for key, result in results.items()}

    from conformance.pytest_plugin import incremental

    return ctx.cached("contracts", lambda: incremental.persistent(
        ctx, "contracts", incremental.contracts_key(ctx, _indexed(ctx.import_scan)), build))
