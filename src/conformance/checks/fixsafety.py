"""The rule for `fix:` texts: a command that destroys data or files says what it destroys.

A fix is copied into a shell by someone in a hurry. So every destructive command in a fix text
carries its explanation right after it; the self-tests check every fix the suite prints with
`explains_destruction`, and any code that builds a fix may call it too.

Destructive (DESTRUCTIVE, matched case-sensitively in the fix text):
  `git rm` (also --cached: it drops the file from the index, and from git at the next commit),
  a shell `rm`, `--autogenerate` (writes a migration that drops what the models lack),
  SQL `DROP`, `alembic ... downgrade`, `git checkout --` (overwrites the work-tree file),
  `git clean`, `git reset --hard`, `git mv -f` / `mv -f` and `cp --remove-destination`
  (replace the destination).
  Not destructive: `git mv` and `mv` without -f onto a new path, `>>` appends, `touch`, `mkdir`.

The explanation: after each destructive command, before the next one, on the same line or the
next line of the fix, a `# ...` comment or a `(...)` parenthesis that says what goes, with one
of the verbs in EXPLAINS (deletes, drops, removes, discards, overwrites, destroys, or "keeps ...
on disk"), e.g. `git rm --cached -- x   # keeps it on disk, removes it from the index only`.
A note may start by naming its command ("(--autogenerate writes ..."): a destructive token right
after `(` or `#` is the note's subject, not another command.
The fix texts also say when the command is the right fix ("if it is not needed anywhere");
that half is for the writer and the reviewer, not checked here.
"""

from __future__ import annotations

import re

DESTRUCTIVE = re.compile(
    r"git rm\b"
    r"|(?<![\w./-])(?<!git )rm\s+(?=[-\w./'\"$~{])"
    r"|--autogenerate\b"
    r"|\bDROP\b"
    r"|\balembic\b[^\n&;|#]*?\bdowngrade\b"
    r"|--remove-destination\b"
    r"|git checkout\s+(?:\S+\s+)?--\s"
    r"|git clean\b"
    r"|git reset\s+--hard\b"
    r"|\bmv\s+-f\b"
)
EXPLAINS = re.compile(
    r"[#(][^#(\n]*?(?:\b(?:deletes?|deleted|drops?|dropped|removes?|removed|discards?|overwrites?|overwritten|"
    r"destroys?)\b|\bkeeps?\b[^#(\n]*?\bon disk\b)")


_NAMED_BY_NOTE = re.compile(r"(?:\(|#\s*)$")


def _commands(fix: str) -> list[re.Match[str]]:
    """Destructive matches, leaving out a note that names its command first ("(--autogenerate writes ...")."""
    return [m for m in DESTRUCTIVE.finditer(fix) if not _NAMED_BY_NOTE.search(fix, 0, m.start())]


def destructive_commands(fix: str) -> list[str]:
    """The destructive commands in a fix text, in order (as matched)."""
    return [match.group(0).strip() for match in _commands(fix)]


def unexplained(fix: str) -> list[str]:
    """Destructive commands of `fix` without their explanation next to them (see the module doc)."""
    matches = _commands(fix)
    missing = []
    for index, match in enumerate(matches):
        line_end = fix.find("\n", match.end())
        next_end = -1 if line_end < 0 else fix.find("\n", line_end + 1)
        stop = len(fix) if line_end < 0 else (len(fix) if next_end < 0 else next_end)
        if index + 1 < len(matches):
            stop = min(stop, matches[index + 1].start())
        if not EXPLAINS.search(fix, match.end(), stop):
            missing.append(match.group(0).strip())
    return missing


def explains_destruction(fix: str) -> bool:
    """True when every destructive command in `fix` says, right after it, what it destroys."""
    return not unexplained(fix)
