"""Package installs in the production start script: stopped while it runs, reported afterwards.

The start script is run for real (startrun.py) with the backend's interpreter first on PATH.
A `pip install -r requirements.txt` in it would install into that interpreter, which is the
developer's own environment, and at start-up in production it makes every start depend on the
package index. So while it runs, stand-ins (data/install_shim.py) come first on PATH and
PYTHONPATH: every pip/uv/poetry/pipenv/pipx call is recorded and the ones that could change an
environment are stopped. The finding names the script lines that install (read statically, so
a branch the run did not take counts too) and which of them the run reached.
"""

from __future__ import annotations

import json
import os
import posixpath
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from conformance.data import install_shim
from conformance.checks.deploy.common import DEPLOY
from conformance.model.findings import CheckResult
from conformance.analysis.shell_paths import ASSIGNMENT
from conformance.analysis.shell_words import OPERATOR_CHARS, hide_substitutions, logical_lines, tokens

PIP_NAMES = ("pip", "pip3", *(f"pip3.{minor}" for minor in range(6, 20)))
SHIM_PROGRAMS = (*PIP_NAMES, "uv", "poetry", "pipenv", "pipx")
PREFIX_WORDS = frozenset({"exec", "time", "command", "nohup", "sudo", "env", "then", "do", "else", "!", "{",
                          "if", "while", "until"})


@dataclass(frozen=True)
class InstallGuard:
    """The stand-ins of one run: `bin` goes first on PATH, `python_path` first on PYTHONPATH."""

    bin: Path
    python_path: Path
    report: Path

    @property
    def env(self) -> dict[str, str]:
        """What the stand-ins need to find the report file and each other."""
        return {install_shim.REPORT_VAR: str(self.report),
                install_shim.SHIMS_VAR: os.pathsep.join([str(self.bin), str(self.python_path)]),
                # second line, for a script that resets PATH and PYTHONPATH: real pip resolves
                # offline and installs nothing
                "PIP_DRY_RUN": "1", "PIP_NO_INDEX": "1"}


def make_guard(directory: Path, suite_python: str = sys.executable) -> InstallGuard:
    """Write the stand-ins into `directory` (created): executables that run install_shim.py under
    the suite's own interpreter (isolated), and a `pip` package that calls it in-process."""
    bin_dir, py_dir = directory / "bin", directory / "python"
    (py_dir / "pip" / "_internal" / "cli").mkdir(parents=True, exist_ok=True)
    bin_dir.mkdir(exist_ok=True)
    shim = py_dir / "_conformance_install_shim.py"
    shim.write_text(Path(install_shim.__file__).read_text("utf-8"), "utf-8")
    for name in SHIM_PROGRAMS:
        program = bin_dir / name
        program.write_text(f"#!/bin/sh\nexec {shlex.quote(suite_python)} -I -S {shlex.quote(str(shim))} "
                           f"{name} \"$@\"\n", "utf-8")
        program.chmod(0o755)
    call = ("import os\nimport sys\n\nimport _conformance_install_shim as _shim\n\n\n"
            "def main(args=None):\n"
            "    name = os.path.basename(sys.argv[0])  # a console script (venv/bin/pip) or __main__.py (-m pip)\n"
            "    shown = 'python -m pip' if name == '__main__.py' else name\n"
            "    return _shim.main([shown] + list(sys.argv[1:] if args is None else args), python_module=True)\n\n\n"
            "cli = main  # newer pip console scripts import cli\n")
    (py_dir / "pip" / "__init__.py").write_text(
        '"""Stand-in for pip while the conformance check runs a start script (installs are stopped)."""\n'
        + call + "\n\n__version__ = '0+conformance'\n", "utf-8")
    (py_dir / "pip" / "__main__.py").write_text("import sys\nfrom pip import main\n\nsys.exit(main())\n", "utf-8")
    (py_dir / "pip" / "_internal" / "__init__.py").write_text("", "utf-8")
    (py_dir / "pip" / "_internal" / "cli" / "__init__.py").write_text("", "utf-8")
    (py_dir / "pip" / "_internal" / "cli" / "main.py").write_text("from pip import cli, main\n", "utf-8")
    return InstallGuard(bin_dir, py_dir, directory / "installs.jsonl")


@dataclass(frozen=True)
class InstallCall:
    """One recorded call of a stand-in: `program` as the script wrote it (or "python -m pip")."""

    tool: str
    program: str
    args: tuple[str, ...]
    cwd: str
    action: str

    @property
    def command(self) -> str:
        return shlex.join([self.program, *self.args])


def read_calls(report: Path) -> list[InstallCall]:
    """The calls recorded in `report` (none when nothing was called); bad lines are skipped."""
    try:
        text = report.read_text("utf-8", "replace")
    except OSError:
        return []
    calls = []
    for line in text.splitlines():
        try:
            item = json.loads(line)
            calls.append(InstallCall(str(item["tool"]), str(item["program"]), tuple(map(str, item["args"])),
                                     str(item["cwd"]), str(item["action"])))
        except (ValueError, KeyError, TypeError):
            continue
    return calls


