"""Run the production start script the way production would, and judge it: it must serve the
health path and stop, with everything it started, on SIGTERM to its process group (rule `deploy`)."""

from __future__ import annotations

import os
import posixpath
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from conformance.runtime.app_server import HttpAnswer, is_ok, poll_until_ok
from conformance.checks.deploy.bound_port import PortWatch, misbound_finding
from conformance.proc.childenv import child_env
from conformance.proc.childoutput import as_repo_paths, condensed_output, key_error_line, quoted_block
from conformance.proc.dbguard import Guard, GuardRecord, as_shown, described, refusal_fix, refused_message, scratch_dirs
from conformance.checks.deploy.common import DEPLOY
from conformance.model.findings import CheckResult
from conformance.model.spec import NetworkSpec
from conformance.checks.deploy.install_guard import InstallCall, make_guard, read_calls
from conformance.runtime.listensockets import Listener
from conformance.proc.processes import ManagedProcess, StopResult
from conformance.proc.sandbox_display import SandboxPaths
from conformance.checks.deploy.script_static import is_shell_script

STOP_GRACE = 10.0  # seconds between SIGTERM to the script's group and SIGKILL (proposed: deploy.stop_grace)


@dataclass
class DeployRun:
    """Everything one run of the start script showed. `log` has sandbox paths as repo paths."""

    script: str  # repo path
    url: str
    timeout: float
    healthy: bool = False
    seconds: float = 0.0
    exited_early: int | None = None
    last_health: HttpAnswer | None = None
    stop: StopResult | None = None
    log: str = ""
    error: str | None = None
    reproduce: str = ""
    port: int = 0
    script_text: str = ""  # the script as it ran: install and port findings name its lines
    installs: list[InstallCall] | None = None  # pip/uv/poetry/... calls the stand-ins saw (None: not run)
    listening: list[Listener] | None = None  # where it listened instead of `port`, when it did
    database: str = ""  # the DATABASE_URL it was given, described
    refused: list[GuardRecord] | None = None  # connections the database guard refused (repo paths)


def run_start_script(*, sandbox_root: Path, script: str, env: Mapping[str, str], python: str, health_path: str,
                     port: int, timeout: float, log_dir: Path, grace: float = STOP_GRACE,
                     network: NetworkSpec = NetworkSpec()) -> DeployRun:
    """Run `script` (repo path inside `sandbox_root`, a fresh copy of the tracked files) as
    production would: from its directory, executable bit honoured (else through bash), the backend
    interpreter's directory first on PATH (like an activated venv), sanitized env + `env`. Wait
    for http://127.0.0.1:port/health_path, then SIGTERM the process group and look for survivors
    (the group, plus daemons that left it: see ManagedProcess.terminate)."""
    path = sandbox_root / script
    url = f"http://127.0.0.1:{port}{health_path}"
    shown_env = " ".join(f"{k}={v}" for k, v in env.items() if k in ("PORT", "HOST"))
    result = DeployRun(script, url, timeout,
                       reproduce=f"cd {posixpath.dirname(script) or '.'} && {shown_env} ./{posixpath.basename(script)}",
                       port=port, script_text=path.read_text("utf-8", "replace") if path.is_file() else "")
    argv = [str(path)] if os.access(path, os.X_OK) else (["bash", str(path)] if is_shell_script(path)
                                                           else [python, str(path)])
    guard = make_guard(log_dir / "install-guard")  # installs stopped: the backend's environment never changes
    full_env = {**guard.env, **env}
    full_env["PATH"] = os.pathsep.join([str(guard.bin), str(Path(python).parent), os.environ.get("PATH", os.defpath)])
    started = time.monotonic()
    try:
        db_guard = Guard(env.get("DATABASE_URL") or None, scratch_dirs(sandbox_root, log_dir.parent), sandbox_root,
                         log_dir / "deploy.dbguard.jsonl", network)  # every Python process the script starts
        process = ManagedProcess(argv, cwd=path.parent, env=child_env(full_env, python_path=[guard.python_path],
                                                                      guard=db_guard),
                                 name="deploy", log_dir=log_dir)
    except OSError as exc:
        result.error = f"cannot run {script}: {exc}"
        return result
    with process:
        watch = PortWatch(process.alive, port, health_path)
        health = poll_until_ok(process, url, timeout, give_up=watch)
        result.healthy = is_ok(health)
        result.seconds = time.monotonic() - started
        if not result.healthy and process.running:
            result.last_health = health
            result.listening = watch.seen or None
        elif not result.healthy:
            result.exited_early = process.exit_code
        result.stop = process.terminate(grace if result.healthy else 0.0, whole_group=True)
        result.log = as_repo_paths(process.log(), sandbox_root)
    result.installs = read_calls(guard.report)
    result.database = described(env.get("DATABASE_URL"))
    result.refused = [r for r in as_shown(db_guard.records(), SandboxPaths(sandbox_root)) if r.refused]
    return result


