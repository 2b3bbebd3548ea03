"""Fixtures for the self-tests: run the conformance suite in-process on generated trees."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conformance.checks.fixsafety import explains_destruction, unexplained
from conformance.model.spec import Spec
from conformance.model.spec_loader import load_spec
from selftests.trees import PROJECT

pytest_plugins = ["pytester"]

# No self-test depends on another's cached results: the run cache is off for every suite run of
# the self-tests (in-process and child processes alike) unless a test passes --conformance-cache-dir.
os.environ["CONFORMANCE_NO_CACHE"] = "1"


def _preload_sqlalchemy() -> None:
    """pytester drops the modules an in-process run imports when the run ends; SQLAlchemy's
    compiled extensions do not survive a second copy of its Python modules imported afterwards
    ("'InternalTraversal' object is not callable"). Which run imports it first depends on how
    xdist shares out the tests, so the database code's modules are imported here, once, before
    any run: no run owns them, none drops them."""
    import importlib

    for name in ("sqlalchemy", "sqlalchemy.engine.reflection", "sqlalchemy.pool", "sqlalchemy.dialects.sqlite",
                 "sqlalchemy.dialects.postgresql", "sqlalchemy.dialects.postgresql.psycopg", "psycopg"):
        try:
            importlib.import_module(name)
        except ImportError:
            pass


_preload_sqlalchemy()

# Every `fix:` text of every in-process suite run of this session (this worker, under xdist):
# run_suite checks each one with conformance.checks.fixsafety, so no self-test run may print a
# destructive command without saying what it destroys.
FIX_TEXTS: list[str] = []
_FIX_LINE = re.compile(r"^(?P<indent>[ \t]*(?:E[ \t]+)?)fix:  (?P<text>.*)$")


def fix_texts(output: str) -> list[str]:
    """The `fix:` texts of rendered findings (Finding.render: continuation lines are indented
    six columns past `fix:`), joined back into one multi-line text each."""
    lines = output.splitlines()
    found = []
    for number, line in enumerate(lines):
        match = _FIX_LINE.match(line)
        if match is None:
            continue
        text = [match["text"]]
        continuation = match["indent"] + " " * 6
        for following in lines[number + 1:]:
            if not following.startswith(continuation) or not following[len(continuation):].strip():
                break
            text.append(following[len(continuation):])
        found.append("\n".join(text))
    return found


@dataclass
class SuiteRun:
    """Outcome of one in-process run of the conformance suite, by short test id."""

    ret: int
    output: str
    outcomes: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    fixes: list[str] = field(default_factory=list)  # every `fix:` text in the output (failures and warnings)

    def with_outcome(self, outcome: str) -> set[str]:
        return {name for name, value in self.outcomes.items() if value == outcome}

    @property
    def failed(self) -> set[str]:
        return self.with_outcome("failed")


@pytest.fixture
def reference(tmp_path):
    """The reference backend as a fresh committed repository of its own."""
    from selftests.trees import reference_repo

    return reference_repo(tmp_path / "repo")


@pytest.fixture(scope="session")
def spec() -> Spec:
    return load_spec(PROJECT / "pyproject.toml")


@pytest.fixture
def run_suite(pytester: pytest.Pytester):
    """Run tests/<part> of the suite against a backend, in-process, and collect outcomes."""

    def run(backend: Path | None, *extra: str, part: str = "structure") -> SuiteRun:
        args = [str(PROJECT / "tests" / part), "-c", str(PROJECT / "pyproject.toml"),
                "--rootdir", str(PROJECT), "-p", "no:cacheprovider", "-p", "no:randomly", *extra]
        if backend is not None:
            args += [f"--backend-root={backend}"]
        result = pytester.runpytest_inprocess(*args)
        run = SuiteRun(ret=int(result.ret), output="\n".join(result.outlines + result.errlines))
        reprec = getattr(result, "reprec", None)
        for report in reprec.getreports("pytest_runtest_logreport") if hasattr(reprec, "getreports") else []:
            name = report.nodeid.split("::", 1)[-1]
            if report.when == "call" or report.outcome != "passed":
                run.outcomes[name] = report.outcome
                if report.outcome != "passed":
                    run.messages[name] = report.longreprtext
        run.fixes = fix_texts(run.output)
        FIX_TEXTS.extend(run.fixes)
        unsafe = [f"{fix!r}: {', '.join(unexplained(fix))}" for fix in run.fixes if not explains_destruction(fix)]
        assert not unsafe, ("fix texts with a destructive command but no explanation next to it (see "
                            "conformance.checks.fixsafety):\n" + "\n".join(unsafe))
        return run

    return run


@pytest.fixture
def postgres_server():
    """One self-test at a time on the shared PostgreSQL server: a test that asserts no
    throwaway `conformance_*` database is left must not see another test's databases (xdist
    runs tests in parallel processes, so the lock is a file)."""
    import fcntl
    import tempfile

    with open(Path(tempfile.gettempdir()) / "conformance-selftests-postgres.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
