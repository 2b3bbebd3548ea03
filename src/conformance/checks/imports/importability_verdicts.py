"""test_importable's verdicts: the child's ImportabilityReport judged, one finding per root cause.

Pure: importability_run.py runs the child pytest; this module only reads its report. Failures
raised at one place by one exception are one finding listing the modules they break; a place
a static check already fails (static_claims) is named, not reported again; declared
requirements missing from the backend interpreter are one note about the environment.
"""

from __future__ import annotations

import posixpath
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from conformance.analysis.importnames import Origin
from conformance.checks.imports.groups import importable_groups
from conformance.checks.imports.scan import ImportScan, check_parse, module_name
from conformance.checks.imports.style import check_backend_prefix, init_file_findings
from conformance.model.findings import Finding
from conformance.proc.dbguard import GuardRecord, refusal_fix, refused_message
from conformance.model.rules import RuleId, rule
from conformance.repo.index import shell_quote


def static_claims(scan_: ImportScan, resolution: dict[str, list[Finding]],
                  others: dict[str, list[Finding]] = {}) -> dict[str, str]:  # noqa: B006 - read only
    """Places that a static check already fails, -> the test that reports them: an import
    failure raised there is the same violation seen again, so importability names that test
    instead of reporting it. Keys are backend-relative "path:line" for a finding on one
    statement, and "path" for one that breaks the whole file (it does not parse, it is
    shadowed). `resolution` is check_resolution's result, computed once per session; `others`
    maps further test ids to their findings (the dependency and structure checks)."""
    claims: dict[str, str] = {}

    def claim(findings: list[Finding], test: str, whole_file: bool = False) -> None:
        for finding in findings:
            if finding.severity != "error" and finding.rule != RuleId.PYTHON_PARSES:
                continue  # a file reported as newer syntax (a warning) still fails to import here
            rel = _backend_rel(scan_, finding.path)
            claims.setdefault(rel if whole_file or not finding.line else f"{rel}:{finding.line}", test)

    claim(check_parse(scan_), "test_python_files_parse", whole_file=True)
    claim(check_backend_prefix(scan_), "test_no_backend_prefix")
    for group, findings in resolution.items():
        claim(findings, f"test_imports_resolve[{group}]")
    for test, findings in others.items():
        claim(findings, test, whole_file=test == "test_module_package_clash")
    for _, directory in init_file_findings(scan_):  # "dir/": a namespace chain too deep to import
        claims.setdefault(directory + "/", "test_init_files")
    return claims


def _backend_rel(scan_: ImportScan, repo_path: str) -> str:
    return scan_.index.backend_rel(repo_path) or repo_path


def importability_results(scan_: ImportScan, report: object, claims: dict[str, str] | None = None) -> dict[str, object]:
    """Map an ImportabilityReport to one CheckResult per importability group, one finding per
    root cause: failures raised at the same place with the same exception are one finding
    listing the modules they break; a cause a static check reports (`claims`, see
    static_claims) is named, not reported again; declared requirements missing from the
    backend interpreter are one note about the environment, not a finding per module."""
    from conformance.model.findings import CheckResult, Skipped

    groups = importable_groups(scan_.spec)
    error = getattr(report, "error", None)
    if error and not getattr(report, "checked", None):
        return {g: CheckResult(skipped=Skipped(f"importability not checked: {error}")) for g in groups}
    results: dict[str, CheckResult] = {g: CheckResult() for g in groups}
    causes = _root_causes(scan_, getattr(report, "failures", {}), claims or {})
    environment: dict[str, list[str]] = defaultdict(list)  # group -> modules not checked
    for cause in causes:
        group = _group_of_file(groups, cause.path)
        if cause.environment:
            for failure in cause.failures:
                environment[_group_of_file(groups, failure.path)].append(failure.module)
            continue
        results[group].findings.append(cause.finding(scan_))
    if environment:
        note = _environment_note(scan_)
        for group, modules in environment.items():
            text = f"{len(modules)} module(s) not checked ({', '.join(sorted(modules)[:5])}" \
                   f"{', ...' if len(modules) > 5 else ''}): {note}"
            if results[group].errors:
                results[group].findings.append(rule(RuleId.IMPORTABLE).finding(
                    scan_.index.prefix or ".", text, note.split(": run ", 1)[-1], severity="warning",
                    phase=scan_.spec.phase_of(RuleId.IMPORTABLE)))
            else:
                results[group].skipped = Skipped(f"importability not fully checked: {text}")
    if error:
        for group in groups:
            results[group].findings.append(rule(RuleId.IMPORTABLE).finding(
                scan_.index.prefix or ".", f"import check incomplete: {error}", "see the message",
                phase=scan_.spec.phase_of(RuleId.IMPORTABLE)))
    checked = {_group_of_file(groups, rel) for rel in getattr(report, "checked", [])}
    for group, result in results.items():
        if group not in checked and not result.findings and result.skipped is None:
            where = {"root": "in the backend root", "other": "outside the plan's top-level packages"}.get(
                group, f"in {scan_.repo_path(group)}/")
            result.skipped = Skipped(f"no production module {where}: nothing to import")
    return results  # type: ignore[return-value]


