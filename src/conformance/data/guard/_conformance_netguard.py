"""Network part of the conformance suite's guard (see sitecustomize.py): every Python socket.

Database drivers are checked by _conformance_dbguard by what they connect to. Everything else (Redis
clients, HTTP clients, raw sockets) is checked here by address, before anything is sent:
- loopback is fine, except the usual ports of servers a check does not start (a developer's Redis,
  PostgreSQL, MongoDB, ...): the parent names them in "net"."protect";
- any other host is refused before its name is looked up (the lookup itself leaves the machine),
  unless "net"."allow" lists it or it is the server of the given database;
- this machine's own host name resolves and connects like loopback.
Each refusal is a JSON line in the guard's report ("kind": "service" or "remote") and a
ConnectionRefusedError (a socket.gaierror for a lookup) that names the place. Stdlib only.
"""

from __future__ import annotations

import os
import sys

from _conformance_dbguard import LOOPBACK, RefusedConnection, caller, config, is_library

ENV = "CONFORMANCE_DB_GUARD"
# Frames that only carry a connection along: the library named in a finding is the first other one.
PLUMBING = {"socket", "ssl", "selectors", "asyncio", "concurrent", "threading", "contextlib", "functools",
            "anyio", "trio", "sniffio", "_conformance_dbguard", "_conformance_netguard"}

_NET = None


def _bare(host: object) -> str:
    if isinstance(host, (bytes, bytearray)):  # anyio and others pass IDNA-encoded names
        host = bytes(host).decode("ascii", "replace")
    text = str(host or "").strip().lower()
    if text.startswith("[") and "]" in text:
        text = text[1:text.index("]")]
    return text.split("%", 1)[0].rstrip(".")


def _port(port: object) -> int:
    try:
        return int(port or 0)
    except (TypeError, ValueError):
        return 0


def _ip(host: str):
    import ipaddress
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_local(host: str) -> bool:
    """Loopback, the unspecified address (connecting to it reaches this machine), localhost names."""
    if host in LOOPBACK or host in ("", "0.0.0.0", "::") or host.endswith(".localhost"):
        return True
    address = _ip(host)
    if address is None:
        return False
    address = getattr(address, "ipv4_mapped", None) or address
    return address.is_loopback or address.is_unspecified


def split_entry(text: str) -> tuple:
    """(host, port) of "host:port", "[v6]:port", "host" or a bare IPv6 address (port 0: any)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, ""
    return _bare(host), int(port) if port.isdigit() else 0


def net_config() -> dict:
    """Allowed (host, port) pairs (host "local" for loopback; port 0: any), the protected loopback
    ports, the data servers' socket name patterns with the sockets allowed anyway, and the
    addresses learnt while running (allowed names' and this machine's)."""
    global _NET
    if _NET is None:
        import json
        raw = json.loads(os.environ.get(ENV) or "{}").get("net") or {}
        allow, paths, names = set(), set(), set()
        for entry in raw.get("allow", []):
            if str(entry).startswith("/"):  # a Unix socket
                paths.add(os.path.realpath(str(entry)))
                continue
            host, port = split_entry(str(entry))
            allow.add(("local" if is_local(host) else host, port))
        for target in config()["allow"]:  # the given database's server (and its socket, when local)
            if target[0] != "sqlite":
                allow.add((target[1], target[2]))
                if target[1] == "local":
                    names.add(f".s.PGSQL.{target[2]}")
        _NET = {"allow": allow, "protected": {int(p) for p in raw.get("protect", [])}, "learnt": set(),
                "own": set(), "own_names": None, "sockets": [str(p) for p in raw.get("sockets", [])],
                "socket_paths": paths, "socket_names": names}
    return _NET


def _own_names(net: dict) -> set:
    if net["own_names"] is None:
        import socket
        try:
            net["own_names"] = {_bare(socket.gethostname())}
        except OSError:
            net["own_names"] = set()
    return net["own_names"]


def endpoint_refusal(host: object, port: object) -> str:
    """'' when a connection to (host, port) may go ahead, else why not: 'service' (a protected
    loopback port) or 'remote' (another host)."""
    net = net_config()
    host, port = _bare(host), _port(port)
    if host in net["own"] or is_local(host):
        if port in net["protected"] and ("local", port) not in net["allow"] and ("local", 0) not in net["allow"]:
            return "service"
        return ""
    if (host, port) in net["allow"] or (host, 0) in net["allow"] or (host, port) in net["learnt"] \
            or (host, 0) in net["learnt"]:
        return ""
    return "remote"


def socket_refusal(path: object) -> str:
    """'' when a Unix socket may be connected to, 'service' when it is a data server's (its name
    is one of the usual ones) outside the check's scratch dirs and not allowed."""
    import fnmatch

    net = net_config()
    text = os.fsdecode(path) if isinstance(path, (str, bytes)) else ""
    if not text or text.startswith("\0"):  # abstract sockets (systemd, D-Bus): no data server's
        return ""
    name = os.path.basename(text)
    if name in net["socket_names"] or not any(fnmatch.fnmatch(name, p) for p in net["sockets"]):
        return ""
    real = os.path.realpath(text)
    if real in net["socket_paths"] or any(real.startswith(d.rstrip(os.sep) + os.sep) for d in config()["dirs"]):
        return ""
    return "service"