@dataclass(frozen=True)
class InstallLine:
    """An install command read from the script: its line, tool family, arguments and text."""

    line: int
    tool: str
    program: str  # as a stand-in records it: "pip3", "python -m pip"
    args: tuple[str, ...]
    text: str


def install_lines(script: str) -> list[InstallLine]:
    """Every simple command of `script` that would change an environment (install_shim.decide)."""
    found = []
    for number, logical in logical_lines(script):
        substitutions: dict[str, str] = {}
        try:
            words_and_ops = tokens(hide_substitutions(logical, substitutions))
        except ValueError:
            continue
        command: list[str] = []
        for token in [*words_and_ops, ";"]:
            if token and set(token) <= OPERATOR_CHARS:
                hit = _install_command(command)
                if hit is not None:
                    found.append(InstallLine(number, hit[0], hit[1], tuple(hit[2]), " ".join(command)))
                command = []
            else:
                command.append(token)
    return found


def _install_command(words: list[str]) -> tuple[str, str, list[str]] | None:
    """(tool family, program, args) when `words` is a blocked call of a package tool, else None."""
    i = 0
    while i < len(words) and (words[i] in PREFIX_WORDS or ASSIGNMENT.match(words[i])):
        i += 1
    words = words[i:]
    if not words:
        return None
    program, args = words[0], words[1:]
    tool, shown = install_shim.family(program), posixpath.basename(program)
    if tool is None and (posixpath.basename(program).startswith("python") or "$" in program):
        module = _python_module(args)
        if module is None or module[0] not in ("pip", "uv", "pipx"):
            return None
        tool, args = module
        shown = f"python -m {tool}"
    if tool is None:
        return None
    return (tool, shown, args) if install_shim.decide(tool, args) == install_shim.BLOCK else None


def _python_module(args: list[str]) -> tuple[str, list[str]] | None:
    """`python [options] -m module args` -> (module, args)."""
    for i, arg in enumerate(args):
        if arg == "-m" and i + 1 < len(args):
            return args[i + 1], args[i + 2:]
        if not arg.startswith("-"):
            return None
    return None


def match_calls(lines: list[InstallLine], calls: list[InstallCall]) -> tuple[dict[int, InstallCall],
                                                                            list[InstallCall]]:
    """Pair each stopped call with the script line that made it: the same program and arguments
    first, then the same tool and arguments (variables expanded differently), then the same
    subcommand. Returns ({index in lines: call}, calls no line shows)."""
    paired: dict[int, InstallCall] = {}
    unmatched = []
    for call in (c for c in calls if c.action == install_shim.BLOCK):
        candidates = [i for i, line in enumerate(lines) if i not in paired and line.tool == call.tool]
        sub = _subcommand(call.args)
        tiers = ([i for i in candidates if lines[i].args == call.args and lines[i].program == call.program],
                 [i for i in candidates if lines[i].args == call.args],
                 [i for i in candidates if _subcommand(lines[i].args) == sub and lines[i].program == call.program],
                 [i for i in candidates if _subcommand(lines[i].args) == sub])
        chosen = next((tier[0] for tier in tiers if tier), None)
        if chosen is None:
            unmatched.append(call)
        else:
            paired[chosen] = call
    return paired, unmatched


def _subcommand(args: tuple[str, ...] | list[str]) -> str | None:
    return next((a for a in args if not a.startswith("-")), None)


BUILD_TIME = ("it changes the interpreter of whoever runs it (here the backend's own environment) and makes "
              "every start depend on the package index; install at build time: Dockerfile/CI, not at start-up")


def check_installs(script: str, script_text: str, calls: list[InstallCall] | None,
                   phase: int | None = None) -> CheckResult:
    """One finding for all the install lines of `script` (repo path), with the ones the run
    reached and stopped; `calls` None means the script was not run (lines are still read)."""
    lines = install_lines(script_text)
    paired, unmatched = match_calls(lines, calls or [])
    if not lines and not unmatched:
        return CheckResult()
    parts = []
    for i, line in enumerate(lines):
        state = "stopped by the check" if i in paired else "not seen in this run"
        parts.append(f"line {line.line}: {line.text} ({state})")
    for call in unmatched:
        parts.append(f"{call.command} (run from {call.cwd}, by a program the script started; stopped by the check)")
    first = lines[0].line if lines else None
    numbers = sorted({line.line for line in lines})
    where = ", ".join(map(str, numbers))
    fix = (f"remove the install{'s' if len(parts) > 1 else ''} from {script}"
           + (f" (line{'s' if len(numbers) > 1 else ''} {where})" if lines else "")
           + " and install at build time: `RUN pip install -r requirements.txt` in the Dockerfile, or a CI step "
             "before deploying")
    message = "installs packages at start-up: " + "; ".join(parts) + f". {BUILD_TIME[0].upper()}{BUILD_TIME[1:]}"
    return CheckResult([DEPLOY.finding(script, message, fix, line=first, phase=phase, subject="installs")])
