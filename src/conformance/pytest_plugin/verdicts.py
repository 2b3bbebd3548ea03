"""What a finding does to a test: fail, warn, skip for a later phase, or xfail against the baseline;
and the success-criteria summary at the end of the run.

A pytest plugin registered by conformance.pytest_plugin.plugin. Test modules call `assert_conforms`; the
hooks here know the running item, so the checks stay free of phase and baseline logic.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conformance.reporting import baseline as baseline_file
from conformance.model.findings import CheckResult, ConformanceWarning, Finding, Skipped, render_all
from conformance.reporting.summary import Outcome, Tally, held_back_lines, markdown, text_tables
from conformance.pytest_plugin.options import from_invocation

ALL_PHASES = 4


@dataclass
class RunState:
    """Per-process state of the adoption features (phase, baseline, report)."""

    phase: int = ALL_PHASES
    baseline_path: Path | None = None
    baseline: set[baseline_file.Entry] | None = None
    update_baseline: bool = False
    strict_baseline: bool = False
    report_path: Path | None = None
    tally: Tally = field(default_factory=Tally)
    recorded: set[baseline_file.Entry] = field(default_factory=set)
    ran: set[str] = field(default_factory=set)


STATE = pytest.StashKey[RunState]()
FINDINGS = pytest.StashKey[list[Finding]]()
_current: list[pytest.Item] = []


def add_options(group: Any) -> None:
    """Options of this module; added by conformance.pytest_plugin.plugin, which registers the module."""
    group.addoption("--phase", type=int, default=None, metavar="N",
                    help="enforce the rules of plan phases 1..N; later phases run and show as skipped "
                         "with the findings they would raise (default: all phases)")
    group.addoption("--conformance-baseline", metavar="FILE", default=None,
                    help="tolerate the findings recorded in FILE (reported as xfail); new findings fail; "
                         "entries that no longer occur are reported (and fail with --strict-baseline)")
    group.addoption("--strict-baseline", action="store_true", default=False,
                    help="fail the tests whose baseline entries no longer occur until --update-baseline "
                         "removes them (for the CI job that guards the baseline file)")
    group.addoption("--update-baseline", action="store_true", default=False,
                    help="rewrite the --conformance-baseline file with the current findings")
    group.addoption("--conformance-report", metavar="FILE.md", default=None,
                    help="write the success-criteria summary as Markdown (for a PR comment or job summary)")


def pytest_configure(config: pytest.Config) -> None:
    phase = config.getoption("phase")
    if phase is not None and phase not in (1, 2, 3, 4):
        raise pytest.UsageError(f"conformance: --phase must be 1, 2, 3 or 4, got {phase}")
    state = RunState(phase=phase or ALL_PHASES, update_baseline=config.getoption("update_baseline"),
                     strict_baseline=config.getoption("strict_baseline"))
    raw = config.getoption("conformance_baseline")
    if raw:
        state.baseline_path = from_invocation(config, raw)
        try:
            state.baseline = baseline_file.load(state.baseline_path)
        except baseline_file.BaselineError as exc:
            raise pytest.UsageError(f"conformance: {exc}") from None
    elif state.update_baseline:
        raise pytest.UsageError("conformance: --update-baseline needs --conformance-baseline FILE")
    report = config.getoption("conformance_report")
    state.report_path = from_invocation(config, report) if report else None
    config.stash[STATE] = state


def enforced_phase(config: pytest.Config) -> int:
    state = config.stash.get(STATE, None)
    return state.phase if state else ALL_PHASES


def item_phase(item: pytest.Item) -> int | None:
    for number in (1, 2, 3, 4):
        if item.get_closest_marker(f"phase{number}"):
            return number
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    _current.append(item)
    try:
        return (yield)
    finally:
        _current.pop()


def assert_conforms(result: CheckResult | list[Finding] | Skipped | None) -> None:
    """Fail with every error finding, warn with the warnings, skip when the check cannot run;
    findings recorded in the baseline are tolerated as xfail."""
    if result is None:
        result = CheckResult()
    elif isinstance(result, Skipped):
        result = CheckResult(skipped=result)
    elif isinstance(result, list):
        result = CheckResult(list(result))
    item = _current[-1] if _current else None
    phase = item_phase(item) if item is not None else None
    if phase is not None:  # the phase is decided once, at collection (plugin): findings show that one
        result = CheckResult([dataclasses.replace(f, phase=phase) for f in result.findings], result.skipped)
    for finding in result.warnings:
        warnings.warn(ConformanceWarning(finding.render()), stacklevel=2)
    errors = result.errors
    if item is not None:
        item.stash[FINDINGS] = errors
    state = item.config.stash.get(STATE, None) if item is not None else None
    if state is None or state.baseline is None or result.skipped is not None:
        if errors:
            pytest.fail(render_all(errors), pytrace=False)
        if result.skipped is not None:
            pytest.skip(result.skipped.reason)
        return
    _against_baseline(item, state, errors)  # type: ignore[arg-type]


def _against_baseline(item: pytest.Item, state: RunState, errors: list[Finding]) -> None:
    verdict = baseline_file.compare(item.name, errors, state.baseline or set())
    if state.update_baseline:
        verdict = baseline_file.Verdict(new=[], tolerated=errors, fixed=[])
    problems = []
    if verdict.new:
        problems.append("not in the baseline (a new finding): " + render_all(verdict.new))
    if verdict.fixed:
        lines = "\n".join(f"  {entry.line()}" for entry in verdict.fixed)
        fixed = (f"fixed: {len(verdict.fixed)} baseline entr{'y' if len(verdict.fixed) == 1 else 'ies'} no longer "
                 f"occur; `--update-baseline` removes them from {state.baseline_path}:\n{lines}")
        if state.strict_baseline:
            problems.append(fixed)
        else:  # fixing old findings never turns a pull request red; the CI guard uses --strict-baseline
            warnings.warn(ConformanceWarning(fixed), stacklevel=2)
    if verdict.tolerated and problems:
        problems.append(f"({len(verdict.tolerated)} more finding(s) tolerated by the baseline)")
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)
    if verdict.tolerated:
        pytest.xfail(f"baselined: {render_all(verdict.tolerated)}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    state = item.config.stash.get(STATE, None)
    if state is None:
        return report
    phase = item_phase(item)
    rule = item.get_closest_marker("rule")
    if rule is None:
        return report  # not a conformance test (e.g. the project's own self-tests)
    report.user_properties.append(("conformance_rule", rule.args[0] if rule and rule.args else ""))
    report.user_properties.append(("conformance_phase", phase or 0))
    if report.skipped and isinstance(report.longrepr, tuple) and Path(report.longrepr[0]).name == Path(__file__).name:
        # assert_conforms raised the skip; point at the test, not at this helper
        report.longrepr = (_shown_file(item), (item.location[1] or 0) + 1, report.longrepr[2])
    elif report.skipped and isinstance(report.longrepr, tuple) and Path(report.longrepr[0]) == item.path:
        report.longrepr = (_shown_file(item), *report.longrepr[1:])
    if report.when == "call":
        findings = item.stash.get(FINDINGS, [])
        if state.update_baseline:
            lines = [baseline_file.entry_for(item.name, f).line() for f in findings]
            report.user_properties.append(("conformance_baseline", lines))
        if phase and phase > state.phase and (report.failed or hasattr(report, "wasxfail")):
            count = f"would raise {len(findings)} finding(s)" if findings else "would fail"
            report.outcome = "skipped"
            report.longrepr = (_shown_file(item), item.location[1] or 0,
                               f"Skipped: phase {phase} not enforced yet (--phase {state.phase}): {count}")
            report.user_properties.append(("conformance_held", count))
            if hasattr(report, "wasxfail"):
                del report.wasxfail
    return report


def _shown_file(item: pytest.Item) -> str:
    """The test file as the report shows it: the item's id path when the plugin gave the
    installed suite repository-style ids (see plugin._suite_relative_ids), else its path."""
    file = Path(item.nodeid.split("::", 1)[0])
    renamed = not item.path.is_relative_to(item.config.rootpath) and ".." not in file.parts
    return file.as_posix() if renamed and not file.is_absolute() else str(item.path)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Collect outcomes on the process that writes the summary (the xdist controller)."""
    config = _config_of(report)
    state = config.stash.get(STATE, None) if config else None
    if state is None:
        return
    props = dict(report.user_properties)
    if "conformance_rule" not in props:
        return
    if report.when == "call" and "conformance_baseline" in props:
        state.ran.add(report.nodeid.rsplit("::", 1)[-1])
        state.recorded.update(baseline_file.Entry(*line.split(baseline_file.SEPARATOR, 2))
                              for line in props["conformance_baseline"])
    if report.passed and report.when != "call":
        return
    if report.failed:
        outcome = "failed" if report.when == "call" else "error"
    elif report.skipped and "conformance_held" in props:
        outcome = "held"  # a later phase than --phase: it ran, and its findings wait for that phase
    elif report.skipped:
        outcome = "baselined" if hasattr(report, "wasxfail") else "skipped"
    else:
        outcome = "passed"
    state.tally.record(Outcome(report.nodeid, props["conformance_rule"] or None,
                               props.get("conformance_phase") or None, outcome,
                               report.longreprtext if report.failed else str(props.get("conformance_held", ""))))


