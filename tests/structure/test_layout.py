"""The target structure: required directories, packages, and what may sit in the backend root."""

import pytest

from conformance.model.rules import RuleId
from conformance.pytest_plugin.plugin import assert_conforms

pytestmark = pytest.mark.structure


@pytest.mark.rule("required_dir")
def test_required_dir(required_dir, structure_report):
    assert_conforms(structure_report.result(RuleId.REQUIRED_DIR, required_dir.path))


@pytest.mark.rule("package_dir")
def test_package_dir(package_dir, structure_report):
    assert_conforms(structure_report.result(RuleId.PACKAGE_DIR, package_dir.path))


@pytest.mark.rule("root_files")
def test_root_files(structure_report):
    assert_conforms(structure_report.result(RuleId.ROOT_FILES))


@pytest.mark.rule("root_file_count")
def test_root_file_count(structure_report):
    assert_conforms(structure_report.result(RuleId.ROOT_FILE_COUNT))


@pytest.mark.rule("root_dirs")
def test_root_dirs(structure_report):
    assert_conforms(structure_report.result(RuleId.ROOT_DIRS))


@pytest.mark.rule("module_package_clash")
def test_module_package_clash(structure_report):
    assert_conforms(structure_report.result(RuleId.MODULE_PACKAGE_CLASH))
