"""Alembic migrations of the backend: one head, upgrade/downgrade round trip, models match DDL.

Plan: phase 1 "Clean up old alembic merge heads" and the success criterion "Database
migrations work". Pure check logic (no pytest): tests/startup/test_migrations.py is the glue.

How alembic is run
- Always the BACKEND's interpreter (`<python> -m alembic -c <config> ...`), never ours, with
  cwd = the backend root of the sandbox copy (alembic, env.py and SQLite files write there, never
  into the repository under test), through `conformance.proc.processes.run` with the spec's
  `[migrations] timeout` per command, and the allowlisted `child_env` plus the spec's
  `test_env` plus DATABASE_URL.
- The database is handed to env.py as the environment variable DATABASE_URL, and only that way.
  Alembic has no command-line option that overrides `sqlalchemy.url` of alembic.ini; `-x url=...`
  reaches env.py only when it calls `context.get_x_argument()`, which the reference (like most
  12-factor backends) does not. DATABASE_URL is what the backend's settings read in production.
- An env.py that ignores DATABASE_URL would migrate whatever alembic.ini names. So after every
  `upgrade heads` the throwaway database is inspected independently (sqlite3 for SQLite, the
  backend's SQLAlchemy otherwise); when it is still empty the check stops with a finding and
  never runs `downgrade base`.
- Upgrades go to `heads`, not `head`: with one head (what test_single_head demands) they are the
  same, and with several the round trip and drift checks still test the migrations instead of
  repeating the multiple-heads failure.

Merge migrations (a revision with several down_revisions, made by `alembic merge heads`) are the
normal way to join branches: they are one head and pass every check here.
"""

from __future__ import annotations

import json
import posixpath
import re
import secrets
import sqlite3
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from conformance.proc.childenv import child_env
from conformance.proc.childoutput import quoted_block, traceback_frames
from conformance.proc.dbguard import (
    Guard,
    GuardRecord,
    as_shown,
    guard_fix,
    read_records,
    refused_message,
    scratch_dirs,
)
from conformance.runtime.dburl import database_values
from conformance.model.findings import CheckResult, Finding, Skipped
from conformance.proc.processes import Completed, ProcessTimeout, run
from conformance.model.rules import RULES
from conformance.runtime.sandbox_copy import expand_env
from conformance.proc.sandbox_display import SandboxPaths
from conformance.model.spec import Spec

SINGLE_HEAD = "migrations_single_head"
ROUNDTRIP = "migrations_roundtrip"
DRIFT = "migrations_drift"
RULE_IDS = (SINGLE_HEAD, ROUNDTRIP, DRIFT)

ROUNDTRIP_STEPS: tuple[tuple[str, str], ...] = (("upgrade", "heads"), ("downgrade", "base"), ("upgrade", "heads"))
TAIL_LINES = 12


class MigrationsError(Exception):
    """The check cannot go on; `finding` says why (missing config, alembic missing, a failed step);
    `findings` holds every cause when there are several (refused connections from two places)."""

    def __init__(self, finding: Finding, *more: Finding):
        super().__init__(finding.message)
        self.finding = finding
        self.findings = [finding, *more]


class DatabaseSetupError(Exception):
    """A throwaway database could not be created (or dropped) on the given server."""


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


@dataclass(frozen=True)
class Database:
    """A database the migration checks may destroy: made for one test, dropped afterwards."""

    url: str
    description: str
    sqlite_path: Path | None = None
    name: str | None = None  # server database we created
    admin_url: str | None = None  # where we created it (the --database-url as given)


@dataclass(frozen=True)
class Ran(Completed):
    """A finished alembic command and the connections the guard saw: the first to the database it
    was given, and every one elsewhere that it allowed (SQLite files in the sandbox or a scratch dir)."""

    connections: tuple[GuardRecord, ...] = ()

    @property
    def elsewhere(self) -> list[GuardRecord]:
        """Databases other than the given one, when the given one was never opened."""
        return [] if any(r.verdict == "given" for r in self.connections) else \
            [r for r in self.connections if r.verdict != "given"]


