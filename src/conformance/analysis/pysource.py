"""Parse one Python file into what the import checks need: imports, bound names, sys.path edits.

This module decodes the bytes like the import system and parses them; pysource_walk.py walks
the tree. Each file is parsed once per session; the result is plain data so it can be cached
and compared without keeping ASTs alive. Bad input (syntax errors, invalid UTF-8, NUL bytes)
becomes `error`, never an exception.

Stdlib-only on purpose: `python -I pysource.py` under the backend's (newer) interpreter parses
files our Python cannot, reading {path: base64 bytes} as JSON on stdin and printing the results.
"""

from __future__ import annotations

import ast
import base64
import io
import json
import sys
import tokenize
from dataclasses import dataclass, field

if __package__:
    from conformance.analysis.pysource_walk import ImportStmt, ImportVisitor, module_bindings
else:  # run as a script by another interpreter (newersyntax.reparse, `python -I`): the file beside this one
    import os

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from pysource_walk import ImportStmt, ImportVisitor, module_bindings  # type: ignore[import-not-found,no-redef]

__all__ = ["ImportStmt", "ParsedSource", "decode_source", "from_json", "parse_source", "to_json"]


@dataclass
class ParsedSource:
    path: str
    imports: list[ImportStmt] = field(default_factory=list)
    bound: frozenset[str] = frozenset()  # names bound at module level
    defined: frozenset[str] = frozenset()  # functions and classes defined at module level
    dynamic: bool = False  # module __getattr__ or star import: bound names cannot be known
    sys_path_edits: list[tuple[int, str]] = field(default_factory=list)
    error: str | None = None
    error_line: int | None = None
    error_fix: str | None = None  # when the generic "make it compile" is not the fix (unreadable file)
    syntax_error: bool = False  # the parser refused it: a newer Python may accept it
    error_severity: str = "error"  # "warning": the error may be newer syntax than the parsing Python knows
    # What else tools that read imports look at (deptry): importlib.import_module / __import__
    # calls and `# deptry: ignore` comments, as (line, text). With `imports` it is everything a
    # cached import graph or dependency report depends on in this file.
    import_extras: tuple[tuple[int, str], ...] = ()


def parse_source(path: str, data: bytes) -> ParsedSource:
    """Parse `data` (the bytes of `path`); syntax and encoding problems land in `error`."""
    result = ParsedSource(path)
    try:
        text = decode_source(data)
    except UnicodeDecodeError as exc:
        encoding = exc.encoding
        result.error = f"is not valid {encoding.upper()} (byte 0x{data[exc.start]:02x}); Python refuses to import it"
        result.error_line = data[: exc.start].count(b"\n") + 1
        return result
    except SyntaxError as exc:  # unknown encoding in the coding cookie
        result.error, result.error_line = f"declares an unusable encoding: {exc.msg}", exc.lineno
        return result
    if "\0" in text:
        result.error = "contains NUL bytes; Python refuses to import it"
        result.error_line = text[: text.index("\0")].count("\n") + 1
        return result
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as exc:
        result.error = _syntax_message(exc)
        result.error_line = exc.lineno
        result.syntax_error = not result.error.startswith("is not valid UTF-8")
        return result
    except ValueError as exc:  # NUL bytes on some Python versions
        result.error, result.error_line = f"cannot be parsed: {exc}", None
        return result
    lines = text.splitlines()
    # Without the words sys and site no name can mean sys.path or addsitedir, and without := no
    # expression binds a name: the expression walks are skipped then, which keeps a 2 MB module
    # of generated constants at the cost of ast.parse instead of several times it.
    visitor = ImportVisitor(lines, track_sys_path="sys" in text or "site" in text)
    visitor.visit(tree)
    result.imports = visitor.imports
    result.sys_path_edits = visitor.sys_path_edits
    bound, defined, dynamic = module_bindings(tree.body, walrus=":=" in text)
    result.bound, result.defined, result.dynamic = frozenset(bound), frozenset(defined), dynamic
    result.import_extras = _import_extras(tree, lines, text)
    return result


DYNAMIC_IMPORTS = ("import_module", "__import__")


def _import_extras(tree: ast.Module, lines: list[str], text: str) -> tuple[tuple[int, str], ...]:
    """Dynamic import calls (their whole expression) and deptry's ignore comments; the walk only
    runs in the rare file that names one of the functions."""
    found: list[tuple[int, str]] = []
    if any(name in text for name in DYNAMIC_IMPORTS):
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
                if name in DYNAMIC_IMPORTS:
                    found.append((node.lineno, ast.dump(node)))
    if "deptry" in text:
        found += [(number, line.strip()) for number, line in enumerate(lines, 1) if "deptry" in line]
    return tuple(sorted(found))


def to_json(source: ParsedSource) -> dict[str, object]:
    """Plain JSON data of a ParsedSource, for the round trip through a child interpreter."""
    return {
        "path": source.path, "imports": [list(vars(stmt).values()) for stmt in source.imports],
        "bound": sorted(source.bound), "defined": sorted(source.defined), "dynamic": source.dynamic,
        "sys_path_edits": [list(edit) for edit in source.sys_path_edits], "error": source.error,
        "error_line": source.error_line, "error_fix": source.error_fix, "syntax_error": source.syntax_error,
        "error_severity": source.error_severity, "import_extras": [list(extra) for extra in source.import_extras],
    }


def from_json(data: dict[str, object]) -> ParsedSource:
    """The inverse of to_json; raises (KeyError, TypeError, ValueError) on anything else."""
    imports = [ImportStmt(line, text, module, level, tuple(names), *flags)
               for line, text, module, level, names, *flags in data["imports"]]  # type: ignore[attr-defined]
    edits = [(int(line), str(text)) for line, text in data["sys_path_edits"]]  # type: ignore[attr-defined]
    return ParsedSource(
        str(data["path"]), imports, frozenset(data["bound"]), frozenset(data["defined"]),  # type: ignore[arg-type]
        bool(data["dynamic"]), edits, data["error"], data["error_line"], data["error_fix"],  # type: ignore[arg-type]
        bool(data["syntax_error"]), str(data["error_severity"]),
        tuple((int(line), str(text)) for line, text in data.get("import_extras", ())))  # type: ignore[attr-defined]


def _main() -> int:
    """Child mode: parse {path: base64 bytes} from stdin with this interpreter, print JSON results."""
    files = json.loads(sys.stdin.buffer.read().decode("utf-8"))  # not the locale's encoding: paths may be any name
    results = [to_json(parse_source(path, base64.b64decode(data))) for path, data in files.items()]
    sys.stdout.write(json.dumps(results))  # ASCII (escaped), whatever the child's locale
    return 0


def decode_source(data: bytes) -> str:
    """Decode like the import system: BOM or coding cookie, else strict UTF-8."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError:
        data.decode("utf-8")  # undecodable first lines: raise the precise UnicodeDecodeError
        raise
    text = data.decode(encoding)
    return text[1:] if text.startswith("\ufeff") else text


def _syntax_message(exc: SyntaxError) -> str:
    text = exc.msg
    if "utf-8" in text.lower() or "decode" in text.lower() or "unicode" in text.lower():
        return f"is not valid UTF-8 and declares no other encoding ({text})"
    return f"has a syntax error: {text}"



if __name__ == "__main__":
    sys.exit(_main())
