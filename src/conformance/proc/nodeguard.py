"""The network guard of the Node.js processes a worker check starts (data/node_guard.cjs).

Workers written with node-telegram-bot-api, telegraf or grammY talk to https://api.telegram.org
by default; started with a real token during a test run they would take the production bot's
updates. The guard is preloaded through NODE_OPTIONS (`--require`, which also runs before an ES
module entry), inherited by every process of the worker (it re-adds itself to the environment
of the children a process starts): requests for api.telegram.org go to the check's fake Bot
API, any other connection that is not loopback is refused before DNS (and, on loopback, the
usual ports of servers no check starts: conformance.proc.dbguard.SERVICE_PORTS), and every decision is
appended to a JSON-lines record that this module reads back into findings.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from conformance.model.spec import NetworkSpec
from conformance.proc.dbguard import SERVICE_SOCKETS, allow_entry, is_loopback_host, protected_ports

GUARD_FILE = (Path(__file__).resolve().parents[1] / "data" / "node_guard.cjs")  # conformance/data
TELEGRAM_VAR = "CONFORMANCE_NODE_GUARD_TELEGRAM"
ALLOW_VAR = "CONFORMANCE_NODE_GUARD_ALLOW"
PROTECT_VAR = "CONFORMANCE_NODE_GUARD_PROTECT"
SOCKETS_VAR = "CONFORMANCE_NODE_GUARD_SOCKETS"
TELEGRAM_HOSTS = frozenset({"api.telegram.org"})  # node_guard.cjs routes these to the fake Bot API
RECORD_VAR = "CONFORMANCE_NODE_GUARD_RECORD"


def require_option() -> str:
    """`--require "<guard>"`, quoted the way NODE_OPTIONS and the guard itself write it."""
    return f"--require {json.dumps(str(GUARD_FILE), ensure_ascii=False)}"


def with_guard_option(node_options: str) -> str:
    """NODE_OPTIONS with the guard's --require first (once): every child_env carries it, so any
    node a check starts (a start script's, a backend's) is guarded, refusing all but loopback."""
    guard = require_option()
    rest = node_options.replace(guard, " ").strip()
    return f"{guard} {rest}".strip()


def node_policy(network: NetworkSpec) -> tuple[list[str], list[int]]:
    """(hosts allowed besides loopback, loopback ports refused) from the spec's network table. The
    node guard allows per host: an entry's port narrows nothing there."""
    hosts = [host for host, _ in map(allow_entry, (e for e in network.allow if not e.startswith("/")))
             if not is_loopback_host(host)
             and host not in TELEGRAM_HOSTS]  # always the fake's (or refused): a worker never reaches the real bot
    sockets = [entry for entry in network.allow if entry.startswith("/")]  # Unix sockets, allowed by path
    return list(dict.fromkeys([*hosts, *sockets])), protected_ports(network)


def node_guard_defaults(node_options: str, network: NetworkSpec = NetworkSpec()) -> dict[str, str]:
    """What child_env sets for every child: the guard preloaded, no fake, no record (so it refuses
    api.telegram.org like any other host), the spec's network policy; the spec's environment
    cannot loosen it."""
    hosts, ports = node_policy(network)
    return {"NODE_OPTIONS": with_guard_option(node_options), TELEGRAM_VAR: "", ALLOW_VAR: ",".join(hosts),
            PROTECT_VAR: ",".join(map(str, ports)), SOCKETS_VAR: ",".join(SERVICE_SOCKETS), RECORD_VAR: ""}


def guarded_env(env: Mapping[str, str], *, record: Path, telegram_url: str | None = None,
                allow: Sequence[str] = (), network: NetworkSpec = NetworkSpec()) -> dict[str, str]:
    """`env` with the guard preloaded and configured for a worker check. The spec cannot turn it
    off: its NODE_OPTIONS come after the guard's, its guard variables are overwritten."""
    result = dict(env)
    result["NODE_OPTIONS"] = with_guard_option(result.get("NODE_OPTIONS", ""))
    result[TELEGRAM_VAR] = telegram_url or ""
    hosts, ports = node_policy(network)
    result[ALLOW_VAR] = ",".join(dict.fromkeys([*allow, *hosts]))
    result[PROTECT_VAR] = ",".join(map(str, ports))
    result[SOCKETS_VAR] = ",".join(SERVICE_SOCKETS)
    result[RECORD_VAR] = str(record)
    return result


@dataclass(frozen=True)
class NetEvent:
    """One decision of the guard: `event` is "routed" (Telegram, sent to the fake), "refused",
    "loopback" or "allowed" (an allowed host that is not loopback)."""

    event: str
    host: str
    port: int | None
    via: str = ""
    pid: int = 0
    file: str | None = None  # the first stack frame outside the guard and node's internals
    line: int | None = None
    reason: str = ""  # "service": a protected loopback port

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}" if self.port else self.host


@dataclass
class GuardRecord:
    """What the guard wrote: the processes that loaded it and their connections."""

    started: dict[int, list[str]] = field(default_factory=dict)  # pid -> argv
    events: list[NetEvent] = field(default_factory=list)

    def of(self, *kinds: str) -> list[NetEvent]:
        return [e for e in self.events if e.event in kinds]

    def left_loopback(self) -> list[NetEvent]:
        """Connections that went to a host other than loopback (routed and refused ones never did)."""
        return self.of("allowed")

    def refused_hosts(self) -> dict[str, list[NetEvent]]:
        """Refused attempts by host, in the order they first happened."""
        hosts: dict[str, list[NetEvent]] = {}
        for event in self.of("refused"):
            hosts.setdefault(event.host, []).append(event)
        return hosts


def read_record(path: Path) -> GuardRecord:
    """Parse the record; a line being written right now (or garbled) is skipped."""
    found = GuardRecord()
    try:
        text = path.read_text("utf-8", "replace")
    except OSError:
        return found
    for raw in text.splitlines():
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if not isinstance(data, dict):
            continue
        pid = data.get("pid") if isinstance(data.get("pid"), int) else 0
        if data.get("event") == "start":
            argv = data.get("argv")
            found.started[pid] = [str(a) for a in argv] if isinstance(argv, list) else []
            continue
        site = data.get("site") if isinstance(data.get("site"), dict) else {}
        port = data.get("port")
        line = site.get("line")
        found.events.append(NetEvent(
            event=str(data.get("event", "")), host=str(data.get("host", "")),
            port=port if isinstance(port, int) else None, via=str(data.get("via", "")), pid=pid,
            file=str(site["file"]) if isinstance(site.get("file"), str) else None,
            line=line if isinstance(line, int) else None, reason=str(data.get("reason") or "")))
    return found


def is_node(pid: int) -> bool:
    """The process runs a node binary (node, nodejs, node20, ...)."""
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/exe")).startswith("node")
    except OSError:
        return False


def unguarded_node(pids: Iterable[int], record: GuardRecord) -> list[int]:
    """Node.js processes among `pids` that never loaded the guard."""
    return [pid for pid in pids if pid not in record.started and is_node(pid)]
