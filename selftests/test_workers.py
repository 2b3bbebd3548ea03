"""The worker checks (tests/startup/test_workers.py) on the reference backend and broken copies of it."""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conformance.runtime.fake_telegram import FakeTelegram
from conformance.checks.workers.nodejs import NODE_MISSING
from conformance.checks.workers.lockfile import lock_problems
from conformance.checks.workers.packages import check_packages
from conformance.repo.index import build_index
from conformance.analysis.shell_paths import shell_references
from conformance.model.spec import Spec
from selftests.builder import make_repo
from selftests.procscan import leftover_processes
from selftests.trees import PROJECT

WORKERS = "backend/workers"
MASTER = f"{WORKERS}/master/scalable_bot_manager.js"
BOT = f"{WORKERS}/telegram/bot_worker.js"
OWN_TESTS = ("test_worker_js_syntax", "test_worker_packages", "test_worker_functions[bot-manager]")

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def edit_json(repo, path: str, change) -> None:
    file = repo.root / path
    data = json.loads(file.read_text(encoding="utf-8"))
    change(data)
    file.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _toml(value) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)  # strings, numbers and lists of strings read the same in TOML


def worker_spec(tmp_path: Path, spec: Spec, repo_root: Path, **worker) -> Path:
    """A spec file for the repo with the project's app settings and one tweaked worker."""
    base = spec.worker_processes[0]
    entry = {"name": base.name, "command": list(base.command), "env": dict(base.env),
             "ready_log": base.ready_log, "ready_timeout": 10, "reply_timeout": 10, "stop_grace": 5, **worker}
    lines = [f"backend = {_toml(str(repo_root / 'backend'))}", f"workers = {_toml(spec.workers)}",
             "[test_env]", *(f"{k} = {_toml(v)}" for k, v in spec.test_env.items()),
             "[app]", f"target = {_toml(spec.app.target)}", f"health_path = {_toml(spec.app.health_path)}",
             "[[worker]]", *(f"{k} = {_toml(v)}" for k, v in entry.items() if v is not None)]
    path = tmp_path / "workers-spec.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def failed_worker_message(run_suite, config: Path) -> str:
    """Run only test_worker_functions with the spec file `config`; it alone must fail. Its message."""
    run = run_suite(None, "--conformance-config", str(config), "-k", "worker_functions", part="startup")
    assert run.failed == {"test_worker_functions[bot-manager]"}, run.output
    return run.messages["test_worker_functions[bot-manager]"]


# -- the reference ----------------------------------------------------------------------------
@needs_node
def test_reference_workers_pass(reference, run_suite):
    run = run_suite(reference.root / "backend", "-k", "worker", part="startup")
    assert {name: run.outcomes.get(name) for name in OWN_TESTS} == dict.fromkeys(OWN_TESTS, "passed"), run.output


# -- workers_syntax ---------------------------------------------------------------------------
@needs_node
def test_syntax_error_is_reported_with_path_and_line(reference, run_suite):
    reference.edit(BOT, "const BACKEND_TIMEOUT_MS = 30_000;", "const BACKEND_TIMEOUT_MS = 30_000 +;")
    reference.write({f"{WORKERS}/telegram/extra.mjs": "export const ok = 1;\n"}).commit("break the bot worker")
    run = run_suite(reference.root / "backend", "-k", "worker_js_syntax", part="startup")
    assert run.failed == {"test_worker_js_syntax"}, run.output
    message = run.messages["test_worker_js_syntax"]
    assert "1 finding:" in message
    assert f"{BOT}:10 does not parse: SyntaxError: Unexpected token ';'" in message
    assert "rule: workers_syntax (phase 2)" in message
    assert f"fix:  node --check {BOT}" in message


# -- workers_packages -------------------------------------------------------------------------
def _add_dependency(data):
    data["dependencies"] = {"left-pad": "^1.3.0"}


def _drop_lock(repo):
    repo.rm(f"{WORKERS}/package-lock.json")


