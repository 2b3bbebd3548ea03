"""test_contract: every import-linter contract checked against the backend, one result per contract.

Pure logic (no pytest): the plugin lists the contracts at collection time (contracts_config.py,
cheap: no import graph) and turns each into its own test item; at run time all contracts are
checked against one import graph, built once per process (contracts_graph.py). Root packages
that do not exist yet are left out of the graph and of every contract (contracts_missing_roots.py);
a broken contract is rendered as import-linter does, plus one `fix:` line per broken chain.
"""

from __future__ import annotations

import copy
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grimp
from importlinter.application import output
from importlinter.domain.contract import Contract
from rich.console import Console

from conformance.checks.imports.contracts_config import ContractEntry, ContractInfo, ContractsError, load_contracts_file
from conformance.checks.imports.contracts_graph import check_backend, import_graph
from conformance.checks.imports.contracts_missing_roots import absent_roots, partial_note, without_missing_roots


MAX_FIX_LINES = 10


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


def check_contracts(config_file: Path, backend: Path, *, cache_dir: Path | None) -> dict[str, ContractResult]:
    """Check every contract of `config_file` against the backend, keyed by contract id.

    Root packages that do not exist yet are dropped from the graph and from each contract; a
    contract left with nothing to check is skipped with the reason. A graph that cannot be
    built (syntax error, shadowed root package) fails every contract with the reason; a
    contract that cannot be checked (e.g. a forbidden module that does not exist) fails alone.
    `cache_dir` must be private to this process (one per xdist worker); None disables grimp's cache.
    """
    config = load_contracts_file(config_file)
    try:
        check_backend(backend, config.roots)
    except ContractsError as error:
        return {entry.info.id: ContractResult(kept=False, message=str(error)) for entry in config.entries}
    missing = absent_roots(config.roots, backend)
    present = tuple(root for root in config.roots if root not in missing)
    pruned = {entry.info.id: without_missing_roots(entry, config, present, missing) for entry in config.entries}
    to_check = {key: value for key, value in pruned.items() if isinstance(value, ContractEntry)}
    results: dict[str, ContractResult] = {
        key: ContractResult(kept=False, skipped=value) for key, value in pruned.items() if isinstance(value, str)}
    if to_check:
        try:
            graph = import_graph(config, present, backend, cache_dir)
        except ContractsError as error:
            results.update({key: ContractResult(kept=False, message=str(error)) for key in to_check})
        else:
            results.update({key: _check_one(entry.info, entry.contract, graph, backend, config.file,
                                            partial_note(entry.dropped))
                            for key, entry in to_check.items()})
    return {entry.info.id: results[entry.info.id] for entry in config.entries}


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
    _drop_implied_chains(check.metadata)
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


def _drop_implied_chains(metadata: dict[str, Any]) -> None:
    """A longer chain that runs through an import the contract also reports on its own (api.chat
    -> services.chat -> pytest, where services.chat -> pytest is forbidden too) has that import as
    its one cause: removing it breaks both. Only the direct import is reported, so the finding
    points at the line to change, not at an innocent import of services.chat."""
    items = metadata.get("invalid_chains")
    if not isinstance(items, list):
        return
    direct = {(links[0]["importer"], links[0]["imported"])
              for item in items for links in map(_links, item.get("chains") or []) if len(links) == 1}
    if not direct:
        return
    for item in items:
        item["chains"] = [chain for chain in item.get("chains") or [] if len(_links(chain)) == 1
                          or not any((link["importer"], link["imported"]) in direct for link in _links(chain))]
    metadata["invalid_chains"] = [item for item in items if item["chains"]]


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
