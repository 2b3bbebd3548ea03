"""One worker of the spec, run for real (rule `workers_function`): the backend, migrated, in the
sandbox; the fake Telegram Bot API; the worker under the Node.js network guard (nodeguard.py:
api.telegram.org goes to the fake, nothing else leaves loopback). One user message in for every
bot that polls, its reply out, then SIGTERM: the worker must exit within its grace and leave
nothing it started behind. Hosts the worker tried to reach are findings.
"""

from __future__ import annotations

import os
import re
import shutil
import string
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from shlex import quote

from conformance.model.rules import RuleId
from conformance.runtime.app_server import RunningApp, is_ok, poll_until_ok, serve_app
from conformance.proc.childenv import child_env
from conformance.proc.childoutput import quoted_block
from conformance.proc.dbguard import GuardRecord as DbGuardRecord, as_shown, described, refusal_fix, refused_message, \
    service_label
from conformance.runtime.dburl import database_values, throwaway_sqlite
from conformance.runtime.fake_telegram import FakeTelegram
from conformance.model.findings import CheckResult, Finding
from conformance.runtime.alembic_runner import Alembic, migrate_to_head
from conformance.proc.nodeguard import GuardRecord, guarded_env, read_record, require_option, unguarded_node
from conformance.checks.workers.nodejs import NODE_MISSING
from conformance.proc.processes import ManagedProcess, command_line, free_port
from conformance.runtime.sandbox_copy import PlaceholderError, expand, expand_env
from conformance.proc.sandbox_display import SandboxPaths
from conformance.model.spec import Spec, WorkerSpec
from conformance.checks.workers.common import worker_finding

# The message the functional check sends as a Telegram user.
TEST_CHAT_ID = 424242
TEST_USER_ID = 424242
TEST_TEXT = "Hello from the conformance suite"
POLL_SETTLE = 1.0  # after the last new bot started polling, how long to wait for another one
REFUSAL_GRACE = 3.0  # after the backend's first refused connection, how long an answer may still take
GUARD_SETTLE = 0.5  # a node process just started may not have loaded the guard yet


@dataclass
class WorkerRunInputs:
    """Everything check_worker needs, resolved by the caller (pytest glue)."""

    spec: Spec
    worker: WorkerSpec
    sandbox_backend: Path  # the backend root inside the sandbox copy
    repo_prefix: str  # the backend's path in the repository (locates // paths, shows sandbox paths)
    python: str
    tmp: Path

    @property
    def sandbox(self) -> SandboxPaths:
        return SandboxPaths(self.sandbox_backend, self.repo_prefix)


@dataclass
class WorkerRun:
    """What one run showed: the findings, the messages that reached sendMessage, the guard's record."""

    result: CheckResult
    sent: list[dict[str, Any]] = field(default_factory=list)
    record: GuardRecord = field(default_factory=GuardRecord)


def check_worker(inputs: WorkerRunInputs) -> CheckResult:
    """Run one worker for real; see the module docstring. Every process is reaped on return."""
    return run_worker(inputs).result


