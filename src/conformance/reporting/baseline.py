"""A baseline of known findings that may only shrink (a ratchet), kept as a sorted text file.

Like ArchUnit's frozen rules and deply's baseline: findings recorded in the file are tolerated
(reported as xfail, not hidden), anything new fails, and an entry that no longer occurs fails
as "fixed" until it is removed, so the file can only get shorter. One finding per line,
sorted, line numbers left out: two branches' baselines merge like any sorted list.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from conformance.model.findings import Finding

HEADER = (
    "# backend-conformance baseline: findings tolerated for now; the file may only shrink.\n"
    "# One finding per line (test id | path | message), sorted. Rewrite with --update-baseline.\n"
)
SEPARATOR = " | "
_LINE_NUMBERS = re.compile(r"(?<=[\w/.)\]])(:\d+)+(?=[\s`'),:]|$)|\(l\.\d+\)|\bline \d+\b")


class BaselineError(Exception):
    """The baseline file cannot be read; the message names the file and line."""


@dataclass(frozen=True, order=True)
class Entry:
    test: str
    path: str
    message: str

    def line(self) -> str:
        return SEPARATOR.join((self.test, self.path, self.message))


def normalize_message(message: str) -> str:
    """First line of the message without line numbers, so edits above a finding keep it known."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    return " ".join(_LINE_NUMBERS.sub("", first).split())


def entry_for(test: str, finding: Finding) -> Entry:
    return Entry(test, finding.path, normalize_message(finding.message))


def load(path: Path) -> set[Entry]:
    """Entries of the file; a missing file is an empty baseline."""
    if not path.exists():
        return set()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"{path}: cannot read the baseline: {exc}") from None
    entries = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(SEPARATOR, 2)
        if len(parts) != 3 or not all(parts):
            raise BaselineError(f"{path}:{number}: expected 'test id | path | message', got {raw!r}")
        entries.add(Entry(*parts))
    return entries


def dump(entries: Iterable[Entry]) -> str:
    return HEADER + "".join(entry.line() + "\n" for entry in sorted(set(entries)))


def merge(previous: set[Entry], ran: set[str], current: set[Entry]) -> set[Entry]:
    """The new baseline: entries of tests that did not run this time stay; the tests that ran
    contribute exactly what they found now."""
    return {e for e in previous if e.test not in ran} | current


@dataclass
class Verdict:
    """How a test's error findings compare with the baseline."""

    new: list[Finding]
    tolerated: list[Finding]
    fixed: list[Entry]


def compare(test: str, findings: list[Finding], baseline: set[Entry]) -> Verdict:
    known = {e for e in baseline if e.test == test}
    current = {entry_for(test, f): f for f in findings}
    return Verdict(
        new=[f for e, f in current.items() if e not in known],
        tolerated=[f for e, f in current.items() if e in known],
        fixed=sorted(known - current.keys()),
    )
