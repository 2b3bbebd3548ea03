"""What the migration checks share: their findings, and running alembic steps that stop a check.

A step that cannot run (the runner's AlembicError) or fails stops the check with Stop, which
carries the findings of the check's own rule; the runner itself (runtime/alembic_runner.py)
knows no rules.
"""

from __future__ import annotations

import re

from conformance.model.findings import Finding
from conformance.model.rules import RuleId, rule
from conformance.proc.processes import Completed
from conformance.runtime.alembic_runner import Alembic, AlembicError, Problem, Ran, indent_block
from conformance.runtime.throwaway_db import Database, DatabaseSetupError, database_tables

ROUNDTRIP_STEPS: tuple[tuple[str, str], ...] = (("upgrade", "heads"), ("downgrade", "base"), ("upgrade", "heads"))

_RUNNING = re.compile(r"Running (upgrade|downgrade) (.*?)(?:, .*)?$", re.MULTILINE)


class Stop(Exception):
    """The check cannot go on; `findings` says why (one, or every cause when there are several).
    `refused`: every cause is a connection the guard refused (env.py picks its own database)."""

    def __init__(self, finding: Finding, *more: Finding, refused: bool = False):
        super().__init__(finding.message)
        self.findings = [finding, *more]
        self.refused = refused


def migration_finding(alembic: Alembic, rule_id: RuleId, path: str, message: str, fix: str,
                      line: int | None = None) -> Finding:
    """A finding of `rule_id` at the spec's phase for it (Alembic.phases holds the spec's [phases])."""
    the_rule = rule(rule_id)
    return the_rule.finding(path, message, fix, line=line, phase=alembic.phases.get(rule_id, the_rule.phase))


def problem_finding(alembic: Alembic, rule_id: RuleId, problem: Problem) -> Finding:
    return migration_finding(alembic, rule_id, problem.path, problem.message, problem.fix, line=problem.line)


def preflight(alembic: Alembic, rule_id: RuleId) -> None:
    """The alembic config must exist; else Stop with the runner's problem as a finding of `rule_id`."""
    try:
        alembic.preflight()
    except AlembicError as exc:
        raise Stop(*(problem_finding(alembic, rule_id, p) for p in exc.problems)) from None


def run(alembic: Alembic, rule_id: RuleId, *args: str, database: Database | None = None) -> Ran:
    """alembic.run; what kept the command from running stops the check with findings of `rule_id`."""
    try:
        return alembic.run(*args, database=database)
    except AlembicError as exc:
        raise Stop(*(problem_finding(alembic, rule_id, p) for p in exc.problems),
                   refused=all(p.refused for p in exc.problems)) from None


def upgrade(alembic: Alembic, rule_id: RuleId, database: Database, step: str, *, verify: bool = True) -> None:
    """`upgrade heads`, then (`verify`) make sure env.py migrated OUR database: else stop, and
    never run a downgrade on whatever it migrated instead."""
    done = run(alembic, rule_id, "upgrade", "heads", database=database)
    if done.returncode != 0:
        raise Stop(step_failure(alembic, rule_id, database, "upgrade heads", step, done))
    if not verify:
        return
    try:
        tables = database_tables(database, python=alembic.python)
    except DatabaseSetupError as exc:
        tables, problem = [], f" (reading it failed: {exc})"
    else:
        problem = ""
    if not tables:
        used = alembic.used_instead(done)
        path, line = (alembic.display(done.elsewhere[0].path), done.elsewhere[0].line) if done.elsewhere else \
            (alembic.display("alembic/env.py") if (alembic.backend / "alembic" / "env.py").is_file()
             else alembic.config_display, None)
        raise Stop(migration_finding(
            alembic, rule_id, path,
            f"`alembic upgrade heads` succeeded but {database.description} given as DATABASE_URL is still "
            f"empty{problem}: env.py migrates "
            + (f"{used} instead. " if used else "another database (sqlalchemy.url of alembic.ini?). ")
            + ("Stopped before `downgrade base`, which would have dropped that database's tables"
               if rule_id == RuleId.MIGRATIONS_ROUNDTRIP
               else "Stopped: `alembic check` would compare the models with that other database"),
            "make env.py take the URL from the DATABASE_URL environment variable, e.g. "
            "config.set_main_option(\"sqlalchemy.url\", os.environ[\"DATABASE_URL\"])", line=line))


def step_failure(alembic: Alembic, rule_id: RuleId, database: Database, command: str, step: str,
                 done: Completed) -> Finding:
    """A failed upgrade/downgrade: where it raised, the end of its output, and how to reproduce it."""
    roundtrip = rule_id == RuleId.MIGRATIONS_ROUNDTRIP
    location, line = alembic.failure_location(done)
    running = _RUNNING.findall(done.error_text)
    during = f" while running {running[-1][0]} {running[-1][1]}" if running else ""
    if database.sqlite_path is not None:
        setup = ("rm -f /tmp/roundtrip.db   # deletes only this scratch file, left by an earlier try\n"
                 "export DATABASE_URL=sqlite:////tmp/roundtrip.db && ")
    else:
        setup = "export DATABASE_URL=<an empty throwaway database> && "
    steps = ROUNDTRIP_STEPS if roundtrip else ROUNDTRIP_STEPS[:1]
    commands = " && ".join(alembic.shell(f"{verb} {target}") if i == 0 else f"alembic {verb} {target}"
                           for i, (verb, target) in enumerate(steps))
    if roundtrip:
        commands += ("   # downgrade base drops every table of that scratch database: never run it with "
                     "DATABASE_URL on a database you need")
    what = ("make every downgrade() undo exactly what its upgrade() did (drop what it created, restore what it "
            "dropped)" if roundtrip else "fix the migration so that it applies to an empty database")
    fix = f"{what}; reproduce with:\n{setup}{commands}"
    used = alembic.used_instead(done)
    on = f"{used}, which env.py opened instead of {database.description} given as DATABASE_URL" if used \
        else database.description
    return migration_finding(
        alembic, rule_id, location,
        f"`alembic {command}` failed ({step}) on {on}{during}"
        + indent_block(alembic.output_tail(done)),
        fix, line=line)
