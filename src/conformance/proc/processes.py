"""Run child processes in their own process group, with a timeout, always reaped.

Every subprocess the suite starts goes through here, so no check can leave a stray
process behind when it times out or the test is interrupted. One-shot commands use `run`;
servers, workers and start scripts are a `ManagedProcess`, stopped by `terminate()`.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from conformance.proc.childoutput import stream_tails

RUN_MARKER = "CONFORMANCE_RUN"  # environment variable that marks every process of one ManagedProcess
SETTLE_SECONDS = 2.0  # after the leader exits, how long its children may take to follow it
TAIL_LINES = 25


class ProcessTimeout(Exception):
    """The child did not finish in time; it and its process group were killed."""

    def __init__(self, argv: Sequence[str], timeout: float, output: bytes = b""):
        super().__init__(f"{' '.join(argv)} did not finish within {timeout:g}s and was killed")
        self.output = output


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def error_text(self) -> str:
        return self.stderr.decode("utf-8", "replace").strip()


def kill_group(proc: subprocess.Popen[bytes], grace: float = 2.0) -> None:
    """SIGTERM the child's process group, then SIGKILL what is left; reap the child."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    _sigkill(proc.pid, group=True)  # the leader may be gone while group members survive


def run(
    argv: Sequence[str],
    *,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    stdin: bytes | None = None,
) -> Completed:
    """Run argv to completion in a new session; raise ProcessTimeout after `timeout`."""
    if _refusing:
        raise OSError(errno.ECANCELED, "the run is ending: no new child processes")
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    _running.add(proc)
    try:
        out, err = proc.communicate(input=stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc, grace=0.5)
        out, err = proc.communicate()
        raise ProcessTimeout(argv, timeout, out + err) from None
    except BaseException:
        kill_group(proc, grace=0.5)
        raise
    finally:
        _running.discard(proc)
    return Completed(tuple(argv), proc.returncode, out, err)


_running: set[subprocess.Popen[bytes]] = set()  # children of `run` still running, in any thread
_refusing = False


def stop_running() -> None:
    """Kill every child `run` is waiting for (process groups included) and start no new one until
    allow_running(): a run that ends while a background thread still waits on a child (an
    interrupted run) leaves nothing behind, and the thread cannot start another."""
    global _refusing
    _refusing = True
    for proc in list(_running):
        kill_group(proc, grace=0.5)


def allow_running() -> None:
    global _refusing
    _refusing = False


