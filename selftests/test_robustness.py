"""Hostile inputs: every one ends in a clear finding, skip or usage error, never an internal error.

One case per hostile input. Each run of the suite is checked twice: the outcome and message
expected for that input, and `assert_no_internal_error` (no traceback, no `E   ` exception
lines, no INTERNALERROR) for everything else the run printed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from selftests.builder import Repo, conforming_backend, make_repo
from selftests.test_import_checks import BASE
from selftests.trees import PROJECT

STRUCTURE = str(PROJECT / "tests" / "structure")
PARSE = "test_python_files_parse"


def assert_no_internal_error(run) -> None:
    assert "Traceback" not in run.output, run.output
    assert "INTERNALERROR" not in run.output, run.output
    exception_lines = [line for line in run.output.splitlines() if re.match(r"E {3}", line)]
    assert not exception_lines, run.output


def both_parts(run_suite, backend: Path, *extra: str):
    """Structure and imports in one in-process run."""
    run = run_suite(backend, STRUCTURE, *extra, part="imports")
    assert_no_internal_error(run)
    return run


@pytest.fixture
def files(spec) -> dict[str, str | bytes]:
    """A tree that passes every structure and import check."""
    return {**conforming_backend(spec), **BASE}


def build(root: Path, files: dict[str, str | bytes], git: bool, links: dict[str, str] | None = None) -> Path:
    """Write the tree (and symlinks: path -> target), commit it when `git`; return the backend."""
    repo = make_repo(root, files, git=git)
    for path, target in (links or {}).items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, root / path)
    if git and links:
        repo.commit("symlinks")
    return root / "backend"


GIT_MODES = [pytest.param(True, id="git"), pytest.param(False, id="walk")]


# -- file contents --------------------------------------------------------------------------


@dataclass
class Content:
    files: dict[str, str | bytes]
    failed: set[str] = field(default_factory=set)
    fragment: str = ""


CONTENTS = {
    "syntax error": Content({"backend/services/broken.py": "def broken(:\n    pass\n"}, {PARSE},
                            "backend/services/broken.py:1 has a syntax error"),
    "invalid UTF-8": Content({"backend/utils/latin.py": b"# caf\xe9\nname = 'x'\n"}, {PARSE},
                             "backend/utils/latin.py:1 is not valid UTF-8 (byte 0xe9)"),
    "UTF-8 BOM": Content({"backend/utils/bom.py": b"\xef\xbb\xbfname = 'caf\xc3\xa9'\n"}),
    "NUL bytes": Content({"backend/utils/nul.py": b"x = 1\ny = 2\x00\n"}, {PARSE},
                         "backend/utils/nul.py:2 contains NUL bytes"),
    "latin-1 coding cookie": Content(
        {"backend/utils/legacy.py": b"# -*- coding: latin-1 -*-\nname = 'caf\xe9'\n"}),
}


@pytest.mark.parametrize("case", CONTENTS.values(), ids=CONTENTS.keys())
def test_hostile_file_content(case: Content, tmp_path, files, run_suite):
    backend = build(tmp_path / "repo", {**files, **case.files}, git=True)
    run = both_parts(run_suite, backend)
    assert run.failed == case.failed, run.output
    for name in case.failed:
        assert case.fragment in run.messages[name], run.messages[name]


@pytest.mark.parametrize("readme", [b"# Backend\n\xff\xfe caf\xe9 \x00 `api/`\n", b"\x00" * 64],
                         ids=["invalid UTF-8", "NUL bytes"])
def test_readme_with_hostile_bytes_is_read_without_error(readme, tmp_path, files, run_suite):
    backend = build(tmp_path / "repo", {**files, "backend/README.md": readme}, git=True)
    run = run_suite(backend, "-k", "readme", part="startup")
    assert_no_internal_error(run)
    assert run.failed == {"test_readme_documents_every_directory"}, run.output
    assert "backend/README.md does not mention services/ (Business logic)" in \
        run.messages["test_readme_documents_every_directory"]


# -- symlinks -------------------------------------------------------------------------------

# Content that would raise findings if the suite read it: a syntax error, an undeclared
# dependency, a layer violation (database importing api).
OUTSIDE_CODE = "import api.routes\nimport undeclared_package_xyz\ndef broken(:\n"


@pytest.fixture
def outside(tmp_path) -> Path:
    """Files outside the backend (and outside its repository)."""
    root = tmp_path / "outside"
    (root / "pkg").mkdir(parents=True)
    (root / "secret.py").write_text(OUTSIDE_CODE)
    (root / "pkg" / "mod.py").write_text(OUTSIDE_CODE)
    (root / "README.md").write_text("# not the backend's\n")
    return root


@pytest.mark.parametrize("git", GIT_MODES)
def test_symlink_loops_are_a_parse_finding(git, tmp_path, files, run_suite):
    links = {"backend/utils/a.py": "b.py", "backend/utils/b.py": "a.py", "backend/services/up": ".."}
    backend = build(tmp_path / "repo", files, git, links)
    run = both_parts(run_suite, backend)
    assert run.failed == {PARSE}, run.output
    prefix = "backend/" if git else ""
    remove = "git rm" if git else "rm"
    message = run.messages[PARSE]
    assert f"{prefix}utils/a.py is a symlink loop that cannot be read (Too many levels of symbolic links)" in message
    assert f"fix:  point the link at a file that exists, or remove it: {remove} {prefix}utils/b.py" in message


@pytest.mark.parametrize("git", GIT_MODES)
def test_symlinks_out_of_the_backend_are_never_followed(git, tmp_path, files, outside, run_suite):
    """Decision (see repo.py): a link out of the backend is listed, named in the header, and never
    read, copied or imported; the plan says nothing about symlinks, so it is not a finding."""
    links = {"backend/database/leak.py": str(outside / "secret.py"),
             "backend/services/leakdir": str(outside / "pkg"),
             "backend/utils/relative_leak.py": "../../../outside/secret.py"}
    backend = build(tmp_path / "repo", files, git, links)
    run = both_parts(run_suite, backend)
    assert run.failed == set(), run.output
    assert "3 symlink(s) point outside the backend; their names are checked, their targets are never read or " \
           "followed" in run.output
    assert f"database/leak.py -> {outside / 'secret.py'}" in run.output
    assert "undeclared_package_xyz" not in run.output and "broken" not in run.output


def test_readme_symlinked_out_of_the_backend_is_a_finding_not_read(tmp_path, files, outside, run_suite):
    files = {k: v for k, v in files.items() if k != "backend/README.md"}
    backend = build(tmp_path / "repo", files, True, {"backend/README.md": str(outside / "README.md")})
    run = run_suite(backend, "-k", "readme", part="startup")
    assert_no_internal_error(run)
    assert run.failed == {"test_readme_documents_every_directory"}, run.output
    assert f"backend/README.md is a symlink to {outside / 'README.md'}, outside the backend; the suite does not " \
           "follow links out of the backend" in run.messages["test_readme_documents_every_directory"]


def test_required_dir_symlinked_out_of_the_backend_is_not_looked_into(tmp_path, files, outside, run_suite):
    files = {k: v for k, v in files.items() if not k.startswith("backend/scripts/monitoring/")}
    backend = build(tmp_path / "repo", files, True, {"backend/scripts/monitoring": str(outside / "pkg")})
    run = run_suite(backend)
    assert_no_internal_error(run)
    assert run.failed == {"test_required_dir[scripts/monitoring]"}, run.output
    assert f"backend/scripts/monitoring/ is a symlink to {outside / 'pkg'}, outside the backend (not followed), " \
           "not a directory" in run.messages["test_required_dir[scripts/monitoring]"]


# -- names: spaces, accents, bytes that are not UTF-8; the printed fix commands run as printed -------


def fix_commands(message: str) -> list[str]:
    return [line.split("fix:", 1)[1].strip() for line in message.splitlines() if line.strip().startswith("fix:")]


def run_fix(root: Path, command: str) -> None:
    done = subprocess.run(["bash", "-c", command], cwd=root, capture_output=True, text=True, timeout=30,
                          env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"})
    assert done.returncode == 0, f"{command}\n{done.stderr}"


@pytest.mark.parametrize("git", GIT_MODES)
def test_names_with_spaces_and_accents_and_their_fixes_run(git, tmp_path, files, run_suite):
    files = {k: v for k, v in files.items() if k != "backend/scripts/admin/create_admin.py"}
    files.update({
        "backend/scripts/admin/créer admin.py": "print('admin')\n",
        "backend/services/mes données/create_admin.py": "print('moved')\n",
        "backend/services/mes données/rapport.py": "TITLE = 'été'\n",
        "backend/notes d'été.py": "print('root')\n",
    })
    root = tmp_path / "repo"
    backend = build(root, files, git)
    run = both_parts(run_suite, backend)
    expected = {"test_move[create_admin.py]", "test_root_files", "test_init_files"}
    assert run.failed == expected, run.output
    prefix = "backend/" if git else ""
    mover = "git mv" if git else "mv"
    move = fix_commands(run.messages["test_move[create_admin.py]"])[0]
    assert move == (f"{mover} '{prefix}services/mes données/create_admin.py' "
                    f"{prefix}scripts/admin/create_admin.py"), move
    root_fix = fix_commands(run.messages["test_root_files"])[0]
    assert root_fix.startswith(f"{mover} '{prefix}notes d'\"'\"'été.py' "), root_fix
    init_fix = fix_commands(run.messages["test_init_files"])[0]
    assert f"'{prefix}services/mes données' '{prefix}services/mes_données' && touch" in init_fix, init_fix
    for command in (move, root_fix, init_fix):
        run_fix(backend if not git else root, command)
    if git:
        Repo(root, git=False).git("commit", "-q", "-m", "apply the printed fixes")
    after = both_parts(run_suite, backend, "-k", "move or root_files or init_files")
    assert after.failed == set() and after.outcomes["test_init_files"] == "passed", after.output


def test_names_that_are_not_utf8(tmp_path, files, run_suite):
    root = tmp_path / "repo"
    repo = make_repo(root, files)
    (root / "backend").joinpath(os.fsdecode(b"caf\xe9.py")).write_text("x = 1\n")
    (root / "backend" / "services").joinpath(os.fsdecode(b"r\xe9sum\xe9.py")).write_text("x = 1\n")
    repo.commit("latin-1 file names")
    run = both_parts(run_suite, root / "backend")
    assert run.failed == {"test_root_files"}, run.output
    fix = fix_commands(run.messages["test_root_files"])[0]
    assert "$'backend/caf\\xe9.py'" in fix, fix
    run_fix(root, fix)
    repo.git("commit", "-q", "-m", "apply the printed fix")
    assert (root / "backend" / "scripts" / "maintenance").joinpath(os.fsdecode(b"caf\xe9.py")).is_file()
    after = both_parts(run_suite, root / "backend", "-k", "root_files or parse")
    assert after.failed == set() and after.outcomes["test_root_files"] == "passed", after.output


# -- empty, not git, no commits, shallow ----------------------------------------------------


@pytest.mark.parametrize("git", GIT_MODES)
def test_empty_backend_gives_readable_failures_and_reasons(git, tmp_path, run_suite):
    root = tmp_path / "repo"
    (root / "backend").mkdir(parents=True)
    if git:
        Repo(root).commit("nothing yet")
    run = both_parts(run_suite, root / "backend")
    prefix = "backend/" if git else ""
    assert f"{prefix}api/ is missing; the plan's target structure has /api/" in run.messages["test_required_dir[api]"]
    assert "no requirements.txt in the backend" in run.messages["test_dependencies_declared[missing]"]
    assert "nothing to check yet: root packages api, services," in run.messages["test_contract[layers]"]
    assert run.outcomes["test_contract[layers]"] == "skipped"  # test_required_dir[api] owns it
    structure = ("test_required_dir", "test_runtime", "test_move[")
    imports_failed = {name for name in run.failed if not name.startswith(structure)}
    assert imports_failed <= {f"test_contract[{c}]" for c in ("layers", "no-scripts-in-production",
                                                               "no-test-or-debug-code-in-production")}, run.output


def test_backend_outside_git_is_walked_and_says_so(tmp_path, files, run_suite):
    backend = build(tmp_path / "repo", files, git=False)
    run = both_parts(run_suite, backend)
    assert run.failed == set(), run.output
    assert f"conformance: {backend} is not in a git work tree: files come from a filesystem walk" in run.output
    assert "not a git repository: no history to check" in run.messages["test_move_history[create_admin.py]"]


def test_git_repository_without_commits(tmp_path, files, run_suite):
    root = tmp_path / "repo"
    repo = make_repo(root, files, git=False)
    repo.git_enabled = True
    repo.git("init", "-q", "-b", "main")
    repo.git("add", "-A")
    run = both_parts(run_suite, root / "backend")
    assert run.failed == set(), run.output
    assert f"files staged in {root}, a git repository without commits" in run.output
    assert "the repository has no commits yet: no history to check" in \
        run.messages["test_move_history[create_admin.py]"]


def test_shallow_clone_skips_history_only(tmp_path, files, run_suite):
    repo = make_repo(tmp_path / "origin", files)
    repo.write({"backend/services/extra.py": "X = 1\n"}).commit("second commit")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{repo.root}", str(clone)], check=True,
                   capture_output=True, timeout=60)
    run = both_parts(run_suite, clone / "backend")
    assert run.failed == set(), run.output
    assert "shallow clone: history checks skipped" in run.output
    history = {name for name in run.outcomes if name.startswith("test_move_history")}
    assert history and all(run.outcomes[name] == "skipped" for name in history)
    assert "shallow clone: history before the move is not available" in run.messages[min(history)]
    assert run.with_outcome("passed") >= {"test_imports_resolve[services]", "test_contract[layers]",
                                          "test_root_files"}


# -- files that cannot be read --------------------------------------------------------------


def _root_reads_anything() -> bool:
    """True for root with its usual capabilities (CAP_DAC_OVERRIDE): chmod 000 does not stop it."""
    if os.geteuid() != 0:
        return False
    import tempfile

    with tempfile.NamedTemporaryFile() as probe:
        os.chmod(probe.name, 0)
        try:
            Path(probe.name).read_bytes()
        except PermissionError:
            return False
    return True


@pytest.mark.skipif(_root_reads_anything(), reason="root reads files whatever their mode")
def test_unreadable_file_is_a_finding(tmp_path, files, run_suite):
    backend = build(tmp_path / "repo", {**files, "backend/services/locked.py": "X = 1\n"}, git=True)
    locked = backend / "services" / "locked.py"
    locked.chmod(0)
    try:
        run = both_parts(run_suite, backend)
    finally:
        locked.chmod(0o644)
    assert run.failed == {PARSE}, run.output
    assert "backend/services/locked.py cannot be read (Permission denied): Python cannot import it either" in \
        run.messages[PARSE]
    assert "fix:  chmod a+r backend/services/locked.py" in run.messages[PARSE]


def test_unreadable_file_simulated(tmp_path, files, run_suite, monkeypatch):
    """The same finding when running as root: reading the file raises as it would for a user."""
    backend = build(tmp_path / "repo", {**files, "backend/services/locked.py": "X = 1\n"}, git=True)
    real_read = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == "locked.py":
            raise PermissionError(13, "Permission denied", str(self))
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    run = run_suite(backend, "-k", "parse", part="imports")
    assert_no_internal_error(run)
    assert "backend/services/locked.py cannot be read (Permission denied)" in run.messages[PARSE]


# -- usage errors: spec, backend root, backend interpreter ------------------------------------


SPECS = {
    "typo'd key": ('workers = "workers"\nmax_root_file = 3\n',
                   '[top level] unknown key "max_root_file" (did you mean "max_root_files"?)'),
    "typo'd nested key": ('[dirs]\napi = { purpse = "x" }\n',
                          '[dirs.api] unknown key "purpse" (did you mean "purpose"?)'),
    "path escaping the backend": ('[[moves]]\nfiles = ["a.py"]\nto = "scripts/../../etc"\n',
                                  '[moves[0].to] "scripts/../../etc" escapes the backend root'),
    "path escaping the repository": ('workers = "//../workers"\n',
                                     '[workers] "//../workers" escapes the repository root'),
    "not TOML": ("[dirs\n", "invalid TOML: Expected ']' at the end of a table declaration (at line 1, column 6)"),
    "not UTF-8": (b'workers = "w\xe9"\n', "not UTF-8 text (byte 0xe9 on line 1)"),
    "a directory": (None, "is a directory, not a TOML spec file"),
    "missing": ("", "spec file not found"),
}


@pytest.mark.parametrize(("content", "expected"), SPECS.values(), ids=SPECS.keys())
def test_broken_spec_is_one_usage_error_line(content, expected, tmp_path, run_suite):
    path = tmp_path / "plan.toml"
    if content is None:
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content:
        path.write_text(content)
    run = run_suite(tmp_path, f"--conformance-config={path}")
    assert run.ret == pytest.ExitCode.USAGE_ERROR, run.output
    errors = [line for line in run.output.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and errors[0].startswith(f"ERROR: conformance spec: {path}: {expected}"), run.output
    assert "Traceback" not in run.output


def _bare_venv(tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("bare-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    return venv / "bin" / "python"


@dataclass
class Option:
    make: Callable[[Path], str]  # tmp dir -> the option
    expected: str


def _file(tmp: Path) -> Path:
    (tmp / "a-file").write_text("x\n")
    return tmp / "a-file"


OPTIONS = {
    "backend root is a file": Option(lambda tmp: f"--backend-root={_file(tmp)}", "is not a directory: it is a file"),
    "backend root does not exist": Option(lambda tmp: f"--backend-root={tmp / 'nowhere'}",
                                          "is not a directory: nothing exists at that path"),
    "backend python does not exist": Option(lambda tmp: f"--backend-python={tmp / 'nowhere' / 'python'}",
                                            "(from --backend-python) does not exist"),
    "backend python is a directory": Option(lambda tmp: f"--backend-python={tmp}",
                                            "(from --backend-python) is not an executable file"),
}


@pytest.mark.parametrize("option", OPTIONS.values(), ids=OPTIONS.keys())
def test_bad_option_is_a_usage_error(option: Option, tmp_path, run_suite):
    run = run_suite(None, option.make(tmp_path))
    assert run.ret == pytest.ExitCode.USAGE_ERROR, run.output
    errors = [line for line in run.output.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and option.expected in errors[0], run.output
    assert "Traceback" not in run.output


def test_interpreter_without_the_backends_dependencies(tmp_path, tmp_path_factory, files, run_suite):
    python = _bare_venv(tmp_path_factory)
    backend = build(tmp_path / "repo", files, git=True)
    run = run_suite(backend, f"--backend-python={python}", part="imports")
    assert_no_internal_error(run)
    assert run.failed == set(), run.output  # no "missing" flood, no false "name not defined in alembic/"
    # the imports are still checked (no skip); one warning names what to install
    assert run.outcomes["test_dependencies_declared[missing]"] == "passed", run.output
    assert f"backend/requirements.txt lists 3 of 3 requirements (fastapi, sqlalchemy, alembic) that the backend " \
           f"interpreter {python} does not have installed" in run.output
    assert f"{python} -m pip install -r backend/requirements.txt" in run.output
    assert "has no pytest, which the importability check runs in it" in run.messages["test_importable[api]"]


def test_interpreter_that_is_not_python(tmp_path, files, run_suite):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'Python 2.7.18'\n")
    fake.chmod(0o755)
    backend = build(tmp_path / "repo", files, git=True)
    run = run_suite(backend, f"--backend-python={fake}", "-k", "shadowed or dependencies", part="imports")
    assert_no_internal_error(run)
    assert run.outcomes and set(run.outcomes.values()) == {"failed"}, run.output  # errors at setup
    assert f"backend interpreter {fake} did not answer a short probe script (Python 2.7.18); it must be a " \
           "Python >= 3.10 interpreter" in run.messages["test_no_shadowed_modules"]
