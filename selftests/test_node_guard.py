"""Workers written with real Telegram libraries (node-telegram-bot-api, telegraf, grammY), default
options, no Bot API base URL in their environment: the Node.js network guard routes them to the
fake Bot API, refuses every other host, follows a master's children, and nothing leaves loopback.

The three workers live in selftests/node_workers/<library>/ with their package.json and lock;
`npm ci` installs them once per checkout (a session fixture, under a file lock for xdist).
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.proc.childenv import child_env
from conformance.runtime.fake_telegram import FakeTelegram
from conformance.proc.nodeguard import guarded_env, read_record, require_option
from conformance.proc.processes import ProcessTimeout, run
from conformance.repo.index import build_index
from conformance.runtime.sandbox_copy import make_sandbox
from conformance.model.spec import NetworkSpec, Spec, WorkerSpec
from conformance.checks.workers.message_roundtrip import TEST_TEXT, WorkerRun, WorkerRunInputs, run_worker
from selftests.builder import Repo
from selftests.procscan import leftover_processes
from selftests.test_net_guard import Listener, UnixListener
from selftests.trees import PROJECT, reference_repo

NODE_WORKERS = PROJECT / "selftests" / "node_workers"
LIBRARIES = {"node-telegram-bot-api": "bot.js", "telegraf": "bot.js", "grammy": "bot.mjs"}
REPLY = f"You said: {TEST_TEXT}"  # the reference backend's offline provider
TOKEN = "777001:SELFTEST"
REQUIRE_INSTALL = "CONFORMANCE_REQUIRE_NODE_WORKERS"  # set by .ci/run: a failed npm ci fails, never skips

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def _npm_ci(directory: Path) -> str | None:
    """Install one worker's locked dependencies unless they are; why it could not, or None."""
    if (directory / "node_modules" / ".package-lock.json").is_file():
        return None
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not on PATH"
    try:
        done = run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=directory,
                   env={**os.environ, "npm_config_update_notifier": "false"}, timeout=300)
    except ProcessTimeout as exc:
        return str(exc)
    if done.returncode != 0:
        return f"npm ci in {directory.relative_to(PROJECT)} failed: {(done.error_text or done.text)[-800:]}"
    return None


@pytest.fixture(scope="session")
def node_workers() -> Path:
    """selftests/node_workers with every library installed; skip (or, in CI, fail) when npm cannot install."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    with open(NODE_WORKERS / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # xdist workers install one at a time
        problems = [p for p in (_npm_ci(NODE_WORKERS / name) for name in LIBRARIES) if p]
    if problems:
        if os.environ.get(REQUIRE_INSTALL):
            pytest.fail("; ".join(problems), pytrace=False)
        pytest.skip(f"the library workers are not installed: {'; '.join(problems)}")
    return NODE_WORKERS


def add_library_worker(repo: Repo, library: str, source: Path) -> None:
    """Copy a library worker into backend/workers/<library>/, its node_modules a real (ignored)
    directory of links to the installed packages, as `npm ci` in a checkout would leave it."""
    target = repo.root / "backend" / "workers" / library
    target.mkdir(parents=True)
    for name in ("package.json", "package-lock.json", LIBRARIES[library]):
        shutil.copy2(source / library / name, target / name)
    modules = target / "node_modules"
    modules.mkdir()
    for entry in (source / library / "node_modules").iterdir():
        if not entry.name.startswith("."):
            (modules / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())


def run_library_worker(tmp_path: Path, spec: Spec, repo: Repo, name: str, command: list[str],
                       env: dict[str, str] | None = None, **options: float) -> WorkerRun:
    """run_worker on the repo's backend (sandbox copy, the project's interpreter) with one worker."""
    worker = WorkerSpec(name=name, command=tuple(command),
                        env=env or {"BOT_TOKEN": TOKEN, "BACKEND_URL": "{backend_url}"},
                        ready_log="worker ready", **{"ready_timeout": 20.0, "reply_timeout": 20.0,
                                                     "stop_grace": 8.0, **options})
    index = build_index(repo.root / "backend")
    sandbox = make_sandbox(index, tmp_path / "sandbox")
    run_spec = dataclasses.replace(spec, worker_processes=(worker,))
    work = tmp_path / "work"
    work.mkdir()
    return run_worker(WorkerRunInputs(spec=run_spec, worker=worker, sandbox_backend=sandbox,
                                      repo_prefix=index.prefix, python=sys.executable, tmp=work))


def assert_stayed_on_loopback(result: WorkerRun) -> None:
    """The guard's record: Telegram routed to the fake, nothing allowed off loopback."""
    assert result.record.left_loopback() == []
    assert {e.host for e in result.record.of("routed")} == {"api.telegram.org"}
    assert all(e.host.startswith("127.") for e in result.record.of("loopback")), result.record.of("loopback")


