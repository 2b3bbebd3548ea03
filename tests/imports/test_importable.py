"""Every production module imports without error (pytest-import-check in a child pytest)."""

import pytest

from conformance.pytest_plugin.plugin import assert_conforms

pytestmark = pytest.mark.imports


@pytest.mark.rule("importable")
def test_importable(import_package, importability):
    assert_conforms(importability(import_package))
