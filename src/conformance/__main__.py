"""Command line of backend-conformance.

    python -m conformance init [--backend DIR]   write conformance.toml and .importlinter here
    python -m conformance plan [--backend-root DIR]   print the fix plan (never runs it)
"""

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
    init = sub.add_parser("init", help="write conformance.toml (the plan) and .importlinter into this repository")
    init.add_argument("--backend", default="backend", help="the backend directory, relative to here")
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    args = parser.parse_args(argv)
    try:
        if args.command == "init":
            return _init(Path.cwd(), args.backend, args.force)
        return _plan(args.config, args.backend_root)
    except (SpecError, RepoError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _init(here: Path, backend: str, force: bool) -> int:
    """Copy the plan and the contracts templates; the user then edits backend paths and packages."""
    from importlib.resources import files

    data = files("conformance") / "data"
    if not (here / backend).is_dir():
        print(f"error: {here / backend} is not a directory (pass --backend DIR)", file=sys.stderr)
        return 2
    spec_text = (data / "conformance.toml").read_text(encoding="utf-8").replace(
        'backend = "backend"', f'backend = "{backend}"', 1)
    written = []
    for name, text in (("conformance.toml", spec_text),
                       (".importlinter", (data / "importlinter.ini").read_text(encoding="utf-8"))):
        target = here / name
        if target.exists() and not force:
            print(f"kept existing {name} (use --force to overwrite)")
            continue
        target.write_text(text, encoding="utf-8")
        written.append(name)
    for name in written:
        print(f"wrote {name}")
    print("next: edit conformance.toml (paths, moves, workers) and root_packages in .importlinter, then run\n"
          "  pytest --pyargs conformance.suite -n auto -p no:cacheprovider")
    return 0


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
