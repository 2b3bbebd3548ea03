"""What a child process printed, cut down to what a failure message should show.

Servers, start scripts and workers print pages of output; a finding quotes only the part that
says what went wrong: the repository frames of a Python traceback and its exception line, or the
last lines of each stream with Node.js stack frames collapsed.
"""

from __future__ import annotations

import re
from pathlib import Path

TRACEBACK_START = "Traceback (most recent call last)"  # uvicorn may prefix it: "ERROR:    Traceback ..."
CONDENSED_LINES = 15

_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+)(?:, in (.+))?$')
_EXCEPTION = re.compile(
    r"^(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception|Exit|Interrupt|Warning)(?::\s.*)?$"
    r"|^(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*:\s.+$")
_ERRORISH = re.compile(r"^(?:Error|ERROR|error|FATAL|fatal|FAILED)\b[: ]|Error:|error:")
_NODE_FRAME = re.compile(r"^\s+at ")


def traceback_frames(log: str) -> list[tuple[str, int]]:
    """(file, line) of every Python traceback frame in `log`, outermost first."""
    found = []
    for line in log.splitlines():
        match = _FRAME.match(line)
        if match:
            found.append((match.group(1), int(match.group(2))))
    return found


def last_backend_frame(log: str) -> tuple[str | None, int | None]:
    """The innermost traceback frame in a repository file (relative path), if any."""
    ours = [(path, line) for path, line in traceback_frames(log) if not path.startswith(("/", "<"))]
    return ours[-1] if ours else (None, None)


def key_error_line(log: str) -> str | None:
    """The line that says what went wrong: a traceback's exception line, else the last error line."""
    lines = [line.rstrip() for line in log.splitlines() if line.strip()]
    last_tb = max((i for i, line in enumerate(lines) if TRACEBACK_START in line), default=None)
    if last_tb is not None:
        for line in reversed(lines[last_tb:]):
            if not line.startswith((" ", "\t")) and _EXCEPTION.match(line):
                return line.strip()
    for line in reversed(lines):
        if _ERRORISH.search(line):
            return line.strip()
    return None


def condensed_output(log: str, limit: int = CONDENSED_LINES) -> str:
    """The last traceback cut to its repository frames and the exception, else the last `limit`
    lines: a developer reads their own code's frames, not uvicorn's or importlib's."""
    lines = log.rstrip().splitlines()
    starts = [i for i, line in enumerate(lines) if TRACEBACK_START in line]
    if not starts:
        return "\n".join(lines[-limit:])
    frames: list[list[str]] = []
    rest: list[str] = []
    for line in lines[starts[-1] + 1:]:
        if _FRAME.match(line):
            frames.append([line])
        elif frames and line.startswith(("    ", "\t")) and not rest:
            if set(line.strip()) <= {"^", "~"}:
                continue
            frames[-1].append(line)
        else:
            rest.append(line)
    ours = [f for f in frames if not _FRAME.match(f[0]).group(1).startswith(("/", "<"))]  # type: ignore[union-attr]
    kept = ours[-4:] or frames[-2:]
    out = [TRACEBACK_START + (" (frames in the repository):" if ours else " (last frames):")]
    for frame in kept:
        out.extend(frame)
    out.extend(line for line in rest if line.strip())
    return "\n".join(out[:limit * 2])


def collapse_frames(lines: list[str]) -> list[str]:
    """Replace each run of `    at ...` stack frames with one `    at ... (N frames)` line, so the
    Node.js error line above them stays in the tail."""
    result: list[str] = []
    run_length = 0
    for line in [*lines, ""]:
        if _NODE_FRAME.match(line):
            run_length += 1
            continue
        if run_length:
            result.append(f"    at ... ({run_length} stack frame{'s' if run_length > 1 else ''})")
            run_length = 0
        result.append(line)
    return result[:-1]


def stream_tails(stderr: str, stdout: str, lines: int) -> str:
    """The last `lines` of stderr, then of stdout, each labelled and indented. Per stream, so a
    chatty stdout cannot push the error on stderr out of the message."""
    blocks = []
    for label, text in (("stderr", stderr), ("stdout", stdout)):
        shown = collapse_frames(text.strip().splitlines())[-lines:]
        if shown:
            blocks.append(f"    {label}:\n" + "\n".join("      " + line for line in shown))
    return "\n".join(blocks) if blocks else "    (no output)"


def quoted_block(text: str, prefix: str = "    | ") -> str:
    """Child output set off under a finding's first line (`prefix` before each line)."""
    return "\n".join(prefix + line for line in text.splitlines())


def as_repo_paths(text: str, sandbox_root: Path) -> str:
    """`text` with paths inside the sandbox copy written as the repository paths the developer knows."""
    for root in sorted({str(sandbox_root), str(sandbox_root.resolve())}, key=len, reverse=True):
        text = text.replace(root + "/", "").replace(root, ".")
    return text
