"""Structure: the repository against the target layout (dirs, moves, root allowlist,
hygiene). `evaluate` runs every structure check once; the modules hold the checks by the
test file that reports them (moves, hygiene, layout) and the state they share (checker).
"""

from __future__ import annotations

from conformance.checks.structure import hygiene, layout, moves
from conformance.checks.structure.checker import Checker, StructureReport
from conformance.model.spec import Spec
from conformance.repo.index import RepoIndex

__all__ = ["StructureReport", "evaluate"]


def evaluate(spec: Spec, index: RepoIndex) -> StructureReport:
    """Run every structure check once, from the most specific to the most generic: the order
    defines which check claims a file (see checker)."""
    checker = Checker(spec, index)
    for move in spec.moves:
        moves.check_move(checker, move)
        moves.check_move_history(checker, move)
    for dir_rule in spec.dirs:
        if dir_rule.runtime:
            hygiene.check_runtime_ignored(checker, dir_rule)
            hygiene.check_runtime_untracked(checker, dir_rule)
    hygiene.check_node_only_in_workers(checker)
    hygiene.check_no_python_in_workers(checker)
    hygiene.check_tracked_but_ignored(checker)
    for forbidden in spec.forbidden:
        hygiene.check_forbidden(checker, forbidden)
    layout.check_module_package_clash(checker)
    layout.check_root_files(checker)
    layout.check_root_dirs(checker)
    for dir_rule in spec.dirs:
        if not dir_rule.runtime:
            layout.check_required_dir(checker, dir_rule)
            if dir_rule.package:
                layout.check_package_dir(checker, dir_rule)
    checker.report.seen = checker.seen
    return checker.report
