"""The Node.js workers (plan phase 2, "Telegram bots function properly"): what their checks share.

Four checks, all free of pytest (tests/startup/test_workers.py only wires fixtures to them):

- nodejs.py, `check_syntax`: `node --check` on every tracked .js/.mjs/.cjs under the workers dir;
- requires.py, `check_requires`: the scripts' relative requires and imports resolve;
- packages.py, `check_packages`: every package.json under workers: its scripts and main point
  at files a fresh clone has, its dependencies are locked (lockfile.py: package-lock.json in
  sync) and installed (node_modules). The only check of package.json scripts;
- message_roundtrip.py, `check_worker`: boots the backend (migrations first) in the sandbox, starts the
  fake Telegram Bot API and the worker under the Node.js network guard (proc/nodeguard.py: requests
  for api.telegram.org go to the fake whatever library made them, other hosts are refused and
  named), sends one user message through getUpdates to every bot that polls, waits for each
  reply at sendMessage, then SIGTERMs the worker: it must exit within its grace and leave no
  process it started behind (ManagedProcess.terminate finds them, in its group or not).
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import Any

from conformance.model.findings import Finding
from conformance.repo.index import RepoIndex
from conformance.model.rules import RuleId, rule
from conformance.model.spec import Spec


def worker_finding(spec: Spec, rule_id: RuleId, path: str, message: str, fix: str, *, subject: str = "",
                   line: int | None = None) -> Finding:
    """A finding of a workers rule at the spec's phase for it."""
    return rule(rule_id).finding(path, message, fix, subject=subject, line=line, phase=spec.phase_of(rule_id))


def workers_dir(index: RepoIndex, spec: Spec) -> str:
    """The workers dir, repo-relative."""
    return index.rel(spec.workers).rstrip("/")


def in_node_modules(path: str) -> bool:
    """Vendored by npm: never checked, never suggested."""
    return "node_modules" in PurePosixPath(path).parts


def read_json(index: RepoIndex, path: str) -> tuple[Any, str, str | None]:
    """(data, text, error) of a JSON file of the repo."""
    try:
        text = (index.root / path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, "", f"cannot be read: {exc}"
    try:
        return json.loads(text), text, None
    except json.JSONDecodeError as exc:
        return None, text, f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"


def line_of(text: str, needle: str) -> int | None:
    """The first line that contains `needle` (a JSON key), for path:line locations."""
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return number
    return None
