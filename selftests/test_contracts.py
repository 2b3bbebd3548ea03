"""import-linter contracts (conformance.checks.imports.contracts) on small generated backends and the reference.

Each tree is a layered skeleton plus at most one violation; the contracts file is a small
copy of the project's, so the tests read like the real thing but run in milliseconds.
"""

from __future__ import annotations

import importlib.machinery
import sys
import types
from pathlib import Path

import pytest

from conformance.checks.imports import contracts, contracts_graph, contracts_missing_roots
from conformance.checks.imports.contracts import check_contracts
from conformance.checks.imports.contracts_config import ContractInfo, ContractsError, list_contracts
from selftests.builder import copy_tree, make_repo, tree_digest
from selftests.trees import PROJECT, REFERENCE

PROJECT_CONTRACTS = PROJECT / ".importlinter"

CONTRACTS = """\
[importlinter]
root_packages =
    api
    services
    database
    core
    scripts
include_external_packages = True

[importlinter:contract:layers]
name = api > services > database > core
type = layers
layers =
    api
    services
    database
    core

[importlinter:contract:no-scripts]
name = Production packages never import scripts
type = forbidden
source_modules =
    api
    services
    database
    core
forbidden_modules =
    scripts

[importlinter:contract:no-test-code]
name = Production packages never import test or debug code
type = forbidden
source_modules =
    api
    services
    database
    core
forbidden_modules =
    tests
    **.tests
    scripts.maintenance
"""

PACKAGES = {"main", "api", "services", "database", "core", "scripts", "tests"}
LAYERED = {
    "main.py": "from api import chat\n",
    "api/__init__.py": "",
    "api/chat.py": "from services.chat import reply\n",
    "services/__init__.py": "",
    "services/chat.py": "from database.crud import save\n\n\ndef reply():\n    return save()\n",
    "database/__init__.py": "",
    "database/crud.py": "import os\n\nfrom core.config import settings\n\n\ndef save():\n    return settings\n",
    "core/__init__.py": "",
    "core/config.py": "settings = {}\n",
    "scripts/__init__.py": "",
    "scripts/admin/__init__.py": "",
    "scripts/admin/x.py": "from services.chat import reply\n",
    "scripts/maintenance/__init__.py": "",
    "scripts/maintenance/debug_hours.py": "from core.config import settings\n",
}


def backend(tmp_path: Path, changes: dict[str, str] | None = None) -> Path:
    """The layered tree, with some files added or replaced."""
    make_repo(tmp_path / "backend", LAYERED | (changes or {}), git=False)
    return tmp_path / "backend"


def config(tmp_path: Path, text: str = CONTRACTS) -> Path:
    path = tmp_path / "contracts.ini"
    path.write_text(text, encoding="utf-8")
    return path


def check(tmp_path: Path, root: Path, text: str = CONTRACTS) -> dict[str, contracts.ContractResult]:
    return check_contracts(config(tmp_path, text), root, cache_dir=None)


def broken(results: dict[str, contracts.ContractResult]) -> set[str]:
    return {contract_id for contract_id, result in results.items() if not result.kept}


# Outcomes on generated trees
# ---------------------------


def test_layered_tree_keeps_every_contract(tmp_path):
    results = check(tmp_path, backend(tmp_path))
    assert set(results) == {"layers", "no-scripts", "no-test-code"}
    assert broken(results) == set(), {k: r.message for k, r in results.items()}


def test_database_importing_api_breaks_the_layers_with_chain_line_and_fix(tmp_path):
    root = backend(tmp_path, {"database/crud.py": "import os\n\nfrom api.chat import router\n"})
    results = check(tmp_path, root)
    assert broken(results) == {"layers"}
    message = results["layers"].message
    assert "database.crud -> api.chat (l.3)" in message
    assert "fix: database/crud.py:3: remove the import of api.chat" in message
    assert "database is a lower layer than api" in message


def test_indirect_chain_through_a_module_outside_the_layers_names_every_link(tmp_path):
    root = backend(tmp_path, {"core/config.py": "from scripts.admin.x import reply\nsettings = {}\n"})
    message = check(tmp_path, root)["layers"].message
    assert "core.config -> scripts.admin.x (l.1)" in message
    assert "scripts.admin.x -> services.chat (l.1)" in message
    assert "fix: core/config.py:1: break the chain core.config -> scripts.admin.x -> services.chat" in message


