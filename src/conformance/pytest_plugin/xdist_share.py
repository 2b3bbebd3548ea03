"""Expensive results computed once per test run, shared by all pytest-xdist workers.

Importing every module of a backend or running deptry takes seconds; with `-n auto` each
worker would pay it again. The first worker that needs a result computes it under an
exclusive file lock and pickles it; the others wait on the lock and load it. Without xdist
this is a plain call. The directory lives in the system temp dir and is removed by the
controller at the end of the session.
"""

from __future__ import annotations

import fcntl
import pickle
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")
_run_dirs: list[Path] = []


def run_dir(uid: str) -> Path:
    return Path(tempfile.gettempdir()) / f"conformance-run-{uid}"


def shared(config: pytest.Config, key: str, compute: Callable[[], T]) -> T:
    workerinput = getattr(config, "workerinput", None)
    if not workerinput or "testrunuid" not in workerinput:
        return compute()
    directory = run_dir(str(workerinput["testrunuid"]))
    directory.mkdir(parents=True, exist_ok=True)
    result_path = directory / f"{key}.pickle"
    with open(directory / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if result_path.exists():
                return pickle.loads(result_path.read_bytes())  # noqa: S301 - written by this run
            value = compute()
            partial = result_path.with_suffix(".partial")
            partial.write_bytes(pickle.dumps(value))
            partial.replace(result_path)
            return value
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: remember the run's shared dir so it can be removed afterwards."""
    uid = node.workerinput.get("testrunuid")
    if uid and run_dir(uid) not in _run_dirs:
        _run_dirs.append(run_dir(uid))


def pytest_sessionfinish(session: pytest.Session) -> None:
    if hasattr(session.config, "workerinput"):
        return
    while _run_dirs:
        shutil.rmtree(_run_dirs.pop(), ignore_errors=True)
