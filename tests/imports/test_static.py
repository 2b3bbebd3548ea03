"""Imports checked statically: every backend import resolves (lazy ones too), and import style.

Each result comes through `from_scan`: computed from the import scan, kept between runs while
nothing the scan reads changed."""

import pytest

from conformance.checks.imports.groups import examined
from conformance.checks.imports.scan import check_parse
from conformance.checks.imports.style import (
    check_backend_prefix, check_init_files, check_relative_depth, check_shadowing, check_sys_path)
from conformance.pytest_plugin.plugin import assert_conforms

pytestmark = pytest.mark.imports


@pytest.mark.rule("python_parses")
def test_python_files_parse(from_scan):
    assert_conforms(from_scan("parse", lambda scan: examined(scan, check_parse(scan))))


@pytest.mark.rule("imports_resolve")
def test_imports_resolve(import_group, resolution_findings, from_scan):
    assert_conforms(from_scan(f"resolve[{import_group}]", lambda scan: examined(
        scan, resolution_findings.get(import_group, []), import_group)))


@pytest.mark.rule("backend_prefix")
def test_no_backend_prefix(from_scan):
    assert_conforms(from_scan("backend_prefix", lambda scan: examined(scan, check_backend_prefix(scan))))


@pytest.mark.rule("relative_depth")
def test_relative_import_depth(from_scan):
    assert_conforms(from_scan("relative_depth", lambda scan: examined(scan, check_relative_depth(scan))))


@pytest.mark.rule("sys_path")
def test_no_sys_path_changes(from_scan):
    assert_conforms(from_scan("sys_path", lambda scan: examined(scan, check_sys_path(scan))))


@pytest.mark.rule("init_files")
def test_init_files(from_scan):
    assert_conforms(from_scan("init_files", lambda scan: examined(scan, check_init_files(scan))))


@pytest.mark.rule("name_clash")
def test_no_shadowed_modules(from_scan, backend_interpreter):
    assert_conforms(from_scan("shadowing", lambda scan: check_shadowing(
        scan, backend_interpreter.stdlib, backend_interpreter.installed)))


@pytest.mark.rule("alias")
def test_transitional_alias(alias, from_scan, pytestconfig):
    from conformance.checks.imports.aliases import check_alias
    from conformance.pytest_plugin.verdicts import enforced_phase

    phase = enforced_phase(pytestconfig)
    assert_conforms(from_scan(f"alias[{alias.old}]", lambda scan: check_alias(alias, scan, phase), phase))
