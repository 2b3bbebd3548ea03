"""import-linter contracts of a `.importlinter` file, one result per contract.

Pure logic (no pytest): the plugin lists the contracts at collection time, which is cheap
(no import graph), and turns each into its own test item; at run time all contracts are
checked against one import graph, built once per process and kept in `_GRAPHS`.

The backend is only read. grimp parses its files (it never imports them) and, when given a
cache dir, writes its cache there and nowhere else: we call grimp ourselves instead of
import-linter's `lint_imports`, whose default cache is `.import_linter_cache` in the cwd.

The graph sees the backend and nothing else: while grimp locates the root packages, sys.path is
the backend plus the interpreter's own dirs (never the cwd or the caller's path) and modules of
the same names are hidden from sys.modules, so the outcome does not depend on where pytest runs.
Mid-migration, root packages that do not exist yet are left out of the graph and out of every
contract (see `missing_roots`); a contract with nothing left to check is skipped with the reason.
"""

from __future__ import annotations

import configparser
import copy
import hashlib
import importlib
import importlib.util
import io
import os
import re
import site
import sys
import sysconfig
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import grimp
import importlinter.api  # noqa: F401  (configures import-linter's settings on import)
from grimp.exceptions import SourceSyntaxError
from importlinter.application import output
from importlinter.application.use_cases import read_user_options
from importlinter.contracts.acyclic_siblings import AcyclicSiblingsContract
from importlinter.contracts.forbidden import ForbiddenContract
from importlinter.contracts.independence import IndependenceContract
from importlinter.contracts.layers import LayersContract
from importlinter.contracts.private_modules import PrivateModulesContract
from importlinter.contracts.protected import ProtectedContract
from importlinter.domain.contract import Contract, InvalidContractOptions
from rich.console import Console

BUILT_IN_TYPES: dict[str, type[Contract]] = {
    cls.type_name: cls  # type: ignore[attr-defined]
    for cls in (LayersContract, ForbiddenContract, IndependenceContract, ProtectedContract,
                PrivateModulesContract, AcyclicSiblingsContract)
}
MAX_FIX_LINES = 10


