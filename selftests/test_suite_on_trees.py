"""The structure suite end to end (in-process pytester) on the legacy and reference trees."""

from __future__ import annotations


from selftests.trees import LEGACY_FAILURES, legacy_repo, reference_repo


def test_legacy_tree_fails_once_per_violation(tmp_path, run_suite):
    legacy_repo(tmp_path / "repo")
    run = run_suite(tmp_path / "repo" / "backend")
    assert run.failed == set(LEGACY_FAILURES), run.output
    for test_id, fragments in LEGACY_FAILURES.items():
        for fragment in fragments:
            assert fragment in run.messages[test_id], f"{test_id}: {fragment!r} not in\n{run.messages[test_id]}"
        assert "rule: " in run.messages[test_id] and "fix:  " in run.messages[test_id]
    assert run.ret == 1


def test_reference_backend_passes(tmp_path, run_suite):
    reference_repo(tmp_path / "chatai")
    run = run_suite(tmp_path / "chatai" / "backend")
    assert run.failed == set(), run.output
    assert run.with_outcome("passed"), run.output
    assert run.ret == 0


def test_legacy_tree_import_checks_leave_structure_problems_to_the_structure_suite(tmp_path, run_suite):
    """database.py beside database/ and the missing scripts/ package are structure findings; the
    import part says why it cannot check instead of failing the same problems again."""
    legacy_repo(tmp_path / "repo")
    run = run_suite(tmp_path / "repo" / "backend", part="imports")
    assert run.failed == set(), run.output
    assert run.outcomes["test_contract[layers]"] == "passed"
    assert "test_required_dir[scripts] reports them" in run.messages["test_contract_root_packages"]
    assert run.outcomes["test_importable[root]"] == "passed"
