"""Running the backend's alembic: the runner the migration checks and the workers' backend share.

The judges (one head, round trip, drift) are in checks/migrations; this module runs commands and
reports what kept a command from running as AlembicError(Problem, ...): data, not findings, so
each check names its own rule. Throwaway databases: runtime/throwaway_db.py.

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

import posixpath
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from conformance.model.spec import NetworkSpec, Spec
from conformance.proc.childenv import child_env
from conformance.proc.childoutput import quoted_block, traceback_frames
from conformance.proc.dbguard import Guard, GuardRecord, as_shown, read_records, refusal_fix, refused_message, scratch_dirs
from conformance.proc.processes import Completed, ProcessTimeout, run
from conformance.proc.sandbox_display import SandboxPaths
from conformance.runtime.dburl import database_values
from conformance.runtime.sandbox_copy import expand_env
from conformance.runtime.throwaway_db import Database, last_lines

TAIL_LINES = 12


@dataclass(frozen=True)
class Problem:
    """What kept an alembic command from running: where (repo-relative path, line), what, how to fix.
    The check that ran the command turns it into a finding of its rule."""

    path: str
    message: str
    fix: str
    line: int | None = None
    refused: bool = False  # a connection the guard refused (the same in every command under this env)


class AlembicError(Exception):
    """The command cannot go on (missing config, alembic missing, a timeout, a refused connection);
    `problems` holds every cause when there are several (refused connections from two places)."""

    def __init__(self, problem: Problem, *more: Problem):
        super().__init__(problem.message)
        self.problem = problem
        self.problems = (problem, *more)


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
    phases: Mapping[str, int] = field(default_factory=dict)  # the spec's [phases], for the checks' findings
    requirements: str = "requirements.txt"
    spec_source: str = "the spec"
    template: Mapping[str, str] | None = None
    values: Mapping[str, str] = field(default_factory=dict)
    scratch: tuple[Path, ...] = ()  # where env.py may open SQLite files besides the sandbox
    network: NetworkSpec = NetworkSpec()  # where else env.py may connect (the guard)

    @classmethod
    def from_spec(cls, spec: Spec, *, python: str, backend: Path, env: Mapping[str, str],
                  repo_prefix: str = "", values: Mapping[str, str] | None = None,
                  scratch: tuple[Path, ...] = ()) -> Alembic:
        return cls(python=python, backend=backend, config=spec.migrations.config, env=dict(env),
                   timeout=spec.migrations.timeout, repo_prefix=repo_prefix,
                   phases=dict(spec.phases),
                   requirements=spec.imports.requirements, spec_source=str(spec.source),
                   template=dict(spec.test_env) if values is not None else None, values=dict(values or {}),
                   scratch=scratch, network=spec.network)

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

    # -- running ---------------------------------------------------------------------------

    def preflight(self) -> None:
        """The config file must exist before alembic is asked anything."""
        if not self.path(self.config).is_file():
            raise AlembicError(Problem(
                self.config_display,
                "does not exist: alembic has no configuration, so the migrations cannot run "
                f"(the spec's [tool.conformance.migrations] config names {self.config})",
                f"keep the alembic configuration at {self.config_display} (the plan keeps alembic/ as is), or "
                f"set config = \"<path from the backend root>\" under [tool.conformance.migrations] in "
                f"{self.spec_source}"))

    def run(self, *args: str, database: Database | None = None) -> Ran:
        """`<python> -m alembic -c <config> *args` in the sandbox, under the database guard; a
        missing alembic, a timeout or a connection the guard refused raises an AlembicError, any
        other failure is returned for the caller to judge."""
        env = self.env_for(database)
        argv = [self.python, "-m", "alembic", "-c", str(self.path(self.config)), *args]
        given = env.get("DATABASE_URL") or None
        with tempfile.TemporaryDirectory(prefix="conformance-dbguard-") as reports:
            guard = Guard(given, scratch_dirs(self.sandbox.root, *self.scratch,
                                              database.sqlite_path.parent if database and database.sqlite_path else None),
                          self.backend, Path(reports) / "alembic.jsonl", self.network)
            try:
                done = self._run(argv, args, env, guard)
            finally:
                records = read_records(guard.report)
        refused = [r for r in records if r.refused]
        if refused:
            raise AlembicError(*(self._refused_problem(r, args, database) for r in refused))
        return Ran(**vars(done), connections=tuple(records))

    def _refused_problem(self, record: GuardRecord, args: tuple[str, ...], database: Database | None) -> Problem:
        """A connection env.py (or code it imports) made to a database it was not given."""
        [shown] = as_shown([record], self.sandbox)
        return Problem(
            shown.path,
            refused_message(shown, database.description if database is not None else "",
                            f"`alembic {' '.join(args)}`"),
            refusal_fix(shown, shown.path if shown.path.endswith(".py") else "env.py"), line=shown.line or None,
            refused=True)

    def _run(self, argv: list[str], args: tuple[str, ...], env: Mapping[str, str], guard: Guard) -> Completed:
        try:
            done = run(argv, cwd=self.backend, env=child_env(env, python_path=[self.backend], guard=guard),
                       timeout=self.timeout)
        except ProcessTimeout as exc:
            tail = self.sandbox.scrub(last_lines(exc.output.decode("utf-8", "replace"), TAIL_LINES))
            raise AlembicError(Problem(
                self.config_display,
                f"`alembic {' '.join(args)}` did not finish within {self.timeout:g}s and was killed"
                + indent_block(tail),
                "find the migration that hangs (a lock, a prompt, a network call in env.py); raise timeout under "
                "[tool.conformance.migrations] if it is only slow")) from None
        except OSError as exc:
            raise AlembicError(Problem(
                self.config_display, f"cannot be used: the backend interpreter {self.python} does not run ({exc})",
                "pass --backend-python with the interpreter of the backend's environment")) from None
        if done.returncode != 0 and _NO_ALEMBIC.search(done.error_text):
            # "No module named alembic", or, with the backend's own alembic/ dir on the path,
            # "No module named alembic.__main__; 'alembic' is a package ..."
            raise AlembicError(Problem(
                self.config_display,
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
        text = "\n".join([*errors[-lines:], *failed]).strip("\n") or last_lines(done.text, lines)
        return self.sandbox.scrub(text) or f"(no output; exit code {done.returncode})"

    def failure_location(self, done: Completed) -> tuple[str, int | None]:
        """The last traceback frame inside the backend (the migration or env.py line that raised)."""
        root = self.sandbox.root
        roots = (str(root) + "/", str(root.resolve()) + "/")
        for path, line in reversed(traceback_frames(done.error_text)):
            if path.startswith(roots):
                return self.display(path), line
        return self.config_display, None

    def used_instead(self, done: Completed) -> str:
        """The databases a command's env.py opened instead of the given one (SQLite files the guard
        allowed in the sandbox), for messages that must name the database actually used."""
        records = done.elsewhere if isinstance(done, Ran) else []
        shown = []
        for record in records:
            scrubbed = self.sandbox.scrub(record.url)
            shown.append(scrubbed if scrubbed == record.url else f"{scrubbed} (in the sandbox copy of the repository)")
        return ", ".join(dict.fromkeys(shown))


_NO_ALEMBIC = re.compile(r"No module named '?alembic(?:'|\.__main__|\s*$)", re.MULTILINE)
_LOG_LINE = re.compile(r"^(INFO|DEBUG)\s+\[")


def indent_block(text: str) -> str:
    """`text` as a quoted block after a colon, or nothing when it is empty."""
    return "" if not text.strip() else ":\n" + quoted_block(text, "    ")


def migrate_to_head(alembic: Alembic) -> str | None:
    """`alembic upgrade head` for a check that only needs a migrated database (the workers' backend):
    what went wrong, or None. A backend without an alembic config has nothing to migrate."""
    if not alembic.path(alembic.config).is_file():
        return None
    try:
        done = alembic.run("upgrade", "head")
    except AlembicError as exc:
        return exc.problem.message
    return None if done.returncode == 0 else alembic.output_tail(done)