@pytest.fixture
def library_repo(tmp_path) -> Iterator[Repo]:
    """The reference backend as a repository; no process of the run may survive the test."""
    repo = reference_repo(tmp_path / "repo")
    yield repo
    assert leftover_processes(repo.root, tmp_path) == []


# -- the three libraries, default options -------------------------------------------------------
@needs_node
@pytest.mark.parametrize("library", list(LIBRARIES))
def test_library_worker_answers_through_the_fake(library, library_repo, node_workers, spec, tmp_path):
    add_library_worker(library_repo, library, node_workers)
    library_repo.commit(f"add the {library} worker")
    result = run_library_worker(tmp_path, spec, library_repo, library,
                                ["node", f"workers/{library}/{LIBRARIES[library]}"])
    assert [f.render() for f in result.result.findings] == []
    assert result.sent == [{"token": TOKEN, "chat_id": 424242, "text": REPLY}]
    assert_stayed_on_loopback(result)
    assert result.record.of("refused") == []
    assert len(result.record.started) == 1


# -- another external host ----------------------------------------------------------------------
STATS_FETCH = "  await fetch('https://stats.example.com/v1/event', { method: 'POST', body: 'update' }).catch(() => {});"


def add_stats_call(repo: Repo) -> int:
    """The grammY worker, counting every update at an external host; the line of that call."""
    anchor = "const bot = new Bot(process.env.BOT_TOKEN);\n"
    path = "backend/workers/grammy/bot.mjs"
    repo.edit(path, anchor, f"{anchor}bot.use(async (ctx, next) => {{\n{STATS_FETCH}\n  await next();\n}});\n")
    repo.commit("count updates")
    return 1 + (repo.root / path).read_text().splitlines().index(STATS_FETCH)


@needs_node
def test_worker_calling_another_host_is_named_and_nothing_leaves_loopback(library_repo, node_workers, spec,
                                                                           tmp_path):
    add_library_worker(library_repo, "grammy", node_workers)
    line = add_stats_call(library_repo)
    result = run_library_worker(tmp_path, spec, library_repo, "grammy", ["node", "workers/grammy/bot.mjs"])
    [finding] = result.result.findings
    assert finding.render() == (
        f"backend/workers/grammy/bot.mjs:{line} worker grammy tried to reach stats.example.com:443 (fetch); "
        "the suite refused it: a test run reaches only loopback, the backend under test and the fake Telegram API\n"
        '  rule: workers_function (phase 2) - "Success criteria: Telegram bots function properly"\n'
        "  fix:  read the address of stats.example.com from the worker's environment and give it a loopback "
        "stand-in in the [[worker]] env of pyproject.toml (api.telegram.org needs nothing: it goes to the fake)")
    assert result.sent == [{"token": TOKEN, "chat_id": 424242, "text": REPLY}]  # the worker still answered
    assert_stayed_on_loopback(result)
    assert {(e.host, e.port, e.via) for e in result.record.of("refused")} == {("stats.example.com", 443, "fetch")}


SESSION_CONNECT = ("  await new Promise((done) => { const s = net.connect(Number(process.env.SESSION_PORT), 'localhost'); "
                   "s.on('error', done); s.on('connect', () => { s.end(); done(); }); });")


