"""Find processes a run left behind, from /proc: the self-tests' proof that nothing survives."""

from __future__ import annotations

import os
from pathlib import Path


def _ancestors() -> set[int]:
    """This process and its ancestors (they legitimately mention the test's paths)."""
    mine, pid = set(), os.getpid()
    while pid > 1:
        mine.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return mine


def leftover_processes(*roots: Path, env_marker: str | None = None) -> list[str]:
    """Live processes (not zombies, not this one or its ancestors) whose command line mentions a
    root, whose working directory lies under one, or whose environment contains `env_marker`."""
    mine = _ancestors()
    found = []
    texts = [str(root) for root in roots]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        try:
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            cwd = os.readlink(entry / "cwd")
            environ = (entry / "environ").read_bytes() if env_marker else b""
        except OSError:
            continue
        if state == "Z":
            continue
        by_path = any(t in cmd or cwd == t or cwd.startswith(t + "/") for t in texts)
        if by_path or (env_marker and env_marker.encode() in environ):
            found.append(f"{entry.name} (cwd {cwd}): {cmd}")
    return found
