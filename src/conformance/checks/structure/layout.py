"""The target structure: required directories, packages with __init__.py, what may sit in the
backend root (files and dirs), and no module beside a package of the same name."""

from __future__ import annotations

import fnmatch
import posixpath
from collections import defaultdict

from conformance.checks.structure.checker import Checker, quote
from conformance.model.rules import RuleId
from conformance.model.spec import DirRule


# -- modules beside packages ----------------------------------------------------------------

def check_module_package_clash(checker: Checker) -> None:
    """No `x.py` beside a directory `x/`: one of the two is unreachable."""
    index = checker.index
    for path in checker.backend_files():
        if not path.endswith(".py") or not index.is_dir(path[:-3]):
            continue
        package = path[:-3]
        init = f"{package}/__init__.py"
        mover = "git mv" if index.is_git else "mv"
        if init in index.files:
            message = (f"sits beside the package {package}/: Python always imports the package, so this "
                       "module is dead code or imported by a path hack")
            if _is_empty_module(checker, init):  # the package adds nothing of its own: the module becomes it
                fix = (f"{checker.remove_command([init])} && {mover} {quote(path)} {quote(init)}"
                       "   # deletes the empty __init__.py, then this module's code takes its place, history kept")
            else:
                fix = (f"merge what {path} defines into {init} (importers get the package), then: "
                       f"{checker.remove_command([path])}   # deletes this module: do it only after the merge")
        else:
            message = (f"sits beside {package}/, which has no __init__.py: `import "
                       f"{posixpath.basename(package)}` loads this module and the directory is unreachable")
            fix = f"{mover} {quote(path)} {quote(init)}   # one package, history kept"
        checker.add(RuleId.MODULE_PACKAGE_CLASH, "", path, message, fix, claim=[path])


def _is_empty_module(checker: Checker, path: str) -> bool:
    """Only blank lines and comments: nothing anyone imports from it."""
    return checker.look("blank_module", path) is True


# -- the backend root -----------------------------------------------------------------------

def check_root_files(checker: Checker) -> None:
    """Files in the backend root match the spec's root allowlist, and are not too many."""
    index, spec = checker.index, checker.spec
    allowed = spec.root_allow
    root_files = [p for p in index.backend_files() if "/" not in (index.backend_rel(p) or "/")]
    remaining = [p for p in root_files if p not in checker.claimed]
    shown_allow = ", ".join(allowed)
    for path in remaining:
        name = posixpath.basename(path)
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in allowed):
            continue
        checker.add(RuleId.ROOT_FILES, "", path,
                    f"is in the backend root, which the plan keeps to: {shown_allow}",
                    _root_fix(checker, path), claim=[path])
    kept = [p for p in remaining if p not in checker.claimed]
    if len(kept) > spec.max_root_files:
        checker.add(RuleId.ROOT_FILE_COUNT, "", f"{index.prefix or '.'}/",
                    f"holds {len(kept)} files in its root, more than max_root_files = {spec.max_root_files}: "
                    + ", ".join(posixpath.basename(p) for p in kept),
                    "move files into the package they belong to, or raise max_root_files in the spec")


def _root_fix(checker: Checker, path: str) -> str:
    name = posixpath.basename(path)
    if name.endswith((".py", ".sh")):
        return checker.move_command(path, checker.index.rel("scripts/maintenance")) + \
            "   # or the scripts/ dir it belongs to; or add it to [tool.conformance.root] allow"
    return f"{checker.remove_command([path])}   # deletes it, if nothing needs it; or move it where it belongs; " \
           "or add it to [tool.conformance.root] allow"


