"""What every indexed file holds, as a short content id, for results cached between runs.

In git the ids come almost free: `git ls-files -s` lists the blob id of every tracked file as
the index has it, and `git status` names the files the work tree changed since (git compares
their content when their stat data is not conclusive); only those are read and hashed here.
Outside git every file is read and hashed. Ids never come from timestamps.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
from dataclasses import dataclass, field
from pathlib import Path

from conformance.repo.git import GitError
from conformance.repo.index import RepoIndex

MISSING = "missing"


@dataclass
class ContentKeys:
    """Repo-relative path -> content id of every indexed file, plus what else git's view depends on."""

    ids: dict[str, str] = field(default_factory=dict)
    untracked: tuple[str, ...] = ()  # untracked, not ignored files in the index's scopes (git mode)
    head: str = ""  # the commit history questions are asked about
    ignore_sources: str = ""  # digest of the ignore rules outside the indexed files

    def of(self, path: str) -> str:
        return self.ids.get(path, MISSING)

    def digest(self, paths: list[str] | None = None) -> str:
        """One id for the paths (all indexed files when None), names and contents."""
        h = hashlib.sha1()
        for path in sorted(self.ids if paths is None else paths):
            h.update(os.fsencode(path) + b"\0" + self.of(path).encode() + b"\0")
        return h.hexdigest()

    def shape(self) -> str:
        """One id for the names and kinds of the files, not the contents of regular files: what
        checks that judge names (the structure report) depend on. .gitignore files (their rules
        decide what is ignored), symlinks, submodules, unreadable or conflicted files keep their
        full id."""
        h = hashlib.sha1()
        for path in sorted(self.ids):
            key = self.ids[path]
            kind = "f" if key.startswith(REGULAR) and posixpath.basename(path) != ".gitignore" else key
            h.update(os.fsencode(path) + b"\0" + kind.encode() + b"\0")
        return h.hexdigest()


REGULAR = ("100644:", "100755:", "w:")  # a regular file's content id, in git's index or the work tree


def file_id(path: Path) -> str:
    """Content id of a file on disk (a symlink: of its target text, as git stores it)."""
    try:
        if os.path.islink(path):
            return "l:" + hashlib.sha1(os.fsencode(os.readlink(path))).hexdigest()
        h = hashlib.sha1()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                h.update(chunk)
        return "w:" + h.hexdigest()
    except OSError as exc:
        return f"unreadable:{exc.errno}"


def content_keys(index: RepoIndex) -> ContentKeys:
    """Content ids of the index's files: three git calls in git mode, a hash of each file outside."""
    if index.git is None:
        ids = {path: file_id(index.root / path) for path in index.files}
        return ContentKeys({path: f"{key}:{_followed(index.root / path)}" if key.startswith("l:") and
                            path not in index.links_out else key for path, key in ids.items()})
    git, scopes = index.git, list(index.scopes or [index.prefix or "."])
    try:
        staged = git.run("ls-files", "-s", "-z", "--", *scopes)
        changed = git.run("status", "--porcelain=v1", "-z", "--no-renames", "--untracked-files=all",
                          "--ignore-submodules=none", "--", *scopes)
        head = git.run("rev-parse", "-q", "--verify", "HEAD", ok=(0, 1)).strip()
    except GitError:
        return ContentKeys({path: file_id(index.root / path) for path in index.files}, head="unknown")
    ids: dict[str, str] = {}
    for entry in staged.split("\0"):
        if not entry:
            continue
        meta, _, path = entry.partition("\t")
        mode, blob, stage = meta.split()
        ids[path] = f"{mode}:{blob}" if stage == "0" else f"conflict:{file_id(index.root / path)}"
    untracked = []
    for entry in changed.split("\0"):
        if len(entry) < 4:
            continue
        status, path = entry[:2], entry[3:]
        if status == "??":
            untracked.append(path)
            if path.rsplit("/", 1)[-1] == ".gitignore":
                untracked.append(f"{path}:{file_id(index.root / path)}")  # its rules count
        elif status[1] != " " and path in ids:
            ids[path] = file_id(index.root / path)  # the work tree differs from the index: read it
    for path, key in ids.items():
        if key.startswith("120000:") and path not in index.links_out:  # a link inside: what it leads to counts
            ids[path] = f"{key}:{_followed(index.root / path)}"
    return ContentKeys({p: ids.get(p, MISSING) for p in index.files}, tuple(sorted(untracked)), head,
                       _ignore_sources(index.root))


def _followed(path: Path) -> str:
    """Content id of what a symlink inside the backend leads to (a file's bytes, a directory's names)."""
    if os.path.isdir(path):
        try:
            return "d:" + hashlib.sha1("\0".join(sorted(os.listdir(path))).encode("utf-8", "surrogateescape")).hexdigest()
        except OSError as exc:
            return f"unreadable:{exc.errno}"
    try:
        with open(path, "rb") as handle:
            return "f:" + hashlib.sha1(handle.read()).hexdigest()
    except OSError as exc:
        return f"unreadable:{exc.errno}"


def _ignore_sources(root: Path) -> str:
    """Ignore rules that live outside the tracked files: .git/info/exclude, the global excludes
    file and the git config files that may name another one."""
    home = Path(os.path.expanduser("~"))
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    h = hashlib.sha1()
    for path in (root / ".git" / "info" / "exclude", root / ".git" / "config", home / ".gitconfig",
                 config_home / "git" / "config", config_home / "git" / "ignore"):
        h.update(str(path).encode() + b"\0" + file_id(path).encode() + b"\0")
    return h.hexdigest()
