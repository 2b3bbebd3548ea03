"""tests/startup/test_migrations.py and conformance.checks.migrations on trees made from the reference backend.

PostgreSQL: set CONFORMANCE_TEST_DATABASE_URL (e.g. from `.ci/postgres start DIR`) to also run
the reference on a real server; without it that test is skipped.
"""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

from conformance.checks.migrations.drift import parse_differences
from conformance.checks.migrations.heads import parse_heads, single_head
from conformance.checks.migrations.roundtrip import roundtrip
from conformance.runtime.alembic_runner import Alembic
from conformance.runtime.throwaway_db import Database, create_database, database_tables
from selftests.builder import Repo, copy_tree
from selftests.trees import REFERENCE, reference_repo

PART = "startup/test_migrations.py"
HEAD_TEST = "test_single_head"
ROUNDTRIP_TEST = "test_upgrade_downgrade_roundtrip"
DRIFT_TEST = "test_models_match_migrations"
ALL = {HEAD_TEST, ROUNDTRIP_TEST, DRIFT_TEST}
VERSIONS = "backend/alembic/versions"
HEAD_0003 = f"{VERSIONS}/0003_add_last_seen_and_message_index.py"


def revision(rev: str, down: str | tuple[str, ...] | None, upgrade: str = "pass", downgrade: str = "pass") -> str:
    return textwrap.dedent(f'''\
        """Revision {rev}."""

        import sqlalchemy as sa

        from alembic import op

        revision = "{rev}"
        down_revision = {down!r}
        branch_labels = None
        depends_on = None


        def upgrade():
            {upgrade}


        def downgrade():
            {downgrade}
        ''')


