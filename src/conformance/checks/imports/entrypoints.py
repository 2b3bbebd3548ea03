"""Imports of the entry point (main.py) and other top-level modules from inside the layers.

import-linter only takes packages as root packages, so a single-file module such as main.py
is no node of the layers contract: `database` importing `main` lazily, inside a function,
breaks the layering (the entry point sits above every layer) and no contract sees it. This
check reads the per-session parse of the backend (`ImportScan`), so module-level and lazy
imports alike are found, each with its file and line.

Pure logic (no pytest); tests/imports/test_contracts.py is the glue.
"""

from __future__ import annotations

from dataclasses import dataclass

from conformance.checks.imports.resolution import absolute_target
from conformance.checks.imports.scan import ImportScan, is_production
from conformance.model.findings import Finding
from conformance.model.rules import RuleId, rule


@dataclass(frozen=True)
class EntryPointCheck:
    """The findings, or why there was nothing to examine (then the test skips with it)."""

    findings: list[Finding]
    nothing_to_examine: str = ""


def top_level_modules(scan: ImportScan) -> list[str]:
    """Production single-file modules of the backend root (main.py, a leftover script, ...);
    `database.py` beside `database/` is the package for Python and is not counted."""
    return sorted(name for name, rel in scan.table.files.items()
                  if "." not in name and scan.table.kind(name) == "module" and "/" not in rel
                  and is_production(scan.spec, rel))


def check_entry_point_imports(scan: ImportScan, roots: tuple[str, ...]) -> EntryPointCheck:
    """Every import, at module level or lazy, of a top-level module by a production module
    inside `roots` (the contracts' root packages that exist). Scripts and tests are entry
    points themselves (non-production in the spec) and may import anything."""
    present = sorted(root for root in roots if scan.table.kind(root) in ("package", "namespace"))
    modules = top_level_modules(scan)
    if not present:
        listed = ", ".join(roots) or "none"
        return EntryPointCheck([], f"none of the contracts' root packages ({listed}) exists in the backend yet")
    if not modules:
        return EntryPointCheck([], "the backend root holds no single-file Python module (no main.py)")
    findings = []
    for rel, source in sorted(scan.sources.items()):
        if rel.split("/")[0] not in present or "/" not in rel or not is_production(scan.spec, rel):
            continue
        for stmt in source.imports:
            target, _ = absolute_target(scan, rel, stmt)
            name = (target or "").split(".")[0]
            if name in modules:
                findings.append(_finding(scan, rel, stmt.line, stmt.text, name, stmt.lazy, stmt.type_checking))
    return EntryPointCheck(findings)


def _finding(scan: ImportScan, rel: str, line: int, text: str, name: str, lazy: bool,
             type_checking: bool) -> Finding:
    importer = rel[:-3].replace("/", ".").removesuffix(".__init__")
    root = rel.split("/")[0]
    file = scan.table.files[name]
    how = ("lazily, inside a function (it runs when the function is first called)" if lazy
           else "under TYPE_CHECKING" if type_checking else "at module level")
    return rule(RuleId.ENTRY_POINT).finding(
        path=scan.repo_path(rel), line=line, subject=name,
        message=(f"`{text}` imports the top-level module {file} {how}: {importer} is in the layer "
                 f"{root}, and the entry point sits above every layer; import-linter cannot see this "
                 f"import ({file} is no package)"),
        fix=(f"move what {importer} needs from {file} into {root} or a lower layer and import it from "
             f"there (or pass it in from the caller); {file} keeps importing the layers, never the reverse"),
        phase=scan.spec.phase_of(RuleId.ENTRY_POINT))
