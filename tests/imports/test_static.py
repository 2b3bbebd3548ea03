"""Imports checked statically: every backend import resolves (lazy ones too), and import style."""

import pytest

from conformance.checks.imports.groups import examined
from conformance.checks.imports.scan import check_parse
from conformance.checks.imports.style import (
    check_backend_prefix, check_init_files, check_relative_depth, check_shadowing, check_sys_path)
from conformance.pytest_plugin.plugin import assert_conforms

pytestmark = pytest.mark.imports


@pytest.mark.rule("python_parses")
def test_python_files_parse(import_scan):
    assert_conforms(examined(import_scan, check_parse(import_scan)))


@pytest.mark.rule("imports_resolve")
def test_imports_resolve(import_group, resolution_findings, import_scan):
    assert_conforms(examined(import_scan, resolution_findings.get(import_group, []), import_group))


@pytest.mark.rule("backend_prefix")
def test_no_backend_prefix(import_scan):
    assert_conforms(examined(import_scan, check_backend_prefix(import_scan)))


@pytest.mark.rule("relative_depth")
def test_relative_import_depth(import_scan):
    assert_conforms(examined(import_scan, check_relative_depth(import_scan)))


@pytest.mark.rule("sys_path")
def test_no_sys_path_changes(import_scan):
    assert_conforms(examined(import_scan, check_sys_path(import_scan)))


@pytest.mark.rule("init_files")
def test_init_files(import_scan):
    assert_conforms(examined(import_scan, check_init_files(import_scan)))


@pytest.mark.rule("name_clash")
def test_no_shadowed_modules(import_scan, backend_interpreter):
    assert_conforms(check_shadowing(import_scan, backend_interpreter.stdlib, backend_interpreter.installed))


@pytest.mark.rule("alias")
def test_transitional_alias(alias, import_scan, pytestconfig):
    from conformance.checks.imports.aliases import check_alias
    from conformance.pytest_plugin.verdicts import enforced_phase

    assert_conforms(check_alias(alias, import_scan, enforced_phase(pytestconfig)))
