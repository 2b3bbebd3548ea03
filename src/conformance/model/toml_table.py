"""A TOML table being validated: typed takes, spec paths and gitignore patterns checked, and
every problem one SpecError naming the file and the dotted key, so pytest can stop with a
usage error instead of a traceback deep inside a check.
"""

from __future__ import annotations

import difflib
import posixpath
from pathlib import Path
from typing import Any

from conformance.model.spec import PHASES, SpecError


class TomlTable:
    """A TOML table being validated: takes known keys, then rejects the rest."""

    def __init__(self, data: Any, keypath: str, source: Path):
        self.source = source
        self.keypath = keypath
        if not isinstance(data, dict):
            raise self.error(f"must be a table, got {_type_name(data)}")
        self.data = data
        self.known: set[str] = set()

    def error(self, message: str, key: str | None = None) -> SpecError:
        where = self.child(key) if key else self.keypath
        return SpecError(f"{self.source}: [{where or 'top level'}] {message}")

    def child(self, key: str) -> str:
        shown = key if key.replace("_", "").replace("-", "").isalnum() else f'"{key}"'
        return f"{self.keypath}.{shown}" if self.keypath else shown

    def take(self, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        self.known.add(key)
        if key not in self.data:
            return default
        value = self.data[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.error(f"must be {_kind_name(kind)}, got {_type_name(value)}", key)
        return value

    def take_str_list(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self.take(key, (list, str), None)
        if value is None:
            return default
        items = [value] if isinstance(value, str) else value
        for item in items:
            if not isinstance(item, str):
                raise self.error(f"must be a list of strings, found {_type_name(item)}", key)
        return tuple(items)

    def take_phase(self, key: str = "phase", default: int = 1) -> int:
        value = self.take(key, int, default)
        if value not in PHASES:
            raise self.error(f"must be a plan phase 1-4, got {value}", key)
        return value

    def take_path(self, key: str, default: str | None = None) -> str | None:
        value = self.take(key, str, None)
        return default if value is None else normalize_spec_path(value, self, key)

    def reject_unknown(self) -> None:
        for key in self.data:
            if key not in self.known:
                hint = difflib.get_close_matches(key, sorted(self.known), n=1)
                suggestion = f' (did you mean "{hint[0]}"?)' if hint else ""
                allowed = ", ".join(sorted(self.known))
                raise self.error(f'unknown key "{key}"{suggestion}; known keys: {allowed}')


def normalize_spec_path(value: str, table: TomlTable, key: str) -> str:
    """Normalize a spec path; refuse absolute paths and paths that climb out of their base."""
    repo_relative = value.startswith("//")
    body = value[2:] if repo_relative else value
    if not body.strip() and not repo_relative:
        raise table.error("must not be empty", key)
    if body.startswith("/") or "\\" in body or (len(body) > 1 and body[1] == ":"):
        raise table.error(f'"{value}" must be relative to the backend (or start with // for the repo root)', key)
    normal = posixpath.normpath(body) if body else ""
    if normal == ".":
        normal = ""
    if normal == ".." or normal.startswith("../"):
        base = "repository" if repo_relative else "backend"
        raise table.error(f'"{value}" escapes the {base} root', key)
    return f"//{normal}" if repo_relative else normal


def positive(table: TomlTable, key: str, default: float) -> float:
    """A timeout: a number of seconds above 0."""
    value = table.take(key, (int, float), default)
    if isinstance(value, bool) or value <= 0:
        raise table.error("must be a positive number of seconds", key)
    return float(value)


def check_patterns(patterns: tuple[str, ...], table: TomlTable, key: str) -> None:
    """Gitignore-style patterns that pathspec accepts, or the error naming the key."""
    import pathspec

    try:
        pathspec.GitIgnoreSpec.from_lines(patterns)
    except Exception as exc:  # pathspec raises plain ValueError/TypeError subclasses
        raise table.error(f"invalid pattern: {exc}", key) from None


def _type_name(value: Any) -> str:
    return {dict: "a table", list: "an array", str: "a string", bool: "a boolean", int: "an integer"}.get(
        type(value), type(value).__name__
    )


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {dict: "a table", list: "an array", str: "a string", bool: "true or false", int: "an integer"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)