class ContractsError(Exception):
    """The contracts file cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class ContractInfo:
    """What collection needs to make one test item: a stable id, a title and the type."""

    id: str
    name: str
    type: str


@dataclass(frozen=True)
class ContractResult:
    """Outcome of one contract; `message` holds the broken chains and a `fix:` line per chain.

    `skipped` is the reason when the contract has nothing to check yet (every module it names
    is under a root package that does not exist); then `kept` is False: nothing was proven.
    """

    kept: bool
    message: str = ""
    warnings: tuple[str, ...] = ()
    skipped: str = ""


@dataclass(frozen=True)
class _Entry:
    """One contract: its id and title, the validated contract, and the raw options it was
    built from (needed to rebuild it without the modules of missing root packages)."""

    info: ContractInfo
    contract: Contract
    options: dict[str, Any]
    cls: type[Contract]
    dropped: tuple[str, ...] = ()  # missing root packages whose modules were left out


@dataclass(frozen=True)
class _Config:
    """A read and validated contracts file."""

    file: Path
    session: dict[str, Any]
    entries: list[_Entry]

    @property
    def roots(self) -> tuple[str, ...]:
        return tuple(self.session["root_packages"])

    @property
    def contracts(self) -> list[tuple[ContractInfo, Contract]]:
        return [(entry.info, entry.contract) for entry in self.entries]


GraphKey = tuple[str, tuple[str, ...], bool, bool, str | None]
_GRAPHS: dict[GraphKey, grimp.ImportGraph | ContractsError] = {}


# Public API
# ----------


def list_contracts(config_file: Path) -> list[ContractInfo]:
    """The contracts of a file, validated but without building the import graph."""
    return [info for info, _ in _load(config_file).contracts]


def root_packages(config_file: Path) -> tuple[str, ...]:
    """The root_packages of a contracts file, in file order."""
    return _load(config_file).roots


def missing_roots(config_file: Path, backend: Path) -> tuple[str, ...]:
    """Root packages of `config_file` with no directory in the backend (not yet created, mid-migration).

    They are left out of the graph and of every contract; the caller reports them once.
    A root that exists as a single-file module is not "missing": it is a configuration error.
    """
    return _missing(_load(config_file).roots, backend)


def check_contracts(config_file: Path, backend: Path, *, cache_dir: Path | None) -> dict[str, ContractResult]:
    """Check every contract of `config_file` against the backend, keyed by contract id.

    Root packages that do not exist yet are dropped from the graph and from each contract; a
    contract left with nothing to check is skipped with the reason. A graph that cannot be
    built (syntax error, shadowed root package) fails every contract with the reason; a
    contract that cannot be checked (e.g. a forbidden module that does not exist) fails alone.
    `cache_dir` must be private to this process (one per xdist worker); None disables grimp's cache.
    """
    config = _load(config_file)
    try:
        _check_backend(backend, config.roots)
    except ContractsError as error:
        return {entry.info.id: ContractResult(kept=False, message=str(error)) for entry in config.entries}
    missing = _missing(config.roots, backend)
    present = tuple(root for root in config.roots if root not in missing)
    pruned = {entry.info.id: _without_missing(entry, config, present, missing) for entry in config.entries}
    to_check = {key: value for key, value in pruned.items() if isinstance(value, _Entry)}
    results: dict[str, ContractResult] = {
        key: value for key, value in pruned.items() if isinstance(value, ContractResult)}
    if to_check:
        try:
            graph = _graph(config, present, backend, cache_dir)
        except ContractsError as error:
            results.update({key: ContractResult(kept=False, message=str(error)) for key in to_check})
        else:
            results.update({key: _check_one(entry.info, entry.contract, graph, backend, config.file,
                                            _partial_note(entry.dropped))
                            for key, entry in to_check.items()})
    return {entry.info.id: results[entry.info.id] for entry in config.entries}


def clear_graph_cache() -> None:
    """Forget the graphs built so far (for long-lived processes that re-check a changed tree)."""
    _GRAPHS.clear()


# Reading the contracts file
# --------------------------


def _load(config_file: Path) -> _Config:
    """Read the file with import-linter's own reader, then validate every contract's options."""
    session, contracts_options = _read_options(config_file)
    contract_types = BUILT_IN_TYPES | _plugin_types(config_file, session)
    entries = [_make_contract(config_file, session, options, contract_types, index)
               for index, options in enumerate(contracts_options, start=1)]
    if not entries:
        raise ContractsError(f"{config_file}: no contracts (add [importlinter:contract:<id>] sections)")
    _check_unique_ids(config_file, [entry.info for entry in entries])
    return _Config(file=config_file, session=session, entries=entries)


def _read_options(config_file: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Session and contract options, every reader failure turned into one clear error."""
    if not config_file.is_file():
        raise ContractsError(f"{config_file}: contracts file not found")
    section = "[tool.importlinter]" if config_file.suffix == ".toml" else "[importlinter]"
    try:
        options = read_user_options(str(config_file.resolve()))
    except (configparser.Error, tomllib.TOMLDecodeError) as error:
        raise ContractsError(f"{config_file}: not a valid {_format(config_file)} file: {_one_line(error)}") from None
    except UnicodeDecodeError as error:
        raise ContractsError(f"{config_file}: not UTF-8 text ({error.reason})") from None
    except FileNotFoundError:
        raise ContractsError(f"{config_file}: no {section} section") from None
    except KeyError:
        raise ContractsError(f"{config_file}: {section} needs root_packages (one package per line)") from None
    session = dict(options.session_options)
    session["root_packages"] = _as_list(session["root_packages"])
    if not session["root_packages"]:
        raise ContractsError(f"{config_file}: {section} root_packages is empty")
    return session, [dict(contract) for contract in options.contracts_options]


