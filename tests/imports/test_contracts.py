"""Each import-linter contract in .importlinter (or --importlinter-config) is its own test,
plus one item for the contracts' root packages and one for imports of the entry point."""

import re

import pytest

from conformance.checks.imports import entrypoints
from conformance.checks.imports.scan import check_parse
from conformance.model.rules import RuleId, rule
from conformance.repo.index import shown_path
from conformance.pytest_plugin.plugin import assert_conforms

pytestmark = pytest.mark.imports


def _skip_unparsable(from_scan) -> None:
    unparsable = from_scan("unparsable", lambda scan: [f.location for f in check_parse(scan)])
    if unparsable:
        files = ", ".join(unparsable[:5])
        pytest.skip(f"the import graph cannot be built while {len(unparsable)} file(s) do not parse ({files}); "
                    "see test_python_files_parse")


def _contracts_file(conformance_context):
    if conformance_context.contracts_file is None:
        pytest.skip("no import-linter contracts file (.importlinter at the rootdir, --importlinter-config "
                    "or the spec's imports.contracts)")
    return conformance_context.contracts_file


@pytest.mark.rule("contract")
def test_contract(contract, contract_results, conformance_context, from_scan):
    """Missing root packages are left out of the contract (test_contract_root_packages reports
    them once); a contract with nothing left to check is skipped with the reason."""
    _skip_unparsable(from_scan)
    result = contract_results[contract.id]
    if result.skipped:
        pytest.skip(f"contract {contract.id!r}: {result.skipped} (see test_contract_root_packages)")
    if result.kept:
        return
    config = conformance_context.contracts_file
    where = re.search(r"^fix: ([^\s:]+):(\d+):", result.message, re.MULTILINE)  # the first broken import
    index = conformance_context.index()
    path, line = (shown_path(index.rel(where.group(1))), int(where.group(2))) if where else (str(config), None)
    assert_conforms([rule(RuleId.CONTRACT).finding(
        subject=contract.id, path=path, line=line,
        message=f"breaks contract {contract.id!r} ({contract.name}) of {config}:\n{result.message}",
        fix=("follow the `fix:` line(s) above" if "fix:" in result.message
             else f"see the reason above; `lint-imports --config {config}` shows the same from the backend root"),
        phase=conformance_context.spec.phase_of(RuleId.CONTRACT))])


@pytest.mark.rule("contract")
def test_contract_root_packages(conformance_context, missing_contract_roots):
    """The one place a missing root package is reported: a planned dir is test_required_dir's
    failure already (skip, naming it); any other is a stale root_packages entry (fail)."""
    config = _contracts_file(conformance_context)
    missing = missing_contract_roots
    if not missing:
        return
    planned = {d.path for d in conformance_context.spec.dirs}
    unplanned = [root for root in missing if root not in planned]
    if not unplanned:
        owners = ", ".join(f"test_required_dir[{root}]" for root in missing)
        pytest.skip(f"root package(s) {', '.join(missing)} of {config.name} do not exist yet; the contracts "
                    f"run without them and {owners} reports them")
    backend = conformance_context.backend
    assert_conforms([rule(RuleId.CONTRACT).finding(
        subject=root, path=str(config),
        message=(f"lists the root package {root!r}, but {backend / root} is not a directory and the plan has "
                 f"no /{root}/: every contract runs without it"),
        fix=f"create {root}/__init__.py in the backend, or remove {root} from root_packages in {config}",
        phase=conformance_context.spec.phase_of(RuleId.CONTRACT)) for root in unplanned])


@pytest.mark.rule("entry_point")
def test_entry_point_not_imported(conformance_context, from_scan):
    """main.py and other top-level modules sit above the layers; import-linter cannot take them
    as root packages, so imports of them from inside the layers are checked here."""
    from conformance.checks.imports.contracts_config import root_packages
    from conformance.pytest_plugin.incremental import file_bytes

    config = _contracts_file(conformance_context)

    def check(scan):  # plain data, kept in the run cache
        result = entrypoints.check_entry_point_imports(scan, root_packages(config))
        return result.findings, result.nothing_to_examine

    findings, nothing_to_examine = from_scan("entry_points", check, str(config), file_bytes(config))
    if nothing_to_examine:
        pytest.skip(f"nothing to examine: {nothing_to_examine}")
    assert_conforms(findings)