def check_root_dirs(checker: Checker) -> None:
    """Top-level dirs of the backend are planned ones or in the spec's allow_dirs."""
    spec = checker.spec
    planned = {d.path.split("/")[0] for d in spec.dirs if not d.path.startswith("//")}
    allowed = planned | set(spec.root_allow_dirs)
    if spec.workers and not spec.workers.startswith("//"):
        allowed.add(spec.workers.split("/")[0])
    by_dir: dict[str, list[str]] = defaultdict(list)
    for path in checker.backend_files():
        rel = checker.index.backend_rel(path) or ""
        top = rel.split("/")[0]
        if "/" in rel and top not in allowed and not top.startswith("."):
            by_dir[top].append(path)
    planned_list = ", ".join(sorted(allowed))
    for top, files in sorted(by_dir.items()):
        where = checker.index.rel(top)
        checker.add(RuleId.ROOT_DIRS, "", f"{where}/",
                    f"is not in the plan's target structure ({len(files)} files); the plan's backend root holds "
                    f"only: {planned_list}",
                    f"move its files into the planned directories (e.g. git mv {quote(files[0])} ...), or add "
                    f'"{top}" to [tool.conformance.root] allow_dirs', claim=files)


# -- target structure -----------------------------------------------------------------------

def check_required_dir(checker: Checker, dir_rule: DirRule) -> None:
    """The planned directory exists and git tracks something in it."""
    index = checker.index
    path = index.rel(dir_rule.path)
    if index.is_dir(path):
        return
    placeholder = f"{path}/{'__init__.py' if dir_rule.package else '.gitkeep'}"
    add = f" && git add {quote(placeholder)}" if index.is_git else ""
    fix = f"mkdir -p {quote(path)} && touch {quote(placeholder)}{add}"
    link, directory, entries, has_init = checker.look("dir_state", path)
    if path in index.files or link:
        # never look through a link: its target may lie outside the backend
        target = index.link_out(path)
        state = (f"is a symlink to {target}, outside the backend (not followed), not a directory" if target
                 else "is a symlink, not a directory" if link else "is a file, not a directory")
        remove = checker.remove_command([path]) if path in index.files else f"rm {quote(path)}"
        what = "link (its target stays)" if link else "file (move its content elsewhere first)"
        fix = f"{remove}   # deletes the {what} that stands where the directory belongs\n{fix}"
    elif directory and entries and index.is_git:
        state = "exists on disk but none of its files is tracked by git"
        fix = f"git add {quote(path)}" if has_init or not dir_rule.package else \
            f"touch {quote(placeholder)} && git add {quote(path)}"
    elif directory:
        state = "exists on disk but is empty (git keeps no empty directory)"
    elif dir_rule.path.split("/")[0] in checker.kept_outside:
        top = dir_rule.path.split("/")[0]
        if dir_rule.path != top:
            return checker.skip(RuleId.REQUIRED_DIR, dir_rule.path,
                                f"{top}/ is kept beside the backend, at the repository root: "
                                f"see test_required_dir[{top}]")
        state = (f"is missing from the backend, but {top}/ exists at the repository root (so do the plan's "
                 "dirs and moved files under it)")
        workers = f'workers = "//{top}", ' if top == checker.spec.workers.split("/")[0] else ""
        fix = (f"if the project keeps {top}/ beside the backend on purpose, point the spec at it: {workers}"
               f'and "//{top}/..." for the dirs and move destinations under it (// is the repository root); '
               f"else move it into the backend: git mv {quote(top)} {quote(path)}")
    else:
        state = "is missing"
    checker.add(RuleId.REQUIRED_DIR, dir_rule.path, f"{path}/",
                f"{state}; the plan's target structure has /{dir_rule.path.lstrip('/')}/ ({dir_rule.purpose})", fix,
                phase=dir_rule.phase)


def check_package_dir(checker: Checker, dir_rule: DirRule) -> None:
    """A planned package has an __init__.py (not a namespace package)."""
    index = checker.index
    path = index.rel(dir_rule.path)
    if not index.is_dir(path):
        return checker.skip(RuleId.PACKAGE_DIR, dir_rule.path,
                            f"{path}/ is missing (see test_required_dir[{dir_rule.path}])")
    init = f"{path}/__init__.py"
    if init in index.files:
        return
    add = f" && git add {quote(init)}" if index.is_git else ""
    checker.add(RuleId.PACKAGE_DIR, dir_rule.path, f"{path}/",
                "has no __init__.py: it is a namespace package, so imports resolve differently depending on "
                "sys.path and tools like import-linter cannot see it",
                f"touch {quote(init)}{add}")
