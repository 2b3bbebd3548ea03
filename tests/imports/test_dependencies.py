"""Third-party imports are declared in the backend's requirements (deptry, one test per rule)."""

import pytest

from conformance.findings import Skipped
from conformance.plugin import assert_conforms

pytestmark = pytest.mark.imports


@pytest.mark.rule("dependencies")
def test_dependencies_declared(dependency_rule, dependency_report):
    if dependency_report.skipped:
        assert_conforms(Skipped(dependency_report.skipped))
    assert_conforms(dependency_report.findings.get(dependency_rule, []))
