"""pytest glue: options, markers, spec-driven parametrization and the report header.

All check logic lives in the pure modules; fixtures are in conformance.pytest_plugin.fixtures, outcome
handling (phases, baseline, summary) in conformance.pytest_plugin.verdicts, settings in conformance.pytest_plugin.options.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from conformance.pytest_plugin import options as settings
from conformance.pytest_plugin.session import CONTEXT, Context, serial_run
from conformance.pytest_plugin.session import runs_test  # noqa: F401 - for tests that leave a cause to another
from conformance.model.findings import Finding, Skipped  # noqa: F401 - re-exported for test modules
from conformance.pytest_plugin.verdicts import assert_conforms  # noqa: F401 - the suite's assertion helper
from conformance.repo.index import RepoError
from conformance.model.rules import RuleId
from conformance.model.spec import Spec

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


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    from conformance.pytest_plugin import fixtures
    from conformance.pytest_plugin import verdicts as outcomes
    from conformance.pytest_plugin import xdist_share as shared

    for module in (outcomes, shared, fixtures):
        if not pluginmanager.has_plugin(module.__name__):
            pluginmanager.register(module, module.__name__)
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
    group.addoption("--conformance-cache-dir", metavar="DIR", default=None,
                    help="where results are kept between runs, keyed by content (env CONFORMANCE_CACHE_DIR; "
                         "default: $XDG_CACHE_HOME or ~/.cache, then backend-conformance)")
    group.addoption("--no-conformance-cache", action="store_true", default=False,
                    help="compute everything again and keep nothing between runs (env CONFORMANCE_NO_CACHE=1)")
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
    ctx = config.stash.get(CONTEXT, None)
    if ctx is not None:
        ctx.release()  # before the temp root goes: a prefetch may still use it
    root = config.stash.get(OWN_BASETEMP, None)
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)


def _configure(config: pytest.Config) -> None:
    for name, text in CATEGORY_MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    for number, text in PHASE_MARKERS.items():
        config.addinivalue_line("markers", f"phase{number}: {text}")
    config.addinivalue_line("markers", "rule(name): the structure rule a test enforces (sets its phase marker)")
    settings.reject_split_backend_option(config)
    spec = settings.load_spec_file(config)
    if spec is None:
        return  # no spec configured: stay inert in unrelated pytest sessions
    ctx = Context(spec=spec, backend=settings.resolve_backend(config, spec), python=settings.resolve_python(config),
                  database_url=settings.resolve_database_url(config), cache_root=settings.resolve_cache_dir(config))
    if serial_run(config) and not config.option.collectonly:
        ctx.start_warmup()  # the kept sandbox is copied while the contracts load and pytest collects
    config.stash[CONTEXT] = ctx
    ctx.contracts_file, ctx.contracts = settings.load_contracts(config, spec)


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
        from conformance.pytest_plugin.incremental import describe

        lines.append(f"conformance: {describe(ctx)}")
    except RepoError as exc:
        lines.append(f"conformance: cannot index the backend: {exc}")
    return lines


def _phase_mark(phase: int) -> pytest.MarkDecorator:
    return getattr(pytest.mark, f"phase{phase}")


def _spec_params(spec: Spec) -> dict[str, list[tuple[Any, str, int]]]:
    """Fixture name -> (value, test id, phase) for every spec-driven parameter."""
    from conformance.checks.imports.dependencies import IDS as DEPENDENCY_IDS
    from conformance.checks.imports.groups import importable_groups, resolution_groups

    return {
        "required_dir": [(d, d.path, d.phase) for d in spec.dirs if not d.runtime],
        "package_dir": [(d, d.path, spec.phase_of(RuleId.PACKAGE_DIR)) for d in spec.dirs if d.package],
        "runtime_dir": [(d, d.path, d.phase) for d in spec.dirs if d.runtime],
        "move": [(m, m.source, m.phase) for m in spec.moves],
        "forbidden_rule": [(f, f.name, f.phase) for f in spec.forbidden],
        "import_group": [(g, g, spec.phase_of(RuleId.IMPORTS_RESOLVE)) for g in resolution_groups(spec)],
        "dependency_rule": [(r, r, spec.phase_of(RuleId.DEPENDENCIES)) for r in DEPENDENCY_IDS],
        "import_package": [(g, g, spec.phase_of(RuleId.IMPORTABLE)) for g in importable_groups(spec)],
        "contract": [],
        # Always enforced: the alias check itself compares the enforced phase with retire_phase.
        "alias": [(a, a.old, 1) for a in spec.aliases],
        "worker_process": [(w, w.name, spec.phase_of(RuleId.WORKERS_FUNCTION)) for w in spec.worker_processes],
    }


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    ctx = metafunc.config.stash.get(CONTEXT, None)
    if ctx is None:
        return
    params = _spec_params(ctx.spec)
    params["contract"] = [(c, c.id, ctx.spec.phase_of(RuleId.CONTRACT)) for c in ctx.contracts]
    for name, entries in params.items():
        if name not in metafunc.fixturenames:
            continue
        values = [pytest.param(value, id=ident, marks=_phase_mark(phase)) for value, ident, phase in entries]
        if not values:  # say why instead of pytest's "got empty parameter set"
            values = [pytest.param(None, id="none", marks=pytest.mark.skip(
                reason=f"the spec ({ctx.spec.source.name}) lists no {name.replace('_', ' ')} entries"))]
        metafunc.parametrize(name, values)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ctx = config.stash.get(CONTEXT, None)
    if ctx is None:
        return
    _suite_relative_ids(config, items)
    for item in items:
        rule = item.get_closest_marker("rule")
        has_phase = any(item.get_closest_marker(f"phase{n}") for n in PHASE_MARKERS)
        if rule is not None and rule.args and not has_phase:
            item.add_marker(_phase_mark(ctx.spec.phase_of(rule.args[0])))


def _suite_relative_ids(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`pytest --pyargs conformance.suite` collects the installed suite, outside the adopting
    repository's rootdir: pytest would show every id as a site-packages path. Give the suite's
    items the ids they have in this repository (`structure/test_layout.py::test_root_files`)."""
    import conformance.suite

    suite = Path(conformance.suite.__file__).parent
    if suite.is_relative_to(config.rootpath):
        return  # run from this repository: pytest's own ids already read well
    for item in items:
        if item.path.is_relative_to(suite):
            name = item.nodeid.split("::", 1)[1] if "::" in item.nodeid else item.name
            item._nodeid = f"{item.path.relative_to(suite).as_posix()}::{name}"
