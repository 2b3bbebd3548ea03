"""Rule migrations_drift: after `upgrade heads`, `alembic check` finds nothing to migrate.

Plan success criterion "Database migrations work": a model changed without a migration is
drift. Each difference is reported at the model that declares its table (and the column's
line); when the drift removes every table and adds nothing, that is one cause (env.py does not
import the models) and one finding, whose fix must not suggest autogenerating a migration.
"""

from __future__ import annotations

import configparser
import re
from dataclasses import dataclass, replace
from pathlib import Path

from conformance.checks.migrations.steps import Stop, migration_finding, preflight, run, upgrade
from conformance.model.findings import CheckResult, Finding, Skipped
from conformance.model.rules import RuleId
from conformance.runtime.alembic_runner import Alembic, indent_block
from conformance.runtime.throwaway_db import Database, DatabaseSetupError, database_tables

RULE = RuleId.MIGRATIONS_DRIFT


@dataclass(frozen=True)
class Difference:
    """One operation `alembic check` wants: op name, table, and the column or object it touches."""

    op: str
    table: str | None
    name: str | None
    column: str | None = None  # for column operations: the column, to find it in the model

    @property
    def label(self) -> str:
        if self.table and self.column:
            return f"{self.op} {self.table}.{self.column}"
        if self.table and self.name:
            return f"{self.op} {self.name} on {self.table}"
        return f"{self.op} {self.table or self.name or ''}".strip()


_MARKER = "New upgrade operations detected:"
_OP = re.compile(r"""\(\s*'((?:add|remove|modify)_\w+)',""")
_S = r"""(?:None|'[^']*')"""
_COLUMN_OP = re.compile(rf"""^{_S},\s*'([^']+)',\s*Column\('([^']+)'""")
_MODIFY_OP = re.compile(rf"""^{_S},\s*'([^']+)',\s*'([^']+)'""")
_TABLE_OBJ = re.compile(r"""^Table\('([^']+)'""")
_NAMED_OBJ = re.compile(r"""^(\w+)\((?:'([^']+)')?""")
_NAME_KW = re.compile(r"""\bname='([^']+)'""")
_COLUMN_NAME = re.compile(r"""Column\('([^']+)'""")
_TABLE_REF = re.compile(r"""table=<([^>]+)>""")


def parse_differences(text: str) -> list[Difference]:
    """The operations in alembic's "New upgrade operations detected: [...]" (a Python repr of
    autogenerate's diff list; the first occurrence only, alembic prints it twice)."""
    marker = text.find(_MARKER)
    if marker < 0:
        return []
    end = text.find(_MARKER, marker + len(_MARKER))
    body = text[marker: end if end >= 0 else len(text)]
    starts = [(m.start(), m.end(), m.group(1)) for m in _OP.finditer(body)]
    diffs: list[Difference] = []
    for i, (_, end, op) in enumerate(starts):
        segment = body[end: starts[i + 1][0] if i + 1 < len(starts) else len(body)].strip()
        if op in ("add_column", "remove_column") and (m := _COLUMN_OP.match(segment)):
            diffs.append(Difference(op, m.group(1), m.group(2), column=m.group(2)))
        elif op.startswith("modify_") and (m := _MODIFY_OP.match(segment)):
            diffs.append(Difference(op, m.group(1), m.group(2), column=m.group(2)))
        elif m := _TABLE_OBJ.match(segment):
            diffs.append(Difference(op, m.group(1), None))
        elif m := _NAMED_OBJ.match(segment):
            table = _TABLE_REF.search(segment)
            keyword = _NAME_KW.search(segment)
            name = m.group(2) or (keyword.group(1) if keyword else None)
            if name is None:  # unnamed constraint: its class and columns
                name = f"{m.group(1)}({', '.join(dict.fromkeys(_COLUMN_NAME.findall(segment)))})"
            diffs.append(Difference(op, table.group(1) if table else None, name))
        else:
            diffs.append(Difference(op, None, None))
    return diffs


def _model_location(alembic: Alembic, table: str | None, column: str | None) -> tuple[str, int | None] | None:
    """The model that declares `table` (and the line of `column` in it), found by text search."""
    if not table:
        return None
    declares = re.compile(rf"""(__tablename__\s*(?::[^=]*)?=\s*|Table\(\s*)['"]{re.escape(table)}['"]""")
    for path in sorted(alembic.backend.rglob("*.py")):
        rel = path.relative_to(alembic.backend).as_posix()
        if "/versions/" in f"/{rel}" or rel.endswith("env.py"):
            continue
        try:
            if path.stat().st_size > 1_000_000:
                continue
            text = path.read_text("utf-8", "replace")
        except OSError:
            continue
        found = declares.search(text)
        if not found:
            continue
        offset = found.start()
        if column:
            attr = re.compile(rf"""^\s*(?:{re.escape(column)}\s*[:=]|.*Column\(\s*['"]{re.escape(column)}['"])""",
                              re.MULTILINE)
            nxt = re.search(r"__tablename__|^class ", text[found.end():], re.MULTILINE)
            stop = found.end() + nxt.start() if nxt else len(text)
            start = text.rfind("\nclass ", 0, found.start()) + 1
            hit = attr.search(text, start, stop)
            if hit:
                offset = hit.start() + len(hit.group(0)) - len(hit.group(0).lstrip())
        return alembic.display(path), text.count("\n", 0, offset) + 1
    return None


