"""Worker scripts after a move: a relative require left at the old place is a dead reference,
and worker checks with nothing to examine skip, saying why."""

from __future__ import annotations

from selftests.trees import reference_repo


def test_require_left_behind_by_a_move_names_the_new_place(tmp_path, run_suite):
    repo = reference_repo(tmp_path / "repo")
    manager = repo.root / "backend/workers/master/scalable_bot_manager.js"
    lines = manager.read_text().splitlines(keepends=True)
    lines.insert(6, "const legacy = () => require('../../worker/bot_worker');\n")
    manager.write_text("".join(lines))
    repo.commit("a lazy require of the worker's old place")
    run = run_suite(repo.root / "backend", "-k", "worker_js_syntax", part="startup")
    assert run.failed == {"test_worker_js_syntax"}, run.output
    message = run.messages["test_worker_js_syntax"]
    assert ("backend/workers/master/scalable_bot_manager.js:7 requires '../../worker/bot_worker', which resolves to "
            "no file (node fails when this line runs)") in message
    assert "fix:  it moved to backend/workers/telegram/bot_worker.js: require('../telegram/bot_worker')" in message


def test_requires_that_resolve_by_nodes_rules_pass():
    from pathlib import Path

    from conformance.checks.workers.requires import resolve
    from conformance.repo.index import RepoIndex

    files = {"w/a.js", "w/lib/index.js", "w/data.json", "w/pkg/package.json", "w/pkg/dist/main.js"}
    index = RepoIndex(root=Path("/nonexistent"), backend=Path("/nonexistent"), prefix="", files=frozenset(files))
    assert resolve(index, "w", "./a") == "w/a.js"
    assert resolve(index, "w", "./lib") == "w/lib/index.js"
    assert resolve(index, "w", "./data.json") == "w/data.json"
    assert resolve(index, "w/lib", "../a.js") == "w/a.js"
    assert resolve(index, "w", "./missing") is None


def test_worker_checks_skip_when_the_workers_dir_is_missing(tmp_path, run_suite):
    repo = reference_repo(tmp_path / "repo")
    repo.rm("backend/workers").commit("no workers yet")
    run = run_suite(repo.root / "backend", "-k", "worker_js_syntax or worker_packages", part="startup")
    assert run.outcomes == {"test_worker_js_syntax": "skipped", "test_worker_packages": "skipped"}, run.output
    assert "no JavaScript file under backend/workers/: nothing to check" in run.messages["test_worker_js_syntax"]
    assert "no package.json under backend/workers/: nothing to check" in run.messages["test_worker_packages"]
