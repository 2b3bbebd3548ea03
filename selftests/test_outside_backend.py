"""What lies outside the backend: workers kept at the repository root, a planned file moved out.
The finding says where it is and how to point the spec at it, once per cause."""

from __future__ import annotations

from selftests.trees import reference_repo


def test_workers_kept_beside_the_backend_is_one_finding_that_says_how_to_point_the_spec(tmp_path, run_suite):
    repo = reference_repo(tmp_path / "repo")
    repo.mv("backend/workers", "workers").commit("workers beside the backend")
    run = run_suite(repo.root / "backend", "-rs")
    assert run.failed == {"test_required_dir[workers]"}, run.output
    message = run.messages["test_required_dir[workers]"]
    assert ("backend/workers/ is missing from the backend, but workers/ exists at the repository root (so do the "
            "plan's dirs and moved files under it)") in message
    assert ('fix:  if the project keeps workers/ beside the backend on purpose, point the spec at it: workers = '
            '"//workers", and "//workers/..." for the dirs and move destinations under it (// is the repository '
            "root); else move it into the backend: git mv workers backend/workers") in message
    for held in ("test_required_dir[workers/telegram]", "test_move[worker/bot_worker.js]", "test_move[package.json]"):
        assert run.outcomes[held] == "skipped", held
        assert "workers/ is kept beside the backend, at the repository root: see test_required_dir[workers]" \
            in run.messages[held]


def test_planned_file_moved_out_of_the_backend_says_where_it_is(tmp_path, run_suite):
    repo = reference_repo(tmp_path / "repo")
    repo.mv("backend/scripts/admin/create_admin.py", "tools/create_admin.py").commit("tool moved out")
    run = run_suite(repo.root / "backend")
    assert "test_move[create_admin.py]" in run.failed, run.output
    message = run.messages["test_move[create_admin.py]"]
    assert ("backend/scripts/admin/create_admin.py does not exist; create_admin.py is outside the backend, at "
            "tools/create_admin.py; the plan moves it to scripts/admin/") in message
    assert "fix:  git mv tools/create_admin.py backend/scripts/admin/create_admin.py" in message
    assert "restore it from history" not in message
