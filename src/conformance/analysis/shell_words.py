"""Shell text cut into what a reader of simple commands needs.

shlex alone reads neither backslash continuations, heredocs nor `$( ... )` with quotes inside.
These helpers turn a script into logical lines and tokens, with command substitutions set
aside, so that the reference scanner (shellrefs.py) only ever sees simple commands.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator

OPERATOR_CHARS = set("();<>|&")
HEREDOC = re.compile(r"<<(-?)\s*(['\"]?)([A-Za-z_][\w]*)\2")
_PLACEHOLDER = re.compile(r"\$\{(__SUBST\d+)\}")


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, text) per logical line: continuations joined, multi-line quotes
    kept together, heredoc bodies dropped."""
    lines = text.splitlines()
    pending: list[tuple[str, bool]] = []  # heredoc terminators
    i = 0
    while i < len(lines):
        if pending:
            term, strip_tabs = pending[0]
            if (lines[i].lstrip("\t") if strip_tabs else lines[i]) == term:
                pending.pop(0)
            i += 1
            continue
        start = i
        buf = lines[i]
        while True:
            while _continued(buf) and i + 1 < len(lines):
                i += 1
                buf = buf[:-1] + " " + lines[i]
            if _quotes_closed(buf) or i + 1 >= len(lines) or i - start > 200:
                break
            i += 1
            buf = buf + "\n" + lines[i]
        for match in HEREDOC.finditer(buf):
            if buf[max(match.start() - 1, 0):match.start()] != "<" and buf[match.end() - 1:match.end() + 1] != "<":
                pending.append((match.group(3), match.group(1) == "-"))
        yield start + 1, buf
        i += 1


def _continued(line: str) -> bool:
    stripped = line.rstrip("\r")
    return (len(stripped) - len(stripped.rstrip("\\"))) % 2 == 1


def _quotes_closed(text: str) -> bool:
    try:
        tokens(text)
    except ValueError:
        return False
    return True


def tokens(text: str) -> list[str]:
    """shlex words and operators (`;`, `&&`, `|`, `(`, `>`...) of one logical line; comments dropped."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    return list(lexer)


def hide_substitutions(text: str, substitutions: dict[str, str]) -> str:
    """Replace each `$( ... )` and backtick substitution by a variable-like placeholder
    (${__SUBSTn}, its body recorded in `substitutions`): shlex cannot read quotes nested inside
    them, and what they run is not a path the script needs (skipped like any other `$` word)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$(", i) and not text.startswith("$((", i):
            depth, j, quote = 0, i + 1, ""
            while j < len(text):
                ch = text[j]
                if quote:
                    if ch == quote:
                        quote = ""
                elif ch == "'":
                    quote = "'"
                elif ch == "(":
                    depth += 1
                elif ch == ")":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            name = f"__SUBST{len(substitutions)}"
            substitutions[name] = text[i + 2:j]
            out.append("${" + name + "}")
            i = j + 1
        elif text[i] == "`":
            j = text.find("`", i + 1)
            if j < 0:
                out.append(text[i:])
                break
            name = f"__SUBST{len(substitutions)}"
            substitutions[name] = text[i + 1:j]
            out.append("${" + name + "}")
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def restore_substitutions(word: str, substitutions: dict[str, str]) -> str:
    """`word` with its placeholders turned back into the `$( ... )` they stand for."""
    return _PLACEHOLDER.sub(lambda m: "$(" + substitutions.get(m.group(1), "") + ")", word)
