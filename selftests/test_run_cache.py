"""Incremental runs: a warm run (results reused from the run cache) says exactly what a cold run
with the cache off says, after every kind of edit; a damaged cache and two suites at once on one
cache still give the right outcomes; the cache never lands in the repository under test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from selftests.builder import tree_digest
from selftests.trees import PROJECT, reference_repo

FAST = ("-m", "not startup")


def _fake_distribution(site: Path, name: str) -> None:
    """Install a tiny distribution into a site-packages dir by hand (what pip leaves behind)."""
    (site / name).mkdir()
    (site / name / "__init__.py").write_text("VALUE = 1\n")
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: 1.0\n")
    (info / "top_level.txt").write_text(f"{name}\n")
    (info / "RECORD").write_text("")


def _backend_venv(where: Path) -> tuple[str, Path]:
    """An interpreter of its own for the backend: a venv that sees the suite's packages through a
    .pth file, so installing into it changes nothing else."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    site = next((where / "lib").glob("python3*/site-packages"))
    ours = next(Path(p) for p in sys.path if p.endswith("site-packages") and Path(p, "fastapi").is_dir())
    (site / "suite-packages.pth").write_text(f"{ours}\n")
    return str(where / "bin" / "python"), site


def test_warm_runs_say_what_cold_runs_say_after_every_edit(tmp_path, run_suite):
    repo = reference_repo(tmp_path / "repo")
    spec = tmp_path / "spec.toml"
    spec.write_text((PROJECT / "pyproject.toml").read_text())
    python, site = _backend_venv(tmp_path / "venv")
    cache = tmp_path / "cache"
    common = (str(PROJECT / "tests" / "imports"), *FAST, f"--conformance-config={spec}", f"--backend-python={python}")

    def same(step: str) -> None:
        warm = run_suite(repo.root / "backend", *common, f"--conformance-cache-dir={cache}")
        cold = run_suite(repo.root / "backend", *common, "--no-conformance-cache")
        assert warm.outcomes == cold.outcomes, (step, warm.output, cold.output)
        assert warm.messages == cold.messages, step
        assert "conformance cache:" not in warm.output, step  # nothing damaged: no warning
        steps.append((step, sorted(cold.failed)))
        outputs[step] = cold.output

    steps: list[tuple[str, list[str]]] = []
    outputs: dict[str, str] = {}
    same("cold cache")
    same("warm, nothing changed")
    repo.mv("backend/utils/time.py", "backend/core/time.py")
    same("a module moved (its importers break)")
    repo.mv("backend/core/time.py", "backend/utils/time.py")
    same("moved back")
    repo.edit("backend/services/user_service.py", "from utils.time import utcnow", "from utils.clock import utcnow")
    same("an import broken")
    repo.edit("backend/services/user_service.py", "from utils.clock import utcnow", "from utils.time import utcnow")
    same("the import fixed")
    repo.edit("backend/requirements.txt", "redis==8.1.0\n", "")
    same("a requirement removed")
    repo.edit("backend/.gitignore", "/logs/\n", "")
    same(".gitignore changed")
    repo.edit("backend/schemas/users.py", '"""', 'raise RuntimeError("boom at import")\n"""', 1)
    same("a module that raises at import")
    spec.write_text(spec.read_text().replace("max_root_files = 12", "max_root_files = 3")
                    .replace('AI_PROVIDER = "offline"', 'AI_PROVIDER = "offline"\nEXTRA_SETTING = "1"'))
    same("the spec changed")
    repo.edit("backend/utils/time.py", '"""', 'import cache_flag_pkg\n"""', 1)
    repo.edit("backend/requirements.txt", "fastapi", "cache-flag-pkg==1.0\nfastapi")
    same("an import of a package the interpreter lacks")
    _fake_distribution(site, "cache_flag_pkg")
    same("the backend interpreter's packages changed")
    draft = repo.root / "backend" / "services" / "draft_service.py"
    draft.write_text('"""A draft, staged but not committed."""\n')
    repo.git("add", "backend/services/draft_service.py")
    same("a new module, staged")
    draft.write_text('"""A draft, staged but not committed."""\nraise RuntimeError("draft boom")\n')
    same("the staged module edited in the work tree to raise at import")
    draft.unlink()
    repo.edit("backend/schemas/users.py", 'raise RuntimeError("boom at import")\n', "")
    repo.commit("everything so far")
    same("the raising module fixed, all committed")
    failing = dict(steps)
    assert "test_importable[schemas]" in failing["a module that raises at import"]
    assert "test_root_file_count" in failing["the spec changed"]
    assert any(t.startswith("test_imports_resolve") for t in failing["an import broken"])
    assert any(t.startswith("test_runtime_dir_ignored") for t in failing[".gitignore changed"])
    assert failing["cold cache"] == [] and failing["moved back"] == []
    assert "test_importable[services]" not in failing["a new module, staged"]
    assert "test_importable[services]" in failing["the staged module edited in the work tree to raise at import"]
    lacking, installed = outputs["an import of a package the interpreter lacks"], \
        outputs["the backend interpreter's packages changed"]
    assert "cache-flag-pkg" in lacking and "does not have installed" in lacking  # the environment warning
    assert "does not have installed" not in installed


