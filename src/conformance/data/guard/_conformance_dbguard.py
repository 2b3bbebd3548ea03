"""Policy and driver patches of the conformance suite's database guard (see sitecustomize.py).

Imported by the guard's import hook only when a watched driver is imported, so a child that
never touches a database never compiles this file.
"""

from __future__ import annotations

import os
import sys

ENV = "CONFORMANCE_DB_GUARD"
LOOPBACK = {"localhost", "localhost.localdomain", "ip6-localhost", "127.0.0.1", "::1", "[::1]"}
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}
KIND_ALIASES = {"postgres": "postgresql", "pgsql": "postgresql", "mariadb": "mysql"}


class RefusedConnection(ConnectionRefusedError):
    """Raised instead of connecting to a database the check did not hand out."""


# -- targets: (kind, host, port, name) in one spelling ------------------------------------------

def _kind(scheme: str) -> str:
    base = (scheme or "").split("+", 1)[0].lower()
    return KIND_ALIASES.get(base, base)


def _host(host: object) -> str:
    """Loopback names and Unix sockets are one machine: "local"; other hosts lower-cased."""
    text = str(host or "").strip().split(",", 1)[0].lower()
    if not text or text.startswith("/") or text.startswith("@") or text in LOOPBACK or text.startswith("127."):
        return "local"
    return text


def _sqlite_path(name: str) -> str:
    if name in ("", ":memory:") or name.startswith("file::memory:") or "mode=memory" in name:
        return ":memory:"
    if name.startswith("file:"):
        name = name[5:].split("?", 1)[0]
        if name.startswith("//"):
            name = name[2:]
            name = name[name.find("/"):] if "/" in name else name
        from urllib.parse import unquote
        name = unquote(name)
    return os.path.realpath(os.path.abspath(name))


def _server(kind: str, parts: dict) -> tuple:
    port = parts.get("port") or DEFAULT_PORTS.get(kind) or 0
    try:
        port = int(str(port).split(",", 1)[0])
    except ValueError:
        port = 0
    name = parts.get("dbname") or parts.get("database") or parts.get("db")
    if not name and kind == "postgresql":
        name = parts.get("user") or os.environ.get("USER", "")  # libpq's default database
    host = parts.get("host") or parts.get("unix_socket") or ("localhost" if kind == "mysql" else "")
    return (kind, _host(host), port, str(name or ""))


def parse_url(url: str) -> tuple[tuple, dict]:
    """(target, parts) of a SQLAlchemy/libpq-style URL; parts hold user/host/port/name for display."""
    from urllib.parse import parse_qsl, unquote, urlsplit

    split = urlsplit(url)
    kind = _kind(split.scheme)
    if kind == "sqlite":
        path = split.path[1:] if split.path.startswith("/") else split.path
        path = _sqlite_path(unquote(path) or ":memory:")
        return ("sqlite", "", 0, path), {"kind": "sqlite", "name": path}
    query = dict(parse_qsl(split.query))
    try:
        port = split.port
    except ValueError:
        port = None
    parts = {"user": unquote(split.username or "") or query.get("user", ""),
             "host": unquote(split.hostname or "") or query.get("host", ""),
             "port": port or query.get("port"),
             "dbname": unquote(split.path.lstrip("/")) or query.get("dbname", "")}
    return _server(kind, parts), dict(parts, kind=kind)


_CONNINFO = None


def parse_conninfo(text: str) -> dict:
    """libpq's key=value form (or a URL) as a dict."""
    global _CONNINFO
    text = (text or "").strip()
    if "://" in text:
        _target, parts = parse_url(text)
        return {k: v for k, v in parts.items() if k != "kind" and v}
    if _CONNINFO is None:
        import re
        _CONNINFO = re.compile(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)")
    return {key: value[1:-1].replace("\\'", "'") if value.startswith("'") else value
            for key, value in _CONNINFO.findall(text)}


def display(kind: str, parts: dict) -> str:
    """A URL for messages: never the password."""
    if kind == "sqlite":
        return "sqlite:///" + str(parts.get("name", ""))
    user = parts.get("user") or ""
    host = str(parts.get("host") or parts.get("unix_socket") or "")
    query = ""
    if host.startswith("/"):
        host, query = "", "?host=" + host
    port = parts.get("port")
    name = parts.get("dbname") or parts.get("database") or parts.get("db") or ""
    return f"{kind}://{user + '@' if user else ''}{host}{':' + str(port) if port else ''}/{name}{query}"


# -- the policy -------------------------------------------------------------------------------

_CONFIG = None
_GIVEN_SEEN = []  # the given database is recorded once per process: enough to know it was used


