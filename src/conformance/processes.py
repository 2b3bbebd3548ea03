"""Run child processes in their own process group, with a timeout, always reaped.

Every subprocess the suite starts goes through here, so no check can leave a stray
process behind when it times out or the test is interrupted.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


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
    # The leader may be gone while group members survive; SIGKILL the group once more.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run(
    argv: Sequence[str],
    *,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    stdin: bytes | None = None,
) -> Completed:
    """Run argv to completion in a new session; raise ProcessTimeout after `timeout`."""
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(input=stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc, grace=0.5)
        out, err = proc.communicate()
        raise ProcessTimeout(argv, timeout, out + err) from None
    except BaseException:
        kill_group(proc, grace=0.5)
        raise
    return Completed(tuple(argv), proc.returncode, out, err)


def free_port() -> int:
    """A TCP port on loopback that is free right now (the OS picks it; xdist workers never collide)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ManagedProcess:
    """A long-running child (server, worker) in its own process group, with output captured to
    files, a readiness probe and a stop that always reaps the whole group.

    Use as a context manager: leaving the block stops the child whatever happened inside.
    """

    def __init__(self, argv: Sequence[str], *, cwd: Path | str, env: Mapping[str, str], name: str,
                 log_dir: Path):
        self.argv = list(argv)
        self.name = name
        self.stdout_path = log_dir / f"{name}.stdout.log"
        self.stderr_path = log_dir / f"{name}.stderr.log"
        self._stdout = open(self.stdout_path, "wb")  # noqa: SIM115 - closed in stop()
        self._stderr = open(self.stderr_path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(self.argv, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                                     stdout=self._stdout, stderr=self._stderr, start_new_session=True)
        self.returncode: int | None = None
        self.stop_seconds: float | None = None

    def __enter__(self) -> ManagedProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        if not self._stdout.closed:
            self._stdout.flush()
        return self.stdout_path.read_text("utf-8", "replace")

    def errors(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self.stderr_path.read_text("utf-8", "replace")

    def tail(self, lines: int = 30) -> str:
        """The last lines of stderr and stdout: what a failure message should show."""
        text = (self.errors().strip() + "\n" + self.output().strip()).strip()
        return "\n".join(text.splitlines()[-lines:])

    def wait_until(self, ready: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
        """Poll `ready` until it returns True, the child exits, or `timeout` passes."""
        import time

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

    def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM the leader, wait `grace`, then SIGKILL the group; returns the exit code
        (None when it had to be killed). Members of the group are always killed at the end."""
        import time

        started = time.monotonic()
        if self.running:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.returncode = self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.returncode = None
        else:
            self.returncode = self.proc.returncode
        self.stop_seconds = time.monotonic() - started
        self.kill()
        return self.returncode

    def survivors(self) -> list[int]:
        """PIDs still alive in the child's process group (read from /proc)."""
        return group_members(self.proc.pid)

    def kill(self) -> None:
        if self.proc.returncode is None and self.running:
            kill_group(self.proc, grace=0.0)
        else:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            if self.proc.returncode is None:
                self.proc.wait()
        for handle in (self._stdout, self._stderr):
            if not handle.closed:
                handle.close()


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is `pgid`, from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state != "Z":
            members.append(int(entry.name))
    return members
