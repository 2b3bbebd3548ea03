"""Mid-migration, root packages of the contracts file that do not exist yet (test_contract_root_packages).

They are left out of the graph and out of every contract: each contract is rebuilt without the
modules under a missing root (in a layer line such a module becomes optional), and a contract
left with nothing to check is skipped with the reason instead of passing as if it had looked.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from conformance.checks.imports.contracts_config import ContractEntry, ContractsConfig, build_contract, load_contracts_file


def missing_roots(config_file: Path, backend: Path) -> tuple[str, ...]:
    """Root packages of `config_file` with no directory in the backend (not yet created, mid-migration).

    They are left out of the graph and of every contract; the caller reports them once.
    A root that exists as a single-file module is not "missing": it is a configuration error.
    """
    return absent_roots(load_contracts_file(config_file).roots, backend)


def absent_roots(roots: tuple[str, ...], backend: Path) -> tuple[str, ...]:
    """Roots with neither a directory nor a `.py` file (the latter is a configuration error)."""
    return tuple(root for root in roots if root.isidentifier() and not (backend / root).is_dir()
                 and not (backend / f"{root}.py").is_file())


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


def without_missing_roots(entry: ContractEntry, config: ContractsConfig, present: tuple[str, ...],
                          missing: tuple[str, ...]) -> ContractEntry | str:
    """The contract rebuilt without the modules of missing root packages, or the reason to
    skip it when nothing is left to check. Unchanged when no root package is missing."""
    if not missing:
        return entry
    if not present:
        return f"nothing to check yet: {_not_yet(missing)}"
    kinds = _MODULE_OPTIONS.get(entry.info.type)
    if kinds is None:  # a plugin type: which options name modules is unknown
        named = sorted({root for value in entry.options.values() for item in option_items(value)
                        for root in missing if re.search(rf"(?<![\w.]){root}(?![\w])", item)})
        if named:
            return (f"contract type {entry.info.type!r} is not built in, so the modules of missing root "
                    f"packages cannot be left out of it: {_not_yet(tuple(named))}")
        return _rebuilt(entry, config, present, entry.options)
    options = dict(entry.options)
    dropped: set[str] = set()
    for key, kind in kinds.items():
        if key not in options:
            continue
        items = option_items(options[key])
        kept = [_pruned_item(item, kind, missing, dropped) for item in items]
        options[key] = [item for item in kept if item is not None]
    if not dropped:
        return _rebuilt(entry, config, present, entry.options)
    if not _has_something_to_check(entry.info.type, entry.options, options, missing):
        return (f"nothing to check yet: every module it names is under a root package that does not exist; "
                f"{_not_yet(tuple(sorted(dropped)))}")
    return _rebuilt(entry, config, present, options, tuple(sorted(dropped)))


def option_items(value: Any) -> list[str]:
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
        return len(option_items(after.get(key, [])))

    if contract_type == "layers":
        if before.get("containers"):
            return count("containers") > 0
        tails = [tail for line in option_items(after["layers"]) for tail in _LAYER_SPLIT.split(line)[::2]]
        return len([t for t in tails if not (t.startswith("(") and _root_of(t) in missing)]) >= 2
    if contract_type == "forbidden":
        return count("source_modules") > 0 and count("forbidden_modules") > 0
    if contract_type == "independence":
        return count("modules") >= 2 or any("*" in item for item in option_items(after["modules"]))
    if contract_type == "protected":
        return count("protected_modules") > 0
    if contract_type == "acyclic_siblings":
        return count("ancestors") > 0
    if contract_type == "private_modules":
        return "packages_with_private_modules" not in before or count("packages_with_private_modules") > 0
    return True


def _rebuilt(entry: ContractEntry, config: ContractsConfig, present: tuple[str, ...], options: dict[str, Any],
             dropped: tuple[str, ...] = ()) -> ContractEntry:
    """The same contract over the existing root packages only: import-linter asks the session's
    root_packages whether a module is internal (and must then exist in the graph)."""
    session = dict(config.session) | {"root_packages": list(present)}
    contract = build_contract(config.file, entry.info, entry.cls, session, options)
    return ContractEntry(entry.info, contract, options, entry.cls, dropped)


def _not_yet(roots: tuple[str, ...]) -> str:
    if len(roots) == 1:
        return f"root package {roots[0]} does not exist yet"
    return f"root packages {', '.join(roots)} do not exist yet"


def partial_note(dropped: tuple[str, ...]) -> str:
    """Said in a failure of a contract checked without some of its modules."""
    if not dropped:
        return ""
    return f"note: checked without the modules of {', '.join(dropped)} ({_not_yet(dropped)})"
