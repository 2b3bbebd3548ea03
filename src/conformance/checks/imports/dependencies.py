"""Third-party imports against the backend's requirements, checked with deptry.

deptry does the scanning and the comparison; we give it the import-name mapping of the
backend's own interpreter (python-docx provides `docx`, PyJWT provides `jwt`), the backend's dev
requirements file and turn its JSON into findings, one test per deptry rule.

Requirements that the backend interpreter does not have cannot be mapped to import names. The
check still runs: what such a distribution may provide is left out of `missing` and `unused`
(never a false finding), and one warning names them with the command that installs them.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shlex
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from conformance.checks.imports.scan import module_name
from conformance.model.findings import CheckResult, Finding, Skipped
from conformance.model.rules import RuleId, rule
from conformance.analysis.distributions import (
    INCLUDE, declared_names, might_provide, normalize_distribution)
from conformance.runtime.interpreter import InterpreterInfo
from conformance.proc.processes import ProcessTimeout, run
from conformance.repo.index import RepoIndex
from conformance.model.spec import Spec

# deptry code -> (test id, severity, what to do)
RULES: dict[str, tuple[str, str, str]] = {
    "DEP001": ("missing", "error", "add the distribution that provides it to {requirements}"),
    "DEP002": ("unused", "warning", "remove it from {requirements} if nothing needs it at run time"),
    "DEP003": ("transitive", "error", "declare it in {requirements}: it is only installed as a dependency of "
                                      "another package"),
    "DEP004": ("dev-in-production", "error", "move it from the dev requirements to {requirements} if production code needs "
                                             "it; otherwise import it only from tests or scripts"),
    "DEP005": ("stdlib-declared", "warning", "remove it from {requirements}: it is part of the standard library"),
}
IDS = [test_id for test_id, _, _ in RULES.values()]
DEFAULT_EXCLUDES = ("venv", r"\.venv", r"\.direnv", r"\.git", "node_modules", "build", "dist")
# Where backends keep their dev-only requirements, looked for when the spec names none.
DEV_REQUIREMENTS = ("requirements-dev.txt", "dev-requirements.txt", "requirements_dev.txt", "requirements-test.txt",
                    "test-requirements.txt", "requirements_test.txt", "requirements/dev.txt",
                    "requirements/test.txt", "requirements/development.txt")


@dataclass
class DependencyReport:
    findings: dict[str, list[Finding]] = field(default_factory=dict)  # test id -> findings
    skipped: str | None = None  # the whole check cannot run (no requirements file, deptry failed)
    skipped_rules: dict[str, str] = field(default_factory=dict)  # test id -> why that item examines nothing
    environment: Finding | None = None  # warning: declared requirements the backend interpreter lacks
    note: str | None = None
    imports: dict[Finding, tuple[str, str]] = field(default_factory=dict)  # finding -> (importer, imported)

    def result(self, test_id: str, claimed: Callable[[str, str], str | None] | None = None) -> CheckResult:
        """What one test item reports; the environment warning goes with `missing`, once. `claimed`
        names the check that already reports an import (a forbidden contract): left out here."""
        if self.skipped:
            return CheckResult(skipped=Skipped(self.skipped))
        findings = [f for f in self.findings.get(test_id, [])
                    if claimed is None or f not in self.imports or not claimed(*self.imports[f])]
        if test_id == "missing" and self.environment is not None:
            findings.append(self.environment)
        reason = self.skipped_rules.get(test_id)
        return CheckResult(findings, Skipped(reason) if reason else None)


def _glob_to_regex(pattern: str) -> str:
    """Spec dir patterns (gitignore-style, e.g. `**/tests/`) as the regexes deptry takes."""
    regex = re.escape(pattern.rstrip("/")).replace(r"\*\*/", "(.*/)?").replace(r"\*", "[^/]*")
    return regex + ("(/|$)" if pattern.endswith("/") else "$")


def _no_requirements(spec: Spec, index: RepoIndex | None) -> str:
    return _absent(spec.imports.requirements, index) or \
        f"no {spec.imports.requirements} in the backend: nothing to compare with"


def _absent(name: str, index: RepoIndex | None) -> str | None:
    """Why a backend file the sandbox copy lacks is not there, when the real repository tells."""
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
    return None


def module_map(info: InterpreterInfo, declared: list[str]) -> dict[str, list[str]]:
    """Distribution -> import names, for the declared distributions, from the backend interpreter."""
    wanted = {normalize_distribution(d): d for d in declared}
    result: dict[str, list[str]] = {}
    for module, dists in info.distributions.items():
        for dist in dists:
            if normalize_distribution(dist) in wanted:
                result.setdefault(wanted[normalize_distribution(dist)], []).append(module)
    return result


def dev_requirement_files(backend: Path, spec: Spec) -> tuple[list[str], list[str]]:
    """(dev requirements files present in `backend`, files the spec names that are not there).
    Without `imports.dev_requirements` the usual names are looked for."""
    named = spec.imports.dev_requirements
    candidates = DEV_REQUIREMENTS if named is None else named
    present = [rel for rel in candidates if rel != spec.imports.requirements and (backend / rel).is_file()]
    absent = [] if named is None else [rel for rel in named if rel not in present]
    return present, absent


def _anchored(backend: Path, pattern: str) -> str:
    """deptry matches --exclude against the path as it walks it, which starts with the root we pass."""
    return f"{re.escape(backend.as_posix())}/(?:{pattern})"


def scanned_python_files(backend: Path, excludes: list[str]) -> list[str]:
    """The .py files deptry scans (the same anchored excludes on dirs and files), backend-relative."""
    compiled = [re.compile(pattern) for pattern in excludes]
    found: list[str] = []
    for folder, dirs, files in os.walk(backend):
        base = Path(folder)
        dirs[:] = [d for d in dirs if not any(c.match((base / d).as_posix()) for c in compiled)]
        for name in files:
            path = (base / name).as_posix()
            if name.endswith(".py") and not any(c.match(path) for c in compiled):
                found.append(Path(path).relative_to(backend).as_posix())
    return sorted(found)


def _environment(info: InterpreterInfo, missing: dict[str, list[str]], totals: dict[str, int], spec: Spec,
                 repo_path: callable) -> Finding:  # type: ignore[valid-type]
    """One warning for every declared requirement the backend interpreter lacks, with the install command."""
    def listed(rel: str) -> str:
        names = missing[rel]
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        return f"{len(names)} of {totals[rel]} {'requirement' if totals[rel] == 1 else 'requirements'} ({shown})"

    first, *others = missing
    also = "".join(f", and {repo_path(rel)} lists {listed(rel)}" for rel in others)
    command = " ".join([shlex.quote(info.python), "-m", "pip", "install",
                        *(f"-r {shlex.quote(repo_path(rel))}" for rel in missing)])
    return rule(RuleId.DEPENDENCIES).finding(
        path=repo_path(first), subject="missing", severity="warning", phase=spec.phase_of(RuleId.DEPENDENCIES),
        message=f"lists {listed(first)} that the backend interpreter {info.python} does not have installed{also}; "
                "without their metadata their import names are unknown, so imports they may provide are not "
                "reported as missing, nor they as unused",
        fix=f"{command}   # or run with --backend-python=<the backend's own python>")


def check_dependencies(backend: Path, spec: Spec, info: InterpreterInfo, first_party: set[str],
                       repo_path: callable = str,  # type: ignore[valid-type]
                       index: RepoIndex | None = None) -> DependencyReport:
    """deptry over `backend`: the sandbox copy of the indexed files (what a fresh clone has,
    never a symlink out of the backend), so deptry sees the files every other check sees.
    `index` (the real repository) only explains a requirements file the copy does not have.
    `first_party`: top-level import names that are not third party (passed to deptry as is)."""
    requirements = backend / spec.imports.requirements
    if not requirements.is_file():
        return DependencyReport(skipped=_no_requirements(spec, index))
    dev_files, dev_absent = dev_requirement_files(backend, spec)
    try:
        declared = declared_names(requirements)
        dev_declared = {rel: [n for n in declared_names(backend / rel) if n not in declared] for rel in dev_files}
    except OSError as exc:
        return DependencyReport(skipped=f"{Path(exc.filename or requirements).name} cannot be read ({exc.strerror})")
    all_declared = [*declared, *(name for names in dev_declared.values() for name in names)]
    mapping = module_map(info, all_declared)
    by_file = {rel: list(dict.fromkeys(names)) for rel, names in {spec.imports.requirements: declared,
                                                                    **dev_declared}.items()}
    not_installed = {rel: [d for d in names if d not in mapping] for rel, names in by_file.items()}
    not_installed = {rel: names for rel, names in not_installed.items() if names}
    unmapped = {normalize_distribution(d) for names in not_installed.values() for d in names}

    excludes = [_anchored(backend, p) for p in (*DEFAULT_EXCLUDES, *map(_glob_to_regex, spec.imports.dependency_exclude))]
    report = DependencyReport(findings={test_id: [] for test_id in IDS})
    if not_installed:
        report.environment = _environment(info, not_installed, {rel: len(names) for rel, names in by_file.items()},
                                          spec, repo_path)
    report.findings["dev-in-production"] = [_dev_file_absent(spec, rel, index, repo_path) for rel in dev_absent]
    _explain_empty(report, spec, backend, excludes, declared, dev_files)
    issues = _run_deptry(backend, spec, dev_files, first_party, mapping, excludes)
    if isinstance(issues, str):
        return DependencyReport(skipped=issues)
    issues, broken = issues
    report.findings["missing"] += [_broken_include(spec, rel, line, target, repo_path)
                                   for rel, line, target in broken]
    import pathspec

    non_production = pathspec.GitIgnoreSpec.from_lines(list(spec.non_production))
    unattributed = [issue["module"] for issue in issues if issue["error"]["code"] in ("DEP001", "DEP003")]
    for issue in issues:
        code = issue["error"]["code"]
        if code not in RULES:
            continue
        test_id, severity, fix = RULES[code]
        location = issue.get("location") or {}
        file = Path(location.get("file") or requirements)
        rel = location.get("rel") or (file.relative_to(backend).as_posix()
                                      if file.is_absolute() and file.is_relative_to(backend) else file.as_posix())
        module = issue.get("module") or ""
        if code in ("DEP001", "DEP003"):
            code, message = _as_in_backend_environment(code, module, info, issue["error"]["message"])
            test_id, severity, fix = RULES[code]
        else:
            message = issue["error"]["message"]
        if code == "DEP001" and any(might_provide(dist, module) for dist in unmapped):
            continue  # an uninstalled declared distribution may provide it
        if code == "DEP002" and normalize_distribution(module) in unmapped and \
                any(might_provide(module, name) for name in unattributed):
            continue  # its import names are unknown and an unattributed import may be one of them
        if code == "DEP004" and non_production.match_file(rel):
            continue  # scripts, migrations, tests may use dev-only requirements
        finding = rule(RuleId.DEPENDENCIES).finding(
            path=repo_path(rel), line=location.get("line"),
            message=f"{message} [{code}]",
            fix=fix.format(requirements=repo_path(spec.imports.requirements)),
            subject=test_id, severity=severity, phase=spec.phase_of(RuleId.DEPENDENCIES))  # type: ignore[arg-type]
        report.findings[test_id].append(finding)
        importer = module_name(rel) if code in ("DEP001", "DEP003", "DEP004") and rel.endswith(".py") else None
        if importer:
            report.imports[finding] = (importer, module)
    return report


def _as_in_backend_environment(code: str, module: str, info: InterpreterInfo, message: str) -> tuple[str, str]:
    """deptry runs under the suite's interpreter, so it tells "missing" (DEP001) from "installed
    as another package's dependency" (DEP003) by the suite's packages. An undeclared import is
    judged by the backend interpreter's instead: what production installs decides."""
    judged = "DEP003" if info.distributions.get(module) else "DEP001"
    if judged == code:
        return code, message
    if judged == "DEP003":
        return judged, f"'{module}' imported but it is a transitive dependency"
    return judged, f"'{module}' imported but missing from the dependency definitions"


