"""Rule migrations_roundtrip: upgrade heads, downgrade base, upgrade heads on a fresh database.

Plan success criterion "Database migrations work". The first upgrade is verified (env.py must
have migrated the database it was given) before `downgrade base` ever runs.
"""

from __future__ import annotations

from conformance.checks.migrations.steps import ROUNDTRIP_STEPS, Stop, preflight, run, step_failure, upgrade
from conformance.model.findings import CheckResult
from conformance.model.rules import RuleId
from conformance.runtime.alembic_runner import Alembic
from conformance.runtime.throwaway_db import Database

RULE = RuleId.MIGRATIONS_ROUNDTRIP


def roundtrip(alembic: Alembic, database: Database) -> CheckResult:
    """upgrade heads, downgrade base, upgrade heads on a fresh database; the first failing step
    is reported with the end of alembic's traceback and the migration line that raised."""
    try:
        preflight(alembic, RULE)
        for number, (verb, target) in enumerate(ROUNDTRIP_STEPS, 1):
            step = f"step {number} of {len(ROUNDTRIP_STEPS)}: upgrade heads, downgrade base, upgrade heads"
            if verb == "upgrade":
                upgrade(alembic, RULE, database, step, verify=number == 1)
                continue
            done = run(alembic, RULE, verb, target, database=database)
            if done.returncode != 0:
                raise Stop(step_failure(alembic, RULE, database, f"{verb} {target}", step, done))
    except Stop as exc:
        return CheckResult(exc.findings)
    return CheckResult()
