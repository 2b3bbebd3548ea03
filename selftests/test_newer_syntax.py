"""Files written for a newer Python than ours: parsed by the backend's Python, or a warning, never a
syntax error; genuine syntax errors stay errors."""

from __future__ import annotations

import sys

import pytest

from conformance.analysis import newersyntax
from conformance.checks.imports.scan import scan
from conformance.runtime.interpreter import InterpreterInfo
from conformance.analysis.pysource import ParsedSource, parse_source
from conformance.repo.index import build_index
from selftests.builder import conforming_backend, make_repo
from selftests.test_import_checks import BASE

MODERN = ("def load(text):\n    try:\n        return int(text)\n    except ValueError, TypeError:\n"
          "        return None\n")  # PEP 758 (Python 3.14): unparenthesized except
PYPROJECT = '[project]\nname = "backend"\nrequires-python = ">=3.14"\n'
OURS = f"{sys.version_info.major}.{sys.version_info.minor}"
SYNTAX = "syntax error: multiple exception types must be parenthesized"


def _newer(minor_offset: int = 1) -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor + minor_offset}.0"


def _tree(spec, **extra: str) -> dict[str, str | bytes]:
    return {**conforming_backend(spec), **BASE, "backend/services/modern.py": MODERN, **extra}


@pytest.mark.parametrize("pyproject", ["backend/pyproject.toml", "pyproject.toml"])
def test_declared_newer_python_makes_it_a_warning(pyproject, tmp_path, spec, run_suite):
    make_repo(tmp_path / "repo", _tree(spec, **{pyproject: PYPROJECT}))
    run = run_suite(tmp_path / "repo" / "backend", "-W", "always", "-k", "test_python_files_parse", part="imports")
    assert run.outcomes["test_python_files_parse"] == "passed", run.output
    expected = (f"backend/services/modern.py:4 uses syntax newer than Python {OURS} ({SYNTAX}), which the backend "
                f"requires (>=3.14 in {pyproject}), so its imports are not checked")
    assert expected in run.output, run.output
    assert (f"fix:  pass --backend-python pointing at a Python 3.14 interpreter (the current one, "
            f"{sys.executable}, is Python {sys.version.split()[0]})") in run.output, run.output


def test_without_requires_python_it_is_a_syntax_error(tmp_path, spec, run_suite):
    make_repo(tmp_path / "repo", _tree(spec))
    run = run_suite(tmp_path / "repo" / "backend", "-k", "test_python_files_parse", part="imports")
    assert run.failed == {"test_python_files_parse"}, run.output
    message = run.messages["test_python_files_parse"]
    assert f"backend/services/modern.py:4 has a {SYNTAX}\n" in message, message
    assert "fix:  fix the file so Python can compile it (python -m py_compile backend/services/modern.py " \
           "shows the error)" in message, message


@pytest.mark.parametrize(("specifier", "minimum"), [
    (">=3.14", (3, 14)), (">=3.14,<4", (3, 14)), ("~=3.14", (3, 14)), ("==3.14.*", (3, 14)),
    (" >= 3.14.0rc1 ", (3, 14)), (">3.13", (3, 13)), (">=3.10, !=3.11.*", (3, 10)), (">=3", (3, 0)),
    ("<4", None), ("", None), ("three fourteen", None), (">=3.14;", None), ("^3.14", None),
])
def test_requires_minimum(specifier, minimum):
    assert newersyntax.requires_minimum(specifier) == minimum


@pytest.mark.parametrize("pyproject", [
    '[project]\nrequires-python = "python 3.14 please"\n', "[project]\nrequires-python = 314\n",
    "[project\nbroken", '[tool.poetry]\nrequires-python = ">=3.14"\n', b"\xff\xfe",
])
def test_unusable_requires_python_is_ignored(pyproject, tmp_path):
    """An unreadable or unparsable value never raises: the syntax error stays an error."""
    make_repo(tmp_path / "repo", {"backend/pyproject.toml": pyproject, "backend/modern.py": MODERN})
    index = build_index(tmp_path / "repo" / "backend")
    assert newersyntax.declared_requires_python(index) is None
    source = parse_source("modern.py", MODERN.encode())
    settled = newersyntax.settle(index, {"modern.py": source}, {"modern.py": MODERN.encode()}, None)
    assert settled["modern.py"] == source
    assert settled["modern.py"].error_severity == "error"


@pytest.mark.parametrize(("version", "delegated"), [
    (_newer(1), True), (f"{sys.version_info.major + 1}.0.0", True), (sys.version.split()[0], False),
    (f"{sys.version_info.major}.{sys.version_info.minor - 1}.9", False), ("", False), ("unknown", False),
])
def test_delegation_only_to_a_newer_interpreter(version, delegated):
    assert newersyntax.delegates(InterpreterInfo(python=sys.executable, version=version)) is delegated
    assert newersyntax.delegates(None) is False


@pytest.mark.parametrize("version", [sys.version.split()[0], "3.8.10", "not a version"])
def test_same_or_older_interpreter_is_never_asked(version, tmp_path, monkeypatch):
    def refuse(*args: object) -> None:
        raise AssertionError("reparse called for an interpreter that is not newer")

    monkeypatch.setattr(newersyntax, "reparse", refuse)
    make_repo(tmp_path / "repo", {"backend/main.py": "def f(:\n"})
    index = build_index(tmp_path / "repo" / "backend")
    source = parse_source("main.py", b"def f(:\n")
    info = InterpreterInfo(python=sys.executable, version=version)
    assert newersyntax.settle(index, {"main.py": source}, {"main.py": b"def f(:\n"}, info) == {"main.py": source}


