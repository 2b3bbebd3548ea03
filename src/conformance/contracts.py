"""import-linter contracts of a `.importlinter` file, one result per contract.

Pure logic (no pytest): the plugin lists the contracts at collection time, which is cheap
(no import graph), and turns each into its own test item; at run time all contracts are
checked against one import graph, built once per process and kept in `_GRAPHS`.

The backend is only read. grimp parses its files (it never imports them) and, when given a
cache dir, writes its cache there and nowhere else: we call grimp ourselves instead of
import-linter's `lint_imports`, whose default cache is `.import_linter_cache` in the cwd.
"""

from __future__ import annotations

import configparser
import copy
import hashlib
import importlib
import importlib.util
import io
import re
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
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
    """Outcome of one contract; `message` holds the broken chains and a `fix:` line per chain."""

    kept: bool
    message: str = ""
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Config:
    """A read and validated contracts file."""

    file: Path
    session: dict[str, Any]
    contracts: list[tuple[ContractInfo, Contract]]

    @property
    def roots(self) -> tuple[str, ...]:
        return tuple(self.session["root_packages"])


GraphKey = tuple[str, tuple[str, ...], bool, bool, str | None]
_GRAPHS: dict[GraphKey, grimp.ImportGraph | ContractsError] = {}


# Public API
# ----------


def list_contracts(config_file: Path) -> list[ContractInfo]:
    """The contracts of a file, validated but without building the import graph."""
    return [info for info, _ in _load(config_file).contracts]


def check_contracts(config_file: Path, backend: Path, *, cache_dir: Path | None) -> dict[str, ContractResult]:
    """Check every contract of `config_file` against the backend, keyed by contract id.

    A graph that cannot be built (missing root package, syntax error) fails every contract
    with the reason; a contract that cannot be checked (e.g. a forbidden module that does not
    exist) fails alone. `cache_dir` must be private to this process (one per xdist worker);
    None disables grimp's cache.
    """
    config = _load(config_file)
    try:
        graph = _graph(config, backend, cache_dir)
    except ContractsError as error:
        return {info.id: ContractResult(kept=False, message=str(error)) for info, _ in config.contracts}
    return {info.id: _check_one(info, contract, graph, backend, config.file) for info, contract in config.contracts}


def clear_graph_cache() -> None:
    """Forget the graphs built so far (for long-lived processes that re-check a changed tree)."""
    _GRAPHS.clear()


# Reading the contracts file
# --------------------------


def _load(config_file: Path) -> _Config:
    """Read the file with import-linter's own reader, then validate every contract's options."""
    session, contracts_options = _read_options(config_file)
    contract_types = BUILT_IN_TYPES | _plugin_types(config_file, session)
    contracts = [_make_contract(config_file, session, options, contract_types, index)
                 for index, options in enumerate(contracts_options, start=1)]
    if not contracts:
        raise ContractsError(f"{config_file}: no contracts (add [importlinter:contract:<id>] sections)")
    _check_unique_ids(config_file, [info for info, _ in contracts])
    return _Config(file=config_file, session=session, contracts=contracts)


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
                   contract_types: dict[str, type[Contract]], index: int) -> tuple[ContractInfo, Contract]:
    """One contract, built as import-linter would, so option errors surface at collection."""
    info = _info(config_file, options, index)
    cls = contract_types.get(info.type)
    if cls is None:
        known = ", ".join(sorted(contract_types))
        raise ContractsError(f"{config_file}: contract {info.id}: unknown type {info.type!r} (known: {known})")
    try:
        return info, cls(name=info.name, session_options=session, contract_options=options)
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


# Building the graph (once per process)
# -------------------------------------


