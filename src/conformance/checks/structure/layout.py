"""Structure checks: the spec and the repo index in, findings out.

Checks run in a fixed order from the most specific to the most generic, and every file a
check reports is "claimed": later, more generic checks skip it. A stray
`master/scalable_bot_manager.js` is one planned-move failure, not also a Node-outside-workers
failure and an unexpected-directory failure.
"""

from __future__ import annotations

import fnmatch
import functools
import posixpath
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from conformance.model.findings import CheckResult, Finding, Skipped
from conformance.repo.git import GitError
from conformance.repo.index import RepoIndex, shell_quote, shown_path
from conformance.model.rules import RULES
from conformance.model.spec import DirRule, ForbiddenRule, Move, Spec

NODE_FILES = ("package.json", "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml",
              ".npmrc", ".nvmrc", "*.js", "*.mjs", "*.cjs", "*.ts", "*.mts", "*.cts", "tsconfig.json")
PYTHON_FILES = ("*.py", "*.pyc", "requirements*.txt", "pyproject.toml", "setup.py", "setup.cfg", "Pipfile")
PLACEHOLDERS = (".gitkeep", ".keep", ".gitignore")


@dataclass
class StructureReport:
    """All structure results of one backend, looked up by (rule, subject)."""

    results: dict[tuple[str, str], CheckResult] = field(default_factory=dict)

    def result(self, rule: str, subject: str = "") -> CheckResult:
        return self.results.get((rule, subject), CheckResult())

    def findings(self) -> list[Finding]:
        return [f for r in self.results.values() for f in r.findings]


def evaluate(spec: Spec, index: RepoIndex) -> StructureReport:
    """Run every structure check once; the order defines which check claims a file."""
    checker = _Checker(spec, index)
    for move in spec.moves:
        checker.check_move(move)
        checker.check_move_history(move)
    for rule in spec.dirs:
        if rule.runtime:
            checker.check_runtime_ignored(rule)
            checker.check_runtime_untracked(rule)
    checker.check_node_only_in_workers()
    checker.check_no_python_in_workers()
    checker.check_tracked_but_ignored()
    for forbidden in spec.forbidden:
        checker.check_forbidden(forbidden)
    checker.check_module_package_clash()
    checker.check_root_files()
    checker.check_root_dirs()
    for rule in spec.dirs:
        if not rule.runtime:
            checker.check_required_dir(rule)
            if rule.package:
                checker.check_package_dir(rule)
    return checker.report


quote = shell_quote  # fix commands quote every path


