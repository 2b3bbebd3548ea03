"""Third-party imports are declared in the backend's requirements (deptry, one test per rule)."""

import pytest

from conformance.pytest_plugin.plugin import assert_conforms

pytestmark = pytest.mark.imports


@pytest.mark.rule("dependencies")
def test_dependencies_declared(dependency_rule, dependency_report, contract_claims):
    # a skip when the item could examine nothing; `missing` also warns about uninstalled requirements;
    # an import a forbidden contract of this run reports (pytest in production) is that contract's finding
    assert_conforms(dependency_report.result(dependency_rule, contract_claims))
