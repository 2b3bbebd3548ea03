"""The paths a shell script needs: file and directory references read from shell text.

Used for the start script, a Dockerfile's CMD/ENTRYPOINT and package.json scripts. Conservative:
a word is only checked when it clearly names a path; when in doubt it is skipped, so a correct
script never fails.

* The script is split into simple commands with shlex (quotes removed, `;`, `&&`, `|`, `(`, `)`
  and redirections separated); backslash continuations are joined, multi-line quoted strings
  become one word (and are skipped: they hold spaces), heredoc bodies are skipped.
* A word is a path when it has no `$`, backtick, glob, `:`, `=`, quote, space, `@` or comma,
  does not start with `-`, `/` or `~`, and contains a `/` or ends in a known file extension
  (.py .sh .ini .cfg .toml .js .json .txt .yml .yaml .conf ...). So `main.py`, `alembic.ini`,
  `workers/master/manager.js`, `./scripts/x.sh` are checked; `head`, `0.0.0.0`, `--port` are not.
* `module:attr` after uvicorn/gunicorn/hypercorn/daphne is an app: `main:app` needs `main.py`
  (or `main/__init__.py`), relative to `--app-dir`/`--chdir` when given.
* `python -m pkg.mod` needs pkg/mod.py when `pkg` exists in the backend (else it is installed).
* `alembic ...` without `-c/--config` needs `alembic.ini` in its directory (unless the script
  mentions ALEMBIC_CONFIG); `alembic -c x.ini` needs x.ini (an ordinary path word).
* Skipped: targets of output redirections and of output options (`--log-file`, `--pid`,
  `--access-logfile`, `-o`, `--uds`...), arguments of commands that create, move or merely
  print paths or take patterns (mkdir, touch, rm, cp, mv, ln, chmod, echo, printf, tee, sed,
  awk, grep, find, git, curl, docker, npm, pip install package names...), paths under runtime
  dirs of the spec (logs/, data/) or under a venv (venv/, .venv/), node_modules, paths git
  ignores (created on the server, never shipped), and any path the script tests itself with
  `[ -f x ]`, `[[ -d x ]]`, `test -e x` (the script handles its absence).
* Paths are relative to the script's working directory: its own directory at first (every
  start script runs from there or `cd`s there); `cd "$(dirname "$0")"` / `cd "$(dirname
  "${BASH_SOURCE[0]}")"` (also through a variable set that way) keep it; `cd literal/dir`
  moves it (checking that dir), inside `( ... )` only until the `)`; any other `cd` makes it
  unknown and references are not checked until a known `cd`. A path found relative to the
  backend root instead is accepted too.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from conformance.analysis.shell_words import OPERATOR_CHARS, hide_substitutions, logical_lines, restore_substitutions, tokens

EXTENSIONS = frozenset({
    ".py", ".sh", ".bash", ".ini", ".cfg", ".toml", ".js", ".mjs", ".cjs", ".json", ".txt", ".conf",
    ".yml", ".yaml", ".env.example",
})
VENV_NAMES = frozenset({"venv", ".venv", "env", "virtualenv", ".virtualenv"})
APP_SERVERS = frozenset({"uvicorn", "gunicorn", "hypercorn", "daphne"})
SKIP_TOOLS = frozenset({
    "echo", "printf", "export", "local", "declare", "readonly", "typeset", "unset", "set", "shift", "trap",
    "exit", "return", "wait", "read", "sleep", "kill", "pkill", "killall", "true", "false", ":",
    "mkdir", "touch", "rm", "rmdir", "cp", "mv", "ln", "install", "chmod", "chown", "chgrp", "tee", "mktemp",
    "sed", "awk", "gawk", "grep", "egrep", "fgrep", "find", "tr", "cut", "sort", "uniq", "xargs", "perl", "jq",
    "date", "basename", "dirname", "realpath", "readlink", "git", "curl", "wget", "docker", "docker-compose",
    "podman", "kubectl", "npm", "npx", "yarn", "pnpm", "pip", "pip3", "apt-get", "apt", "apk", "yum", "dnf",
    "useradd", "adduser", "groupadd", "su", "sudo", "systemctl", "service", "logger", "wc", "head", "tail",
    "cat", "less", "ls", "stat", "du", "df", "ps", "id", "whoami", "hostname", "env", "for", "case", "select",
    "function", "eval", "alias", "ulimit", "umask", "hash", "type", "which", "getopts", "let", "exec",
})
PREFIX_WORDS = frozenset({
    "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}", "time", "exec", "nohup",
    "command", "builtin", "setsid", "stdbuf", "chrt", "ionice", "nice", "timeout", "env", "sudo", "gosu",
    "su-exec", "tini", "dumb-init", "--",
})
OUTPUT_OPTION = re.compile(
    r"^--?(?:[\w-]*(?:log-?file|logfile|log-dir|pid-?file|pid|output|outfile|uds|socket|access-log|error-log))$"
    r"|^-o$")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\[[^]]*\])?\+?=")
MODULE_ATTR = re.compile(r"^([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*):([A-Za-z_]\w*(?:\(\))?)$")
PYTHON_NAME = re.compile(r"^python(?:\d+(?:\.\d+)*)?$")
SCRIPT_DIR_HINT = re.compile(r"dirname|BASH_SOURCE|\$0\b|\$\{0\}")
UNSAFE_CHARS = set(" \t\n$`*?[]{}:=,;'\"\\()<>|&@%!#")


@dataclass(frozen=True)
class Ref:
    """A path a command needs. `path` is normalized and relative to the analysis root (absolute
    for image paths in a Dockerfile); `alternatives` also satisfy it (main/__init__.py)."""

    line: int
    word: str
    path: str
    kind: str = "path"  # path | dir | app | module | config
    alternatives: tuple[str, ...] = ()
    only_if: str | None = None  # checked only when this is a local package/module (python -m)
    cwd: str = ""


@dataclass
class ShellScan:
    """What a scan found: the references, and the paths the script tests for itself (optional)."""

    refs: list[Ref] = field(default_factory=list)
    optional: set[str] = field(default_factory=set)  # paths the script tests for itself


def shell_references(text: str, *, cwd: str = "", script_dir: str | None = None, first_line: int = 1,
                     skip_dirs: Iterable[str] = (), absolute: bool = False) -> ShellScan:
    """The paths a shell script (or one command string) needs, by the heuristics of the module doc.

    `cwd`/`script_dir` are paths in the analysis namespace ("" = root). `skip_dirs` are first
    components never checked (runtime dirs). `absolute` accepts /absolute words (Dockerfile)."""
    scanner = _Scanner(cwd, cwd if script_dir is None else script_dir, frozenset(skip_dirs), absolute,
                       "ALEMBIC_CONFIG" in text)
    for line, logical in logical_lines(text):
        scanner.scan_line(line + first_line - 1, logical)
    return scanner.result


def command_references(words: Sequence[str], *, cwd: str, line: int, skip_dirs: Iterable[str] = (),
                       absolute: bool = False) -> ShellScan:
    """References of one already-split command (a Dockerfile exec form, a JSON array)."""
    scanner = _Scanner(cwd, cwd, frozenset(skip_dirs), absolute, False)
    scanner.command(list(words), line)
    return scanner.result


class _Scanner:
    """Walks simple commands in order, tracking the working directory (`cd`, subshells, pushd)
    and the variables that hold the script's own directory; collects references into `result`."""

    def __init__(self, cwd: str, script_dir: str, skip_dirs: frozenset[str], absolute: bool, alembic_env: bool):
        self.cwd: str | None = cwd
        self.script_dir = script_dir
        self.skip_dirs = skip_dirs
        self.absolute = absolute
        self.alembic_env = alembic_env
        self.script_dir_vars: set[str] = set()
        self.result = ShellScan()
        self.subshells: list[str | None] = []
        self.dir_stack: list[str | None] = []
        self.substitutions: dict[str, str] = {}

    # one logical line --------------------------------------------------------------------
    def scan_line(self, line: int, text: str) -> None:
        text = hide_substitutions(text, self.substitutions)
        try:
            words_and_operators = tokens(text)
        except ValueError:
            return  # unbalanced quotes to the end of the file: nothing reliable to read
        words: list[str] = []
        skip_next = False
        for token in words_and_operators:
            if token and set(token) <= OPERATOR_CHARS:
                if ">" in token or token in ("<<", "<<-", "<<<"):
                    skip_next = True  # output target, heredoc word, here-string
                    continue
                if token == "<":
                    continue  # input redirection: the next word is an ordinary (checked) word
                self.command(words, line)
                words = []
                for char in token:  # "&)" and "((" arrive as one token
                    if char == "(":
                        self.subshells.append(self.cwd)
                    elif char == ")" and self.subshells:
                        self.cwd = self.subshells.pop()
                continue
            if skip_next:
                skip_next = False
                continue
            words.append(token)
        self.command(words, line)

    # one simple command ------------------------------------------------------------------
    def command(self, words: list[str], line: int) -> None:
        words = self._strip_prefix(words)
        if not words:
            return
        program, args = words[0], words[1:]
        tool = posixpath.basename(program)
        if tool in ("[", "[[", "test"):
            for word in args:
                if self.cwd is not None and self._is_path_word(word, require_shape=False):
                    self.result.optional.add(join_path(self.cwd, word))
            return
        if tool in ("cd", "pushd"):
            self._cd(args, line, push=tool == "pushd")
            return
        if tool == "popd":
            self.cwd = self.dir_stack.pop() if self.dir_stack else None
            return
        if tool in SKIP_TOOLS:
            return
        if self.cwd is None:  # relative words cannot be told; script-dir ones still can
            for word in (program, *args):
                self._script_dir_ref(line, word)
            return
        if "$" in program or PYTHON_NAME.match(tool):
            handled = self._python(program, args, line)
            if handled is None:
                return
            tool, args = handled
        elif self._is_path_word(program):
            self._ref(line, program)
        if tool in SKIP_TOOLS:
            return
        if tool in APP_SERVERS:
            self._app_server(args, line)
        elif tool == "alembic":
            self._alembic(args, line)
        else:
            self._generic(args, line)

    def _strip_prefix(self, words: list[str]) -> list[str]:
        i = 0
        while i < len(words):
            word = words[i]
            if ASSIGNMENT.match(word):
                name = word.split("=", 1)[0].rstrip("+")
                if SCRIPT_DIR_HINT.search(restore_substitutions(word, self.substitutions)):
                    self.script_dir_vars.add(name)
                i += 1
            elif word in PREFIX_WORDS:
                i += 1
                if word in ("nice", "timeout", "chrt", "ionice", "stdbuf", "sudo", "gosu", "su-exec", "env"):
                    while i < len(words) and (words[i].startswith("-") or ASSIGNMENT.match(words[i])
                                              or (word in ("timeout", "chrt") and words[i][:1].isdigit())
                                              or (word in ("gosu", "su-exec") and i == len(words) - 1)):
                        option = words[i]
                        i += 1
                        if option in ("-n", "-u", "-g", "-c", "-p", "-s", "-k") and i < len(words):
                            i += 1
                    if word in ("gosu", "su-exec") and i < len(words):
                        i += 1  # the user
            else:
                break
        return words[i:]

    def _python(self, program: str, args: list[str], line: int) -> tuple[str, list[str]] | None:
        """Read python's options; return (tool, remaining args) or None when nothing to check."""
        i = 0
        while i < len(args):
            arg = args[i]
            if arg == "-m" and i + 1 < len(args):
                module = args[i + 1]
                self._local_module(module, line)
                return module, args[i + 2:]
            if arg == "-c":
                return None
            if arg in ("-W", "-X", "--check-hash-based-pycs") and i + 1 < len(args):
                i += 2
                continue
            if arg.startswith("-"):
                i += 1
                continue
            if self._is_path_word(arg):
                self._ref(line, arg)
            else:
                self._script_dir_ref(line, arg)
            return (posixpath.basename(program) if "$" not in program else "python"), args[i + 1:]
        return None

    def _local_module(self, module: str, line: int) -> None:
        """`python -m pkg.mod` needs pkg/mod.py (or a package) when `pkg` lives in the backend."""
        if not re.fullmatch(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*", module) or self.cwd is None:
            return
        base = module.replace(".", "/")
        alternatives: tuple[str, ...] = (join_path(self.cwd, base + "/__main__.py"),)
        if "." in module:
            alternatives = (join_path(self.cwd, base + "/__init__.py"), *alternatives)
        self.result.refs.append(Ref(line, f"-m {module}", join_path(self.cwd, base + ".py"), "module", alternatives,
                                    only_if=join_path(self.cwd, module.split(".")[0]), cwd=self.cwd))

    def _cd(self, args: list[str], line: int, push: bool) -> None:
        args = [a for a in args if a not in ("-P", "-L", "-e", "-@")]
        if push:
            self.dir_stack.append(self.cwd)
        target = args[0] if args else None
        if target is None or target in ("-", "~") or target.startswith("~"):
            self.cwd = None
        elif "$" in target or "`" in target:
            self.cwd = self._dynamic_dir(target)
        elif target.startswith("/") and not self.absolute:
            self.cwd = None
        elif self.cwd is None and not target.startswith("/"):
            return
        else:
            path = join_path(self.cwd or "", target)
            if self._is_path_word(target, require_shape=False):
                self.result.refs.append(Ref(line, target, path, "dir", cwd=self.cwd or ""))
            self.cwd = path

    def _dynamic_dir(self, target: str) -> str | None:
        """`cd "$(dirname "$0")"`, `cd "$SCRIPT_DIR/.."` (set from dirname/BASH_SOURCE): the
        script's own directory (plus a literal suffix); anything else is unknown."""
        var = re.fullmatch(r"\$\{?([A-Za-z_]\w*)\}?(/[^$`]*)?", target)
        if not var:
            return None
        name, suffix = var.group(1), (var.group(2) or "").lstrip("/") or "."
        if name in self.script_dir_vars:
            return join_path(self.script_dir, suffix)
        body = self.substitutions.get(name)
        if body is not None and SCRIPT_DIR_HINT.search(body) and not re.search(r"\bcd\s+[^\s\"$]", body):
            return join_path(self.script_dir, suffix)
        return None

    def _app_server(self, args: list[str], line: int) -> None:
        base = self.cwd or ""
        rest: list[str] = []
        i = 0
        while i < len(args):
            arg = args[i]
            if arg in ("--app-dir", "--chdir") and i + 1 < len(args):
                if "$" in args[i + 1]:
                    return
                base = join_path(base, args[i + 1])
                i += 2
                continue
            for prefix in ("--app-dir=", "--chdir="):
                if arg.startswith(prefix):
                    if "$" in arg:
                        return
                    base = join_path(base, arg[len(prefix):])
                    break
            else:
                rest.append(arg)
            i += 1
        for arg in rest:
            match = MODULE_ATTR.match(arg)
            if match:
                module = match.group(1).replace(".", "/")
                self.result.refs.append(Ref(line, arg, join_path(base, module + ".py"), "app",
                                            (join_path(base, module + "/__init__.py"),), cwd=base))
        self._generic([a for a in rest if not MODULE_ATTR.match(a)], line)

    def _alembic(self, args: list[str], line: int) -> None:
        has_config = any(a in ("-c", "--config", "-n", "--name") or a.startswith(("--config=", "-c"))
                         for a in args)
        if not has_config and not self.alembic_env and "init" not in args and "list_templates" not in args \
                and self.cwd is not None and args:
            self.result.refs.append(Ref(line, "alembic.ini", join_path(self.cwd, "alembic.ini"), "config",
                                        cwd=self.cwd))
        self._generic(args, line)

    def _generic(self, args: list[str], line: int) -> None:
        skip = False
        for arg in args:
            if skip:
                skip = False
                continue
            if arg.startswith("-"):
                name, eq, value = arg.partition("=")
                if OUTPUT_OPTION.match(name):
                    skip = not eq
                elif eq and self._is_path_word(value):
                    self._ref(line, value)
                continue
            if self._is_path_word(arg):
                self._ref(line, arg)
            else:
                self._script_dir_ref(line, arg)

    def _script_dir_ref(self, line: int, word: str) -> None:
        """`"$(dirname "$0")/scripts/tool.py"` or `"$SCRIPT_DIR/tool.py"` (a variable set from
        dirname/BASH_SOURCE): a path relative to the script's own directory, checked even while
        the current directory is unknown. Other `$` words stay unchecked (cannot tell)."""
        var = re.fullmatch(r"\$\{?([A-Za-z_]\w*)\}?/([^$`]+)", word)
        if var is None or not self._is_path_word(var.group(2)):
            return
        base = self._dynamic_dir(f"${{{var.group(1)}}}")
        if base is None:
            return
        shown = restore_substitutions(word, self.substitutions)
        path = join_path(base, var.group(2))
        kind = "dir" if word.endswith("/") else "path"
        self.result.refs.append(Ref(line, shown, path, kind, cwd=base))

    def _ref(self, line: int, word: str) -> None:
        if self.cwd is None:
            return
        path = join_path(self.cwd, word)
        kind = "dir" if word.endswith("/") else "path"
        self.result.refs.append(Ref(line, word, path, kind, cwd=self.cwd))

    def _is_path_word(self, word: str, require_shape: bool = True) -> bool:
        if not word or word in (".", "..") or any(c in UNSAFE_CHARS for c in word):
            return False
        if word.startswith(("-", "~", "+")) or (word.startswith("/") and not self.absolute):
            return False
        if not any(c.isalpha() for c in word):
            return False
        parts = [p for p in word.split("/") if p not in ("", ".")]
        if not parts or "node_modules" in parts or parts[0] in VENV_NAMES:
            return False
        if not word.startswith("/") and parts[0] in self.skip_dirs:
            return False
        if not require_shape:
            return True
        if "/" in word:
            return True
        name = parts[-1].lower()
        return any(name.endswith(ext) and len(name) > len(ext) for ext in EXTENSIONS)


def join_path(base: str, rel: str) -> str:
    """`rel` joined to `base` and normalized; "" for the root itself."""
    joined = posixpath.normpath(posixpath.join(base, rel)) if base else posixpath.normpath(rel)
    return "" if joined == "." else joined