def lookup_answer(host: object, port: object) -> str:
    """'' (numeric or local: nothing to learn), 'own' (this machine's name), 'allowed', or 'remote'."""
    net = net_config()
    name, port = _bare(host), _port(port)
    if not name or is_local(name) or _ip(name) is not None:
        return ""
    if name in _own_names(net):
        return "own"
    if (name, port) in net["allow"] or (name, 0) in net["allow"] or (port == 0 and any(h == name for h, _ in net["allow"])):
        return "allowed"
    return "remote"


def learn(host: object, port: object, addresses: list, answer: str) -> None:
    """Remember what an own or allowed name resolved to, so connecting to those addresses passes."""
    net = net_config()
    name, port = _bare(host), _port(port)
    ports = {p for h, p in net["allow"] if h == name} if port == 0 else {port}
    for address in addresses:
        address = _bare(address)
        if answer == "own":
            net["own"].add(address)
        else:
            net["learnt"].update((address, p) for p in ports or {0})


def _via() -> str:
    """The library the connection went through: the first frame outside the plumbing, or the
    plumbing the backend called itself (socket, asyncio, ...)."""
    frame, last = sys._getframe(1), "socket"
    while frame is not None:
        top = str(frame.f_globals.get("__name__") or "").split(".", 1)[0]
        if top and top not in PLUMBING:
            return top if is_library(frame.f_code.co_filename) else last
        if top in PLUMBING and not top.startswith("_conformance") and top not in ("contextlib", "functools"):
            last = top
        frame = frame.f_back
    return last


def _shown(host: object, port: object) -> str:
    host = _bare(host)
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if _port(port) else host


def checked_lookup(host: object, port: object) -> str:
    """lookup_answer, after raising socket.gaierror (recorded) for a name that may not be looked up."""
    answer = lookup_answer(host, port)
    if answer == "remote":
        import socket
        raise socket.gaierror(getattr(socket, "EAI_NONAME", -2), refusal(host, port, "remote"))
    return answer


def address_refusal(family: object, address: object) -> str:
    """The error text when a socket of `family` may not connect (or send) to `address`, else ''."""
    import socket

    if family == getattr(socket, "AF_UNIX", None) and isinstance(address, (str, bytes)):
        reason = socket_refusal(address)
        return refusal(None, None, reason, f"unix:{os.fsdecode(address)}") if reason else ""
    if family not in (socket.AF_INET, getattr(socket, "AF_INET6", None)) or not isinstance(address, tuple) \
            or len(address) < 2:
        return ""
    reason = endpoint_refusal(address[0], address[1])
    return refusal(address[0], address[1], reason) if reason else ""


