"""Each import-linter contract in .importlinter (or --importlinter-config) is its own test."""

import re

import pytest

from conformance import imports
from conformance.findings import Finding
from conformance.plugin import assert_conforms

pytestmark = pytest.mark.imports


@pytest.mark.rule("contract")
def test_contract(contract, contract_results, conformance_context, import_scan):
    unparsable = imports.check_parse(import_scan)
    if unparsable:
        files = ", ".join(f.location for f in unparsable[:5])
        pytest.skip(f"the import graph cannot be built while {len(unparsable)} file(s) do not parse ({files}); "
                    "see test_python_files_parse")
    result = contract_results[contract.id]
    if result.kept:
        return
    missing = re.match(r"root package '([^']+)' not found", result.message)
    planned = {d.path for d in conformance_context.spec.dirs}
    if missing and missing.group(1) in planned:
        pytest.skip(f"root package {missing.group(1)} does not exist yet, so the import graph cannot be built "
                    f"(see test_required_dir[{missing.group(1)}])")
    config = conformance_context.contracts_file
    assert_conforms([Finding(
        rule="contract", subject=contract.id, path=str(config),
        message=f"contract {contract.id!r} ({contract.name}) is broken:\n{result.message}",
        fix=("follow the `fix:` line(s) above" if "fix:" in result.message
             else f"see the reason above; `lint-imports --config {config}` shows the same from the backend root"),
        plan="Current structure: api, services, database, ... (existing, well organized) - layers",
        phase=conformance_context.spec.phase_of("contract"))])