def _group_of_file(groups: list[str], rel: str) -> str:
    top = rel.split("/")[0] if "/" in rel else "root"
    return top if top in groups else "other"


def _environment_note(scan_: ImportScan) -> str:
    origins = scan_.name_origins()
    missing = list(origins.uninstalled_requirements)
    names = ", ".join(missing[:8]) + (", ..." if len(missing) > 8 else "")
    requirements = shell_quote(scan_.index.rel(scan_.spec.imports.requirements))
    python = getattr(origins, "python", None) or "the backend's python"
    return (f"the backend interpreter lacks {len(missing)} declared requirement(s) of {requirements} ({names}): "
            f"run {shell_quote(python)} -m pip install -r {requirements}")


@dataclass
class _RootCause:
    """Import failures raised at one place by one exception."""

    path: str  # backend-relative file where it is raised (the failing module itself if unknown)
    line: int | None
    error: str
    failures: list[Any] = field(default_factory=list)
    claimed_by: str | None = None
    environment: bool = False
    missing: str | None = None  # a missing top-level name, when the cause is ModuleNotFoundError

    def finding(self, scan_: ImportScan) -> Finding:
        modules = sorted(f.module for f in self.failures)
        shown = ", ".join(modules[:8]) + (f" and {len(modules) - 8} more" if len(modules) > 8 else "")
        breaks = f"; the import of {shown} fails because of it" if modules != [module_name(self.path)] else ""
        importable, phase = rule(RuleId.IMPORTABLE), scan_.spec.phase_of(RuleId.IMPORTABLE)
        path = scan_.repo_path(self.path)
        kind = getattr(self.failures[0], "kind", None) if self.failures else None
        error = self.error
        if kind == "namespace" and "/ down" in error:  # the chain's top as a repository path, like every path
            top = error.split("from ", 1)[1].split("/ down", 1)[0]
            error = error.replace(f"from {top}/ down", f"from {scan_.repo_path(top)}/ down", 1)
        if self.claimed_by and kind == "namespace":
            return importable.finding(path, f"{error}; {self.claimed_by} reports the missing __init__.py files",
                                      f"see {self.claimed_by}", line=self.line, severity="warning", phase=phase)
        if self.claimed_by:
            return importable.finding(path, f"is reported by {self.claimed_by}{breaks}", f"see {self.claimed_by}",
                                      line=self.line, severity="warning", phase=phase)
        if kind == "timeout":
            return importable.finding(
                path, self.error,
                f"run `timeout 60 python -X importtime -c 'import {module_name(self.path)}'` from the "
                "backend root to see where it stops; move network calls, sleeps and prompts out of "
                "module level into functions the app calls at startup", phase=phase)
        if kind == "namespace":
            top = self.error.split("from ", 1)[1].split("/ down", 1)[0] if "/ down" in self.error else \
                posixpath.dirname(self.path)
            where = shell_quote(scan_.index.rel(top))
            return importable.finding(
                path, error,
                f"find {where} -type d -exec touch {{}}/__init__.py \\;  (an __init__.py in every "
                "directory below makes them regular packages), or flatten the tree", phase=phase)
        refused = getattr(self.failures[0], "refused", None) if self.failures else None
        if refused is not None:
            return self._refused_finding(scan_, refused, modules, breaks)
        origin = scan_.name_origins().origin(self.missing) if self.missing else None
        if origin is not None and origin.is_backend:
            reason = (f"raises while being imported: {self.error}; `{self.missing}` is {origin.value}, "
                      "not a third-party package")
            fix = "import it from where it lives now in the backend (test_imports_resolve shows where)"
        elif self.missing:
            reason = (f"cannot be imported: it needs `{self.missing}`, which is neither installed in the backend "
                      f"interpreter nor declared in {scan_.spec.imports.requirements} ({self.error})")
            fix = (f"declare the distribution that provides `{self.missing}` in "
                   f"{shell_quote(scan_.index.rel(scan_.spec.imports.requirements))} and install it")
        else:
            reason = f"raises while being imported: {self.error}"
            fix = f"python -c 'import {module_name(self.path) or modules[0]}' from the backend root shows the full traceback"
        return importable.finding(path, f"{reason}{breaks}", fix, line=self.line, phase=phase)


    def _refused_finding(self, scan_: ImportScan, refused: tuple[str, str, str], modules: list[str],
                         breaks: str) -> Finding:
        """A module that connects at import, refused by the guard: the line that connected, what it
        tried and how to fix it, as the startup checks word it."""
        target, via, kind = refused
        record = GuardRecord(target, via, scan_.repo_path(self.path), self.line or 0, "refused", kind)
        during = f"import of {module_name(self.path) or modules[0]}"
        fix = (f"connect when the app starts (in a function it calls), not at import; {refusal_fix(record)}"
               if kind != "database" else refusal_fix(record))
        return rule(RuleId.IMPORTABLE).finding(record.path, refused_message(record, "", during) + breaks, fix,
                                               line=self.line, phase=scan_.spec.phase_of(RuleId.IMPORTABLE))


