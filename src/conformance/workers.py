"""The Node.js workers: syntax, package manifests, and a real run against a fake Telegram API.

Plan success criterion "Telegram bots function properly" (phase 2). Three checks, all free of
pytest (the tests in tests/startup/test_workers.py only wire fixtures to them):

- `check_syntax`: `node --check` on every tracked .js/.mjs/.cjs under the workers dir;
- `check_packages`: every package.json under workers: its scripts and main point at files a
  fresh clone has, its dependencies are locked (package-lock.json in sync) and installed
  (node_modules). The only check of package.json scripts (deploy does not repeat it);
- `check_worker`: boots the backend (migrations first) in the sandbox, starts the fake Telegram
  Bot API and the worker, sends one user message through getUpdates, waits for the reply at
  sendMessage, then SIGTERMs the worker: it must exit within its grace and leave no process it
  started behind (ManagedProcess.terminate finds them, in its group or not).
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shlex
import shutil
import string
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from conformance.appserver import is_ok, poll_until_ok, serve_app
from conformance.childenv import child_env
from conformance.fake_telegram import FakeTelegram
from conformance.findings import CheckResult, Finding
from conformance.processes import ManagedProcess, ProcessTimeout, free_port, run
from conformance.repo import RepoIndex
from conformance.rules import RULES
from conformance.sandbox import PlaceholderError, expand, expand_env
from conformance.shellrefs import Ref, ShellScan, join_path, shell_references
from conformance.spec import Spec, WorkerSpec
from conformance.trackedtree import Missing, TrackedTree, missing_references

MIN_NODE = 20
NODE_MISSING = f"node is not on PATH: install Node.js >= {MIN_NODE} (the workers need it)"
JS_SUFFIXES = (".js", ".mjs", ".cjs")
DEP_SECTIONS = ("dependencies", "devDependencies", "optionalDependencies")
OTHER_LOCKS = ("yarn.lock", "pnpm-lock.yaml", "bun.lockb", "bun.lock")
# The message the functional check sends as a Telegram user.
TEST_CHAT_ID = 424242
TEST_USER_ID = 424242
TEST_TEXT = "Hello from the conformance suite"
TAIL_LINES = 25


def _finding(spec: Spec, rule: str, path: str, message: str, fix: str, *, subject: str = "",
             line: int | None = None) -> Finding:
    return Finding(rule=rule, path=path, message=message, fix=fix, subject=subject, line=line,
                   plan=RULES[rule].plan, phase=spec.phase_of(rule))


def _q(path: str) -> str:
    return shlex.quote(path)


def _workers_dir(index: RepoIndex, spec: Spec) -> str:
    return index.rel(spec.workers).rstrip("/")


def _in_node_modules(path: str) -> bool:
    return "node_modules" in PurePosixPath(path).parts


# --------------------------------------------------------------------------------------------
# node itself
# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
# workers_syntax
# --------------------------------------------------------------------------------------------
def js_files(index: RepoIndex, spec: Spec) -> list[str]:
    """Tracked JavaScript files under the workers dir (vendored node_modules excluded)."""
    return [p for p in index.under(_workers_dir(index, spec))
            if p.endswith(JS_SUFFIXES) and not _in_node_modules(p)]


def check_syntax(index: RepoIndex, spec: Spec, node: str = "node", timeout: float = 60.0) -> CheckResult:
    """`node --check` every tracked worker script; one finding per file that does not parse."""
    files = js_files(index, spec)
    env = child_env()

    def check(path: str) -> Finding | None:
        try:
            done = run([node, "--check", str(index.root / path)], cwd=index.root, env=env, timeout=timeout)
        except ProcessTimeout:
            return _finding(spec, "workers_syntax", path, f"was not checked: node --check took over {timeout:g}s",
                            f"node --check {_q(path)}")
        if done.returncode == 0:
            return None
        line, detail = parse_node_error(done.error_text or done.text, index.root / path)
        return _finding(spec, "workers_syntax", path, f"does not parse: {detail}",
                        f"node --check {_q(path)}   # fix the error it reports, then re-run", line=line)

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


# --------------------------------------------------------------------------------------------
# workers_packages
# --------------------------------------------------------------------------------------------
def check_packages(index: RepoIndex, spec: Spec) -> CheckResult:
    """Every tracked package.json under the workers dir: scripts, lock file, installed modules."""
    workers = _workers_dir(index, spec)
    manifests = [p for p in index.under(workers)
                 if posixpath.basename(p) == "package.json" and not _in_node_modules(p)]
    findings: list[Finding] = []
    for manifest in manifests:
        findings.extend(_check_package(index, spec, workers, manifest))
    return CheckResult(findings)


def _read_json(index: RepoIndex, path: str) -> tuple[Any, str, str | None]:
    """(data, text, error) of a JSON file of the repo."""
    try:
        text = (index.root / path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, "", f"cannot be read: {exc}"
    try:
        return json.loads(text), text, None
    except json.JSONDecodeError as exc:
        return None, text, f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"


def _line_of(text: str, needle: str) -> int | None:
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return number
    return None


def _check_package(index: RepoIndex, spec: Spec, workers: str, manifest: str) -> list[Finding]:
    rule = "workers_packages"
    pkg_dir = posixpath.dirname(manifest)
    data, text, error = _read_json(index, manifest)
    if error is not None:
        return [_finding(spec, rule, manifest, error, f"fix {manifest}, then: cd {_q(pkg_dir)} && npm install")]
    if not isinstance(data, dict):
        return [_finding(spec, rule, manifest, "is not a JSON object", f"fix {manifest}")]
    findings = _check_scripts(index, spec, workers, manifest, data, text)
    sections = {name: data.get(name) for name in DEP_SECTIONS}
    bad = [name for name, value in sections.items() if value is not None and not isinstance(value, dict)]
    for name in bad:
        findings.append(_finding(spec, rule, manifest, f'has a "{name}" that is not an object',
                                 f"fix {manifest}", line=_line_of(text, f'"{name}"')))
    declared = {name: value for name, value in sections.items() if isinstance(value, dict) and value}
    findings.extend(_check_lock(index, spec, workers, manifest, data, declared))
    findings.extend(_check_installed(index, spec, manifest, declared.get("dependencies", {})))
    return findings


def _check_scripts(index: RepoIndex, spec: Spec, workers: str, manifest: str, data: dict[str, Any],
                   text: str) -> list[Finding]:
    """The files a package's `scripts` and `main` name exist in a fresh clone. Scripts are read by
    the start script's shell-reference scanner (cd, skipped tools, options with paths)."""
    pkg_dir = posixpath.dirname(manifest)
    scripts = data.get("scripts") or {}
    if not isinstance(scripts, dict):
        return [_finding(spec, "workers_packages", manifest, '"scripts" is not an object', f"fix {manifest}")]
    named: list[tuple[str, int | None, ShellScan]] = []  # (what names the paths, its line, the paths)
    for name, command in scripts.items():
        if isinstance(command, str):
            line = _line_of(text, f'"{name}"')
            named.append((f'script "{name}" ({command})', line, shell_references(command, cwd=pkg_dir,
                                                                                 first_line=line or 1)))
    main = data.get("main")
    if isinstance(main, str) and main:
        line = _line_of(text, '"main"')
        named.append((f'"main" ({main})', line, ShellScan([Ref(line or 1, main, join_path(pkg_dir, main))])))
    tree = TrackedTree.for_spec(index, spec)
    return [_missing_file(index, spec, workers, manifest, what, line, missing)
            for what, line, scan in named for missing in missing_references(scan, tree)]


