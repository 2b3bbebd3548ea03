"""No `fix:` text suggests a command that destroys data or files without saying what it destroys.

run_suite (conftest.py) checks every fix text of every in-process run with
conformance.checks.fixsafety.explains_destruction; the test here runs the legacy tree, which has one
violation of most structure and import rules, so the check has work even when run alone.
"""

from __future__ import annotations

import pytest

from conformance.checks.fixsafety import destructive_commands, explains_destruction, unexplained
from selftests.conftest import fix_texts
from selftests.trees import legacy_repo


@pytest.mark.parametrize("fix", [
    "git rm --cached -- backend/.env   # keeps it on disk, removes it from the index only",
    "git rm -r --cached -- backend/logs   # keeps the files on disk",
    "rm -rf backend/node_modules   # deletes this ignored copy only, npm ci recreates it under workers",
    'alembic revision --autogenerate -m "sync models"  (--autogenerate writes a migration from the model diff: '
    "review it, it drops every table the models lack)",
    "rm -f /tmp/roundtrip.db   # deletes only this scratch file\n"
    "export DATABASE_URL=sqlite:////tmp/roundtrip.db && cd backend && alembic upgrade heads && alembic downgrade base"
    "   # downgrade base drops every table of that scratch database",
    "git checkout -- x.py   # restores the committed file: it is missing, so nothing local is overwritten",
    "git mv backend/a.py backend/scripts/a.py",  # no destructive command at all
    "echo /logs/ >> backend/.gitignore",
    "confirm the alembic config; the downgrade() must undo upgrade()",  # words, not commands
])
def test_explained_or_harmless_fixes_pass(fix: str) -> None:
    assert explains_destruction(fix), unexplained(fix)


@pytest.mark.parametrize(("fix", "missing"), [
    ("git rm -- backend/database.py", ["git rm"]),
    ("rm -rf backend/node_modules   # then: cd backend/workers && npm ci", ["rm"]),
    ('cd backend && alembic revision --autogenerate -m "sync models", then review it', ["--autogenerate"]),
    ("psql -c 'DROP TABLE users'", ["DROP"]),
    ("git checkout -- x.py   # or `git rm x.py` if it was deleted on purpose", ["git checkout --", "git rm"]),
    ("rm -f /tmp/r.db && alembic downgrade base   # drops every table", ["rm"]),  # one note, two commands
    ("git mv -f a.py b.py", ["mv -f"]),
    ("git clean -fdx", ["git clean"]),
    ("git rm x.py\n\nunrelated text (this deletes nothing)", ["git rm"]),  # not next to it
])
def test_destructive_fixes_without_their_explanation_fail(fix: str, missing: list[str]) -> None:
    assert not explains_destruction(fix)
    assert unexplained(fix) == missing


def test_fix_texts_are_read_back_from_rendered_findings() -> None:
    output = ("backend/x.py is here\n  rule: move (phase 1)\n  fix:  git mv a b\n        git rm c   # deletes c\n\n"
              "  warning\n    fix:  rm -rf d\n          # deletes d\n")
    assert fix_texts(output) == ["git mv a b\ngit rm c   # deletes c", "rm -rf d\n# deletes d"]


def test_every_fix_of_the_legacy_tree_explains_what_it_destroys(tmp_path, run_suite) -> None:
    legacy_repo(tmp_path / "repo")
    fixes = []
    for part in ("structure", "imports"):
        run = run_suite(tmp_path / "repo" / "backend", part=part)  # asserts explains_destruction on each
        fixes += run.fixes
    destructive = [fix for fix in fixes if destructive_commands(fix)]
    assert len(destructive) >= 4, fixes  # git rm, git rm --cached, rm -rf: the check had real work
    assert all(explains_destruction(fix) for fix in fixes)
