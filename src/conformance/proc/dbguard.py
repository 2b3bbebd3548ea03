"""The database guard, parent side: what a child that runs backend code may connect to, and the
findings made from what it tried.

Backend code decides by itself where it connects (an env.py that builds its URL from DB_HOST and
ignores DATABASE_URL migrates that other database). Every child that runs backend code gets
data/guard/sitecustomize.py on its PYTHONPATH and a `Guard` in CONFORMANCE_DB_GUARD: the child
refuses any database connection but the check's throwaway database (and SQLite files in the
check's scratch directories) before a statement runs, and any other socket to a protected
loopback port (SERVICE_PORTS: a developer's Redis, PostgreSQL, ...) or to another host before
anything is sent, and writes one JSON line per refusal to `report`; the checks turn those lines
into one finding per cause (refused_message, refusal_fix).
"""

from __future__ import annotations

import fnmatch
import functools
import importlib.util
import ipaddress
import posixpath
import json
import py_compile
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from conformance.model.spec import NetworkSpec
from conformance.proc.sandbox_display import SandboxPaths

GUARD_DIR = Path(__file__).resolve().parents[1] / "data" / "guard"  # conformance/data/guard: sitecustomize.py
GUARD_ENV = "CONFORMANCE_DB_GUARD"
# Loopback ports of servers a check never starts: a connection there reaches the developer's or CI's
# own data (the given database's port excepted). The spec adds ports; network.allow lifts one.
SERVICE_PORTS = {
    5432: "PostgreSQL", 3306: "MySQL", 1433: "SQL Server", 1521: "Oracle", 6379: "Redis", 6380: "Redis (TLS)",
    26379: "Redis Sentinel", 27017: "MongoDB", 11211: "Memcached", 9200: "Elasticsearch", 5984: "CouchDB",
    8086: "InfluxDB", 9042: "Cassandra", 7687: "Neo4j", 8529: "ArangoDB", 28015: "RethinkDB", 6333: "Qdrant",
    19530: "Milvus", 5672: "RabbitMQ", 9092: "Kafka", 4222: "NATS",
}
# Names of the Unix sockets those servers listen on (a connection there is refused the same way).
SERVICE_SOCKETS = {".s.PGSQL.*": "PostgreSQL", "*redis*.sock": "Redis", "mysqld.sock": "MySQL",
                   "mysql.sock": "MySQL", "mongodb-*.sock": "MongoDB", "memcached*.sock": "Memcached"}


@dataclass(frozen=True)
class Guard:
    """What one child may connect to, and where it reports what else it tried."""

    database: str | None  # the throwaway database handed out as DATABASE_URL (None: SQLite scratch only)
    scratch: tuple[Path, ...]  # directories where SQLite files may be opened (sandbox, the check's tmp)
    backend: Path  # the backend's tree: its innermost frame locates a connection
    report: Path  # JSON lines, appended by the child
    network: NetworkSpec = NetworkSpec()  # the spec's [tool.conformance.network]

    def env_value(self) -> str:
        precompile()
        protect = protected_ports(self.network)
        return json.dumps({"allow": [self.database] if self.database else [],
                           "dirs": [str(d) for d in self.scratch], "backend": str(self.backend),
                           "report": str(self.report), "net": {"allow": list(self.network.allow), "protect": protect,
                                                             "sockets": list(SERVICE_SOCKETS)}})

    def records(self) -> list[GuardRecord]:
        return read_records(self.report)


@functools.cache
def precompile() -> None:
    """Children run with PYTHONDONTWRITEBYTECODE, so they would compile the guard from source at
    every start; bytecode for the suite's Python version is written once here (best effort)."""
    for source in GUARD_DIR.glob("*.py"):
        try:
            cached = Path(importlib.util.cache_from_source(str(source)))
            if not cached.exists() or cached.stat().st_mtime < source.stat().st_mtime:
                py_compile.compile(str(source), cfile=str(cached), doraise=True)
        except (OSError, py_compile.PyCompileError, NotImplementedError):
            continue


@dataclass(frozen=True)
class GuardRecord:
    """One connection a child made (or was refused) to something other than its database."""

    url: str  # password never included
    via: str  # sqlite3, psycopg, SQLAlchemy postgresql+psycopg, ...
    path: str  # the child's file (a sandbox path; shown through SandboxPaths.display)
    line: int
    verdict: str  # "refused"; "scratch" (a SQLite file in a scratch dir, allowed); "given" (its database)
    kind: str = "database"  # or, for a socket: "service" (a protected loopback port), "remote" (another host)

    @property
    def refused(self) -> bool:
        return self.verdict == "refused"

    @property
    def cause(self) -> tuple[str, str, int]:
        return self.url, self.path, self.line


def read_records(report: Path) -> list[GuardRecord]:
    """The records of a report file (missing file: none); one per cause, in order of appearance."""
    try:
        lines = report.read_text("utf-8", "replace").splitlines()
    except OSError:
        return []
    seen: dict[tuple[str, str, int], GuardRecord] = {}
    for line in lines:
        try:
            raw = json.loads(line)
            record = GuardRecord(str(raw["url"]), str(raw.get("via", "")), str(raw["path"]), int(raw["line"]),
                                 str(raw.get("verdict", "refused")), str(raw.get("kind", "database")))
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by a killed child
        known = seen.get(record.cause)
        if known is None or (record.refused and not known.refused):
            seen[record.cause] = record
    return list(seen.values())