def test_production_import_of_scripts_breaks_the_forbidden_contract(tmp_path):
    root = backend(tmp_path, {"services/user.py": '"""Users."""\nfrom scripts.admin.x import reply\n'})
    results = check(tmp_path, root)
    assert "no-scripts" in broken(results)
    message = results["no-scripts"].message
    assert "services.user -> scripts.admin.x (l.2)" in message
    assert "fix: services/user.py:2: remove the import of scripts.admin.x (services may not import scripts)" in message


def test_import_of_a_top_level_tests_package_breaks_the_test_code_contract(tmp_path):
    """`tests` is no root package: it is seen only as an external module of the graph."""
    root = backend(tmp_path, {"tests/factories.py": "USER = {}\n",
                             "api/users.py": "from tests.factories import USER\n"})
    results = check(tmp_path, root)
    assert broken(results) == {"no-test-code"}
    assert "api.users -> tests (l.1)" in results["no-test-code"].message


def test_a_chain_through_a_forbidden_import_is_that_import_alone(tmp_path):
    """api.chat -> services.chat -> tests and services.chat -> tests have one cause: the finding
    and its one fix line are at services/chat.py, never "drop the import of services.chat"."""
    root = backend(tmp_path, {"tests/factories.py": "USER = {}\n",
                             "services/chat.py": LAYERED["services/chat.py"] + "from tests.factories import USER\n",
                             "api/users.py": "from core.config import settings\n"})
    message = check(tmp_path, root)["no-test-code"].message
    assert "services.chat -> tests (l.6)" in message
    assert "api.chat -> services.chat" not in message and "api is not allowed" not in message
    assert message.endswith("fix: services/chat.py:6: remove the import of tests (services may not import tests)")
    # without the direct import the chain is reported and fixed where it starts
    root = backend(tmp_path / "indirect", {"tests/factories.py": "USER = {}\n",
                                           "scripts/maintenance/debug_hours.py": "from tests.factories import USER\n",
                                           "core/config.py": "from scripts.maintenance import debug_hours\n"})
    message = check(tmp_path / "indirect", root)["no-test-code"].message
    assert "core.config -> scripts.maintenance.debug_hours (l.1)" in message
    assert "fix: core/config.py:1: remove the import of scripts.maintenance.debug_hours" in message


def test_missing_forbidden_internal_module_fails_that_contract_alone(tmp_path):
    root = backend(tmp_path)
    for path in sorted((root / "scripts" / "maintenance").iterdir(), reverse=True):
        path.unlink()
    (root / "scripts" / "maintenance").rmdir()
    results = check(tmp_path, root)
    assert broken(results) == {"no-test-code"}
    assert "Module 'scripts.maintenance' does not exist" in results["no-test-code"].message


# Mid-migration: root packages that do not exist yet are left out, never skip everything
# ---------------------------------------------------------------------------------------

CACHE_CONTRACT = """
[importlinter:contract:cache-no-api]
name = Cache never imports api
type = forbidden
source_modules = cache
forbidden_modules = api
"""


def without_services(tmp_path: Path, changes: dict[str, str] | None = None) -> Path:
    """The layered tree before `services/` exists: api talks to database directly."""
    root = backend(tmp_path, {"api/chat.py": "from database.crud import save\n",
                              "scripts/admin/x.py": "from api.chat import save\n", **(changes or {})})
    for path in sorted((root / "services").iterdir()):
        path.unlink()
    (root / "services").rmdir()
    return root


def test_layers_still_fail_on_a_violation_while_a_root_package_is_missing(tmp_path):
    root = without_services(tmp_path, {"database/crud.py": "import os\n\nfrom api.chat import router\n"})
    assert contracts_missing_roots.missing_roots(config(tmp_path), root) == ("services",)
    results = check(tmp_path, root)
    assert broken(results) == {"layers"}
    message = results["layers"].message
    assert "database.crud -> api.chat (l.3)" in message
    assert "fix: database/crud.py:3: remove the import of api.chat (database is a lower layer than api" in message
    assert message.endswith("\nnote: checked without the modules of services (root package services does not "
                            "exist yet)")
    assert not any(result.skipped for result in results.values())