def run_worker(inputs: WorkerRunInputs) -> WorkerRun:
    """check_worker, keeping what the fake Bot API and the network guard saw (self-tests assert on it)."""
    spec, worker = inputs.spec, inputs.worker
    where = f"worker {worker.name}"
    shown_cmd = " ".join(quote(a) for a in worker.command)

    def fail(message: str, fix: str) -> WorkerRun:
        return WorkerRun(CheckResult([worker_finding(spec, RuleId.WORKERS_FUNCTION, where, message, fix,
                                                     subject=worker.name)]))

    try:
        database = throwaway_sqlite(inputs.tmp)
        backend_env = expand_env(spec.test_env, {"tmp": str(inputs.tmp), **database_values(database)}, "test_env")
        backend_env.setdefault("DATABASE_URL", database)  # the database guard's allowed one, as for the app
    except PlaceholderError as exc:
        return fail(f"cannot run: {exc}", f"edit {spec.source}")
    in_backend = _cd(inputs.sandbox, inputs.sandbox_backend)
    migrations_failed = migrate_to_head(Alembic.from_spec(spec, python=inputs.python, backend=inputs.sandbox_backend,
                                                          env=backend_env, repo_prefix=inputs.repo_prefix))
    if migrations_failed is not None:
        return fail("cannot run: the backend's migrations failed (alembic upgrade head):\n"
                    + quoted_block(migrations_failed, "    "),
                    f"{in_backend}{quote(inputs.python)} -m alembic upgrade head")
    logs = inputs.tmp / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        app = stack.enter_context(serve_app(backend=inputs.sandbox_backend, python=inputs.python, app=spec.app,
                                            env=backend_env, log_dir=logs, name="backend",
                                            network=spec.network))
        if not app.healthy:
            return fail(f"cannot run: the backend did not answer {spec.app.health_path} within "
                        f"{spec.app.startup_timeout:g}s, and the worker needs it:\n{app.process.tail()}",
                        f"{in_backend}{quote(inputs.python)} -m uvicorn {spec.app.target}")
        at_start = {r.cause for r in app.guard.records()} if app.guard else set()  # the app boot check's
        telegram = stack.enter_context(FakeTelegram())
        values = {"telegram_url": telegram.url, "backend_url": app.url, "port": str(free_port()),
                  "tmp": str(inputs.tmp), "python": inputs.python, "backend": str(inputs.sandbox_backend),
                  **database_values(database)}
        try:
            command = [expand(arg, values, f"worker {worker.name}.command") for arg in worker.command]
            env = expand_env(worker.env, values, f"worker {worker.name}.env")
            ready_url = expand(worker.ready_url, values, f"worker {worker.name}.ready_url") \
                if worker.ready_url else None
        except PlaceholderError as exc:
            return fail(f"has a bad placeholder in the spec: {exc}", f"edit {spec.source}")
        record_path = inputs.tmp / "node-guard.jsonl"
        child = guarded_env(child_env(env), record=record_path, telegram_url=telegram.url,
                            allow=[urlsplit(app.url).hostname or ""], network=spec.network)
        cwd = inputs.sandbox.path(worker.cwd)
        if os.sep not in command[0] and shutil.which(command[0], path=child.get("PATH", "")) is None:
            message = NODE_MISSING if command[0] == "node" else f"{command[0]} (its command) is not on PATH"
            return fail(f"cannot start: {message}", f"install {command[0]}, or fix worker.command in {spec.source}")
        try:
            process = ManagedProcess(command, cwd=cwd, env=child, name=f"worker-{_safe_name(worker.name)}",
                                     log_dir=logs)
        except OSError as exc:
            return fail(f"cannot start {shown_cmd} in {cwd}: {exc}", f"fix worker.command / cwd in {spec.source}")
        stack.enter_context(process)
        reproduce = _cd(inputs.sandbox, cwd) + _command_line(worker.command, worker.env)
        exercised = _exercise(spec, worker, process, telegram, app, ready_url, reproduce, where,
                              _refused_since(app, at_start))
        unguarded = _unguarded(spec, worker, process, record_path, where)
        stopped = _stop(spec, worker, process, where, output_shown=bool(exercised or unguarded))
        sent = list(telegram.sent)
    refused = as_shown(_refused_after(app, at_start), inputs.sandbox)
    if refused:  # the backend reached out while it answered the worker: the cause of a missing answer
        exercised = _backend_refusals(spec, worker, refused, described(backend_env.get("DATABASE_URL")),
                                      answered=not exercised)
    findings = exercised + unguarded
    record = read_record(record_path)
    findings += _network_findings(spec, worker, record, inputs.sandbox) + stopped
    return WorkerRun(CheckResult(findings), sent, record)


def _backend_refusals(spec: Spec, worker: WorkerSpec, refused: list[DbGuardRecord], database: str,
                      answered: bool) -> list[Finding]:
    """One finding per connection the backend tried while serving the worker's message (those of
    its startup are the app check's), at the backend's line that made it."""
    effect = "" if answered else f"; worker {worker.name} got no answer to its message because of it"
    return [worker_finding(spec, RuleId.WORKERS_FUNCTION, r.path,
                           refused_message(r, database, f"the backend serving worker {worker.name}") + effect,
                           refusal_fix(r), subject=worker.name, line=r.line or None)
            for r in refused]


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "worker"


def _cd(sandbox: SandboxPaths, directory: Path) -> str:
    """`cd <dir> && ` with the sandbox dir shown as its place in the repository."""
    rel = sandbox.display(directory)
    return f"cd {quote(rel)} && " if rel not in ("", ".") else ""


def _command_line(command: Iterable[str], env: Mapping[str, str]) -> str:
    """The worker's command as a developer types it; the spec's placeholders become shell
    variables ({telegram_url} -> "$TELEGRAM_URL")."""
    assignments = " ".join(f"{k}={shell_template(v)}" for k, v in env.items())
    return f"{assignments + ' ' if assignments else ''}{' '.join(shell_template(a) for a in command)}"


def shell_template(template: str) -> str:
    """A spec value as a shell word, its {placeholders} as variables: "{backend_url}/x" -> "$BACKEND_URL/x"."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError:
        return quote(template)
    if all(field is None for _literal, field, _spec, _conv in parts):
        return quote(template)
    word = ""
    for literal, field, _spec, _conv in parts:
        word += re.sub(r'(["\\$`])', r"\\\1", literal)
        if field is not None:
            word += "${" + re.sub(r"\W", "_", field).upper() + "}"
    return f'"{word}"'


def _refused_after(app: RunningApp, at_start: set[Any]) -> list[DbGuardRecord]:
    """Connections the backend's guard refused that it had not refused at startup."""
    return [r for r in app.guard.records() if r.refused and r.cause not in at_start] if app.guard else []


