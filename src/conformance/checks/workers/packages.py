"""Every package.json under the workers dir: valid, its scripts and main name files a fresh
clone has, its dependencies locked (lockfile.py) and installed (rule `workers_packages`)."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from pathlib import Path
from shlex import quote
from typing import Any

from conformance.model.rules import RuleId
from conformance.model.findings import CheckResult, Finding, Skipped
from conformance.checks.workers.lockfile import DEP_SECTIONS, check_lock
from conformance.repo.index import RepoIndex
from conformance.analysis.shell_paths import Ref, ShellScan, join_path, shell_references
from conformance.model.spec import Spec
from conformance.analysis.trackedtree import Missing, TrackedTree, missing_references
from conformance.checks.workers.common import in_node_modules, line_of, read_json, worker_finding, workers_dir


def check_packages(index: RepoIndex, spec: Spec) -> CheckResult:
    """Every tracked package.json under the workers dir: scripts, lock file, installed modules."""
    workers = workers_dir(index, spec)
    manifests = [p for p in index.under(workers)
                 if posixpath.basename(p) == "package.json" and not in_node_modules(p)]
    if not manifests:  # nothing examined is not a pass
        return CheckResult(skipped=Skipped(f"no package.json under {workers}/: nothing to check (the plan moves "
                                           "package.json to workers/: see test_move[package.json])"))
    findings: list[Finding] = []
    for manifest in manifests:
        findings.extend(_check_package(index, spec, workers, manifest))
    return CheckResult(findings)


def _check_package(index: RepoIndex, spec: Spec, workers: str, manifest: str) -> list[Finding]:
    """One manifest: readable JSON object, scripts, dependency sections, lock, installed modules."""
    rule = RuleId.WORKERS_PACKAGES
    pkg_dir = posixpath.dirname(manifest)
    data, text, error = read_json(index, manifest)
    if error is not None:
        return [worker_finding(spec, rule, manifest, error,
                               f"fix {manifest}, then: cd {quote(pkg_dir)} && npm install")]
    if not isinstance(data, dict):
        return [worker_finding(spec, rule, manifest, "is not a JSON object", f"fix {manifest}")]
    findings = _check_scripts(index, spec, workers, manifest, data, text)
    sections = {name: data.get(name) for name in DEP_SECTIONS}
    bad = [name for name, value in sections.items() if value is not None and not isinstance(value, dict)]
    for name in bad:
        findings.append(worker_finding(spec, rule, manifest, f'has a "{name}" that is not an object',
                                       f"fix {manifest}", line=line_of(text, f'"{name}"')))
    declared = {name: value for name, value in sections.items() if isinstance(value, dict) and value}
    findings.extend(check_lock(index, spec, workers, manifest, data, declared))
    findings.extend(_check_installed(index, spec, manifest, declared.get("dependencies", {})))
    return findings


def _check_scripts(index: RepoIndex, spec: Spec, workers: str, manifest: str, data: dict[str, Any],
                   text: str) -> list[Finding]:
    """The files a package's `scripts` and `main` name exist in a fresh clone. Scripts are read by
    the start script's shell-reference scanner (cd, skipped tools, options with paths)."""
    pkg_dir = posixpath.dirname(manifest)
    scripts = data.get("scripts") or {}
    if not isinstance(scripts, dict):
        return [worker_finding(spec, RuleId.WORKERS_PACKAGES, manifest, '"scripts" is not an object',
                               f"fix {manifest}")]
    named: list[tuple[str, int | None, ShellScan]] = []  # (what names the paths, its line, the paths)
    for name, command in scripts.items():
        if isinstance(command, str):
            line = line_of(text, f'"{name}"')
            named.append((f'script "{name}" ({command})', line, shell_references(command, cwd=pkg_dir,
                                                                                 first_line=line or 1)))
    main = data.get("main")
    if isinstance(main, str) and main:
        line = line_of(text, '"main"')
        named.append((f'"main" ({main})', line, ShellScan([Ref(line or 1, main, join_path(pkg_dir, main))])))
    tree = TrackedTree.for_spec(index, spec)
    return [_missing_file(index, spec, workers, manifest, what, line, missing)
            for what, line, scan in named for missing in missing_references(scan, tree)]


def _missing_file(index: RepoIndex, spec: Spec, workers: str, manifest: str, what: str, line: int | None,
                  missing: Missing) -> Finding:
    """A file a package names that a fresh clone lacks: untracked, or gone (with its new place when
    a worker file of that name exists)."""
    rule = RuleId.WORKERS_PACKAGES
    target, word = missing.tried, missing.ref.word
    if (index.root / target).exists():
        return worker_finding(spec, rule, manifest, f"{what} uses {target}, which is not tracked by git "
                              "(a fresh clone lacks it)", f"git add -- {quote(target)}", line=line)
    pkg_dir = posixpath.dirname(manifest)
    candidates = [p for p in index.under(workers)
                  if posixpath.basename(p) == posixpath.basename(word) and not in_node_modules(p)]
    if candidates:
        fix = f"edit {manifest}: {word} -> {posixpath.relpath(candidates[0], pkg_dir or '.')}"
    else:
        fix = f"edit {manifest}: point {what.split(' (')[0]} at an existing file"
    return worker_finding(spec, rule, manifest, f"{what} uses {target}, which does not exist", fix, line=line)


def _check_installed(index: RepoIndex, spec: Spec, manifest: str, runtime: Mapping[str, Any]) -> list[Finding]:
    """Runtime dependencies must be installed on disk (node resolves them up the directory tree)."""
    if not runtime:
        return []
    pkg_dir = posixpath.dirname(manifest)
    missing = [name for name in sorted(runtime) if not _installed(index.root, pkg_dir, name)]
    if not missing:
        return []
    where = pkg_dir or "."
    shown = ", ".join(missing[:6]) + (", ..." if len(missing) > 6 else "")
    return [worker_finding(spec, RuleId.WORKERS_PACKAGES, manifest,
                           f"declares dependencies that are not installed ({shown}): run npm ci in {where}",
                           f"cd {quote(where)} && npm ci")]


def _installed(root: Path, pkg_dir: str, name: str) -> bool:
    """node_modules/<name> in the package dir or any dir above it, up to the repository root."""
    current = root / pkg_dir if pkg_dir else root
    while True:
        if (current / "node_modules" / name / "package.json").is_file():
            return True
        if current == root or current.parent == current:
            return False
        current = current.parent