@dataclass(frozen=True)
class Alembic:
    """How to run the backend's alembic: interpreter, sandbox backend root, config, env, timeout.

    `env` is the environment for commands without a database of their own. With `template` (the
    spec's test_env) and `values` (its placeholders but the database ones), each command that is
    given a database gets test_env filled with THAT database's {db_url}, {db_host}, ... instead."""

    python: str
    backend: Path  # the backend root inside the sandbox copy (cwd of every command)
    config: str = "alembic.ini"
    env: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 120.0
    repo_prefix: str = ""  # the backend's path from the repository root, for paths in findings
    phases: Mapping[str, int] = field(default_factory=dict)
    requirements: str = "requirements.txt"
    spec_source: str = "the spec"
    template: Mapping[str, str] | None = None
    values: Mapping[str, str] = field(default_factory=dict)
    scratch: tuple[Path, ...] = ()  # where env.py may open SQLite files besides the sandbox

    @classmethod
    def from_spec(cls, spec: Spec, *, python: str, backend: Path, env: Mapping[str, str],
                  repo_prefix: str = "", values: Mapping[str, str] | None = None,
                  scratch: tuple[Path, ...] = ()) -> Alembic:
        return cls(python=python, backend=backend, config=spec.migrations.config, env=dict(env),
                   timeout=spec.migrations.timeout, repo_prefix=repo_prefix,
                   phases={rule: spec.phase_of(rule) for rule in RULE_IDS},
                   requirements=spec.imports.requirements, spec_source=str(spec.source),
                   template=dict(spec.test_env) if values is not None else None, values=dict(values or {}),
                   scratch=scratch)

    def env_for(self, database: Database | None) -> dict[str, str]:
        """The environment of one command: DATABASE_URL and the {db_*} placeholders are `database`."""
        if database is None:
            return dict(self.env)
        env = dict(self.env) if self.template is None else \
            expand_env(self.template, {**self.values, **database_values(database.url)}, "test_env")
        env["DATABASE_URL"] = database.url
        return env

    # -- locations -------------------------------------------------------------------------

    @property
    def sandbox(self) -> SandboxPaths:
        return SandboxPaths(self.backend, self.repo_prefix)

    def path(self, spec_path: str) -> Path:
        """A spec path (backend-relative, or repo-relative with //) inside the sandbox."""
        return self.sandbox.path(spec_path)

    def display(self, path: Path | str) -> str:
        """Repo-relative form of a sandbox path or a spec path (else the path unchanged)."""
        return self.sandbox.display(path)

    @property
    def config_display(self) -> str:
        return self.display(self.config)

    def shell(self, command: str) -> str:
        """A command as the engineer types it, from the repository root."""
        config = "" if self.config == "alembic.ini" else f" -c {posixpath.relpath(self.config_display, self.repo_prefix or '.')}"
        line = f"alembic{config} {command}"
        return f"cd {self.repo_prefix} && {line}" if self.repo_prefix else line

    def finding(self, rule: str, path: str, message: str, fix: str, line: int | None = None) -> Finding:
        return Finding(rule=rule, path=path, line=line, message=message, fix=fix, plan=RULES[rule].plan,
                       phase=self.phases.get(rule, RULES[rule].phase))

    # -- running ---------------------------------------------------------------------------

    def preflight(self, rule: str) -> None:
        """The config file must exist before alembic is asked anything."""
        if not self.path(self.config).is_file():
            raise MigrationsError(self.finding(
                rule, self.config_display,
                "does not exist: alembic has no configuration, so the migrations cannot run "
                f"(the spec's [tool.conformance.migrations] config names {self.config})",
                f"keep the alembic configuration at {self.config_display} (the plan keeps alembic/ as is), or "
                f"set config = \"<path from the backend root>\" under [tool.conformance.migrations] in "
                f"{self.spec_source}"))

    def run(self, rule: str, *args: str, database: Database | None = None) -> Ran:
        """`<python> -m alembic -c <config> *args` in the sandbox, under the database guard; a
        missing alembic, a timeout or a connection the guard refused becomes a MigrationsError
        finding, any other failure is returned for the caller to judge."""
        env = self.env_for(database)
        argv = [self.python, "-m", "alembic", "-c", str(self.path(self.config)), *args]
        given = env.get("DATABASE_URL") or None
        with tempfile.TemporaryDirectory(prefix="conformance-dbguard-") as reports:
            guard = Guard(given, scratch_dirs(self.sandbox.root, *self.scratch,
                                              database.sqlite_path.parent if database and database.sqlite_path else None),
                          self.backend, Path(reports) / "alembic.jsonl")
            try:
                done = self._run(rule, argv, args, env, guard)
            finally:
                records = read_records(guard.report)
        refused = [r for r in records if r.refused]
        if refused:
            raise MigrationsError(*(self._refused_finding(rule, r, args, database) for r in refused))
        return Ran(**vars(done), connections=tuple(records))

    def _refused_finding(self, rule: str, record: GuardRecord, args: tuple[str, ...],
                         database: Database | None) -> Finding:
        """A connection env.py (or code it imports) made to a database it was not given."""
        [shown] = as_shown([record], self.sandbox)
        return self.finding(
            rule, shown.path,
            refused_message(shown, database.description if database is not None else "",
                            f"`alembic {' '.join(args)}`"),
            guard_fix(shown.path if shown.path.endswith(".py") else "env.py"), line=shown.line or None)

    def _run(self, rule: str, argv: list[str], args: tuple[str, ...], env: Mapping[str, str],
             guard: Guard) -> Completed:
        try:
            done = run(argv, cwd=self.backend, env=child_env(env, python_path=[self.backend], guard=guard),
                       timeout=self.timeout)
        except ProcessTimeout as exc:
            tail = self.sandbox.scrub(_last_lines(exc.output.decode("utf-8", "replace"), TAIL_LINES))
            raise MigrationsError(self.finding(
                rule, self.config_display,
                f"`alembic {' '.join(args)}` did not finish within {self.timeout:g}s and was killed"
                + _indent_block(tail),
                "find the migration that hangs (a lock, a prompt, a network call in env.py); raise timeout under "
                "[tool.conformance.migrations] if it is only slow")) from None
        except OSError as exc:
            raise MigrationsError(self.finding(
                rule, self.config_display, f"cannot be used: the backend interpreter {self.python} does not run ({exc})",
                "pass --backend-python with the interpreter of the backend's environment")) from None
        if done.returncode != 0 and _NO_ALEMBIC.search(done.error_text):
            # "No module named alembic", or, with the backend's own alembic/ dir on the path,
            # "No module named alembic.__main__; 'alembic' is a package ..."
            raise MigrationsError(self.finding(
                rule, self.config_display,
                f"cannot be used: alembic is not installed in the backend interpreter {self.python}",
                f"{self.python} -m pip install -r {self.display(self.requirements)} (with alembic in it), "
                "or pass --backend-python with the interpreter of the backend's environment"))
        return done

    def output_tail(self, done: Completed, lines: int = TAIL_LINES) -> str:
        """What a reader needs from a failed alembic command: its FAILED line, else the end of
        the traceback; alembic's INFO log lines dropped, sandbox paths shown as repo paths."""
        failed = [line for line in done.text.splitlines() if line.startswith("FAILED:")]
        errors = [line for line in done.error_text.splitlines() if not _LOG_LINE.match(line)]
        if any(line.startswith("Traceback") for line in errors):
            start = max(i for i, line in enumerate(errors) if line.startswith("Traceback"))
            errors = errors[start:]
        errors = [line for line in errors if not (failed and line.startswith("ERROR [alembic.util"))]
        text = "\n".join([*errors[-lines:], *failed]).strip("\n") or _last_lines(done.text, lines)
        return self.sandbox.scrub(text) or f"(no output; exit code {done.returncode})"

    def failure_location(self, done: Completed) -> tuple[str, int | None]:
        """The last traceback frame inside the backend (the migration or env.py line that raised)."""
        root = self.sandbox.root
        roots = (str(root) + "/", str(root.resolve()) + "/")
        for path, line in reversed(traceback_frames(done.error_text)):
            if path.startswith(roots):
                return self.display(path), line
        return self.config_display, None


