"""What every structure check shares: the spec, the repo index, the report being built and
the files already claimed, plus the fix commands the checks write (git mv, git rm, mkdir).

Checks run in a fixed order from the most specific to the most generic (see evaluate() in
this package), and every file a check reports is "claimed": later, more generic checks skip
it. A stray `master/scalable_bot_manager.js` is one planned-move failure, not also a
Node-outside-workers failure and an unexpected-directory failure.
"""

from __future__ import annotations

import functools
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from conformance.model.findings import CheckResult, Finding, Severity, Skipped
from conformance.model.rules import RuleId, rule
from conformance.model.spec import Spec
from conformance.repo.index import RepoIndex, shell_quote, shown_path

quote = shell_quote  # fix commands quote every path


@dataclass
class StructureReport:
    """All structure results of one backend, looked up by (rule, subject)."""

    results: dict[tuple[RuleId, str], CheckResult] = field(default_factory=dict)
    seen: dict[tuple[str, str], Any] = field(default_factory=dict)  # the disk looks it rests on (disk.py)

    def result(self, rule_id: RuleId, subject: str = "") -> CheckResult:
        return self.results.get((rule_id, subject), CheckResult())

    def findings(self) -> list[Finding]:
        return [f for r in self.results.values() for f in r.findings]


class Checker:
    """The state of one evaluation: the checks in moves, hygiene and layout add to its report."""

    def __init__(self, spec: Spec, index: RepoIndex):
        self.spec = spec
        self.index = index
        self.report = StructureReport()
        self.claimed: set[str] = set()
        self.workers = index.rel(spec.workers)
        self._production = Patterns(spec.non_production)
        self.node_exempt = Patterns(spec.node_exempt)
        self.seen: dict[tuple[str, str], Any] = {}  # what the checks saw on disk (see disk.py)

    def look(self, kind: str, path: str) -> Any:
        """A look at the disk beyond the index (disk.LOOKS), recorded for the run cache."""
        from conformance.checks.structure.disk import look

        value = self.seen[(kind, path)] = look(self.index.root, kind, path)
        return value

    # -- results ---------------------------------------------------------------------------

    def add(self, rule_id: RuleId, subject: str, path: str, message: str, fix: str, *,
            line: int | None = None, severity: Severity = "error", plan: str | None = None,
            phase: int | None = None, claim: Iterable[str] = ()) -> None:
        """A finding of `rule_id` for the spec entry `subject`; the files in `claim` are not
        reported again by the more generic checks that run later."""
        finding = rule(rule_id).finding(  # shown_path: a name that is not UTF-8 must still print and serialize
            shown_path(path), shown_path(message), shown_path(fix), subject=subject, line=line,
            severity=severity, plan=plan, phase=phase if phase is not None else self.spec.phase_of(rule_id))
        self.report.results.setdefault((rule_id, subject), CheckResult()).findings.append(finding)
        self.claimed.update(claim)

    def skip(self, rule_id: RuleId, subject: str, reason: str) -> None:
        self.report.results.setdefault((rule_id, subject), CheckResult()).skipped = Skipped(reason)

    # -- where files are -------------------------------------------------------------------

    def shown_dir(self, spec_path: str) -> str:
        return (spec_path[2:] if spec_path.startswith("//") else spec_path).rstrip("/") + "/"

    def backend_files(self) -> list[str]:
        """The backend's files no earlier check has claimed."""
        return [p for p in self.index.backend_files() if p not in self.claimed]

    def is_production(self, path: str) -> bool:
        rel = self.index.backend_rel(path)
        if rel is None or self.under_workers(path):
            return False
        return not self._production.match(rel)

    def under_workers(self, path: str) -> bool:
        return path == self.workers or path.startswith(self.workers + "/")

    @functools.cached_property
    def kept_outside(self) -> set[str]:
        """Planned top-level dirs that are missing from the backend but exist at the repository
        root (workers kept beside the backend): one finding, test_required_dir[<top>], says so
        for the dir, its subdirs and the files moved into it."""
        if not self.index.prefix:
            return set()
        tops = {d.path.split("/")[0] for d in self.spec.dirs if not d.runtime and not d.path.startswith("//")}
        missing = {t for t in tops if t and not self.index.is_dir(self.index.rel(t))}
        return {t for t in missing if t in self.index.repository_dirs} if missing else set()

    # -- fix commands ----------------------------------------------------------------------

    def move_command(self, source: str, dest_dir: str) -> str:
        """`git mv` (or plain mv outside git) into dest_dir, creating it first when needed."""
        dest = posixpath.join(dest_dir, posixpath.basename(source))
        mover = "git mv" if self.index.is_git else "mv"
        mkdir = "" if self.index.is_dir(dest_dir) else f"mkdir -p {quote(dest_dir)} && "
        return f"{mkdir}{mover} {quote(source)} {quote(dest)}"

    def remove_command(self, paths: list[str], cached: bool = False, recursive: bool = False) -> str:
        if not self.index.is_git:
            return f"rm {'-r ' if recursive else ''}{' '.join(quote(p) for p in paths)}"
        flags = " ".join(f for f, on in (("-r", recursive), ("--cached", cached)) if on)
        return f"git rm {flags + ' ' if flags else ''}-- {' '.join(quote(p) for p in paths)}"


class Patterns:
    """Gitignore-style patterns matched against backend-relative paths."""

    def __init__(self, patterns: Iterable[str]):
        import pathspec

        lines = list(patterns)
        self.spec = pathspec.GitIgnoreSpec.from_lines(lines)
        self.empty = not lines

    def match(self, path: str) -> bool:
        return not self.empty and self.spec.match_file(path)
