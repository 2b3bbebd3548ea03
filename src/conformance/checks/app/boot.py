"""Boot the FastAPI app with real uvicorn, probe it, stop it, and judge what happened.

Plan success criterion "FastAPI server starts without errors" (rule `app_boots`).

`run_app` drives one boot in a sandbox copy of the backend (the app runs ONCE per pytest module:
boot, GET the health path, GET /openapi.json, SIGTERM, wait) and records everything as an
`AppRun`; `check_boot`, `check_routes` and `check_shutdown` turn that record into findings. No
pytest here: the glue is tests/startup/test_app.py.

What a clean stop is. uvicorn 0.54 re-raises SIGTERM on itself after a clean lifespan shutdown
(so the process dies "by signal" like any well-behaved Unix daemon): the exit status after SIGTERM
is -15 (143 through a shell) even when shutdown completed. A clean stop is therefore: exit 0 or
-15/143 within the grace period AND "Application shutdown complete" in the log (uvicorn prints it
after the lifespan's shutdown half ran) AND no other process of the app's process group alive.

Messages show what the developer needs: the backend frames of the traceback (sandbox paths
rewritten to repository paths), the exception line, and a command that reproduces the boot.
"""

from __future__ import annotations

import difflib
import shlex
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from conformance.runtime.app_server import HttpAnswer, serve_app
from conformance.proc.childoutput import condensed_output, key_error_line, last_backend_frame, quoted_block
from conformance.proc.dbguard import GuardRecord, as_shown, described, refusal_fix, refused_message
from conformance.model.findings import CheckResult
from conformance.proc.processes import StopResult
from conformance.model.rules import RuleId, rule
from conformance.proc.sandbox_display import SandboxPaths
from conformance.model.spec import AppSpec, NetworkSpec

STOP_GRACE = 10.0  # seconds between SIGTERM and SIGKILL (proposed spec key: app.stop_grace)
SHUTDOWN_MARK = "Application shutdown complete"
APP_BOOTS = rule(RuleId.APP_BOOTS)  # every finding here: APP_BOOTS.finding(path, message, fix, line=, phase=)
CLEAN_SIGTERM_CODES = (0, -signal.SIGTERM, 128 + signal.SIGTERM)


# --------------------------------------------------------------------------------------------
# Observed facts


@dataclass
class AppRun:
    """Everything one boot of the app showed. `log` has sandbox paths rewritten to repo paths."""

    target: str
    health_path: str
    timeout: float
    module_path: str  # repo-relative file of the target module (for locations)
    reproduce: str  # shell command that boots the app the same way
    healthy: bool = False
    startup_seconds: float = 0.0
    exited_early: int | None = None  # exit code when the app died before answering
    last_health: HttpAnswer | None = None
    openapi: HttpAnswer | None = None
    stop: StopResult | None = None
    log: str = ""
    error: str | None = None  # the app could not be started at all (placeholder, spawn error)
    database: str = ""  # the DATABASE_URL it was given
    refused: list[GuardRecord] = field(default_factory=list)  # connections elsewhere, repo paths


# --------------------------------------------------------------------------------------------
# Driving the child