def free_port() -> int:
    """A TCP port on loopback that is free right now (the OS picks it; xdist workers never collide)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class StopResult:
    """How a ManagedProcess answered SIGTERM, and what of it was still alive afterwards."""

    returncode: int | None  # None: still running after the grace period, then SIGKILLed
    seconds: float  # from SIGTERM until it exited or the grace period ended
    grace: float
    survivors: tuple[tuple[int, str], ...] = ()  # (pid, command line) alive at the end, SIGKILLed since

    @property
    def exited_in_time(self) -> bool:
        return self.returncode is not None


class ManagedProcess:
    """A long-running child (server, worker, start script) in its own process group, with output
    captured to files, a readiness probe and a stop that always reaps everything it started.

    Its environment carries a run marker (RUN_MARKER=<random>) that every descendant inherits, so
    processes that left the group (setsid, daemons) are still found, reported and killed.
    Use as a context manager: leaving the block kills the child whatever happened inside.
    """

    def __init__(self, argv: Sequence[str], *, cwd: Path | str, env: Mapping[str, str], name: str,
                 log_dir: Path):
        self.argv = list(argv)
        self.name = name
        self.marker = uuid.uuid4().hex
        self.stdout_path = log_dir / f"{name}.stdout.log"
        self.stderr_path = log_dir / f"{name}.stderr.log"
        with ExitStack() as on_error:  # a failing Popen must not leak the open log files
            self._stdout = on_error.enter_context(open(self.stdout_path, "wb"))  # noqa: SIM115 - closed in kill()
            self._stderr = on_error.enter_context(open(self.stderr_path, "wb"))  # noqa: SIM115
            self.proc = subprocess.Popen(self.argv, cwd=cwd, env={**env, RUN_MARKER: self.marker},
                                         stdin=subprocess.DEVNULL, stdout=self._stdout, stderr=self._stderr,
                                         start_new_session=True)
            on_error.pop_all()

    def __enter__(self) -> ManagedProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    @property
    def exit_code(self) -> int | None:
        return self.proc.poll()

    def output(self) -> str:
        """Everything the child wrote to stdout so far."""
        return _read_log(self._stdout, self.stdout_path)

    def errors(self) -> str:
        """Everything the child wrote to stderr so far."""
        return _read_log(self._stderr, self.stderr_path)

    def log(self) -> str:
        """All of stderr, then all of stdout: the text tracebacks are read from."""
        return (self.errors().rstrip() + "\n" + self.output().rstrip()).strip()

    def output_mark(self) -> tuple[int, int]:
        """Where stderr and stdout end now: `tail(since=...)` shows only what comes after."""
        return len(self.errors()), len(self.output())

    def tail(self, lines: int = TAIL_LINES, since: tuple[int, int] = (0, 0)) -> str:
        """The last lines of stderr, then of stdout (from `since` on), labelled: what a failure shows."""
        return stream_tails(self.errors()[since[0]:], self.output()[since[1]:], lines)

    def wait_until(self, ready: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
        """Poll `ready` until it returns True, the child exits, or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return True
            if not self.running:
                return ready()
            time.sleep(interval)
        return False

    def wait_for_output(self, text: str, timeout: float) -> bool:
        return self.wait_until(lambda: text in self.output() or text in self.errors(), timeout)

    def terminate(self, grace: float, *, whole_group: bool = False) -> StopResult:
        """SIGTERM the leader (or its whole group), wait up to `grace` for it to exit, give its
        children a moment to follow, then list what is still alive of it and SIGKILL all of it.

        Survivors are listed BEFORE the SIGKILL, so a check can say what a real stop would have
        left behind; after the leader timed out they include the leader itself."""
        started = time.monotonic()
        returncode = self.proc.poll()
        if returncode is None:
            self._signal(signal.SIGTERM, whole_group)
            try:
                returncode = self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                returncode = None
        seconds = time.monotonic() - started
        survivors = self.alive()
        settle_until = time.monotonic() + min(SETTLE_SECONDS, grace)
        while returncode is not None and survivors and time.monotonic() < settle_until:
            time.sleep(0.05)
            survivors = self.alive()
        described = tuple((pid, command_line(pid)) for pid in survivors)
        self.kill()
        return StopResult(returncode, seconds, grace, described)

    def alive(self) -> list[int]:
        """Live processes of this child: its process group, and whatever carries its run marker."""
        return processes_of(self.proc.pid, self.marker)

    def kill(self) -> None:
        """SIGKILL everything of this child, reap the leader, close the logs. Idempotent."""
        _sigkill(self.proc.pid, group=True)
        for pid in processes_of(self.proc.pid, self.marker):
            _sigkill(pid)
        if self.proc.poll() is None:
            self.proc.wait()
        for handle in (self._stdout, self._stderr):
            if not handle.closed:
                handle.close()

    def _signal(self, sig: signal.Signals, whole_group: bool) -> None:
        try:
            if whole_group:
                os.killpg(self.proc.pid, sig)
            else:
                self.proc.send_signal(sig)
        except (ProcessLookupError, PermissionError):
            pass


def _read_log(handle: BinaryIO, path: Path) -> str:
    if not handle.closed:
        handle.flush()
    return path.read_text("utf-8", "replace")


def _sigkill(pid: int, *, group: bool = False) -> None:
    try:
        (os.killpg if group else os.kill)(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def processes_of(pgid: int, marker: str) -> list[int]:
    """Live (non-zombie) processes in process group `pgid` or with RUN_MARKER=`marker` in their
    environment (which survives setsid), read from /proc."""
    needle = f"{RUN_MARKER}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if fields[0] == "Z":
                continue
            if int(fields[2]) == pgid or needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    return sorted(found)


def command_line(pid: int) -> str:
    """The command line of `pid` as one string ("?" once it is gone)."""
    try:
        raw = (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except OSError:
        return "?"
    return " ".join(part.decode("utf-8", "replace") for part in raw.split(b"\0") if part) or "?"
