"""The plan's "Files to Move/Reorganize", one test per file, and the rollback rule's `git mv`."""

import pytest

from conformance.model.rules import RuleId
from conformance.pytest_plugin.plugin import assert_conforms

pytestmark = pytest.mark.structure


@pytest.mark.rule("move")
def test_move(move, structure_report):
    assert_conforms(structure_report.result(RuleId.MOVE, move.source))


@pytest.mark.rule("move_history")
def test_move_history(move, structure_report):
    assert_conforms(structure_report.result(RuleId.MOVE_HISTORY, move.source))