def refusal(host: object, port: object, reason: str, shown: str = "") -> str:
    """Record the refused connection (or lookup) and return the error text that names it."""
    cfg = config()
    shown, via = shown or _shown(host, port), _via()
    path, line = caller(cfg)
    if cfg["report"]:
        import json
        record = {"url": shown, "via": via, "path": path, "line": line, "verdict": "refused", "kind": reason,
                  "pid": os.getpid()}
        try:
            with open(cfg["report"], "a", encoding="utf-8") as report:
                report.write(json.dumps(record) + "\n")
        except OSError:
            pass
    where = "a server the check did not start" if reason == "service" else "a host outside this machine"
    return (f"conformance guard: refused the connection to {shown} made at {path}:{line} ({via}): {where}; "
            "a check's backend reaches only loopback, its given database and what [tool.conformance.network] "
            "allow lists")


def patch_socket(module: object) -> None:
    """socket.socket's connect, connect_ex and sendto, and the module's name lookups."""
    import errno

    cls = module.socket

    def refused(sock: object, address: object) -> str:
        return address_refusal(getattr(sock, "family", None), address)

    original_connect, original_connect_ex, original_sendto = cls.connect, cls.connect_ex, cls.sendto

    def connect(self, address):
        message = refused(self, address)
        if message:
            raise RefusedConnection(message)
        return original_connect(self, address)

    def connect_ex(self, address):
        return errno.ECONNREFUSED if refused(self, address) else original_connect_ex(self, address)

    def sendto(self, data, *args):
        message = refused(self, args[-1]) if args else ""
        if message:
            raise RefusedConnection(message)
        return original_sendto(self, data, *args)

    cls.connect, cls.connect_ex, cls.sendto = connect, connect_ex, sendto

    def guarded(original, addresses):
        def lookup(host, *args, **kwargs):
            port = args[0] if args else kwargs.get("port")
            answer = checked_lookup(host, port)
            result = original(host, *args, **kwargs)
            if answer:
                learn(host, port, addresses(result), answer)
            return result

        lookup.__wrapped__ = original
        return lookup

    module.getaddrinfo = guarded(module.getaddrinfo, lambda result: [entry[4][0] for entry in result])
    module.gethostbyname = guarded(module.gethostbyname, lambda result: [result])
    module.gethostbyname_ex = guarded(module.gethostbyname_ex, lambda result: list(result[2]))


def patch_event_loop(module: object) -> None:
    """asyncio looks names up in an executor thread, where no frame of the backend is on the stack:
    a refused name is refused in the loop's own thread instead, where the awaiting code is."""
    cls = module.BaseEventLoop
    original = cls.getaddrinfo

    async def getaddrinfo(self, host, port, *args, **kwargs):
        checked_lookup(host, port)
        return await original(self, host, port, *args, **kwargs)

    cls.getaddrinfo = getaddrinfo


def _gate(host: object, port: object) -> None:
    """Raise what a refused lookup or connection raises, for loops that bypass socket.connect."""
    if checked_lookup(host, port) == "":  # an address or a local name: judged as a connection
        reason = endpoint_refusal(host, port)
        if reason:
            raise RefusedConnection(refusal(host, port, reason))


def patch_uvloop(module: object) -> None:
    """uvloop (uvicorn's loop when installed) connects and resolves in libuv, below socket.connect:
    its loop's Python-level entry points are checked instead."""
    cls = getattr(module, "Loop", None)
    if cls is None:
        return
    create_connection, sock_connect, getaddrinfo = cls.create_connection, cls.sock_connect, cls.getaddrinfo

    async def guarded_create_connection(self, protocol_factory, host=None, port=None, *args, **kwargs):
        if host is not None and kwargs.get("sock") is None:
            _gate(host, port)
        return await create_connection(self, protocol_factory, host, port, *args, **kwargs)

    async def guarded_sock_connect(self, sock, address):
        message = address_refusal(getattr(sock, "family", None), address)
        if message:
            raise RefusedConnection(message)
        return await sock_connect(self, sock, address)

    async def guarded_getaddrinfo(self, host, port, *args, **kwargs):
        checked_lookup(host, port)
        return await getaddrinfo(self, host, port, *args, **kwargs)

    cls.create_connection, cls.sock_connect = guarded_create_connection, guarded_sock_connect
    cls.getaddrinfo = guarded_getaddrinfo
