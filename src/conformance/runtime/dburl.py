"""Database URLs given to the suite: only local databases unless the user says otherwise.

Migration checks run `downgrade base`: pointed at a shared database by mistake, they would
drop its tables. A host that is not loopback (or a Unix socket) is refused by default.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from urllib.parse import unquote, urlsplit


class DatabaseUrlError(Exception):
    pass


LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def is_local_host(host: str | None) -> bool:
    if not host:
        return True  # no host: a Unix socket or an embedded database (SQLite)
    if host.lower() in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_database_url(url: str, *, allow_remote: bool = False) -> str:
    parts = urlsplit(url)
    if not parts.scheme:
        raise DatabaseUrlError(f"--database-url {url!r} is not a URL (e.g. postgresql+psycopg://user@127.0.0.1/db)")
    try:
        host = parts.hostname
    except ValueError as exc:
        raise DatabaseUrlError(f"--database-url has a malformed host: {exc}") from None
    if not allow_remote and not is_local_host(host):
        raise DatabaseUrlError(
            f"--database-url points at {host}, which is not this machine; the migration checks drop "
            "every table there. Use a local throwaway database, or pass --allow-remote-db if you mean it")
    return url


DATABASE_PLACEHOLDERS = ("db_url", "db_host", "db_port", "db_name", "db_user", "db_password")
DEFAULT_PORTS = {"postgresql": "5432", "postgres": "5432", "mysql": "3306", "mariadb": "3306"}


def database_values(url: str) -> dict[str, str]:
    """The throwaway database in the shapes backends read it: {db_url} and its parts, so a backend
    whose settings build the URL from DB_HOST/DB_NAME/... is checked as it is (test_env maps
    DB_HOST = "{db_host}"). For SQLite, db_name is the file path and the other parts are empty."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0].lower()
    if scheme == "sqlite":
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        return {"db_url": url, "db_host": "", "db_port": "", "db_name": unquote(path), "db_user": "",
                "db_password": ""}
    try:
        port = str(parts.port or DEFAULT_PORTS.get(scheme, ""))
    except ValueError:
        port = ""
    return {"db_url": url, "db_host": unquote(parts.hostname or ""), "db_port": port,
            "db_name": unquote(parts.path.lstrip("/")), "db_user": unquote(parts.username or ""),
            "db_password": unquote(parts.password or "")}


def throwaway_sqlite(tmp: Path) -> str:
    """The database of a check that does not migrate (app, importability, workers, start script)."""
    return f"sqlite:///{tmp}/app.db"
