"""The guard's network part (data/guard/_conformance_netguard.py) in a real child interpreter:
a loopback port of a server no check started is refused, another host is refused before its
name is looked up, and what the spec allows (or the given database's server) still connects.
Each canary is a real listener that must see no connection. The startup checks' findings
built from these refusals are in test_net_canaries.py."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.model.spec import NetworkSpec
from conformance.proc.childenv import child_env
from conformance.proc.dbguard import Guard, GuardRecord, read_records

MESSAGE = ("conformance guard: refused the connection to {target} made at {path}:{line} ({via}): {where}; a "
           "check's backend reaches only loopback, its given database and what [tool.conformance.network] allow "
           "lists")
SERVICE = "a server the check did not start"
REMOTE = "a host outside this machine"


class Listener:
    """A loopback TCP server that counts the connections it accepts (the canary)."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.accepted += 1
            connection.close()

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def listeners() -> Iterator[tuple[Listener, Listener]]:
    pair = Listener(), Listener()
    yield pair
    for listener in pair:
        listener.close()


def run_net(tmp_path: Path, code: str, network: NetworkSpec, database: str | None = None) -> tuple[
        subprocess.CompletedProcess[str], list[GuardRecord], str]:
    backend = tmp_path / "backend"
    backend.mkdir(exist_ok=True)
    script = backend / "connect.py"
    script.write_text(textwrap.dedent(code))
    report = tmp_path / "guard.jsonl"
    report.unlink(missing_ok=True)
    guard = Guard(database, (tmp_path,), backend, report, network)
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=child_env(python_path=[backend], guard=guard),
                          capture_output=True, text=True, timeout=60)
    return done, read_records(report), str(script)


ATTEMPT = """\
    import socket

    def attempt(label, connect):
        try:
            connect()
            print(label, "CONNECTED")
        except Exception as exc:
            print(label, type(exc).__name__, exc)
"""


def outcomes(stdout: str) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in stdout.splitlines())


def test_a_protected_loopback_port_is_refused_and_others_on_loopback_are_not(
        tmp_path: Path, listeners: tuple[Listener, Listener]) -> None:
    canary, ordinary = listeners
    done, records, path = run_net(tmp_path, ATTEMPT + f"""\
    attempt("protected", lambda: socket.create_connection(("127.0.0.1", {canary.port}), timeout=5))
    attempt("ordinary", lambda: socket.create_connection(("localhost", {ordinary.port}), timeout=5))
    print("connect_ex", socket.socket().connect_ex(("127.0.0.1", {canary.port})))
    import redis
    attempt("redis", lambda: redis.Redis(host="localhost", port={canary.port}, socket_connect_timeout=5).ping())
    import anyio

    async def anyio_connect():  # anyio looks names up as IDNA bytes: b"localhost"
        await (await anyio.connect_tcp("localhost", {ordinary.port})).aclose()

    attempt("anyio", lambda: anyio.run(anyio_connect))
    import asyncio

    async def asyncio_connect():  # the selector loop connects through socket.connect, non-blocking
        await asyncio.open_connection("127.0.0.1", {canary.port})

    attempt("asyncio", lambda: asyncio.run(asyncio_connect()))
    """, NetworkSpec(protected_ports=(canary.port,)))
    assert done.returncode == 0, done.stderr
    shown = f"127.0.0.1:{canary.port}"
    assert outcomes(done.stdout) == {
        "protected": "RefusedConnection " + MESSAGE.format(target=shown, path=path, line=9, via="socket",
                                                           where=SERVICE),
        "ordinary": "CONNECTED",
        "connect_ex": "111",  # ECONNREFUSED, as connect_ex reports it, never an exception
        "redis": "ConnectionError Error " + MESSAGE.format(target=shown, path=path, line=13, via="redis",
                                                            where=SERVICE) + f" connecting to localhost:{canary.port}.",
        "anyio": "CONNECTED",
        "asyncio": "RefusedConnection " + MESSAGE.format(target=shown, path=path, line=23, via="asyncio",
                                                         where=SERVICE),
    }, done.stdout
    assert canary.accepted == 0
    assert ordinary.accepted == 2
    assert records == [GuardRecord(shown, "socket", path, 9, "refused", "service"),
                       GuardRecord(shown, "socket", path, 11, "refused", "service"),
                       GuardRecord(shown, "redis", path, 13, "refused", "service"),
                       GuardRecord(shown, "asyncio", path, 23, "refused", "service")]


def test_the_usual_ports_of_data_servers_are_protected_without_any_setting(tmp_path: Path) -> None:
    done, records, path = run_net(tmp_path, ATTEMPT + """\
    attempt("redis", lambda: socket.create_connection(("localhost", 6379), timeout=5))
    attempt("postgres", lambda: socket.create_connection(("::1", 5432), timeout=5))
    """, NetworkSpec())
    assert done.returncode == 0, done.stderr
    assert [(r.url, r.kind, r.line) for r in records] == [("127.0.0.1:6379", "service", 9),
                                                          ("[::1]:5432", "service", 10)], done.stdout


