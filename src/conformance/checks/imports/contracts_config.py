"""Reading a `.importlinter` (or pyproject `[tool.importlinter]`) contracts file and validating
every contract in it, without building any import graph: cheap enough for collection, where
each contract becomes its own test_contract item. Every problem with the file is one
ContractsError naming the file and what is wrong.
"""

from __future__ import annotations

import configparser
import importlib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import importlinter.api  # noqa: F401  (configures import-linter's settings on import)
from importlinter.application.use_cases import read_user_options
from importlinter.contracts.acyclic_siblings import AcyclicSiblingsContract
from importlinter.contracts.forbidden import ForbiddenContract
from importlinter.contracts.independence import IndependenceContract
from importlinter.contracts.layers import LayersContract
from importlinter.contracts.private_modules import PrivateModulesContract
from importlinter.contracts.protected import ProtectedContract
from importlinter.domain.contract import Contract, InvalidContractOptions


BUILT_IN_TYPES: dict[str, type[Contract]] = {
    cls.type_name: cls  # type: ignore[attr-defined]
    for cls in (LayersContract, ForbiddenContract, IndependenceContract, ProtectedContract,
                PrivateModulesContract, AcyclicSiblingsContract)
}


class ContractsError(Exception):
    """The contracts file cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class ContractInfo:
    """What collection needs to make one test item: a stable id, a title and the type."""

    id: str
    name: str
    type: str


@dataclass(frozen=True)
class ContractEntry:
    """One contract: its id and title, the validated contract, and the raw options it was
    built from (needed to rebuild it without the modules of missing root packages)."""

    info: ContractInfo
    contract: Contract
    options: dict[str, Any]
    cls: type[Contract]
    dropped: tuple[str, ...] = ()  # missing root packages whose modules were left out


@dataclass(frozen=True)
class ContractsConfig:
    """A read and validated contracts file."""

    file: Path
    session: dict[str, Any]
    entries: list[ContractEntry]

    @property
    def roots(self) -> tuple[str, ...]:
        return tuple(self.session["root_packages"])

    @property
    def contracts(self) -> list[tuple[ContractInfo, Contract]]:
        return [(entry.info, entry.contract) for entry in self.entries]


def list_contracts(config_file: Path) -> list[ContractInfo]:
    """The contracts of a file, validated but without building the import graph."""
    return [info for info, _ in load_contracts_file(config_file).contracts]


def root_packages(config_file: Path) -> tuple[str, ...]:
    """The root_packages of a contracts file, in file order."""
    return load_contracts_file(config_file).roots


def load_contracts_file(config_file: Path) -> ContractsConfig:
    """Read the file with import-linter's own reader, then validate every contract's options."""
    session, contracts_options = _read_options(config_file)
    contract_types = BUILT_IN_TYPES | _plugin_types(config_file, session)
    entries = [_make_contract(config_file, session, options, contract_types, index)
               for index, options in enumerate(contracts_options, start=1)]
    if not entries:
        raise ContractsError(f"{config_file}: no contracts (add [importlinter:contract:<id>] sections)")
    _check_unique_ids(config_file, [entry.info for entry in entries])
    return ContractsConfig(file=config_file, session=session, entries=entries)


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
                   contract_types: dict[str, type[Contract]], index: int) -> ContractEntry:
    """One contract, built as import-linter would, so option errors surface at collection."""
    info = _info(config_file, options, index)
    cls = contract_types.get(info.type)
    if cls is None:
        known = ", ".join(sorted(contract_types))
        raise ContractsError(f"{config_file}: contract {info.id}: unknown type {info.type!r} (known: {known})")
    return ContractEntry(info, build_contract(config_file, info, cls, session, options), options, cls)


def build_contract(config_file: Path, info: ContractInfo, cls: type[Contract], session: dict[str, Any],
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
