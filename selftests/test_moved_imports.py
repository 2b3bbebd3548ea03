"""Imports across a move, on real git histories: an import left at a module's old place is a
backend import that must resolve, found without the backend's requirements installed.

Each tree is the reference backend as its own repository, changed the way a reorganization
changes a real one (git mv, a package leaving the backend, a package planned but not created),
and each run is the pre-push subset (structure + imports). The backend interpreter is a bare
venv: nothing of the backend is installed, as on a laptop before `pip install`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from selftests.trees import PROJECT, reference_repo

FAST = ("-m", "not startup")


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An interpreter without the backend's requirements (nor pytest)."""
    venv = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    return str(venv / "bin" / "python")


def fast_subset(run_suite, backend: Path, *extra: str):
    return run_suite(backend, str(PROJECT / "tests" / "imports"), *FAST, *extra, part="structure")


def assert_no_distribution_advice(output: str, name: str) -> None:
    """Nothing may tell the user to declare or install a distribution for a backend module."""
    for line in output.splitlines():
        if name in line:
            assert "add the distribution" not in line and "install" not in line, line
            assert "DEP001" not in line, line


def test_lazy_import_left_at_the_old_place_of_a_git_mv(tmp_path, run_suite, bare_python):
    repo = reference_repo(tmp_path / "repo")
    repo.mv("backend/scripts/admin/create_admin.py", "backend/create_admin.py").commit("legacy: admin tool in root")
    repo.edit("backend/services/user_service.py", "def profile_cache_key",
              "def run_admin_cli() -> int:\n    from create_admin import main\n\n    return main()\n\n\n"
              "def profile_cache_key")
    repo.commit("services can run the admin tool")
    baseline = tmp_path / "baseline.txt"
    before = fast_subset(run_suite, repo.root / "backend", f"--conformance-baseline={baseline}", "--update-baseline",
                         f"--backend-python={bare_python}")
    assert before.ret == 0, before.output
    assert "test_move[create_admin.py] | backend/create_admin.py" in baseline.read_text()

    repo.mv("backend/create_admin.py", "backend/scripts/admin/create_admin.py").commit("move as the plan says")
    after = fast_subset(run_suite, repo.root / "backend", f"--backend-python={bare_python}")
    assert after.failed == {"test_imports_resolve[services]"}, after.output
    message = after.messages["test_imports_resolve[services]"]
    assert ("backend/services/user_service.py:17 `from create_admin import main` (lazy: inside a function, so no "
            "import-time check runs it): create_admin is no longer in the backend (it was backend/create_admin.py), "
            "and is not a third-party package; create_admin now lives at backend/scripts/admin/create_admin.py "
            "(backend/create_admin.py moved there in git history)") in message
    assert "fix:  from scripts.admin.create_admin import main" in message
    assert_no_distribution_advice(after.output, "create_admin")

    ratchet = fast_subset(run_suite, repo.root / "backend", f"--conformance-baseline={baseline}",
                          f"--backend-python={bare_python}")
    assert ratchet.failed == {"test_imports_resolve[services]"}, ratchet.output
    assert "not in the baseline (a new finding)" in ratchet.messages["test_imports_resolve[services]"]


def _package_leaves_the_backend(root: Path):
    """A legacy `helpers` package, then its modules moved to utils/ and to a repo-level tools/."""
    repo = reference_repo(root)
    repo.write({
        "backend/helpers/__init__.py": "",
        "backend/helpers/slugs.py": "def slugify(text: str) -> str:\n    return text.lower().replace(' ', '-')\n",
        "backend/helpers/usage_report.py": "def print_report() -> None:\n    print('usage')\n",
    })
    service = root / "backend" / "services" / "chat_service.py"
    text = service.read_text()
    docstring_end = text.index('"""', 3) + 3
    service.write_text(text[:docstring_end] + "\n\nfrom helpers.slugs import slugify" + text[docstring_end:]
                       + "\n\ndef usage() -> None:\n    from helpers import usage_report\n\n"
                         "    usage_report.print_report()\n")
    repo.commit("legacy helpers package")
    repo.mv("backend/helpers/slugs.py", "backend/utils/slugs.py")
    repo.mv("backend/helpers/usage_report.py", "tools/usage_report.py")
    repo.rm("backend/helpers/__init__.py")
    return repo.commit("helpers leave the backend")


