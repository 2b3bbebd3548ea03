"""package-lock.json against package.json: npm ci refuses a lock that is missing, untracked or
out of sync, so a fresh deploy could not install the workers (rule `workers_packages`)."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from shlex import quote
from typing import Any

from conformance.model.rules import RuleId
from conformance.model.findings import Finding
from conformance.repo.index import RepoIndex
from conformance.model.spec import Spec
from conformance.checks.workers.common import read_json, worker_finding

DEP_SECTIONS = ("dependencies", "devDependencies", "optionalDependencies")
OTHER_LOCKS = ("yarn.lock", "pnpm-lock.yaml", "bun.lockb", "bun.lock")


def check_lock(index: RepoIndex, spec: Spec, workers: str, manifest: str, data: dict[str, Any],
                declared: dict[str, dict[str, Any]]) -> list[Finding]:
    """The lock covering `manifest` exists, is tracked and agrees with it (yarn/pnpm locks: not judged)."""
    rule = RuleId.WORKERS_PACKAGES
    pkg_dir = posixpath.dirname(manifest)
    lock_path, other = _find_lock(index, workers, pkg_dir)
    names = sorted({name for section in declared.values() for name in section})
    shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
    install = f"cd {quote(pkg_dir or '.')} && npm install && git add package-lock.json"
    if other is not None:
        return []  # yarn / pnpm: their lock formats are out of scope; the install check still runs
    if lock_path is None and not declared:
        return []  # nothing to install, nothing to lock
    if lock_path is None:
        return [worker_finding(spec, rule, manifest, f"declares dependencies ({shown}) but has no package-lock.json, "
                               "so npm ci cannot install them reproducibly", install)]
    if lock_path not in index.files:
        return [worker_finding(spec, rule, lock_path, "exists on disk but is not tracked by git (a fresh clone "
                               "cannot run npm ci)", f"git add -- {quote(lock_path)}")]
    lock, _text, error = read_json(index, lock_path)
    if error is not None or not isinstance(lock, dict):
        return [worker_finding(spec, rule, lock_path, error or "is not a JSON object", install)]
    problems = lock_problems(data, declared, lock, posixpath.relpath(pkg_dir or ".", posixpath.dirname(lock_path)
                                                                     or "."))
    if not problems:
        return []
    listed = "\n".join(f"  - {p}" for p in problems)
    return [worker_finding(spec, rule, lock_path, f"is out of sync with {manifest} (npm ci will refuse it):\n{listed}",
                           install)]


def lock_problems(package: Mapping[str, Any], declared: Mapping[str, Mapping[str, Any]], lock: Mapping[str, Any],
                  entry_key: str = ".") -> list[str]:
    """How package-lock.json disagrees with package.json: root name/version and declared dependencies."""
    key = "" if entry_key in (".", "") else entry_key
    problems: list[str] = []
    packages = lock.get("packages")
    if isinstance(packages, dict):
        root = packages.get(key)
        if not isinstance(root, dict):
            return [f'the lock has no "packages" entry "{key}" for this package']
        for field in ("name", "version"):
            if key == "" and package.get(field) is not None and root.get(field) != package.get(field):
                problems.append(f"{field}: {package.get(field)!r} in package.json, {root.get(field)!r} in the lock")
        for section in DEP_SECTIONS:
            want = dict(declared.get(section, {}))
            locked_section = root.get(section)
            have: dict[str, Any] = locked_section if isinstance(locked_section, dict) else {}
            for name in sorted(set(want) | set(have)):
                if name not in have:
                    problems.append(f"{section}: {name} {want[name]} is not in the lock")
                elif name not in want:
                    problems.append(f"{section}: {name} {have[name]} is in the lock but no longer in package.json")
                elif want[name] != have[name]:
                    problems.append(f"{section}: {name} is {want[name]} in package.json, {have[name]} in the lock")
            for name in sorted(want):
                installed = [f"{key}/node_modules/{name}" if key else f"node_modules/{name}", f"node_modules/{name}"]
                if name in have and not any(p in packages for p in installed):
                    problems.append(f"{section}: the lock does not resolve {name} (no node_modules/{name} entry)")
    else:
        for field in ("name", "version"):
            if package.get(field) is not None and lock.get(field) != package.get(field):
                problems.append(f"{field}: {package.get(field)!r} in package.json, {lock.get(field)!r} in the lock")
        dependencies = lock.get("dependencies")
        locked: dict[str, Any] = dependencies if isinstance(dependencies, dict) else {}
        for section in DEP_SECTIONS:
            for name, version in sorted(declared.get(section, {}).items()):
                if name not in locked:
                    problems.append(f"{section}: {name} {version} is not in the lock")
    return problems


def _find_lock(index: RepoIndex, workers: str, pkg_dir: str) -> tuple[str | None, str | None]:
    """(npm lock path, other lock path) for the package: beside it or in an enclosing workspace root."""
    current = pkg_dir
    while True:
        # A lock above the package only covers it when that dir's package.json has workspaces.
        if current == pkg_dir or _declares_workspaces(index, current):
            found = _lock_in(index, current)
            if found != (None, None):
                return found
        inside = workers == "" or current.startswith(workers + "/")
        if current == workers or not inside:
            return None, None
        current = posixpath.dirname(current)


def _declares_workspaces(index: RepoIndex, directory: str) -> bool:
    data, _text, error = read_json(index, posixpath.join(directory, "package.json") if directory else "package.json")
    return error is None and isinstance(data, dict) and bool(data.get("workspaces"))


def _lock_in(index: RepoIndex, current: str) -> tuple[str | None, str | None]:
    for name in ("package-lock.json", "npm-shrinkwrap.json"):
        candidate = posixpath.join(current, name) if current else name
        if candidate in index.files or (index.root / candidate).is_file():
            return candidate, None
    for name in OTHER_LOCKS:
        candidate = posixpath.join(current, name) if current else name
        if candidate in index.files:
            return None, candidate
    return None, None