def refused(records: Iterable[GuardRecord]) -> list[GuardRecord]:
    return [r for r in records if r.refused]


def as_shown(records: Iterable[GuardRecord], sandbox: SandboxPaths) -> list[GuardRecord]:
    """Records with sandbox paths (in `path` and in SQLite URLs) written as repository paths."""
    return [replace(r, path=sandbox.display(r.path) if r.path.startswith("/") else r.path, url=sandbox.scrub(r.url))
            for r in records]


def described(url: str | None) -> str:
    """How a message names the database a child was given (never with its password)."""
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme.split("+", 1)[0] == "sqlite":
        return "a throwaway SQLite file"
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0] + "@" if len(netloc) == 2 else ""
    return urlunsplit(parts._replace(netloc=user + netloc[-1]))


def refused_message(record: GuardRecord, given: str, during: str) -> str:
    """What a refused connection finding says after its path:line: the database or server tried."""
    if record.kind == "service":
        return (f"connects to {record.url} ({service_label(record.url)}), "
                f"a server the check did not start: the suite refused the connection before anything was sent "
                f"({during}, {record.via})")
    if record.kind == "remote":
        return (f"connects to {record.url}, outside this machine: the suite refused the connection before the "
                f"name was looked up or anything was sent ({during}, {record.via})")
    return (f"connects to {record.url}, not to the `DATABASE_URL` it was given{f' ({given})' if given else ''}: "
            f"the suite refused the connection before any statement ran ({during}, {record.via})")


def refusal_fix(record: GuardRecord, subject: str | None = None) -> str:
    """The fix for a refused connection: where the address should come from, or how to allow it."""
    if record.kind == "service":
        return (f"make {subject or record.path} read the server's address from the environment and set it in "
                "[tool.conformance.test_env] (e.g. REDIS_URL = \"\" for an in-memory fallback, or a stand-in the "
                f"check may use); to let the checks use this server, add \"{_allow_entry_for(record.url)}\" to "
                "[tool.conformance.network] allow")
    if record.kind == "remote":
        return (f"the checks run offline: make {subject or record.path} reach {record.url} only when a setting "
                "says so, and turn it off in [tool.conformance.test_env] (e.g. AI_PROVIDER = \"offline\"), or "
                f"add \"{record.url}\" to [tool.conformance.network] allow")
    return guard_fix(subject or record.path)


def service_label(target: str) -> str:
    """How a message names a refused data server: "the usual port of Redis", "the usual socket of
    PostgreSQL", or "a protected port" (one the spec added)."""
    socket = target.startswith("unix:")
    service = _socket_service(target[5:]) if socket else SERVICE_PORTS.get(_port_of(target))
    return f"the usual {'socket' if socket else 'port'} of {service}" if service else "a protected port"


def _allow_entry_for(url: str) -> str:
    """The network.allow entry that lets a refused target through: host:port, or a socket's path."""
    return url[5:] if url.startswith("unix:") else url


def _socket_service(path: str) -> str | None:
    name = posixpath.basename(path)
    return next((service for pattern, service in SERVICE_SOCKETS.items() if fnmatch.fnmatch(name, pattern)), None)


def _port_of(shown: str) -> int:
    port = shown.rpartition(":")[2]
    return int(port) if port.isdigit() else 0


def guard_fix(subject: str) -> str:
    """The fix for code that picks its own database: read DATABASE_URL, or map DB_* placeholders."""
    return (f"make {subject} read DATABASE_URL (e.g. os.environ[\"DATABASE_URL\"]); settings built from "
            "DB_HOST/DB_NAME/... are checked as they are when [tool.conformance.test_env] maps them: "
            "DB_HOST = \"{db_host}\", DB_PORT = \"{db_port}\", DB_NAME = \"{db_name}\", DB_USER = \"{db_user}\", "
            "DB_PASSWORD = \"{db_password}\"")


def allow_entry(text: str) -> tuple[str, int]:
    """(host, port) of a network.allow entry: "host:port", "[v6]:port", "host" or a bare IPv6
    address; port 0 means any (the guard's child side reads entries the same way)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, ""
    return host.lower().rstrip("."), int(port) if port.isdigit() else 0


def is_loopback_host(host: str) -> bool:
    if host in ("localhost", "") or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def protected_ports(network: NetworkSpec) -> list[int]:
    """The loopback ports no child may reach: the usual servers' and the spec's, minus those a
    loopback entry of network.allow lifts (a loopback host without a port lifts them all)."""
    lifted: set[int] = set()
    for host, port in map(allow_entry, (e for e in network.allow if not e.startswith("/"))):
        if is_loopback_host(host):
            if not port:
                return []
            lifted.add(port)
    return sorted((set(SERVICE_PORTS) | set(network.protected_ports)) - lifted)


def scratch_dirs(*dirs: Path | None) -> tuple[Path, ...]:
    return tuple(dict.fromkeys(Path(d) for d in dirs if d is not None))


__all__ = ["Guard", "GuardRecord", "GUARD_DIR", "GUARD_ENV", "SERVICE_PORTS", "allow_entry", "as_shown",
           "is_loopback_host", "protected_ports", "guard_fix", "read_records",
           "refusal_fix", "refused", "refused_message", "scratch_dirs", "service_label", "elsewhere"]


def elsewhere(records: Iterable[GuardRecord]) -> list[GuardRecord]:
    """Connections to databases other than the given one (refused or allowed scratch SQLite files)."""
    return [r for r in records if r.verdict != "given"]
