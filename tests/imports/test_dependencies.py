"""Third-party imports are declared in the backend's requirements (deptry, one test per rule)."""

import pytest

from conformance.pytest_plugin.plugin import assert_conforms

pytestmark = pytest.mark.imports


@pytest.mark.rule("dependencies")
def test_dependencies_declared(dependency_rule, dependency_report):
    # a skip when the item could examine nothing; `missing` also warns about uninstalled requirements
    assert_conforms(dependency_report.result(dependency_rule))