def test_layers_pass_while_a_root_package_is_missing_and_nothing_is_violated(tmp_path):
    text = CONTRACTS.replace("    core\n\n[importlinter:contract:no-scripts]",
                             "    core\nignore_imports =\n    services.chat -> database.crud\n\n"
                             "[importlinter:contract:no-scripts]")
    results = check(tmp_path, without_services(tmp_path), text)
    assert {key: (result.kept, result.skipped) for key, result in results.items()} == {
        "layers": (True, ""), "no-scripts": (True, ""), "no-test-code": (True, "")}


def test_a_forbidden_contract_whose_only_source_is_missing_is_skipped_with_the_reason(tmp_path):
    text = CONTRACTS.replace("    scripts\ninclude", "    scripts\n    cache\ninclude") + CACHE_CONTRACT
    results = check(tmp_path, backend(tmp_path), text)
    assert results["cache-no-api"] == contracts.ContractResult(kept=False, skipped=(
        "nothing to check yet: every module it names is under a root package that does not exist; "
        "root package cache does not exist yet"))
    assert broken(results) == {"cache-no-api"}  # not kept: nothing was proven
    assert all(results[key].kept for key in ("layers", "no-scripts", "no-test-code"))


def test_a_missing_module_of_an_independent_layer_becomes_optional(tmp_path):
    """`services | cache` with cache missing: services still sits between api and database."""
    text = CONTRACTS.replace("    services\n    database\n    core\n\n[importlinter:contract:no-scripts]",
                             "    services | cache\n    database\n    core\n\n[importlinter:contract:no-scripts]")
    text = text.replace("    scripts\ninclude", "    scripts\n    cache\ninclude")
    root = backend(tmp_path, {"core/config.py": "from services.chat import reply\nsettings = {}\n"})
    results = check(tmp_path, root, text)
    assert broken(results) == {"layers"}
    assert "core.config -> services.chat (l.1)" in results["layers"].message
    assert "note: checked without the modules of cache (root package cache does not exist yet)" in \
        results["layers"].message


def test_every_contract_is_skipped_without_a_graph_when_no_root_package_exists(tmp_path, monkeypatch):
    monkeypatch.setattr(contracts.grimp, "build_graph", lambda *a, **k: pytest.fail("graph built"))
    (tmp_path / "empty").mkdir()
    results = check(tmp_path, tmp_path / "empty")
    assert {result.skipped for result in results.values()} == {
        "nothing to check yet: root packages api, services, database, core, scripts do not exist yet"}


# Backend problems: every contract fails with the reason, never a traceback
# -------------------------------------------------------------------------


def test_single_file_root_package_is_explained(tmp_path):
    text = CONTRACTS.replace("    scripts\ninclude", "    scripts\n    main\ninclude")
    results = check(tmp_path, backend(tmp_path), text)
    assert broken(results) == {"layers", "no-scripts", "no-test-code"}
    assert "'main' is the single-file module main.py, not a package" in results["layers"].message


def test_syntax_error_in_the_backend_is_explained(tmp_path):
    root = backend(tmp_path, {"api/broken.py": "def oops(:\n    pass\n"})
    results = check(tmp_path, root)
    assert broken(results) == {"layers", "no-scripts", "no-test-code"}
    assert "syntax error in api/broken.py, line 1" in results["no-scripts"].message
    assert "fix: correct the syntax error at api/broken.py:1" in results["no-scripts"].message


def test_root_package_named_like_a_stdlib_module_is_still_explained(tmp_path):
    """The one shadowing isolation cannot undo: Python finds the stdlib module first."""
    root = backend(tmp_path, {"json/__init__.py": "", "json/codec.py": "X = 1\n"})
    text = CONTRACTS.replace("    scripts\ninclude", "    scripts\n    json\ninclude")
    message = check(tmp_path, root, text)["layers"].message
    assert "root package 'json' resolves to " in message and ", not into the backend" in message
    assert "fix: 'json' is the name of a standard-library module, which Python finds first; rename the " \
           f"backend package {root.resolve() / 'json'} (see test_no_shadowed_modules)" in message


# Isolation: the cwd, sys.path and sys.modules of the process do not leak into the graph
# -------------------------------------------------------------------------------------


