"""The backend's import graph for the contracts, built by grimp once per process and isolated.

The backend is only read. grimp parses its files (it never imports them) and, when given a
cache dir, writes its cache there and nowhere else: we call grimp ourselves instead of
import-linter's `lint_imports`, whose default cache is `.import_linter_cache` in the cwd.

The graph sees the backend and nothing else: while grimp locates the root packages, sys.path is
the backend plus the interpreter's own dirs (never the cwd or the caller's path) and modules of
the same names are hidden from sys.modules, so the outcome does not depend on where pytest runs.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import site
import sys
import sysconfig
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import grimp
from grimp.exceptions import SourceSyntaxError

from conformance.checks.imports.contracts_config import ContractsConfig, ContractsError


GraphKey = tuple[str, tuple[str, ...], bool, bool, str | None]
_GRAPHS: dict[GraphKey, grimp.ImportGraph | ContractsError] = {}


def clear_graph_cache() -> None:
    """Forget the graphs built so far (for long-lived processes that re-check a changed tree)."""
    _GRAPHS.clear()


def import_graph(config: ContractsConfig, roots: tuple[str, ...], backend: Path,
                 cache_dir: Path | None) -> grimp.ImportGraph:
    """The graph for this backend and these options; built on first use, then reused."""
    backend = backend.resolve()
    external, no_type_checking = _flag(config.session, "include_external_packages"), _flag(
        config.session, "exclude_type_checking_imports")
    cache = _backend_cache_dir(cache_dir, backend)
    key: GraphKey = (str(backend), tuple(sorted(roots)), external, no_type_checking, cache)
    if key not in _GRAPHS:
        try:
            _GRAPHS[key] = _build_graph(backend, roots, external, no_type_checking, cache)
        except ContractsError as error:
            _GRAPHS[key] = error
    graph = _GRAPHS[key]
    if isinstance(graph, ContractsError):
        raise graph
    return graph


def _flag(session: dict[str, Any], name: str) -> bool:
    return str(session.get(name, "")).strip().lower() == "true"


def _backend_cache_dir(cache_dir: Path | None, backend: Path) -> str | None:
    """A subdir per backend: grimp names its cache files by package name only, so two
    backends with an `api` package would otherwise read each other's entries."""
    if cache_dir is None:
        return None
    digest = hashlib.sha256(str(backend).encode()).hexdigest()[:16]
    return str(cache_dir.resolve() / digest)


def _build_graph(backend: Path, roots: tuple[str, ...], external: bool, no_type_checking: bool,
                 cache: str | None) -> grimp.ImportGraph:
    """Parse the backend with grimp, the import system isolated to the backend meanwhile."""
    with _isolated_imports(backend, roots):
        _check_roots_resolve_into(backend, roots)
        try:
            return grimp.build_graph(*roots, include_external_packages=external,
                                     exclude_type_checking_imports=no_type_checking, cache_dir=cache)
        except SourceSyntaxError as error:
            raise ContractsError(_syntax_error_message(backend, error)) from None
        except Exception as error:  # grimp's own errors have no common base worth relying on
            raise ContractsError(f"cannot build the import graph of {backend}: {type(error).__name__}: {error}\n"
                                 "fix: check root_packages in the contracts file against the backend") from None


def check_backend(backend: Path, roots: tuple[str, ...]) -> None:
    """Errors of the backend or the file that no migration step explains: they fail every contract."""
    if not backend.is_dir():
        raise ContractsError(f"backend root {backend} is not a directory")
    for root in roots:
        if not root.isidentifier():
            raise ContractsError(
                f"root package {root!r} is not a top-level package name; finding a subpackage "
                "would make importlib import (run) its parent package from the backend\n"
                f"fix: list the top-level package {root.split('.')[0]!r} in root_packages instead")
        if not (backend / root).is_dir() and (backend / f"{root}.py").is_file():
            raise ContractsError(
                f"root package {root!r} is the single-file module {root}.py, not a package; "
                "import-linter can only take packages (directories) as root packages\n"
                f"fix: remove {root} from root_packages in the contracts file")


