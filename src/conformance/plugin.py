"""pytest glue: options, markers, spec-driven parametrization, fixtures and the report header.

All check logic lives in the pure modules; this file only translates between them and pytest.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conformance.findings import Finding, Skipped  # noqa: F401 - re-exported for test modules
from conformance.outcomes import assert_conforms  # noqa: F401 - the suite's assertion helper
from conformance.repo import RepoError, RepoIndex, build_index
from conformance.spec import Spec, SpecError, load_spec

CATEGORY_MARKERS = {
    "structure": "repository layout checks against the plan's target structure",
    "imports": "import style, importability and layer contracts",
    "startup": "boots the app, migrations and workers for real (slow; not in the pre-push subset)",
}
PHASE_MARKERS = {
    1: "plan phase 1: cleanup of non-critical files",
    2: "plan phase 2: separate Node.js components",
    3: "plan phase 3: fix import paths",
    4: "plan phase 4: documentation",
}


@dataclass
class Context:
    """Per-process state: the spec, the backend, and the lazily built, cached repo index."""

    spec: Spec
    backend: Path
    python: str = sys.executable
    database_url: str | None = None
    contracts_file: Path | None = None
    contracts: list[Any] = field(default_factory=list)
    _index: RepoIndex | None = None
    _structure: Any = None
    _error: str | None = field(default=None)
    _cache: dict[str, Any] = field(default_factory=dict)

    def cached(self, key: str, build: Any) -> Any:
        """Compute once per process: every fixture that needs the scan shares one result."""
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def interpreter(self) -> Any:
        """The backend interpreter's facts, or an InterpreterError instance when it cannot run."""
        from conformance.imports import namespace_candidates
        from conformance.interpreter import InterpreterError, probe

        def build() -> Any:
            try:
                return probe(self.python, namespace_candidates(self.index()))
            except InterpreterError as exc:
                return exc

        return self.cached("interpreter", build)

    def import_scan(self) -> Any:
        from conformance.imports import scan
        from conformance.interpreter import InterpreterError

        def build() -> Any:
            info = self.interpreter()
            installed = {} if isinstance(info, InterpreterError) else info.installed
            return scan(self.index(), self.spec, installed)

        return self.cached("import_scan", build)

    def index(self) -> RepoIndex:
        if self._error:
            raise RepoError(self._error)
        if self._index is None:
            from conformance.structure import index_scopes

            try:
                self._index = build_index(self.backend, index_scopes(self.spec))
            except RepoError as exc:
                self._error = str(exc)
                raise
        return self._index

    def structure(self) -> Any:
        if self._structure is None:
            from conformance.structure import evaluate

            self._structure = evaluate(self.spec, self.index())
        return self._structure


CONTEXT = pytest.StashKey[Context]()


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    from conformance import outcomes, shared

    if not pluginmanager.has_plugin("conformance.outcomes"):
        pluginmanager.register(outcomes, "conformance.outcomes")
    if not pluginmanager.has_plugin("conformance.shared"):
        pluginmanager.register(shared, "conformance.shared")
    group = parser.getgroup("conformance", "backend conformance to the reorganization plan")
    outcomes.add_options(group)
    group.addoption("--backend-root", metavar="PATH", default=None,
                    help="backend under test (env CONFORMANCE_BACKEND_ROOT; default: the spec's `backend`)")
    group.addoption("--backend-python", metavar="PATH", default=None,
                    help="interpreter of the backend's own environment, used for every check that imports or "
                         "runs backend code (env CONFORMANCE_BACKEND_PYTHON; default: this interpreter)")
    group.addoption("--database-url", metavar="URL", default=None,
                    help="run the migration and startup checks on this database instead of a throwaway "
                         "SQLite file (env CONFORMANCE_DATABASE_URL); loopback hosts only unless --allow-remote-db")
    group.addoption("--allow-remote-db", action="store_true", default=False,
                    help="accept a --database-url whose host is not on this machine")
    group.addoption("--importlinter-config", metavar="FILE", default=None,
                    help="import-linter contracts file (default: the spec's imports.contracts, else "
                         ".importlinter at the rootdir)")
    group.addoption("--conformance-config", metavar="FILE", default=None,
                    help="TOML file with the spec, under [tool.conformance] or at top level "
                         "(env CONFORMANCE_CONFIG; default: pyproject.toml at the rootdir)")