def test_child_parse_round_trips_to_the_same_result():
    """pysource.py run as a script under another interpreter gives what the in-process parse gives."""
    files = {
        "api/routes.py": (b"from typing import TYPE_CHECKING\nimport sys as _sys\n_sys.path.append('x')\n"
                          b"if TYPE_CHECKING:\n    from schemas import User\ntry:\n    import redis\n"
                          b"except ImportError:\n    redis = None\n\n\ndef f():\n    from db import s\n"
                          b"from m import *\n"),
        "broken.py": b"def f(:\n", "latin.py": b"# caf\xe9\n", "nul.py": b"x = 1\x00\n",
        "caf\u00e9/\u00fcber.py": "\ufeffname = '\u00fc'\n__all__ = [name]\n".encode(),
        "undecodable-\udcff.py": b"import os\n",  # a file name that is not UTF-8 (surrogate-escaped)
    }
    parsed = newersyntax.reparse(sys.executable, files)
    assert parsed == {rel: parse_source(rel, data) for rel, data in files.items()}


def test_newer_interpreter_parses_what_ours_refused(tmp_path):
    """Delegation replaces our refusal by the backend interpreter's parse, imports included."""
    make_repo(tmp_path / "repo", {"backend/main.py": "import api.routes\n"})
    index = build_index(tmp_path / "repo" / "backend")
    refused = ParsedSource("main.py", error="has a syntax error: x", error_line=1, syntax_error=True)
    newer = InterpreterInfo(python=sys.executable, version=_newer())
    settled = newersyntax.settle(index, {"main.py": refused}, {"main.py": b"import api.routes\n"}, newer)
    assert settled == {"main.py": parse_source("main.py", b"import api.routes\n")}


def test_genuine_error_in_the_newer_interpreter_stays_an_error(tmp_path):
    make_repo(tmp_path / "repo", {"backend/main.py": "def f(:\n"})
    index = build_index(tmp_path / "repo" / "backend")
    source = parse_source("main.py", b"def f(:\n")
    newer = InterpreterInfo(python=sys.executable, version=_newer())
    settled = newersyntax.settle(index, {"main.py": source}, {"main.py": b"def f(:\n"}, newer)["main.py"]
    assert (settled.error, settled.error_line, settled.error_severity) == (
        f"has a syntax error: invalid syntax (parsed with the backend's Python {_newer()})", 1, "error")


def test_declared_python_newer_than_the_backend_interpreter_is_a_warning(tmp_path):
    """The backend interpreter (newer than ours) still refuses it, but the backend needs a newer one yet."""
    make_repo(tmp_path / "repo", {"backend/pyproject.toml": '[project]\nrequires-python = "~=3.99"\n',
                                  "backend/modern.py": MODERN})
    index = build_index(tmp_path / "repo" / "backend")
    newer = InterpreterInfo(python="/opt/py/bin/python3", version=_newer())
    data = {"modern.py": MODERN.encode()}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(newersyntax, "reparse", lambda python, files: {
            rel: parse_source(rel, content) for rel, content in files.items()})
        settled = newersyntax.settle(index, {"modern.py": parse_source("modern.py", data["modern.py"])}, data, newer)
    minor = _newer().rsplit(".", 1)[0]
    assert settled["modern.py"].error == (
        f"uses syntax newer than Python {minor} ({SYNTAX}), which the backend requires (~=3.99 in "
        "backend/pyproject.toml), so its imports are not checked")
    assert settled["modern.py"].error_fix == ("pass --backend-python pointing at a Python 3.99 interpreter (the "
                                              f"current one, /opt/py/bin/python3, is Python {_newer()})")
    assert settled["modern.py"].error_severity == "warning"


def test_interpreter_that_cannot_be_asked_keeps_the_error_and_says_why(tmp_path):
    make_repo(tmp_path / "repo", {"backend/modern.py": MODERN})
    index = build_index(tmp_path / "repo" / "backend")
    missing = str(tmp_path / "no-python")
    source = parse_source("modern.py", MODERN.encode())
    settled = newersyntax.settle(index, {"modern.py": source}, {"modern.py": MODERN.encode()},
                                 InterpreterInfo(python=missing, version=_newer()))["modern.py"]
    assert settled.error == (f"has a {SYNTAX} (Python {OURS} cannot parse it, and the backend's Python {_newer()} "
                             f"could not be asked: [Errno 2] No such file or directory: '{missing}')")
    assert settled.error_severity == "error"


def test_clean_files_never_start_the_child(tmp_path, spec, monkeypatch):
    """The fast path: when every file parses, neither the child nor the pyproject lookup runs."""
    def refuse(*args: object) -> None:
        raise AssertionError("settle called although every file parsed")

    monkeypatch.setattr(newersyntax, "settle", refuse)
    make_repo(tmp_path / "repo", {**conforming_backend(spec), **BASE})
    index = build_index(tmp_path / "repo" / "backend")
    result = scan(index, spec, {}, InterpreterInfo(python=sys.executable, version=_newer()))
    assert result.sources and not any(s.error for s in result.sources.values())