def _missing_file(index: RepoIndex, spec: Spec, workers: str, manifest: str, what: str, line: int | None,
                  missing: Missing) -> Finding:
    """A file a package names that a fresh clone lacks: untracked, or gone (with its new place when
    a worker file of that name exists)."""
    rule = "workers_packages"
    target, word = missing.tried, missing.ref.word
    if (index.root / target).exists():
        return _finding(spec, rule, manifest, f"{what} uses {target}, which is not tracked by git "
                        "(a fresh clone lacks it)", f"git add -- {_q(target)}", line=line)
    pkg_dir = posixpath.dirname(manifest)
    candidates = [p for p in index.under(workers)
                  if posixpath.basename(p) == posixpath.basename(word) and not _in_node_modules(p)]
    if candidates:
        fix = f"edit {manifest}: {word} -> {posixpath.relpath(candidates[0], pkg_dir or '.')}"
    else:
        fix = f"edit {manifest}: point {what.split(' (')[0]} at an existing file"
    return _finding(spec, rule, manifest, f"{what} uses {target}, which does not exist", fix, line=line)


def _find_lock(index: RepoIndex, workers: str, pkg_dir: str) -> tuple[str | None, str | None]:
    """(npm lock path, other lock path) for the package: beside it or in an enclosing workspace root."""
    current = pkg_dir
    while True:
        # A lock above the package only covers it when that dir's package.json has workspaces.
        if current == pkg_dir or _declares_workspaces(index, current):
            found = _lock_in(index, current)
            if found != (None, None):
                return found
        inside = workers == "" or current.startswith(workers + "/")
        if current == workers or not inside:
            return None, None
        current = posixpath.dirname(current)


