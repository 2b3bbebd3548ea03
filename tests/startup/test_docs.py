"""The new structure is documented: backend/README.md names every planned directory, no dead paths."""

import pytest

from conformance.checks.docs.readme import check_readme
from conformance.pytest_plugin.plugin import assert_conforms

pytestmark = pytest.mark.startup


@pytest.fixture(scope="module")
def readme_findings(conformance_context):
    return check_readme(conformance_context.spec, conformance_context.index())


@pytest.mark.rule("docs")
def test_readme_documents_every_directory(readme_findings):
    assert_conforms(readme_findings["structure"])


@pytest.mark.rule("docs")
def test_readme_has_no_dead_paths(readme_findings):
    assert_conforms(readme_findings["paths"])