def _suite(backend: Path, *extra: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", str(PROJECT / "tests"), "-c", str(PROJECT / "pyproject.toml"),
         "--rootdir", str(PROJECT), "-p", "no:cacheprovider", "-p", "no:randomly", *FAST,
         f"--backend-root={backend}", *extra],
        cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_damaged_cache_and_two_suites_at_once(tmp_path):
    repo = reference_repo(tmp_path / "repo")
    backend = repo.root / "backend"
    repo.edit("backend/schemas/users.py", '"""', 'raise RuntimeError("boom at import")\n"""', 1)
    before = tree_digest(repo.root)
    env = {k: v for k, v in os.environ.items() if k != "CONFORMANCE_NO_CACHE"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")  # the default place: the user's cache directory
    first = _suite(backend, env=env)
    output, _ = first.communicate(timeout=300)
    assert first.returncode == 1, output
    entries = sorted((tmp_path / "xdg" / "backend-conformance").rglob("*.pickle"))
    assert {e.stem for e in entries} >= {"parses", "importability", "dependencies", "structure", "probe"}
    for number, entry in enumerate(entries):  # garbage, a truncated entry, another format's entry
        data = entry.read_bytes()
        entry.write_bytes([b"\x00garbage", data[: len(data) // 2], data.replace(b"backend-conformance-cache",
                                                                                  b"other-program-cache0")][number % 3])
    both = [_suite(backend, "-rf", env=env) for _ in range(2)]
    outputs = [suite.communicate(timeout=300)[0] for suite in both]
    for suite, text in zip(both, outputs):
        assert suite.returncode == 1, text
        assert text.count("conformance cache:") == 1, text  # one warning, then rebuilt
        assert "FAILED" in text and "test_importable[schemas]" in text and "boom at import" in text, text
    again = _suite(backend, "-rf", env=env)
    text, _ = again.communicate(timeout=300)
    assert again.returncode == 1 and "conformance cache:" not in text and "boom at import" in text, text
    assert tree_digest(repo.root) == before  # nothing written into the repository


def test_a_cache_dir_inside_the_repository_is_refused(tmp_path, run_suite):
    repo = reference_repo(tmp_path / "repo")
    before = tree_digest(repo.root)
    run = run_suite(repo.root / "backend", f"--conformance-cache-dir={repo.root / '.cache'}")
    assert "run cache off: cache directory" in run.output and "inside the repository" in run.output
    assert run.failed == set()
    assert tree_digest(repo.root) == before


def test_slots_no_run_used_for_a_month_are_removed(tmp_path):
    """A moved or deleted checkout leaves its slot behind; the next run of any backend removes
    slots unused for MAX_AGE_DAYS, except one whose kept sandbox a running suite holds."""
    import fcntl
    import time

    from conformance.pytest_plugin.run_cache import MAX_AGE_DAYS, USED, cache_for

    root = tmp_path / "cache"
    month_ago = time.time() - (MAX_AGE_DAYS + 1) * 86400

    def slot(version: str, name: str, stamp: bool = True) -> Path:
        where = root / version / name
        (where / "sandbox" / "tree").mkdir(parents=True)
        (where / "parses.pickle").write_bytes(b"x")
        if stamp:
            (where / USED).touch()
            os.utime(where / USED, (month_ago, month_ago))
        os.utime(where, (month_ago, month_ago))
        return where

    stale, unstamped, other_version = slot("0.9-py3.11", "aaaa"), slot("0.9-py3.11", "bbbb", stamp=False), \
        slot("0.8-py3.10", "cccc")
    held = slot("0.9-py3.11", "dddd")
    recent = slot("0.9-py3.11", "eeee")
    os.utime(recent / USED)  # used just now
    (held / "sandbox" / "lock").touch()
    with open(held / "sandbox" / "lock", "w") as lock:  # another run holds its sandbox
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        backend = tmp_path / "backend"
        backend.mkdir()
        cache, note = cache_for(root, backend, tmp_path / "spec.toml", None)
    assert note is None
    assert not stale.exists() and not unstamped.exists()
    assert not other_version.parent.exists()  # its last slot went, and the empty version directory with it
    assert held.exists() and recent.exists()
    assert (cache.directory / USED).is_file()  # this run's own slot is stamped
