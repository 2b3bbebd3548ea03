"""Where the repository's files are inside a sandbox copy, and how to show sandbox paths again.

Startup checks run the backend in a copy (sandbox.py); their findings must still name the paths
the developer knows (`backend/main.py`, `cd backend && ...`), never /tmp/pytest-of-.../backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from conformance.proc.childoutput import as_repo_paths


@dataclass(frozen=True)
class SandboxPaths:
    """The backend root inside a sandbox copy and the backend's path in the repository."""

    backend: Path
    prefix: str = ""  # the backend's path from the repository root, e.g. "backend"

    @property
    def root(self) -> Path:
        """The repository root of the sandbox copy (`prefix` above the backend)."""
        root = self.backend
        for _ in PurePosixPath(self.prefix).parts if self.prefix else ():
            root = root.parent
        return root

    def path(self, spec_path: str) -> Path:
        """A spec path (backend-relative, or repo-relative with //) inside the sandbox."""
        return self.root / spec_path[2:] if spec_path.startswith("//") else self.backend / spec_path

    def display(self, path: Path | str) -> str:
        """Repo-relative form of a sandbox path or a spec path (else the path unchanged)."""
        path = path if isinstance(path, Path) else self.path(path) if not Path(path).is_absolute() else Path(path)
        for root in (self.root, self.root.resolve()):
            try:
                return path.relative_to(root).as_posix()
            except ValueError:
                continue
        return str(path)

    def scrub(self, text: str) -> str:
        """Child output with sandbox paths written as repository paths."""
        return as_repo_paths(text, self.root)