@needs_node
def test_worker_reaching_a_server_no_check_started_on_loopback_is_named(library_repo, node_workers, spec,
                                                                          tmp_path):
    """A session store on a loopback port of a server the check did not start (a developer's
    Redis): refused before connecting, one finding with the line, the canary never reached."""
    canary = Listener()
    try:
        add_library_worker(library_repo, "grammy", node_workers)
        path = "backend/workers/grammy/bot.mjs"
        anchor = "const bot = new Bot(process.env.BOT_TOKEN);\n"
        library_repo.edit(path, "import { Bot } from 'grammy';\n", "import net from 'node:net';\nimport { Bot } from 'grammy';\n")
        library_repo.edit(path, anchor, f"{anchor}bot.use(async (ctx, next) => {{\n{SESSION_CONNECT}\n  await next();\n}});\n")
        library_repo.commit("sessions in a local store")
        line = 1 + (library_repo.root / path).read_text().splitlines().index(SESSION_CONNECT)
        guarded = dataclasses.replace(spec, network=NetworkSpec(protected_ports=(canary.port,)))
        result = run_library_worker(tmp_path, guarded, library_repo, "grammy", ["node", "workers/grammy/bot.mjs"],
                                    env={"BOT_TOKEN": TOKEN, "BACKEND_URL": "{backend_url}",
                                         "SESSION_PORT": str(canary.port)})
    finally:
        canary.close()
    assert canary.accepted == 0
    [finding] = result.result.findings
    assert finding.render() == (
        f"{path}:{line} worker grammy tried to reach localhost:{canary.port} (a protected port; net.connect); "
        "the suite refused it: a server the check did not start\n"
        '  rule: workers_function (phase 2) - "Success criteria: Telegram bots function properly"\n'
        "  fix:  read the server's address from the worker's environment and give it a stand-in in the [[worker]] "
        f'env of pyproject.toml, or, to let the checks use this server, add "localhost:{canary.port}" to '
        "[tool.conformance.network] allow")
    assert result.sent == [{"token": TOKEN, "chat_id": 424242, "text": REPLY}]  # the worker still answered


# -- a master and its children ------------------------------------------------------------------
MASTER = """\
// A master that starts one worker process per token, with an environment built from scratch
// (no NODE_OPTIONS), and stops them on SIGTERM.
'use strict';
const { spawn } = require('node:child_process');
const path = require('node:path');

const script = path.join(__dirname, '..', 'telegraf', 'bot.js');
const children = (process.env.BOT_TOKENS || '').split(',').map((token) => spawn(process.execPath, [script], {
  env: { PATH: process.env.PATH, BOT_TOKEN: token, BACKEND_URL: process.env.BACKEND_URL },
  stdio: 'inherit',
}));
process.once('SIGTERM', () => {
  let left = children.length;
  for (const child of children) {
    child.once('exit', () => { left -= 1; if (left === 0) process.exit(0); });
    child.kill('SIGTERM');
  }
});
"""


@needs_node
def test_master_children_are_guarded_answered_and_stopped(library_repo, node_workers, spec, tmp_path):
    add_library_worker(library_repo, "telegraf", node_workers)
    library_repo.write({"backend/workers/master/library_master.js": MASTER}).commit("a master of telegraf workers")
    tokens = ["777001:FIRST", "777002:SECOND"]
    result = run_library_worker(tmp_path, spec, library_repo, "master", ["node", "workers/master/library_master.js"],
                                env={"BOT_TOKENS": ",".join(tokens), "BACKEND_URL": "{backend_url}"})
    assert [f.render() for f in result.result.findings] == []
    assert sorted((m["token"], m["text"]) for m in result.sent) == [(t, REPLY) for t in tokens]
    assert sorted(m["chat_id"] for m in result.sent) == [424242, 424243]
    started = result.record.started
    assert len(started) == 3, started  # the master and both children loaded the guard
    assert sum(argv[-1].endswith("telegraf/bot.js") for argv in started.values()) == 2
    assert_stayed_on_loopback(result)