PACKAGE_CASES = {
    "dependency-not-installed": (
        [(f"{WORKERS}/package.json", _add_dependency)], None,
        ["backend/workers/package.json declares dependencies that are not installed (left-pad): "
         "run npm ci in backend/workers", "fix:  cd backend/workers && npm ci",
         "backend/workers/package-lock.json is out of sync with backend/workers/package.json",
         "dependencies: left-pad ^1.3.0 is not in the lock"]),
    "lock-out-of-sync": (
        [(f"{WORKERS}/package.json", lambda d: d.update(version="1.1.0"))], None,
        ["backend/workers/package-lock.json is out of sync with backend/workers/package.json",
         "version: '1.1.0' in package.json, '1.0.0' in the lock",
         "fix:  cd backend/workers && npm install && git add package-lock.json"]),
    "no-lock": (
        [(f"{WORKERS}/package.json", _add_dependency)], _drop_lock,
        ["backend/workers/package.json declares dependencies (left-pad) but has no package-lock.json"]),
    "script-points-nowhere": (
        [(f"{WORKERS}/package.json", lambda d: d["scripts"].update({"start:master": "node master/manager.js"}))],
        None,
        ['backend/workers/package.json:11 script "start:master" (node master/manager.js) uses '
         "backend/workers/master/manager.js, which does not exist",
         "fix:  edit backend/workers/package.json: point script \"start:master\" at an existing file"]),
}


@pytest.mark.parametrize("case", list(PACKAGE_CASES))
def test_package_problems(case, reference, run_suite):
    changes, extra, expected = PACKAGE_CASES[case]
    for path, change in changes:
        edit_json(reference, path, change)
    if extra:
        extra(reference)
    reference.commit(case)
    run = run_suite(reference.root / "backend", "-k", "worker_packages", part="startup")
    assert run.failed == {"test_worker_packages"}, run.output
    message = run.messages["test_worker_packages"]
    for text in expected:
        assert text in message, message


def test_installed_dependency_with_synced_lock_passes(reference, run_suite):
    edit_json(reference, f"{WORKERS}/package.json", _add_dependency)

    def lock(data):
        data["packages"][""]["dependencies"] = {"left-pad": "^1.3.0"}
        data["packages"]["node_modules/left-pad"] = {"version": "1.3.0", "license": "WTFPL"}

    edit_json(reference, f"{WORKERS}/package-lock.json", lock)
    reference.commit("add left-pad")
    installed = reference.root / WORKERS / "node_modules" / "left-pad"
    installed.mkdir(parents=True)
    (installed / "package.json").write_text('{"name": "left-pad", "version": "1.3.0"}\n')
    run = run_suite(reference.root / "backend", "-k", "worker_packages", part="startup")
    assert run.outcomes["test_worker_packages"] == "passed", run.output


def test_lock_problems_unit():
    package = {"name": "w", "version": "1.0.0"}
    lock = {"packages": {"": {"name": "w", "version": "1.0.0", "dependencies": {"a": "^1", "b": "^2"}},
                         "node_modules/a": {"version": "1.0.0"}, "node_modules/b": {"version": "2.0.0"}}}
    assert lock_problems(package, {"dependencies": {"a": "^1", "b": "^2"}}, lock) == []
    assert lock_problems(package, {"dependencies": {"a": "^1.1"}}, lock) == [
        "dependencies: a is ^1.1 in package.json, ^1 in the lock",
        "dependencies: b ^2 is in the lock but no longer in package.json"]
    script = "NODE_ENV=production node --require=./hook.js master/x.js --port 3 && echo ok"
    assert [ref.word for ref in shell_references(script).refs] == ["./hook.js", "master/x.js"]


def test_reference_package_has_no_false_positive(spec):
    index = build_index(PROJECT / "examples" / "chatai" / "backend")
    assert check_packages(index, spec).findings == []


def test_package_json_script_pointing_at_a_missing_file(tmp_path, spec):
    package = '{\n  "name": "w",\n  "scripts": {\n    "start": "node master/gone.js",\n    "ok": "node x.js"\n  }\n}\n'
    repo = make_repo(tmp_path / "r", {"backend/workers/package.json": package, "backend/workers/x.js": ""})
    [finding] = check_packages(build_index(repo.root / "backend"), spec).errors
    assert finding.location == "backend/workers/package.json:4"
    assert finding.message.startswith('script "start" (node master/gone.js) uses backend/workers/master/gone.js')


# -- workers_function -------------------------------------------------------------------------
@needs_node
def test_worker_that_never_becomes_ready(reference, run_suite, spec, tmp_path):
    config = worker_spec(tmp_path, spec, reference.root, ready_log="this line never appears", ready_timeout=2)
    message = failed_worker_message(run_suite, config)
    assert "worker bot-manager did not become ready within 2s (waiting for 'this line never appears' in its " \
           "output); its last output:" in message
    assert "master ready port=" in message  # the worker's own output is shown
    assert "rule: workers_function (phase 2)" in message
    assert "fix:  cd backend && BOT_TOKENS=123456:TEST" in message