def _declares_workspaces(index: RepoIndex, directory: str) -> bool:
    data, _text, error = _read_json(index, posixpath.join(directory, "package.json") if directory else "package.json")
    return error is None and isinstance(data, dict) and bool(data.get("workspaces"))


def _lock_in(index: RepoIndex, current: str) -> tuple[str | None, str | None]:
    for name in ("package-lock.json", "npm-shrinkwrap.json"):
        candidate = posixpath.join(current, name) if current else name
        if candidate in index.files or (index.root / candidate).is_file():
            return candidate, None
    for name in OTHER_LOCKS:
        candidate = posixpath.join(current, name) if current else name
        if candidate in index.files:
            return None, candidate
    return None, None


def _check_lock(index: RepoIndex, spec: Spec, workers: str, manifest: str, data: dict[str, Any],
                declared: dict[str, dict[str, Any]]) -> list[Finding]:
    rule = "workers_packages"
    pkg_dir = posixpath.dirname(manifest)
    lock_path, other = _find_lock(index, workers, pkg_dir)
    names = sorted({name for section in declared.values() for name in section})
    shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
    install = f"cd {_q(pkg_dir or '.')} && npm install && git add package-lock.json"
    if other is not None:
        return []  # yarn / pnpm: their lock formats are out of scope; the install check still runs
    if lock_path is None and not declared:
        return []  # nothing to install, nothing to lock
    if lock_path is None:
        return [_finding(spec, rule, manifest, f"declares dependencies ({shown}) but has no package-lock.json, "
                         "so npm ci cannot install them reproducibly", install)]
    if lock_path not in index.files:
        return [_finding(spec, rule, lock_path, "exists on disk but is not tracked by git (a fresh clone "
                         "cannot run npm ci)", f"git add -- {_q(lock_path)}")]
    lock, _text, error = _read_json(index, lock_path)
    if error is not None or not isinstance(lock, dict):
        return [_finding(spec, rule, lock_path, error or "is not a JSON object", install)]
    problems = lock_problems(data, declared, lock, posixpath.relpath(pkg_dir or ".", posixpath.dirname(lock_path)
                                                                     or "."))
    if not problems:
        return []
    listed = "\n".join(f"  - {p}" for p in problems)
    return [_finding(spec, rule, lock_path, f"is out of sync with {manifest} (npm ci will refuse it):\n{listed}",
                     install)]


def lock_problems(package: Mapping[str, Any], declared: Mapping[str, Mapping[str, Any]], lock: Mapping[str, Any],
                  entry_key: str = ".") -> list[str]:
    """How package-lock.json disagrees with package.json: root name/version and declared dependencies."""
    key = "" if entry_key in (".", "") else entry_key
    problems: list[str] = []
    packages = lock.get("packages")
    if isinstance(packages, dict):
        root = packages.get(key)
        if not isinstance(root, dict):
            return [f'the lock has no "packages" entry "{key}" for this package']
        for field in ("name", "version"):
            if key == "" and package.get(field) is not None and root.get(field) != package.get(field):
                problems.append(f"{field}: {package.get(field)!r} in package.json, {root.get(field)!r} in the lock")
        for section in DEP_SECTIONS:
            want = dict(declared.get(section, {}))
            have = root.get(section) if isinstance(root.get(section), dict) else {}
            for name in sorted(set(want) | set(have)):
                if name not in have:
                    problems.append(f"{section}: {name} {want[name]} is not in the lock")
                elif name not in want:
                    problems.append(f"{section}: {name} {have[name]} is in the lock but no longer in package.json")
                elif want[name] != have[name]:
                    problems.append(f"{section}: {name} is {want[name]} in package.json, {have[name]} in the lock")
            for name in sorted(want):
                installed = [f"{key}/node_modules/{name}" if key else f"node_modules/{name}", f"node_modules/{name}"]
                if name in have and not any(p in packages for p in installed):
                    problems.append(f"{section}: the lock does not resolve {name} (no node_modules/{name} entry)")
    else:
        for field in ("name", "version"):
            if package.get(field) is not None and lock.get(field) != package.get(field):
                problems.append(f"{field}: {package.get(field)!r} in package.json, {lock.get(field)!r} in the lock")
        locked = lock.get("dependencies") if isinstance(lock.get("dependencies"), dict) else {}
        for section in DEP_SECTIONS:
            for name, version in sorted(declared.get(section, {}).items()):
                if name not in locked:
                    problems.append(f"{section}: {name} {version} is not in the lock")
    return problems


