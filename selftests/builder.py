"""Build git-committed trees in tmp from compact descriptions, for the self-tests.

A description maps repo-relative paths to file contents (str or bytes); a path ending in "/"
makes an empty directory. Commits are real git commits, so history checks see real history.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from conformance.model.spec import Spec

Tree = Mapping[str, str | bytes]

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Self Test", "GIT_AUTHOR_EMAIL": "selftest@example.invalid",
    "GIT_COMMITTER_NAME": "Self Test", "GIT_COMMITTER_EMAIL": "selftest@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
}


class Repo:
    """A scratch repository: write files, git mv, commit."""

    def __init__(self, root: Path, git: bool = True):
        self.root = root
        self.git_enabled = git
        root.mkdir(parents=True, exist_ok=True)
        if git:
            self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")} | GIT_IDENTITY
        done = subprocess.run(["git", "-c", "commit.gpgsign=false", *args], cwd=self.root, env=env,
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def write(self, files: Tree) -> Repo:
        for rel, content in files.items():
            path = self.root / rel
            if rel.endswith("/"):
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        return self

    def commit(self, message: str = "change", *, add_all: bool = True) -> Repo:
        if add_all:
            self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self

    def mv(self, old: str, new: str) -> Repo:
        (self.root / new).parent.mkdir(parents=True, exist_ok=True)
        self.git("mv", old, new)
        return self

    def edit(self, path: str, old: str, new: str, count: int = -1) -> Repo:
        """Replace `old` (which must be there) in a file of the work tree; does not commit."""
        file = self.root / path
        text = file.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {path}"
        file.write_text(text.replace(old, new, count), encoding="utf-8")
        return self

    def rm(self, *paths: str) -> Repo:
        self.git("rm", "-q", "-r", "--", *paths)
        return self


def make_repo(root: Path, files: Tree, *, git: bool = True, message: str = "initial") -> Repo:
    repo = Repo(root, git=git).write(files)
    if git:
        repo.commit(message)
    return repo


def conforming_backend(spec: Spec, prefix: str = "backend/") -> dict[str, str]:
    """The smallest tree that satisfies every structure rule of `spec`, derived from the spec."""
    files: dict[str, str] = {}
    for rule in spec.dirs:
        if rule.runtime:
            continue
        name = "__init__.py" if rule.package else ".gitkeep"
        files[_place(prefix, rule.path, name)] = ""
    for move in spec.moves:
        files[_place(prefix, move.to, move.name)] = f"// {move.name}\n" if move.name.endswith(".js") else "\n"
    for name in ("main.py", "requirements.txt", "alembic.ini", "start_production.sh", "README.md"):
        if name in spec.root_allow:  # the plan's "Keep in Root" files, not every allowed name
            files[prefix + name] = "\n"
    runtime = [f"/{rule.path}/" for rule in spec.dirs if rule.runtime]
    files[prefix + ".gitignore"] = "\n".join([*runtime, "__pycache__/", "node_modules/", ".env", ""])
    return files


def _place(prefix: str, spec_path: str, name: str) -> str:
    if spec_path.startswith("//"):
        return f"{spec_path[2:].rstrip('/')}/{name}".lstrip("/")
    return f"{prefix}{spec_path.rstrip('/')}/{name}" if spec_path else f"{prefix}{name}"


def tree_digest(root: Path) -> str:
    """A hash of every path and file byte under `root` (.git included): proof nothing was written."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_file() and not path.is_symlink():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def copy_tree(source: Path, dest: Path) -> None:
    """Copy a directory without caches or local runtime leftovers."""
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns(
        "__pycache__", "*.pyc", "node_modules", "data", "logs", ".pytest_cache"))
