"""The target structure: required directories, packages, and what may sit in the backend root."""

import pytest

from conformance.pytest_plugin.plugin import assert_conforms

pytestmark = pytest.mark.structure


@pytest.mark.rule("required_dir")
def test_required_dir(required_dir, structure_report):
    assert_conforms(structure_report.result("required_dir", required_dir.path))


@pytest.mark.rule("package_dir")
def test_package_dir(package_dir, structure_report):
    assert_conforms(structure_report.result("package_dir", package_dir.path))


@pytest.mark.rule("root_files")
def test_root_files(structure_report):
    assert_conforms(structure_report.result("root_files"))


@pytest.mark.rule("root_file_count")
def test_root_file_count(structure_report):
    assert_conforms(structure_report.result("root_file_count"))


@pytest.mark.rule("root_dirs")
def test_root_dirs(structure_report):
    assert_conforms(structure_report.result("root_dirs"))


@pytest.mark.rule("module_package_clash")
def test_module_package_clash(structure_report):
    assert_conforms(structure_report.result("module_package_clash"))
