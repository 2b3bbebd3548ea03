"""Fixtures for the self-tests: run the conformance suite in-process on generated trees."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conformance.spec import Spec, load_spec
from selftests.trees import PROJECT

pytest_plugins = ["pytester"]


@dataclass
class SuiteRun:
    """Outcome of one in-process run of the conformance suite, by short test id."""

    ret: int
    output: str
    outcomes: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)

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
        return run

    return run
