"""Relative requires and imports of the worker scripts resolve (rule `workers_syntax`).

A move of the Node.js files (plan phase 2) leaves `require('../../worker/bot_worker')` behind
as easily as a Python import; node only fails when that line runs. Resolution follows Node's
rules for relative specifiers (the file, the file plus .js/.cjs/.mjs/.json/.node, a directory's
index file or package.json main), over the files git tracks, so it needs no node_modules.
"""

from __future__ import annotations

import json
import posixpath
import re

from conformance.model.rules import RuleId
from conformance.model.findings import CheckResult, Finding
from conformance.repo.index import RepoIndex
from conformance.model.spec import Spec
from conformance.checks.workers.common import worker_finding

SPECIFIER = re.compile(
    r"""(?:\brequire\s*\(\s*|\bimport\s*\(\s*|\bfrom\s+|^\s*import\s+)(['"])(\.{1,2}/[^'"]*|\.{1,2})\1""")
EXTENSIONS = ("", ".js", ".cjs", ".mjs", ".json", ".node")
INDEXES = ("index.js", "index.cjs", "index.mjs", "index.json")


def check_requires(index: RepoIndex, spec: Spec, files: list[str]) -> CheckResult:
    """One finding per relative require/import (of the given worker scripts) that resolves to no
    tracked file, with where a file of that name lives now when there is one."""
    findings: list[Finding] = []
    for path in files:
        try:
            text = (index.root / path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue  # node --check reports an unreadable file
        for number, line in enumerate(text.splitlines(), start=1):
            if line.lstrip().startswith(("//", "*", "/*")):
                continue
            for match in SPECIFIER.finditer(line):
                specifier = match.group(2)
                if resolve(index, posixpath.dirname(path), specifier) is None:
                    findings.append(_dead_require(index, spec, path, number, specifier))
    return CheckResult(findings)


def resolve(index: RepoIndex, directory: str, specifier: str) -> str | None:
    """The tracked file a relative specifier loads from `directory`, by Node's rules, or None."""
    base = posixpath.normpath(posixpath.join(directory, specifier))
    files = index.files
    for suffix in EXTENSIONS:
        if base + suffix in files:
            return base + suffix
    manifest = f"{base}/package.json"
    if manifest in files:
        try:
            main = json.loads((index.root / manifest).read_text(encoding="utf-8")).get("main")
        except (OSError, ValueError, AttributeError):
            main = None
        if isinstance(main, str) and (found := resolve(index, base, "./" + main.removeprefix("./"))):
            return found
    return next((f"{base}/{name}" for name in INDEXES if f"{base}/{name}" in files), None)


def _dead_require(index: RepoIndex, spec: Spec, path: str, line: int, specifier: str) -> Finding:
    directory = posixpath.dirname(path)
    wanted = posixpath.basename(posixpath.normpath(posixpath.join(directory, specifier)))
    candidates = sorted(f for f in index.repository_files
                        if posixpath.splitext(posixpath.basename(f))[0] == posixpath.splitext(wanted)[0]
                        and f.endswith((".js", ".cjs", ".mjs", ".json")) and "node_modules/" not in f"/{f}"
                        and f != path)
    if len(candidates) == 1:
        target = posixpath.splitext(candidates[0])[0] if not wanted.endswith((".js", ".cjs", ".mjs", ".json")) \
            else candidates[0]
        relative = posixpath.relpath(target, directory)
        relative = relative if relative.startswith("..") else f"./{relative}"
        fix = f"it moved to {candidates[0]}: require('{relative}')"
    elif candidates:
        fix = f"point it at the file you mean: {', '.join(candidates[:3])}"
    else:
        fix = "fix the path, or restore the file it names"
    return worker_finding(spec, RuleId.WORKERS_SYNTAX, path,
                          f"requires '{specifier}', which resolves to no file (node fails when this line runs)",
                          fix, line=line)
