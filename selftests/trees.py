"""Named trees: the legacy layout the plan starts from, and helpers around the reference backend."""

from __future__ import annotations

from pathlib import Path

from selftests.builder import Repo, copy_tree, make_repo

PROJECT = Path(__file__).resolve().parents[1]
REFERENCE = PROJECT / "examples" / "chatai"

EXISTING_PACKAGES = ("api", "services", "database", "core", "ai", "cache", "monitoring", "integrations",
                     "validators", "security", "templates", "utils")

# The backend as the plan finds it ("Current Issues Identified"): 20+ files in the root,
# debug and admin scripts beside main.py, Node.js mixed in, a committed log, database.py
# beside database/, scripts/ and workers/ missing, logs/ and data/ not ignored.
LEGACY: dict[str, str] = {
    "backend/main.py": "from fastapi import FastAPI\n\napp = FastAPI()\n",
    "backend/requirements.txt": "fastapi\n",
    "backend/alembic.ini": "[alembic]\nscript_location = alembic\n",
    "backend/start_production.sh": "#!/bin/sh\nexec uvicorn main:app\n",
    "backend/cleanup_users.py": "print('cleanup')\n",
    "backend/create_admin.py": "print('admin')\n",
    "backend/debug_working_hours.py": "print('debug')\n",
    "backend/enhanced_bot_logging.py": "print('logging')\n",
    "backend/reindex_document_with_gpt4o.py": "print('reindex')\n",
    "backend/test_bot.py": "def test_bot():\n    assert True\n",
    "backend/notes.txt": "todo\n",
    "backend/package.json": '{"name": "bots", "private": true}\n',
    "backend/package-lock.json": '{"name": "bots", "lockfileVersion": 3}\n',
    "backend/master/scalable_bot_manager.js": "console.log('manager')\n",
    "backend/worker/bot_worker.js": "console.log('worker')\n",
    "backend/logs/bot.log": "2024-01-01 started\n",
    "backend/database.py": "from database.models import User\n",
    "backend/.gitignore": "__pycache__/\nnode_modules/\n.env\n",
    "backend/alembic/env.py": "\n",
    "backend/schemas/chat.py": "\n",
    **{f"backend/{name}/__init__.py": "" for name in EXISTING_PACKAGES},
    "backend/database/models.py": "class User: ...\n",
}

# Every failure the structure suite must raise on LEGACY: test id -> text in its message.
LEGACY_FAILURES: dict[str, list[str]] = {
    "test_move[cleanup_users.py]": [
        "backend/cleanup_users.py is in the backend root; the plan moves it to scripts/admin/",
        "fix:  mkdir -p backend/scripts/admin && git mv backend/cleanup_users.py backend/scripts/admin/cleanup_users.py",
    ],
    "test_move[create_admin.py]": ["git mv backend/create_admin.py backend/scripts/admin/create_admin.py"],
    "test_move[debug_working_hours.py]": [
        "git mv backend/debug_working_hours.py backend/scripts/maintenance/debug_working_hours.py"],
    "test_move[enhanced_bot_logging.py]": [
        "git mv backend/enhanced_bot_logging.py backend/scripts/maintenance/enhanced_bot_logging.py"],
    "test_move[reindex_document_with_gpt4o.py]": [
        "git mv backend/reindex_document_with_gpt4o.py backend/scripts/maintenance/reindex_document_with_gpt4o.py"],
    "test_move[master/scalable_bot_manager.js]": [
        "backend/master/scalable_bot_manager.js is at its old place; the plan moves it to workers/master/",
        "git mv backend/master/scalable_bot_manager.js backend/workers/master/scalable_bot_manager.js"],
    "test_move[worker/bot_worker.js]": [
        "git mv backend/worker/bot_worker.js backend/workers/telegram/bot_worker.js"],
    "test_move[package.json]": ["mkdir -p backend/workers && git mv backend/package.json backend/workers/package.json"],
    "test_node_only_in_workers": [
        "backend/package-lock.json is a Node.js file outside workers/",
        "git mv backend/package-lock.json backend/workers/package-lock.json",
    ],
    "test_runtime_dir_untracked[logs]": [
        "backend/logs/ holds 1 file tracked by git: backend/logs/bot.log",
        "git rm -r --cached -- backend/logs",
    ],
    "test_runtime_dir_ignored[logs]": [
        "backend/.gitignore does not ignore backend/logs/", "echo /logs/ >> backend/.gitignore"],
    "test_runtime_dir_ignored[data]": [
        "backend/.gitignore does not ignore backend/data/", "echo /data/ >> backend/.gitignore"],
    "test_module_package_clash": [
        "backend/database.py sits beside the package backend/database/",
        "git rm -- backend/database/__init__.py && git mv backend/database.py backend/database/__init__.py"],
    "test_no_forbidden_files[test_*.py]": [
        "backend/test_bot.py is a test file outside a test directory",
        "git mv backend/test_bot.py backend/tests/test_bot.py"],
    "test_no_tracked_ignored_files": [
        "backend/.env is tracked although backend/.gitignore:3 ('.env') ignores it",
        "git rm --cached -- backend/.env"],
    "test_root_files": ["backend/notes.txt is in the backend root, which the plan keeps to: main.py"],
    "test_package_dir[schemas]": ["backend/schemas/ has no __init__.py", "touch backend/schemas/__init__.py"],
    **{f"test_required_dir[{d}]": [f"backend/{d}/ is missing; the plan's target structure has /{d}/"]
       for d in ("scripts", "scripts/admin", "scripts/maintenance", "scripts/monitoring",
                 "workers", "workers/telegram", "workers/master")},
}


def legacy_repo(root: Path) -> Repo:
    repo = make_repo(root, LEGACY, message="legacy layout")
    repo.write({"backend/.env": "SECRET=1\n"}).git("add", "-f", "backend/.env")
    repo.commit("commit the env file by accident", add_all=False)
    (root / "backend" / "node_modules" / "left-pad").mkdir(parents=True)
    (root / "backend" / "node_modules" / "left-pad" / "index.js").write_text("module.exports = 1\n")
    return repo


def reference_repo(root: Path) -> Repo:
    """The bundled reference backend as its own committed repository."""
    copy_tree(REFERENCE, root)
    repo = Repo(root)
    return repo.commit("reference backend")
