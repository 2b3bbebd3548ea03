"""Direct imports a forbidden contract already reports, so no other check reports them again.

`import pytest` in a production module breaks the test-code contract; deptry sees the same line
as a transitive (or dev-only) dependency and would advise declaring pytest in the requirements,
the opposite of the fix. One cause, one finding: the contract's. Read from the contracts file
alone (no import graph), with import-linter's module expressions: `*` is one segment, `**` any
number, and a module matches its descendants too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ForbiddenImports:
    """(contract id, source expressions, forbidden expressions) of each forbidden contract."""

    rules: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = ()
    ignored: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)  # id -> ignore_imports

    def claimed_by(self, importer: str, imported: str) -> str | None:
        """The id of the contract that forbids `importer` (a dotted module) to import `imported`
        and does not ignore that import."""
        for contract_id, sources, forbidden in self.rules:
            if any(matches(e, importer) for e in sources) and any(matches(e, imported) for e in forbidden) \
                    and not any(_exact(a, importer) and _exact(b, imported) for a, b in self.ignored.get(contract_id, ())):
                return contract_id
        return None


def forbidden_imports(config_file: Path | None) -> ForbiddenImports:
    """The forbidden contracts of a contracts file; none when there is no usable file (the
    contract items report a broken file themselves)."""
    from conformance.checks.imports.contracts_config import ContractsError, load_contracts_file

    if config_file is None:
        return ForbiddenImports()
    try:
        config = load_contracts_file(config_file)
    except ContractsError:
        return ForbiddenImports()
    rules, ignored = [], {}
    for entry in config.entries:
        if entry.info.type != "forbidden":
            continue
        contract = entry.contract
        sources = tuple(_expression(m) for m in getattr(contract, "source_modules", ()) or ())
        forbidden = tuple(_expression(m) for m in getattr(contract, "forbidden_modules", ()) or ())
        rules.append((entry.info.id, sources, forbidden))
        ignored[entry.info.id] = tuple((_expression(i.importer), _expression(i.imported))
                                       for i in getattr(contract, "ignore_imports", None) or ()
                                       if hasattr(i, "importer") and hasattr(i, "imported"))
    return ForbiddenImports(tuple(rules), ignored)


def _expression(module: object) -> str:
    return str(getattr(module, "expression", None) or getattr(module, "name", None) or module)


def matches(expression: str, module: str) -> bool:
    """`module` is the expression's module or one of its descendants."""
    pattern, parts = expression.split("."), module.split(".")
    return any(_match(pattern, parts[:length]) for length in range(1, len(parts) + 1))


def _exact(expression: str, module: str) -> bool:
    """An ignore_imports side names the module itself (wildcards allowed), not its descendants."""
    return _match(expression.split("."), module.split("."))


def _match(pattern: list[str], parts: list[str]) -> bool:
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_match(rest, parts[skip:]) for skip in range(len(parts) + 1))
    return bool(parts) and (head == "*" or head == parts[0]) and _match(rest, parts[1:])
