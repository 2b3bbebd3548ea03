"""What the importability child reports, as an ImportabilityReport (importability_run.py runs
the child, importability_child.py reads its results file, importability_verdicts.py judges the
report): the failure of one module, its exception line, where it was raised, and the
third-party name a ModuleNotFoundError is missing. Paths are backend-relative POSIX paths.
"""

from __future__ import annotations

import os
import re
import signal
from dataclasses import dataclass, field
from importlib.machinery import EXTENSION_SUFFIXES, SOURCE_SUFFIXES
from pathlib import Path, PurePosixPath

MAX_ERROR = 600  # characters kept of one exception message

MISSING_MODULE = re.compile(r"No module named '([^']+)'")
EXCEPTION_LINE = re.compile(
    r"^(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?::\s.*|(?<=Error)|(?<=Exception)|(?<=Exit)|(?<=Interrupt))$")
MISMATCH = re.compile(r"ImportPathMismatchError: \('([^']*)', '([^']*)', \w*\('([^']*)'\)\)")
SYNTAX_FILE = re.compile(r'File "([^"]+)", line (\d+)')
FRAME = re.compile(r"^([^\s:][^:\n]*):(\d+): in ", re.MULTILINE)
# The connection guard's own error text (data/guard): the place and what it refused, whatever wraps it.
GUARD_REFUSAL = re.compile(r"conformance guard: refused the connection to (?P<target>\S+) made at "
                           r"(?P<path>/[^\n]+?):(?P<line>\d+) \((?P<via>[^)]*)\): (?P<why>\w[\w ']*)")
REFUSAL_KINDS = {"a server the check": "service", "a host outside": "remote", "this check gives": "database"}


@dataclass
class ImportFailure:
    """One module that does not import. `error` is the exception's last line."""

    path: str  # backend-relative POSIX path
    module: str  # the dotted name production code imports it by
    error: str
    missing_dependency: str | None = None  # top-level name of a missing third-party module
    origin: str | None = None  # backend-relative "path:line" where the exception was raised
    kind: str | None = None  # None: it raised; "timeout": stopped by the watchdog; "namespace": too deep to import
    refused: tuple[str, str, str] | None = None  # (target, library, guard kind) of a connection the guard refused


@dataclass
class ImportabilityReport:
    """Per-file results; `error` says why the check could not (fully) run."""

    failures: dict[str, ImportFailure] = field(default_factory=dict)
    checked: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def passed(self) -> list[str]:
        return [path for path in self.checked if path not in self.failures]


def module_name(path: str) -> str:
    """The name Python imports `path` by with the backend root on sys.path (api/chat.py -> api.chat)."""
    parts = list(PurePosixPath(path).parts)
    name = parts[-1]
    for suffix in sorted((*EXTENSION_SUFFIXES, *SOURCE_SUFFIXES), key=len, reverse=True):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    parts[-1] = name
    if len(parts) > 1 and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def exception_origin(backend: Path, message: str, text: str) -> str | None:
    """Where the exception was raised, as backend-relative "path:line": the file a
    SyntaxError names, else the last traceback frame (pytest's short format writes
    `path:line: in <module>` per frame). One cause seen from many importers has one origin."""
    for source in (message, text):
        syntax = SYNTAX_FILE.search(source)
        if syntax:
            rel = backend_relative(backend, syntax.group(1))
            return f"{rel}:{syntax.group(2)}" if rel else None
    frames = FRAME.findall(text)
    if not frames:
        return None
    path, line = frames[-1]
    rel = backend_relative(backend, path)
    return f"{rel}:{line}" if rel else None


def guard_refusal(backend: Path, message: str, text: str) -> tuple[str, tuple[str, str, str]] | None:
    """("path:line", (target, library, kind)) when the import failed on a connection the guard
    refused (a module that connects at import): the place is the line that connected."""
    for source in (message, text):
        match = GUARD_REFUSAL.search(source)
        if not match:
            continue
        rel = backend_relative(backend, match["path"])
        kind = next((k for why, k in REFUSAL_KINDS.items() if match["why"].startswith(why)), "")
        if rel and kind:
            return f"{rel}:{match['line']}", (match["target"], match["via"], kind)
    return None


def backend_relative(backend: Path, node_path: str) -> str | None:
    """A node's file path as a backend-relative POSIX path, if it is in the backend."""
    path = Path(os.path.normpath(backend / node_path))
    try:
        return path.relative_to(backend).as_posix()
    except ValueError:
        return None


def import_failure(backend: Path, rel: str, error: str, kind: str | None = None) -> ImportFailure:
    """The failure of the module at `rel`, with the missing third-party name when the error is one."""
    return ImportFailure(rel, module_name(rel), error, _missing_dependency(error, backend), kind=kind)


def exception_text(message: str, text: str) -> str:
    """The exception's line from a failure: pytest's crash message when it is one, else the
    last "Name: message" line of the report (SyntaxError and hidden tracebacks start with "E ")."""
    message = message.strip()
    if message and not message.startswith("E "):
        return _shorten(" ".join(message.split()))
    for source in (message, text):
        for line in reversed(source.splitlines()):
            line = re.sub(r"^E\s+", "", line).strip()
            if EXCEPTION_LINE.match(line):
                return _shorten(line)
    return _shorten(" ".join((message or text).split())) or "import failed (no message)"


def explain_mismatch(error: str, backend: Path) -> str:
    """Make pytest's ImportPathMismatchError tuple say which file the name really loads."""
    match = MISMATCH.search(error)
    if not match:
        return error
    name, loaded, _ = match.groups()
    slash = "/" if Path(loaded).is_dir() else ""
    try:
        loaded = Path(loaded).relative_to(backend).as_posix()
    except ValueError:
        pass
    loaded += slash
    return f"ImportPathMismatchError: `import {name}` loads {loaded}, not this file (it is shadowed)"


def _missing_dependency(error: str, backend: Path) -> str | None:
    """The top-level name of a missing module that is not part of the backend itself."""
    match = MISSING_MODULE.search(error) if error.startswith("ModuleNotFoundError") else None
    if match is None:
        return None
    top = match.group(1).split(".")[0]
    suffixes = (*SOURCE_SUFFIXES, *EXTENSION_SUFFIXES)
    if (backend / top).is_dir() or any((backend / f"{top}{suffix}").is_file() for suffix in suffixes):
        return None
    return top


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 3] + "..."


def tail(output: str, lines: int = 5) -> str:
    kept = [line for line in output.strip().splitlines() if line.strip()][-lines:]
    return _shorten(" | ".join(kept)) or "(no output)"