UNGUARDED_MASTER = """\
'use strict';
const { spawn } = require('node:child_process');
const child = spawn('/bin/sh', ['-c', 'exec env -u NODE_OPTIONS node -e "setInterval(() => {}, 1000)"'],
  { stdio: 'inherit' });
console.log('worker ready');
process.once('SIGTERM', () => { child.kill('SIGTERM'); child.once('exit', () => process.exit(0)); });
"""


@needs_node
def test_child_that_drops_the_guard_is_named(library_repo, spec, tmp_path):
    library_repo.write({"backend/workers/master/unguarded.js": UNGUARDED_MASTER}).commit("a child without the guard")
    result = run_library_worker(tmp_path, spec, library_repo, "unguarded", ["node", "workers/master/unguarded.js"],
                                reply_timeout=2.0)
    messages = [f.render() for f in result.result.findings]
    assert len(messages) == 2, messages
    assert messages[0].startswith("worker unguarded became ready but did not poll getUpdates")
    pid = int(re.search(r"pid (\d+)", messages[1]).group(1))
    assert messages[1] == (
        f"worker unguarded has a Node.js process without the suite's network guard: pid {pid} "
        f'(node -e setInterval(() => {{}}, 1000)); its NODE_OPTIONS lost {require_option()}, so its connections '
        "were not checked (with a real token it would poll api.telegram.org)\n"
        '  rule: workers_function (phase 2) - "Success criteria: Telegram bots function properly"\n'
        "  fix:  start child processes with the parent's environment (process.env), and never clear NODE_OPTIONS")


# -- the guard on its own: no backend, plain node scripts ---------------------------------------
GUARD_SCRIPT = """\
const https = require('node:https');
const dns = require('node:dns');
const tls = require('node:tls');
const { execFileSync } = require('node:child_process');
const get = (url) => new Promise((resolve) => https.get(url, (res) => {
  let body = ''; res.on('data', (d) => { body += d; }); res.on('end', () => resolve(JSON.parse(body)));
}).on('error', (e) => resolve(e.code)));
(async () => {
  const out = {};
  out.fetch = (await (await fetch('https://api.telegram.org/bot5:F/getMe')).json()).result.id;
  out.https = (await get('https://api.telegram.org/bot6:H/getMe')).result.id;
  out.refusedHttps = await get('https://example.org/');
  out.refusedFetch = await fetch('http://example.com/').catch((e) => e.cause.code);
  out.dns = await new Promise((r) => dns.lookup('example.net', (e) => r(e && e.code)));
  out.tls = await new Promise((resolve) => {
    const s = tls.connect({ host: 'api.telegram.org', port: 443, servername: 'api.telegram.org' }, () =>
      s.end('GET /bot7:T/getMe HTTP/1.1\\r\\nHost: api.telegram.org\\r\\n\\r\\n'));
    let raw = ''; s.on('data', (d) => { raw += d; }); s.on('end', () => resolve(raw.split('\\r\\n')[0]));
  });
  out.child = execFileSync(process.execPath, ['-e', 'process.stdout.write(process.env.NODE_OPTIONS)'],
    { env: { PATH: process.env.PATH } }).toString();
  console.log(JSON.stringify(out));
})();
"""

ESM_SCRIPT = """\
import { request } from 'node:https';
request('https://api.telegram.org/bot8:E/getMe', (res) => {
  let body = ''; res.on('data', (d) => { body += d; }); res.on('end', () => console.log(body));
}).end();
"""