def _dev_file_absent(spec: Spec, rel: str, index: RepoIndex | None,
                     repo_path: callable) -> Finding:  # type: ignore[valid-type]
    why = _absent(rel, index)
    return rule(RuleId.DEPENDENCIES).finding(
        path=repo_path(rel), subject="dev-in-production", phase=spec.phase_of(RuleId.DEPENDENCIES),
        message=f"is named by imports.dev_requirements in {spec.source.name} but "
                f"{why.removeprefix(rel + ' ') if why else 'is not in the backend'}",
        fix=f"create {repo_path(rel)} with the dev-only requirements, or correct imports.dev_requirements in "
            f"{spec.source}")


def _explain_empty(report: DependencyReport, spec: Spec, backend: Path, excludes: list[str], declared: list[str],
                   dev_files: list[str]) -> None:
    """Skip the items that could examine nothing, with the reason, instead of letting them pass."""
    if not scanned_python_files(backend, excludes):
        any_python = any(path.suffix == ".py" for path in backend.rglob("*.py"))
        why = (f"every Python file of the backend is excluded (imports.dependency_exclude: "
               f"{', '.join(spec.imports.dependency_exclude)})" if any_python else "no Python file in the backend")
        for test_id in ("missing", "unused", "transitive", "dev-in-production"):
            report.skipped_rules[test_id] = f"{why}: no import to compare with {spec.imports.requirements}"
    if not declared:
        for test_id in ("unused", "stdlib-declared"):
            report.skipped_rules.setdefault(test_id, f"{spec.imports.requirements} declares no requirement")
    if not dev_files and "dev-in-production" not in report.skipped_rules and not report.findings["dev-in-production"]:
        where = (f"no dev requirements file in the backend (looked for {', '.join(DEV_REQUIREMENTS)}; name yours "
                 "with imports.dev_requirements)" if spec.imports.dev_requirements is None
                 else "imports.dev_requirements names no dev requirements file")
        report.skipped_rules["dev-in-production"] = f"{where}: nothing tells dev-only requirements apart"


