"""Run child processes in their own process group, with a timeout, always reaped.

Every subprocess the suite starts goes through here, so no check can leave a stray
process behind when it times out or the test is interrupted.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
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