def _check_installed(index: RepoIndex, spec: Spec, manifest: str, runtime: Mapping[str, Any]) -> list[Finding]:
    """Runtime dependencies must be installed on disk (node resolves them up the directory tree)."""
    if not runtime:
        return []
    pkg_dir = posixpath.dirname(manifest)
    missing = [name for name in sorted(runtime) if not _installed(index.root, pkg_dir, name)]
    if not missing:
        return []
    where = pkg_dir or "."
    shown = ", ".join(missing[:6]) + (", ..." if len(missing) > 6 else "")
    return [_finding(spec, "workers_packages", manifest,
                     f"declares dependencies that are not installed ({shown}): run npm ci in {where}",
                     f"cd {_q(where)} && npm ci")]


def _installed(root: Path, pkg_dir: str, name: str) -> bool:
    current = root / pkg_dir if pkg_dir else root
    while True:
        if (current / "node_modules" / name / "package.json").is_file():
            return True
        if current == root or current.parent == current:
            return False
        current = current.parent


# --------------------------------------------------------------------------------------------
# workers_function
# --------------------------------------------------------------------------------------------
@dataclass
class WorkerRunInputs:
    """Everything check_worker needs, resolved by the caller (pytest glue)."""

    spec: Spec
    worker: WorkerSpec
    sandbox_backend: Path  # the backend root inside the sandbox copy
    sandbox_root: Path  # the repository root inside the sandbox copy (for // paths)
    python: str
    tmp: Path
    database_url: str | None = None


def sandbox_root_of(sandbox_backend: Path, prefix: str) -> Path:
    root = sandbox_backend
    for _ in PurePosixPath(prefix).parts if prefix else ():
        root = root.parent
    return root


def _spec_dir(inputs: WorkerRunInputs, spec_path: str) -> Path:
    if spec_path.startswith("//"):
        return inputs.sandbox_root / spec_path[2:]
    return inputs.sandbox_backend / spec_path if spec_path else inputs.sandbox_backend


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines()) if text.strip() else prefix + "(no output)"


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "worker"


