"""Node.js for the workers: is a recent enough node on this machine, and does every worker
script parse (`node --check`, rule `workers_syntax`)."""

from __future__ import annotations

import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from shlex import quote

from conformance.model.rules import RuleId
from conformance.proc.childenv import child_env
from conformance.model.findings import CheckResult, Finding
from conformance.proc.processes import ProcessTimeout, run
from conformance.repo.index import RepoIndex
from conformance.model.spec import Spec
from conformance.checks.workers.common import in_node_modules, worker_finding, workers_dir

MIN_NODE = 20
NODE_MISSING = f"node is not on PATH: install Node.js >= {MIN_NODE} (the workers need it)"
JS_SUFFIXES = (".js", ".mjs", ".cjs")


def node_problem(path: str | None = None) -> str | None:
    """Why the workers cannot run on this machine (node missing or too old), or None.

    `path` is the PATH to search (default: this process's, which children inherit).
    """
    search = os.environ.get("PATH", os.defpath) if path is None else path
    node = shutil.which("node", path=search)
    if node is None:
        return NODE_MISSING
    try:
        done = run([node, "--version"], env=child_env({"PATH": search}), timeout=30)
    except (OSError, ProcessTimeout) as exc:
        return f"{node} --version failed ({exc}): install Node.js >= {MIN_NODE} (the workers need it)"
    version = done.text.strip()
    match = re.match(r"v?(\d+)\.", version)
    if done.returncode != 0 or not match:
        return f"{node} --version answered {version or done.error_text!r}: install Node.js >= {MIN_NODE}"
    if int(match.group(1)) < MIN_NODE:
        return f"node {version} ({node}) is too old: install Node.js >= {MIN_NODE} (the workers need it)"
    return None


def js_files(index: RepoIndex, spec: Spec) -> list[str]:
    """Tracked JavaScript files under the workers dir (vendored node_modules excluded)."""
    return [p for p in index.under(workers_dir(index, spec))
            if p.endswith(JS_SUFFIXES) and not in_node_modules(p)]


def check_syntax(index: RepoIndex, spec: Spec, node: str = "node", timeout: float = 60.0) -> CheckResult:
    """`node --check` every tracked worker script; one finding per file that does not parse."""
    files = js_files(index, spec)
    env = child_env()

    def check(path: str) -> Finding | None:
        try:
            done = run([node, "--check", str(index.root / path)], cwd=index.root, env=env, timeout=timeout)
        except ProcessTimeout:
            return worker_finding(spec, RuleId.WORKERS_SYNTAX, path,
                                  f"was not checked: node --check took over {timeout:g}s",
                                  f"node --check {quote(path)}")
        if done.returncode == 0:
            return None
        line, detail = parse_node_error(done.error_text or done.text, index.root / path)
        return worker_finding(spec, RuleId.WORKERS_SYNTAX, path, f"does not parse: {detail}",
                              f"node --check {quote(path)}   # fix the error it reports, then re-run", line=line)

    with ThreadPoolExecutor(max_workers=max(1, min(8, len(files)))) as pool:
        found = [f for f in pool.map(check, files) if f is not None]
    return CheckResult(found)


def parse_node_error(output: str, file: Path) -> tuple[int | None, str]:
    """(line, "SyntaxError: ..." plus the offending source line and caret) from node's stderr."""
    lines = output.splitlines()
    line_no: int | None = None
    source: list[str] = []
    for i, text in enumerate(lines):
        match = re.match(r"^(.*):(\d+)$", text)
        if match and (match.group(1) == str(file) or match.group(1).endswith(file.name)):
            line_no = int(match.group(2))
            source = [s for s in lines[i + 1:i + 3] if s.strip()]
            break
    error = next((t.strip() for t in lines if re.match(r"^\s*\w*(Error|Exception)\b.*:", t)), None)
    if error is None:
        error = next((t.strip() for t in lines if t.strip()), "node --check failed without a message")
    detail = error
    if source:
        detail += "\n" + "\n".join("    " + s for s in source)
    return line_no, detail
