"""Adoption features on the legacy tree: phases, the shrinking baseline, the summary and report."""

from __future__ import annotations

import re

import pytest

from selftests.trees import LEGACY_FAILURES, PROJECT, legacy_repo


@pytest.fixture
def legacy(tmp_path):
    repo = legacy_repo(tmp_path / "repo")
    return repo, repo.root / "backend"


def _counts(output: str) -> dict[str, int]:
    closing = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed)", line)][-1]
    return {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|xfailed|errors?)", closing)}


def test_phase_one_enforces_phase_one_and_skips_the_rest_with_counts(legacy, run_suite):
    _, backend = legacy
    run = run_suite(backend, "--phase", "1")
    assert "test_move[cleanup_users.py]" in run.failed  # phase 1
    assert "test_move[package.json]" not in run.failed  # phase 2
    assert run.outcomes["test_move[package.json]"] == "skipped"
    assert "phase 2 not enforced yet (--phase 1): would raise 1 finding(s)" in run.messages["test_move[package.json]"]
    assert run.outcomes["test_package_dir[schemas]"] == "skipped"
    assert "phase 3 not enforced yet" in run.messages["test_package_dir[schemas]"]
    assert "enforcing plan phase 1; later phases run and are counted as held back" in run.output
    # Held back is a column of its own (not a plain skip), and what the tests would raise shows without -rs.
    header = next(line for line in run.output.splitlines() if line.startswith("success criterion"))
    assert header.split()[2:] == ["passed", "failed", "error", "baselined", "held", "back", "skipped"]
    total = next(line for line in run.output.splitlines() if line.startswith("total")).split()
    held = sum(1 for name, message in run.messages.items() if "not enforced yet (--phase 1)" in message)
    assert held and int(total[5]) == held
    assert "  test_move[package.json] (phase 2): would raise 1 finding(s)" in run.output


def test_structural_rules_count_under_structure_not_documentation():
    from conformance.reporting.summary import NO_CRITERION, Outcome, Tally, rows

    tally = Tally()
    for rule in ("required_dir", "root_dirs", "docs"):
        tally.record(Outcome(f"t::{rule}", rule, 1, "passed"))
    table = dict(rows(tally, "criterion"))
    assert table[NO_CRITERION]["passed"] == 2
    assert table["Clear documentation of new structure"]["passed"] == 1


def test_bad_phase_is_a_usage_error(legacy, run_suite):
    _, backend = legacy
    run = run_suite(backend, "--phase", "7")
    assert run.ret == pytest.ExitCode.USAGE_ERROR and "--phase must be 1, 2, 3 or 4, got 7" in run.output


def test_baseline_ratchet(legacy, tmp_path, run_suite):
    repo, backend = legacy
    baseline = tmp_path / "baseline.txt"
    recorded = run_suite(backend, f"--conformance-baseline={baseline}", "--update-baseline")
    assert recorded.ret == 0, recorded.output
    lines = [l for l in baseline.read_text().splitlines() if not l.startswith("#")]
    assert lines == sorted(lines) and len(lines) >= len(LEGACY_FAILURES)
    assert "test_move[cleanup_users.py] | backend/cleanup_users.py | is in the backend root" in baseline.read_text()

    green = run_suite(backend, f"--conformance-baseline={baseline}")
    assert green.ret == 0 and green.failed == set(), green.output
    assert green.with_outcome("skipped") >= set(LEGACY_FAILURES)  # xfail reports count as skipped here
    assert "baselined: 1 finding" in green.messages["test_move[cleanup_users.py]"]

    # Fixing a finding never turns the run red: it is reported, and fails only under --strict-baseline
    # (the CI job that guards the baseline file) until --update-baseline drops the entry.
    repo.mv("backend/notes.txt", "backend/tests/notes.txt")
    fixed = run_suite(backend, f"--conformance-baseline={baseline}")
    assert fixed.ret == 0 and fixed.failed == set(), fixed.output
    assert "fixed: 1 baseline entry no longer occur; `--update-baseline` removes them from" in fixed.output
    strict = run_suite(backend, f"--conformance-baseline={baseline}", "--strict-baseline")
    assert strict.failed == {"test_root_files"}, strict.output
    assert "test_root_files | backend/notes.txt | is in the backend root" in strict.messages["test_root_files"]
    run_suite(backend, f"--conformance-baseline={baseline}", "--update-baseline")
    assert "backend/notes.txt" not in baseline.read_text()
    assert run_suite(backend, f"--conformance-baseline={baseline}").ret == 0

    # A new violation fails naming only the new finding.
    repo.write({"backend/services/debug_cache.py": "\n"}).commit("new debug script")
    new = run_suite(backend, f"--conformance-baseline={baseline}")
    assert new.failed == {"test_no_forbidden_files[debug_*]"}, new.output
    assert "backend/services/debug_cache.py is a debug script" in new.messages["test_no_forbidden_files[debug_*]"]
    assert "not in the baseline (a new finding): 1 finding:" in new.messages["test_no_forbidden_files[debug_*]"]