def run_app(*, backend: Path, repo_prefix: str, python: str, app: AppSpec, env: Mapping[str, str], log_dir: Path,
            grace: float = STOP_GRACE, shown_env: Mapping[str, str] | None = None,
            network: NetworkSpec = NetworkSpec()) -> AppRun:
    """Boot `app` with uvicorn in `backend` (a sandbox copy), probe health and OpenAPI, SIGTERM it.

    `repo_prefix` is the backend's path inside the repository ("backend"): tracebacks from the
    sandbox are rewritten to it. `shown_env` is the environment the reproduce command in failure
    messages shows (the spec's test_env with readable placeholders; default: none). When the app
    never becomes healthy it is killed at once (a server stuck in startup or in a hanging health
    handler would only burn the grace period)."""
    module = app.target.split(":", 1)[0]
    module_file = module.replace(".", "/") + ".py"
    if not (backend / module_file).is_file() and (backend / module.replace(".", "/") / "__init__.py").is_file():
        module_file = module.replace(".", "/") + "/__init__.py"
    sandbox = SandboxPaths(backend, repo_prefix)
    run = AppRun(target=app.target, health_path=app.health_path, timeout=app.startup_timeout,
                 module_path=sandbox.display(backend / module_file),
                 reproduce=f"cd {repo_prefix or '.'} && {_env_prefix(shown_env or {})}python -m uvicorn {app.target} "
                           "--port 8000")
    run.database = described(env.get("DATABASE_URL"))
    started = time.monotonic()
    try:
        with serve_app(backend=backend, python=python, app=app, env=env, log_dir=log_dir, name="app",
                       network=network) as running:
            run.startup_seconds = time.monotonic() - started
            run.healthy = running.healthy
            process = running.process
            if running.healthy:
                run.openapi = running.get("/openapi.json")
                run.stop = process.terminate(grace)
            elif process.running:
                run.last_health = running.health
                process.kill()
            else:
                run.exited_early = process.exit_code
            run.log = sandbox.scrub(process.log())
        run.refused = [r for r in as_shown(running.guard.records(), sandbox) if r.refused] if running.guard else []
    except OSError as exc:  # the interpreter cannot be spawned
        run.error = f"cannot start {python}: {exc}"
    return run


# --------------------------------------------------------------------------------------------
# Judging


def check_boot(run: AppRun, phase: int | None = None) -> CheckResult:
    """The app answers 200 on its health path within the startup timeout."""
    if run.error:
        return CheckResult([APP_BOOTS.finding(run.module_path, run.error, "check --backend-python", phase=phase)])
    if run.refused:  # the cause, whether or not the app survived the refusal
        return CheckResult([APP_BOOTS.finding(r.path, refused_message(r, run.database, f"uvicorn {run.target}"),
                                              refusal_fix(r), line=r.line or None, phase=phase)
                            for r in run.refused])
    if run.healthy:
        return CheckResult()
    path, line = last_backend_frame(run.log)
    where = (path, line) if path else (run.module_path, None)
    shown = condensed_output(run.log)
    if run.exited_early is not None:
        error = key_error_line(run.log)
        head = f"the app (uvicorn {run.target}) exited with code {run.exited_early} before answering " \
               f"{run.health_path}" + (f": {error}" if error else "")
        fix = f"fix the error above; reproduce with: {run.reproduce}"
    else:
        answered = "nothing answered" if run.last_health is None else \
            f"it answered {run.last_health.status}: {_short(run.last_health.body)}"
        head = f"the app (uvicorn {run.target}) did not answer {run.health_path} within {run.timeout:g}s ({answered})"
        fix = (f"make GET {run.health_path} answer 200 quickly at startup (no waiting on external services; "
               f"the test_env points them at local stand-ins), or raise [tool.conformance.app] startup_timeout; "
               f"reproduce with: {run.reproduce}")
        where = (run.module_path, None) if run.last_health is None or not path else where
    message = head + (f"\n{quoted_block(shown)}" if shown else "")
    return CheckResult([APP_BOOTS.finding(where[0], message, fix, line=where[1], phase=phase)])


