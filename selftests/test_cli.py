"""`python -m conformance`: version, help, and the spec found exactly as the pytest plugin finds it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance import __version__
from selftests.trees import PROJECT, reference_repo


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CONFORMANCE_")} | (env or {})
    return subprocess.run([sys.executable, "-m", "conformance", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env=full_env)


def test_version_prints_the_package_version(tmp_path):
    done = cli("--version", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == f"backend-conformance {__version__}"


def test_help_shows_one_usage_line_per_subcommand(tmp_path):
    done = cli("--help", cwd=tmp_path)
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert "    python -m conformance init [--backend DIR]        write conformance.toml and .importlinter here" in lines
    assert "    python -m conformance plan [--backend-root DIR]   print the fix plan (never runs it)" in lines


@pytest.fixture(scope="module")
def adopted(tmp_path_factory) -> Path:
    """A repository that adopted the suite: conformance.toml at its root, the backend below."""
    repo = reference_repo(tmp_path_factory.mktemp("adopted") / "repo")
    done = cli("init", "--backend", "backend", cwd=repo.root)
    assert done.returncode == 0, done.stderr
    return repo.root


@pytest.mark.parametrize("where", ["", "backend", "backend/services"])
def test_plan_finds_the_spec_from_the_repository_root_or_below(adopted, where):
    done = cli("plan", cwd=adopted / where)
    assert done.returncode == 0, done.stderr
    assert "# nothing to do: the structure conforms to the plan" in done.stdout


def test_plan_takes_an_explicit_spec_like_the_plugin(adopted, tmp_path):
    explicit = cli("plan", f"--conformance-config={adopted / 'conformance.toml'}", cwd=tmp_path)
    assert explicit.returncode == 0, explicit.stderr
    from_env = cli("plan", cwd=tmp_path, env={"CONFORMANCE_CONFIG": str(adopted / "conformance.toml")})
    assert from_env.returncode == 0 and from_env.stdout == explicit.stdout


def test_plan_without_a_spec_is_one_usage_error(tmp_path):
    done = cli("plan", cwd=tmp_path)
    assert done.returncode == 4
    assert done.stderr == (f"ERROR: conformance: no spec file: no conformance.toml, nor pyproject.toml with "
                           f"[tool.conformance], in {tmp_path} or a parent directory (pass --conformance-config FILE, "
                           "or write one with `python -m conformance init`)\n")


def test_readme_links_resolve_inside_a_clone(tmp_path):
    """The README stands alone: every relative link points at a file of the repository."""
    import re

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(PROJECT), str(clone)], check=True, timeout=120)
    text = (clone / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    outside = [link for link in links if re.match(r"[a-z]+:", link) and not link.startswith("#")]
    assert outside == [], f"links that leave the repository: {outside}"
    broken = [link for link in links if not link.startswith("#")
              and not (clone / link.split("#")[0]).resolve().is_relative_to(clone)
              or not link.startswith("#") and not (clone / link.split("#")[0]).exists()]
    assert broken == [], f"relative links that do not resolve inside a clone: {broken}"


def test_pyargs_run_shows_ids_as_in_this_repository(adopted):
    """An adopting repository runs the installed suite; its ids must not be paths into the venv."""
    done = subprocess.run([sys.executable, "-m", "pytest", "--pyargs", "conformance.suite", "-p", "no:cacheprovider",
                           "-m", "not startup", "-k", "root_files or imports_resolve", "-rA"],
                          cwd=adopted, capture_output=True, text=True, timeout=300,
                          env={k: v for k, v in os.environ.items() if not k.startswith("CONFORMANCE_")})
    assert done.returncode == 0, done.stdout[-3000:]
    assert "structure/test_layout.py::test_root_files" in done.stdout
    suite = str(PROJECT / "tests")
    for line in done.stdout.splitlines():
        assert "site-packages" not in line and "../" not in line and not line.startswith(suite), line