def _broken_include(spec: Spec, rel: str, line: int, target: str,
                    repo_path: callable) -> Finding:  # type: ignore[valid-type]
    folder = posixpath.dirname(rel)
    return rule(RuleId.DEPENDENCIES).finding(
        path=repo_path(rel), line=line, subject="missing", phase=spec.phase_of(RuleId.DEPENDENCIES),
        message=f"includes `{target}`, which does not exist ({posixpath.join(folder, target)} in the backend): "
                f"pip install -r {repo_path(rel)} fails",
        fix=f"correct the path (relative to {repo_path(folder) + '/' if folder else 'the backend root'}) or remove "
            "the line")


def _deptry_copy(backend: Path, rel: str, tmp: Path) -> tuple[Path, list[tuple[int, str]]]:
    """A copy of a requirements file for deptry: includes (`-r other.txt`) made absolute, the ones
    that do not exist left out (deptry would crash on them); returns the copy and those (line, target)."""
    source = backend / rel
    lines, broken = [], []
    for number, line in enumerate(source.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        match = INCLUDE.match(line.split(" #", 1)[0])
        if match:
            target = source.parent / match.group(1)
            if not target.is_file():
                broken.append((number, match.group(1)))
                line = ""
            else:
                line = f"-r {target}"
        lines.append(line)
    copy = tmp / "requirements" / str(len(list(tmp.glob("requirements/*")))) / source.name
    copy.parent.mkdir(parents=True)
    copy.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return copy, broken


def _run_deptry(backend: Path, spec: Spec, dev_files: list[str], first_party: set[str],
                mapping: dict[str, list[str]], excludes: list[str]
                ) -> tuple[list[dict], list[tuple[str, int, str]]] | str:
    """deptry's issues as JSON (file locations in the copies given back as `rel`) and the broken
    includes, or why deptry did not produce them. It runs in a temp dir so that no pyproject.toml
    or requirements file around it is read instead of the backend's."""
    with tempfile.TemporaryDirectory(prefix="conformance-deptry-") as tmp:
        output = Path(tmp) / "deptry.json"
        copies: dict[str, str] = {}
        broken: list[tuple[str, int, str]] = []
        for rel in (spec.imports.requirements, *dev_files):
            copy, problems = _deptry_copy(backend, rel, Path(tmp))
            copies[str(copy)] = rel
            broken += [(rel, line, target) for line, target in problems]
        main, *dev = copies
        argv = [sys.executable, "-m", "deptry", str(backend), "--json-output", str(output), "--no-ansi",
                "--requirements-files", main, "--requirements-files-dev", ",".join(dev) or str(Path(tmp) / "none")]
        first_party = {*first_party, *spec.imports.forbidden_prefixes}  # `backend.x` has its own check
        for name in sorted(first_party):
            argv += ["--known-first-party", name]
        if mapping:
            argv += ["--package-module-name-map",
                     ",".join(f"{dist}={'|'.join(sorted(mods))}" for dist, mods in sorted(mapping.items()))]
        if spec.imports.runtime_dependencies:
            argv += ["--per-rule-ignores", "DEP002=" + "|".join(spec.imports.runtime_dependencies)]
        for pattern in excludes:
            argv += ["--exclude", pattern]
        try:
            done = run(argv, cwd=tmp, timeout=120)
        except ProcessTimeout as exc:
            return f"deptry did not finish: {exc}"
        if not output.exists():
            return f"deptry failed: {done.error_text[-400:] or done.text[-400:]}"
        issues = json.loads(output.read_text())
    for issue in issues:
        location = issue.get("location") or {}
        if location.get("file") in copies:
            location["rel"] = copies[location["file"]]
    return issues, broken