def check_start(result: DeployRun, phase: int | None = None, reported: Mapping[tuple[str, str, int], str] = {}
                ) -> CheckResult:
    """The start script served the health path within its timeout and stopped cleanly on SIGTERM.
    `reported`: refused connections (by cause) another check of this run reports, e.g. the app
    check when the script boots the same app: named here as a warning, not a second failure."""
    rel = result.script
    if result.error:
        return CheckResult([DEPLOY.finding(rel, result.error, f"make {rel} executable and runnable", phase=phase)])
    refused = result.refused or []
    findings = [DEPLOY.finding(r.path, refused_message(r, result.database, f"run of {rel}"), refusal_fix(r),
                               line=r.line or None, phase=phase) for r in refused if r.cause not in reported]
    findings += [DEPLOY.finding(r.path, f"is reported by {reported[r.cause]} (the app {rel} starts connects to "
                                f"{r.url} too)", f"see {reported[r.cause]}", line=r.line or None,
                                severity="warning", phase=phase) for r in refused if r.cause in reported]
    shown = condensed_output(result.log)
    block = "\n" + quoted_block(shown) if shown else ""
    if not result.healthy and result.listening:  # a cause of its own: the script chose the port
        findings.append(misbound_finding(rel, result.script_text, result.listening, result.port, phase))
    elif findings:
        pass  # the refused connection is why the script failed, if it did: one cause, one finding
    elif result.exited_early is not None:
        error = key_error_line(result.log)
        findings.append(DEPLOY.finding(
            rel,
            f"exited with code {result.exited_early} before {result.url} answered"
            + (f": {error}" if error else "") + block,
            f"fix the error above; reproduce with: {result.reproduce}", phase=phase))
    elif not result.healthy:
        answered = "nothing answered" if result.last_health is None else f"it answered {result.last_health.status}"
        findings.append(DEPLOY.finding(
            rel, f"did not serve {result.url} within {result.timeout:g}s ({answered})" + block,
            "the script must start the server on $HOST:$PORT from the environment ([tool.conformance.deploy] env "
            f"sets them); reproduce with: {result.reproduce}; or raise [tool.conformance.deploy] ready_timeout",
            phase=phase))
    stop = result.stop
    if result.healthy and stop is not None and not stop.exited_in_time:
        findings.append(DEPLOY.finding(
            rel, f"did not stop within {stop.grace:g}s of SIGTERM to its process group",
            "use `exec` for the server (so it receives SIGTERM) and let it shut down promptly", phase=phase))
    if stop is not None and stop.exited_in_time and stop.survivors:
        listed = "; ".join(f"{pid}: {cmd}" for pid, cmd in stop.survivors)
        findings.append(DEPLOY.finding(
            rel, f"left {len(stop.survivors)} process(es) running after it was stopped: {listed}",
            "start the server with `exec` (no background `&`, no setsid/nohup daemons) so stopping the script "
            "stops everything", phase=phase))
    return CheckResult(findings)