def test_baseline_ignores_line_numbers():
    from conformance.reporting.baseline import normalize_message

    assert normalize_message("`from a import b` (lazy): no module x") == normalize_message(
        "`from a import b` (lazy): no module x")
    assert normalize_message("database.crud -> api.chat (l.3)") == normalize_message("database.crud -> api.chat (l.9)")
    assert normalize_message("see backend/x.py:12 and y.py:3:4") == "see backend/x.py and y.py"


def test_malformed_baseline_is_a_usage_error(legacy, tmp_path, run_suite):
    _, backend = legacy
    baseline = tmp_path / "baseline.txt"
    baseline.write_text("# header\nnot a baseline line\n")
    run = run_suite(backend, f"--conformance-baseline={baseline}")
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert f"{baseline}:2: expected 'test id | path | message'" in run.output


def test_summary_and_markdown_report_match_the_outcome_line(legacy, tmp_path, run_suite):
    _, backend = legacy
    report = tmp_path / "report.md"
    run = run_suite(backend, f"--conformance-report={report}")
    counts = _counts(run.output)
    total_line = [l for l in run.output.splitlines() if l.startswith("total")][0].split()
    passed, failed, error, baselined, held, skipped = map(int, total_line[1:7])
    assert (passed, failed, skipped) == (counts.get("passed", 0), counts["failed"], counts.get("skipped", 0))
    assert "Database migrations work" in run.output and "Phase 4" in run.output
    text = report.read_text()
    assert text.startswith("# Backend conformance")
    assert f"**FAILED**: {passed} passed, {failed} failed" in text
    assert "| Clear documentation of new structure |" in text
    assert "## Failures" in text and "test_move[cleanup_users.py]" in text


def test_junit_carries_the_finding_messages(legacy, tmp_path, run_suite):
    _, backend = legacy
    junit = tmp_path / "junit.xml"
    run_suite(backend, f"--junitxml={junit}")
    assert "backend/cleanup_users.py is in the backend root; the plan moves it to scripts/admin/" in junit.read_text()


def test_fix_plan_commands_bring_the_legacy_tree_to_the_target_layout(legacy, run_suite):
    import subprocess
    import sys

    repo, backend = legacy
    plan = subprocess.run([sys.executable, "-m", "conformance", "plan", f"--backend-root={backend}"],
                          cwd=str(PROJECT), capture_output=True, text=True, timeout=60)
    assert plan.returncode == 0, plan.stderr
    assert "# --- Phase 1 ---" in plan.stdout and "# --- Phase 2 ---" in plan.stdout
    assert "mkdir -p backend/scripts/admin && git mv backend/cleanup_users.py " \
           "backend/scripts/admin/cleanup_users.py" in plan.stdout
    assert "echo /data/ >> backend/.gitignore" in plan.stdout
    assert "git rm -r --cached -- backend/logs" in plan.stdout
    before = repo.git("status", "--porcelain")
    assert before == ""  # printing the plan changed nothing
    applied = subprocess.run(["bash", "-c", plan.stdout], capture_output=True, text=True, timeout=60)
    assert applied.returncode == 0, applied.stderr
    run = run_suite(backend)
    assert run.failed == set(), run.output


def test_fix_plan_on_a_conforming_backend_has_nothing_to_do(tmp_path):
    import subprocess
    import sys

    from selftests.trees import reference_repo

    repo = reference_repo(tmp_path / "chatai")
    plan = subprocess.run([sys.executable, "-m", "conformance", "plan", f"--backend-root={repo.root / 'backend'}"],
                          cwd=str(PROJECT), capture_output=True, text=True, timeout=60)
    assert "# nothing to do: the structure conforms to the plan" in plan.stdout


def test_fix_plan_reports_a_broken_spec_without_traceback(tmp_path):
    import subprocess
    import sys

    config = tmp_path / "spec.toml"
    config.write_text("max_root_file = 1\n")
    plan = subprocess.run([sys.executable, "-m", "conformance", "plan", f"--config={config}",
                           f"--backend-root={tmp_path}"], capture_output=True, text=True, timeout=60)
    assert plan.returncode == 4  # pytest's usage-error code: the plugin and the CLI fail alike
    assert plan.stderr.startswith("ERROR: conformance: ")
    assert 'unknown key "max_root_file"' in plan.stderr and "Traceback" not in plan.stderr
