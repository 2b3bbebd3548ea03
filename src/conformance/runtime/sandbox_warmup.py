"""Bring the kept sandbox up to date in a forked child while pytest configures and collects.

Creating files is the slowest part of a cold run's start on many disks, and nothing else needs
this process then. The child only warms the copy: the tests' own sync afterwards
(sandbox_sync.synced_sandbox) still checks every file against its content id and recorded
signature, so a child that failed, was killed or never ran changes nothing but the time.
"""

from __future__ import annotations

import gc
import os
import signal
import threading
import time
from pathlib import Path

from conformance.repo.index import RepoIndex
from conformance.runtime import sandbox_sync  # imported before any fork: the child imports nothing

WARMUP_TIMEOUT = 300.0


def start(index: RepoIndex, ids: dict[str, str], base: Path) -> int | None:
    """The pid of a child syncing the kept sandbox under `base`, or None: no fork on a platform
    without it, nor in a process with other threads (a lock one of them holds would stay held in
    the child)."""
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return None
    pid = os.fork()
    if pid:
        return pid
    code = 1
    gc.disable()  # a collection would walk, and so copy page by page, the whole heap shared with the parent
    try:  # the child: sync, then leave at once (no atexit handlers, no buffers of the parent's)
        sandbox_sync.forget_locks()  # the parent's locks are not this process's: take it here
        code = 0 if sandbox_sync.synced_sandbox(index, ids, base) is not None else 1
    except BaseException:  # noqa: BLE001 - the tests' own sync repairs whatever happened
        code = 1
    finally:
        os._exit(code)


def finish(pid: int | None, timeout: float = WARMUP_TIMEOUT) -> None:
    """Wait for the child (killed after `timeout`) and reap it."""
    if pid is None:
        return
    deadline = time.monotonic() + timeout
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        if time.monotonic() > deadline:
            stop(pid)
            return
        time.sleep(0.01)


def stop(pid: int | None) -> None:
    """Kill the child if it still runs (an interrupted run) and reap it."""
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