def test_an_already_imported_module_of_a_root_name_is_hidden_while_building(tmp_path, monkeypatch):
    """grimp locates packages with importlib, which answers from sys.modules first: a `core`
    imported from elsewhere (this process's own packages) must not be scanned instead."""
    elsewhere = types.ModuleType("core")
    elsewhere.__spec__ = importlib.machinery.ModuleSpec("core", None, is_package=True)
    elsewhere.__spec__.submodule_search_locations = [str(tmp_path / "elsewhere" / "core")]
    monkeypatch.setitem(sys.modules, "core", elsewhere)
    monkeypatch.setitem(sys.modules, "core.config", types.ModuleType("core.config"))
    root = backend(tmp_path, {"core/config.py": "from api.chat import x\nsettings = {}\n"})
    results = check(tmp_path, root)
    assert broken(results) == {"layers"}
    assert "core.config -> api.chat (l.1)" in results["layers"].message  # the backend's core was scanned
    assert sys.modules["core"] is elsewhere and "core.config" in sys.modules  # restored


def test_cwd_and_sys_path_folders_of_root_names_do_not_leak_into_the_graph(tmp_path, monkeypatch):
    """`python -m pytest` puts the cwd first on sys.path: a repo-level scripts/ would merge into
    the backend's namespace package scripts/ (no __init__.py before phase 3), a repo-level tests/
    package would win over the backend's namespace tests/."""
    root = backend(tmp_path, {"tests/factories.py": "USER = {}\n"})
    (root / "scripts" / "__init__.py").unlink()
    repo = tmp_path / "repo"
    make_repo(repo, {"scripts/deploy.py": "from api.chat import x\n", "tests/__init__.py": "",
                     "tests/test_x.py": "from database.crud import save\n"}, git=False)
    text = CONTRACTS.replace("    scripts\ninclude", "    scripts\n    tests\ninclude")
    elsewhere = check(tmp_path, root, text)
    monkeypatch.chdir(repo)
    monkeypatch.setattr(sys, "path", ["", str(repo), *sys.path])
    contracts_graph.clear_graph_cache()
    from_repo = check(tmp_path, root, text)
    assert from_repo == elsewhere
    assert broken(from_repo) == set(), {k: r.message for k, r in from_repo.items()}
    assert sys.path[:2] == ["", str(repo)]


# The contracts file
# ------------------


def test_list_contracts_reads_the_project_file():
    assert [info.id for info in list_contracts(PROJECT_CONTRACTS)] == [
        "layers", "no-scripts-in-production", "no-test-or-debug-code-in-production"]
    assert {info.type for info in list_contracts(PROJECT_CONTRACTS)} == {"layers", "forbidden"}


def test_list_contracts_does_not_build_a_graph(tmp_path, monkeypatch):
    monkeypatch.setattr(contracts.grimp, "build_graph", lambda *a, **k: pytest.fail("graph built"))
    assert list_contracts(config(tmp_path))[0] == ContractInfo("layers", "api > services > database > core", "layers")


@pytest.mark.parametrize(("text", "problem"), [
    (None, "contracts file not found"),
    ("root_packages = api\n", "not a valid INI file"),
    ("[importlinter]\nroot_packages = api\n[importlinter]\n", "not a valid INI file"),
    ("[other]\nx = 1\n", "no [importlinter] section"),
    ("[importlinter]\n[importlinter:contract:a]\nname = A\ntype = layers\nlayers = api\n", "needs root_packages"),
    ("[importlinter]\nroot_packages = api\n", "no contracts"),
    ("[importlinter]\nroot_packages = api\n[importlinter:contract:a]\nname = A\ntype = layerz\n",
     "contract a: unknown type 'layerz'"),
    ("[importlinter]\nroot_packages = api\n[importlinter:contract:a]\nname = A\ntype = layers\nlayers = api\n"
     "exhaustiv = true\n", "contract a: exhaustiv: Unrecognized option. Did you mean 'exhaustive'?"),
    ("[importlinter]\nroot_packages = api\n[importlinter:contract:a]\ntype = layers\nlayers = api\n",
     "contract a: missing 'name'"),
])
def test_malformed_contracts_file_is_one_error_naming_the_file(tmp_path, text, problem):
    path = tmp_path / "broken.importlinter"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(ContractsError) as error:
        list_contracts(path)
    assert str(error.value).startswith(f"{path}: ")
    assert problem in str(error.value)
    with pytest.raises(ContractsError):
        check_contracts(path, backend(tmp_path), cache_dir=None)


