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
from conformance.pytest_plugin.session import CONTEXT, Context, serial_run
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
def from_scan(conformance_context: Context) -> Any:
    """A function (name, compute, *extra) -> compute(import scan), kept in the run cache while
    nothing the scan reads changed: a warm run over an unchanged tree never builds the scan."""
    from conformance.pytest_plugin import incremental

    def get(name: str, compute: Any, *extra: object) -> Any:
        return _indexed(lambda: incremental.from_scan(conformance_context, name, compute, *extra))

    return get


@pytest.fixture(scope="session")
def resolution_findings(from_scan: Any) -> dict[str, list[Any]]:
    """Unresolved imports by group, computed once: test_imports_resolve and importability use it."""
    from conformance.checks.imports.resolution import check_resolution

    return from_scan("resolution", check_resolution)


@pytest.fixture(scope="session")
def backend_interpreter(conformance_context: Context) -> Any:
    """InterpreterInfo of the backend's python; dependent tests fail with the reason when it cannot run."""
    from conformance.runtime.interpreter import InterpreterError

    info = conformance_context.interpreter()
    if isinstance(info, InterpreterError):
        pytest.fail(str(info), pytrace=False)
    return info


@pytest.fixture(scope="session")
def dependency_report(conformance_context: Context, from_scan: Any, backend_interpreter: Any,
                      pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from conformance.checks.imports.dependencies import check_dependencies
    from conformance.pytest_plugin import incremental
    from conformance.pytest_plugin.xdist_share import shared
    from conformance.repo.index import shown_path

    ctx = conformance_context
    first_party = from_scan("first_party", lambda scan: scan.backend_names | scan.backend_like_imports())
    index = _indexed(ctx.index)
    # deptry walks the sandbox copy: the indexed files, never a symlink out of the backend
    return ctx.cached("dependency_report", lambda: incremental.persistent(
        ctx, "dependencies", incremental.dependencies_key(ctx, first_party),
        lambda: shared(pytestconfig, "dependency_report", lambda: check_dependencies(
            _sandbox(ctx, tmp_path_factory), ctx.spec, backend_interpreter, first_party,
            lambda rel: shown_path(index.rel(rel)), index=index))))


@pytest.fixture(scope="session")
def contract_claims(conformance_context: Context, request: pytest.FixtureRequest) -> Any:
    """A function (importer, imported) -> the id of a forbidden contract that reports that import
    in this session (its item is selected), so deptry's items leave it to that contract."""
    from conformance.checks.imports.contracts_claims import forbidden_imports

    ctx = conformance_context
    forbidden = ctx.cached("forbidden_imports", lambda: forbidden_imports(ctx.contracts_file))
    selected = {item.callspec.params["contract"].id for item in request.session.items
                if hasattr(item, "callspec") and "contract" in item.callspec.params}

    def claimed(importer: str, imported: str) -> str | None:
        owner = forbidden.claimed_by(importer, imported)
        return owner if owner in selected else None

    return claimed


def _sandbox(ctx: Context, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The backend's copy for this process: the run cache's kept copy brought up to date when the
    cache is on and no other run holds it, else a fresh copy in this run's temp dir."""
    from conformance.runtime.sandbox_copy import make_sandbox
    from conformance.runtime.sandbox_sync import synced_sandbox

    index = _indexed(ctx.index)

    def build() -> Path:
        store = ctx.store()
        if store.enabled:
            ctx.finish_warmup()  # the child that warmed the kept copy is done with it
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
        ctx, "missing_roots", _indexed(lambda: incremental.contracts_key(ctx)),
        lambda: missing_roots(ctx.contracts_file, _sandbox(ctx, tmp_path_factory))))