def check_worker(inputs: WorkerRunInputs) -> CheckResult:
    """Run one worker for real; see the module docstring. Every process is reaped on return."""
    spec, worker = inputs.spec, inputs.worker
    rule = "workers_function"
    subject = worker.name
    where = f"worker {worker.name}"
    shown_cmd = " ".join(_q(a) for a in worker.command)

    def fail(message: str, fix: str) -> CheckResult:
        return CheckResult([_finding(spec, rule, where, message, fix, subject=subject)])

    try:
        backend_env = expand_env(spec.test_env, {"tmp": str(inputs.tmp)}, "test_env")
    except PlaceholderError as exc:
        return fail(f"cannot run: {exc}", f"edit {spec.source}")
    if inputs.database_url:
        backend_env["DATABASE_URL"] = inputs.database_url
    in_backend = _cd(inputs.sandbox_backend, inputs.sandbox_root)
    migrated = _migrate(inputs, backend_env)
    if migrated is not None:
        return fail(f"cannot run: the backend's migrations failed (alembic upgrade head):\n{_indent(migrated)}",
                    f"{in_backend}{_q(inputs.python)} -m alembic upgrade head")
    logs = inputs.tmp / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    findings: list[Finding] = []
    with ExitStack() as stack:
        app = stack.enter_context(serve_app(backend=inputs.sandbox_backend, python=inputs.python, app=spec.app,
                                            env=backend_env, log_dir=logs, name="backend"))
        if not app.healthy:
            return fail(f"cannot run: the backend did not answer {spec.app.health_path} within "
                        f"{spec.app.startup_timeout:g}s, and the worker needs it:\n{app.process.tail()}",
                        f"{in_backend}{_q(inputs.python)} -m uvicorn {spec.app.target}")
        telegram = stack.enter_context(FakeTelegram())
        values = {"telegram_url": telegram.url, "backend_url": app.url, "port": str(free_port()),
                  "tmp": str(inputs.tmp), "python": inputs.python, "backend": str(inputs.sandbox_backend)}
        try:
            command = [expand(arg, values, f"worker {worker.name}.command") for arg in worker.command]
            env = expand_env(worker.env, values, f"worker {worker.name}.env")
            ready_url = expand(worker.ready_url, values, f"worker {worker.name}.ready_url") \
                if worker.ready_url else None
        except PlaceholderError as exc:
            return fail(f"has a bad placeholder in the spec: {exc}", f"edit {spec.source}")
        child = child_env(env)
        cwd = _spec_dir(inputs, worker.cwd)
        if os.sep not in command[0] and shutil.which(command[0], path=child.get("PATH", "")) is None:
            message = NODE_MISSING if command[0] == "node" else f"{command[0]} (its command) is not on PATH"
            return fail(f"cannot start: {message}", f"install {command[0]}, or fix worker.command in {spec.source}")
        try:
            process = ManagedProcess(command, cwd=cwd, env=child, name=f"worker-{_safe_name(worker.name)}",
                                     log_dir=logs)
        except OSError as exc:
            return fail(f"cannot start {shown_cmd} in {cwd}: {exc}", f"fix worker.command / cwd in {spec.source}")
        stack.enter_context(process)
        reproduce = _reproduce(cwd, inputs.sandbox_root, worker.command, worker.env)
        findings += _exercise(spec, worker, process, telegram, app, ready_url, reproduce, where)
        findings += _stop(spec, worker, process, where, output_shown=bool(findings))
    return CheckResult(findings)


def _reproduce(cwd: Path, sandbox_root: Path, command: Iterable[str], env: Mapping[str, str]) -> str:
    """A command line a developer can run from the repository root to watch the worker; the
    spec's placeholders become shell variables ({telegram_url} -> "$TELEGRAM_URL")."""
    assignments = " ".join(f"{k}={shell_template(v)}" for k, v in env.items())
    return f"{_cd(cwd, sandbox_root)}{assignments + ' ' if assignments else ''}{' '.join(shell_template(a) for a in command)}"


def _cd(directory: Path, sandbox_root: Path) -> str:
    """`cd <dir> && ` with the sandbox dir shown as its place in the repository."""
    try:
        rel = directory.relative_to(sandbox_root).as_posix()
    except ValueError:
        rel = str(directory)
    return f"cd {_q(rel)} && " if rel not in ("", ".") else ""