def config() -> dict:
    """The parent's instructions, parsed at the first connection (json is not loaded at startup)."""
    global _CONFIG
    if _CONFIG is None:
        import json
        raw = json.loads(os.environ.get(ENV) or "{}")
        _CONFIG = {
            "allow": [parse_url(url)[0] for url in raw.get("allow", []) if url],
            "dirs": [os.path.realpath(d) for d in raw.get("dirs", [])],
            "backend": os.path.realpath(raw["backend"]) if raw.get("backend") else "",
            "backend_raw": raw.get("backend") or "",
            "report": raw.get("report") or "",
            "allow_urls": [url for url in raw.get("allow", []) if url],
        }
    return _CONFIG


def verdict(target: tuple, cfg: dict) -> str:
    """'given' (the check's database), 'scratch' (a SQLite file in a scratch dir) or 'refused'."""
    if target in cfg["allow"]:
        return "given"
    if target[0] == "sqlite":
        path = target[3]
        if path == ":memory:":
            return "given"
        if any(path == d or path.startswith(d.rstrip(os.sep) + os.sep) for d in cfg["dirs"]):
            return "scratch"
    return "refused"


def is_library(path: str) -> bool:
    if path.startswith("<frozen") or os.path.dirname(path) == os.path.dirname(__file__):
        return True
    if "site-packages" in path or "dist-packages" in path:
        return True
    stdlib = os.path.dirname(os.__file__)
    return path.startswith(stdlib + os.sep)


def caller(cfg: dict, frame=None) -> tuple:
    """The innermost frame inside the backend's tree, else the outermost non-library frame, else
    (a thread only libraries run, e.g. an error reporter's sender) where that thread was started."""
    roots = tuple(r.rstrip(os.sep) + os.sep for r in {cfg["backend"], cfg["backend_raw"]} if r)
    frame = frame or sys._getframe(1)
    outermost = None
    while frame is not None:
        path = frame.f_code.co_filename
        if not is_library(path):
            if roots and (path.startswith(roots) or os.path.realpath(path).startswith(roots)):
                return path, frame.f_lineno
            outermost = (path, frame.f_lineno)
        frame = frame.f_back
    threading = sys.modules.get("threading")
    started = getattr(threading.current_thread(), "_conformance_started_at", None) if threading else None
    return outermost or started or ("<unknown>", 0)


def _patch_threading(module: object) -> None:
    """Remember where each thread was started, for connections made where no backend frame is on
    the stack (the backend called a library that started the thread)."""
    original = module.Thread.__init__

    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        try:
            place = caller(config(), sys._getframe(1))
        except Exception:  # never break a thread's creation for a finding's location
            return
        if place[0] != "<unknown>":
            self._conformance_started_at = place

    module.Thread.__init__ = __init__


def check(target: tuple, shown: str, via: str) -> None:
    """Refuse (raise) a connection to anything but the check's database; record every
    connection that is not to the given database, and the first one that is."""
    cfg = config()
    answer = verdict(target, cfg)
    if answer == "given":
        if _GIVEN_SEEN or target[3] == ":memory:":
            return
        _GIVEN_SEEN.append(True)
    path, line = caller(cfg)
    if cfg["report"]:
        import json
        record = {"url": shown, "via": via, "path": path, "line": line, "verdict": answer, "pid": os.getpid()}
        try:
            with open(cfg["report"], "a", encoding="utf-8") as report:
                report.write(json.dumps(record) + "\n")
        except OSError:
            pass
    if answer == "refused":
        given = ", ".join(cfg["allow_urls"]) or "no server database"
        raise RefusedConnection(
            f"conformance guard: refused the connection to {shown} made at {path}:{line} ({via}): this check "
            f"gives the backend only its throwaway database ({given}) as DATABASE_URL; read the database from "
            "DATABASE_URL, or map DB_HOST/DB_NAME/... to the {db_host}/{db_name}/... placeholders in "
            "[tool.conformance.test_env]")


# -- patches, applied right after each driver is imported --------------------------------------

def _check_sqlite(database: object, uri: bool, via: str) -> None:
    name = os.fsdecode(database) if isinstance(database, (str, bytes, os.PathLike)) else str(database)
    if not uri and name.startswith("file:"):
        name = "./" + name  # without uri=True, "file:x" is a plain file name
    path = _sqlite_path(name)
    check(("sqlite", "", 0, path), display("sqlite", {"name": path}), via)


def _patch_sqlite3(module: object) -> None:
    original = module.connect

    def connect(database, *args, **kwargs):
        uri = kwargs.get("uri", args[6] if len(args) > 6 else False)
        _check_sqlite(database, bool(uri), "sqlite3")
        return original(database, *args, **kwargs)

    module.connect = connect
    if getattr(module, "dbapi2", None) is not None:
        module.dbapi2.connect = connect


