"""Boot the backend's ASGI app with real uvicorn in a child process and wait until it answers.

Shared by the app, worker and deployment checks: one way to start, probe and stop a server.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from conformance.proc.childenv import child_env
from conformance.proc.dbguard import Guard, scratch_dirs
from conformance.proc.processes import ManagedProcess, free_port
from conformance.model.spec import AppSpec, NetworkSpec


@dataclass
class HttpAnswer:
    status: int
    body: bytes

    def json(self) -> object:
        return json.loads(self.body.decode("utf-8"))


def http_get(url: str, timeout: float = 5.0) -> HttpAnswer | None:
    """GET `url` on loopback; None when nothing answers (connection refused, reset, timeout)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - loopback only
            return HttpAnswer(answer.status, answer.read())
    except urllib.error.HTTPError as exc:
        return HttpAnswer(exc.code, exc.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return None


def is_ok(answer: HttpAnswer | None) -> bool:
    return answer is not None and answer.status == 200


def poll_until_ok(process: ManagedProcess, url: str, timeout: float,
                  give_up: Callable[[], bool] | None = None) -> HttpAnswer | None:
    """GET `url` until it answers 200, `process` exits, `give_up()` says waiting is pointless
    (the start script serves another port) or `timeout` passes. Returns the last answer (None:
    nothing answered), so a failure can say what the server did answer."""
    last: HttpAnswer | None = None

    def answered_ok() -> bool:
        nonlocal last
        last = http_get(url, timeout=2)
        return is_ok(last) or (give_up is not None and give_up())

    process.wait_until(answered_ok, timeout, interval=0.2)
    return last


@dataclass
class RunningApp:
    url: str
    port: int
    process: ManagedProcess
    health: HttpAnswer | None  # the health path's last answer during startup (None: nothing answered)
    guard: Guard | None = None  # what the app may connect to; its report names what else it tried

    @property
    def healthy(self) -> bool:
        return is_ok(self.health)

    def get(self, path: str) -> HttpAnswer | None:
        return http_get(self.url + path)


def uvicorn_command(python: str, app: AppSpec, backend: Path, port: int) -> list[str]:
    return [python, "-m", "uvicorn", app.target, "--app-dir", str(backend), "--host", "127.0.0.1",
            "--port", str(port), "--no-access-log"]


@contextmanager
def serve_app(*, backend: Path, python: str, app: AppSpec, env: Mapping[str, str], log_dir: Path,
              name: str = "app", port: int | None = None,
              network: NetworkSpec = NetworkSpec()) -> Iterator[RunningApp]:
    """Run uvicorn with cwd = `backend` (a sandbox copy), sanitized env + `env`; yield once the
    health path answers 200 or the startup timeout passes (then `healthy` is False and `health`
    holds what it answered). Everything the server started is killed on exit, whatever happened.

    The app runs under the database guard: its DATABASE_URL and SQLite files in the sandbox or
    beside `log_dir` only, and the network `network` allows; `guard.records()` (also after exit)
    says what else it tried."""
    port = port or free_port()
    command = uvicorn_command(python, app, backend, port)
    guard = Guard(env.get("DATABASE_URL") or None, scratch_dirs(backend, log_dir.parent), backend,
                  log_dir / f"{name}.dbguard.jsonl", network)
    process = ManagedProcess(command, cwd=backend, env=child_env(env, python_path=[backend], guard=guard), name=name,
                             log_dir=log_dir)
    url = f"http://127.0.0.1:{port}"
    with process:
        yield RunningApp(url, port, process, poll_until_ok(process, url + app.health_path, app.startup_timeout),
                         guard)
