"""Read-only questions to git about the repository under test.

Git is the authority on what is tracked and what is ignored (nested .gitignore files,
.git/info/exclude, core.excludesFile); we never reimplement that for git repos.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from conformance.proc.processes import ProcessTimeout, run

GIT_TIMEOUT = 120.0


class GitError(Exception):
    """A git command failed in a way the suite cannot work around."""


@dataclass(frozen=True)
class IgnoreMatch:
    source: str
    line: int
    pattern: str


@dataclass(frozen=True)
class LogEntry:
    sha: str
    subject: str
    status: str
    paths: tuple[str, ...]


def git_env() -> dict[str, str]:
    """The caller's environment minus GIT_* (a pre-push hook sets GIT_DIR) and any pager."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(LC_ALL="C", GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0", GIT_PAGER="cat")
    return env


def find_toplevel(path: Path) -> Path | None:
    """The work tree root that contains `path`, or None when it is not in a git work tree."""
    if shutil.which("git") is None:
        return None
    try:
        done = run(["git", "-c", f"safe.directory={path}", "rev-parse", "--show-toplevel"],
                   cwd=path, env=git_env(), timeout=GIT_TIMEOUT)
    except (ProcessTimeout, OSError):
        return None
    if done.returncode != 0:
        return None
    return Path(os.fsdecode(done.stdout.strip())).resolve()


class Git:
    """Git commands run at a repository's top level, with paths relative to it."""

    def __init__(self, root: Path):
        self.root = root

    def run(self, *args: str, stdin: bytes | None = None, ok: tuple[int, ...] = (0,)) -> str:
        """stdout as text; paths in it decode byte-exact (undecodable bytes as surrogate escapes,
        like os.fsdecode), so a path from git always opens the file it names."""
        argv = ["git", "-c", f"safe.directory={self.root}", "-c", "core.quotepath=off", *args]
        try:
            done = run(argv, cwd=self.root, env=git_env(), timeout=GIT_TIMEOUT, stdin=stdin)
        except (ProcessTimeout, OSError) as exc:
            raise GitError(str(exc)) from None
        if done.returncode not in ok:
            raise GitError(f"`git {' '.join(args[:3])}` failed in {self.root}: {done.error_text}")
        return done.stdout.decode("utf-8", "surrogateescape")

    def _z_list(self, *args: str) -> list[str]:
        return [p for p in self.run(*args).split("\0") if p]

    def tracked(self, scopes: list[str]) -> list[str]:
        return self._z_list("ls-files", "-z", "--cached", "--", *scopes)

    def tracked_but_ignored(self, scopes: list[str]) -> list[str]:
        return self._z_list("ls-files", "-z", "--cached", "--ignored", "--exclude-standard", "--", *scopes)

    def ignored_dirs(self, scopes: list[str]) -> list[str]:
        """Untracked, ignored directories on disk (collapsed: node_modules/ as one entry)."""
        entries = self._z_list(
            "ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory", "--", *scopes
        )
        return [e.rstrip("/") for e in entries if e.endswith("/")]

    def check_ignore(self, paths: list[str]) -> dict[str, IgnoreMatch | None]:
        """Which rule ignores each path, asked of git's rules whether the path is tracked or not."""
        if not paths:
            return {}
        out = self.run(
            "check-ignore", "--no-index", "-v", "-n", "-z", "--stdin",
            stdin=b"\0".join(os.fsencode(p) for p in paths) + b"\0", ok=(0, 1),
        )
        fields = out.split("\0")
        result: dict[str, IgnoreMatch | None] = {}
        for i in range(0, len(fields) - 3, 4):
            source, line, pattern, path = fields[i : i + 4]
            if source and not pattern.startswith("!"):
                result[path] = IgnoreMatch(source, int(line), pattern)
            else:
                result[path] = None
        return result

    def is_shallow(self) -> bool:
        return self.run("rev-parse", "--is-shallow-repository").strip() == "true"

    def has_commits(self) -> bool:
        """False in a repository created by `git init` whose first commit is not made yet."""
        return bool(self.run("rev-list", "-n", "1", "--all").strip())

    def _log(self, *args: str) -> list[LogEntry]:
        out = self.run("log", "--format=%x1e%H%x1f%s", *args)
        entries = []
        for record in out.split("\x1e")[1:]:
            head, _, body = record.partition("\n")
            sha, _, subject = head.partition("\x1f")
            for line in body.strip().splitlines():
                status, *paths = line.split("\t")
                entries.append(LogEntry(sha, subject, status, tuple(paths)))
            if not body.strip():
                entries.append(LogEntry(sha, subject, "", ()))
        return entries

    def follow(self, path: str) -> list[LogEntry]:
        """The file's history across renames, newest first."""
        return self._log("--follow", "--name-status", "--", path)

    def deletions(self, pathspecs: list[str]) -> list[LogEntry]:
        """Commits that deleted a path matching any of the (glob) pathspecs, newest first."""
        return self._log("--diff-filter=D", "--name-status", "--", *pathspecs)

    def moves_and_deletions(self) -> list[LogEntry]:
        """Every rename (status R, paths old and new) and deletion (status D) in the current
        branch's history, newest first, over the whole repository: a module that moved out of
        the backend is only seen as a rename when the log is not limited to the backend."""
        return self._log("-M", "--diff-filter=DR", "--name-status")

    def all_tracked(self) -> list[str]:
        """Every tracked path of the repository, inside and outside the backend."""
        return self._z_list("ls-files", "-z", "--cached")