def _pg_check(conninfo: object, params: dict, via: str) -> None:
    parts = {k: os.environ[v] for k, v in (("host", "PGHOST"), ("port", "PGPORT"), ("dbname", "PGDATABASE"),
                                            ("user", "PGUSER")) if os.environ.get(v)}
    parts.update(parse_conninfo(conninfo) if isinstance(conninfo, str) else {})
    parts.update({k: v for k, v in params.items() if v is not None and isinstance(v, (str, int))})
    if "database" in parts and "dbname" not in parts:
        parts["dbname"] = parts["database"]
    check(_server("postgresql", parts), display("postgresql", parts), via)


def _patch_psycopg2(module: object) -> None:
    original = module.connect

    def connect(dsn=None, connection_factory=None, cursor_factory=None, **kwargs):
        _pg_check(dsn, {k: v for k, v in kwargs.items() if k != "async"}, "psycopg2")
        return original(dsn, connection_factory=connection_factory, cursor_factory=cursor_factory, **kwargs)

    module.connect = connect


_PSYCOPG_OPTIONS = ("autocommit", "prepare_threshold", "context", "row_factory", "cursor_factory")


def _patch_psycopg(module: object) -> None:
    sync_cls = module.Connection
    sync_original = sync_cls.__dict__["connect"].__func__

    def connect(cls, conninfo="", **kwargs):
        _pg_check(conninfo, {k: v for k, v in kwargs.items() if k not in _PSYCOPG_OPTIONS}, "psycopg")
        return sync_original(cls, conninfo, **kwargs)

    sync_cls.connect = classmethod(connect)
    module.connect = sync_cls.connect
    async_cls = getattr(module, "AsyncConnection", None)
    if async_cls is not None and "connect" in async_cls.__dict__:
        async_original = async_cls.__dict__["connect"].__func__

        async def connect_async(cls, conninfo="", **kwargs):
            _pg_check(conninfo, {k: v for k, v in kwargs.items() if k not in _PSYCOPG_OPTIONS}, "psycopg (async)")
            return await async_original(cls, conninfo, **kwargs)

        async_cls.connect = classmethod(connect_async)


def _patch_asyncpg(module: object) -> None:
    inner = getattr(module, "connection", None)
    original = getattr(inner, "connect", None) or module.connect

    async def connect(dsn=None, **kwargs):
        _pg_check(dsn, {k: kwargs.get(k) for k in ("host", "port", "user", "database")}, "asyncpg")
        return await original(dsn, **kwargs)

    module.connect = connect
    if inner is not None:
        inner.connect = connect


def _patch_pymysql(module: object) -> None:
    cls = module.connections.Connection
    original = cls.__init__

    def __init__(self, *args, **kwargs):
        parts = {"host": kwargs.get("host") or kwargs.get("unix_socket"), "port": kwargs.get("port"),
                 "database": kwargs.get("database") or kwargs.get("db"), "user": kwargs.get("user")}
        check(_server("mysql", parts), display("mysql", parts), "pymysql")
        original(self, *args, **kwargs)

    cls.__init__ = __init__


def _sqlalchemy_connect(dialect, _record, cargs, cparams) -> None:
    """SQLAlchemy's do_connect event: every engine (sync or async, any driver) before its DBAPI connects."""
    kind = _kind(getattr(dialect, "name", ""))
    if kind == "sqlite":
        name = cargs[0] if cargs else cparams.get("database", "")
        _check_sqlite(name, bool(cparams.get("uri")), f"SQLAlchemy sqlite+{getattr(dialect, 'driver', '')}")
        return
    parts = parse_conninfo(cargs[0]) if cargs and isinstance(cargs[0], str) else {}
    parts.update({k: v for k, v in cparams.items() if isinstance(v, (str, int)) and not isinstance(v, bool)})
    parts.setdefault("user", parts.get("username", ""))
    check(_server(kind, parts), display(kind, parts), f"SQLAlchemy {kind}+{getattr(dialect, 'driver', '')}")


def _patch_sqlalchemy(module: object) -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    event.listen(Engine, "do_connect", _sqlalchemy_connect)


def _patch_network(name: str, module: object) -> None:
    """Sockets and asyncio's name lookups: the policy lives in _conformance_netguard (beside this file)."""
    import _conformance_netguard

    if name == "socket":
        _conformance_netguard.patch_socket(module)
    elif name == "uvloop":
        _conformance_netguard.patch_uvloop(module)
    else:
        _conformance_netguard.patch_event_loop(module)


def patch(name: str, module: object) -> None:
    """Patch a freshly imported driver or network module (called by sitecustomize's import hook)."""
    if name in ("socket", "asyncio.base_events", "uvloop"):
        _patch_network(name, module)
    else:
        PATCHES[name](module)


PATCHES = {
    "sqlite3": _patch_sqlite3,
    "psycopg2": _patch_psycopg2,
    "psycopg": _patch_psycopg,
    "asyncpg": _patch_asyncpg,
    "pymysql": _patch_pymysql,
    "sqlalchemy": _patch_sqlalchemy,
    "threading": _patch_threading,
}


