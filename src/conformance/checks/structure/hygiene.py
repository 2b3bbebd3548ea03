"""Hygiene: runtime dirs ignored and untracked, no tracked file that an ignore rule covers, no
forbidden (debug/test) files in production code, Node.js only under workers and no Python there.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict

from conformance.checks.structure.checker import Checker, Patterns, quote
from conformance.model.rules import RuleId
from conformance.model.spec import DirRule, ForbiddenRule

NODE_FILES = ("package.json", "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml",
              ".npmrc", ".nvmrc", "*.js", "*.mjs", "*.cjs", "*.ts", "*.mts", "*.cts", "tsconfig.json")
PYTHON_FILES = ("*.py", "*.pyc", "requirements*.txt", "pyproject.toml", "setup.py", "setup.cfg", "Pipfile")
PLACEHOLDERS = (".gitkeep", ".keep", ".gitignore")


# -- runtime dirs, ignore rules -------------------------------------------------------------

def check_runtime_ignored(checker: Checker, dir_rule: DirRule) -> None:
    """A committed .gitignore ignores the runtime dir."""
    index = checker.index
    path = index.rel(dir_rule.path)
    probe = f"{path}/conformance-probe.txt"
    match = index.ignore_matches([probe]).get(probe)
    gitignore, line = _gitignore_for(checker, path)
    fix = f"echo {quote(line)} >> {quote(gitignore)}"
    if match is None:
        checker.add(RuleId.RUNTIME_IGNORED, dir_rule.path, gitignore,
                    f"does not ignore {path}/: runtime files there would be committed", fix)
    elif posixpath.basename(match.source) != ".gitignore" or match.source.startswith("/"):
        checker.add(RuleId.RUNTIME_IGNORED, dir_rule.path, gitignore,
                    f"does not ignore {path}/; only {match.source} does ('{match.pattern}'), "
                    "which is not committed, so the team and CI do not have the rule", fix)


def _gitignore_for(checker: Checker, path: str) -> tuple[str, str]:
    """The .gitignore to edit (the backend's own, else the repo's) and the line to add."""
    rel = checker.index.backend_rel(path)
    if rel is not None and checker.index.prefix:
        return f"{checker.index.prefix}/.gitignore", f"/{rel}/"
    return ".gitignore", f"/{path}/"


def check_runtime_untracked(checker: Checker, dir_rule: DirRule) -> None:
    """Nothing in the runtime dir is tracked, except a placeholder such as .gitkeep."""
    index = checker.index
    path = index.rel(dir_rule.path)
    inside = [p for p in index.under(path) if p not in checker.claimed]
    offending = [p for p in inside if posixpath.basename(p) not in PLACEHOLDERS]
    if not offending:
        return
    kept = [p for p in inside if posixpath.basename(p) in PLACEHOLDERS]
    listed = ", ".join(offending[:5]) + (f" and {len(offending) - 5} more" if len(offending) > 5 else "")
    noun = "file" if len(offending) == 1 else "files"
    state = f"{noun} tracked by git" if index.is_git else f"{noun} not ignored, which would be committed"
    fix = checker.remove_command([path], cached=True, recursive=True) + "   # keeps the files on disk"
    if kept and index.is_git:
        fix += "\ngit add -f -- " + " ".join(quote(p) for p in kept) + "   # keep the placeholder"
    checker.add(RuleId.RUNTIME_UNTRACKED, dir_rule.path, f"{path}/",
                f"holds {len(offending)} {state}: {listed}; runtime files stay out of git", fix, claim=offending)


def check_tracked_but_ignored(checker: Checker) -> None:
    """No tracked file is covered by an ignore rule (committed before the rule, or forced)."""
    index = checker.index
    if not index.is_git:
        return checker.skip(RuleId.TRACKED_BUT_IGNORED, "", "not a git repository: nothing is tracked")
    paths = [p for p in index.tracked_ignored if p not in checker.claimed]
    matches = index.ignore_matches(paths)
    for path in paths:
        match = matches.get(path)
        ignore_rule = f"{match.source}:{match.line} ('{match.pattern}')" if match else "an ignore rule"
        checker.add(RuleId.TRACKED_BUT_IGNORED, "", path, f"is tracked although {ignore_rule} ignores it",
                    f"{checker.remove_command([path], cached=True)}   # keeps it on disk, removes it from the index "
                    "only; if it should not be in git\n"
                    f"or narrow the rule at {ignore_rule} if the file belongs in the repo", claim=[path])


# -- files that do not belong ---------------------------------------------------------------

def check_forbidden(checker: Checker, forbidden: ForbiddenRule) -> None:
    """No production file matches the forbidden patterns (debug scripts, editor leftovers)."""
    patterns = Patterns(forbidden.patterns)
    for path in checker.backend_files():
        if not checker.is_production(path) or not patterns.match(checker.index.backend_rel(path) or ""):
            continue
        if forbidden.move_to:
            fix = (checker.move_command(path, checker.index.rel(forbidden.move_to))
                   + f"   # or, if nothing needs it: {checker.remove_command([path])} (deletes the file; git "
                     "history keeps it)")
        else:
            fix = checker.remove_command([path], cached=True) + "   # keeps it on disk; delete it if unneeded"
        checker.add(RuleId.FORBIDDEN, forbidden.name, path,
                    f"is {_article(forbidden.why)} {forbidden.why} (matches {', '.join(forbidden.patterns)})",
                    fix, phase=forbidden.phase, claim=[path])


def _article(phrase: str) -> str:
    """"a" or "an" for a phrase from the spec ("an editor or merge leftover")."""
    return "an" if phrase[:1].lower() in "aeiou" else "a"


def check_node_only_in_workers(checker: Checker) -> None:
    """Node.js files, tracked node_modules/ and node_modules/ on disk only under workers."""
    index = checker.index
    node = Patterns(NODE_FILES)
    modules_dirs: dict[str, list[str]] = defaultdict(list)
    workers = checker.shown_dir(checker.spec.workers)
    for path in checker.backend_files():
        rel = index.backend_rel(path) or ""
        if checker.under_workers(path) or checker.node_exempt.match(rel):
            continue
        if "node_modules/" in f"/{rel}/":
            top = path[: path.index("node_modules") + len("node_modules")]
            modules_dirs[top].append(path)
        elif node.match(rel):
            fix = checker.move_command(path, posixpath.dirname(posixpath.join(checker.workers, rel)))
            checker.add(RuleId.NODE_ONLY_IN_WORKERS, "", path,
                        f"is a Node.js file outside {workers}; the plan keeps Node.js only under workers", fix,
                        claim=[path])
    for top, files in sorted(modules_dirs.items()):
        fix = checker.remove_command([top], cached=True, recursive=True) + \
            "   # keeps the files on disk, removes them from the index only" + f"\necho 'node_modules/' >> " \
              f"{quote(_gitignore_for(checker, index.prefix)[0])}"
        checker.add(RuleId.NODE_ONLY_IN_WORKERS, "", f"{top}/",
                    f"holds {len(files)} tracked files; node_modules/ is never committed and lives only under "
                    f"{workers} (npm ci recreates it)", fix, claim=files)
    for top in index.ignored_dirs:
        if posixpath.basename(top) == "node_modules" and not checker.under_workers(top) \
                and index.backend_rel(top) is not None:
            checker.add(RuleId.NODE_ONLY_IN_WORKERS, "", f"{top}/",
                        f"exists on disk (ignored, not in git); the plan recreates node_modules/ only in {workers}",
                        f"rm -rf {quote(top)}   # deletes this ignored copy only, npm ci recreates it under "
                        f"workers; then: cd {quote(checker.workers)} && npm ci", severity="warning")


def check_no_python_in_workers(checker: Checker) -> None:
    """The workers dir holds Node.js only: no Python files, no extensionless Python scripts."""
    python = Patterns(PYTHON_FILES)
    workers = checker.workers
    for path in checker.index.under(workers):
        rel = path[len(workers) + 1 :]
        if path in checker.claimed or "node_modules/" in f"/{rel}":
            continue
        if not python.match(rel) and not (posixpath.splitext(rel)[1] == "" and _python_shebang(checker, path)):
            continue
        target = checker.index.rel("scripts")
        checker.add(RuleId.NO_PYTHON_IN_WORKERS, "", path,
                    f"is a Python file inside {checker.shown_dir(checker.spec.workers)}, which holds Node.js only",
                    checker.move_command(path, target) + "   # or into the package it belongs to", claim=[path])


def _python_shebang(checker: Checker, path: str) -> bool:
    """A script without an extension that runs under Python (`#!/usr/bin/env python3`)."""
    if checker.index.link_out(path) is not None:
        return False
    first = checker.look("first_line", path)
    return first is not None and first.startswith(b"#!") and b"python" in first