def check_routes(run: AppRun, routes: Sequence[str], phase: int | None = None) -> CheckResult:
    """/openapi.json lists every path of the spec's `app.routes`."""
    if not routes:
        return CheckResult()
    answer = run.openapi
    if answer is None or answer.status != 200:
        status = "nothing" if answer is None else str(answer.status)
        return CheckResult([APP_BOOTS.finding(
            run.module_path,
            f"GET /openapi.json answered {status}; the route check needs the app's OpenAPI schema",
            "keep FastAPI's default openapi_url (it may be hidden from docs with include_in_schema=False on "
            "routes, not by disabling the schema), or empty [tool.conformance.app] routes", phase=phase)])
    try:
        document = answer.json()
        paths = sorted(document.get("paths", {}))  # type: ignore[attr-defined]
    except (ValueError, AttributeError):
        return CheckResult([APP_BOOTS.finding(run.module_path, "GET /openapi.json did not return a JSON object",
                                              "return FastAPI's generated schema at /openapi.json", phase=phase)])
    findings = []
    for route in routes:
        if route in paths:
            continue
        close = difflib.get_close_matches(route, paths, n=1, cutoff=0.6)
        hint = f" (closest: {close[0]})" if close else ""
        listed = ", ".join(paths) if len(paths) <= 12 else ", ".join(paths[:12]) + f", ... ({len(paths)} paths)"
        findings.append(APP_BOOTS.finding(
            run.module_path,
            f"serves no route {route}{hint}; /openapi.json lists: {listed or 'no paths'}",
            f"include the router that serves {route} in the app (app.include_router(...) in {run.module_path}), "
            f"or update [tool.conformance.app] routes if the plan renamed it", phase=phase, subject=route))
    return CheckResult(findings)


def check_shutdown(run: AppRun, phase: int | None = None) -> CheckResult:
    """SIGTERM ends the app within the grace period, after its lifespan shutdown, leaving nothing behind."""
    stop = run.stop
    if stop is None:
        return CheckResult()
    findings = []
    mark_seen = SHUTDOWN_MARK in run.log
    if not stop.exited_in_time:
        findings.append(APP_BOOTS.finding(
            run.module_path,
            f"the app did not exit within {stop.grace:g}s of SIGTERM and was killed"
            + (f"\n{quoted_block(condensed_output(run.log))}" if run.log else ""),
            "make the lifespan shutdown finish quickly (cancel background tasks, close pools with a timeout)",
            phase=phase))
    elif stop.returncode not in CLEAN_SIGTERM_CODES or not mark_seen:
        why = f"exited with code {stop.returncode}" if stop.returncode not in CLEAN_SIGTERM_CODES \
            else f"exited without uvicorn's \"{SHUTDOWN_MARK}\""
        path, line = last_backend_frame(run.log)
        findings.append(APP_BOOTS.finding(
            path or run.module_path,
            f"the app's shutdown after SIGTERM failed: it {why}"
            + (f"\n{quoted_block(condensed_output(run.log))}" if run.log else ""),
            "fix the error in the lifespan's shutdown (the code after `yield`); clean is exit 0 or -15/143 "
            f"with \"{SHUTDOWN_MARK}\" in the log; reproduce with: {run.reproduce}, then Ctrl+C",
            line=line if path else None, phase=phase))
    if stop.exited_in_time and stop.survivors:
        listed = "; ".join(f"{pid}: {cmd}" for pid, cmd in stop.survivors)
        findings.append(APP_BOOTS.finding(
            run.module_path,
            f"left {len(stop.survivors)} process(es) of its group running after it exited: {listed}",
            "stop the child processes the app starts in its lifespan shutdown (terminate + wait)", phase=phase))
    return CheckResult(findings)


def is_clean_stop(returncode: int | None, log: str) -> bool:
    """Exit 0 or -15/143 (uvicorn 0.54 re-raises SIGTERM) and the lifespan shutdown completed."""
    return returncode in CLEAN_SIGTERM_CODES and SHUTDOWN_MARK in log


def _env_prefix(env: Mapping[str, str]) -> str:
    return "".join(f"{k}={shlex.quote(v)} " for k, v in env.items())


def _short(body: bytes, limit: int = 160) -> str:
    text = body.decode("utf-8", "replace").strip().replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "..."


__all__ = ["AppRun", "run_app", "check_boot", "check_routes", "check_shutdown", "is_clean_stop", "STOP_GRACE",
           "SHUTDOWN_MARK"]
