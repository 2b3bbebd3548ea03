"""tests/imports/test_contracts.py as pytest items: missing root packages reported once, imports
of the entry point, and the same outcome whatever the working directory of `python -m pytest`."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from selftests.builder import make_repo
from selftests.conftest import SuiteRun
from selftests.trees import PROJECT, reference_repo

LAYERED = {
    "backend/requirements.txt": "fastapi\n",
    "backend/main.py": "from fastapi import FastAPI\n\nfrom api.chat import router\n\napp = FastAPI()\n",
    "backend/api/__init__.py": "",
    "backend/api/chat.py": "from database.crud import save\n\nrouter = save\n",
    "backend/database/__init__.py": "",
    "backend/database/crud.py": "def save():\n    return None\n",
    "backend/scripts/__init__.py": "",
    "backend/scripts/admin/__init__.py": "",
    "backend/scripts/admin/serve.py": "from main import app\n",  # entry points may import anything
}

CONTRACTS = """\
[importlinter]
root_packages =
    api
    database
    scripts
    {extra}

[importlinter:contract:layers]
name = api > database
type = layers
layers =
    api
    database
"""

ITEMS = "-k", "test_contract or entry_point"


def run_items(run_suite, repo: Path, extra_root: str = "") -> SuiteRun:
    """The contract and entry-point items of tests/imports with a small contracts file."""
    contracts = repo / "contracts.ini"
    contracts.write_text(CONTRACTS.format(extra=extra_root), encoding="utf-8")
    return run_suite(repo / "backend", f"--importlinter-config={contracts}", *ITEMS, part="imports")


# Entry point
# -----------


def test_lazy_import_of_main_from_a_layer_fails_with_where_why_and_fix(tmp_path, run_suite):
    files = LAYERED | {"backend/database/crud.py": (
        "def save():\n    from main import app\n\n    return app\n")}
    make_repo(tmp_path / "repo", files)
    run = run_items(run_suite, tmp_path / "repo")
    assert run.failed == {"test_entry_point_not_imported"}, run.output
    message = run.messages["test_entry_point_not_imported"]
    assert "1 finding:" in message
    assert (
        "backend/database/crud.py:2 `from main import app` imports the top-level module main.py lazily, inside "
        "a function (it runs when the function is first called): database.crud is in the layer database, and "
        "the entry point sits above every layer; import-linter cannot see this import (main.py is no package)\n"
        '  rule: entry_point (phase 3) - "Proposed Target Structure: main.py # FastAPI app entry point '
        '(above the layers)"\n'
        "  fix:  move what database.crud needs from main.py into database or a lower layer and import it from "
        "there (or pass it in from the caller); main.py keeps importing the layers, never the reverse"
    ) in message
    assert run.outcomes["test_contract[layers]"] == "passed"  # import-linter alone never saw it


def test_module_level_import_of_another_root_module_is_reported_too(tmp_path, run_suite):
    files = LAYERED | {"backend/settings_loader.py": "X = 1\n",
                       "backend/api/chat.py": "import settings_loader\nfrom database.crud import save\n"}
    make_repo(tmp_path / "repo", files)
    run = run_items(run_suite, tmp_path / "repo")
    assert run.failed == {"test_entry_point_not_imported"}, run.output
    assert ("backend/api/chat.py:1 `import settings_loader` imports the top-level module settings_loader.py at "
            "module level") in run.messages["test_entry_point_not_imported"]


def test_conforming_tree_passes_and_scripts_may_import_main(tmp_path, run_suite):
    make_repo(tmp_path / "repo", LAYERED)
    run = run_items(run_suite, tmp_path / "repo")
    assert run.outcomes["test_entry_point_not_imported"] == "passed", run.output
    assert run.failed == set(), run.output


def test_without_top_level_modules_there_is_nothing_to_examine(tmp_path, run_suite):
    files = {k: v for k, v in LAYERED.items() if k != "backend/main.py"} | {
        "backend/scripts/admin/serve.py": "X = 1\n"}
    make_repo(tmp_path / "repo", files)
    run = run_items(run_suite, tmp_path / "repo")
    assert run.outcomes["test_entry_point_not_imported"] == "skipped"
    assert "nothing to examine: the backend root holds no single-file Python module (no main.py)" in \
        run.messages["test_entry_point_not_imported"]


def test_reference_backend_passes_the_entry_point_check(tmp_path, run_suite):
    repo = reference_repo(tmp_path / "chatai")
    run = run_suite(repo.root / "backend", *ITEMS, part="imports")
    assert run.failed == set(), run.output
    assert run.outcomes["test_entry_point_not_imported"] == "passed"
    assert run.outcomes["test_contract_root_packages"] == "passed"


# Missing root packages: reported by one item, never once per contract
# --------------------------------------------------------------------


def test_a_missing_root_package_outside_the_plan_fails_one_item_only(tmp_path, run_suite):
    make_repo(tmp_path / "repo", LAYERED)
    run = run_items(run_suite, tmp_path / "repo", extra_root="legacy")
    assert run.failed == {"test_contract_root_packages"}, run.output
    message = run.messages["test_contract_root_packages"]
    contracts = tmp_path / "repo" / "contracts.ini"
    assert (f"{contracts} lists the root package 'legacy', but {tmp_path / 'repo' / 'backend' / 'legacy'} is "
            "not a directory and the plan has no /legacy/: every contract runs without it") in message
    assert f"fix:  create legacy/__init__.py in the backend, or remove legacy from root_packages in {contracts}" \
        in message
    assert run.outcomes["test_contract[layers]"] == "passed"


def test_a_missing_planned_root_package_is_left_to_test_required_dir(tmp_path, run_suite):
    make_repo(tmp_path / "repo", LAYERED)
    run = run_items(run_suite, tmp_path / "repo", extra_root="services")
    assert run.outcomes["test_contract_root_packages"] == "skipped", run.output
    assert ("root package(s) services of contracts.ini do not exist yet; the contracts run without them and "
            "test_required_dir[services] reports them") in run.messages["test_contract_root_packages"]
    assert run.outcomes["test_contract[layers]"] == "passed"


# Working directory: `python -m pytest` from the repository root sees the same backend
# ------------------------------------------------------------------------------------


def _outcomes(junit: Path) -> dict[str, str]:
    """Outcome per test id from a junit report: passed, failed, error or skipped."""
    outcomes = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        outcomes[f"{case.get('classname')}::{case.get('name')}"] = (kinds[0] if kinds else "passed")
    return outcomes


def test_repo_level_scripts_and_tests_folders_do_not_change_any_outcome(tmp_path):
    """The fast subset as a real `python -m pytest`, once from the repository root (the cwd
    goes first on sys.path) and once from an unrelated dir: identical outcomes, contracts kept.
    The backend's scripts/ has no __init__.py (a namespace package, as before phase 3) and the
    backend has a tests/ package: both names also exist at the repository level."""
    repo = reference_repo(tmp_path / "repo")
    repo.rm("backend/scripts/__init__.py")
    repo.write({"scripts/deploy.py": "from api.chat import router\n", "scripts/ci/__init__.py": "",
                "tests/__init__.py": "", "tests/test_e2e.py": "from database.crud import save\n",
                "backend/tests/__init__.py": "", "backend/tests/test_smoke.py": "def test_smoke():\n    pass\n"})
    repo.commit("repository-level scripts/ and tests/")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CONFORMANCE_"))}
    runs = []
    for cwd, name in ((repo.root, "from-repo"), (elsewhere, "from-elsewhere")):
        junit = tmp_path / f"{name}.xml"
        args = [sys.executable, "-m", "pytest", str(PROJECT / "tests" / "imports"),
                str(PROJECT / "tests" / "structure"), "-m", "not startup", f"--backend-root={repo.root / 'backend'}", "-c", str(PROJECT / "pyproject.toml"),
                "-p", "no:cacheprovider", "-p", "no:randomly", "-q", f"--junitxml={junit}"]
        runs.append((subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True), junit))
    results = []
    for process, junit in runs:
        output, _ = process.communicate(timeout=300)
        assert junit.is_file(), output
        results.append((_outcomes(junit), output))
    (from_repo, output), (from_elsewhere, _) = results
    assert from_repo == from_elsewhere, output
    contract_items = {name.split("::")[1]: outcome for name, outcome in from_repo.items()
                      if name.startswith("tests.imports.test_contracts::")}
    assert contract_items == dict.fromkeys(
        ["test_contract[layers]", "test_contract[no-scripts-in-production]",
         "test_contract[no-test-or-debug-code-in-production]", "test_contract_root_packages",
         "test_entry_point_not_imported"], "passed"), output
    assert "resolves to" not in output
