"""Files written for a newer Python than the suite's: parse them with the backend's Python, or say why not.

The suite's own Python parses every file first (the fast path). Only files its parser refuses
are looked at again: by the backend interpreter when that one is newer (one child for all of them,
so their imports are still checked), else against the backend's declared `requires-python`: syntax
newer than the parsing Python is a warning that names the interpreter to pass, never a syntax error.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import tempfile
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from conformance.analysis import pysource
from conformance.runtime.interpreter import InterpreterInfo
from conformance.proc.processes import ProcessTimeout, run
from conformance.analysis.pysource import ParsedSource
from conformance.repo.index import RepoIndex, shown_path

Version = tuple[int, int]
OURS: Version = (sys.version_info.major, sys.version_info.minor)
CHILD_TIMEOUT = 120.0


@dataclass(frozen=True)
class Declared:
    """The backend's `requires-python`, as far as it sets a minimum Python."""

    specifier: str
    minimum: Version
    path: str  # repo-relative pyproject.toml it comes from


def version_of(text: str) -> Version | None:
    """`3.14.0rc1` -> (3, 14); None when it does not start with major.minor."""
    match = re.match(r"\s*(\d+)\.(\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else None


_CLAUSE = re.compile(r"\s*(===|==|~=|>=|<=|!=|>|<)\s*(\d+)(?:\.(\d+|\*))?(?:\.(?:\d+|\*))*[\w.+-]*\s*")


def requires_minimum(specifier: str) -> Version | None:
    """The lowest major.minor a `requires-python` specifier admits (">=3.14,<4", "~=3.14", "==3.14.*",
    ">3.13" -> 3.13); None when it sets no lower bound or is not a valid specifier (then it is ignored)."""
    lowest: Version | None = None
    for clause in specifier.split(","):
        match = _CLAUSE.fullmatch(clause)
        if match is None:
            return None
        operator, major, minor = match.group(1), int(match.group(2)), match.group(3)
        if operator in {"<", "<=", "!="}:
            continue
        bound = (major, int(minor) if minor and minor != "*" else 0)
        lowest = bound if lowest is None else max(lowest, bound)
    return lowest


def declared_requires_python(index: RepoIndex) -> Declared | None:
    """`[project] requires-python` of the backend's pyproject.toml, else the repository root's."""
    for rel in dict.fromkeys((index.rel("pyproject.toml"), "pyproject.toml")):
        path = index.root / rel
        if index.link_out(rel) is not None or not path.is_file():
            continue
        try:
            project = tomllib.loads(path.read_text(encoding="utf-8")).get("project")
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
        specifier = project.get("requires-python") if isinstance(project, dict) else None
        minimum = requires_minimum(specifier) if isinstance(specifier, str) else None
        if minimum is not None:
            return Declared(specifier.strip(), minimum, rel)  # type: ignore[union-attr]
    return None


def delegates(backend: InterpreterInfo | None) -> bool:
    """Re-parse in the backend interpreter only when it is a newer Python than ours."""
    version = version_of(backend.version) if backend else None
    return version is not None and version > OURS


class ReparseError(Exception):
    """The backend interpreter could not parse the files for us (crash, timeout, garbled output)."""


def reparse(python: str, files: dict[str, bytes], timeout: float = CHILD_TIMEOUT) -> dict[str, ParsedSource]:
    """Parse `files` (path -> bytes) with pysource.py run as a script under `python`, in one child."""
    payload = json.dumps({path: base64.b64encode(data).decode("ascii") for path, data in files.items()})
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR", "SYSTEMROOT"}}
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONNOUSERSITE="1")
    with tempfile.TemporaryDirectory(prefix="conformance-parse-") as neutral:
        try:
            done = run([python, "-I", str(Path(pysource.__file__))], cwd=neutral, env=env,
                       timeout=timeout, stdin=payload.encode("utf-8"))
        except (ProcessTimeout, OSError) as exc:
            raise ReparseError(str(exc)) from None
    if done.returncode != 0:
        said = (done.error_text or done.text).strip().splitlines()[-1:] or ["no output"]
        raise ReparseError(f"exited with {done.returncode}: {said[0][:300]}")
    try:
        parsed = [pysource.from_json(item) for item in json.loads(done.text)]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ReparseError(f"answered something else than parse results ({exc})") from None
    return {source.path: source for source in parsed}


def settle(index: RepoIndex, failed: dict[str, ParsedSource], data: dict[str, bytes],
           backend: InterpreterInfo | None) -> dict[str, ParsedSource]:
    """Final results for the files our parser refused: the backend interpreter's parse when it is
    newer, and a warning instead of a syntax error when the backend declares a newer Python."""
    results, parsed_with, note, unasked = dict(failed), OURS, "", False
    if backend is not None and delegates(backend):
        try:
            answers = reparse(backend.python, {rel: data[rel] for rel in failed})
        except ReparseError as exc:  # a newer interpreter exists but failed: keep the error, say why
            unasked = True
            note = f" (Python {_dotted(OURS)} cannot parse it, and the backend's Python {backend.version} " \
                   f"could not be asked: {exc})"
        else:
            parsed_with = version_of(backend.version) or OURS
            note = f" (parsed with the backend's Python {backend.version})"
            results.update((rel, source) for rel, source in answers.items() if rel in failed)
    errors = {rel for rel, source in results.items() if source.error}
    declared = declared_requires_python(index) if errors and not unasked else None
    settled = {}
    for rel, source in results.items():
        if declared is not None and declared.minimum > parsed_with and source.syntax_error:
            source = _newer(source, declared, parsed_with, backend)
        elif rel in errors:
            source = replace(source, error=f"{source.error}{note}")
        settled[rel] = source
    return settled


def _newer(source: ParsedSource, declared: Declared, parsed_with: Version, backend: InterpreterInfo | None) -> ParsedSource:
    wanted = _dotted(declared.minimum)
    detail = source.error.removeprefix("has a ") if source.error else "a syntax error"
    current = f" (the current one, {backend.python}, is Python {backend.version})" if backend else ""
    return replace(
        source, error_severity="warning",
        error=(f"uses syntax newer than Python {_dotted(parsed_with)} ({detail}), which the backend requires "
               f"({declared.specifier} in {shown_path(declared.path)}), so its imports are not checked"),
        error_fix=f"pass --backend-python pointing at a Python {wanted} interpreter{current}")


def _dotted(version: Version) -> str:
    return f"{version[0]}.{version[1]}"
