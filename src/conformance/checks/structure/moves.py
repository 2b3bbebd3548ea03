"""The plan's "Files to Move/Reorganize" (test_move) and the rollback rule's `git mv`, which keeps
a moved file's history (test_move_history)."""

from __future__ import annotations

import posixpath

from conformance.checks.structure.checker import Checker, quote
from conformance.model.rules import RuleId, rule
from conformance.model.spec import Move
from conformance.repo.git import GitError


def check_move(checker: Checker, move: Move) -> None:
    """The planned file is at its destination and nowhere else in the backend."""
    index = checker.index
    destination = index.rel(move.destination)
    dest_dir = index.rel(move.to)
    old = _old_places(checker, move)
    kw = dict(plan=move.plan, phase=move.phase, claim=old)
    target = checker.shown_dir(move.to)
    if destination in index.files:
        for path in old:
            checker.add(RuleId.MOVE, move.source, path,
                        f"is still here although the plan moved it to {target} ({destination} exists)",
                        f"compare, then delete the old copy: git diff --no-index {quote(path)} {quote(destination)}"
                        f"\n{checker.remove_command([path])}   # deletes this old copy; the file at {destination} "
                        "stays", **kw)
        return
    top = move.to.split("/")[0]
    if not old and top in checker.kept_outside:
        return checker.skip(RuleId.MOVE, move.source, f"{top}/ is kept beside the backend, at the repository root: "
                                                       f"see test_required_dir[{top}]")
    if not old:
        message, fix = _moved_elsewhere(checker, move)
        checker.add(RuleId.MOVE, move.source, destination, message, fix, plan=move.plan, phase=move.phase)
        return
    first, *rest = old
    where = "in the backend root" if "/" not in (index.backend_rel(first) or "") else "at its old place"
    fix = checker.move_command(first, dest_dir)
    if rest:
        fix += "\n" + checker.remove_command(rest) + "   # deletes the other copies: compare them with the moved " \
            "file first"
    checker.add(RuleId.MOVE, move.source, first, f"is {where}; the plan moves it to {target}", fix, **kw)
    for path in rest:
        checker.add(RuleId.MOVE, move.source, path,
                    f"is another copy of {move.name}; the plan keeps one, in {target}", "see the fix above", **kw)


def _old_places(checker: Checker, move: Move) -> list[str]:
    index = checker.index
    destination = index.rel(move.destination)
    found = []
    for path in index.backend_files():
        rel = index.backend_rel(path) or ""
        if path == destination or "node_modules/" in f"/{rel}":
            continue
        if rel == move.source or (move.anywhere and rel.endswith("/" + move.source)):
            found.append(path)
    return found


def _moved_elsewhere(checker: Checker, move: Move) -> tuple[str, str]:
    """A planned file that is nowhere in the backend: outside it (e.g. workers kept at the
    repository root), or gone. Say where it is and how to point the spec at it, rather than
    sending the engineer to the history for a file that exists."""
    index = checker.index
    target = checker.shown_dir(move.to)
    outside = [p for p in index.named(move.name, repository=True) if index.backend_rel(p) is None]
    planned_tail = posixpath.join(move.to.lstrip("/"), move.name) if move.to else move.name
    if outside:
        found = outside[0]
        if found == planned_tail or found.endswith("/" + planned_tail):
            top = move.to.lstrip("/").split("/")[0]
            return (f"does not exist, but {found} does, at the same place outside the backend: the project keeps "
                    f"/{top}/ beside the backend, not in it",
                    f'point the spec at it: "//{posixpath.dirname(found)}" instead of "{move.to}" in this move '
                    f'(and, for the workers, workers = "//{found.split("/")[0]}" in [tool.conformance]); spec '
                    "paths starting with // are relative to the repository root")
        return (f"does not exist; {move.name} is outside the backend, at {found}; the plan moves it to {target}",
                checker.move_command(found, index.rel(move.to)))
    return (f"does not exist, and {move.source} is nowhere in the repository; the plan moves it to {target}",
            "restore it from history (git log --all --diff-filter=D --name-only -- "
            f"{quote('*' + move.name)}), or remove it from the spec's moves if it was deleted on purpose")


def check_move_history(checker: Checker, move: Move) -> None:
    """The file at its destination has the history of its old place: it was moved, not copied."""
    index = checker.index
    git = index.git
    destination = index.rel(move.destination)
    if git is None:
        return checker.skip(RuleId.MOVE_HISTORY, move.source, "not a git repository: no history to check")
    if index.shallow:
        return checker.skip(RuleId.MOVE_HISTORY, move.source,
                            "shallow clone: history before the move is not available (git fetch --unshallow)")
    if not index.has_commits:
        return checker.skip(RuleId.MOVE_HISTORY, move.source,
                            "the repository has no commits yet: no history to check")
    if destination not in index.files:
        return checker.skip(RuleId.MOVE_HISTORY, move.source, f"{destination} does not exist yet (see test_move)")
    try:
        chain = git.follow(destination)
        if not chain:
            return checker.skip(RuleId.MOVE_HISTORY, move.source, f"{destination} is not committed yet")
        if any(_is_old_place(checker, move, p) for entry in chain for p in entry.paths):
            return  # history reaches the old place: the move kept it
        deleted = git.deletions(_old_pathspecs(checker, move))
    except GitError as exc:
        return checker.skip(RuleId.MOVE_HISTORY, move.source, f"git history unavailable: {exc}")
    if not deleted:
        return  # born at its new place; nothing was moved
    born, gone = chain[-1], deleted[0]
    same = " in the same commit" if born.sha == gone.sha else ""
    old_path = next(p for p in gone.paths if _is_old_place(checker, move, p))
    checker.add(
        RuleId.MOVE_HISTORY, move.source, destination,
        f"starts its history at {born.sha[:10]} ('{born.subject}') although {old_path} was deleted in "
        f"{gone.sha[:10]} ('{gone.subject}'){same}: the move lost the file's history "
        "(copy and delete, or too many edits in the move commit)",
        f"read the old history with: git log -- {quote(old_path)}; for the remaining moves run `git mv` "
        "in a commit of its own and edit in a later commit",
        severity="warning", plan=rule(RuleId.MOVE_HISTORY).plan, phase=move.phase,
    )


def _is_old_place(checker: Checker, move: Move, path: str) -> bool:
    rel = checker.index.backend_rel(path)
    if rel is None or path == checker.index.rel(move.destination):
        return False
    return rel == move.source or (move.anywhere and rel.endswith("/" + move.source))


def _old_pathspecs(checker: Checker, move: Move) -> list[str]:
    base = f"{checker.index.prefix}/" if checker.index.prefix else ""
    if move.anywhere:
        return [f":(glob){base}**/{move.source}"]
    return [f":(literal){base}{move.source}"]
