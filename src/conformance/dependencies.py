"""Third-party imports against the backend's requirements, checked with deptry.

deptry does the scanning and the comparison; we give it the import-name mapping of the
backend's own interpreter (python-docx provides `docx`, PyJWT provides `jwt`) and turn its
JSON into findings, one test per deptry rule.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from conformance.findings import Finding
from conformance.interpreter import InterpreterInfo
from conformance.processes import ProcessTimeout, run
from conformance.repo import RepoIndex
from conformance.spec import Spec

PLAN = "Success criteria: All imports work correctly (third-party imports declared)"

# deptry code -> (test id, severity, what to do)
RULES: dict[str, tuple[str, str, str]] = {
    "DEP001": ("missing", "error", "add the distribution that provides it to {requirements}"),
    "DEP002": ("unused", "warning", "remove it from {requirements} if nothing needs it at run time"),
    "DEP003": ("transitive", "error", "declare it in {requirements}: it is only installed as a dependency of "
                                      "another package"),
    "DEP004": ("dev-in-production", "error", "move it from the dev requirements to {requirements}"),
    "DEP005": ("stdlib-declared", "warning", "remove it from {requirements}: it is part of the standard library"),
}
IDS = [test_id for test_id, _, _ in RULES.values()]
DEFAULT_EXCLUDES = ("venv", r"\.venv", r"\.direnv", r"\.git", "node_modules", "build", "dist")


@dataclass
class DependencyReport:
    findings: dict[str, list[Finding]] = field(default_factory=dict)  # test id -> findings
    skipped: str | None = None
    note: str | None = None


def _glob_to_regex(pattern: str) -> str:
    """Spec dir patterns (gitignore-style, e.g. `**/tests/`) as the regexes deptry takes."""
    regex = re.escape(pattern.rstrip("/")).replace(r"\*\*/", "(.*/)?").replace(r"\*", "[^/]*")
    return regex + ("(/|$)" if pattern.endswith("/") else "$")


def requirement_names(path: Path) -> list[str]:
    names = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
        if match:
            names.append(match.group(0))
    return names


def _no_requirements(spec: Spec, index: RepoIndex | None) -> str:
    name = spec.imports.requirements
    if index is not None:
        path = index.rel(name)
        target = index.link_out(path)
        if target is not None:
            return f"{name} is a symlink to {target}, outside the backend, which the suite does not follow"
        if path in index.files:
            try:
                (index.root / path).read_bytes()
            except OSError as exc:
                return f"{name} cannot be read ({exc.strerror})"
        elif (index.root / path).is_file():
            return f"{name} is not tracked by git (a fresh clone does not have it): git add {name}"
    return f"no {name} in the backend: nothing to compare with"


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def module_map(info: InterpreterInfo, declared: list[str]) -> dict[str, list[str]]:
    """Distribution -> import names, for the declared distributions, from the backend interpreter."""
    wanted = {_normalize(d): d for d in declared}
    result: dict[str, list[str]] = {}
    for module, dists in info.distributions.items():
        for dist in dists:
            if _normalize(dist) in wanted:
                result.setdefault(wanted[_normalize(dist)], []).append(module)
    return result


def check_dependencies(backend: Path, spec: Spec, info: InterpreterInfo, first_party: set[str],
                       repo_path: callable = str,  # type: ignore[valid-type]
                       index: RepoIndex | None = None) -> DependencyReport:
    """deptry over `backend`: the sandbox copy of the indexed files (what a fresh clone has,
    never a symlink out of the backend), so deptry sees the files every other check sees.
    `index` (the real repository) only explains a requirements file the copy does not have."""
    requirements = backend / spec.imports.requirements
    if not requirements.is_file():
        return DependencyReport(skipped=_no_requirements(spec, index))
    try:
        declared = requirement_names(requirements)
    except OSError as exc:
        return DependencyReport(skipped=f"{spec.imports.requirements} cannot be read ({exc.strerror})")
    mapping = module_map(info, declared)
    not_installed = [d for d in declared if d not in mapping]
    if not_installed:
        return DependencyReport(skipped=(
            f"{len(not_installed)} of {len(declared)} requirements are not installed in the backend interpreter "
            f"{info.python} ({', '.join(not_installed[:5])}{'...' if len(not_installed) > 5 else ''}): import names "
            "cannot be mapped to distributions; install them (pip install -r requirements.txt) or pass "
            "--backend-python"))
    with tempfile.TemporaryDirectory(prefix="conformance-deptry-") as tmp:
        output = Path(tmp) / "deptry.json"
        argv = [sys.executable, "-m", "deptry", str(backend), "--json-output", str(output), "--no-ansi",
                "--requirements-files", str(requirements)]
        first_party = {*first_party, *spec.imports.forbidden_prefixes}  # `backend.x` has its own check
        for name in sorted(first_party):
            argv += ["--known-first-party", name]
        if mapping:
            argv += ["--package-module-name-map",
                     ",".join(f"{dist}={'|'.join(sorted(mods))}" for dist, mods in sorted(mapping.items()))]
        if spec.imports.runtime_dependencies:
            argv += ["--per-rule-ignores", "DEP002=" + "|".join(spec.imports.runtime_dependencies)]
        for pattern in (*DEFAULT_EXCLUDES, *map(_glob_to_regex, spec.imports.dependency_exclude)):
            argv += ["--exclude", pattern]
        try:
            done = run(argv, cwd=tmp, timeout=120)
        except ProcessTimeout as exc:
            return DependencyReport(skipped=f"deptry did not finish: {exc}")
        if not output.exists():
            return DependencyReport(skipped=f"deptry failed: {done.error_text[-400:] or done.text[-400:]}")
        issues = json.loads(output.read_text())
    report = DependencyReport(findings={test_id: [] for test_id in IDS})
    for issue in issues:
        code = issue["error"]["code"]
        if code not in RULES:
            continue
        test_id, severity, fix = RULES[code]
        location = issue.get("location") or {}
        file = Path(location.get("file") or requirements)
        rel = file.relative_to(backend).as_posix() if file.is_absolute() and file.is_relative_to(backend) \
            else file.as_posix()
        report.findings[test_id].append(Finding(
            rule="dependencies", path=repo_path(rel), line=location.get("line"),
            message=f"{issue['error']['message']} [{code}]",
            fix=fix.format(requirements=repo_path(spec.imports.requirements)),
            subject=test_id, severity=severity, plan=PLAN, phase=spec.phase_of("dependencies")))  # type: ignore[arg-type]
    return report