@needs_node
def test_guard_routes_telegram_and_refuses_the_rest(tmp_path):
    script = tmp_path / "probe.js"
    script.write_text(GUARD_SCRIPT)
    esm = tmp_path / "probe.mjs"
    esm.write_text(ESM_SCRIPT)
    record = tmp_path / "record.jsonl"
    with FakeTelegram() as fake:
        env = guarded_env({"PATH": os.environ["PATH"]}, record=record, telegram_url=fake.url)
        done = run(["node", str(script)], cwd=tmp_path, env=env, timeout=30)
        esm_done = run(["node", str(esm)], cwd=tmp_path, env=env, timeout=30)
        calls = {(c.token, c.method) for c in fake.calls}
    assert done.returncode == 0, done.error_text
    assert json.loads(done.text) == {"fetch": 5, "https": 6, "refusedHttps": "ECONNREFUSED",
                                     "refusedFetch": "ECONNREFUSED", "dns": "ENOTFOUND", "tls": "HTTP/1.0 200 OK",
                                     "child": require_option()}
    assert json.loads(esm_done.text)["result"]["id"] == 8
    assert calls == {("5:F", "getMe"), ("6:H", "getMe"), ("7:T", "getMe"), ("8:E", "getMe")}
    found = read_record(record)
    assert {(e.host, e.via, e.line) for e in found.of("refused")} == {
        ("example.org", "tls.connect", 5), ("example.com", "fetch", 13), ("example.net", "dns.lookup", 14)}
    assert {e.file for e in found.of("refused")} == {str(script.resolve())}
    assert [(e.via, e.line) for e in found.of("routed")] == [
        ("fetch", 10), ("https.request", 5), ("tls.connect", 16), ("https.request", 2)]
    assert found.left_loopback() == []
    assert len(found.started) == 3  # probe.js, its execFileSync child (no NODE_OPTIONS given), probe.mjs
    assert "conformance guard: refused fetch to example.com:80 from" in done.error_text


@needs_node
def test_guard_without_a_fake_refuses_telegram_too(tmp_path):
    script = "fetch('https://api.telegram.org/bot1:X/getUpdates').catch((e) => console.log(e.cause.code))"
    record = tmp_path / "record.jsonl"
    env = guarded_env({"PATH": os.environ["PATH"]}, record=record)
    done = run(["node", "-e", script], cwd=tmp_path, env=env, timeout=30)
    assert done.text.strip() == "ECONNREFUSED"
    assert [(e.event, e.host, e.port) for e in read_record(record).events] == [("refused", "api.telegram.org", 443)]
    # Every child the suite starts (start scripts, the backend) has it too; the spec cannot loosen it.
    env = child_env({"NODE_OPTIONS": "--max-old-space-size=64", "CONFORMANCE_NODE_GUARD_ALLOW": "api.telegram.org"})
    assert env["NODE_OPTIONS"] == f"{require_option()} --max-old-space-size=64"
    done = run(["bash", "-c", f"node -e {shlex.quote(script)}"], cwd=tmp_path, env=env, timeout=30)
    assert done.text.strip() == "ECONNREFUSED"
    assert done.error_text == "conformance guard: refused fetch to api.telegram.org:443 (a test run stays on loopback)"