def drift(alembic: Alembic, database: Database, refusals_reported_by: str | None = None) -> CheckResult:
    """`alembic check` after `upgrade heads`: the models must need no new migration.
    `refusals_reported_by`: the check of this run that starts with the same `upgrade heads` (the
    round trip); a connection env.py makes elsewhere is its finding, named here as a warning."""
    try:
        preflight(alembic, RULE)
        upgrade(alembic, RULE, database, "before `alembic check`")
        done = run(alembic, RULE, "check", database=database)
    except Stop as exc:
        if exc.refused and refusals_reported_by:
            return CheckResult([replace(f, message=f"is reported by {refusals_reported_by}: {f.message}",
                                        fix=f"see {refusals_reported_by}", severity="warning")
                                for f in exc.findings])
        return CheckResult(exc.findings)
    if done.returncode == 0:
        return CheckResult()
    output = done.text + "\n" + done.error_text
    if "invalid choice: 'check'" in output:
        return CheckResult(skipped=Skipped(
            "the backend's alembic has no `check` command (alembic >= 1.9 has it); models vs. migrations not compared"))
    if "New upgrade operations detected" not in output:
        location, line = alembic.failure_location(done)
        return CheckResult([migration_finding(
            alembic, RULE, location,
            f"`alembic check` failed on {database.description}" + indent_block(alembic.output_tail(done)),
            "env.py must set target_metadata to the models' MetaData (alembic check compares them with the "
            f"migrated database); reproduce with: {alembic.shell('check')}", line=line)]
        )
    diffs = parse_differences(done.text) or parse_differences(done.error_text)
    empty = _empty_metadata(alembic, database, diffs)
    if empty is not None:
        return CheckResult([empty])
    labels = ", ".join(d.label for d in diffs) or alembic.output_tail(done)
    fix = ("a model changed without a migration: " + alembic.shell('revision --autogenerate -m "sync models"')
           + "  (--autogenerate writes a migration from the difference between the models and the database: "
           "review it before committing, it drops every table, column and index the models lack)"
           "; or undo the model change")
    findings = []
    for diff in diffs or [Difference("change", None, None)]:
        location = _model_location(alembic, diff.table, diff.column)
        path, line = location if location else (alembic.config_display, None)
        what = diff.label if diffs else labels
        every = f"; all {len(diffs)} differences: {labels}" if len(diffs) > 1 else ""
        findings.append(migration_finding(
            alembic, RULE, path,
            f"is out of step with the migrations: `alembic check` after `alembic upgrade heads` on "
            f"{database.description} wants {what}{every}",
            fix, line=line))
    return CheckResult(findings)


# -- drift with one cause: env.py does not import the models -------------------------------------

_TARGET_METADATA = re.compile(r"^target_metadata\s*(?::[^=]*)?=", re.MULTILINE)
_ADDS = ("add_", "modify_")


def _env_py(alembic: Alembic) -> Path | None:
    """env.py of the alembic config's script_location (%(here)s is the config's directory), else alembic/env.py."""
    config = alembic.path(alembic.config)
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(config, encoding="utf-8")
        location = parser.get("alembic", "script_location", fallback="alembic")
    except (configparser.Error, OSError, UnicodeDecodeError):
        location = "alembic"
    location = location.replace("%(here)s", str(config.parent))
    candidate = Path(location) if Path(location).is_absolute() else alembic.backend / location
    for env_py in (candidate / "env.py", alembic.backend / "alembic" / "env.py"):
        if env_py.is_file():
            return env_py
    return None


def _line_of(path: Path, pattern: re.Pattern[str]) -> int | None:
    try:
        text = path.read_text("utf-8", "replace")
    except OSError:
        return None
    found = pattern.search(text)
    return text.count("\n", 0, found.start()) + 1 if found else None


def _models_import(alembic: Alembic, table: str) -> str:
    """The import statement that registers `table`'s model (found by its __tablename__), or a generic one."""
    location = _model_location(alembic, table, None)
    prefix = f"{alembic.repo_prefix}/" if alembic.repo_prefix else ""
    if location is None or not location[0].startswith(prefix) or not location[0].endswith(".py"):
        return "import <the module that defines the models>  # noqa: F401"
    module = location[0][len(prefix):-3].replace("/", ".").removesuffix(".__init__")
    package, _, name = module.rpartition(".")
    return f"from {package} import {name}  # noqa: F401" if package else f"import {module}  # noqa: F401"


def _empty_metadata(alembic: Alembic, database: Database, diffs: list[Difference]) -> Finding | None:
    """One finding when the drift removes every table the migrations created and adds nothing:
    that is one cause (env.py's target_metadata holds no tables, because the models are not
    imported there), not one difference per table. Autogenerating from this drift would write a
    migration that drops every table, so the fix must not suggest it."""
    removed = {d.table for d in diffs if d.op == "remove_table" and d.table}
    if not removed or any(d.op.startswith(_ADDS) for d in diffs):
        return None
    try:
        created = set(database_tables(database, python=alembic.python)) - {"alembic_version"}
    except DatabaseSetupError:
        return None
    if not created or not created <= removed:
        return None
    env_py = _env_py(alembic)
    path = alembic.display(env_py) if env_py else alembic.config_display
    line = _line_of(env_py, _TARGET_METADATA) if env_py else None
    tables = sorted(removed)
    return migration_finding(
        alembic, RULE, path,
        f"sets target_metadata to a MetaData that holds no tables: the models are not imported in env.py, so "
        f"`alembic check` after `alembic upgrade heads` on {database.description} wants every table the "
        f"migrations created removed ({', '.join(tables)})",
        f"import the models module in env.py before `target_metadata = Base.metadata`: "
        f"{_models_import(alembic, tables[0])}  (importing it registers every model's table on Base.metadata); "
        "do not generate a migration from this drift: it would drop every table",
        line=line)
