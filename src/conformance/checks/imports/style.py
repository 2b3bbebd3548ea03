"""Import style the plan asks for, one check per test: test_no_backend_prefix (no `backend.`
prefix), test_relative_import_depth, test_no_sys_path_changes, test_init_files (__init__.py in
production package dirs) and test_no_shadowed_modules (no backend module named like a stdlib or
installed one).
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
from collections import defaultdict

from conformance.checks.imports.resolution import absolute_target, resolution_problem
from conformance.checks.imports.scan import ImportScan, file_of, is_production
from conformance.model.findings import Finding
from conformance.model.rules import RuleId, rule
from conformance.repo.index import shell_quote, shown_path


def check_backend_prefix(scan_: ImportScan) -> list[Finding]:
    prefixes = scan_.spec.imports.forbidden_prefixes
    findings = []
    for rel, source in sorted(scan_.sources.items()):
        for stmt in source.imports:
            first = stmt.module.split(".")[0] if stmt.level == 0 else ""
            if first in prefixes:
                message = (f"`{stmt.text}` imports through the `{first}.` prefix; the backend root is the "
                           "import root, so this only works when the parent directory is on sys.path")
                if "." not in stmt.module:
                    findings.append(rule(RuleId.BACKEND_PREFIX).finding(
                        scan_.repo_path(rel), message,
                        "import each module you need from the backend root (`from services import ...`)",
                        line=stmt.line, phase=scan_.spec.phase_of(RuleId.BACKEND_PREFIX)))
                    continue
                fixed = dataclasses.replace(stmt, module=stmt.module[len(first) + 1:],
                                            text=stmt.text.replace(f"{first}.", "", 1))
                problem = resolution_problem(scan_, rel, fixed)
                fix = fixed.text
                if problem is not None:  # the import is wrong beyond its prefix: say so, fix both
                    message += f"; without the prefix, `{fixed.text}` does not resolve either: {problem[0]}"
                    fix = problem[1]
                findings.append(rule(RuleId.BACKEND_PREFIX).finding(
                    scan_.repo_path(rel), message, fix, line=stmt.line,
                    phase=scan_.spec.phase_of(RuleId.BACKEND_PREFIX)))
    return findings


def check_relative_depth(scan_: ImportScan) -> list[Finding]:
    limit = scan_.spec.imports.max_relative_depth
    findings = []
    for rel, source in sorted(scan_.sources.items()):
        for stmt in source.imports:
            if stmt.level <= limit:
                continue
            target, _ = absolute_target(scan_, rel, stmt)
            fix = (f"from {target} import {', '.join(stmt.names)}" if target and stmt.names
                   else "use an absolute import from the backend root")
            findings.append(rule(RuleId.RELATIVE_DEPTH).finding(
                scan_.repo_path(rel), f"`{stmt.text}` goes {stmt.level} levels up; the plan allows at most {limit}",
                fix, line=stmt.line, phase=scan_.spec.phase_of(RuleId.RELATIVE_DEPTH)))
    return findings


def check_sys_path(scan_: ImportScan) -> list[Finding]:
    allowed = scan_.spec.imports.sys_path_allowed
    findings = []
    for rel, source in sorted(scan_.sources.items()):
        if not is_production(scan_.spec, rel, allowed) or rel.split("/")[0] in allowed:
            continue
        for line, text in source.sys_path_edits:
            findings.append(rule(RuleId.SYS_PATH).finding(
                scan_.repo_path(rel),
                f"`{text}` changes sys.path in production code: imports then depend on who "
                "imported this module first",
                "remove it and import absolutely from the backend root (run tools as "
                "`python -m scripts.admin.tool` from the backend root)",
                line=line, phase=scan_.spec.phase_of(RuleId.SYS_PATH)))
    return findings


def check_init_files(scan_: ImportScan) -> list[Finding]:
    """Directories holding Python files inside production packages without __init__.py.

    Top-level dirs of the spec are left to the structure check test_package_dir. A chain of
    nested directories that all lack one is one finding at its top (one cause, one fix), not one
    per level: a 120-level chain is one finding, not 120."""
    return [finding for finding, _ in init_file_findings(scan_)]


def init_file_findings(scan_: ImportScan) -> list[tuple[Finding, str]]:
    """check_init_files' findings with the backend-relative directory each one is about."""
    spec_packages = {d.path for d in scan_.spec.dirs if d.package}
    dirs: set[str] = set()
    for rel in scan_.sources:
        parent = posixpath.dirname(rel)
        while parent:
            dirs.add(parent)
            parent = posixpath.dirname(parent)
    findings: list[tuple[Finding, str]] = []
    git = scan_.index.is_git
    with_python = {posixpath.dirname(r) for r in scan_.sources if r.endswith(".py")}
    holding = set()  # directories with a .py file somewhere below them
    for directory in with_python:
        while directory and directory not in holding:
            holding.add(directory)
            directory = posixpath.dirname(directory)
    missing = [d for d in sorted(dirs) if d in holding and d not in spec_packages
               and is_production(scan_.spec, d + "/") and f"{d}/__init__.py" not in scan_.sources
               and not ("/" not in d and not _top_is_package(scan_, d))]  # unplanned top dir: test_root_dirs
    chained = set(missing)
    below: dict[str, list[str]] = defaultdict(list)  # top of a chain -> the directories under it
    for directory in missing:
        top = directory
        while posixpath.dirname(top) in chained and posixpath.basename(top).isidentifier() \
                and posixpath.basename(posixpath.dirname(top)).isidentifier():
            top = posixpath.dirname(top)
        if top != directory:
            below[top].append(directory)
    inner = {d for under in below.values() for d in under}
    for directory in missing:
        if directory in inner:
            continue
        init = shell_quote(scan_.index.rel(f"{directory}/__init__.py"))
        name = posixpath.basename(directory)
        if name.isidentifier() and below.get(directory):
            chain = [directory, *below[directory]]
            deepest = max(chain, key=lambda d: d.count("/"))
            message = (f"holds Python files but no __init__.py, inside a production package, and neither do "
                       f"the {len(chain) - 1} directories below it down to {scan_.index.rel(deepest)}/")
            where = shell_quote(scan_.index.rel(directory))
            if len(chain) <= 4:
                inits = " ".join(shell_quote(scan_.index.rel(f"{d}/__init__.py")) for d in chain)
                fix = f"touch {inits}" + (f" && git add {inits}" if git else "")
            else:
                fix = (f"find {where} -name __pycache__ -prune -o -type d -exec touch {{}}/__init__.py \\;"
                       + (f" && git add {where}" if git else ""))
        elif name.isidentifier():
            message = "holds Python files but no __init__.py, inside a production package"
            fix = f"touch {init}" + (f" && git add {init}" if git else "")
        else:  # an __init__.py would not help: no import statement can name this directory
            renamed = re.sub(r"\W+", "_", name).strip("_") or "package"
            renamed = renamed if renamed.isidentifier() else f"_{renamed}"
            message = (f"holds Python files inside a production package, but {name!r} is not a valid Python "
                       "name, so no import can reach them")
            target = scan_.index.rel(posixpath.join(posixpath.dirname(directory), renamed))
            mover = "git mv" if git else "mv"
            fix = (f"{mover} {shell_quote(scan_.index.rel(directory))} {shell_quote(target)} && "
                   f"touch {shell_quote(target + '/__init__.py')}"
                   + (f" && git add {shell_quote(target)}" if git else "")
                   + "   # then update what loads these files by path")
        findings.append((rule(RuleId.INIT_FILES).finding(
            scan_.repo_path(directory) + "/", shown_path(message), shown_path(fix),
            phase=scan_.spec.phase_of(RuleId.INIT_FILES)), directory))
    return findings


def _top_is_package(scan_: ImportScan, directory: str) -> bool:
    return f"{directory}/__init__.py" in scan_.sources


def check_shadowing(scan_: ImportScan, stdlib: frozenset[str], installed: dict[str, bool]) -> list[Finding]:
    """Backend top-level modules named like a stdlib or installed module hide it for the whole app."""
    findings = []
    for name in sorted(scan_.backend_names):
        kind = scan_.table.kind(name)
        if kind == "namespace":
            continue
        other = "the standard library module" if name in stdlib else (
            "the installed package" if installed.get(name) else None)
        if other is None:
            continue
        findings.append(rule(RuleId.NAME_CLASH).finding(
            scan_.repo_path(file_of(scan_, name)),
            f"shadows {other} `{name}`: with the backend root first on sys.path, every "
            f"`import {name}` in the app and its libraries gets this one",
            f"rename it (e.g. git mv {shown_path(shell_quote(scan_.index.rel(file_of(scan_, name))))} ...) "
            "and update its imports",
            phase=scan_.spec.phase_of(RuleId.NAME_CLASH)))
    return findings
