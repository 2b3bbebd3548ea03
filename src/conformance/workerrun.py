"""One worker of the spec, run for real (rule `workers_function`): the backend, migrated, in the
sandbox; the fake Telegram Bot API; the worker. One user message in, its reply out, then SIGTERM:
the worker must exit within its grace and leave nothing it started behind.
"""

from __future__ import annotations

import os
import re
import shutil
import string
import time
from collections.abc import Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from shlex import quote

from conformance.appserver import RunningApp, is_ok, poll_until_ok, serve_app
from conformance.childenv import child_env
from conformance.childoutput import quoted_block
from conformance.dburl import database_values, throwaway_sqlite
from conformance.fake_telegram import FakeTelegram
from conformance.findings import CheckResult, Finding
from conformance.migrations import Alembic, migrate_to_head
from conformance.nodejs import NODE_MISSING
from conformance.processes import ManagedProcess, free_port
from conformance.sandbox import PlaceholderError, expand, expand_env
from conformance.sandboxpaths import SandboxPaths
from conformance.spec import Spec, WorkerSpec
from conformance.workers import worker_finding

# The message the functional check sends as a Telegram user.
TEST_CHAT_ID = 424242
TEST_USER_ID = 424242
TEST_TEXT = "Hello from the conformance suite"


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


def check_worker(inputs: WorkerRunInputs) -> CheckResult:
    """Run one worker for real; see the module docstring. Every process is reaped on return."""
    spec, worker = inputs.spec, inputs.worker
    where = f"worker {worker.name}"
    shown_cmd = " ".join(quote(a) for a in worker.command)

    def fail(message: str, fix: str) -> CheckResult:
        return CheckResult([worker_finding(spec, "workers_function", where, message, fix, subject=worker.name)])

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
                                            env=backend_env, log_dir=logs, name="backend"))
        if not app.healthy:
            return fail(f"cannot run: the backend did not answer {spec.app.health_path} within "
                        f"{spec.app.startup_timeout:g}s, and the worker needs it:\n{app.process.tail()}",
                        f"{in_backend}{quote(inputs.python)} -m uvicorn {spec.app.target}")
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
        child = child_env(env)
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
        findings = _exercise(spec, worker, process, telegram, app, ready_url, reproduce, where)
        findings += _stop(spec, worker, process, where, output_shown=bool(findings))
    return CheckResult(findings)


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


def _exercise(spec: Spec, worker: WorkerSpec, process: ManagedProcess, telegram: FakeTelegram, app: RunningApp,
              ready_url: str | None, reproduce: str, where: str) -> list[Finding]:
    """Readiness, then one message in and its reply out."""
    rule = "workers_function"

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
                       f"{worker.reply_timeout:g}s; {telegram.summary()}; is the Bot API base URL taken from the "
                       f"environment?\n  its last output:\n{process.tail()}")
    telegram.queue_message(poll.token, TEST_CHAT_ID, TEST_USER_ID, TEST_TEXT)
    sent = telegram.wait_for_sent(lambda m: m["token"] == poll.token and m["chat_id"] == TEST_CHAT_ID,
                                  worker.reply_timeout)
    if sent is None:
        return finding(f"did not answer a Telegram message within {worker.reply_timeout:g}s: no sendMessage to chat "
                       f"{TEST_CHAT_ID} for the bot that polled; {telegram.summary()}\n"
                       f"  its last output:\n{process.tail()}\n"
                       f"  the backend's last output:\n{app.process.tail(lines=10)}")
    return []


def _stop(spec: Spec, worker: WorkerSpec, process: ManagedProcess, where: str,
          output_shown: bool = False) -> list[Finding]:
    """SIGTERM the worker: it must exit within stop_grace and take every process it started along."""
    rule = "workers_function"
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