def _graph(config: _Config, backend: Path, cache_dir: Path | None) -> grimp.ImportGraph:
    """The graph for this backend and these options; built on first use, then reused."""
    backend = backend.resolve()
    external, no_type_checking = _flag(config.session, "include_external_packages"), _flag(
        config.session, "exclude_type_checking_imports")
    cache = _backend_cache_dir(cache_dir, backend)
    key: GraphKey = (str(backend), tuple(sorted(config.roots)), external, no_type_checking, cache)
    if key not in _GRAPHS:
        try:
            _GRAPHS[key] = _build_graph(backend, config.roots, external, no_type_checking, cache)
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
    """Parse the backend with grimp, the backend root on sys.path for the duration only."""
    _check_roots_exist(backend, roots)
    with _on_sys_path(backend):
        _check_roots_resolve_into(backend, roots)
        try:
            return grimp.build_graph(*roots, include_external_packages=external,
                                     exclude_type_checking_imports=no_type_checking, cache_dir=cache)
        except SourceSyntaxError as error:
            raise ContractsError(_syntax_error_message(backend, error)) from None
        except Exception as error:  # grimp's own errors have no common base worth relying on
            raise ContractsError(f"cannot build the import graph of {backend}: {type(error).__name__}: {error}\n"
                                 "fix: check root_packages in the contracts file against the backend") from None


def _check_roots_exist(backend: Path, roots: tuple[str, ...]) -> None:
    """Say which root package is missing, and why main.py can never be one."""
    if not backend.is_dir():
        raise ContractsError(f"backend root {backend} is not a directory")
    for root in roots:
        if not root.isidentifier():
            raise ContractsError(
                f"root package {root!r} is not a top-level package name; finding a subpackage "
                "would make importlib import (run) its parent package from the backend\n"
                f"fix: list the top-level package {root.split('.')[0]!r} in root_packages instead")
        directory = backend / root
        if directory.is_dir():
            continue
        if directory.with_suffix(".py").is_file():
            raise ContractsError(
                f"root package {root!r} is the single-file module {root}.py, not a package; "
                "import-linter can only take packages (directories) as root packages\n"
                f"fix: remove {root} from root_packages in the contracts file")
        raise ContractsError(f"root package {root!r} not found: {directory} is not a directory\n"
                             f"fix: create {root}/__init__.py or remove {root} from root_packages")


@contextmanager
def _on_sys_path(backend: Path) -> Iterator[None]:
    """Let grimp's importlib lookup find the backend's packages, then leave sys.path as it was."""
    entry = str(backend)
    added = entry not in sys.path
    if added:
        sys.path.insert(0, entry)
    importlib.invalidate_caches()  # a tree written moments ago must not hit a stale dir listing
    try:
        yield
    finally:
        if added:
            sys.path.remove(entry)
            sys.path_importer_cache.pop(entry, None)


def _check_roots_resolve_into(backend: Path, roots: tuple[str, ...]) -> None:
    """grimp finds packages with importlib: an already imported module of the same name, or a
    namespace package spread over other sys.path entries, would make it scan the wrong files."""
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
    if root in sys.modules:
        return f"a module named {root!r} is already imported in this process; check the contracts in a fresh process"
    return f"another sys.path entry also provides {root!r}; give {backend / root} an __init__.py"


def _syntax_error_message(backend: Path, error: SourceSyntaxError) -> str:
    path = Path(error.filename)
    shown = path.relative_to(backend) if path.is_relative_to(backend) else path
    return (f"cannot build the import graph: syntax error in {shown}, line {error.lineno or '?'}: "
            f"{(error.text or '').strip()}\n"
            f"fix: correct the syntax error at {shown}:{error.lineno or 1}")


# Checking one contract
# ---------------------


def _check_one(info: ContractInfo, contract: Contract, graph: grimp.ImportGraph, backend: Path,
               config_file: Path) -> ContractResult:
    """Run one contract on its own copy of the graph (contracts mutate it) and render a failure."""
    try:
        check = contract.check(copy.deepcopy(graph), verbose=False)
    except Exception as error:  # import-linter raises ValueError/MissingImport for config-vs-code mismatches
        return ContractResult(kept=False, message=(
            f"contract {info.id!r} could not be checked: {error}\n"
            f"fix: make [importlinter:contract:{info.id}] in {config_file} match the backend's modules"))
    warnings = tuple(check.warnings)
    if check.kept:
        return ContractResult(kept=True, warnings=warnings)
    _stabilise(check.metadata)
    body = _render(contract, check)
    fixes = _fix_lines(contract, info.type, check.metadata, backend.resolve())
    header = f"{info.name}: BROKEN (contract {info.id!r} in {config_file})"
    extra = "".join(f"\nwarning: {text}" for text in warnings)
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
