"""The importability child's own program and the results file it writes (importability_run.py
starts it and reads the results here; importability_report.py turns failures into findings).

The child is pytest with pytest-import-check and one plugin of ours, given as source text
because it runs under the backend's interpreter, where this package is not installed. The
plugin writes one JSON line per event to a results file, unbuffered, so that what was written
survives any death of the interpreter:

    {"start": node}                     an import begins
    {"node": node, "failure": F|null}   its outcome, F = {"message": ..., "text": ...}
    {"stopped": node}                   the watchdog stopped an import that took too long
    {"done": true}                      the session finished (pytest wrote nothing after)

This replaces pytest's junit XML and `-v` output, which the child used to write: building the
XML and printing a line per module were a third of its time on 1,000 modules, and a start line
without an outcome names the module that killed the interpreter without parsing terminal text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from conformance.checks.imports.importability_report import (
    ImportabilityReport, backend_relative, exception_origin, exception_text, explain_mismatch, guard_refusal,
    import_failure)

ITEM = "import-check"  # pytest-import-check's item name: node ids are "<file>::import-check"
WATCHDOG_EXIT = 86  # the child's exit code when its watchdog stopped it

# Per item it records the start and the outcome; a watchdog thread polls the item in progress
# (a timer thread per item cost seconds on thousands of modules) and stops the interpreter with
# os._exit when one import runs longer than the limit: a hanging import cannot be interrupted
# reliably (it may catch every exception, or sit in a C call); the parent retries without it.
CHILD = f"""
import gc, json, os, sys, threading, time
import pytest
limit = float(sys.argv.pop(1))
results = os.open(sys.argv.pop(1), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)


def record(entry):
    os.write(results, (json.dumps(entry) + "\\n").encode("ascii"))


class Results:
    def __init__(self):
        self.current = None  # (node id, monotonic deadline) of the import in progress
        self.failures = {{}}  # node id -> its first failure, until the item's last phase is reported
        threading.Thread(target=self.watch, daemon=True).start()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        record({{"start": item.nodeid}})
        self.current = (item.nodeid, time.monotonic() + limit)
        try:
            yield
        finally:
            self.current = None

    def pytest_runtest_logreport(self, report):
        if report.failed:
            self.failures.setdefault(report.nodeid, self.failure(report))
        if report.when == "teardown":
            record({{"node": report.nodeid, "failure": self.failures.pop(report.nodeid, None)}})

    def pytest_collectreport(self, report):
        if report.failed:
            record({{"node": report.nodeid, "failure": self.failure(report)}})

    def failure(self, report):
        crash = getattr(report.longrepr, "reprcrash", None)
        return {{"message": getattr(crash, "message", "") or "", "text": report.longreprtext}}

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session):
        record({{"done": True}})

    def watch(self):
        while True:
            time.sleep(min(0.2, limit / 4))
            current = self.current
            if current is not None and time.monotonic() > current[1]:
                record({{"stopped": current[0]}})
                os._exit({WATCHDOG_EXIT})


# Importing thousands of modules allocates millions of long-lived objects (modules, classes,
# functions): at the default thresholds the collector walks them again and again for garbage
# there is little of. Fewer, later collections: a tenth of the child's time on 1,000 modules.
gc.set_threshold(10000, 20, 20)
code = pytest.main(sys.argv[1:], plugins=[Results()])
sys.stdout.flush()
sys.exit(int(code))
"""


@dataclass
class ChildResults:
    """What one child wrote. `report` is None when the session never finished (the interpreter
    died); `running` is the file whose import started without an outcome; `stopped` the file
    the watchdog stopped."""

    report: ImportabilityReport | None
    running: str | None = None
    stopped: str | None = None


def read_results(backend: Path, path: Path) -> ChildResults:
    """The child's results file read into a report (backend-relative POSIX paths)."""
    try:
        lines = path.read_bytes().decode("ascii", "replace").splitlines()
    except OSError:
        return ChildResults(None)
    report = ImportabilityReport()
    started: str | None = None
    stopped: str | None = None
    done = False
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line cut short by the interpreter's death
        if not isinstance(entry, dict):
            continue
        if "start" in entry:
            started = _file(backend, entry["start"])
        elif "node" in entry:
            rel = _file(backend, entry["node"])
            if rel is None:
                continue
            if rel == started:
                started = None
            report.checked.append(rel)
            if isinstance(entry.get("failure"), dict):
                report.failures[rel] = _failure(backend, rel, entry["failure"])
        elif "stopped" in entry:
            stopped = _file(backend, entry["stopped"])
        elif entry.get("done") is True:
            done = True
    return ChildResults(report if done else None, started, stopped)


def _file(backend: Path, node: object) -> str | None:
    if not isinstance(node, str):
        return None
    return backend_relative(backend, node.split("::", 1)[0])


def _failure(backend: Path, rel: str, failure: dict[str, object]) -> object:
    message, text = str(failure.get("message") or ""), str(failure.get("text") or "")
    result = import_failure(backend, rel, explain_mismatch(exception_text(message, text), backend))
    result.origin = exception_origin(backend, message, text)
    refused = guard_refusal(backend, message, text)
    if refused is not None:
        result.origin, result.refused = refused
    return result
