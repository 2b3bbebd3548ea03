"""How the import checks split into test items, and the skip of an item with nothing to examine.

test_imports_resolve has one item per top-level directory of the spec (resolution_groups,
group_of), test_importable one per top-level package (importable_groups); `examined` turns
a check's findings into its result, or a skip saying why there was no file to look at.
"""

from __future__ import annotations

from typing import Any

from conformance.checks.imports.scan import ImportScan
from conformance.model.findings import Finding
from conformance.model.spec import Spec


def group_of(spec: Spec, rel: str, groups: set[str] | None = None) -> str:
    """The test id a file's import findings belong to: its top-level spec dir, root or other."""
    if "/" not in rel:
        return "root"
    top = rel.split("/")[0]
    return top if top in (groups if groups is not None else resolution_groups(spec)) else "other"


def examined(scan_: ImportScan, findings: list[Finding], group: str | None = None) -> Any:
    """The check's result, or a skip that says why when it had no file to examine: a check
    over nothing must not pass as if it had looked (`group`: one test_imports_resolve item)."""
    from conformance.model.findings import CheckResult, Skipped

    groups = set(resolution_groups(scan_.spec))
    if findings or any(group is None or group_of(scan_.spec, rel, groups) == group for rel in scan_.sources):
        return CheckResult(list(findings))
    where = {None: "in the backend", "root": "in the backend root",
             "other": "outside the plan's top-level directories"}.get(group, f"in {scan_.repo_path(group or '')}/")
    return CheckResult(skipped=Skipped(f"no Python file {where}: nothing to check"))


def resolution_groups(spec: Spec) -> list[str]:
    workers = spec.workers.split("/")[0]
    tops = [d.path.split("/")[0] for d in spec.dirs if not d.runtime and not d.path.startswith("//")]
    ordered = list(dict.fromkeys(t for t in tops if t != workers))
    return [*ordered, "root", "other"]


def importable_groups(spec: Spec) -> list[str]:
    """Importability items: the top-level package dirs of the spec, root modules, the rest."""
    tops = [d.path for d in spec.dirs if d.package and "/" not in d.path and not d.path.startswith("//")]
    return [*dict.fromkeys(tops), "root", "other"]
