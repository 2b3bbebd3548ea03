"""The importability check on small generated backends (plain files: no git needed).

One backend with every kind of module is checked once per module (`mixed`); the slow or
special cases (a hang, broken interpreters) get their own small backends.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from conformance.proc.childenv import child_env
from conformance.proc.dbguard import GUARD_DIR, GUARD_ENV
from conformance.checks.imports.importability_report import ImportabilityReport, ImportFailure, module_name
from conformance.checks.imports.importability_run import check_importability
from selftests.builder import tree_digest

PYTHON = sys.executable

MIXED = {
    "main.py": "from api import routes\n",
    "api/__init__.py": "",
    "api/routes.py": "from services.ai import answer\n",
    "api/boom.py": 'raise RuntimeError("boom")\n',
    "api/payments.py": "import stripe_not_installed_xyz\n",
    "api/legacy.py": "from database.gone import x\n",
    "api/broken.py": "def (\n",
    "api/quits.py": "import sys\nsys.exit(3)\n",
    "api/vanishes.py": "import os\nos._exit(0)\n",  # kills the child: checked again without it
    "api/loud.py": "print('x' * 5_000_000)\n",
    "api/test_routes.py": "def test_never_run():\n    assert False\n",  # production file named like a test
    "api/envdump.py": "import json, os\njson.dump(dict(os.environ), open(os.environ['DUMP_TO'], 'w'))\n",
    "services/__init__.py": "",
    "services/ai.py": "def answer():\n    return 42\n",
    "database/__init__.py": "",
    "database/models.py": "MODELS = []\n",
    "scripts/util.py": "A = 1\n",  # namespace dirs, one basename: must not clash
    "tools/util.py": "from . import helper\n",  # relative import inside a namespace package
    "tools/helper.py": "B = 2\n",
    # the backend's own pytest setup must not reach the child pytest
    "conftest.py": 'raise RuntimeError("the backend conftest ran")\n',
    "pytest.ini": "[pytest]\naddopts = --definitely-not-an-option\n",
    "pyproject.toml": '[tool.pytest.ini_options]\naddopts = "--also-not-an-option"\n',
}
CHECKED = sorted(p for p in MIXED if p.endswith(".py") and p != "conftest.py")
SECRETS = {"DATABASE_URL": "postgresql://prod", "SECRET_TOKEN": "s3cret", "AWS_SECRET_ACCESS_KEY": "k",
           "PYTHONPATH": "/elsewhere", "VIRTUAL_ENV": "/some/venv", "GIT_DIR": "/some/.git"}


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


class Mixed:
    def __init__(self, backend: Path, report: ImportabilityReport, before: str, env: dict[str, str]):
        self.backend, self.report, self.before, self.env = backend, report, before, env


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Mixed:
    tmp = tmp_path_factory.mktemp("importability")
    backend = write_tree(tmp / "backend", MIXED)
    before = tree_digest(backend)
    dump = tmp / "env.json"
    with pytest.MonkeyPatch.context() as mp:
        for name, value in SECRETS.items():
            mp.setenv(name, value)
        report = check_importability(backend, CHECKED, python=PYTHON,
                                     env={"APP_ENV": "conformance", "DUMP_TO": str(dump)}, timeout=60)
    return Mixed(backend, report, before, json.loads(dump.read_text()))


def failure(path: str, error: str, missing: str | None = None, origin: str | None = None) -> ImportFailure:
    return ImportFailure(path, module_name(path), error, missing, origin)


def test_every_module_gets_its_exact_result(mixed: Mixed):
    assert mixed.report.error is None
    assert mixed.report.checked == CHECKED
    assert mixed.report.failures == {
        "api/boom.py": failure("api/boom.py", "RuntimeError: boom", origin="api/boom.py:1"),
        "api/payments.py": failure("api/payments.py",
                                   "ModuleNotFoundError: No module named 'stripe_not_installed_xyz'",
                                   "stripe_not_installed_xyz", origin="api/payments.py:1"),
        "api/legacy.py": failure("api/legacy.py", "ModuleNotFoundError: No module named 'database.gone'",
                                 origin="api/legacy.py:1"),
        "api/broken.py": failure("api/broken.py", "SyntaxError: invalid syntax", origin="api/broken.py:1"),
        "api/quits.py": failure("api/quits.py", "SystemExit: 3", origin="api/quits.py:2"),
        "api/vanishes.py": failure("api/vanishes.py", "the interpreter exited with code 0 while importing "
                                   "this module (os._exit() or a crash at import)"),
    }


def test_clean_modules_pass(mixed: Mixed):
    assert set(mixed.report.passed) >= {
        "main.py", "api/__init__.py", "api/routes.py", "services/ai.py", "database/models.py",
        "scripts/util.py", "tools/util.py", "api/loud.py", "api/test_routes.py",
    }


def test_the_backend_tree_stays_byte_identical(mixed: Mixed):
    assert tree_digest(mixed.backend) == mixed.before
    assert not list(mixed.backend.rglob("__pycache__"))


def test_the_child_sees_only_the_allowlist_and_the_spec_env(mixed: Mixed):
    env = mixed.env
    assert not (set(SECRETS) - {"PYTHONPATH"}) & set(env)
    assert env["APP_ENV"] == "conformance"
    assert env["PYTHONPATH"] == os.pathsep.join([str(GUARD_DIR), str(mixed.backend.resolve())])  # the guard first
    assert json.loads(env[GUARD_ENV])["dirs"][0] == str(mixed.backend.resolve())
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] == "1"


def test_child_env_allowlist(monkeypatch: pytest.MonkeyPatch):
    for name, value in {**SECRETS, "LC_ALL": "C.UTF-8", "HOME": "/home/x", "REDIS_URL": "redis://"}.items():
        monkeypatch.setenv(name, value)
    env = child_env({"PYTHONDONTWRITEBYTECODE": "", "PYTHONPATH": "/spec", "APP": "1"}, python_path=[Path("/b")])
    assert {k: env[k] for k in ("LC_ALL", "HOME", "APP")} == {"LC_ALL": "C.UTF-8", "HOME": "/home/x", "APP": "1"}
    dropped = {"DATABASE_URL", "SECRET_TOKEN", "AWS_SECRET_ACCESS_KEY", "VIRTUAL_ENV", "GIT_DIR", "REDIS_URL"}
    assert not dropped & set(env)
    assert env["PYTHONPATH"] == os.pathsep.join(["/b", "/spec"])
    assert (env["PYTHONDONTWRITEBYTECODE"], env["PYTHONNOUSERSITE"]) == ("1", "1")


@pytest.mark.parametrize(("path", "name"), [
    ("api/chat.py", "api.chat"), ("main.py", "main"), ("api/__init__.py", "api"), ("a/b/c.py", "a.b.c"),
])
def test_module_name(path: str, name: str):
    assert module_name(path) == name


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in a process group, read from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


def test_a_hanging_module_times_out_and_leaves_no_process(tmp_path: Path):
    hang = """\
        import os, subprocess, time
        subprocess.Popen(["sleep", "60"])
        with open(os.environ["PGID_FILE"], "w") as f:
            f.write(str(os.getpgid(0)))
        time.sleep(60)
    """
    backend = write_tree(tmp_path / "backend", {"api/__init__.py": "", "api/hang.py": textwrap.dedent(hang)})
    pgid_file = tmp_path / "pgid"
    report = check_importability(backend, ["api/__init__.py", "api/hang.py"], python=PYTHON,
                                 env={"PGID_FILE": str(pgid_file)}, timeout=5)
    assert report.error is not None
    assert report.error.startswith("timeout:") and "within 5s" in report.error and "api/hang.py" in report.error
    assert list(report.failures) == ["api/hang.py"]
    assert group_members(int(pgid_file.read_text())) == []


def test_a_missing_interpreter_is_reported(tmp_path: Path):
    backend = write_tree(tmp_path / "backend", {"main.py": ""})
    missing = tmp_path / "venv" / "bin" / "python"
    report = check_importability(backend, ["main.py"], python=str(missing), env=None)
    assert report.error == f"backend interpreter {missing} does not exist (create the backend's venv first)"
    assert (report.failures, report.checked) == ({}, [])


def wrapper(path: Path, body: str) -> str:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return str(path)


def test_an_interpreter_without_pytest_says_what_to_install(tmp_path: Path):
    backend = write_tree(tmp_path / "backend", {"main.py": ""})
    python = wrapper(tmp_path / "python", f'exec "{PYTHON}" -S "$@"')  # -S: no site-packages
    report = check_importability(backend, ["main.py"], python=python, env=None)
    assert report.error == (f"backend interpreter {python} has no pytest, which the importability check "
                            f"runs in it: run `{python} -m pip install pytest pytest-import-check`")


def test_an_interpreter_without_the_plugin_says_what_to_install(tmp_path: Path):
    backend = write_tree(tmp_path / "backend", {"main.py": ""})
    write_tree(tmp_path / "blocker", {"pytest_import_check.py": "raise ModuleNotFoundError(\"No module named "
                                      "'pytest_import_check'\", name='pytest_import_check')\n"})
    python = wrapper(tmp_path / "python", f'export PYTHONPATH="{tmp_path / "blocker"}"\nexec "{PYTHON}" "$@"')
    report = check_importability(backend, ["main.py"], python=python, env=None)
    assert report.error == (f"backend interpreter {python} has no pytest-import-check, which the importability "
                            f"check runs in it: run `{python} -m pip install pytest-import-check`")


def test_no_files_means_no_child(tmp_path: Path):
    report = check_importability(tmp_path, ["gone.py"], python="/nonexistent/python", env=None)
    assert report == ImportabilityReport()


def test_collection_targets_are_the_fewest_pure_directories():
    """pytest is quadratic in file arguments; whole directories are passed where possible."""
    from conformance.checks.imports.importability_run import collection_targets

    wanted = ["api/__init__.py", "api/a.py", "main.py", "services/__init__.py", "services/x/__init__.py",
              "services/x/y.py"]
    on_disk = {*wanted, "services/tests/test_a.py", "scripts/s.py"}
    assert collection_targets(wanted, on_disk) == ["api", "main.py", "services/__init__.py", "services/x"]
    assert collection_targets(["a/b.py"], {"a/b.py", "a/c.py"}) == ["a/b.py"]


# -- pathological trees: bounded time, one finding per module -----------------------------------

def chain(depth: int) -> str:
    return "/".join(f"n{i}" for i in range(depth))


SMALL = {"api/__init__.py": "", "api/a.py": "A = 1\n", "api/b.py": "from api.a import A\n", "main.py": "import api.b\n"}


def timed_check(backend: Path, **kwargs: float) -> tuple[ImportabilityReport, float]:
    import time

    files = sorted(str(p.relative_to(backend)) for p in backend.rglob("*.py"))
    started = time.monotonic()
    report = check_importability(backend, files, python=PYTHON, env=None, **kwargs)
    return report, time.monotonic() - started


def test_a_hanging_module_is_reported_alone_and_the_others_are_checked(tmp_path: Path):
    """The watchdog stops a module that hangs, even one that swallows every exception; the child
    runs again without it, so the module after it is still imported (and its failure found)."""
    hang = "import time\nwhile True:\n    try:\n        time.sleep(1)\n    except BaseException:\n        pass\n"
    backend = write_tree(tmp_path / "backend", {**SMALL, "api/hang.py": hang, "api/later.py": "raise ValueError('x')\n"})
    report, seconds = timed_check(backend, timeout=60, module_timeout=2)
    assert report.error is None
    assert report.checked == ["api/__init__.py", "api/a.py", "api/b.py", "api/hang.py", "api/later.py", "main.py"]
    assert report.failures == {
        "api/hang.py": ImportFailure("api/hang.py", "api.hang", "did not finish importing within 2s and was stopped "
                                     "(it blocks at import: a network call, a sleep, input(), an endless loop?); "
                                     "the other modules were imported without it", kind="timeout"),
        "api/later.py": failure("api/later.py", "ValueError: x", origin="api/later.py:1"),
    }
    assert seconds < 30


def test_modules_that_end_the_run_are_reported_alone_and_the_others_are_checked(tmp_path: Path):
    """A module that raises KeyboardInterrupt or calls pytest.exit() at import ends the child's
    session; one that crashes the interpreter (SIGSEGV) kills it before anything is written. Each
    is one failure saying so, and the child runs again without it, so the modules after it are
    still imported (and their failures found)."""
    backend = write_tree(tmp_path / "backend", {
        **SMALL,
        "api/ctrl_c.py": "raise KeyboardInterrupt\n",
        "api/exits.py": "import pytest\npytest.exit('leaving', returncode=4)\n",
        "api/segfault.py": "import ctypes\nctypes.string_at(0)\n",
        "api/later.py": "raise ValueError('x')\n",
    })
    report, _ = timed_check(backend, timeout=120)
    assert report.error is None
    assert report.checked == ["api/__init__.py", "api/a.py", "api/b.py", "api/ctrl_c.py", "api/exits.py",
                              "api/later.py", "api/segfault.py", "main.py"]
    stopped = ("the import stopped the whole pytest run (KeyboardInterrupt, or pytest.exit() at import); the other "
               "modules were imported without it")
    assert report.failures == {
        "api/ctrl_c.py": failure("api/ctrl_c.py", stopped),
        "api/exits.py": failure("api/exits.py", stopped),
        "api/segfault.py": failure("api/segfault.py", "the interpreter was killed by SIGSEGV while importing this "
                                   "module (os._exit() or a crash at import)"),
        "api/later.py": failure("api/later.py", "ValueError: x", origin="api/later.py:1"),
    }


def test_a_deep_namespace_chain_is_one_failure_without_importing_it(tmp_path: Path):
    """120 nested directories without __init__.py: CPython would need ~2**120 steps to import the
    leaf, so it is reported as too deep instead of stalling the child; the rest is checked."""
    leaf = f"deep/{chain(120)}/leaf.py"
    baseline, base_seconds = timed_check(write_tree(tmp_path / "base", SMALL), timeout=60)
    backend = write_tree(tmp_path / "backend", {**SMALL, leaf: "VALUE = 1\n"})
    report, seconds = timed_check(backend, timeout=60)
    assert report.error is None and baseline.failures == {}
    assert report.checked == sorted([*SMALL, leaf])
    assert report.failures == {leaf: ImportFailure(
        leaf, module_name(leaf), "is not imported: it lies under 121 nested directories without __init__.py, from "
        "deep/ down; Python recomputes a namespace package's path from its parents' twice per level, so this "
        "import needs about 2**121 steps and never finishes", kind="namespace")}
    assert seconds < 2 * base_seconds + 2, (seconds, base_seconds)


def test_a_namespace_chain_within_the_limit_is_imported(tmp_path: Path):
    leaf = f"deep/{chain(5)}/leaf.py"
    backend = write_tree(tmp_path / "backend", {**SMALL, leaf: "VALUE = 1\n"})
    report, _ = timed_check(backend, timeout=60)
    assert report.failures == {} and leaf in report.checked


def test_namespace_depth_counts_the_longest_run_without_init():
    from conformance.checks.imports.importability_run import namespace_depth

    on_disk = {"a/__init__.py", "a/b/c/d/x.py", "e/f/__init__.py", "e/f/g/y.py"}
    assert namespace_depth("a/b/c/d/x.py", on_disk) == (3, "a/b")
    assert namespace_depth("e/f/g/y.py", on_disk) == (1, "e")  # e/ and e/f/g/ are runs of one
    assert namespace_depth("main.py", on_disk) == (0, "")


def test_a_2_mb_module_is_imported_in_bounded_time(tmp_path: Path):
    """Generated code of 2 MB (a long table of constants) imports and passes; the check costs
    less than twice a run without it, plus the compile time of 2 MB (a few seconds at most)."""
    table = "".join(f'ENTRY_{n:06d} = "{"x" * 60}"\n' for n in range(26_000))
    assert len(table) > 2_000_000
    _, base_seconds = timed_check(write_tree(tmp_path / "base", SMALL), timeout=60)
    backend = write_tree(tmp_path / "backend", {**SMALL, "api/table.py": table})
    report, seconds = timed_check(backend, timeout=60)
    assert report.error is None and report.failures == {} and "api/table.py" in report.checked
    assert seconds < 2 * base_seconds + 3, (seconds, base_seconds)
