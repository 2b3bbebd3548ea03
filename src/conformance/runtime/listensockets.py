"""Which TCP ports a group of processes listens on, read from /proc (Linux).

A start script that ignores PORT and binds a fixed port never answers on the port it was
given; waiting for the ready timeout then says only "nothing answered". Reading the listening
sockets of its processes names the address it bound instead. Parsing is pure (fixture text in
the self-tests); `listening_sockets` is the thin reader.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

LISTEN_STATE = "0A"  # TCP_LISTEN in /proc/net/tcp's "st" column


@dataclass(frozen=True, order=True)
class Listener:
    """A listening TCP socket: address as text ("0.0.0.0", "::"), port, and its inode."""

    address: str
    port: int
    inode: int = 0

    @property
    def shown(self) -> str:
        return f"[{self.address}]:{self.port}" if ":" in self.address else f"{self.address}:{self.port}"

    @property
    def loopback_host(self) -> str:
        """Where to connect to reach it from this machine (a wildcard address means loopback)."""
        if self.address in ("0.0.0.0", "::", "::ffff:0.0.0.0"):
            return "127.0.0.1"
        return f"[{self.address}]" if ":" in self.address else self.address


def parse_address(field: str) -> tuple[str, int]:
    """'0100007F:1F40' -> ('127.0.0.1', 8000); IPv6 fields are four little-endian 32-bit words."""
    hex_address, hex_port = field.split(":")
    raw = bytes.fromhex(hex_address)
    swapped = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(swapped)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped), int(hex_port, 16)
    return str(address), int(hex_port, 16)


def parse_tcp_table(text: str) -> list[Listener]:
    """The LISTEN rows of /proc/net/tcp or /proc/net/tcp6 text."""
    found = []
    for row in text.splitlines()[1:]:
        fields = row.split()
        if len(fields) < 10 or fields[3] != LISTEN_STATE:
            continue
        try:
            address, port = parse_address(fields[1])
            found.append(Listener(address, port, int(fields[9])))
        except ValueError:
            continue
    return found


def socket_inode(link: str) -> int | None:
    """'socket:[12345]' (an fd's readlink) -> 12345; None for anything else."""
    if link.startswith("socket:[") and link.endswith("]"):
        try:
            return int(link[8:-1])
        except ValueError:
            return None
    return None


def listeners_of(inodes: set[int], tables: Iterable[str]) -> list[Listener]:
    """The listening sockets among `inodes`, from /proc/net/tcp{,6} texts; sorted, no duplicates."""
    return sorted({item for text in tables for item in parse_tcp_table(text) if item.inode in inodes})


def listening_sockets(pids: Iterable[int], proc: Path = Path("/proc")) -> list[Listener]:
    """What `pids` listen on now. Processes that vanish or cannot be read are skipped."""
    inodes: set[int] = set()
    tables: dict[str, str] = {}
    for pid in pids:
        fd_dir = proc / str(pid) / "fd"
        try:
            names = os.listdir(fd_dir)
        except OSError:
            continue
        for name in names:
            try:
                inode = socket_inode(os.readlink(fd_dir / name))
            except OSError:
                continue
            if inode is not None:
                inodes.add(inode)
        if not tables:  # the network namespace of the group: read once, through a member
            for table in ("tcp", "tcp6"):
                try:
                    tables[table] = (proc / str(pid) / "net" / table).read_text()
                except OSError:
                    continue
    return listeners_of(inodes, tables.values()) if inodes else []
