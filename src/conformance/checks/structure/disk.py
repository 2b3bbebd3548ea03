"""What the structure checks look at on disk beyond the index's names, recorded as they look.

Most structure rules judge names (the index, git's history and ignore rules); a few read the
disk: a script's first line (a Python shebang in workers/), whether a module is empty, the state
of a planned directory git does not track. Every such look goes through `look`, and the report
cached between runs keeps what each look saw: a cached report is reused only while every look
still sees the same (`unchanged`), so its key can leave file contents out.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def first_line(full: Path) -> bytes | None:
    """The first line (at most 200 bytes), None when the file cannot be read."""
    try:
        with open(full, "rb") as handle:
            return handle.readline(200)
    except OSError:
        return None


def blank_module(full: Path) -> bool | None:
    """Only blank lines and comments (None: unreadable)."""
    try:
        text = full.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines())


def dir_state(full: Path) -> tuple[bool, bool, bool, bool]:
    """(a symlink, a directory, holds entries, has __init__.py) of a path git does not track as a
    directory; never follows a link into its target's entries."""
    link = full.is_symlink()
    directory = not link and full.is_dir()
    entries = False
    if directory:
        try:
            entries = any(full.iterdir())
        except OSError:
            entries = True  # unreadable: it holds something git could not list either
    return link, directory, entries, directory and (full / "__init__.py").exists()


LOOKS: dict[str, Callable[[Path], Any]] = {"first_line": first_line, "blank_module": blank_module,
                                           "dir_state": dir_state}


def look(root: Path, kind: str, path: str) -> Any:
    return LOOKS[kind](root / path)


def unchanged(root: Path, seen: dict[tuple[str, str], Any]) -> bool:
    """Every recorded look still sees what it saw."""
    return all(kind in LOOKS and look(root, kind, path) == value for (kind, path), value in seen.items())