OWN_BASETEMP = pytest.StashKey[Path]()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    _own_basetemp(config)
    _configure(config)


def _own_basetemp(config: pytest.Config) -> None:
    """Sandboxes, logs and databases go under a temp root that is removed when the run ends, also
    on Ctrl-C (pytest keeps its own basetemps around). `--basetemp DIR` keeps them for debugging.
    xdist workers get subdirectories of the controller's root."""
    if config.option.basetemp is None and not hasattr(config, "workerinput"):
        root = Path(tempfile.mkdtemp(prefix="conformance-tmp-"))
        config.option.basetemp = str(root)
        config.stash[OWN_BASETEMP] = root


def pytest_unconfigure(config: pytest.Config) -> None:
    root = config.stash.get(OWN_BASETEMP, None)
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)


def _configure(config: pytest.Config) -> None:
    for name, text in CATEGORY_MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    for number, text in PHASE_MARKERS.items():
        config.addinivalue_line("markers", f"phase{number}: {text}")
    config.addinivalue_line("markers", "rule(name): the structure rule a test enforces (sets its phase marker)")
    _reject_split_backend_option(config)
    spec = _load_spec(config)
    if spec is None:
        return  # no spec configured: stay inert in unrelated pytest sessions
    contracts_file, contracts = _load_contracts(config, spec)
    config.stash[CONTEXT] = Context(spec=spec, backend=_resolve_backend(config, spec), python=_resolve_python(config),
                                    database_url=_resolve_database_url(config), contracts_file=contracts_file,
                                    contracts=contracts)


def _load_contracts(config: pytest.Config, spec: Spec) -> tuple[Path | None, list[Any]]:
    """The import-linter contracts to parametrize over (read without building any graph)."""
    from conformance.contracts import ContractsError, list_contracts

    raw = config.getoption("importlinter_config") or spec.imports.contracts
    if raw:
        path = Path(raw)
        path = path if path.is_absolute() else config.invocation_params.dir / path
    else:
        path = config.rootpath / ".importlinter"
        if not path.is_file():
            return None, []
    try:
        return path.resolve(), list_contracts(path.resolve())
    except ContractsError as exc:
        raise pytest.UsageError(f"conformance contracts: {exc}") from None


def _resolve_database_url(config: pytest.Config) -> str | None:
    """An explicit database for migrations/startup; refuse non-loopback hosts unless allowed."""
    from conformance.dburl import DatabaseUrlError, check_database_url

    raw = config.getoption("database_url") or os.environ.get("CONFORMANCE_DATABASE_URL")
    if not raw:
        return None
    try:
        return check_database_url(raw, allow_remote=config.getoption("allow_remote_db"))
    except DatabaseUrlError as exc:
        raise pytest.UsageError(f"conformance: {exc}") from None


def _reject_split_backend_option(config: pytest.Config) -> None:
    """`--backend-root /elsewhere` makes pytest pick its rootdir from that path before any plugin
    option is known (so it may even run the backend's own tests); demand the `=` form instead."""
    args = [str(a) for a in config.invocation_params.args]
    for flag, value in zip(args, args[1:]):
        if flag != "--backend-root":
            continue
        path = (config.invocation_params.dir / value).resolve()
        if path.exists() and not path.is_relative_to(config.invocation_params.dir):
            raise pytest.UsageError(
                f"conformance: write --backend-root={value} (with '='): given as two words, pytest takes "
                f"{value} for a test path and looks for its configuration there")


def _resolve_python(config: pytest.Config) -> str:
    raw = config.getoption("backend_python") or os.environ.get("CONFORMANCE_BACKEND_PYTHON")
    if not raw:
        return sys.executable
    found = shutil.which(raw) if os.sep not in raw else raw
    origin = "--backend-python" if config.getoption("backend_python") else "CONFORMANCE_BACKEND_PYTHON"
    if not found or not os.path.exists(found):
        raise pytest.UsageError(f"conformance: backend interpreter {raw} (from {origin}) does not exist")
    if not os.path.isfile(found) or not os.access(found, os.X_OK):
        raise pytest.UsageError(f"conformance: backend interpreter {raw} (from {origin}) is not an executable file")
    return str(Path(found).absolute())