def shell_template(template: str) -> str:
    """A spec value as a shell word, its {placeholders} as variables: "{backend_url}/x" -> "$BACKEND_URL/x"."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError:
        return _q(template)
    if all(field is None for _literal, field, _spec, _conv in parts):
        return _q(template)
    word = ""
    for literal, field, _spec, _conv in parts:
        word += re.sub(r'(["\\$`])', r"\\\1", literal)
        if field is not None:
            word += "${" + re.sub(r"\W", "_", field).upper() + "}"
    return f'"{word}"'


def _migrate(inputs: WorkerRunInputs, env: Mapping[str, str]) -> str | None:
    """alembic upgrade head in the sandbox when the backend has alembic; the error output or None."""
    config = inputs.spec.migrations.config
    if not (_spec_dir(inputs, config)).is_file():
        return None
    argv = [inputs.python, "-m", "alembic", "-c", str(_spec_dir(inputs, config)), "upgrade", "head"]
    try:
        done = run(argv, cwd=inputs.sandbox_backend, env=child_env(env, python_path=[inputs.sandbox_backend]),
                   timeout=inputs.spec.migrations.timeout)
    except ProcessTimeout as exc:
        return f"{exc}\n{exc.output.decode('utf-8', 'replace')[-4000:]}"
    if done.returncode != 0:
        text = (done.error_text + "\n" + done.text).strip()
        return "\n".join(text.splitlines()[-TAIL_LINES:])
    return None


def _exercise(spec: Spec, worker: WorkerSpec, process: ManagedProcess, telegram: FakeTelegram, app: Any,
              ready_url: str | None, reproduce: str, where: str) -> list[Finding]:
    """Readiness, then one message in and its reply out."""
    rule = "workers_function"

    def finding(message: str, fix: str = reproduce) -> list[Finding]:
        return [_finding(spec, rule, where, message, fix, subject=worker.name)]

    waiting_for = []
    if worker.ready_log:
        waiting_for.append(f"{worker.ready_log!r} in its output")
    if ready_url:
        waiting_for.append(f"{ready_url} to answer 200")
    deadline = time.monotonic() + worker.ready_timeout
    ready = True
    if worker.ready_log:
        ready = process.wait_for_output(worker.ready_log, worker.ready_timeout)
    if ready and ready_url:
        remaining = max(deadline - time.monotonic(), 0.1)
        ready = is_ok(poll_until_ok(process, ready_url, remaining))
    if not ready:
        if not process.running:
            return finding(f"exited with code {process.exit_code} before it became ready (waiting for "
                           f"{' and '.join(waiting_for)}); its last output:\n{process.tail()}")
        return finding(f"did not become ready within {worker.ready_timeout:g}s (waiting for "
                       f"{' and '.join(waiting_for)}); its last output:\n{process.tail()}")

    poll = telegram.wait_for_call("getUpdates", worker.reply_timeout)
    if poll is None:
        return finding(f"became ready but did not poll getUpdates on the fake Telegram API ({telegram.url}) within "
                       f"{worker.reply_timeout:g}s; {telegram.summary()}; is the Bot API base URL taken from the "
                       f"environment?\n  its last output:\n{process.tail()}")
    telegram.queue_message(poll.token, TEST_CHAT_ID, TEST_USER_ID, TEST_TEXT)
    sent = telegram.wait_for_sent(lambda m: m["token"] == poll.token and m["chat_id"] == TEST_CHAT_ID,
                                  worker.reply_timeout)
    if sent is None:
        return finding(f"did not answer a Telegram message within {worker.reply_timeout:g}s: no sendMessage to chat "
                       f"{TEST_CHAT_ID} for the bot that polled; {telegram.summary()}\n"
                       f"  its last output:\n{process.tail()}\n"
                       f"  the backend's last output:\n{app.process.tail(lines=10)}")
    return []


def _stop(spec: Spec, worker: WorkerSpec, process: ManagedProcess, where: str,
          output_shown: bool = False) -> list[Finding]:
    """SIGTERM the worker: it must exit within stop_grace and take every process it started along."""
    rule = "workers_function"
    crashed = not process.running
    since = process.output_mark() if output_shown else (0, 0)
    stop = process.terminate(worker.stop_grace)
    findings: list[Finding] = []
    tail = process.tail(since=since)
    tail_label = "its output after SIGTERM" if output_shown else "its last output"
    if crashed:
        findings.append(_finding(spec, rule, where, f"exited by itself with code {stop.returncode} before "
                                 f"it was asked to stop; {tail_label}:\n{tail}", "run it by hand and read its "
                                 "output (it must keep running until SIGTERM)", subject=worker.name))
    if not stop.exited_in_time:
        findings.append(_finding(spec, rule, where, f"did not exit within {worker.stop_grace:g}s of SIGTERM (the plan "
                                 f"needs graceful restarts); {tail_label}:\n{tail}",
                                 "handle SIGTERM: stop polling, stop the child workers, then exit",
                                 subject=worker.name))
    if stop.survivors:
        what = "still running" if not stop.exited_in_time \
            else f"left running after it exited ({stop.seconds:.1f}s after SIGTERM)"
        listed = "\n".join(f"    pid {pid} ({command[:200]})" for pid, command in stop.survivors)
        count = "1 process" if len(stop.survivors) == 1 else f"{len(stop.survivors)} processes"
        findings.append(_finding(spec, rule, where, f"had {count} of its group {what}, "
                                 f"killed by the suite:\n{listed}",
                                 "on SIGTERM the master must stop (SIGTERM, then SIGKILL) and wait for every child "
                                 "it forked before it exits", subject=worker.name))
    return findings
