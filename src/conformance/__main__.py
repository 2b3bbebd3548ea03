"""Command line: `python -m conformance plan` prints the fix plan for a backend."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conformance.repo import RepoError, build_index
from conformance.spec import SpecError, load_spec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    plan = sub.add_parser("plan", help="print the shell commands that fix the structure findings (never runs them)")
    plan.add_argument("--backend-root", type=Path, default=None, help="the backend (default: the spec's backend)")
    plan.add_argument("--config", type=Path, default=None,
                      help="spec file (default: conformance.toml, else pyproject.toml in the current directory)")
    args = parser.parse_args(argv)
    try:
        return _plan(args.config, args.backend_root)
    except (SpecError, RepoError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _plan(config: Path | None, backend: Path | None) -> int:
    from conformance.fixplan import build_plan
    from conformance.structure import index_scopes

    if config is None:
        config = Path("conformance.toml") if Path("conformance.toml").is_file() else Path("pyproject.toml")
    spec = load_spec(config.resolve())
    root = backend or spec.backend
    if root is None:
        raise SpecError(f"{config}: no backend: pass --backend-root or set `backend` in the spec")
    if not root.is_dir():
        raise RepoError(f"backend root {root} is not a directory")
    print(build_plan(spec, build_index(root, index_scopes(spec))), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