_configs: list[pytest.Config] = []


def _config_of(report: pytest.TestReport) -> pytest.Config | None:
    return _configs[-1] if _configs else None


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    _configs.append(session.config)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _configs and _configs[-1] is session.config:
        _configs.pop()
    state = session.config.stash.get(STATE, None)
    if state is None or hasattr(session.config, "workerinput"):
        return  # xdist workers send their reports to the controller, which writes the files
    if state.update_baseline and state.baseline_path is not None:
        merged = baseline_file.merge(state.baseline or set(), state.ran, state.recorded)
        state.baseline_path.parent.mkdir(parents=True, exist_ok=True)
        state.baseline_path.write_text(baseline_file.dump(merged), encoding="utf-8")
    if state.report_path is not None and state.tally.outcomes:
        state.report_path.parent.mkdir(parents=True, exist_ok=True)
        state.report_path.write_text(markdown(state.tally), encoding="utf-8")


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or not state.tally.outcomes:
        return
    terminalreporter.section("plan conformance")
    if state.phase < ALL_PHASES:
        enforced = "phase 1" if state.phase == 1 else f"phases 1-{state.phase}"
        terminalreporter.line(f"enforcing plan {enforced}; later phases run and are counted as held back")
    for line in text_tables(state.tally):
        terminalreporter.line(line)
    for line in held_back_lines(state.tally):
        terminalreporter.line(line)
    if state.update_baseline and state.baseline_path is not None:
        terminalreporter.line(f"baseline rewritten: {state.baseline_path}")
    if state.report_path is not None:
        terminalreporter.line(f"report written: {state.report_path}")