def test_another_host_is_refused_before_its_name_is_looked_up(tmp_path: Path) -> None:
    """The child counts the lookups that reach the C resolver: only this machine's own name."""
    done, records, path = run_net(tmp_path, ATTEMPT + """\
    import _socket
    looked_up = []
    real_lookup = _socket.getaddrinfo
    def spy(host, *args, **kwargs):
        looked_up.append(host)
        return real_lookup(host, *args, **kwargs)
    _socket.getaddrinfo = spy

    import asyncio
    import urllib.request

    async def open_it():
        await asyncio.open_connection("api.openai.com", 443)

    attempt("name", lambda: socket.create_connection(("api.openai.com", 443), timeout=5))
    attempt("address", lambda: socket.create_connection(("192.0.2.10", 9), timeout=5))
    attempt("urllib", lambda: urllib.request.urlopen("http://example.com/status", timeout=5))
    attempt("asyncio", lambda: asyncio.run(open_it()))
    attempt("own-name", lambda: socket.getaddrinfo(socket.gethostname(), 80))
    print("looked-up", looked_up)
    """, NetworkSpec())
    assert done.returncode == 0, done.stderr
    result = outcomes(done.stdout)
    assert result["name"] == "gaierror [Errno -2] " + MESSAGE.format(
        target="api.openai.com:443", path=path, line=23, via="socket", where=REMOTE)
    assert result["address"] == "RefusedConnection " + MESSAGE.format(
        target="192.0.2.10:9", path=path, line=24, via="socket", where=REMOTE)
    assert result["urllib"].startswith("URLError <urlopen error [Errno -2] conformance guard: refused the connection "
                                       f"to example.com:80 made at {path}:25 (http)")
    assert result["own-name"] == "CONNECTED"
    # a numeric address is only parsed by the resolver; the one name looked up is this machine's
    assert result["looked-up"] == repr(["192.0.2.10", socket.gethostname()])
    assert [(r.url, r.via, r.line, r.kind) for r in records] == [
        ("api.openai.com:443", "socket", 23, "remote"), ("192.0.2.10:9", "socket", 24, "remote"),
        ("example.com:80", "http", 25, "remote"),
        ("api.openai.com:443", "asyncio", 21, "remote")]  # the awaiting line, not the resolver thread


def test_allowed_hosts_and_the_given_database_server_connect(tmp_path: Path,
                                                            listeners: tuple[Listener, Listener]) -> None:
    """network.allow lifts a protected loopback port and lets a name (and what it resolves to) through;
    the given database's port is never refused by the socket layer (its driver checks the database)."""
    allowed, database = listeners
    done, records, _ = run_net(tmp_path, ATTEMPT + f"""\
    import _socket
    real_lookup = _socket.getaddrinfo
    def fake_dns(host, *args, **kwargs):
        if host == "cache.internal":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", {allowed.port}))]
        return real_lookup(host, *args, **kwargs)
    _socket.getaddrinfo = fake_dns

    attempt("allowed-port", lambda: socket.create_connection(("127.0.0.1", {allowed.port}), timeout=5))
    attempt("allowed-name", lambda: socket.create_connection(("cache.internal", {allowed.port}), timeout=5))
    attempt("database", lambda: socket.create_connection(("localhost", {database.port}), timeout=5))
    attempt("other-name", lambda: socket.create_connection(("cache.internal", 1), timeout=5))
    """, NetworkSpec(allow=(f"localhost:{allowed.port}", f"cache.internal:{allowed.port}"),
                     protected_ports=(allowed.port, database.port)),
        database=f"postgresql+psycopg://app@127.0.0.1:{database.port}/throwaway")
    assert done.returncode == 0, done.stderr
    result = outcomes(done.stdout)
    assert (result["allowed-port"], result["allowed-name"], result["database"]) == ("CONNECTED",) * 3, done.stdout
    assert result["other-name"].startswith("gaierror")
    assert (allowed.accepted, database.accepted) == (2, 1)
    assert [(r.url, r.kind) for r in records] == [("cache.internal:1", "remote")]


