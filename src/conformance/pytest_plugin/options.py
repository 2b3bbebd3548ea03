"""The run's settings from command-line options, environment variables and the spec file.

Every bad value becomes a pytest.UsageError with one line naming the option or file.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.model.spec import Spec, SpecError
from conformance.model.spec_loader import has_conformance_table, load_spec


def from_invocation(config: pytest.Config, raw: str) -> Path:
    """A path given on the command line or in the environment, relative to where pytest ran."""
    path = Path(raw).expanduser()
    return path if path.is_absolute() else config.invocation_params.dir / path


def load_contracts(config: pytest.Config, spec: Spec) -> tuple[Path | None, list[Any]]:
    """The import-linter contracts to parametrize over (read without building any graph)."""
    from conformance.checks.imports.contracts_config import ContractsError, list_contracts

    raw = config.getoption("importlinter_config") or spec.imports.contracts
    if raw:
        path = from_invocation(config, raw)
    else:
        path = config.rootpath / ".importlinter"
        if not path.is_file():
            return None, []
    try:
        return path.resolve(), list_contracts(path.resolve())
    except ContractsError as exc:
        raise pytest.UsageError(f"conformance contracts: {exc}") from None


def resolve_database_url(config: pytest.Config) -> str | None:
    """An explicit database for migrations/startup; refuse non-loopback hosts unless allowed."""
    from conformance.runtime.dburl import DatabaseUrlError, check_database_url

    raw = config.getoption("database_url") or os.environ.get("CONFORMANCE_DATABASE_URL")
    if not raw:
        return None
    try:
        return check_database_url(raw, allow_remote=config.getoption("allow_remote_db"))
    except DatabaseUrlError as exc:
        raise pytest.UsageError(f"conformance: {exc}") from None


def reject_split_backend_option(config: pytest.Config) -> None:
    """`--backend-root /elsewhere` makes pytest pick its rootdir from that path before any plugin
    option is known (so it may even run the backend's own tests); demand the `=` form instead."""
    args = [str(a) for a in config.invocation_params.args]
    for flag, value in zip(args, args[1:]):
        if flag != "--backend-root":
            continue
        path = (config.invocation_params.dir / value).resolve()
        if path.exists() and not path.is_relative_to(config.invocation_params.dir):
            raise pytest.UsageError(
                f"conformance: write --backend-root={value} (with '='): given as two words, pytest takes "
                f"{value} for a test path and looks for its configuration there")


def resolve_python(config: pytest.Config) -> str:
    raw = config.getoption("backend_python") or os.environ.get("CONFORMANCE_BACKEND_PYTHON")
    if not raw:
        return sys.executable
    found = shutil.which(raw) if os.sep not in raw else raw
    origin = "--backend-python" if config.getoption("backend_python") else "CONFORMANCE_BACKEND_PYTHON"
    if not found or not os.path.exists(found):
        raise pytest.UsageError(f"conformance: backend interpreter {raw} (from {origin}) does not exist")
    if not os.path.isfile(found) or not os.access(found, os.X_OK):
        raise pytest.UsageError(f"conformance: backend interpreter {raw} (from {origin}) is not an executable file")
    return str(Path(found).absolute())


def load_spec_file(config: pytest.Config) -> Spec | None:
    """The explicit spec file, else conformance.toml at the rootdir, else the rootdir's
    pyproject.toml if it has [tool.conformance]; no spec at all leaves the plugin inert."""
    raw = config.getoption("conformance_config") or os.environ.get("CONFORMANCE_CONFIG")
    if raw:
        path = from_invocation(config, raw)
    elif (config.rootpath / "conformance.toml").is_file():
        path = config.rootpath / "conformance.toml"
    else:
        path = config.rootpath / "pyproject.toml"
        if not has_conformance_table(path):
            return None
    try:
        return load_spec(path.resolve())
    except SpecError as exc:
        raise pytest.UsageError(f"conformance spec: {exc}") from None


def resolve_backend(config: pytest.Config, spec: Spec) -> Path:
    raw = config.getoption("backend_root") or os.environ.get("CONFORMANCE_BACKEND_ROOT")
    if raw:
        origin = "--backend-root" if config.getoption("backend_root") else "CONFORMANCE_BACKEND_ROOT"
        backend = from_invocation(config, raw)
    elif spec.backend is not None:
        backend, origin = spec.backend, f"`backend` in {spec.source}"
    else:
        raise pytest.UsageError(
            f"conformance: no backend to check: pass --backend-root PATH, set CONFORMANCE_BACKEND_ROOT, "
            f"or set `backend` in {spec.source}")
    backend = backend.resolve()
    if not backend.is_dir():
        why = "it is a file" if backend.exists() else "nothing exists at that path"
        raise pytest.UsageError(f"conformance: backend root {backend} (from {origin}) is not a directory: {why}")
    return backend


def resolve_cache_dir(config: pytest.Config) -> Path | None:
    """The run cache's root directory, or None when the cache is off."""
    from conformance.pytest_plugin.run_cache import default_cache_root

    if config.getoption("no_conformance_cache"):
        return None
    if config.getoption("conformance_cache_dir"):  # the command line wins over the environment
        return from_invocation(config, config.getoption("conformance_cache_dir"))
    if os.environ.get("CONFORMANCE_NO_CACHE", "") not in ("", "0"):
        return None
    raw = os.environ.get("CONFORMANCE_CACHE_DIR")
    return from_invocation(config, raw) if raw else default_cache_root()