def _load_spec(config: pytest.Config) -> Spec | None:
    """The explicit spec file, else conformance.toml at the rootdir, else the rootdir's
    pyproject.toml if it has [tool.conformance]; no spec at all leaves the plugin inert."""
    raw = config.getoption("conformance_config") or os.environ.get("CONFORMANCE_CONFIG")
    if raw:
        path = Path(raw).expanduser()
        path = path if path.is_absolute() else config.invocation_params.dir / path
    elif (config.rootpath / "conformance.toml").is_file():
        path = config.rootpath / "conformance.toml"
    else:
        path = config.rootpath / "pyproject.toml"
        if not _has_conformance_table(path):
            return None
    try:
        return load_spec(path.resolve())
    except SpecError as exc:
        raise pytest.UsageError(f"conformance spec: {exc}") from None


def _has_conformance_table(path: Path) -> bool:
    try:
        return "[tool.conformance" in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def _resolve_backend(config: pytest.Config, spec: Spec) -> Path:
    raw = config.getoption("backend_root") or os.environ.get("CONFORMANCE_BACKEND_ROOT")
    if raw:
        origin = "--backend-root" if config.getoption("backend_root") else "CONFORMANCE_BACKEND_ROOT"
        backend = Path(raw).expanduser()
        if not backend.is_absolute():
            backend = config.invocation_params.dir / backend
    elif spec.backend is not None:
        backend, origin = spec.backend, f"`backend` in {spec.source}"
    else:
        raise pytest.UsageError(
            f"conformance: no backend to check: pass --backend-root PATH, set CONFORMANCE_BACKEND_ROOT, "
            f"or set `backend` in {spec.source}")
    backend = backend.resolve()
    if not backend.is_dir():
        why = "it is a file" if backend.exists() else "nothing exists at that path"
        raise pytest.UsageError(f"conformance: backend root {backend} (from {origin}) is not a directory: {why}")
    return backend


def context(config: pytest.Config) -> Context:
    return config.stash[CONTEXT]


def pytest_report_header(config: pytest.Config) -> list[str]:
    ctx = config.stash.get(CONTEXT, None)
    if ctx is None:
        return []
    lines = [f"conformance: backend {ctx.backend}", f"conformance: spec {ctx.spec.source}",
             f"conformance: backend python {ctx.python}"]
    try:
        index = ctx.index()
        lines.append(f"conformance: {index.describe()}")
        lines.extend(f"conformance: {note}" for note in index.notes())
        lines.append(f"conformance: paths in findings are relative to {index.root}")
    except RepoError as exc:
        lines.append(f"conformance: cannot index the backend: {exc}")
    return lines


def _phase_mark(phase: int) -> pytest.MarkDecorator:
    return getattr(pytest.mark, f"phase{phase}")


def _spec_params(spec: Spec) -> dict[str, list[tuple[Any, str, int]]]:
    """Fixture name -> (value, test id, phase) for every spec-driven parameter."""
    from conformance.dependencies import IDS as DEPENDENCY_IDS
    from conformance.imports import importable_groups, resolution_groups

    return {
        "required_dir": [(d, d.path, d.phase) for d in spec.dirs if not d.runtime],
        "package_dir": [(d, d.path, spec.phase_of("package_dir")) for d in spec.dirs if d.package],
        "runtime_dir": [(d, d.path, d.phase) for d in spec.dirs if d.runtime],
        "move": [(m, m.source, m.phase) for m in spec.moves],
        "forbidden_rule": [(f, f.name, f.phase) for f in spec.forbidden],
        "import_group": [(g, g, spec.phase_of("imports_resolve")) for g in resolution_groups(spec)],
        "dependency_rule": [(r, r, spec.phase_of("dependencies")) for r in DEPENDENCY_IDS],
        "import_package": [(g, g, spec.phase_of("importable")) for g in importable_groups(spec)],
        "contract": [],
        # Always enforced: the alias check itself compares the enforced phase with retire_phase.
        "alias": [(a, a.old, 1) for a in spec.aliases],
        "worker_process": [(w, w.name, spec.phase_of("workers_function")) for w in spec.worker_processes],
    }


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    ctx = metafunc.config.stash.get(CONTEXT, None)
    if ctx is None:
        return
    params = _spec_params(ctx.spec)
    params["contract"] = [(c, c.id, ctx.spec.phase_of("contract")) for c in ctx.contracts]
    for name, entries in params.items():
        if name in metafunc.fixturenames:
            metafunc.parametrize(
                name, [pytest.param(value, id=ident, marks=_phase_mark(phase)) for value, ident, phase in entries]
            )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ctx = config.stash.get(CONTEXT, None)
    if ctx is None:
        return
    for item in items:
        rule = item.get_closest_marker("rule")
        has_phase = any(item.get_closest_marker(f"phase{n}") for n in PHASE_MARKERS)
        if rule is not None and rule.args and not has_phase:
            item.add_marker(_phase_mark(ctx.spec.phase_of(rule.args[0])))


