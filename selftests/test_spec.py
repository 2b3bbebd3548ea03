"""Spec loading: the plan as data, and one clear error per broken spec (never a traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.model.spec import NetworkSpec, Spec, SpecError
from conformance.model.spec_loader import load_spec
from selftests.trees import PROJECT


def test_bundled_spec_encodes_the_whole_plan(spec):
    dirs = {d.path: d for d in spec.dirs}
    python_dirs = ["api", "services", "database", "core", "ai", "cache", "monitoring", "integrations",
                   "validators", "security", "templates", "utils", "schemas"]
    assert all(dirs[name].package for name in python_dirs)
    for name in ("scripts/admin", "scripts/maintenance", "scripts/monitoring", "workers/telegram",
                 "workers/master", "alembic"):
        assert name in dirs and dirs[name].purpose
    assert dirs["logs"].runtime and dirs["data"].runtime
    assert {m.name for m in spec.moves} == {
        "cleanup_users.py", "create_admin.py", "debug_working_hours.py", "enhanced_bot_logging.py",
        "reindex_document_with_gpt4o.py", "scalable_bot_manager.js", "bot_worker.js", "package.json"}
    assert {"main.py", "requirements.txt", "alembic.ini", "start_production.sh"} <= set(spec.root_allow)
    assert spec.workers == "workers"
    assert spec.phase_of("node_only_in_workers") == 2 and spec.phase_of("package_dir") == 3


def _load(tmp_path: Path, text: str) -> Spec:
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return load_spec(path)


@pytest.mark.parametrize(("text", "message"), [
    ('workers = "workers"\nmax_root_file = 3\n',
     '[top level] unknown key "max_root_file" (did you mean "max_root_files"?)'),
    ('[dirs]\napi = { purpse = "x" }\n', '[dirs.api] unknown key "purpse" (did you mean "purpose"?)'),
    ("max_root_files = \"many\"\n", "[max_root_files] must be an integer, got a string"),
    ('[dirs]\n"../outside" = "x"\n', '[dirs."../outside"] "../outside" escapes the backend root'),
    ('[[moves]]\nfiles = ["a.py"]\nto = "/abs"\n', '[moves[0].to] "/abs" must be relative to the backend'),
    ('[[moves]]\nfiles = ["a.py"]\n', '[moves[0]] needs "to"'),
    ('[[forbidden]]\npattern = "x"\nphase = 7\n', "[forbidden[0].phase] must be a plan phase 1-4, got 7"),
    ('[phases]\nnode_only = 2\n', '[phases] unknown key "node_only" (did you mean "node_only_in_workers"?)'),
    ('[dirs]\nlogs = { purpose = "x", runtime = true, package = true }\n',
     "[dirs.logs] a runtime dir (gitignored) cannot also be a package"),
    ("[dirs\n", "invalid TOML"),
    ('[network]\nallow = ["redis://localhost:6379"]\n',
     '[network.allow] "redis://localhost:6379" must be a host, host:port or a socket\'s absolute path, e.g. '
     '"api.example.com:443" or "127.0.0.1:6379"'),
    ('[network]\nallow = ["localhost:99999"]\n', '[network.allow] "localhost:99999" must be a host, host:port'),
    ('[network]\nprotected_ports = [6379, "5432"]\n',
     "[network.protected_ports] must be a list of port numbers (1-65535), got [6379, '5432']"),
    ('[network]\nalow = ["x"]\n', '[network] unknown key "alow" (did you mean "allow"?)'),
])
def test_broken_spec_names_key_and_file(tmp_path, text, message):
    with pytest.raises(SpecError) as caught:
        _load(tmp_path, text)
    assert str(caught.value).startswith(str(tmp_path / "spec.toml") + ": ")
    assert message in str(caught.value)


def test_network_table_is_read(tmp_path):
    spec = _load(tmp_path, '[network]\nallow = ["api.example.com:443", "[::1]:6379", "cache"]\nprotected_ports = [7000]\n')
    assert spec.network == NetworkSpec(("api.example.com:443", "[::1]:6379", "cache"), (7000,))


def test_pyproject_without_table_is_an_error(tmp_path):
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "x"\n')
    with pytest.raises(SpecError, match=r"no \[tool.conformance\] table"):
        load_spec(path)


def test_repo_relative_workers(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text('workers = "//workers"\n')
    assert load_spec(path).workers == "//workers"


def test_broken_spec_is_a_usage_error_not_a_traceback(tmp_path, run_suite):
    config = tmp_path / "spec.toml"
    config.write_text('[tool.conformance]\nbackend = "."\nmax_root_file = 3\n')
    run = run_suite(None, "--conformance-config", str(config))
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert 'unknown key "max_root_file" (did you mean "max_root_files"?)' in run.output
    assert "Traceback" not in run.output


def test_missing_backend_is_a_usage_error(tmp_path, run_suite):
    run = run_suite(tmp_path / "nowhere")
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert "is not a directory" in run.output and "Traceback" not in run.output


def test_backend_from_environment(tmp_path, run_suite, monkeypatch, spec):
    from selftests.builder import conforming_backend, make_repo

    make_repo(tmp_path / "repo", conforming_backend(spec))
    monkeypatch.setenv("CONFORMANCE_BACKEND_ROOT", str(tmp_path / "repo" / "backend"))
    run = run_suite(None)
    assert f"conformance: backend {tmp_path / 'repo' / 'backend'}" in run.output
    assert run.ret == 0, run.output


def test_project_spec_file_is_the_default():
    assert load_spec(PROJECT / "pyproject.toml").backend == PROJECT / "examples/chatai/backend"
