"""The pre-push hook template run for real: pre-commit installs it in a generated repository,
and a push to a local bare remote is refused on a violation, accepted once it is fixed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from selftests.builder import GIT_IDENTITY
from selftests.trees import PROJECT, reference_repo

PRE_COMMIT = Path(sys.executable).parent / "pre-commit"


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(not PRE_COMMIT.exists(), reason="pre-commit is not installed (./setup.sh installs the dev extra)")
def test_push_is_refused_on_a_violation_and_accepted_after_the_fix(tmp_path):
    repo = reference_repo(tmp_path / "team-repo")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "CONFORMANCE_", "PYTEST_"))}
    env |= GIT_IDENTITY | {"PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
                           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"}
    assert _run([sys.executable, "-m", "conformance", "init", "--backend", "backend"], repo.root, env).returncode == 0
    shutil.copy(PROJECT / ".pre-commit-config.yaml", repo.root / ".pre-commit-config.yaml")
    repo.commit("adopt backend-conformance")
    remote = tmp_path / "remote.git"
    _run(["git", "init", "-q", "--bare", str(remote)], tmp_path, env)
    repo.git("remote", "add", "origin", str(remote))
    installed = _run([str(PRE_COMMIT), "install", "--hook-type", "pre-push"], repo.root, env)
    assert installed.returncode == 0, installed.stderr

    repo.write({"backend/debug_payments.py": "print('debug')\n"}).commit("a debug script in the root")
    refused = _run(["git", "push", "-q", "origin", "main"], repo.root, env)
    assert refused.returncode != 0, refused.stdout + refused.stderr
    output = refused.stdout + refused.stderr
    assert "backend conformance (structure + imports)" in output and "Failed" in output
    assert "backend/debug_payments.py" in output
    assert "error: failed to push some refs" in output

    repo.rm("backend/debug_payments.py").commit("drop the debug script")
    accepted = _run(["git", "push", "-q", "origin", "main"], repo.root, env)
    assert accepted.returncode == 0, accepted.stdout[-3000:] + accepted.stderr[-3000:]
    assert _run(["git", "rev-parse", "main"], remote, env).stdout == repo.git("rev-parse", "HEAD")