def test_package_removed_from_the_backend_modules_moved_inside_and_outside(tmp_path, run_suite, bare_python):
    repo = _package_leaves_the_backend(tmp_path / "repo")
    run = fast_subset(run_suite, repo.root / "backend", f"--backend-python={bare_python}")
    assert run.failed == {"test_imports_resolve[services]"}, run.output
    message = run.messages["test_imports_resolve[services]"]
    assert "2 findings:" in message
    assert ("backend/services/chat_service.py:3 `from helpers.slugs import slugify`: helpers is no longer in the "
            "backend (it was backend/helpers/") in message
    assert ("helpers.slugs now lives at backend/utils/slugs.py (backend/helpers/slugs.py moved there in git "
            "history)\n  rule: imports_resolve (phase 3)") in message
    assert "fix:  from utils.slugs import slugify" in message
    assert ("`from helpers import usage_report` (lazy: inside a function, so no import-time check runs it): "
            "helpers is no longer in the backend") in message
    assert ("helpers.usage_report now lives at tools/usage_report.py, outside the backend "
            "(backend/helpers/usage_report.py moved there in git history)") in message
    assert ("fix:  tools/usage_report.py is outside the backend root, so no import from the backend reaches it: "
            "bring it into a backend package (git mv tools/usage_report.py 'backend/<package>/usage_report.py') "
            "and import it from there, or drop this import") in message
    assert_no_distribution_advice(run.output, "helpers")


def test_module_level_import_of_a_removed_package_is_one_finding_with_the_backend_installed(tmp_path, run_suite):
    """With the requirements installed, importability really imports services.chat_service and
    fails on `helpers`: that failure is the resolver's finding, named, not a second one, and no
    check says to install or declare `helpers`."""
    repo = _package_leaves_the_backend(tmp_path / "repo")
    run = fast_subset(run_suite, repo.root / "backend")
    assert run.failed == {"test_imports_resolve[services]"}, run.output
    assert "is reported by test_imports_resolve[services]; the import of " in run.output
    assert_no_distribution_advice(run.output, "helpers")


def test_import_of_a_planned_package_that_does_not_exist_yet(tmp_path, run_suite, bare_python):
    spec_dir = tmp_path / "spec"
    spec_dir.mkdir()
    text = (PROJECT / "pyproject.toml").read_text()
    marker = "[tool.conformance.dirs]\n"
    text = text.replace(marker, marker + '"notifications" = { purpose = "Push notifications", package = true }\n')
    (spec_dir / "pyproject.toml").write_text(text)
    shutil.copy(PROJECT / ".importlinter", spec_dir / ".importlinter")
    spec = f"--conformance-config={spec_dir / 'pyproject.toml'}"
    repo = reference_repo(tmp_path / "repo")
    baseline = tmp_path / "baseline.txt"
    recorded = fast_subset(run_suite, repo.root / "backend", spec, f"--conformance-baseline={baseline}",
                           "--update-baseline", f"--backend-python={bare_python}")
    assert recorded.ret == 0, recorded.output
    assert "test_required_dir[notifications]" in baseline.read_text()

    repo.edit("backend/services/user_service.py", "def profile_cache_key",
              "def notify(user_id: int) -> None:\n    from notifications.push import send_push\n\n"
              "    send_push(user_id)\n\n\ndef profile_cache_key")
    repo.commit("notify users")
    run = fast_subset(run_suite, repo.root / "backend", spec, f"--conformance-baseline={baseline}",
                      f"--backend-python={bare_python}")
    assert run.failed == {"test_imports_resolve[services]"}, run.output
    message = run.messages["test_imports_resolve[services]"]
    assert ("backend/services/user_service.py:17 `from notifications.push import send_push` (lazy: inside a "
            "function, so no import-time check runs it): notifications is not in the backend yet (the plan's target "
            "layout has notifications/), and is not a third-party package") in message
    assert ("fix:  create it as the plan says (mkdir -p backend/notifications && touch "
            "backend/notifications/__init__.py) and move the code there, or import it from where it lives now") in message
    assert_no_distribution_advice(run.output, "notifications")
