"""test_importable's child: every production module imported in a child pytest (the only
part of the importability check that starts processes; importability_child.py is the child's
own program and reads what it wrote, importability_verdicts.py judges it).

The imports run in ONE child pytest under the backend's own interpreter, with the PyPI plugin
pytest-import-check (GPL-2.0-or-later; called as a program, none of its code is copied here).
A child, because importing the backend executes its code: it must see the backend's
interpreter and dependencies, not ours, and must not touch the suite's process state.

How the child is isolated from the backend's own test setup:
  * `-c <empty pytest.ini in a temp dir>` so the backend's pytest.ini / pyproject / setup.cfg
    (addopts, filterwarnings=error, pythonpath, plugins) are ignored; `--rootdir <backend>` so
    node ids stay backend-relative; `--noconftest` so no conftest.py runs (the empty ini's dir
    would also become confcutdir, but that is an accident to not rely on);
  * PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 and `-p pytest_import_check.plugin`: plugins installed in
    the backend's venv (pytest-django, pytest-env, pytest-cov, ...) do not load;
  * `-p no:logging -p no:warnings`: per item they install log handlers and warning filters
    whose records nobody reads (a warning is not an import failure); they were two thirds of
    the child's time on 5,000 modules (14.7 s -> 8.0 s). faulthandler, skipping, stepwise and
    doctest are off too: no item has marks, and a hard crash is found from the exit status and
    the results file (a SIGSEGV at import is reported as such, without faulthandler's dump);
    junitxml and the other plugins that hook every item without a use here are off too
    (QUIET_PLUGINS), and `-q`: the child's own plugin writes the results (importability_child.py);
  * `-p no:python` (test_*.py are imported as modules, not run as tests), `-p no:cacheprovider`
    (no .pytest_cache), `--assert=plain` (no assertion rewriting), `python -B` plus
    PYTHONDONTWRITEBYTECODE=1 (no __pycache__): the backend tree stays byte-identical;
  * the results file and the ini live in a TemporaryDirectory outside the backend;
  * the module's own output is captured by pytest and never echoed (`--show-capture=no`), so a
    module printing megabytes costs nothing.

What pytest-import-check 0.0.4 does, found by trying it:
  * It imports in pytest's "prepend" mode. A file whose directory has no __init__.py is by
    default imported under its BASENAME with its directory put first on sys.path: two such
    files with one name (scripts/util.py, tools/util.py) clash, the second failing with
    ImportPathMismatchError, and a relative import inside a namespace package fails with
    "attempted relative import with no known parent package". We therefore pass
    `-o consider_namespace_packages=true` (pytest >= 8.1, which the plugin requires anyway):
    with the backend root on PYTHONPATH both files import as scripts.util / tools.util, the
    names production code uses, and namespace-relative imports work.
  * ImportPathMismatchError still appears when the name really resolves elsewhere: database.py
    beside database/ (the package wins), or a root module shadowing a module pytest already
    imported (logging.py, types.py). Those are real defects; the message says where it went.
  * sys.exit() at import is a normal failure ("SystemExit: 3"). os._exit() or a hard crash
    kills the child before the session finishes (os._exit(0) even exits with code 0): the
    results file names the module whose import started without an outcome; it is recorded as a
    failure and the child runs again without it.
  * All modules import in one interpreter, in the order given: a module that only imports
    because an earlier one patched something passes here.

Pathological trees, in bounded time:
  * A module that hangs at import (a sleep, a network call, an endless loop) is stopped by a
    watchdog thread in the child after `module_timeout` seconds: the child records it and
    exits with WATCHDOG_EXIT, and the module is reported alone ("did not finish importing
    within Ns") while the child is run again without it, as for a crash. The overall `timeout`
    stays the bound for everything (a C call that holds the GIL is only stopped by that).
  * Importing a module under N nested namespace directories (no __init__.py) costs about 2**N
    steps in CPython (3.11 to 3.13 measured): `_NamespacePath._recalculate` takes `tuple()` of
    the parent's path, which iterates AND measures it, each recalculating the grandparent, so
    the work doubles per level (18 levels: 1.4 s, 22 levels: 21 s, 120: never). Such a file is
    not imported at all: it is reported as too deep (MAX_NAMESPACE_DEPTH), without a child.
  * Collection gets the fewest directory targets (collection_targets), so thousands of modules
    in one folder are one argument, not thousands.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from conformance.checks.imports.importability_child import CHILD, WATCHDOG_EXIT, ChildResults, read_results
from conformance.checks.imports.importability_report import (
    MISSING_MODULE, ImportabilityReport, ImportFailure, describe_exit, import_failure, tail)
from conformance.model.spec import NetworkSpec
from conformance.proc.childenv import child_env
from conformance.proc.dbguard import Guard, scratch_dirs
from conformance.proc.processes import Completed, ProcessTimeout, run

PLUGIN = "pytest-import-check"
PROBE_TIMEOUT = 30.0
MAX_RESTARTS = 5  # child crashes (os._exit at import) tolerated before giving up
MODULE_TIMEOUT = 30.0  # seconds one module may take to import before the watchdog stops the child
MAX_NAMESPACE_DEPTH = 16  # nested namespace directories above a module before importing it is hopeless

PROBE = "import pytest, pytest_import_check"

# pytest's plugins that hook every item yet have nothing to do for an import: thread and
# unraisable exception hooks (their end-of-session gc.collect passes alone cost a tenth of a
# second), unittest's report hook, fixtures no item asks for. About a tenth of the child's time
# on 1,000 modules. legacypath stays: the plugin's items read `fspath`.
QUIET_PLUGINS = [arg for name in ("unraisableexception", "threadexception", "unittest", "pastebin", "tmpdir",
                                  "monkeypatch", "recwarn", "setuponly", "setupplan", "subtests")
                 for arg in ("-p", f"no:{name}")]


def check_importability(
    backend: Path,
    files: Sequence[str],
    *,
    python: str,
    env: Mapping[str, str] | None,
    timeout: float = 120.0,
    module_timeout: float = MODULE_TIMEOUT,
    network: NetworkSpec = NetworkSpec(),
) -> ImportabilityReport:
    """Import every file (backend-relative POSIX paths) in a child pytest under `python`.

    `env` is the spec's test environment, added to the allowlisted one. Files that do not exist
    are left out (not in `checked`). `timeout` bounds the whole check, `module_timeout` one
    module's import (a module over it is reported alone and the rest still imported). Never
    raises for a broken backend or interpreter: the report's `error` says what went wrong.
    """
    backend = Path(backend).resolve()
    wanted = [f for f in dict.fromkeys(_posix(f) for f in files) if (backend / f).is_file()]
    if not wanted:
        return ImportabilityReport()
    interpreter, problem = _find_interpreter(python)
    if problem:
        return ImportabilityReport(error=problem)
    with tempfile.TemporaryDirectory(prefix="conformance-import-check-") as tmp:
        report = _Run(backend, interpreter, Path(tmp), _pytest_env(env, backend, Path(tmp), network), timeout,
                      module_timeout).check(wanted)
        if report.error and not report.checked:
            # The child never got going: when the interpreter is the reason, say that (and what to
            # install). Probed only then: a probe before every run costs a second interpreter start.
            problem = _probe(interpreter, Path(tmp), env)
            if problem:
                return ImportabilityReport(error=problem)
        return report


# -- the interpreter ----------------------------------------------------------------------------


def collection_targets(wanted: Sequence[str], on_disk: set[str]) -> list[str]:
    """The fewest paths (directories where every .py below is wanted, else single files) that
    make pytest collect exactly `wanted`. pytest handles thousands of file arguments in
    quadratic time (30 s of collection for 5,000 files here); a few directories are linear."""
    wanted_set = set(wanted)
    impure: set[str] = set()  # directories holding a .py file that must not be imported
    for path in on_disk - wanted_set:
        parent = posixpath.dirname(path)
        while parent:
            impure.add(parent)
            parent = posixpath.dirname(parent)
    targets: set[str] = set()
    for path in wanted:
        top = path
        parent = posixpath.dirname(path)
        while parent and parent not in impure:
            top, parent = parent, posixpath.dirname(parent)
        targets.add(top)
    return sorted(targets)


def namespace_depth(rel: str, on_disk: set[str]) -> tuple[int, str]:
    """The longest run of nested directories without __init__.py above `rel`, and the top one of
    that run: importing the module costs about 2**depth steps (see the module docstring)."""
    best, top, run, start = 0, "", 0, ""
    parts = PurePosixPath(rel).parts[:-1]
    for index in range(len(parts)):
        directory = "/".join(parts[: index + 1])
        if f"{directory}/__init__.py" in on_disk:
            run = 0
            continue
        run, start = run + 1, start if run else directory
        if run > best:
            best, top = run, start
    return best, top


def _python_files_on_disk(backend: Path) -> set[str]:
    found = set()
    for current, dirnames, filenames in os.walk(backend):
        dirnames[:] = [d for d in dirnames if d not in ("node_modules", "__pycache__") and not d.startswith(".")]
        rel = Path(current).relative_to(backend).as_posix()
        for name in filenames:
            if name.endswith(".py"):
                found.add(name if rel == "." else f"{rel}/{name}")
    return found


def _posix(path: str) -> str:
    return PurePosixPath(str(path).replace(os.sep, "/")).as_posix()


def _find_interpreter(python: str) -> tuple[str, str | None]:
    """An absolute interpreter path, or why there is none. Symlinks are kept: a venv's
    python is a symlink whose target would lose the venv."""
    if os.sep not in python and "/" not in python:
        found = shutil.which(python, path=child_env().get("PATH", os.defpath))
        if found is None:
            return python, f"backend interpreter {python!r} is not found on PATH"
        return found, None
    path = Path(python).absolute()
    if not path.exists():
        return str(path), f"backend interpreter {path} does not exist (create the backend's venv first)"
    if path.is_dir() or not os.access(path, os.X_OK):
        return str(path), f"backend interpreter {path} is not an executable file"
    return str(path), None


def _probe(python: str, tmp: Path, env: Mapping[str, str] | None) -> str | None:
    """Why `python` cannot run the check (not startable, pytest or the plugin missing), or None."""
    try:
        done = run([python, "-B", "-c", PROBE], cwd=tmp, env=child_env(env), timeout=PROBE_TIMEOUT)
    except ProcessTimeout:
        return f"backend interpreter {python} did not answer within {PROBE_TIMEOUT:g}s (`{python} -c '{PROBE}'`)"
    except OSError as exc:
        return f"backend interpreter {python} cannot start: {exc.strerror or exc}"
    if done.returncode == 0:
        return None
    missing = MISSING_MODULE.search(done.error_text)
    name = missing.group(1).split(".")[0] if missing else ""
    if name in ("pytest", "pytest_import_check"):
        packages = PLUGIN if name == "pytest_import_check" else f"pytest {PLUGIN}"
        return (f"backend interpreter {python} has no {name.replace('_', '-')}, which the importability "
                f"check runs in it: run `{python} -m pip install {packages}`")
    return f"backend interpreter {python} failed to import pytest ({describe_exit(done.returncode)}): " \
           f"{tail(done.error_text or done.text)}"


def _pytest_env(env: Mapping[str, str] | None, backend: Path, tmp: Path, network: NetworkSpec) -> dict[str, str]:
    """The child pytest's environment: allowlisted, the backend importable, no stray plugins, and
    the database guard (a module that connects at import time reaches only its DATABASE_URL or
    SQLite files in the sandbox or `tmp`; the refusal is its import error, with the place)."""
    guard = Guard((env or {}).get("DATABASE_URL") or None, scratch_dirs(backend, tmp), backend, tmp / "dbguard.jsonl",
                  network)
    result = child_env(env, python_path=[backend], guard=guard)
    for name in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS"):
        result.pop(name, None)
    result["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return result


# -- the child pytest ---------------------------------------------------------------------------


@dataclass
class _Attempt:
    report: ImportabilityReport
    crashed: str | None = None  # the file whose import ended the child: retry without it
    returncode: int = 0
    # how: "crash" (the interpreter died), "hung" (the watchdog stopped it: the import did not finish
    # in time), "stopped" (the import ended the pytest session: KeyboardInterrupt, pytest.exit())
    how: str = "crash"


class _Run:
    """One check: the child pytest, restarted without a module that kills the interpreter."""

    def __init__(self, backend: Path, python: str, tmp: Path, env: dict[str, str], timeout: float,
                 module_timeout: float = MODULE_TIMEOUT):
        self.backend, self.python, self.tmp, self.env, self.timeout = backend, python, tmp, env, timeout
        self.module_timeout = module_timeout
        self.deadline = time.monotonic() + timeout
        self.on_disk = _python_files_on_disk(backend)
        ini = tmp / "pytest.ini"
        ini.write_text("")
        self.ini = ini

    def check(self, files: list[str]) -> ImportabilityReport:
        crashed: dict[str, ImportFailure] = self.too_deep(files)
        pending = [f for f in files if f not in crashed]
        attempt = _Attempt(ImportabilityReport())
        for number in range(MAX_RESTARTS + 1):
            if not pending:
                attempt = _Attempt(ImportabilityReport())
                break
            attempt = self.attempt(pending, number)
            if attempt.crashed not in pending:  # no crash, or not one we can retry without
                break
            if attempt.how == "hung":
                crashed[attempt.crashed] = import_failure(self.backend, 
                    attempt.crashed, f"did not finish importing within {self.module_timeout:g}s and was stopped "
                    "(it blocks at import: a network call, a sleep, input(), an endless loop?); the other "
                    "modules were imported without it", kind="timeout")
            elif attempt.how == "stopped":
                crashed[attempt.crashed] = import_failure(self.backend, 
                    attempt.crashed, "the import stopped the whole pytest run (KeyboardInterrupt, or pytest.exit() "
                    "at import); the other modules were imported without it")
            else:
                crashed[attempt.crashed] = import_failure(self.backend, 
                    attempt.crashed, f"the interpreter {describe_exit(attempt.returncode)} while importing "
                    "this module (os._exit() or a crash at import)")
            pending.remove(attempt.crashed)
        else:
            if pending:
                attempt.report.error = f"{attempt.report.error}; gave up after {MAX_RESTARTS} restarts"
            else:
                attempt = _Attempt(ImportabilityReport())
        report = attempt.report
        report.failures.update(crashed)
        done = set(report.checked) | set(crashed)
        report.checked = [f for f in files if f in done]
        return report

    def too_deep(self, files: list[str]) -> dict[str, ImportFailure]:
        """Files under more than MAX_NAMESPACE_DEPTH nested namespace directories: not imported
        (it would take 2**depth steps), each reported with the directory where the chain starts."""
        found = {}
        for rel in files:
            depth, top = namespace_depth(rel, self.on_disk)
            if depth > MAX_NAMESPACE_DEPTH:
                found[rel] = import_failure(self.backend, 
                    rel, f"is not imported: it lies under {depth} nested directories without __init__.py, from "
                    f"{top}/ down; Python recomputes a namespace package's path from its parents' twice per "
                    f"level, so this import needs about 2**{depth} steps and never finishes",
                    kind="namespace")
        return found

    def argv(self, files: list[str], results: Path) -> list[str]:
        targets = collection_targets(files, self.on_disk)
        return [
            self.python, "-B", "-c", CHILD, str(self.module_timeout), str(results),
            "-p", "pytest_import_check.plugin", "-p", "no:python", "-p", "no:cacheprovider",
            "-p", "no:logging", "-p", "no:warnings", "-p", "no:faulthandler", "-p", "no:skipping",
            "-p", "no:stepwise", "-p", "no:doctest", "-p", "no:junitxml", *QUIET_PLUGINS,
            "--import-check", "--import-mode=prepend", "-o", "consider_namespace_packages=true",
            "-c", str(self.ini), "--rootdir", str(self.backend), "--noconftest", "--assert=plain",
            "-q", "--tb=short", "-rN", "--show-capture=no", "--color=no", "--code-highlight=no",
            "-o", "norecursedirs=node_modules .* __pycache__",
            "--", *targets,
        ]

    def attempt(self, files: list[str], number: int) -> _Attempt:
        results = self.tmp / f"results-{number}.jsonl"
        left = self.deadline - time.monotonic()
        if left <= 0:
            return _Attempt(ImportabilityReport(error=self.timeout_message(None)))
        try:
            done = run(self.argv(files, results), cwd=self.backend, env=self.env, timeout=left)
        except ProcessTimeout as exc:
            return self.timed_out(read_results(self.backend, results))
        except OSError as exc:
            return _Attempt(ImportabilityReport(error=f"backend interpreter {self.python} cannot start: {exc}"))
        return self.finished(read_results(self.backend, results), done)

    def finished(self, child: ChildResults, done: Completed) -> _Attempt:
        report, running = child.report, child.running
        if report is not None and done.returncode in (0, 1, 5):
            return _Attempt(report)
        output = done.text + "\n" + done.error_text
        if done.returncode == WATCHDOG_EXIT and child.stopped is not None:
            error = f"the import of {child.stopped} did not finish within {self.module_timeout:g}s"
            return _Attempt(ImportabilityReport(error=error), crashed=child.stopped, returncode=done.returncode,
                            how="hung")
        if running is not None:  # an import started and never returned an outcome
            error = f"the child pytest {describe_exit(done.returncode)} while importing {running}"
            return _Attempt(ImportabilityReport(error=error), crashed=running, returncode=done.returncode,
                            how="crash" if report is None else "stopped")
        report = report or ImportabilityReport()
        report.error = f"the child pytest {describe_exit(done.returncode)}: {tail(output)}"
        return _Attempt(report)

    def timed_out(self, child: ChildResults) -> _Attempt:
        if child.report is not None:  # all imports done; the interpreter did not exit
            child.report.error = (f"timeout: the child pytest finished importing but did not exit within "
                                  f"{self.timeout:g}s (a module left a non-daemon thread or a child process running)")
            return _Attempt(child.report)
        running = child.running
        report = ImportabilityReport(error=self.timeout_message(running))
        if running is not None:
            report.failures[running] = import_failure(self.backend, 
                running, f"the import did not finish within {self.timeout:g}s (it blocks at import: "
                "a network call, a sleep, input()?)")
            report.checked.append(running)
        return _Attempt(report)

    def timeout_message(self, running: str | None) -> str:
        where = f"; it was killed while importing {running}" if running else ""
        return f"timeout: importing the backend's modules did not finish within {self.timeout:g}s{where}"
