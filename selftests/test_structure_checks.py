"""One tree per structure check: a conforming skeleton plus exactly one violation.

Each case runs the real suite in-process and asserts that exactly the expected test fails,
with the expected message and fix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from selftests.builder import Repo, conforming_backend, make_repo


@dataclass
class Case:
    failing: str
    fragments: list[str]
    change: Callable[[Repo], object]
    extra_args: list[str] = field(default_factory=list)


def _write_commit(files: dict[str, str], force: tuple[str, ...] = ()) -> Callable[[Repo], object]:
    def change(repo: Repo) -> None:
        repo.write(files)
        repo.git("add", "-A")
        if force:
            repo.git("add", "-f", *force)
        repo.commit("violation", add_all=False)
    return change


def _delete(*paths: str) -> Callable[[Repo], object]:
    return lambda repo: repo.rm(*paths).commit("delete")


CASES = {
    "missing dir": Case(
        "test_required_dir[services]",
        ["backend/services/ is missing; the plan's target structure has /services/ (Business logic)",
         "fix:  mkdir -p backend/services && touch backend/services/__init__.py && git add backend/services/__init__.py"],
        _delete("backend/services/__init__.py")),
    "namespace package": Case(
        "test_package_dir[api]",
        ["backend/api/ has no __init__.py", "fix:  touch backend/api/__init__.py && git add backend/api/__init__.py"],
        lambda repo: (repo.write({"backend/api/routes.py": "x = 1\n"}), _delete("backend/api/__init__.py")(repo))),
    "script left in root": Case(
        "test_move[cleanup_users.py]",
        ["backend/cleanup_users.py is still here although the plan moved it to scripts/admin/",
         "git rm -- backend/cleanup_users.py"],
        _write_commit({"backend/cleanup_users.py": "\n"})),
    "old copy deep in a package": Case(
        "test_move[create_admin.py]",
        ["backend/services/admin/create_admin.py is still here although the plan moved it to scripts/admin/"],
        _write_commit({"backend/services/admin/create_admin.py": "\n", "backend/services/admin/__init__.py": ""})),
    "stray root file": Case(
        "test_root_files",
        ["backend/Procfile is in the backend root, which the plan keeps to: main.py, requirements.txt"],
        _write_commit({"backend/Procfile": "web: uvicorn main:app\n"})),
    "unplanned top-level dir": Case(
        "test_root_dirs",
        ["backend/legacy/ is not in the plan's target structure (2 files)", 'add "legacy" to [tool.conformance.root] allow_dirs'],
        _write_commit({"backend/legacy/a.py": "\n", "backend/legacy/b.py": "\n"})),
    "debug script nested in a package": Case(
        "test_no_forbidden_files[debug_*]",
        ["backend/services/debug_payments.py is a debug script in production code (matches debug_*)",
         "mkdir -p backend/scripts/debug && git mv backend/services/debug_payments.py backend/scripts/debug/debug_payments.py"],
        _write_commit({"backend/services/debug_payments.py": "\n"})),
    "committed dump": Case(
        "test_no_forbidden_files[dumps]",
        ["backend/database/prod.sqlite3 is a database dump or local database committed with the code",
         "git rm --cached -- backend/database/prod.sqlite3"],
        _write_commit({"backend/database/prod.sqlite3": "SQLite format 3\n"})),
    "javascript in a python package": Case(
        "test_node_only_in_workers",
        ["backend/utils/format.js is a Node.js file outside workers/",
         "mkdir -p backend/workers/utils && git mv backend/utils/format.js backend/workers/utils/format.js"],
        _write_commit({"backend/utils/format.js": "module.exports = {}\n"})),
    "committed node_modules": Case(
        "test_node_only_in_workers",
        ["backend/node_modules/ holds 2 tracked files", "git rm -r --cached -- backend/node_modules"],
        _write_commit({"backend/node_modules/a/index.js": "1\n", "backend/node_modules/a/package.json": "{}\n"},
                      force=("backend/node_modules",))),
    "python in workers": Case(
        "test_no_python_in_workers",
        ["backend/workers/telegram/helper.py is a Python file inside workers/, which holds Node.js only"],
        _write_commit({"backend/workers/telegram/helper.py": "\n"})),
    "data not ignored": Case(
        "test_runtime_dir_ignored[data]",
        ["backend/.gitignore does not ignore backend/data/", "fix:  echo /data/ >> backend/.gitignore"],
        _write_commit({"backend/.gitignore": "/logs/\n__pycache__/\n"})),
    "ignored only locally": Case(
        "test_runtime_dir_ignored[data]",
        ["only .git/info/exclude does ('/backend/data/'), which is not committed"],
        lambda repo: (_write_commit({"backend/.gitignore": "/logs/\n"})(repo),
                      (repo.root / ".git/info/exclude").write_text("/backend/data/\n"))),
    "runtime file tracked": Case(
        "test_runtime_dir_untracked[data]",
        ["backend/data/ holds 1 file tracked by git: backend/data/users.json", "git rm -r --cached -- backend/data"],
        _write_commit({"backend/data/users.json": "[]\n"}, force=("backend/data/users.json",))),
    "ignored file tracked": Case(
        "test_no_tracked_ignored_files",
        ["backend/.env is tracked although backend/.gitignore:5 ('.env') ignores it", "git rm --cached -- backend/.env"],
        _write_commit({"backend/.env": "TOKEN=x\n"}, force=("backend/.env",))),
    "module beside an empty package": Case(
        "test_module_package_clash",
        ["backend/cache.py sits beside the package backend/cache/",
         "fix:  git rm -- backend/cache/__init__.py && git mv backend/cache.py backend/cache/__init__.py   # deletes the "
         "empty __init__.py, then this module's code takes its place, history kept"],
        _write_commit({"backend/cache.py": "CACHE = {}\n", "backend/cache/__init__.py": "# cache package\n"})),
    "module beside a package with code": Case(
        "test_module_package_clash",
        ["backend/cache.py sits beside the package backend/cache/",
         "fix:  merge what backend/cache.py defines into backend/cache/__init__.py (importers get the package), "
         "then: git rm -- backend/cache.py   # deletes this module: do it only after the merge"],
        _write_commit({"backend/cache.py": "CACHE = {}\n", "backend/cache/__init__.py": "from cache.redis_cache import Cache\n"})),
    "merge leftover": Case(
        "test_no_forbidden_files[leftovers]",
        ["backend/services/chat_service.py.orig is an editor or merge leftover (matches *.bak, *.orig, *.tmp, *~)"],
        _write_commit({"backend/services/chat_service.py.orig": "old\n"})),
    "typescript outside workers": Case(
        "test_node_only_in_workers",
        ["backend/utils/format.ts is a Node.js file outside workers/",
         "mkdir -p backend/workers/utils && git mv backend/utils/format.ts backend/workers/utils/format.ts"],
        _write_commit({"backend/utils/format.ts": "export const x = 1\n"})),
    "python script without extension in workers": Case(
        "test_no_python_in_workers",
        ["backend/workers/telegram/rotate_logs is a Python file inside workers/, which holds Node.js only"],
        _write_commit({"backend/workers/telegram/rotate_logs": "#!/usr/bin/env python3\nprint('rotate')\n"})),
    "module beside namespace dir": Case(
        "test_module_package_clash",
        ["backend/utils/helpers.py sits beside backend/utils/helpers/, which has no __init__.py",
         "git mv backend/utils/helpers.py backend/utils/helpers/__init__.py"],
        _write_commit({"backend/utils/helpers.py": "\n", "backend/utils/helpers/x.py": "\n"})),
}


@pytest.fixture
def skeleton(tmp_path, spec) -> Repo:
    return make_repo(tmp_path / "repo", conforming_backend(spec))


def test_conforming_skeleton_passes(skeleton, run_suite):
    run = run_suite(skeleton.root / "backend")
    assert run.failed == set(), run.output
    assert run.ret == 0


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_single_violation_fails_exactly_its_check(case: Case, skeleton, run_suite):
    case.change(skeleton)
    run = run_suite(skeleton.root / "backend", *case.extra_args)
    assert run.failed == {case.failing}, run.output
    message = run.messages[case.failing]
    for fragment in case.fragments:
        assert fragment in message, f"{fragment!r} not in:\n{message}"


def test_root_file_count_limit(tmp_path, run_suite):
    config = tmp_path / "spec.toml"
    config.write_text('backend = "repo/backend"\nmax_root_files = 2\n[root]\nallow = ["*"]\n')
    make_repo(tmp_path / "repo", {"backend/main.py": "", "backend/a.py": "", "backend/b.py": ""})
    run = run_suite(None, "--conformance-config", str(config))
    assert run.failed == {"test_root_file_count"}, run.output
    assert "backend/ holds 3 files in its root, more than max_root_files = 2: a.py, b.py, main.py" \
        in run.messages["test_root_file_count"]


def test_scripts_may_hold_debug_files(skeleton, run_suite):
    _write_commit({"backend/scripts/debug/debug_tokens.py": "\n", "backend/tests/test_api.py": "\n"})(skeleton)
    assert run_suite(skeleton.root / "backend").failed == set()


def test_logs_dir_with_own_gitignore_conforms(skeleton, run_suite):
    """The common `logs/.gitignore` holding `*` and `!.gitignore` ignores the dir and keeps it."""
    _write_commit({"backend/.gitignore": "/data/\n", "backend/logs/.gitignore": "*\n!.gitignore\n"})(skeleton)
    run = run_suite(skeleton.root / "backend")
    assert run.failed == set(), run.output


def test_identical_copy_then_delete_keeps_history(tmp_path, spec, run_suite):
    """git log --follow links an unchanged copy to its source: no false alarm."""
    files = conforming_backend(spec)
    del files["backend/scripts/admin/create_admin.py"]
    repo = make_repo(tmp_path / "repo", {**files, "backend/create_admin.py": "print('admin')\n"})
    repo.write({"backend/scripts/admin/create_admin.py": "print('admin')\n"}).commit("copy admin script")
    repo.rm("backend/create_admin.py").commit("remove old admin script")
    run = run_suite(repo.root / "backend", "-W", "always")
    assert run.outcomes["test_move_history[create_admin.py]"] == "passed"
    assert "lost the file's history" not in run.output


def test_rewrite_and_delete_warns_with_the_commits(tmp_path, spec, run_suite):
    files = conforming_backend(spec)
    del files["backend/scripts/admin/create_admin.py"]
    repo = make_repo(tmp_path / "repo", {**files, "backend/create_admin.py": "print('admin')\n"})
    # Rewritten while copied: too little in common for git to link the two files.
    rewritten = "import argparse\n\n\ndef main():\n    parser = argparse.ArgumentParser()\n    return 0\n"
    repo.write({"backend/scripts/admin/create_admin.py": rewritten}).commit("copy admin script")
    repo.rm("backend/create_admin.py").commit("remove old admin script")
    run = run_suite(repo.root / "backend", "-W", "always")
    assert run.failed == set(), run.output
    assert "backend/scripts/admin/create_admin.py starts its history at" in run.output
    assert "('copy admin script') although backend/create_admin.py was deleted in" in run.output
    assert "('remove old admin script'): the move lost the file's history" in run.output


def test_git_mv_keeps_history_without_warning(tmp_path, spec, run_suite):
    files = conforming_backend(spec)
    del files["backend/scripts/admin/create_admin.py"]
    repo = make_repo(tmp_path / "repo", {**files, "backend/create_admin.py": "print('admin')\n"})
    repo.mv("backend/create_admin.py", "backend/scripts/admin/create_admin.py").commit("git mv admin script")
    run = run_suite(repo.root / "backend")
    assert run.failed == set(), run.output
    assert run.outcomes["test_move_history[create_admin.py]"] == "passed"
    assert "lost the file's history" not in run.output


def test_not_a_git_repo_falls_back_to_walk(tmp_path, spec, run_suite):
    files = conforming_backend(spec)
    files["backend/.gitignore"] = "/logs/\n"
    make_repo(tmp_path / "plain", files, git=False)
    (tmp_path / "plain/backend/logs").mkdir()
    (tmp_path / "plain/backend/logs/app.log").write_text("ignored\n")
    run = run_suite(tmp_path / "plain" / "backend")
    assert "is not in a git work tree: files come from a filesystem walk" in run.output
    assert run.failed == {"test_runtime_dir_ignored[data]"}, run.output
    assert "echo /data/ >> .gitignore" in run.messages["test_runtime_dir_ignored[data]"]
    assert run.outcomes["test_move_history[create_admin.py]"] == "skipped"
