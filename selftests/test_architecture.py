"""The project's own architecture holds, and each of its import-linter contracts can fail.

The contracts live in pyproject.toml ([tool.importlinter]); `.ci/run` runs lint-imports on
them. Here each contract is broken on purpose, in a copy of src/conformance, by the import it
forbids, and lint-imports must name exactly that contract.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from selftests.trees import PROJECT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
CONTRACTS = {
    "Rooms: cli and pytest glue > checks and reporting > analysis and runtime > repo > proc > model": "layers",
    "Check families are independent of each other": "families",
    "Only the pytest glue imports pytest": "pytest-only-in-glue",
    "Subpackages do not import each other in cycles": "acyclic",
}


def broken_contracts(root: Path) -> set[str]:
    """Run lint-imports on the conformance package under `root`/src with the project's contracts."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)} | {
        "PYTHONPATH": str(root / "src"), "COLUMNS": "400"}
    done = subprocess.run([str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"], cwd=root,
                          env=env, capture_output=True, text=True, timeout=300)
    verdicts = dict(re.findall(r"^(.+?) (KEPT|BROKEN)$", done.stdout, re.MULTILINE))
    assert set(verdicts) == set(CONTRACTS), done.stdout + done.stderr
    return {CONTRACTS[name] for name, verdict in verdicts.items() if verdict == "BROKEN"}


@pytest.fixture
def copy(tmp_path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(PROJECT / "src" / "conformance", root / "src" / "conformance",
                    ignore=shutil.ignore_patterns("__pycache__", "data"))
    shutil.copy(PROJECT / "pyproject.toml", root / "pyproject.toml")
    return root


def add_line(root: Path, module: str, line: str) -> None:
    path = root / "src" / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")


pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="lint-imports is not installed")


def test_the_project_keeps_its_architecture(copy):
    assert broken_contracts(copy) == set()


@pytest.mark.parametrize(("module", "line", "expected"), [
    ("conformance.checks.structure.layout", "import pytest  # noqa", {"pytest-only-in-glue"}),
    ("conformance.checks.docs.readme", "from conformance.checks.imports import entrypoints  # noqa", {"families"}),
    ("conformance.repo.git", "from conformance.reporting import summary  # noqa", {"layers"}),
    ("conformance.runtime.dburl", "from conformance.analysis import newersyntax  # noqa", {"acyclic"}),
], ids=["pytest in a check", "one family imports another", "repo imports a higher room", "cycle between siblings"])
def test_each_contract_fails_on_the_import_it_forbids(copy, module, line, expected):
    add_line(copy, module, line)
    assert broken_contracts(copy) == expected
