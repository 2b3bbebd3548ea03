"""The success-criteria summary: test outcomes counted per plan success criterion and phase.

Counts come from the test reports (one outcome per test, as pytest counts them), so the
table adds up to pytest's own closing line.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from conformance.model.rules import RULES, SUCCESS_CRITERIA

COLUMNS = ("passed", "failed", "error", "baselined", "held", "skipped")
HEADERS = {"held": "held back"}  # tests of a phase later than --phase: they ran, their findings wait
MAX_HELD_LINES = 10
NO_CRITERION = "Target structure and hygiene (no success criterion)"


@dataclass
class Outcome:
    nodeid: str
    rule: str | None
    phase: int | None
    outcome: str  # one of COLUMNS
    message: str = ""


@dataclass
class Tally:
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    def record(self, outcome: Outcome) -> None:
        """Keep the worst outcome per test (a teardown error after a pass still counts)."""
        rank = {"error": 5, "failed": 4, "baselined": 3, "held": 2, "skipped": 1, "passed": 0}
        previous = self.outcomes.get(outcome.nodeid)
        if previous is None or rank[outcome.outcome] > rank[previous.outcome]:
            self.outcomes[outcome.nodeid] = outcome

    def by(self, key: str) -> dict[str, Counter[str]]:
        table: dict[str, Counter[str]] = defaultdict(Counter)
        for outcome in self.outcomes.values():
            table[_label(outcome, key)][outcome.outcome] += 1
        return table

    def totals(self) -> Counter[str]:
        return Counter(o.outcome for o in self.outcomes.values())


def _label(outcome: Outcome, key: str) -> str:
    if key == "phase":
        return f"Phase {outcome.phase}" if outcome.phase else "no phase"
    rule = RULES.get(outcome.rule or "")
    return rule.criterion if rule and rule.criterion else NO_CRITERION


def rows(tally: Tally, key: str) -> list[tuple[str, Counter[str]]]:
    """Every criterion (or phase 1-4) always, plus the catch-all row when it has tests."""
    table = tally.by(key)
    fixed = list(SUCCESS_CRITERIA) if key == "criterion" else [f"Phase {n}" for n in (1, 2, 3, 4)]
    extra = [NO_CRITERION] if key == "criterion" else ["no phase"]
    return [(label, table.get(label, Counter())) for label in fixed] + [(label, table[label]) for label in extra
                                                                        if label in table]


def text_tables(tally: Tally) -> list[str]:
    lines = []
    for key, title in (("criterion", "success criterion"), ("phase", "plan phase")):
        width = max(len(label) for label, _ in rows(tally, key)) + 2
        lines.append(f"{title:<{width}}" + "".join(f"{HEADERS.get(c, c):>10}" for c in COLUMNS))
        for label, counts in rows(tally, key):
            lines.append(f"{label:<{width}}" + "".join(f"{counts[c]:>10}" for c in COLUMNS))
        totals = tally.totals()
        lines.append(f"{'total':<{width}}" + "".join(f"{totals[c]:>10}" for c in COLUMNS))
        lines.append("")
    return lines


def held_back_lines(tally: Tally) -> list[str]:
    """Which tests wait for a later phase and what they would raise: visible without -rs."""
    held = sorted((o for o in tally.outcomes.values() if o.outcome == "held"), key=lambda o: o.nodeid)
    if not held:
        return []
    lines = [f"held back by --phase ({len(held)}):"]
    for outcome in held[:MAX_HELD_LINES]:
        lines.append(f"  {outcome.nodeid.rsplit('::', 1)[-1]} (phase {outcome.phase}): {outcome.message}")
    if len(held) > MAX_HELD_LINES:
        lines.append(f"  ... and {len(held) - MAX_HELD_LINES} more (-rs lists them all)")
    return [*lines, ""]


def markdown(tally: Tally, title: str = "Backend conformance") -> str:
    out = [f"# {title}", ""]
    totals = tally.totals()
    verdict = "FAILED" if totals["failed"] or totals["error"] else "passed"
    out.append(f"**{verdict}**: " + ", ".join(f"{totals[c]} {HEADERS.get(c, c)}" for c in COLUMNS if totals[c]))
    out.append("")
    for key, title_ in (("criterion", "Success criterion"), ("phase", "Plan phase")):
        out.append(f"| {title_} | " + " | ".join(HEADERS.get(c, c) for c in COLUMNS) + " |")
        out.append("|---|" + "---:|" * len(COLUMNS))
        for label, counts in rows(tally, key):
            out.append(f"| {label} | " + " | ".join(str(counts[c]) for c in COLUMNS) + " |")
        out.append("| **total** | " + " | ".join(f"**{totals[c]}**" for c in COLUMNS) + " |")
        out.append("")
    failing = [o for o in tally.outcomes.values() if o.outcome in ("failed", "error")]
    if failing:
        out.append("## Failures")
        out.append("")
        for outcome in sorted(failing, key=lambda o: o.nodeid):
            first = outcome.message.strip().splitlines()[:4]
            out.append(f"- `{outcome.nodeid}`")
            out.extend(f"  > {line}" for line in first)
        out.append("")
    return "\n".join(out)
