"""Rule migrations_single_head: alembic has exactly one head.

Plan phase 1 "Clean up old alembic merge heads". Merge migrations (a revision with several
down_revisions, made by `alembic merge heads`) are the normal way to join branches: they are one
head and pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from conformance.checks.migrations.steps import Stop, migration_finding, preflight, run
from conformance.model.findings import CheckResult
from conformance.model.rules import RuleId
from conformance.runtime.alembic_runner import Alembic, indent_block

RULE = RuleId.MIGRATIONS_SINGLE_HEAD


@dataclass(frozen=True)
class Head:
    """One head revision as `alembic heads --verbose` prints it."""

    revision: str
    path: str  # repo-relative when inside the backend, else as alembic printed it
    line: int | None
    down_revisions: tuple[str, ...]

    @property
    def is_merge(self) -> bool:
        return len(self.down_revisions) > 1



def parse_heads(text: str) -> list[tuple[str, str | None, tuple[str, ...]]]:
    """(revision, path as printed, down_revisions) of every block of `alembic heads --verbose`."""
    heads: list[tuple[str, str | None, tuple[str, ...]]] = []
    revision: str | None = None
    path: str | None = None
    parents: tuple[str, ...] = ()

    def flush() -> None:
        if revision is not None:
            heads.append((revision, path, parents))

    for line in text.splitlines():
        if line.startswith("Rev: "):
            flush()
            revision, path, parents = line[5:].split()[0], None, ()
        elif revision is None:
            continue
        elif line.startswith("Parent: "):
            value = line[8:].strip()
            parents = () if value in ("<base>", "") else (value,)
        elif line.startswith("Merges: "):
            parents = tuple(p.strip() for p in line[8:].split(",") if p.strip())
        elif line.startswith("Path: "):
            path = line[6:].strip()
    flush()
    return heads


_REVISION_LINE = re.compile(r"^revision\s*(?::[^=]*)?=", re.MULTILINE)


def _revision_line(path: Path) -> int | None:
    try:
        text = path.read_text("utf-8", "replace")
    except OSError:
        return None
    found = _REVISION_LINE.search(text)
    return text.count("\n", 0, found.start()) + 1 if found else None


def heads(alembic: Alembic) -> list[Head]:
    """Every head revision with its file and down_revisions (`alembic heads --verbose`).
    Raises Stop when alembic cannot read the revision graph."""
    preflight(alembic, RULE)
    done = run(alembic, RULE, "heads", "--verbose")
    if done.returncode != 0:
        location, line = alembic.failure_location(done)
        raise Stop(migration_finding(
            alembic, RULE, location, "`alembic heads` cannot read the revision graph" + indent_block(alembic.output_tail(done)),
            "fix the revision file it names (a down_revision that does not exist, a syntax error); "
            f"reproduce with: {alembic.shell('heads --verbose')}", line=line))
    result = []
    for revision, printed, parents in parse_heads(done.text):
        file = Path(printed) if printed else None
        if file is not None and not file.is_absolute():
            file = alembic.backend / file
        result.append(Head(revision, alembic.display(file) if file else alembic.config_display,
                           _revision_line(file) if file else None, parents))
    return result


def single_head(alembic: Alembic) -> CheckResult:
    """Exactly one head: several heads are unmerged branches ("old alembic merge heads")."""
    try:
        found = heads(alembic)
    except Stop as exc:
        return CheckResult(exc.findings)
    if not found:
        return CheckResult([migration_finding(
            alembic, RULE, alembic.config_display, "configures alembic, but it finds no revision at all",
            "create the initial revision: " + alembic.shell('revision --autogenerate -m "initial schema"')
            + "  (--autogenerate writes a migration from the difference between the models and the database it "
            "connects to: run it against an empty database and review it, it drops every table the models lack)")])
    if len(found) == 1:
        return CheckResult()
    names = ", ".join(h.revision for h in found)
    where = "; ".join(f"{h.revision} in {h.path}{f':{h.line}' if h.line else ''}" for h in found)
    merge = alembic.shell('merge heads -m "merge heads"')
    fix = (f"{merge}  (one merge revision with down_revision = "
           f"({', '.join(repr(h.revision) for h in found)}); a merge revision is fine and stays)\n"
           "or, if a branch is an abandoned leftover, delete its revision files instead")
    findings = []
    for head in found:
        parents = ", ".join(head.down_revisions) or "<base>"
        findings.append(migration_finding(
            alembic, RULE, head.path,
            f"revision {head.revision} (down_revision {parents}) is one of {len(found)} alembic heads "
            f"({names}); the plan wants the old heads merged into one.\n"
            f"  heads: {where}",
            fix, line=head.line))
    return CheckResult(findings)