@contextmanager
def _isolated_imports(backend: Path, roots: tuple[str, ...]) -> Iterator[None]:
    """While grimp locates the root packages with importlib: sys.path is the backend plus the
    interpreter's own dirs (the cwd that `python -m pytest` adds, PYTHONPATH and the caller's
    entries would add their own `scripts/` or `tests/`, or merge into a namespace package), and
    modules of the same names imported from outside the interpreter's dirs (e.g. the running
    test suite's own `tests` package) are hidden. Everything is restored afterwards."""
    own = _interpreter_dirs()
    hide = {root for root in roots if root in sys.modules and not _from_interpreter(sys.modules[root], own)}
    saved_path = list(sys.path)
    hidden: dict[str, ModuleType] = {name: module for name, module in list(sys.modules.items())
                                     if name.partition(".")[0] in hide}
    for name in hidden:
        del sys.modules[name]
    entry = str(backend)
    sys.path[:] = [entry, *(p for p in saved_path if p and p != entry and _under(p, own, zip_ok=True))]
    importlib.invalidate_caches()  # a tree written moments ago must not hit a stale dir listing
    try:
        yield
    finally:
        sys.path[:] = saved_path
        sys.path_importer_cache.pop(entry, None)
        for name in [name for name in sys.modules if name.partition(".")[0] in hide]:
            del sys.modules[name]  # never imported by grimp, but never left behind either
        sys.modules.update(hidden)


def _interpreter_dirs() -> tuple[Path, ...]:
    """The interpreter's own dirs: stdlib (lib-dynload and the stdlib zip sit in or beside it)
    and site-packages. Whatever else the process has on sys.path is not the backend's."""
    names = sysconfig.get_paths()
    dirs = {names[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in names}
    dirs.update(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        dirs.add(site.getusersitepackages())
    return tuple(sorted({Path(os.path.realpath(d)) for d in dirs}))


def _under(entry: str, dirs: tuple[Path, ...], *, zip_ok: bool = False) -> bool:
    real = Path(os.path.realpath(entry))
    if zip_ok and real.suffix == ".zip" and any(real.parent == d.parent for d in dirs):
        return True  # pythonXY.zip beside the stdlib dir
    return any(real.is_relative_to(d) for d in dirs)


def _from_interpreter(module: ModuleType, dirs: tuple[Path, ...]) -> bool:
    """A built-in, frozen, stdlib or installed module: the restricted sys.path finds it too, so
    hiding it would change nothing but could make a lazy import inside grimp load it twice."""
    spec = getattr(module, "__spec__", None)
    locations = list(getattr(spec, "submodule_search_locations", None) or [])
    origin = getattr(spec, "origin", None) or getattr(module, "__file__", None)
    if origin in ("built-in", "frozen"):
        return True
    if origin and not locations:
        locations = [origin]
    return bool(locations) and all(_under(location, dirs) for location in locations)


def _check_roots_resolve_into(backend: Path, roots: tuple[str, ...]) -> None:
    """grimp finds packages with importlib. Isolated as above, a root can still resolve elsewhere
    when it is named like a standard-library module, or when the backend's dir has no
    __init__.py and an installed package of that name wins over (or merges into) it."""
    for root in roots:
        try:
            spec = importlib.util.find_spec(root)
        except (ImportError, ValueError):  # e.g. a module in sys.modules without __spec__
            spec = None
        locations = [Path(p).resolve() for p in (spec.submodule_search_locations or [])] if spec else []
        strays = [str(p) for p in locations if not p.is_relative_to(backend)]
        if not locations or strays:
            where = ", ".join(strays) or (spec.origin if spec else None) or "nowhere"
            raise ContractsError(f"root package {root!r} resolves to {where}, not into the backend {backend}\n"
                                 f"fix: {_shadow_fix(backend, root)}")


def _shadow_fix(backend: Path, root: str) -> str:
    if root in sys.stdlib_module_names:
        return (f"{root!r} is the name of a standard-library module, which Python finds first; "
                f"rename the backend package {backend / root} (see test_no_shadowed_modules)")
    if root in sys.modules:
        return (f"a package installed in this interpreter, already imported, is also named {root!r}; "
                f"rename the backend package {backend / root} (see test_no_shadowed_modules)")
    return (f"a package installed in this interpreter also provides {root!r}; "
            f"give {backend / root} an __init__.py so that the backend's package wins")


def _syntax_error_message(backend: Path, error: SourceSyntaxError) -> str:
    path = Path(error.filename)
    shown = path.relative_to(backend) if path.is_relative_to(backend) else path
    return (f"cannot build the import graph: syntax error in {shown}, line {error.lineno or '?'}: "
            f"{(error.text or '').strip()}\n"
            f"fix: correct the syntax error at {shown}:{error.lineno or 1}")