@pytest.fixture(autouse=True)
def _no_database_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONFORMANCE_DATABASE_URL", raising=False)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """The reference as a committed repository, to be modified and committed by each test."""
    return reference_repo(tmp_path / "repo")


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def unchanged(repo: Repo) -> bool:
    """Nothing was written into the backend under test (no db, no __pycache__, no edits)."""
    return repo.git("status", "--porcelain", "--ignored") == ""


def test_reference_passes_on_sqlite(run_suite, repo: Repo) -> None:
    result = run_suite(repo.root / "backend", part=PART)
    assert result.outcomes == dict.fromkeys(ALL, "passed"), result.output
    assert unchanged(repo)


def test_two_heads_fail_naming_every_head_and_file(run_suite, repo: Repo) -> None:
    repo.write({f"{VERSIONS}/0004_stale_branch.py": revision("0004", "0002")}).commit("second head")
    result = run_suite(repo.root / "backend", "-k", HEAD_TEST, part=PART)
    assert result.failed == {HEAD_TEST}, result.output
    message = result.messages[HEAD_TEST]
    first = f"{HEAD_0003}:{line_of(repo.root / HEAD_0003, 'revision: str')}"
    second = f"{VERSIONS}/0004_stale_branch.py:{line_of(repo.root / VERSIONS / '0004_stale_branch.py', 'revision =')}"
    assert "2 findings" in message
    assert f"{first} revision 0003 (down_revision 0002) is one of 2 alembic heads (0003, 0004)" in message
    assert f"{second} revision 0004 (down_revision 0002) is one of 2 alembic heads" in message
    assert f"heads: 0003 in {first}; 0004 in {second}" in message
    assert "rule: migrations_single_head (phase 1) - \"Phase 1.4: Clean up old alembic merge heads\"" in message
    assert "fix:  cd backend && alembic merge heads -m \"merge heads\"" in message
    assert unchanged(repo)


def test_merge_migration_joining_two_branches_passes(run_suite, repo: Repo) -> None:
    repo.write({
        f"{VERSIONS}/0004_branch.py": revision("0004", "0002", upgrade='op.create_table("notes", '
                                               'sa.Column("id", sa.Integer(), primary_key=True))',
                                               downgrade='op.drop_table("notes")'),
        f"{VERSIONS}/0005_merge_heads.py": revision("0005", ("0003", "0004")),
    }).commit("merge two branches")
    result = run_suite(repo.root / "backend", "-k", f"{HEAD_TEST} or {ROUNDTRIP_TEST}", part=PART)
    assert result.outcomes == {HEAD_TEST: "passed", ROUNDTRIP_TEST: "passed"}, result.output


def test_downgrade_that_raises_fails_the_roundtrip_at_the_downgrade_step(run_suite, repo: Repo) -> None:
    repo.write({f"{VERSIONS}/0004_irreversible.py": revision(
        "0004", "0003", downgrade='raise RuntimeError("0004 cannot be undone")')}).commit("irreversible")
    result = run_suite(repo.root / "backend", "-k", ROUNDTRIP_TEST, part=PART)
    assert result.failed == {ROUNDTRIP_TEST}, result.output
    message = result.messages[ROUNDTRIP_TEST]
    line = line_of(repo.root / VERSIONS / "0004_irreversible.py", "raise RuntimeError")
    assert f"{VERSIONS}/0004_irreversible.py:{line} `alembic downgrade base` failed (step 2 of 3" in message
    assert "while running downgrade 0004 -> 0003" in message
    assert message.rstrip().count("RuntimeError: 0004 cannot be undone") == 1
    assert "conformance/" not in message.split("rule:")[0]  # alembic's traceback, not ours
    assert "alembic downgrade base" in message.split("fix:")[1]


def test_model_column_without_migration_fails_the_drift_check(run_suite, repo: Repo) -> None:
    models = repo.root / "backend/database/models.py"
    text = models.read_text()
    anchor = '    tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")\n'
    assert anchor in text
    models.write_text(text.replace(anchor, anchor + "    cost_cents: Mapped[int | None] = mapped_column(Integer)\n"))
    line = models.read_text().splitlines().index("    cost_cents: Mapped[int | None] = mapped_column(Integer)") + 1
    repo.commit("model column without a migration")
    result = run_suite(repo.root / "backend", "-k", DRIFT_TEST, part=PART)
    assert result.failed == {DRIFT_TEST}, result.output
    message = result.messages[DRIFT_TEST]
    assert f"backend/database/models.py:{line} is out of step with the migrations" in message
    assert "wants add_column messages.cost_cents" in message
    assert 'alembic revision --autogenerate -m "sync models"' in message
    assert message.count("is out of step with the migrations") == 1


def test_env_py_without_the_models_import_is_one_finding_without_autogenerate(run_suite, repo: Repo) -> None:
    """Every table removed is one cause, not a finding per table, and a migration generated from
    it would drop every table: the finding points at target_metadata and says what to import."""
    env_py = repo.root / "backend/alembic/env.py"
    repo.edit("backend/alembic/env.py", "from database import models  # noqa: F401  (registers every table on "
              "Base.metadata)\n", "").commit("env.py no longer imports the models")
    line = line_of(env_py, "target_metadata = Base.metadata")
    result = run_suite(repo.root / "backend", "-k", DRIFT_TEST, part=PART)
    assert result.failed == {DRIFT_TEST}, result.output
    message = result.messages[DRIFT_TEST]
    assert message.startswith("1 finding:\n\n"), message
    assert message.split("1 finding:\n\n", 1)[1].strip() == (
        f"backend/alembic/env.py:{line} sets target_metadata to a MetaData that holds no tables: the models are "
        "not imported in env.py, so `alembic check` after `alembic upgrade heads` on a throwaway SQLite file wants "
        "every table the migrations created removed (conversations, messages, users)\n"
        '  rule: migrations_drift (phase 1) - "Success criteria: Database migrations work"\n'
        "  fix:  import the models module in env.py before `target_metadata = Base.metadata`: "
        "from database import models  # noqa: F401  (importing it registers every model's table on "
        "Base.metadata); do not generate a migration from this drift: it would drop every table")
    assert "autogenerate" not in message
    assert unchanged(repo)


def test_missing_alembic_ini_is_a_clear_failure(run_suite, repo: Repo) -> None:
    repo.rm("backend/alembic.ini").commit("lose the alembic config")
    result = run_suite(repo.root / "backend", part=PART)
    assert result.failed == ALL, result.output
    for name in ALL:
        assert "backend/alembic.ini does not exist: alembic has no configuration" in result.messages[name]
        assert "Traceback" not in result.messages[name]


def test_remote_database_url_is_a_usage_error(run_suite) -> None:
    result = run_suite(None, "--database-url=postgresql+psycopg://app@db.example.com/chatai", part=PART)
    assert result.ret == 4
    assert "db.example.com, which is not this machine" in result.output
    assert not result.outcomes


# -- direct calls: the parts that are clearer without the pytest layer --------------------------

def sandbox(tmp_path: Path) -> Path:
    backend = tmp_path / "backend"
    copy_tree(REFERENCE / "backend", backend)
    return backend


def alembic_for(backend: Path, python: str = sys.executable) -> Alembic:
    return Alembic(python=python, backend=backend, env={"AI_PROVIDER": "offline"}, timeout=60,
                   repo_prefix="backend")


def test_alembic_missing_from_the_backend_interpreter_is_a_finding(tmp_path: Path) -> None:
    backend = sandbox(tmp_path)
    no_site = tmp_path / "python-without-alembic"
    no_site.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    no_site.chmod(0o755)
    [finding] = single_head(alembic_for(backend, str(no_site))).findings
    assert finding.location == "backend/alembic.ini"
    assert f"alembic is not installed in the backend interpreter {no_site}" in finding.message
    assert "pip install -r backend/requirements.txt" in finding.fix


def test_env_py_that_ignores_database_url_stops_before_downgrade(tmp_path: Path) -> None:
    backend = sandbox(tmp_path)
    elsewhere = tmp_path / "elsewhere.db"
    env_py = backend / "alembic/env.py"
    env_py.write_text(env_py.read_text().replace("database_url = get_settings().database_url",
                                                 f'database_url = "sqlite:///{elsewhere}"'))
    (tmp_path / "db").mkdir()
    database = create_database(None, tmp_path / "db", python=sys.executable)
    [finding] = roundtrip(alembic_for(backend), database).findings
    assert "still empty" in finding.message and "Stopped before `downgrade base`" in finding.message
    # the guard allowed the file (it lies in the sandbox) and saw where env.py opened it
    assert "env.py migrates sqlite:///elsewhere.db (in the sandbox copy of the repository) instead." \
        in finding.message
    assert finding.location == f"backend/alembic/env.py:{line_of(env_py, 'with connectable.connect()')}"
    other = Database(f"sqlite:///{elsewhere}", "the database env.py chose", sqlite_path=elsewhere)
    assert "users" in database_tables(other, python=sys.executable)  # upgraded, never downgraded


def test_parse_heads_reads_branches_and_merges() -> None:
    text = textwrap.dedent("""\
        Rev: 0005 (head) (mergepoint)
        Merges: 0003, 0004
        Path: /x/alembic/versions/0005_merge_heads.py

            merge heads

        Rev: 0007 (head)
        Parent: <base>
        Branch names: other
        Path: /x/alembic/versions/0007_other.py
        """)
    assert parse_heads(text) == [("0005", "/x/alembic/versions/0005_merge_heads.py", ("0003", "0004")),
                                 ("0007", "/x/alembic/versions/0007_other.py", ())]


def test_parse_differences_names_tables_and_columns() -> None:
    text = ("FAILED: New upgrade operations detected: [('add_column', None, 'messages', Column('tokens2', "
            "Integer(), table=<messages>)), ('add_index', Index('ix_messages_extra', Column('extra', "
            "String(length=8), table=<messages>))), ('add_table', Table('notes', MetaData(), Column('id', "
            "Integer(), table=<notes>, primary_key=True, nullable=False), schema=None)), [('modify_nullable', "
            "None, 'users', 'email', {'existing_type': VARCHAR(length=255)}, True, False)], ('add_constraint', "
            "UniqueConstraint(Column('chat_id', NullType(), table=<conversations>)))]")
    assert [d.label for d in parse_differences(text)] == [
        "add_column messages.tokens2", "add_index ix_messages_extra on messages", "add_table notes",
        "modify_nullable users.email", "add_constraint UniqueConstraint(chat_id) on conversations"]


# -- PostgreSQL ---------------------------------------------------------------------------------

POSTGRES_URL = os.environ.get("CONFORMANCE_TEST_DATABASE_URL")


@pytest.mark.skipif(not POSTGRES_URL, reason="CONFORMANCE_TEST_DATABASE_URL is not set (CI sets it from "
                                             "`.ci/postgres start DIR`); the PostgreSQL run is skipped")
def test_reference_passes_on_postgresql(run_suite, repo: Repo, postgres_server: None) -> None:
    from sqlalchemy import create_engine, inspect, text

    # Connect and inspect once before the in-process run: pytester drops the modules a run
    # imports when it ends, and SQLAlchemy's compiled extensions break on a second copy of the
    # dialect modules imported afterwards ("'InternalTraversal' object is not callable").
    engine = create_engine(POSTGRES_URL)
    with engine.connect() as connection:
        inspect(connection).get_table_names()
    result = run_suite(repo.root / "backend", f"--database-url={POSTGRES_URL}", part=PART)
    assert result.outcomes == dict.fromkeys(ALL, "passed"), result.output
    try:
        with engine.connect() as connection:
            left = connection.execute(text("SELECT datname FROM pg_database WHERE datname LIKE 'conformance_%'"))
            assert left.scalars().all() == [], "throwaway databases were not dropped"
            assert "alembic_version" not in inspect(connection).get_table_names(), \
                "the given database itself was migrated"
    finally:
        engine.dispose()
    assert unchanged(repo)
