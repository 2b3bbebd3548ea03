"""Stand-in for pip, uv, poetry, pipenv and pipx while the production start script runs.

A start script that runs `pip install` at start-up changes the interpreter of whoever runs it;
under the conformance check that is the developer's own environment (`--backend-python`). This
file is copied into the check's temp dir and reached three ways:

* executables named pip, pip3, pip3.X, uv, poetry, pipenv, pipx first on PATH run it as a script;
* a stand-in `pip` package first on PYTHONPATH runs `main()` for `python -m pip ...` and for
  console scripts (`venv/bin/pip`: `from pip._internal.cli.main import main`).

Each call is appended as one JSON line to the file named by CONFORMANCE_INSTALL_REPORT. A call
that could change an environment is stopped (exit 0, so a `set -e` script goes on and the rest of
it is still checked); read-only calls (`pip freeze`, `--version`) go to the real tool with the
stand-ins removed; `uv run`/`poetry run`/`pipenv run` go to the real tool with the stand-ins kept
and no environment sync. Standard library only, and old syntax: it runs under the backend's
interpreter, whatever its version.
"""

from __future__ import annotations

import json
import os
import shutil
import sys

REPORT_VAR = "CONFORMANCE_INSTALL_REPORT"  # the JSON-lines file calls are recorded in
SHIMS_VAR = "CONFORMANCE_INSTALL_SHIMS"  # the stand-in dirs (PATH and PYTHONPATH entries), os.pathsep-joined

PIP_READ_ONLY = frozenset({"freeze", "list", "show", "check", "help", "inspect", "debug", "hash"})
PIP_VALUE_OPTIONS = frozenset({
    "--python", "--log", "--log-file", "--proxy", "--retries", "--timeout", "--exists-action", "--trusted-host",
    "--cert", "--client-cert", "--cache-dir", "--keyring-provider", "--use-feature", "--use-deprecated",
})
UV_VALUE_OPTIONS = frozenset({"--directory", "--project", "--cache-dir", "--python", "-p", "--color",
                              "--config-file", "--allow-insecure-host"})
INFO_WORDS = frozenset({"--version", "-V", "--help", "-h", "help"})
TOOLS = ("pip", "uv", "poetry", "pipenv", "pipx")

# What a call does: "forward" (read-only: the real tool, stand-ins removed), "run" (runs a command:
# the real tool, stand-ins kept, no sync) or "block" (could change an environment: stopped).
FORWARD, RUN, BLOCK = "forward", "run", "block"


def family(program: str) -> str | None:
    """The tool family of a program name: pip3.11 -> pip; None for anything else."""
    name = os.path.basename(program)
    if name in TOOLS:
        return name
    if name.startswith("pip") and name[3:].replace(".", "").isdigit():
        return "pip"
    return None


def _first_word(args: list[str], value_options: frozenset[str]) -> tuple[int, str | None]:
    """(index, word) of the first argument that is not an option (nor an option's value)."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in value_options:
            i += 2
            continue
        if arg.startswith("-"):
            i += 1
            continue
        return i, arg
    return len(args), None


def decide(tool: str, args: list[str]) -> str:
    """FORWARD, RUN or BLOCK for `tool args` (tool: a family name). Unknown means BLOCK."""
    if tool == "pip":
        _, sub = _first_word(args, PIP_VALUE_OPTIONS)
        if sub is None:
            return FORWARD if all(a in INFO_WORDS for a in args) else BLOCK
        return FORWARD if sub in PIP_READ_ONLY else BLOCK
    if tool == "uv":
        i, sub = _first_word(args, UV_VALUE_OPTIONS)
        if sub is None:
            return FORWARD if all(a in INFO_WORDS for a in args) else BLOCK
        if sub in ("version", "help"):
            return FORWARD
        if sub == "run":
            return RUN
        if sub == "pip":
            _, inner = _first_word(args[i + 1:], UV_VALUE_OPTIONS)
            return FORWARD if inner in ("freeze", "list", "show", "check", "tree") else BLOCK
        return BLOCK
    i, sub = _first_word(args, frozenset())
    if sub is None:
        return FORWARD if args and all(a in INFO_WORDS or a in ("--venv", "--where", "--py") for a in args) \
            else BLOCK
    if tool == "poetry":
        if sub == "env":
            return FORWARD if args[i + 1:i + 2] in (["info"], ["list"]) else BLOCK
        return RUN if sub == "run" else FORWARD if sub in ("show", "check", "help", "about", "list") else BLOCK
    if tool == "pipenv":
        return RUN if sub == "run" else FORWARD if sub in ("graph", "help") else BLOCK
    if tool == "pipx":
        return FORWARD if sub in ("list", "help", "environment") else BLOCK
    return BLOCK


def _without_shims(value: str, shims: list[str]) -> str:
    return os.pathsep.join(p for p in value.split(os.pathsep) if p and p not in shims)


def _record(entry: dict) -> None:
    path = os.environ.get(REPORT_VAR)
    if not path:
        return
    line = (json.dumps(entry, ensure_ascii=True) + "\n").encode("ascii")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)  # one small O_APPEND write: concurrent calls never interleave
    finally:
        os.close(fd)


def main(argv: list[str], *, python_module: bool = False) -> int:
    """Record `argv` (program name first; "python -m pip" or a console script's name when
    `python_module`), then stop it, or hand it to the real tool (exec)."""
    program, args = argv[0], list(argv[1:])
    tool = "pip" if python_module else (family(program) or os.path.basename(program))
    action = decide(tool, args)
    shown = program if python_module else os.path.basename(program)
    _record({"tool": tool, "program": shown, "args": args, "cwd": os.getcwd(), "action": action})
    if action == BLOCK:
        sys.stderr.write("conformance: stopped `%s` at start-up (it would change an environment; "
                         "see test_start_script_installs_nothing)\n" % " ".join([shown] + args))
        return 0
    shims = [p for p in os.environ.get(SHIMS_VAR, "").split(os.pathsep) if p]
    env = dict(os.environ)
    if action == FORWARD:  # read-only: the real tool, with no stand-in left anywhere
        for name in ("PATH", "PYTHONPATH"):
            if name in env:
                env[name] = _without_shims(env[name], shims)
    elif tool == "uv":
        env.update(UV_NO_SYNC="1", UV_OFFLINE="1")
    elif tool == "poetry":
        env["POETRY_VIRTUALENVS_CREATE"] = "false"
    if python_module:
        command = [sys.executable, "-m", "pip"]
    else:
        search = _without_shims(os.environ.get("PATH", os.defpath), shims)
        real = shutil.which(os.path.basename(program), path=search)
        if real is None:
            sys.stderr.write("%s: command not found\n" % os.path.basename(program))
            return 127
        command = [real]
    os.execve(command[0], command + args, env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