def _refused_since(app: RunningApp, at_start: set[Any]) -> Callable[[], bool]:
    """True once the backend's guard refused a connection it had not refused at startup, and
    REFUSAL_GRACE has passed: no answer is coming, waiting out the reply timeout tells nothing."""
    first: list[float] = []

    def seen() -> bool:
        if not first and _refused_after(app, at_start):
            first.append(time.monotonic())
        return bool(first) and time.monotonic() - first[0] >= REFUSAL_GRACE

    return seen


def _exercise(spec: Spec, worker: WorkerSpec, process: ManagedProcess, telegram: FakeTelegram, app: RunningApp,
              ready_url: str | None, reproduce: str, where: str, give_up: Callable[[], bool]) -> list[Finding]:
    """Readiness, then one message in for every bot that polls and each reply out."""
    rule = RuleId.WORKERS_FUNCTION

    def finding(message: str, fix: str = reproduce) -> list[Finding]:
        return [worker_finding(spec, rule, where, message, fix, subject=worker.name)]

    waiting_for = []
    if worker.ready_log:
        waiting_for.append(f"{worker.ready_log!r} in its output")
    if ready_url:
        waiting_for.append(f"{ready_url} to answer 200")
    deadline = time.monotonic() + worker.ready_timeout
    ready = True
    if worker.ready_log:
        ready = process.wait_for_output(worker.ready_log, worker.ready_timeout)
    if ready and ready_url:
        remaining = max(deadline - time.monotonic(), 0.1)
        ready = is_ok(poll_until_ok(process, ready_url, remaining))
    if not ready:
        if not process.running:
            return finding(f"exited with code {process.exit_code} before it became ready (waiting for "
                           f"{' and '.join(waiting_for)}); its last output:\n{process.tail()}")
        return finding(f"did not become ready within {worker.ready_timeout:g}s (waiting for "
                       f"{' and '.join(waiting_for)}); its last output:\n{process.tail()}")

    poll = telegram.wait_for_call("getUpdates", worker.reply_timeout)
    if poll is None:
        return finding(f"became ready but did not poll getUpdates on the fake Telegram API ({telegram.url}) within "
                       f"{worker.reply_timeout:g}s; {telegram.summary()} (the suite routes requests for "
                       "api.telegram.org there; another Bot API root must come from the worker's env, "
                       f"e.g. {{telegram_url}})\n  its last output:\n{process.tail()}")
    asked = _ask_every_bot(telegram, worker.reply_timeout, give_up)
    missing = [(token, chat) for token, chat in asked.items()
               if not any(m["token"] == token and m["chat_id"] == chat for m in telegram.sent)]
    if not missing:
        return []
    if len(asked) == 1:
        what = f"no sendMessage to chat {TEST_CHAT_ID} for the bot that polled"
    else:
        what = "no sendMessage " + ", ".join(f"to chat {chat} for bot {_bot_id(token)}" for token, chat in missing) \
            + f" ({len(missing)} of the {len(asked)} bots that polled)"
    return finding(f"did not answer a Telegram message within {worker.reply_timeout:g}s: {what}; "
                   f"{telegram.summary()}\n  its last output:\n{process.tail()}\n"
                   f"  the backend's last output:\n{app.process.tail(lines=10)}")


def _ask_every_bot(telegram: FakeTelegram, timeout: float, give_up: Callable[[], bool] = lambda: False
                   ) -> dict[str, int]:
    """Send one user message to every bot that polls (a master runs several), each in a chat of its
    own; wait until each answered and no new bot started polling for POLL_SETTLE seconds, or
    `timeout`, or `give_up` says no answer is coming. Returns token -> chat id."""
    deadline = time.monotonic() + timeout
    asked: dict[str, int] = {}
    last_new = time.monotonic()
    while True:
        for token in telegram.polling_tokens():
            if token not in asked:
                chat = TEST_CHAT_ID + len(asked)
                telegram.queue_message(token, chat, TEST_USER_ID + len(asked), TEST_TEXT)
                asked[token] = chat
                last_new = time.monotonic()
        answered = all(any(m["token"] == token and m["chat_id"] == chat for m in telegram.sent)
                       for token, chat in asked.items())
        now = time.monotonic()
        if (answered and now - last_new >= POLL_SETTLE) or now >= deadline or (not answered and give_up()):
            return asked
        time.sleep(0.05)


def _bot_id(token: str) -> str:
    """The public part of a token (the bot id before ':'): findings never show a token."""
    return token.split(":", 1)[0] or "?"


