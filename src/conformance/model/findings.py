"""Findings: what a check found, where, which plan rule it breaks, and how to fix it.

Kept free of pytest so the check logic can be tested and reused (fix plans, reports).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]


class ConformanceWarning(UserWarning):
    """A finding that is worth seeing but does not fail the run (e.g. lost git history)."""


@dataclass(frozen=True)
class Finding:
    """One violation of the plan.

    `subject` is the spec entry the finding belongs to (a dir, a moved file, a pattern);
    empty for checks that are not parametrized. `message` reads as a predicate that follows
    the location, e.g. "backend/x.py" + "is in the backend root; ...".
    """

    rule: str
    path: str
    message: str
    fix: str
    subject: str = ""
    line: int | None = None
    severity: Severity = "error"
    plan: str = ""
    phase: int | None = None

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path

    def render(self) -> str:
        phase = f" (phase {self.phase})" if self.phase else ""
        plan = f' - "{self.plan}"' if self.plan else ""
        lines = [f"{self.location} {self.message}", f"  rule: {self.rule}{phase}{plan}"]
        fix_lines = self.fix.splitlines() or [""]
        lines.append(f"  fix:  {fix_lines[0]}")
        lines.extend(f"        {extra}" for extra in fix_lines[1:])
        return "\n".join(lines)


@dataclass(frozen=True)
class Skipped:
    """A check that cannot run on this backend, with the reason shown as the skip reason."""

    reason: str


@dataclass
class CheckResult:
    """Everything one (rule, subject) pair produced."""

    findings: list[Finding] = field(default_factory=list)
    skipped: Skipped | None = None

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]


def render_all(findings: list[Finding]) -> str:
    """Render findings for a test failure: a count line, then one block per finding."""
    noun = "finding" if len(findings) == 1 else "findings"
    blocks = "\n\n".join(f.render() for f in findings)
    return f"{len(findings)} {noun}:\n\n{blocks}"