# Side effects: nothing written, graph built once, sys.path restored
# ------------------------------------------------------------------


def test_nothing_is_written_into_the_backend_or_the_cwd(tmp_path, monkeypatch):
    root = backend(tmp_path, {"database/crud.py": "from api.chat import router\n"})
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    before, path_before, modules_before = tree_digest(root), list(sys.path), set(sys.modules)
    check(tmp_path, root)
    check_contracts(config(tmp_path), root, cache_dir=tmp_path / "cache")
    assert tree_digest(root) == before
    assert list(cwd.iterdir()) == []
    assert sys.path == path_before
    imported = {name for name in set(sys.modules) - modules_before if name.split(".")[0] in PACKAGES}
    assert imported == set()  # parsed by grimp, never imported


def test_grimp_cache_goes_only_to_the_given_dir(tmp_path):
    root = backend(tmp_path)
    check_contracts(config(tmp_path), root, cache_dir=tmp_path / "cache")
    assert [p for p in (tmp_path / "cache").rglob("*.json")], "grimp wrote no cache"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backend", "cache", "contracts.ini"]


def test_graph_is_built_once_per_process_for_all_contracts(tmp_path, monkeypatch):
    calls = []
    real = contracts.grimp.build_graph
    monkeypatch.setattr(contracts.grimp, "build_graph", lambda *a, **k: calls.append(a) or real(*a, **k))
    root = backend(tmp_path)
    check(tmp_path, root)
    check(tmp_path, root)
    assert len(calls) == 1


# The reference backend and the project's contracts
# -------------------------------------------------


def test_upward_import_in_a_copy_of_the_reference_breaks_the_project_layers(tmp_path):
    copy_tree(REFERENCE / "backend", tmp_path / "backend")
    (tmp_path / "backend" / "database" / "audit.py").write_text("from api.chat import router\n", encoding="utf-8")
    results = check_contracts(PROJECT_CONTRACTS, tmp_path / "backend", cache_dir=None)
    assert broken(results) == {"layers"}
    message = results["layers"].message
    assert "database.audit -> api.chat (l.1)" in message
    assert "A lower layer must not import a higher one" in message  # the file's broken_contract_guidance
    assert "fix: database/audit.py:1: remove the import of api.chat" in message


def test_reference_backend_keeps_every_project_contract():
    results = check_contracts(PROJECT_CONTRACTS, REFERENCE / "backend", cache_dir=None)
    assert set(results) == {info.id for info in list_contracts(PROJECT_CONTRACTS)}
    assert broken(results) == set(), "\n\n".join(r.message for r in results.values() if not r.kept)


@pytest.mark.parametrize(("expression", "module", "expected"), [
    ("services", "services", True), ("services", "services.chat.x", True), ("services", "servicesx", False),
    ("**.tests", "api.v1.tests.factories", True), ("**.tests", "tests", True), ("**.tests", "api.testsx", False),
    ("*.debug", "utils.debug", True), ("*.debug", "debug", False), ("scripts.maintenance", "scripts", False),
])
def test_module_expressions_match_like_import_linter(expression, module, expected):
    from conformance.checks.imports.contracts_claims import matches

    assert matches(expression, module) is expected


def test_forbidden_imports_are_claimed_unless_the_contract_ignores_them(tmp_path):
    from conformance.checks.imports.contracts_claims import forbidden_imports

    text = CONTRACTS.replace("    scripts.maintenance\n", "    scripts.maintenance\n    pytest\n"
                             "ignore_imports =\n    core.testing -> pytest\n")
    claims = forbidden_imports(config(tmp_path, text))
    assert claims.claimed_by("services.chat", "pytest") == "no-test-code"
    assert claims.claimed_by("api", "tests") == "no-test-code"
    assert claims.claimed_by("core.testing", "pytest") is None  # ignored by the contract: deptry's to report
    assert claims.claimed_by("scripts.admin.x", "pytest") is None  # not a source module
    assert claims.claimed_by("services.chat", "requests") is None
    assert forbidden_imports(None).claimed_by("services.chat", "pytest") is None
    assert forbidden_imports(config(tmp_path, "[importlinter]\n")).claimed_by("services.chat", "pytest") is None
