"""Database URLs given to the suite: only local databases unless the user says otherwise.

Migration checks run `downgrade base`: pointed at a shared database by mistake, they would
drop its tables. A host that is not loopback (or a Unix socket) is refused by default.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


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