@pytest.fixture(scope="session")
def conformance_context(pytestconfig: pytest.Config) -> Context:
    ctx = pytestconfig.stash.get(CONTEXT, None)
    if ctx is None:
        pytest.fail("no conformance spec: pass --conformance-config FILE or add [tool.conformance] to "
                    f"{pytestconfig.rootpath / 'pyproject.toml'}", pytrace=False)
    return ctx


@pytest.fixture(scope="session")
def structure_report(conformance_context: Context) -> Any:
    try:
        return conformance_context.structure()
    except RepoError as exc:
        pytest.fail(f"cannot index the backend: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def import_scan(conformance_context: Context) -> Any:
    try:
        return conformance_context.import_scan()
    except RepoError as exc:
        pytest.fail(f"cannot index the backend: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def backend_interpreter(conformance_context: Context) -> Any:
    """InterpreterInfo of the backend's python; skips dependent tests when it cannot run."""
    from conformance.interpreter import InterpreterError

    info = conformance_context.interpreter()
    if isinstance(info, InterpreterError):
        pytest.fail(str(info), pytrace=False)
    return info


@pytest.fixture(scope="session")
def dependency_report(conformance_context: Context, import_scan: Any, backend_interpreter: Any,
                      pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from conformance.dependencies import check_dependencies

    from conformance.shared import shared

    # deptry walks the sandbox copy: the indexed files, never a symlink out of the backend
    return conformance_context.cached("dependencies", lambda: shared(pytestconfig, "dependencies", lambda: (
        check_dependencies(_sandbox(conformance_context, tmp_path_factory), conformance_context.spec,
                           backend_interpreter, import_scan.backend_names, import_scan.repo_path,
                           index=import_scan.index))))


def _sandbox(ctx: Context, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from conformance.sandbox import make_sandbox

    try:
        index = ctx.index()
    except RepoError as exc:
        pytest.fail(f"cannot index the backend: {exc}", pytrace=False)
    return ctx.cached("sandbox", lambda: make_sandbox(index, tmp_path_factory.mktemp("sandbox")))


@pytest.fixture(scope="session")
def sandbox_backend(conformance_context: Context, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the backend's tracked files: code that runs the backend runs there, never in the repo."""
    return _sandbox(conformance_context, tmp_path_factory)


@pytest.fixture(scope="session")
def importability(conformance_context: Context, import_scan: Any, sandbox_backend: Path,
                  dependency_report: Any, tmp_path_factory: pytest.TempPathFactory,
                  pytestconfig: pytest.Config) -> Any:
    """A function: group -> CheckResult of the modules of that group that fail to import."""
    from conformance.importability import check_importability
    from conformance.imports import importability_results, static_error_files
    from conformance.sandbox import expand_env

    def build() -> Any:
        ctx = conformance_context
        files = [rel for rel in import_scan.sources if ctx.spec and importable_file(ctx.spec, rel)]
        env = expand_env(ctx.spec.test_env, {"tmp": str(tmp_path_factory.mktemp("import-env"))}, "test_env")
        report = check_importability(sandbox_backend, files, python=ctx.python, env=env)
        claimed = static_error_files(import_scan)
        deps = dependency_report.findings.get("missing", []) if not dependency_report.skipped else []
        claimed |= {import_scan.index.backend_rel(f.path) or f.path for f in deps}
        return importability_results(import_scan, report, claimed)

    from conformance.shared import shared

    results = conformance_context.cached("importability", lambda: shared(pytestconfig, "importability", build))
    return lambda group: results.get(group)


def importable_file(spec: Spec, rel: str) -> bool:
    from conformance.imports import is_production

    return is_production(spec, rel)


@pytest.fixture(scope="session")
def contract_results(conformance_context: Context, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """All contracts checked against one import graph per process; grimp's cache lives in this
    worker's own temp dir (never shared between xdist workers, never in the repo)."""
    from conformance.contracts import check_contracts

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

        return {key: dataclasses.replace(result, message=named(result.message)) for key, result in results.items()}

    return ctx.cached("contracts", build)
