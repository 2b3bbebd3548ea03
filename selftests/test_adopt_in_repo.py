"""The README's adoption steps, followed on a fresh generated repository (the legacy layout)."""

from __future__ import annotations

import subprocess
import sys
import tomllib

from conformance.model.spec_loader import load_spec
from selftests.trees import PROJECT, legacy_repo


def _run(argv: list[str], cwd) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_bundled_templates_match_the_project_plan():
    """conformance.toml shipped for `init` is the plan in pyproject.toml; .importlinter likewise."""
    shipped = load_spec(PROJECT / "src/conformance/data/conformance.toml")
    ours = load_spec(PROJECT / "pyproject.toml")
    for field in ("workers", "dirs", "moves", "forbidden", "root_allow", "phases", "imports", "app", "deploy",
                  "worker_processes", "test_env", "non_production", "max_root_files"):
        assert getattr(shipped, field) == getattr(ours, field), field
    assert (PROJECT / "src/conformance/data/importlinter.ini").read_text() == (PROJECT / ".importlinter").read_text()


def test_adoption_steps_give_a_truthful_report(tmp_path):
    repo = legacy_repo(tmp_path / "team-repo")
    init = _run([sys.executable, "-m", "conformance", "init", "--backend", "backend"], repo.root)
    assert init.returncode == 0, init.stderr
    assert "wrote conformance.toml" in init.stdout and "wrote .importlinter" in init.stdout
    assert tomllib.loads((repo.root / "conformance.toml").read_text())["backend"] == "backend"

    suite = [sys.executable, "-m", "pytest", "--pyargs", "conformance.suite", "-m", "not startup", "-q",
             "-p", "no:cacheprovider", "-p", "no:randomly"]
    report = tmp_path / "report.md"
    run = _run([*suite, f"--conformance-report={report}"], repo.root)
    assert run.returncode == 1, run.stdout[-3000:]
    for expected in ("test_move[cleanup_users.py]", "test_runtime_dir_ignored[data]", "test_module_package_clash",
                     "test_node_only_in_workers"):
        assert "FAILED " in run.stdout and expected in run.stdout, expected
    assert "test_required_dir[api]" not in [line.split("::")[-1] for line in run.stdout.splitlines()
                                             if line.startswith("FAILED")]
    assert "plan conformance" in run.stdout and report.read_text().startswith("# Backend conformance")
    assert "backend/cleanup_users.py is in the backend root; the plan moves it to scripts/admin/" in report.read_text()

    baseline = [f"--conformance-baseline={repo.root / 'conformance-baseline.txt'}"]
    assert _run([*suite, *baseline, "--update-baseline"], repo.root).returncode == 0
    green = _run([*suite, *baseline], repo.root)
    assert green.returncode == 0, green.stdout[-3000:]
    assert "xfailed" in green.stdout.splitlines()[-1]