def _format(config_file: Path) -> str:
    return "TOML" if config_file.suffix == ".toml" else "INI"


def _one_line(error: Exception) -> str:
    """configparser spreads its messages over several lines; a failure line needs one."""
    return " ".join(str(error).split())


def _as_list(value: Any) -> list[str]:
    """An INI value on one line is a string; on several lines, a list."""
    if isinstance(value, str):
        return value.split()
    return [str(item).strip() for item in value if str(item).strip()]


def _plugin_types(config_file: Path, session: dict[str, Any]) -> dict[str, type[Contract]]:
    """Custom contract types declared as `contract_types = name: module.Class`."""
    types: dict[str, type[Contract]] = {}
    for entry in _as_lines(session.get("contract_types", [])):
        name, _, target = entry.partition(":")
        module_name, _, class_name = target.strip().rpartition(".")
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError, ValueError) as error:
            raise ContractsError(f"{config_file}: contract_types: cannot load {target.strip()!r}: {error}") from None
        if not (isinstance(cls, type) and issubclass(cls, Contract)):
            raise ContractsError(f"{config_file}: contract_types: {target.strip()} is not an import-linter Contract")
        types[name.strip()] = cls
    return types


def _as_lines(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _make_contract(config_file: Path, session: dict[str, Any], options: dict[str, Any],
                   contract_types: dict[str, type[Contract]], index: int) -> _Entry:
    """One contract, built as import-linter would, so option errors surface at collection."""
    info = _info(config_file, options, index)
    cls = contract_types.get(info.type)
    if cls is None:
        known = ", ".join(sorted(contract_types))
        raise ContractsError(f"{config_file}: contract {info.id}: unknown type {info.type!r} (known: {known})")
    return _Entry(info, _build(config_file, info, cls, session, options), options, cls)


def _build(config_file: Path, info: ContractInfo, cls: type[Contract], session: dict[str, Any],
           options: dict[str, Any]) -> Contract:
    try:
        return cls(name=info.name, session_options=session, contract_options=options)
    except InvalidContractOptions as error:
        problems = "; ".join(f"{key}: {text}" for key, text in sorted(error.errors.items()))
        raise ContractsError(f"{config_file}: contract {info.id}: {problems}") from None


def _info(config_file: Path, options: dict[str, Any], index: int) -> ContractInfo:
    """Id from the INI section (or TOML `id`, else the name, slugified); name and type required."""
    label = options.get("id") or f"#{index}"
    for key in ("name", "type"):
        if not isinstance(options.get(key), str) or not options[key].strip():
            raise ContractsError(f"{config_file}: contract {label}: missing {key!r}")
    contract_id = options.get("id") or _slug(options["name"])
    return ContractInfo(id=str(contract_id), name=options["name"].strip(), type=options["type"].strip())


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "contract"


def _check_unique_ids(config_file: Path, infos: list[ContractInfo]) -> None:
    seen: set[str] = set()
    for info in infos:
        if info.id in seen:
            raise ContractsError(f"{config_file}: two contracts have the id {info.id!r}")
        seen.add(info.id)


# Root packages that do not exist yet (mid-migration)
# ----------------------------------------------------

# Per built-in type: the options that name modules ("modules": module expressions, "layers":
# layer lines, "imports": `a -> b` import expressions) and the test that something is left.
_MODULE_OPTIONS: dict[str, dict[str, str]] = {
    "layers": {"layers": "layers", "containers": "modules", "ignore_imports": "imports"},
    "forbidden": {"source_modules": "modules", "forbidden_modules": "modules", "ignore_imports": "imports"},
    "independence": {"modules": "modules", "ignore_imports": "imports"},
    "protected": {"protected_modules": "modules", "allowed_importers": "modules", "ignore_imports": "imports"},
    "acyclic_siblings": {"ancestors": "modules", "skip_descendants": "modules", "ignore_imports": "imports"},
    "private_modules": {"packages_with_private_modules": "modules", "ignore_imports": "imports"},
}
_LAYER_SPLIT = re.compile(r"\s*([|:])\s*")


def _missing(roots: tuple[str, ...], backend: Path) -> tuple[str, ...]:
    """Roots with neither a directory nor a `.py` file (the latter is a configuration error)."""
    return tuple(root for root in roots if root.isidentifier() and not (backend / root).is_dir()
                 and not (backend / f"{root}.py").is_file())


def _without_missing(entry: _Entry, config: _Config, present: tuple[str, ...],
                     missing: tuple[str, ...]) -> _Entry | ContractResult:
    """The contract rebuilt without the modules of missing root packages, or a skip saying
    why nothing is left to check. Unchanged when no root package is missing."""
    if not missing:
        return entry
    if not present:
        return ContractResult(kept=False, skipped=f"nothing to check yet: {_not_yet(missing)}")
    kinds = _MODULE_OPTIONS.get(entry.info.type)
    if kinds is None:  # a plugin type: which options name modules is unknown
        named = sorted({root for value in entry.options.values() for item in _items(value)
                        for root in missing if re.search(rf"(?<![\w.]){root}(?![\w])", item)})
        if named:
            return ContractResult(kept=False, skipped=(
                f"contract type {entry.info.type!r} is not built in, so the modules of missing root "
                f"packages cannot be left out of it: {_not_yet(tuple(named))}"))
        return _rebuilt(entry, config, present, entry.options)
    options = dict(entry.options)
    dropped: set[str] = set()
    for key, kind in kinds.items():
        if key not in options:
            continue
        items = _items(options[key])
        kept = [_pruned_item(item, kind, missing, dropped) for item in items]
        options[key] = [item for item in kept if item is not None]
    if not dropped:
        return _rebuilt(entry, config, present, entry.options)
    if not _has_something_to_check(entry.info.type, entry.options, options, missing):
        return ContractResult(kept=False, skipped=(
            f"nothing to check yet: every module it names is under a root package that does not exist; "
            f"{_not_yet(tuple(sorted(dropped)))}"))
    return _rebuilt(entry, config, present, options, tuple(sorted(dropped)))


def _items(value: Any) -> list[str]:
    """An option value as its lines: one line is one item (a module, a layer, an import)."""
    if isinstance(value, (list, tuple)):
        return [str(item).strip() for item in value if str(item).strip()]
    return [str(value).strip()] if str(value).strip() else []


def _root_of(expression: str) -> str:
    return expression.strip().strip("()").strip().split(".")[0]


def _pruned_item(item: str, kind: str, missing: tuple[str, ...], dropped: set[str]) -> str | None:
    """A module or import expression under a missing root is dropped; in a layer line, such a
    module becomes optional ("(cache)"), which import-linter ignores while it does not exist."""
    if kind == "modules":
        root = _root_of(item)
        if root in missing:
            dropped.add(root)
            return None
        return item
    if kind == "imports":
        roots = [_root_of(side) for side in item.split("->")]
        gone = [root for root in roots if root in missing]
        dropped.update(gone)
        return None if gone else item
    parts = _LAYER_SPLIT.split(item)  # tail, delimiter, tail, ...
    for index in range(0, len(parts), 2):
        tail = parts[index]
        if _root_of(tail) in missing and not tail.startswith("("):
            dropped.add(_root_of(tail))
            parts[index] = f"({tail})"
    return "".join(part if i % 2 == 0 else f" {part} " for i, part in enumerate(parts))


def _has_something_to_check(contract_type: str, before: dict[str, Any], after: dict[str, Any],
                            missing: tuple[str, ...]) -> bool:
    """After dropping: two layers' worth of existing modules, a source and a forbidden module,
    two independent modules, ..., so that a kept contract means something was checked."""
    def count(key: str) -> int:
        return len(_items(after.get(key, [])))

    if contract_type == "layers":
        if before.get("containers"):
            return count("containers") > 0
        tails = [tail for line in _items(after["layers"]) for tail in _LAYER_SPLIT.split(line)[::2]]
        return len([t for t in tails if not (t.startswith("(") and _root_of(t) in missing)]) >= 2
    if contract_type == "forbidden":
        return count("source_modules") > 0 and count("forbidden_modules") > 0
    if contract_type == "independence":
        return count("modules") >= 2 or any("*" in item for item in _items(after["modules"]))
    if contract_type == "protected":
        return count("protected_modules") > 0
    if contract_type == "acyclic_siblings":
        return count("ancestors") > 0
    if contract_type == "private_modules":
        return "packages_with_private_modules" not in before or count("packages_with_private_modules") > 0
    return True


def _rebuilt(entry: _Entry, config: _Config, present: tuple[str, ...], options: dict[str, Any],
             dropped: tuple[str, ...] = ()) -> _Entry:
    """The same contract over the existing root packages only: import-linter asks the session's
    root_packages whether a module is internal (and must then exist in the graph)."""
    session = dict(config.session) | {"root_packages": list(present)}
    contract = _build(config.file, entry.info, entry.cls, session, options)
    return _Entry(entry.info, contract, options, entry.cls, dropped)


def _not_yet(roots: tuple[str, ...]) -> str:
    if len(roots) == 1:
        return f"root package {roots[0]} does not exist yet"
    return f"root packages {', '.join(roots)} do not exist yet"


def _partial_note(dropped: tuple[str, ...]) -> str:
    """Said in a failure of a contract checked without some of its modules."""
    if not dropped:
        return ""
    return f"note: checked without the modules of {', '.join(dropped)} ({_not_yet(dropped)})"


# Building the graph (once per process)
# -------------------------------------


def _graph(config: _Config, roots: tuple[str, ...], backend: Path, cache_dir: Path | None) -> grimp.ImportGraph:
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


def _check_backend(backend: Path, roots: tuple[str, ...]) -> None:
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


# Checking one contract
# ---------------------


def _check_one(info: ContractInfo, contract: Contract, graph: grimp.ImportGraph, backend: Path,
               config_file: Path, note: str = "") -> ContractResult:
    """Run one contract on its own copy of the graph (contracts mutate it) and render a failure."""
    try:
        check = contract.check(copy.deepcopy(graph), verbose=False)
    except Exception as error:  # import-linter raises ValueError/MissingImport for config-vs-code mismatches
        return ContractResult(kept=False, message=(
            f"contract {info.id!r} could not be checked: {error}\n"
            f"fix: make [importlinter:contract:{info.id}] in {config_file} match the backend's modules"
            + (f"\n{note}" if note else "")))
    warnings = tuple(check.warnings)
    if check.kept:
        return ContractResult(kept=True, warnings=warnings)
    _stabilise(check.metadata)
    body = _render(contract, check)
    fixes = _fix_lines(contract, info.type, check.metadata, backend.resolve())
    header = f"{info.name}: BROKEN (contract {info.id!r} in {config_file})"
    extra = "".join(f"\nwarning: {text}" for text in warnings) + (f"\n{note}" if note else "")
    return ContractResult(kept=False, message=f"{header}\n\n{body}\n\n{fixes}{extra}", warnings=warnings)


def _stabilise(metadata: dict[str, Any]) -> None:
    """Layers and independence contracts list violations in set order, which changes from run
    to run (hash randomisation); sort them so a failure reads the same every time."""
    for key, inner in (("invalid_dependencies", "routes"), ("invalid_chains", "chains")):
        items = metadata.get(key)
        if not isinstance(items, list):
            continue
        for item in items:
            if isinstance(item.get(inner), list):
                item[inner].sort(key=_chain_key)
        items.sort(key=lambda item: tuple(str(item.get(name, "")) for name in (
            "importer", "imported", "downstream_module", "upstream_module")))


def _chain_key(chain: Any) -> tuple[tuple[str, str], ...]:
    return tuple((link["importer"], link["imported"]) for link in _links(chain))


def _render(contract: Contract, check: Any) -> str:
    """import-linter's own rendering of the broken chains (with line numbers), as plain text."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=10_000, color_system=None, highlight=False, emoji=False,
                      soft_wrap=True, force_terminal=False, force_jupyter=False)
    saved, output.console = output.console, console
    try:
        contract.render_broken_contract(check)
    finally:
        output.console = saved
    lines = [line.rstrip() for line in buffer.getvalue().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _fix_lines(contract: Contract, contract_type: str, metadata: dict[str, Any], backend: Path) -> str:
    """One `fix:` line per broken chain: the file and line of its first import, and why."""
    lines = list(dict.fromkeys(_fixes(contract, contract_type, metadata, backend)))
    if not lines:
        return "fix: remove or invert the imports listed above"
    shown = lines[:MAX_FIX_LINES]
    more = len(lines) - len(shown)
    return "\n".join(shown) + (f"\n... and {more} more (see the chains above)" if more else "")


def _fixes(contract: Contract, contract_type: str, metadata: dict[str, Any], backend: Path) -> Iterator[str]:
    if contract_type == "layers":
        for dependency in metadata.get("invalid_dependencies", []):
            reason = _layers_reason(contract, dependency["importer"], dependency["imported"])
            for route in dependency["routes"]:
                yield _fix_line(_links(route), reason, backend)
        if metadata.get("undeclared_modules"):
            yield "fix: list the undeclared modules above as layers, or in exhaustive_ignores"
    elif contract_type in ("forbidden", "independence"):
        for item in metadata.get("invalid_chains", []):
            source, target = item["downstream_module"], item["upstream_module"]
            verb = "may not import" if contract_type == "forbidden" else "must stay independent of"
            for chain in item["chains"]:
                yield _fix_line(_links(chain), f"{source} {verb} {target}", backend)


def _layers_reason(contract: Contract, importer: str, imported: str) -> str:
    """Why a layers dependency is illegal: a lower layer reaching up, or two siblings of a
    "|" layer that must stay independent."""
    if _layer_index(contract, importer) == _layer_index(contract, imported):
        return f"{importer} and {imported} share an independent layer: move the shared code to a lower layer"
    return f"{importer} is a lower layer than {imported}: move what it needs down, or invert the call"


def _layer_index(contract: Contract, module: str) -> int | None:
    for index, layer in enumerate(getattr(contract, "layers", None) or []):
        if any(module == tail.name or module.endswith(f".{tail.name}") for tail in layer.module_tails):
            return index
    return None


def _links(chain: Any) -> list[dict[str, Any]]:
    """Chains come as a list of links (forbidden) or a dict holding one (layers, independence)."""
    return chain["chain"] if isinstance(chain, dict) else chain


def _fix_line(links: list[dict[str, Any]], reason: str, backend: Path) -> str:
    first = links[0]
    where = _location(backend, first["importer"], first["line_numbers"])
    if len(links) == 1:
        action = f"remove the import of {first['imported']}"
    else:
        modules = " -> ".join([first["importer"], *(link["imported"] for link in links)])
        action = f"break the chain {modules} (e.g. drop this import of {first['imported']})"
    return f"fix: {where}: {action} ({reason})"


def _location(backend: Path, module: str, line_numbers: tuple[int | None, ...]) -> str:
    """`database/crud.py:3`, relative to the backend root, for a module and its import line."""
    parts = module.split(".")
    candidates = [Path(*parts).with_suffix(".py"), Path(*parts, "__init__.py")]
    relative = next((c for c in candidates if (backend / c).is_file()), candidates[0])
    line = next((n for n in line_numbers if n is not None), None)
    return f"{relative.as_posix()}:{line}" if line else relative.as_posix()
