"""The fast subset on pathological additions to the reference backend: a 120-level namespace
chain and a 2 MB module give at most one finding each, with the cause and the fix.

Their cost is measured by benchmarks/pathological.py (with --many 3000 for 3,000 modules in one
folder), not here: a timed assertion on a shared 2-core machine running the self-tests in
parallel fails on load, not on the code.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.pathological import big_module, deep_chain
from selftests.trees import reference_repo

PARTS = ("structure", "imports")


def fast_subset(run_suite, backend: Path) -> tuple[dict[str, str], dict[str, str], str]:
    """Outcomes, messages and output of the structure and import parts."""
    outcomes: dict[str, str] = {}
    messages: dict[str, str] = {}
    output = ""
    for part in PARTS:
        run = run_suite(backend, part=part)
        outcomes.update(run.outcomes)
        messages.update(run.messages)
        output += run.output
    return outcomes, messages, output


def test_deep_namespace_chain_and_2_mb_module(tmp_path: Path, run_suite) -> None:
    base = reference_repo(tmp_path / "base")
    _, _, output = fast_subset(run_suite, base.root / "backend")
    assert "failed" not in output.splitlines()[-1], output

    chain = reference_repo(tmp_path / "chain")
    chain.write(deep_chain(120)).commit("120 nested namespace directories")
    outcomes, messages, output = fast_subset(run_suite, chain.root / "backend")
    assert {name for name, outcome in outcomes.items() if outcome == "failed"} == {"test_init_files"}, output
    message = messages["test_init_files"]
    assert message.startswith("1 finding:"), message
    assert ("backend/utils/n0/ holds Python files but no __init__.py, inside a production package, and neither "
            "do the 119 directories below it down to backend/utils/n0/") in message
    assert ("fix:  find backend/utils/n0 -name __pycache__ -prune -o -type d -exec touch {}/__init__.py \\; "
            "&& git add backend/utils/n0") in message
    assert ("leaf.py is not imported: it lies under 120 nested directories without __init__.py, from "
            "backend/utils/n0/ down") in output  # the importability warning names the cause, fails nothing

    big = reference_repo(tmp_path / "big")
    big.write(big_module()).commit("a 2 MB module of constants")
    outcomes, _, output = fast_subset(run_suite, big.root / "backend")
    assert {name for name, outcome in outcomes.items() if outcome == "failed"} == set(), output