_NO_ALEMBIC = re.compile(r"No module named '?alembic(?:'|\.__main__|\s*$)", re.MULTILINE)
_LOG_LINE = re.compile(r"^(INFO|DEBUG)\s+\[")
_RUNNING = re.compile(r"Running (upgrade|downgrade) (.*?)(?:, .*)?$", re.MULTILINE)


def _last_lines(text: str, count: int) -> str:
    return "\n".join(text.strip().splitlines()[-count:])


def _indent_block(text: str) -> str:
    return "" if not text.strip() else ":\n" + quoted_block(text, "    ")


# -- heads -----------------------------------------------------------------------------------

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


def heads(alembic: Alembic, rule: str = SINGLE_HEAD) -> list[Head]:
    """Every head revision with its file and down_revisions (`alembic heads --verbose`).
    Raises MigrationsError when alembic cannot read the revision graph."""
    alembic.preflight(rule)
    done = alembic.run(rule, "heads", "--verbose")
    if done.returncode != 0:
        location, line = alembic.failure_location(done)
        raise MigrationsError(alembic.finding(
            rule, location, "`alembic heads` cannot read the revision graph" + _indent_block(alembic.output_tail(done)),
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
    except MigrationsError as exc:
        return CheckResult(exc.findings)
    if not found:
        return CheckResult([alembic.finding(
            SINGLE_HEAD, alembic.config_display, "configures alembic, but it finds no revision at all",
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
        findings.append(alembic.finding(
            SINGLE_HEAD, head.path,
            f"revision {head.revision} (down_revision {parents}) is one of {len(found)} alembic heads "
            f"({names}); the plan wants the old heads merged into one.\n"
            f"  heads: {where}",
            fix, line=head.line))
    return CheckResult(findings)


# -- databases -------------------------------------------------------------------------------

_DB_HELPER = r"""
import json, sys
request = json.load(sys.stdin)
try:
    from sqlalchemy import create_engine, inspect, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool
    url = make_url(request["url"])
    action = request["action"]
    if action == "tables":
        engine = create_engine(url, poolclass=NullPool)
        with engine.connect() as connection:
            print(json.dumps({"tables": inspect(connection).get_table_names()}))
    else:
        engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        name = request["name"]
        quoted = engine.dialect.identifier_preparer.quote(name)
        with engine.connect() as connection:
            if action == "create":
                connection.execute(text("CREATE DATABASE " + quoted))
            else:
                if engine.dialect.name == "postgresql":
                    connection.execute(text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
                connection.execute(text("DROP DATABASE IF EXISTS " + quoted))
        print(json.dumps({"url": url.set(database=name).render_as_string(hide_password=False),
                          "dialect": engine.dialect.name}))
except Exception as exc:
    print(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}", file=sys.stderr)
    sys.exit(3)
"""


def redact(url: str) -> str:
    """The URL with its password replaced, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def is_sqlite(url: str) -> bool:
    return urlsplit(url).scheme.split("+", 1)[0] == "sqlite"


def _helper(python: str, request: dict[str, str], timeout: float) -> dict[str, object]:
    try:
        done = run([python, "-c", _DB_HELPER], env=child_env(), timeout=timeout,
                   stdin=json.dumps(request).encode())
    except (ProcessTimeout, OSError) as exc:
        raise DatabaseSetupError(str(exc)) from None
    if done.returncode != 0:
        raise DatabaseSetupError(_last_lines(done.error_text, 3) or f"exit code {done.returncode}")
    return json.loads(done.text.strip().splitlines()[-1])


def create_database(url: str | None, tmp_dir: Path, *, python: str, timeout: float = 60.0) -> Database:
    """A fresh database for one test. Without `url`: a SQLite file in `tmp_dir`. With a SQLite
    `url`: a file in `tmp_dir` with the same driver (the given file is never touched). With a
    server `url` (PostgreSQL, MySQL): CREATE DATABASE conformance_<random> there, through the
    backend interpreter's SQLAlchemy; the given database itself is only used to connect."""
    if url is None or is_sqlite(url):
        scheme = urlsplit(url).scheme if url else "sqlite"
        path = (tmp_dir / "migrations.db").resolve()
        return Database(f"{scheme}:///{path}", "a throwaway SQLite file", sqlite_path=path)
    name = f"conformance_{secrets.token_hex(6)}"
    try:
        answer = _helper(python, {"action": "create", "url": url, "name": name}, timeout)
    except DatabaseSetupError as exc:
        raise DatabaseSetupError(
            f"cannot create a throwaway database {name} on {redact(url)} (--database-url) with {python}: {exc}. "
            "(each migration test creates a fresh database there, so the user needs CREATEDB; the given database "
            "itself is never migrated)") from None
    where = redact(url).rsplit("/", 1)[0]
    return Database(str(answer["url"]), f"the throwaway {answer['dialect']} database {name} on {where}",
                    name=name, admin_url=url)


def drop_database(database: Database, *, python: str, timeout: float = 60.0) -> None:
    """Drop a database made by create_database (SQLite files go with their tmp dir)."""
    if database.name is None or database.admin_url is None:
        return
    try:
        _helper(python, {"action": "drop", "url": database.admin_url, "name": database.name}, timeout)
    except DatabaseSetupError as exc:
        raise DatabaseSetupError(
            f"could not drop the throwaway database {database.name} on {redact(database.admin_url)}: {exc}") from None


def database_tables(database: Database, *, python: str, timeout: float = 60.0) -> list[str]:
    """Tables in the database, read without alembic or env.py."""
    if database.sqlite_path is not None:
        if not database.sqlite_path.exists():
            return []
        connection = sqlite3.connect(f"file:{quote(str(database.sqlite_path))}?mode=ro", uri=True)
        try:
            rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        finally:
            connection.close()
        return sorted(row[0] for row in rows)
    answer = _helper(python, {"action": "tables", "url": database.url}, timeout)
    return sorted(str(name) for name in answer["tables"])  # type: ignore[union-attr]


# -- round trip and drift ----------------------------------------------------------------------

def _upgrade(alembic: Alembic, rule: str, database: Database, step: str, *, verify: bool = True) -> None:
    """`upgrade heads`, then (`verify`) make sure env.py migrated OUR database: else stop, and
    never run a downgrade on whatever it migrated instead."""
    done = alembic.run(rule, "upgrade", "heads", database=database)
    if done.returncode != 0:
        raise MigrationsError(_step_failure(alembic, rule, database, "upgrade heads", step, done))
    if not verify:
        return
    try:
        tables = database_tables(database, python=alembic.python)
    except DatabaseSetupError as exc:
        tables, problem = [], f" (reading it failed: {exc})"
    else:
        problem = ""
    if not tables:
        used = _used_instead(alembic, done)
        path, line = (alembic.display(done.elsewhere[0].path), done.elsewhere[0].line) if done.elsewhere else \
            (alembic.display("alembic/env.py") if (alembic.backend / "alembic" / "env.py").is_file()
             else alembic.config_display, None)
        raise MigrationsError(alembic.finding(
            rule, path,
            f"`alembic upgrade heads` succeeded but {database.description} given as DATABASE_URL is still "
            f"empty{problem}: env.py migrates "
            + (f"{used} instead. " if used else "another database (sqlalchemy.url of alembic.ini?). ")
            + ("Stopped before `downgrade base`, which would have dropped that database's tables" if rule == ROUNDTRIP
               else "Stopped: `alembic check` would compare the models with that other database"),
            "make env.py take the URL from the DATABASE_URL environment variable, e.g. "
            "config.set_main_option(\"sqlalchemy.url\", os.environ[\"DATABASE_URL\"])", line=line))


def _used_instead(alembic: Alembic, done: Completed) -> str:
    """The databases a command's env.py opened instead of the given one (SQLite files the guard
    allowed in the sandbox), for messages that must name the database actually used."""
    records = done.elsewhere if isinstance(done, Ran) else []
    shown = []
    for record in records:
        scrubbed = alembic.sandbox.scrub(record.url)
        shown.append(scrubbed if scrubbed == record.url else f"{scrubbed} (in the sandbox copy of the repository)")
    return ", ".join(dict.fromkeys(shown))


def migrate_to_head(alembic: Alembic) -> str | None:
    """`alembic upgrade head` for a check that only needs a migrated database (the workers' backend):
    what went wrong, or None. A backend without an alembic config has nothing to migrate."""
    if not alembic.path(alembic.config).is_file():
        return None
    try:
        done = alembic.run(ROUNDTRIP, "upgrade", "head")  # the rule only labels a finding we unwrap
    except MigrationsError as exc:
        return exc.finding.message
    return None if done.returncode == 0 else alembic.output_tail(done)


def _step_failure(alembic: Alembic, rule: str, database: Database, command: str, step: str,
                  done: Completed) -> Finding:
    location, line = alembic.failure_location(done)
    running = _RUNNING.findall(done.error_text)
    during = f" while running {running[-1][0]} {running[-1][1]}" if running else ""
    if database.sqlite_path is not None:
        setup = ("rm -f /tmp/roundtrip.db   # deletes only this scratch file, left by an earlier try\n"
                 "export DATABASE_URL=sqlite:////tmp/roundtrip.db && ")
    else:
        setup = "export DATABASE_URL=<an empty throwaway database> && "
    steps = ROUNDTRIP_STEPS if rule == ROUNDTRIP else ROUNDTRIP_STEPS[:1]
    commands = " && ".join(alembic.shell(f"{verb} {target}") if i == 0 else f"alembic {verb} {target}"
                           for i, (verb, target) in enumerate(steps))
    if rule == ROUNDTRIP:
        commands += ("   # downgrade base drops every table of that scratch database: never run it with "
                     "DATABASE_URL on a database you need")
    what = ("make every downgrade() undo exactly what its upgrade() did (drop what it created, restore what it "
            "dropped)" if rule == ROUNDTRIP else "fix the migration so that it applies to an empty database")
    fix = f"{what}; reproduce with:\n{setup}{commands}"
    used = _used_instead(alembic, done)
    on = f"{used}, which env.py opened instead of {database.description} given as DATABASE_URL" if used \
        else database.description
    return alembic.finding(
        rule, location,
        f"`alembic {command}` failed ({step}) on {on}{during}"
        + _indent_block(alembic.output_tail(done)),
        fix, line=line)


def roundtrip(alembic: Alembic, database: Database) -> CheckResult:
    """upgrade heads, downgrade base, upgrade heads on a fresh database; the first failing step
    is reported with the end of alembic's traceback and the migration line that raised."""
    try:
        alembic.preflight(ROUNDTRIP)
        for number, (verb, target) in enumerate(ROUNDTRIP_STEPS, 1):
            step = f"step {number} of {len(ROUNDTRIP_STEPS)}: upgrade heads, downgrade base, upgrade heads"
            if verb == "upgrade":
                _upgrade(alembic, ROUNDTRIP, database, step, verify=number == 1)
                continue
            done = alembic.run(ROUNDTRIP, verb, target, database=database)
            if done.returncode != 0:
                raise MigrationsError(_step_failure(alembic, ROUNDTRIP, database, f"{verb} {target}", step, done))
    except MigrationsError as exc:
        return CheckResult(exc.findings)
    return CheckResult()


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


def drift(alembic: Alembic, database: Database) -> CheckResult:
    """`alembic check` after `upgrade heads`: the models must need no new migration."""
    try:
        alembic.preflight(DRIFT)
        _upgrade(alembic, DRIFT, database, "before `alembic check`")
        done = alembic.run(DRIFT, "check", database=database)
    except MigrationsError as exc:
        return CheckResult(exc.findings)
    if done.returncode == 0:
        return CheckResult()
    output = done.text + "\n" + done.error_text
    if "invalid choice: 'check'" in output:
        return CheckResult(skipped=Skipped(
            "the backend's alembic has no `check` command (alembic >= 1.9 has it); models vs. migrations not compared"))
    if "New upgrade operations detected" not in output:
        location, line = alembic.failure_location(done)
        return CheckResult([alembic.finding(
            DRIFT, location, f"`alembic check` failed on {database.description}" + _indent_block(alembic.output_tail(done)),
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
        findings.append(alembic.finding(
            DRIFT, path,
            f"is out of step with the migrations: `alembic check` after `alembic upgrade heads` on "
            f"{database.description} wants {what}{every}",
            fix, line=line))
    return CheckResult(findings)


# -- drift with one cause: env.py does not import the models -------------------------------------

_TARGET_METADATA = re.compile(r"^target_metadata\s*(?::[^=]*)?=", re.MULTILINE)
_ADDS = ("add_", "modify_")


def _env_py(alembic: Alembic) -> Path | None:
    """env.py of the alembic config's script_location (%(here)s is the config's directory), else alembic/env.py."""
    import configparser

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
    return alembic.finding(
        DRIFT, path,
        f"sets target_metadata to a MetaData that holds no tables: the models are not imported in env.py, so "
        f"`alembic check` after `alembic upgrade heads` on {database.description} wants every table the "
        f"migrations created removed ({', '.join(tables)})",
        f"import the models module in env.py before `target_metadata = Base.metadata`: "
        f"{_models_import(alembic, tables[0])}  (importing it registers every model's table on Base.metadata); "
        "do not generate a migration from this drift: it would drop every table",
        line=line)
