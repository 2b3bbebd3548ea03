"""Transitional import aliases: the plan's rollback rule "keep old import paths working during
transition", checked against the enforced phase.

Until the phase that retires an alias, its old module path must still import (a shim that
re-exports the new module) and the test warns that it is still there; from that phase on,
the old path must be gone and nothing may import it.
"""

from __future__ import annotations

from conformance.checks.imports.resolution import absolute_target
from conformance.checks.imports.scan import ImportScan
from conformance.model.findings import CheckResult
from conformance.model.rules import RuleId, rule
from conformance.model.spec import Alias


def _file(scan: ImportScan, module: str) -> str:
    kind = scan.table.kind(module)
    path = module.replace(".", "/")
    return scan.repo_path({"package": f"{path}/__init__.py", "module": f"{path}.py"}.get(kind or "", f"{path}.py"))


def importers(scan: ImportScan, module: str) -> list[str]:
    """`path:line` of every import of `module` (or below it) in the backend."""
    found = []
    for rel, source in sorted(scan.sources.items()):
        for stmt in source.imports:
            target, _ = absolute_target(scan, rel, stmt)
            if target and (target == module or target.startswith(module + ".")):
                found.append(f"{scan.repo_path(rel)}:{stmt.line}")
    return found


def check_alias(alias: Alias, scan: ImportScan, enforced_phase: int) -> CheckResult:
    """test_transitional_alias: the old path is kept until the alias's retire phase, gone from then on.
    Its findings carry the alias's retire phase, not the rule's."""
    result = CheckResult()
    alias_rule = rule(RuleId.ALIAS)
    kw = dict(subject=alias.old, phase=alias.retire_phase)
    if scan.table.kind(alias.new) is None:
        result.findings.append(alias_rule.finding(
            _file(scan, alias.new), f"does not exist: the alias {alias.old} -> {alias.new} points nowhere",
            "fix `new` in the spec's aliases", **kw))  # type: ignore[arg-type]
        return result
    old_exists = scan.table.kind(alias.old) is not None
    old_file = _file(scan, alias.old)
    if enforced_phase < alias.retire_phase:
        if not old_exists:
            result.findings.append(alias_rule.finding(
                path=old_file, message=f"is gone, so `import {alias.old}` breaks before phase {alias.retire_phase} "
                                       "retires it (old import paths keep working during the transition)",
                fix=f"restore a shim: {old_file} containing `from {alias.new} import *` plus a DeprecationWarning",
                **kw))  # type: ignore[arg-type]
        else:
            users = importers(scan, alias.old)
            result.findings.append(alias_rule.finding(
                path=old_file, severity="warning",
                message=f"is a transitional alias of {alias.new}, to be retired in phase {alias.retire_phase}; "
                        f"{len(users)} import(s) still use it" + (f": {', '.join(users[:5])}" if users else ""),
                fix=f"move the importers to `{alias.new}`", **kw))  # type: ignore[arg-type]
        return result
    if old_exists:
        users = importers(scan, alias.old)
        result.findings.append(alias_rule.finding(
            path=old_file, message=f"still exists although phase {alias.retire_phase} retires the alias "
                                   f"{alias.old} -> {alias.new}" + (f"; imported at {', '.join(users[:5])}"
                                                                    if users else ""),
            fix=(f"point the importers at `{alias.new}`, then: " if users else "")
            + f"git rm {old_file}   # deletes the alias module (git history keeps it); nothing may import it any more",
            **kw))  # type: ignore[arg-type]
    return result
