"""Faults: Ctrl-C in the middle of a worker run, a port already taken. Nothing survives the
session and its temp root is gone, proven by scanning /proc for processes that carry the
session's private TMPDIR (every child inherits it through the allowlisted environment)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from selftests.procscan import leftover_processes
from selftests.trees import PROJECT, reference_repo


def _suite(tmp_path: Path, backend: Path, *args: str) -> tuple[list[str], dict[str, str], Path]:
    private_tmp = tmp_path / "session-tmp"
    private_tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(private_tmp)}
    argv = [sys.executable, "-m", "pytest", "-c", str(PROJECT / "pyproject.toml"), "--rootdir", str(PROJECT),
            "-p", "no:randomly", f"--backend-root={backend}", *args]
    return argv, env, private_tmp


def _interrupt_once_running(argv: list[str], env: dict[str, str], marker: str, running: str, never: str,
                            settle: float = 0.0) -> str:
    """Start the session, wait for a process of the run whose command line holds `running`, then
    Ctrl-C the session; its output (the session is killed if it does not end)."""
    session = subprocess.Popen(argv, cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and session.poll() is None \
                and not any(running in c for c in leftover_processes(env_marker=marker)):
            time.sleep(0.2)
        if not any(running in c for c in leftover_processes(env_marker=marker)):
            ended = session.poll() is not None
            output = session.communicate(timeout=5)[0].decode(errors="replace") if ended else ""
            raise AssertionError(f"{never}; the session {'ended' if ended else 'still runs'}:\n{output[-3000:]}")
        time.sleep(settle)
        session.send_signal(signal.SIGINT)
        output = session.communicate(timeout=90)[0].decode(errors="replace")
    finally:
        if session.poll() is None:
            os.killpg(session.pid, signal.SIGKILL)
            session.wait()
    time.sleep(0.5)
    return output


def test_ctrl_c_during_a_worker_run_leaves_no_process_and_no_temp_dir(tmp_path):
    repo = reference_repo(tmp_path / "chatai")
    argv, env, private_tmp = _suite(tmp_path, repo.root / "backend",
                                    str(PROJECT / "tests/startup/test_workers.py"), "-k", "functions")
    marker = f"TMPDIR={private_tmp}"
    output = _interrupt_once_running(argv, env, marker, "node", "the worker never started")
    assert "KeyboardInterrupt" in output, output[-2000:]
    assert leftover_processes(env_marker=marker) == [], output[-2000:]
    assert list(private_tmp.iterdir()) == [], list(private_tmp.iterdir())


def test_port_already_taken_fails_with_the_servers_error(tmp_path):
    repo = reference_repo(tmp_path / "chatai")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        spec = (PROJECT / "src/conformance/data/conformance.toml").read_text()
        spec = spec.replace('backend = "backend"', f'backend = "{repo.root / "backend"}"', 1)
        spec = spec.replace('env = { PORT = "{port}"', f'env = {{ PORT = "{port}"', 1)
        spec = spec.replace("[deploy]", "[deploy]\nready_timeout = 15", 1)
        config = tmp_path / "spec.toml"
        config.write_text(spec)
        argv, env, private_tmp = _suite(tmp_path, repo.root / "backend", str(PROJECT / "tests/startup/test_deploy.py"),
                                        "-k", "starts", f"--conformance-config={config}")
        done = subprocess.run(argv, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 1, done.stdout[-3000:]
    assert "address already in use" in done.stdout.lower(), done.stdout[-3000:]
    assert leftover_processes(env_marker=f"TMPDIR={private_tmp}") == []
    assert list(private_tmp.iterdir()) == []


def _slow_import_repo(tmp_path: Path) -> Any:
    repo = reference_repo(tmp_path / "chatai")
    return repo.write({"backend/services/slow_import.py": "import time\n\ntime.sleep(120)\n"}).commit("slow at import")


def test_an_import_check_no_selected_test_needs_is_stopped_when_collection_ends(tmp_path):
    """A run with nothing stored starts the importability child when the session starts, before
    pytest knows which tests are selected; a selection without the import check must not wait
    for it (here a module sleeps 120 s at import) nor leave it running."""
    repo = _slow_import_repo(tmp_path)
    argv, env, private_tmp = _suite(tmp_path, repo.root / "backend", str(PROJECT / "tests/structure/test_layout.py"),
                                    "-k", "test_root_files", f"--conformance-cache-dir={tmp_path / 'cache'}")
    done = subprocess.run(argv, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "1 passed" in done.stdout, done.stdout[-3000:]
    assert leftover_processes(env_marker=f"TMPDIR={private_tmp}") == []
    assert list(private_tmp.iterdir()) == []


def test_ctrl_c_while_the_prefetched_import_check_runs_leaves_no_process_and_no_temp_dir(tmp_path):
    """The importability child starts in a background thread when the session starts (and a
    forked child warms the kept sandbox before); Ctrl-C in the main thread must still stop them
    (the import check's process group too) and remove the temp root."""
    repo = _slow_import_repo(tmp_path)
    cache = f"--conformance-cache-dir={tmp_path / 'cache'}"
    # a first run keeps a sandbox in the run cache (and no import results): the second one warms
    # it in a forked child before it starts the import check, and that child must not survive either
    first, env, _ = _suite(tmp_path, repo.root / "backend", str(PROJECT / "tests/structure/test_layout.py"),
                           "-k", "test_root_files", cache)
    assert subprocess.run(first, cwd=PROJECT, env=env, capture_output=True, timeout=90).returncode == 0
    assert list((tmp_path / "cache").rglob("sandbox/manifest.pickle")), "the first run kept no sandbox"
    (tmp_path / "second").mkdir()
    argv, env, private_tmp = _suite(tmp_path / "second", repo.root / "backend", str(PROJECT / "tests/imports"),
                                    "-m", "not startup", cache)
    marker = f"TMPDIR={private_tmp}"
    output = _interrupt_once_running(argv, env, marker, "--import-check", "the child never started",
                                     settle=1.0)  # well inside the slow module's import
    assert "KeyboardInterrupt" in output, output[-2000:]
    assert leftover_processes(env_marker=marker) == [], output[-2000:]
    assert list(private_tmp.iterdir()) == [], list(private_tmp.iterdir())