def test_uvloop_which_connects_below_socket_connect_is_guarded_too(
        tmp_path: Path, listeners: tuple[Listener, Listener]) -> None:
    pytest.importorskip("uvloop")
    canary, _ = listeners
    done, records, path = run_net(tmp_path, ATTEMPT + f"""\
    import asyncio
    import uvloop

    async def open_it(host, port):
        reader, writer = await asyncio.open_connection(host, port)
        writer.close()

    attempt("protected", lambda: uvloop.run(open_it("127.0.0.1", {canary.port})))
    attempt("remote", lambda: uvloop.run(open_it("api.openai.com", 443)))
    """, NetworkSpec(protected_ports=(canary.port,)))
    assert done.returncode == 0, done.stderr
    result = outcomes(done.stdout)
    assert result["protected"].startswith("RefusedConnection conformance guard: refused the connection to "
                                          f"127.0.0.1:{canary.port} made at {path}:13 (asyncio)"), done.stdout
    assert result["remote"].startswith("gaierror [Errno -2] conformance guard: refused the connection to "
                                       f"api.openai.com:443 made at {path}:13 (asyncio)"), done.stdout
    assert canary.accepted == 0
    assert [(r.url, r.kind) for r in records] == [(f"127.0.0.1:{canary.port}", "service"),
                                                  ("api.openai.com:443", "remote")]


class UnixListener(Listener):
    def __init__(self, path: Path) -> None:
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(path))
        self.server.listen()
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()


def test_a_data_servers_unix_socket_is_refused_unless_scratch_or_allowed(tmp_path: Path) -> None:
    elsewhere = Path(tempfile.mkdtemp(prefix="conformance-sock-"))  # outside every scratch dir
    servers = {name: UnixListener(path) for name, path in {
        "redis": elsewhere / "redis-server.sock", "allowed": elsewhere / "mysqld.sock",
        "other": elsewhere / "app.sock", "scratch": tmp_path / "redis.sock"}.items()}
    try:
        done, records, path = run_net(tmp_path, ATTEMPT + "".join(
            f'    attempt("{name}", lambda: socket.socket(socket.AF_UNIX).connect({str(server.server.getsockname())!r}))\n'
            for name, server in servers.items()), NetworkSpec(allow=(str(elsewhere / "mysqld.sock"),)))
    finally:
        for server in servers.values():
            server.close()
        shutil.rmtree(elsewhere)
    assert done.returncode == 0, done.stderr
    shown = f"unix:{elsewhere / 'redis-server.sock'}"
    assert outcomes(done.stdout) == {
        "redis": "RefusedConnection " + MESSAGE.format(target=shown, path=path, line=9, via="socket", where=SERVICE),
        "allowed": "CONNECTED", "other": "CONNECTED", "scratch": "CONNECTED"}, done.stdout
    assert [servers[name].accepted for name in servers] == [0, 1, 1, 1]
    assert records == [GuardRecord(shown, "socket", path, 9, "refused", "service")]


def test_a_child_without_sockets_never_loads_the_network_guard(tmp_path: Path) -> None:
    done, _, _ = run_net(tmp_path, """\
        import sys
        import json
        print("_conformance_netguard" in sys.modules, "socket" in sys.modules)
        """, NetworkSpec())
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]


@pytest.mark.parametrize(("url", "kind", "message", "allow"), [
    ("127.0.0.1:6379", "service", "connects to 127.0.0.1:6379 (the usual port of Redis), a server the check did not "
     "start: the suite refused the connection before anything was sent (app boot, redis)", "127.0.0.1:6379"),
    ("unix:/run/postgresql/.s.PGSQL.5432", "service", "connects to unix:/run/postgresql/.s.PGSQL.5432 (the usual "
     "socket of PostgreSQL), a server the check did not start: the suite refused the connection before anything "
     "was sent (app boot, redis)", "/run/postgresql/.s.PGSQL.5432"),
    ("api.openai.com:443", "remote", "connects to api.openai.com:443, outside this machine: the suite refused the "
     "connection before the name was looked up or anything was sent (app boot, redis)", "api.openai.com:443"),
])
def test_refusals_say_what_was_reached_and_how_to_allow_it(url, kind, message, allow):
    from conformance.proc.dbguard import refusal_fix, refused_message

    record = GuardRecord(url, "redis", "backend/cache/client.py", 7, "refused", kind)
    assert refused_message(record, "", "app boot") == message
    assert refusal_fix(record).endswith(f'add "{allow}" to [tool.conformance.network] allow')


def test_a_connection_from_a_thread_only_libraries_run_is_placed_where_the_thread_started(tmp_path: Path) -> None:
    """An error reporter or telemetry exporter sends from its own thread: no backend frame is on that
    stack, so the finding points at the backend line that started the thread."""
    done, records, path = run_net(tmp_path, ATTEMPT + """\
    import threading
    import urllib.request

    sender = threading.Thread(target=urllib.request.urlopen, args=("https://o1.ingest.example.io/envelope",))
    sender.start()
    sender.join()
    """, NetworkSpec())
    assert done.returncode == 0, done.stderr
    assert [(r.url, r.path, r.line, r.kind) for r in records] == [("o1.ingest.example.io:443", path, 12, "remote")]
