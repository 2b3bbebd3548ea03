"""Command line of backend-conformance.

    python -m conformance init [--backend DIR]        write conformance.toml and .importlinter here
    python -m conformance plan [--backend-root DIR]   print the fix plan (never runs it)
    python -m conformance --version

The spec is found as the pytest plugin finds it: --conformance-config FILE (or the environment
variable CONFORMANCE_CONFIG), else the nearest conformance.toml, or pyproject.toml holding
[tool.conformance], in this directory or a parent. Errors print "ERROR: ..." and exit with 4,
as pytest's usage errors do.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from conformance import __version__
from conformance.repo.index import RepoError, build_index
from conformance.model.spec import SpecError
from conformance.model.spec_loader import load_spec

USAGE_ERROR = 4  # pytest's exit code for usage errors: one code for every "you called it wrong"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"backend-conformance {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{init,plan}")
    plan = sub.add_parser("plan", help="print the shell commands that fix the structure findings (never runs them)")
    plan.add_argument("--backend-root", type=Path, default=None,
                      help="the backend (default: CONFORMANCE_BACKEND_ROOT, else the spec's backend)")
    plan.add_argument("--conformance-config", "--config", dest="config", type=Path, default=None,
                      help="spec file (default: CONFORMANCE_CONFIG, else the nearest conformance.toml or "
                           "pyproject.toml with [tool.conformance], here or in a parent directory)")
    init = sub.add_parser("init", help="write conformance.toml (the plan) and .importlinter into this repository")
    init.add_argument("--backend", default="backend", help="the backend directory, relative to here")
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    args = parser.parse_args(argv)
    try:
        if args.command == "init":
            return _init(Path.cwd(), args.backend, args.force)
        return _plan(args.config, args.backend_root)
    except (SpecError, RepoError) as exc:
        print(f"ERROR: conformance: {exc}", file=sys.stderr)
        return USAGE_ERROR


def _init(here: Path, backend: str, force: bool) -> int:
    """Copy the plan and the contracts templates; the user then edits backend paths and packages."""
    from importlib.resources import files

    data = files("conformance") / "data"
    if not (here / backend).is_dir():
        print(f"ERROR: conformance: {here / backend} is not a directory (pass --backend DIR)", file=sys.stderr)
        return USAGE_ERROR
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
    from conformance.cli.fixplan import build_plan
    from conformance.repo.index import index_scopes

    config = config or _env_path("CONFORMANCE_CONFIG") or find_spec_file(Path.cwd())
    if config is None:
        raise SpecError(f"no spec file: no conformance.toml, nor pyproject.toml with [tool.conformance], in "
                        f"{Path.cwd()} or a parent directory (pass --conformance-config FILE, or write one with "
                        "`python -m conformance init`)")
    if not config.is_file():
        raise SpecError(f"{config}: spec file not found")
    spec = load_spec(config.resolve())
    root = backend or _env_path("CONFORMANCE_BACKEND_ROOT") or spec.backend
    if root is None:
        raise SpecError(f"{config}: no backend: pass --backend-root or set `backend` in the spec")
    if not root.is_dir():
        raise RepoError(f"backend root {root} is not a directory")
    print(build_plan(spec, build_index(root, index_scopes(spec))), end="")
    return 0


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def find_spec_file(start: Path) -> Path | None:
    """The nearest conformance.toml, or pyproject.toml holding [tool.conformance], in `start`
    or a parent: where the plugin finds it when pytest runs from that directory."""
    from conformance.model.spec_loader import has_conformance_table

    for directory in (start, *start.parents):
        if (directory / "conformance.toml").is_file():
            return directory / "conformance.toml"
        if has_conformance_table(directory / "pyproject.toml"):
            return directory / "pyproject.toml"
    return None


if __name__ == "__main__":
    sys.exit(main())
