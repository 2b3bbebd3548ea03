"""The suite never writes into the backend under test: hash every byte, .git included."""

from __future__ import annotations

from selftests.builder import tree_digest
from selftests.trees import legacy_repo


def test_full_run_leaves_the_backend_byte_identical(tmp_path, run_suite):
    legacy_repo(tmp_path / "repo")
    before = tree_digest(tmp_path / "repo")
    run = run_suite(tmp_path / "repo" / "backend")
    assert run.failed  # the run really checked something
    assert tree_digest(tmp_path / "repo") == before


def test_full_suite_including_startup_leaves_the_reference_byte_identical(tmp_path, run_suite):
    """Imports, importability, migrations, uvicorn, start script and Node workers all run, and
    not one byte of the backend or its .git changes."""
    from selftests.trees import reference_repo

    repo = reference_repo(tmp_path / "chatai")
    before = tree_digest(repo.root)
    for part in ("imports", "startup"):
        run = run_suite(repo.root / "backend", part=part)
        assert run.failed == set(), run.output
        assert run.with_outcome("passed")
    assert tree_digest(repo.root) == before
