"""Debug/test files out of production code, Node.js only under workers, runtime dirs out of git."""

import pytest

from conformance.model.rules import RuleId
from conformance.pytest_plugin.plugin import assert_conforms

pytestmark = pytest.mark.structure


@pytest.mark.rule("forbidden")
def test_no_forbidden_files(forbidden_rule, structure_report):
    assert_conforms(structure_report.result(RuleId.FORBIDDEN, forbidden_rule.name))


@pytest.mark.rule("node_only_in_workers")
def test_node_only_in_workers(structure_report):
    assert_conforms(structure_report.result(RuleId.NODE_ONLY_IN_WORKERS))


@pytest.mark.rule("no_python_in_workers")
def test_no_python_in_workers(structure_report):
    assert_conforms(structure_report.result(RuleId.NO_PYTHON_IN_WORKERS))


@pytest.mark.rule("runtime_ignored")
def test_runtime_dir_ignored(runtime_dir, structure_report):
    assert_conforms(structure_report.result(RuleId.RUNTIME_IGNORED, runtime_dir.path))


@pytest.mark.rule("runtime_untracked")
def test_runtime_dir_untracked(runtime_dir, structure_report):
    assert_conforms(structure_report.result(RuleId.RUNTIME_UNTRACKED, runtime_dir.path))


@pytest.mark.rule("tracked_but_ignored")
def test_no_tracked_ignored_files(structure_report):
    assert_conforms(structure_report.result(RuleId.TRACKED_BUT_IGNORED))