@pytest.fixture(scope="session")
def sandbox_backend(conformance_context: Context, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the backend's tracked files: code that runs the backend runs there, never in the repo."""
    return _sandbox(conformance_context, tmp_path_factory)


def importable_files(ctx: Context) -> list[str]:
    """The production modules the importability check imports: the scan's files, from the index
    alone (a cold run starts the child before the scan exists)."""
    from conformance.checks.imports.scan import python_files

    index = _indexed(ctx.index)
    return [rel for rel in python_files(index)
            if index.link_out(index.rel(rel)) is None and importable_file(ctx.spec, rel)]


def _importability_run(ctx: Context, tmp_path_factory: pytest.TempPathFactory, scan: Any) -> Any:
    """(reused results, fresh report, whether the child ran). `scan` None: nothing was stored (a
    cold run), so every module is imported."""
    from conformance.checks.imports.importability_report import ImportabilityReport
    from conformance.checks.imports.importability_run import check_importability
    from conformance.runtime.dburl import database_values, throwaway_sqlite
    from conformance.runtime.sandbox_copy import expand_env

    files, _, reused = _importability_plan(ctx, scan)
    todo = [rel for rel in files if rel not in reused]
    if not todo:
        return reused, ImportabilityReport(), False
    tmp = tmp_path_factory.mktemp("import-env")
    env = expand_env(ctx.spec.test_env, {"tmp": str(tmp), **database_values(throwaway_sqlite(tmp))}, "test_env")
    env.setdefault("DATABASE_URL", throwaway_sqlite(tmp))  # the guard's allowed database, as for the app
    fresh = check_importability(_sandbox(ctx, tmp_path_factory), todo, python=ctx.python, env=env,
                                network=ctx.spec.network)
    return reused, fresh, True


def _importability_plan(ctx: Context, scan: Any) -> Any:
    """(files, keys, reusable stored results); no keys and nothing reused without a scan."""
    from conformance.pytest_plugin import incremental

    def build() -> Any:
        files = importable_files(ctx)
        if scan is None:
            return files, None, {}
        keys = incremental.importability_keys(ctx, scan, files)
        return files, keys, incremental.reusable(incremental.stored_importability(ctx), keys, files)

    return ctx.cached(f"importability_plan:{scan is None}", build)


def _importability_started(ctx: Context, tmp_path_factory: pytest.TempPathFactory, scan: Any) -> Any:
    return ctx.cached("importability_run", lambda: _importability_run(ctx, tmp_path_factory, scan))


def importability_report(ctx: Context, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The importability child's report for every production module, once per process; modules
    whose own source, import closure and environment are unchanged come from the run cache."""
    from conformance.pytest_plugin import incremental

    def build() -> Any:
        scan = _indexed(ctx.import_scan)
        planned_with = scan if incremental.stored_importability(ctx) else None
        files, keys, _ = _importability_plan(ctx, planned_with)
        if keys is None:  # a cold run: the keys are computed here while the child may still run
            keys = incremental.importability_keys(ctx, scan, files)
        reused, fresh, ran = _importability_started(ctx, tmp_path_factory, planned_with)
        return incremental.importability_merge(ctx, files, keys, reused, fresh, ran)

    return ctx.cached("importability_report", build)


def _prefetch_config(config: pytest.Config) -> tuple[Context, pytest.TempPathFactory] | None:
    """The context and temp factory of a serial run that may start the importability child early.
    Serial runs only: with xdist the workers already run side by side, and one of them computes
    it for all."""
    ctx = config.stash.get(CONTEXT, None)
    factory = getattr(config, "_tmp_path_factory", None)
    if ctx is None or factory is None or not serial_run(config) or config.option.collectonly:
        return None
    return ctx, factory


def _start_importability(ctx: Context, factory: pytest.TempPathFactory, scan: Any) -> None:
    """Make the sandbox copy (and, with a scan, the reuse plan) here, then start the child in a
    background thread that only waits for it: file copying in a thread competing with this one
    for the GIL takes ten times as long."""
    factory.getbasetemp()  # made here: its first call empties the dir, not safe from two threads
    try:
        _sandbox(ctx, factory)
        _importability_plan(ctx, scan)
    except (RepoError, pytest.fail.Exception):
        return  # the fixtures report it
    ctx.prefetch("importability_run", lambda: _importability_started(ctx, factory, scan))


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """A run with no stored importability results imports every module whatever the scan says:
    start the child now, so it runs on another core while pytest collects and the static checks
    run. Stopped at the end of collection when no selected test asks for it."""
    from conformance.pytest_plugin import incremental

    found = _prefetch_config(session.config)
    if found is None:
        return
    ctx, factory = found
    try:
        if incremental.stored_importability(ctx):
            return  # the scan decides which modules to import again: pytest_collection_finish
    except RepoError:
        return  # the fixtures report it
    _start_importability(ctx, factory, None)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """With stored results, start the importability child as soon as the import scan says which
    modules changed (nothing at all when the tree is unchanged). The scan stays in the tests'
    thread: CPython 3.11 cannot parse in two threads at once ("AST constructor recursion depth
    mismatch"), and pytest parses too. A child started early that no selected test needs is
    stopped."""
    from conformance.pytest_plugin import incremental

    found = _prefetch_config(session.config)
    if found is None:
        return
    ctx, factory = found
    selected = any("importability" in getattr(item, "fixturenames", ()) for item in session.items)
    if ctx.prefetching("importability_run"):
        if not selected:
            ctx.stop_prefetches()
        return
    if not selected:
        return
    try:
        stored = incremental.stored_importability(ctx)
        if not stored or incremental.importability_results_kept(ctx):
            return  # a cold run whose child could not start (the fixtures say why), or an unchanged tree
        scan = ctx.import_scan()
    except (RepoError, pytest.fail.Exception):
        return  # the fixtures report it
    _start_importability(ctx, factory, scan)


@pytest.fixture(scope="session")
def importability(conformance_context: Context, dependency_report: Any, resolution_findings: dict[str, list[Any]],
                  tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Any:
    """A function: group -> CheckResult of the modules of that group that fail to import."""
    from conformance.checks.imports.importability_verdicts import importability_results, static_claims
    from conformance.pytest_plugin import incremental

    def compute() -> Any:
        # the scan and the structure report first: made here while the child still imports, not after
        scan = _indexed(conformance_context.import_scan)
        structure = _indexed(conformance_context.structure)  # a shadowed module is the clash check's finding
        report = importability_report(conformance_context, tmp_path_factory)
        others = {"test_module_package_clash": structure.result(RuleId.MODULE_PACKAGE_CLASH).findings}
        if not dependency_report.skipped:
            others["test_dependencies_declared[missing]"] = dependency_report.findings.get("missing", [])
        return report, importability_results(scan, report, static_claims(scan, resolution_findings, others))

    def build() -> Any:
        return _indexed(lambda: incremental.importability_results(conformance_context, compute))

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
        ctx, "contracts", _indexed(lambda: incremental.contracts_key(ctx)), build))