@needs_node
def test_worker_ignoring_sigterm_and_its_child_are_killed(reference, run_suite, spec, tmp_path, pytester):
    reference.edit(MASTER, "process.on('SIGTERM', () => shutdown('SIGTERM'));",
         "process.on('SIGTERM', () => log('ignoring SIGTERM'));")
    reference.edit(BOT, "process.on('SIGTERM', () => shutdown('SIGTERM'));", "process.on('SIGTERM', () => {});")
    reference.commit("ignore SIGTERM")
    config = worker_spec(tmp_path, spec, reference.root, stop_grace=1)
    message = failed_worker_message(run_suite, config)
    assert "2 findings:" in message
    assert "worker bot-manager did not exit within 1s of SIGTERM" in message
    assert "ignoring SIGTERM" in message  # its output
    assert "had 2 processes of its group still running, killed by the suite:" in message
    assert "(node workers/master/scalable_bot_manager.js)" in message
    assert "telegram/bot_worker.js)" in message
    assert leftover_processes(tmp_path, pytester.path.parent) == []


@needs_node
def test_master_exiting_without_its_children_fails(reference, run_suite, spec, tmp_path, pytester):
    reference.edit(MASTER, "process.on('SIGTERM', () => shutdown('SIGTERM'));",
         "process.on('SIGTERM', () => process.exit(0));")
    reference.edit(BOT, "process.on('SIGTERM', () => shutdown('SIGTERM'));", "process.on('SIGTERM', () => {});")
    reference.edit(BOT, "process.on('disconnect', () => shutdown('master disconnect'));",
         "process.on('disconnect', () => {});")
    reference.commit("orphan the bot worker")
    config = worker_spec(tmp_path, spec, reference.root, stop_grace=2)
    message = failed_worker_message(run_suite, config)
    assert "1 finding:" in message
    assert "had 1 process of its group left running after it exited" in message
    assert "telegram/bot_worker.js)" in message
    assert leftover_processes(tmp_path, pytester.path.parent) == []


def test_node_missing_from_path(reference, run_suite, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    git = shutil.which("git")
    assert git, "the self-tests need git"
    (bin_dir / "git").symlink_to(git)
    monkeypatch.setenv("PATH", str(bin_dir))
    run = run_suite(reference.root / "backend", "-k", "worker", part="startup")
    assert run.outcomes["test_worker_packages"] == "passed", run.output
    for name in ("test_worker_js_syntax", "test_worker_functions[bot-manager]"):
        assert run.outcomes[name] == "failed", run.output
        assert run.messages[name].strip() == NODE_MISSING
        assert "Traceback" not in run.messages[name]


# -- the fake Telegram API --------------------------------------------------------------------
def test_fake_telegram_api():
    def call(base, token, method, body=None, timeout=5.0):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{base}/bot{token}/{method}", data=data,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read())

    with FakeTelegram(max_poll=1.0) as fake:
        assert call(fake.url, "42:X", "getMe")["result"]["id"] == 42
        assert call(fake.url, "42:X", "deleteWebhook") == {"ok": True, "result": True}
        assert call(fake.url, "42:X", "nope") == {"ok": False, "error_code": 404, "description": "Not Found"}
        assert call(fake.url, "42:X", "getUpdates", {"timeout": 0}) == {"ok": True, "result": []}
        first = fake.queue_message("42:X", chat_id=7, user_id=8, text="hi")
        fake.queue_message("42:X", chat_id=7, user_id=8, text="again")
        updates = call(fake.url, "42:X", "getUpdates", {"timeout": 5})["result"]
        assert [u["message"]["text"] for u in updates] == ["hi", "again"]
        assert updates[0]["message"]["from"]["id"] == 8 and updates[0]["update_id"] == first
        assert len(call(fake.url, "42:X", "getUpdates", {"offset": first + 1})["result"]) == 1
        assert fake.pending("42:X") == 1 and fake.pending("other") == 0
        sent = call(fake.url, "42:X", "sendMessage", {"chat_id": "7", "text": "hello"})
        assert sent["ok"] and sent["result"]["chat"]["id"] == 7
        assert fake.wait_for_sent(lambda m: m["chat_id"] == 7, 1) == {"token": "42:X", "chat_id": 7, "text": "hello"}
        assert fake.wait_for_sent(lambda m: m["chat_id"] == 8, 0.1) is None
        assert call(fake.url, "42:X", "sendMessage", {"chat_id": 7})["error_code"] == 400
        polled: list = []
        poller = threading.Thread(target=lambda: polled.append(
            call(fake.url, "9:Y", "getUpdates", {"timeout": 30}, timeout=10)))
        started = time.monotonic()
        poller.start()
        fake.wait_for_call("getUpdates", 2, token="9:Y")
    poller.join(5)  # closing wakes the long poll at once
    assert polled and polled[0] == {"ok": True, "result": []}
    assert time.monotonic() - started < 3