# -- the fake Bot API: what the libraries send ---------------------------------------------------
def test_fake_telegram_reads_multipart_query_and_chunked_bodies():
    import http.client

    def post(port: int, path: str, body: bytes, headers: dict[str, str]) -> dict:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("POST", path, body=body, headers=headers)
            return json.loads(connection.getresponse().read())
        finally:
            connection.close()

    with FakeTelegram(max_poll=0.5) as fake:
        boundary = "XyZ"
        multipart = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"chat_id\"\r\n\r\n7\r\n"
                     f"--{boundary}\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nh\u00e9llo\r\n"
                     f"--{boundary}--\r\n").encode()
        answer = post(fake.port, "/bot1:A/sendMessage", multipart,
                      {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert answer["ok"] and answer["result"]["chat"]["id"] == 7
        assert post(fake.port, "/bot1:A/sendMessage?chat_id=8&text=q", b"", {})["ok"]
        chunked = b"1b\r\n{\"chat_id\": 9, \"text\": \"c\"}\r\n0\r\n\r\n"
        assert post(fake.port, "/bot1:A/sendMessage", chunked,
                    {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})["ok"]
        assert fake.sent == [{"token": "1:A", "chat_id": 7, "text": "h\u00e9llo"},
                             {"token": "1:A", "chat_id": 8, "text": "q"}, {"token": "1:A", "chat_id": 9, "text": "c"}]
        for method, result in (("sendChatAction", True), ("setMyCommands", True), ("getMyCommands", []),
                               ("getWebhookInfo", {"url": "", "has_custom_certificate": False,
                                                   "pending_update_count": 0})):
            assert post(fake.port, f"/bot1:A/{method}", b"{}", {"Content-Type": "application/json"}) == \
                {"ok": True, "result": result}
        assert post(fake.port, "/bot1:A/sendSticker", b"", {}) == \
            {"ok": False, "error_code": 404, "description": "Not Found"}
        fake.queue_message("1:A", 7, 7, "one")
        fake.queue_message("1:A", 7, 7, "two")
        last = post(fake.port, "/bot1:A/getUpdates?offset=-1", b"", {})["result"]
        assert [u["message"]["text"] for u in last] == ["two"] and fake.pending("1:A") == 2
        assert fake.polling_tokens() == ["1:A"]


# -- through the suite --------------------------------------------------------------------------
@needs_node
def test_suite_names_the_refused_host(library_repo, node_workers, spec, tmp_path, run_suite):
    from selftests.test_workers import worker_spec

    add_library_worker(library_repo, "grammy", node_workers)
    line = add_stats_call(library_repo)
    config = worker_spec(tmp_path, spec, library_repo.root, name="grammy", command=["node", "workers/grammy/bot.mjs"],
                         env={"BOT_TOKEN": TOKEN, "BACKEND_URL": "{backend_url}"})
    run = run_suite(None, "--conformance-config", str(config), "-k", "worker_functions", part="startup")
    assert run.failed == {"test_worker_functions[grammy]"}, run.output
    message = run.messages["test_worker_functions[grammy]"]
    assert "1 finding:" in message
    assert f"backend/workers/grammy/bot.mjs:{line} worker grammy tried to reach stats.example.com:443 (fetch); the suite " \
           "refused it" in message
    assert TOKEN not in message


def test_the_specs_network_table_reaches_every_node_but_never_opens_telegram():
    from conformance.proc.dbguard import SERVICE_PORTS
    from conformance.proc.nodeguard import node_policy

    network = NetworkSpec(allow=("api.telegram.org", "stats.example.com:443", "localhost:6379", "/run/redis.sock"),
                          protected_ports=(7000,))
    hosts, ports = node_policy(network)
    assert hosts == ["stats.example.com", "/run/redis.sock"]  # api.telegram.org stays the fake's
    assert ports == sorted((set(SERVICE_PORTS) | {7000}) - {6379})
    env = child_env(guard=None)
    assert env["CONFORMANCE_NODE_GUARD_ALLOW"] == "" and "6379" in env["CONFORMANCE_NODE_GUARD_PROTECT"].split(",")


@needs_node
def test_a_data_servers_unix_socket_is_refused_for_node_too(tmp_path):
    servers = {name: UnixListener(tmp_path / name) for name in ("redis-server.sock", "allowed-redis.sock", "app.sock")}
    script = "\n".join(
        f"require('node:net').connect({str(tmp_path / name)!r}).on('connect', function () {{ console.log("
        f"'{name} connected'); this.end(); }}).on('error', (e) => console.log('{name}', e.code));"
        for name in servers)
    record = tmp_path / "record.jsonl"
    env = guarded_env({"PATH": os.environ["PATH"]}, record=record,
                      network=NetworkSpec(allow=(str(tmp_path / "allowed-redis.sock"),)))
    try:
        done = run(["node", "-e", script], cwd=tmp_path, env=env, timeout=30)
    finally:
        for server in servers.values():
            server.close()
    assert sorted(done.text.strip().splitlines()) == ["allowed-redis.sock connected", "app.sock connected",
                                              "redis-server.sock ECONNREFUSED"], done.text
    assert [servers[name].accepted for name in servers] == [0, 1, 1]
    [refused] = read_record(record).of("refused")
    assert (refused.host, refused.port, refused.reason) == (f"unix:{tmp_path / 'redis-server.sock'}", None, "service")