def _unguarded(spec: Spec, worker: WorkerSpec, process: ManagedProcess, record_path: Path,
               where: str) -> list[Finding]:
    """Node.js processes of the worker that never loaded the network guard (a child started with
    NODE_OPTIONS cleared, e.g. through `env -u NODE_OPTIONS`): their connections go unchecked."""
    candidates = unguarded_node(process.alive(), read_record(record_path))
    if candidates:
        time.sleep(GUARD_SETTLE)
        candidates = unguarded_node([pid for pid in process.alive() if pid in candidates], read_record(record_path))
    return [worker_finding(spec, RuleId.WORKERS_FUNCTION, where,
                           f"has a Node.js process without the suite's network guard: pid {pid} "
                           f"({command_line(pid)[:200]}); its NODE_OPTIONS lost {require_option()}, so its "
                           "connections were not checked (with a real token it would poll api.telegram.org)",
                           "start child processes with the parent's environment (process.env), and never clear "
                           "NODE_OPTIONS", subject=worker.name)
            for pid in candidates]


def _network_findings(spec: Spec, worker: WorkerSpec, record: GuardRecord, sandbox: SandboxPaths) -> list[Finding]:
    """One finding per host the worker tried to reach besides loopback and api.telegram.org, at
    the first file:line the stack showed."""
    findings = []
    for host, events in record.refused_hosts().items():
        targets = list(dict.fromkeys(e.target for e in events))
        vias = list(dict.fromkeys(e.via for e in events))
        sites = list(dict.fromkeys((sandbox.display(e.file), e.line) for e in events if e.file and e.line))
        path, line = sites[0] if sites else (f"worker {worker.name}", None)
        also = ", ".join(f"{p}:{n}" for p, n in sites[1:4])
        who = f"{'worker ' + worker.name + ' ' if sites else ''}tried to reach"
        if any(e.reason == "service" for e in events):  # a loopback port of a server no check started
            servers = ", ".join(dict.fromkeys(service_label(e.target) for e in events))
            message = (f"{who} {', '.join(targets)} ({servers}; {', '.join(vias)}){'; also from ' + also if also else ''}"
                       "; the suite refused it: a server the check did not start")
            fix = (f"read the server's address from the worker's environment and give it a stand-in in the "
                   f"[[worker]] env of {spec.source.name}, or, to let the checks use this server, add "
                   f"\"{targets[0].removeprefix('unix:')}\" to [tool.conformance.network] allow")
        else:
            message = (f"{who} {', '.join(targets)} ({', '.join(vias)}){'; also from ' + also if also else ''}; the "
                       "suite refused it: a test run reaches only loopback, the backend under test and the fake "
                       "Telegram API")
            fix = (f"read the address of {host} from the worker's environment and give it a loopback stand-in in "
                   f"the [[worker]] env of {spec.source.name} (api.telegram.org needs nothing: it goes to the fake)")
        findings.append(worker_finding(spec, RuleId.WORKERS_FUNCTION, path, message, fix, subject=worker.name,
                                       line=line))
    return findings


def _stop(spec: Spec, worker: WorkerSpec, process: ManagedProcess, where: str,
          output_shown: bool = False) -> list[Finding]:
    """SIGTERM the worker: it must exit within stop_grace and take every process it started along."""
    rule = RuleId.WORKERS_FUNCTION
    crashed = not process.running
    since = process.output_mark() if output_shown else (0, 0)
    stop = process.terminate(worker.stop_grace)
    findings: list[Finding] = []
    tail = process.tail(since=since)
    tail_label = "its output after SIGTERM" if output_shown else "its last output"
    if crashed:
        findings.append(worker_finding(spec, rule, where, f"exited by itself with code {stop.returncode} before "
                                       f"it was asked to stop; {tail_label}:\n{tail}", "run it by hand and read its "
                                       "output (it must keep running until SIGTERM)", subject=worker.name))
    if not stop.exited_in_time:
        findings.append(worker_finding(spec, rule, where, f"did not exit within {worker.stop_grace:g}s of SIGTERM "
                                       f"(the plan needs graceful restarts); {tail_label}:\n{tail}",
                                       "handle SIGTERM: stop polling, stop the child workers, then exit",
                                       subject=worker.name))
    if stop.survivors:
        what = "still running" if not stop.exited_in_time \
            else f"left running after it exited ({stop.seconds:.1f}s after SIGTERM)"
        listed = "\n".join(f"    pid {pid} ({command[:200]})" for pid, command in stop.survivors)
        count = "1 process" if len(stop.survivors) == 1 else f"{len(stop.survivors)} processes"
        findings.append(worker_finding(spec, rule, where, f"had {count} of its group {what}, "
                                       f"killed by the suite:\n{listed}",
                                       "on SIGTERM the master must stop (SIGTERM, then SIGKILL) and wait for every "
                                       "child it forked before it exits", subject=worker.name))
    return findings