EXCEPTION_KIND = re.compile(r"\b([A-Z]\w*(?:Error|Exception|Exit|Interrupt))\b")


def _root_causes(scan_: ImportScan, failures: dict[str, Any], claims: dict[str, str]) -> list[_RootCause]:
    unfollowed = {name for name in map(module_name, scan_.unfollowed) if name}
    origins = scan_.name_origins()
    prefixes = set(scan_.spec.imports.forbidden_prefixes)
    causes: dict[tuple[str, str], _RootCause] = {}
    for rel, failure in sorted(failures.items()):
        if any(f"No module named '{name}'" in failure.error for name in unfollowed):
            continue  # a symlink out of the backend, not followed (named in the report header)
        origin = failure.origin or rel
        path, _, line = origin.partition(":")
        kinds = EXCEPTION_KIND.findall(failure.error)
        key = (origin, kinds[-1] if kinds else failure.error)
        cause = causes.get(key)
        if cause is None:
            missing = failure.missing_dependency
            claimed = claims.get(origin) or claims.get(path) or claims.get(rel)
            if claimed is None and getattr(failure, "kind", None) == "namespace":
                parent = posixpath.dirname(rel)
                while parent and claimed is None:  # a directory test_init_files reports
                    claimed, parent = claims.get(parent + "/"), posixpath.dirname(parent)
            if claimed is None and missing in prefixes:
                claimed = "test_no_backend_prefix"
            cause = causes[key] = _RootCause(
                path, int(line) if line.isdigit() else None, failure.error, claimed_by=claimed, missing=missing,
                environment=bool(missing) and claimed is None and origins.origin(missing) is Origin.DECLARED)
        cause.failures.append(failure)
    return list(causes.values())