class _Checker:
    def __init__(self, spec: Spec, index: RepoIndex):
        self.spec = spec
        self.index = index
        self.report = StructureReport()
        self.claimed: set[str] = set()
        self.workers = index.rel(spec.workers)
        self._production = _Patterns(spec.non_production)
        self._node_exempt = _Patterns(spec.node_exempt)

    # -- helpers ---------------------------------------------------------------------------

    def add(self, rule: str, subject: str, path: str, message: str, fix: str, *,
            line: int | None = None, severity: str = "error", plan: str | None = None,
            phase: int | None = None, claim: Iterable[str] = ()) -> None:
        finding = Finding(  # shown_path: a name that is not UTF-8 must still print and serialize
            rule=rule, path=shown_path(path), message=shown_path(message), fix=shown_path(fix), subject=subject,
            line=line,
            severity=severity,  # type: ignore[arg-type]
            plan=plan if plan is not None else RULES[rule].plan,
            phase=phase if phase is not None else self.spec.phase_of(rule),
        )
        self.report.results.setdefault((rule, subject), CheckResult()).findings.append(finding)
        self.claimed.update(claim)

    def skip(self, rule: str, subject: str, reason: str) -> None:
        self.report.results.setdefault((rule, subject), CheckResult()).skipped = Skipped(reason)

    def shown_dir(self, spec_path: str) -> str:
        return (spec_path[2:] if spec_path.startswith("//") else spec_path).rstrip("/") + "/"

    def backend_files(self) -> list[str]:
        return [p for p in self.index.backend_files() if p not in self.claimed]

    def is_production(self, path: str) -> bool:
        rel = self.index.backend_rel(path)
        if rel is None or self.under_workers(path):
            return False
        return not self._production.match(rel)

    def under_workers(self, path: str) -> bool:
        return path == self.workers or path.startswith(self.workers + "/")

    def move_command(self, source: str, dest_dir: str) -> str:
        """`git mv` (or plain mv outside git) into dest_dir, creating it first when needed."""
        dest = posixpath.join(dest_dir, posixpath.basename(source))
        mover = "git mv" if self.index.is_git else "mv"
        mkdir = "" if self.index.is_dir(dest_dir) else f"mkdir -p {quote(dest_dir)} && "
        return f"{mkdir}{mover} {quote(source)} {quote(dest)}"

    def remove_command(self, paths: list[str], cached: bool = False, recursive: bool = False) -> str:
        if not self.index.is_git:
            return f"rm {'-r ' if recursive else ''}{' '.join(quote(p) for p in paths)}"
        flags = " ".join(f for f, on in (("-r", recursive), ("--cached", cached)) if on)
        return f"git rm {flags + ' ' if flags else ''}-- {' '.join(quote(p) for p in paths)}"

    # -- planned moves ---------------------------------------------------------------------

    def old_places(self, move: Move) -> list[str]:
        destination = self.index.rel(move.destination)
        found = []
        for path in self.index.backend_files():
            rel = self.index.backend_rel(path) or ""
            if path == destination or "node_modules/" in f"/{rel}":
                continue
            if rel == move.source or (move.anywhere and rel.endswith("/" + move.source)):
                found.append(path)
        return found

    def check_move(self, move: Move) -> None:
        destination = self.index.rel(move.destination)
        dest_dir = self.index.rel(move.to)
        old = self.old_places(move)
        kw = dict(plan=move.plan, phase=move.phase, claim=old)
        target = self.shown_dir(move.to)
        if destination in self.index.files:
            for path in old:
                self.add("move", move.source, path,
                         f"is still here although the plan moved it to {target} ({destination} exists)",
                         f"compare, then delete the old copy: git diff --no-index {quote(path)} {quote(destination)}"
                         f"\n{self.remove_command([path])}   # deletes this old copy; the file at {destination} "
                         "stays", **kw)
            return
        top = move.to.split("/")[0]
        if not old and top in self.kept_outside:
            return self.skip("move", move.source, f"{top}/ is kept beside the backend, at the repository root: "
                                                  f"see test_required_dir[{top}]")
        if not old:
            message, fix = self._moved_elsewhere(move, destination)
            self.add("move", move.source, destination, message, fix, plan=move.plan, phase=move.phase)
            return
        first, *rest = old
        where = "in the backend root" if "/" not in (self.index.backend_rel(first) or "") else "at its old place"
        fix = self.move_command(first, dest_dir)
        if rest:
            fix += "\n" + self.remove_command(rest) + "   # deletes the other copies: compare them with the moved " \
                "file first"
        self.add("move", move.source, first, f"is {where}; the plan moves it to {target}", fix, **kw)
        for path in rest:
            self.add("move", move.source, path, f"is another copy of {move.name}; the plan keeps one, in {target}",
                     "see the fix above", **kw)

    @functools.cached_property
    def kept_outside(self) -> set[str]:
        """Planned top-level dirs that are missing from the backend but exist at the repository
        root (workers kept beside the backend): one finding, test_required_dir[<top>], says so
        for the dir, its subdirs and the files moved into it."""
        if not self.index.prefix:
            return set()
        tops = {d.path.split("/")[0] for d in self.spec.dirs if not d.runtime and not d.path.startswith("//")}
        missing = {t for t in tops if t and not self.index.is_dir(self.index.rel(t))}
        return {t for t in missing if t in self.index.repository_dirs} if missing else set()

    def _moved_elsewhere(self, move: Move, destination: str) -> tuple[str, str]:
        """A planned file that is nowhere in the backend: outside it (e.g. workers kept at the
        repository root), or gone. Say where it is and how to point the spec at it, rather than
        sending the engineer to the history for a file that exists."""
        target = self.shown_dir(move.to)
        outside = sorted(p for p in self.index.repository_files
                         if posixpath.basename(p) == move.name and self.index.backend_rel(p) is None
                         and "node_modules/" not in f"/{p}")
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
                    self.move_command(found, self.index.rel(move.to)))
        return (f"does not exist, and {move.source} is nowhere in the repository; the plan moves it to {target}",
                "restore it from history (git log --all --diff-filter=D --name-only -- "
                f"{quote('*' + move.name)}), or remove it from the spec's moves if it was deleted on purpose")

    def check_move_history(self, move: Move) -> None:
        git = self.index.git
        destination = self.index.rel(move.destination)
        if git is None:
            return self.skip("move_history", move.source, "not a git repository: no history to check")
        if self.index.shallow:
            return self.skip("move_history", move.source,
                             "shallow clone: history before the move is not available (git fetch --unshallow)")
        if not self.index.has_commits:
            return self.skip("move_history", move.source, "the repository has no commits yet: no history to check")
        if destination not in self.index.files:
            return self.skip("move_history", move.source, f"{destination} does not exist yet (see test_move)")
        try:
            chain = git.follow(destination)
            if not chain:
                return self.skip("move_history", move.source, f"{destination} is not committed yet")
            if any(self._is_old_place(move, p) for entry in chain for p in entry.paths):
                return  # history reaches the old place: the move kept it
            deleted = git.deletions(self._old_pathspecs(move))
        except GitError as exc:
            return self.skip("move_history", move.source, f"git history unavailable: {exc}")
        if not deleted:
            return  # born at its new place; nothing was moved
        born, gone = chain[-1], deleted[0]
        same = " in the same commit" if born.sha == gone.sha else ""
        old_path = next(p for p in gone.paths if self._is_old_place(move, p))
        self.add(
            "move_history", move.source, destination,
            f"starts its history at {born.sha[:10]} ('{born.subject}') although {old_path} was deleted in "
            f"{gone.sha[:10]} ('{gone.subject}'){same}: the move lost the file's history "
            "(copy and delete, or too many edits in the move commit)",
            f"read the old history with: git log -- {quote(old_path)}; for the remaining moves run `git mv` "
            "in a commit of its own and edit in a later commit",
            severity="warning", plan=RULES["move_history"].plan, phase=move.phase,
        )

    def _is_old_place(self, move: Move, path: str) -> bool:
        rel = self.index.backend_rel(path)
        if rel is None or path == self.index.rel(move.destination):
            return False
        return rel == move.source or (move.anywhere and rel.endswith("/" + move.source))

    def _old_pathspecs(self, move: Move) -> list[str]:
        base = f"{self.index.prefix}/" if self.index.prefix else ""
        if move.anywhere:
            return [f":(glob){base}**/{move.source}"]
        return [f":(literal){base}{move.source}"]

    # -- runtime dirs, ignore rules -------------------------------------------------------

    def check_runtime_ignored(self, rule: DirRule) -> None:
        path = self.index.rel(rule.path)
        probe = f"{path}/conformance-probe.txt"
        match = self.index.ignore_matches([probe]).get(probe)
        gitignore, line = self._gitignore_for(path)
        fix = f"echo {quote(line)} >> {quote(gitignore)}"
        if match is None:
            self.add("runtime_ignored", rule.path, gitignore,
                     f"does not ignore {path}/: runtime files there would be committed", fix)
        elif posixpath.basename(match.source) != ".gitignore" or match.source.startswith("/"):
            self.add("runtime_ignored", rule.path, gitignore,
                     f"does not ignore {path}/; only {match.source} does ('{match.pattern}'), "
                     "which is not committed, so the team and CI do not have the rule", fix)

    def _gitignore_for(self, path: str) -> tuple[str, str]:
        """The .gitignore to edit (the backend's own, else the repo's) and the line to add."""
        rel = self.index.backend_rel(path)
        if rel is not None and self.index.prefix:
            return f"{self.index.prefix}/.gitignore", f"/{rel}/"
        return ".gitignore", f"/{path}/"

    def check_runtime_untracked(self, rule: DirRule) -> None:
        path = self.index.rel(rule.path)
        inside = [p for p in self.index.under(path) if p not in self.claimed]
        offending = [p for p in inside if posixpath.basename(p) not in PLACEHOLDERS]
        if not offending:
            return
        kept = [p for p in inside if posixpath.basename(p) in PLACEHOLDERS]
        listed = ", ".join(offending[:5]) + (f" and {len(offending) - 5} more" if len(offending) > 5 else "")
        noun = "file" if len(offending) == 1 else "files"
        state = f"{noun} tracked by git" if self.index.is_git else f"{noun} not ignored, which would be committed"
        fix = self.remove_command([path], cached=True, recursive=True) + "   # keeps the files on disk"
        if kept and self.index.is_git:
            fix += "\ngit add -f -- " + " ".join(quote(p) for p in kept) + "   # keep the placeholder"
        self.add("runtime_untracked", rule.path, f"{path}/",
                 f"holds {len(offending)} {state}: {listed}; runtime files stay out of git", fix, claim=offending)

    def check_tracked_but_ignored(self) -> None:
        if not self.index.is_git:
            return self.skip("tracked_but_ignored", "", "not a git repository: nothing is tracked")
        paths = [p for p in self.index.tracked_ignored if p not in self.claimed]
        matches = self.index.ignore_matches(paths)
        for path in paths:
            match = matches.get(path)
            rule = f"{match.source}:{match.line} ('{match.pattern}')" if match else "an ignore rule"
            self.add("tracked_but_ignored", "", path, f"is tracked although {rule} ignores it",
                     f"{self.remove_command([path], cached=True)}   # keeps it on disk, removes it from the index "
                     "only; if it should not be in git\n"
                     f"or narrow the rule at {rule} if the file belongs in the repo", claim=[path])

    # -- files that do not belong ----------------------------------------------------------

    def check_forbidden(self, rule: ForbiddenRule) -> None:
        patterns = _Patterns(rule.patterns)
        for path in self.backend_files():
            if not self.is_production(path) or not patterns.match(self.index.backend_rel(path) or ""):
                continue
            if rule.move_to:
                fix = (self.move_command(path, self.index.rel(rule.move_to))
                       + f"   # or, if nothing needs it: {self.remove_command([path])} (deletes the file; git "
                         "history keeps it)")
            else:
                fix = self.remove_command([path], cached=True) + "   # keeps it on disk; delete it if unneeded"
            self.add("forbidden", rule.name, path, f"is {_article(rule.why)} {rule.why} (matches {', '.join(rule.patterns)})",
                     fix, phase=rule.phase, claim=[path])

    def check_node_only_in_workers(self) -> None:
        node = _Patterns(NODE_FILES)
        modules_dirs: dict[str, list[str]] = defaultdict(list)
        workers = self.shown_dir(self.spec.workers)
        for path in self.backend_files():
            rel = self.index.backend_rel(path) or ""
            if self.under_workers(path) or self._node_exempt.match(rel):
                continue
            if "node_modules/" in f"/{rel}/":
                top = path[: path.index("node_modules") + len("node_modules")]
                modules_dirs[top].append(path)
            elif node.match(rel):
                fix = self.move_command(path, posixpath.dirname(posixpath.join(self.workers, rel)))
                self.add("node_only_in_workers", "", path,
                         f"is a Node.js file outside {workers}; the plan keeps Node.js only under workers", fix,
                         claim=[path])
        for top, files in sorted(modules_dirs.items()):
            fix = self.remove_command([top], cached=True, recursive=True) + \
                "   # keeps the files on disk, removes them from the index only" + f"\necho 'node_modules/' >> " \
                  f"{quote(self._gitignore_for(self.index.prefix)[0])}"
            self.add("node_only_in_workers", "", f"{top}/",
                     f"holds {len(files)} tracked files; node_modules/ is never committed and lives only under "
                     f"{workers} (npm ci recreates it)", fix, claim=files)
        for top in self.index.ignored_dirs:
            if posixpath.basename(top) == "node_modules" and not self.under_workers(top) \
                    and self.index.backend_rel(top) is not None:
                self.add("node_only_in_workers", "", f"{top}/",
                         f"exists on disk (ignored, not in git); the plan recreates node_modules/ only in {workers}",
                         f"rm -rf {quote(top)}   # deletes this ignored copy only, npm ci recreates it under "
                         f"workers; then: cd {quote(self.workers)} && npm ci", severity="warning")

    def check_no_python_in_workers(self) -> None:
        python = _Patterns(PYTHON_FILES)
        for path in self.index.under(self.workers):
            rel = path[len(self.workers) + 1 :]
            if path in self.claimed or "node_modules/" in f"/{rel}":
                continue
            if not python.match(rel) and not (posixpath.splitext(rel)[1] == "" and self._python_shebang(path)):
                continue
            target = self.index.rel("scripts")
            self.add("no_python_in_workers", "", path,
                     f"is a Python file inside {self.shown_dir(self.spec.workers)}, which holds Node.js only",
                     self.move_command(path, target) + "   # or into the package it belongs to", claim=[path])

    def _python_shebang(self, path: str) -> bool:
        """A script without an extension that runs under Python (`#!/usr/bin/env python3`)."""
        if self.index.link_out(path) is not None:
            return False
        try:
            with open(self.index.root / path, "rb") as handle:
                first = handle.readline(200)
        except OSError:
            return False
        return first.startswith(b"#!") and b"python" in first

    def check_module_package_clash(self) -> None:
        for path in self.backend_files():
            if not path.endswith(".py") or not self.index.is_dir(path[:-3]):
                continue
            package = path[:-3]
            init = f"{package}/__init__.py"
            mover = "git mv" if self.index.is_git else "mv"
            if init in self.index.files:
                message = (f"sits beside the package {package}/: Python always imports the package, so this "
                           "module is dead code or imported by a path hack")
                if self._is_empty_module(init):  # the package adds nothing of its own: the module becomes it
                    fix = (f"{self.remove_command([init])} && {mover} {quote(path)} {quote(init)}"
                           "   # deletes the empty __init__.py, then this module's code takes its place, history kept")
                else:
                    fix = (f"merge what {path} defines into {init} (importers get the package), then: "
                           f"{self.remove_command([path])}   # deletes this module: do it only after the merge")
            else:
                message = (f"sits beside {package}/, which has no __init__.py: `import "
                           f"{posixpath.basename(package)}` loads this module and the directory is unreachable")
                fix = f"{mover} {quote(path)} {quote(init)}   # one package, history kept"
            self.add("module_package_clash", "", path, message, fix, claim=[path])

    def _is_empty_module(self, path: str) -> bool:
        """Only blank lines and comments: nothing anyone imports from it."""
        try:
            text = (self.index.root / path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False
        return all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines())

    # -- the backend root ------------------------------------------------------------------

    def root_files(self) -> list[str]:
        return [p for p in self.index.backend_files() if "/" not in (self.index.backend_rel(p) or "/")]

    def check_root_files(self) -> None:
        allowed = self.spec.root_allow
        remaining = [p for p in self.root_files() if p not in self.claimed]
        shown_allow = ", ".join(allowed)
        for path in remaining:
            name = posixpath.basename(path)
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in allowed):
                continue
            self.add("root_files", "", path,
                     f"is in the backend root, which the plan keeps to: {shown_allow}",
                     self._root_fix(path), claim=[path])
        kept = [p for p in remaining if p not in self.claimed]
        if len(kept) > self.spec.max_root_files:
            self.add("root_file_count", "", f"{self.index.prefix or '.'}/",
                     f"holds {len(kept)} files in its root, more than max_root_files = {self.spec.max_root_files}: "
                     + ", ".join(posixpath.basename(p) for p in kept),
                     "move files into the package they belong to, or raise max_root_files in the spec")

    def _root_fix(self, path: str) -> str:
        name = posixpath.basename(path)
        if name.endswith((".py", ".sh")):
            return self.move_command(path, self.index.rel("scripts/maintenance")) + \
                "   # or the scripts/ dir it belongs to; or add it to [tool.conformance.root] allow"
        return f"{self.remove_command([path])}   # deletes it, if nothing needs it; or move it where it belongs; " \
               "or add it to [tool.conformance.root] allow"

    def check_root_dirs(self) -> None:
        planned = {d.path.split("/")[0] for d in self.spec.dirs if not d.path.startswith("//")}
        allowed = planned | set(self.spec.root_allow_dirs)
        if self.spec.workers and not self.spec.workers.startswith("//"):
            allowed.add(self.spec.workers.split("/")[0])
        by_dir: dict[str, list[str]] = defaultdict(list)
        for path in self.backend_files():
            rel = self.index.backend_rel(path) or ""
            top = rel.split("/")[0]
            if "/" in rel and top not in allowed and not top.startswith("."):
                by_dir[top].append(path)
        planned_list = ", ".join(sorted(allowed))
        for top, files in sorted(by_dir.items()):
            where = self.index.rel(top)
            self.add("root_dirs", "", f"{where}/",
                     f"is not in the plan's target structure ({len(files)} files); the plan's backend root holds "
                     f"only: {planned_list}",
                     f"move its files into the planned directories (e.g. git mv {quote(files[0])} ...), or add "
                     f'"{top}" to [tool.conformance.root] allow_dirs', claim=files)

    # -- target structure -----------------------------------------------------------------

    def check_required_dir(self, rule: DirRule) -> None:
        path = self.index.rel(rule.path)
        if self.index.is_dir(path):
            return
        placeholder = f"{path}/{'__init__.py' if rule.package else '.gitkeep'}"
        add = f" && git add {quote(placeholder)}" if self.index.is_git else ""
        fix = f"mkdir -p {quote(path)} && touch {quote(placeholder)}{add}"
        on_disk = self.index.root / path
        if path in self.index.files or on_disk.is_symlink():
            # never look through a link: its target may lie outside the backend
            target = self.index.link_out(path)
            state = (f"is a symlink to {target}, outside the backend (not followed), not a directory" if target
                     else "is a symlink, not a directory" if on_disk.is_symlink() else "is a file, not a directory")
            remove = self.remove_command([path]) if path in self.index.files else f"rm {quote(path)}"
            what = "link (its target stays)" if on_disk.is_symlink() else "file (move its content elsewhere first)"
            fix = f"{remove}   # deletes the {what} that stands where the directory belongs\n{fix}"
        elif on_disk.is_dir() and _has_entries(on_disk) and self.index.is_git:
            state = "exists on disk but none of its files is tracked by git"
            fix = f"git add {quote(path)}" if (on_disk / placeholder.rsplit('/', 1)[1]).exists() or \
                not rule.package else f"touch {quote(placeholder)} && git add {quote(path)}"
        elif on_disk.is_dir():
            state = "exists on disk but is empty (git keeps no empty directory)"
        elif rule.path.split("/")[0] in self.kept_outside:
            top = rule.path.split("/")[0]
            if rule.path != top:
                return self.skip("required_dir", rule.path, f"{top}/ is kept beside the backend, at the repository "
                                                            f"root: see test_required_dir[{top}]")
            state = (f"is missing from the backend, but {top}/ exists at the repository root (so do the plan's "
                     "dirs and moved files under it)")
            workers = f'workers = "//{top}", ' if top == self.spec.workers.split("/")[0] else ""
            fix = (f"if the project keeps {top}/ beside the backend on purpose, point the spec at it: {workers}"
                   f'and "//{top}/..." for the dirs and move destinations under it (// is the repository root); '
                   f"else move it into the backend: git mv {quote(top)} {quote(path)}")
        else:
            state = "is missing"
        self.add("required_dir", rule.path, f"{path}/",
                 f"{state}; the plan's target structure has /{rule.path.lstrip('/')}/ ({rule.purpose})", fix,
                 phase=rule.phase)

    def check_package_dir(self, rule: DirRule) -> None:
        path = self.index.rel(rule.path)
        if not self.index.is_dir(path):
            return self.skip("package_dir", rule.path, f"{path}/ is missing (see test_required_dir[{rule.path}])")
        init = f"{path}/__init__.py"
        if init in self.index.files:
            return
        add = f" && git add {quote(init)}" if self.index.is_git else ""
        self.add("package_dir", rule.path, f"{path}/",
                 "has no __init__.py: it is a namespace package, so imports resolve differently depending on "
                 "sys.path and tools like import-linter cannot see it",
                 f"touch {quote(init)}{add}")


def _has_entries(directory: Path) -> bool:
    try:
        return any(directory.iterdir())
    except OSError:
        return True  # unreadable: it holds something git could not list either


class _Patterns:
    """Gitignore-style patterns matched against backend-relative paths."""

    def __init__(self, patterns: Iterable[str]):
        import pathspec

        lines = list(patterns)
        self.spec = pathspec.GitIgnoreSpec.from_lines(lines)
        self.empty = not lines

    def match(self, path: str) -> bool:
        return not self.empty and self.spec.match_file(path)


def _article(phrase: str) -> str:
    """"a" or "an" for a phrase from the spec ("an editor or merge leftover")."""
    return "an" if phrase[:1].lower() in "aeiou" else "a"
