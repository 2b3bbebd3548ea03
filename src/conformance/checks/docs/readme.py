"""The backend README documents the new structure (plan phase 4): every planned directory is
named with what it holds, and every backend path it mentions exists.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from conformance.model.findings import Finding
from conformance.model.rules import RuleId, rule
from conformance.repo.index import RepoIndex, shell_quote
from conformance.model.spec import Spec

DOCS = rule(RuleId.DOCS)  # quotes "Phase 4.1: Create backend/README.md with new structure"
PLAN_DEAD_PATHS = "Phase 4.2: Document service responsibilities"  # what a dead path in the README breaks
PATH_SUFFIXES = (".py", ".sh", ".ini", ".txt", ".md", ".js", ".mjs", ".cjs", ".json", ".toml", ".cfg",
                 ".yml", ".yaml", ".html", ".mako", ".sql")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@dataclass(frozen=True)
class Mention:
    line: int
    token: str
    text: str  # the whole line, to judge whether it says what the directory holds


def mentions(readme: str) -> list[Mention]:
    """Code spans and links outside fenced blocks (candidate paths and directory names)."""
    found = []
    in_fence = False
    for number, line in enumerate(readme.splitlines(), start=1):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        for match in (*CODE_SPAN.finditer(line), *LINK.finditer(line)):
            found.append(Mention(number, match.group(1).strip(), line))
    return found


TREE_ENTRY = re.compile(r"^(?P<indent>[\s│├└─|`+\\-]*)(?P<name>/?[\w.-]+/)(?P<rest>.*)$")


def directory_mentions(readme: str) -> list[Mention]:
    """Directories named as such: `api/` in prose or a list item led by `api`, and entries of
    tree diagrams in fenced blocks (the plan's own format), with their nesting resolved."""
    found = []
    in_fence = False
    stack: list[tuple[int, str]] = []
    for number, line in enumerate(readme.splitlines(), start=1):
        if line.lstrip().startswith("```"):
            in_fence, stack = not in_fence, []
            continue
        if in_fence:
            entry = TREE_ENTRY.match(line)
            if not entry:
                continue
            indent, name = len(entry.group("indent")), entry.group("name").strip("/")
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, name))
            found.append(Mention(number, "/".join(n for _, n in stack), entry.group("rest")))
            continue
        spans = [m.group(1).strip() for m in CODE_SPAN.finditer(line)]
        for position, token in enumerate(spans):
            leads_item = position == 0 and re.match(r"^\s*([-*+]|\d+\.|\|)\s*`", line)
            if token.endswith("/") or leads_item:
                found.append(Mention(number, token, line))
    return found


def normalize(token: str, backend_name: str) -> str:
    token = token.strip().removeprefix("./")
    token = token.removeprefix(f"{backend_name}/") if backend_name else token
    return token.strip("/")


def looks_like_path(token: str) -> bool:
    """A relative file or directory path: no spaces, no URL, no placeholder or glob, not a route."""
    if any(c in token for c in " <>{}*?$=:") or token.startswith(("/", "#", "-", "~")):
        return False
    return "/" in token or token.endswith(PATH_SUFFIXES)


def check_readme(spec: Spec, index: RepoIndex) -> dict[str, list[Finding]]:
    """Findings under "structure" (dirs not documented) and "paths" (dead paths)."""
    readme_rel = index.rel(spec.docs.readme)
    path = index.root / readme_rel
    result: dict[str, list[Finding]] = {"structure": [], "paths": []}
    phase = spec.phase_of(RuleId.DOCS)
    if readme_rel not in index.files and not (not index.is_git and path.is_file()):
        finding = DOCS.finding(readme_rel, "does not exist (or is not committed)",
                               f"write {readme_rel}: one line per directory of the target structure saying what "
                               "it holds, service responsibilities, how to run it", phase=phase)
        return {"structure": [finding], "paths": []}
    target = index.link_out(readme_rel)
    if target is not None:
        finding = DOCS.finding(readme_rel,
                               f"is a symlink to {target}, outside the backend; the suite does not follow links out "
                               "of the backend, and the README that documents it belongs in it",
                               "commit the README itself: cp --remove-destination "
                               f"\"$(readlink -f {shell_quote(readme_rel)})\" {shell_quote(readme_rel)}"
                               "   # removes the link only, replacing it with a copy of its target",
                               phase=phase)
        return {"structure": [finding], "paths": []}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        finding = DOCS.finding(readme_rel, f"cannot be read: {exc.strerror}", "make it a readable UTF-8 file",
                               phase=phase)
        return {"structure": [finding], "paths": []}
    backend_name = Path(index.prefix).name if index.prefix else "backend"
    found = mentions(text)
    by_name: dict[str, list[Mention]] = {}
    for mention in directory_mentions(text):
        by_name.setdefault(normalize(mention.token, backend_name), []).append(mention)
    for entry in spec.dirs:
        name = entry.path.removeprefix("//")
        hits = by_name.get(name, [])
        if not hits:
            result["structure"].append(DOCS.finding(
                readme_rel, f"does not mention {name}/ ({entry.purpose})",
                f"add a line such as: - `{name}/` - {entry.purpose}", subject="structure", phase=phase))
        elif not any(_describes(hit, name) for hit in hits):
            result["structure"].append(DOCS.finding(
                readme_rel, f"mentions {name}/ but never says what it holds",
                f"describe it on that line, e.g. `{name}/` - {entry.purpose}", line=hits[0].line,
                subject="structure", phase=phase))
    runtime = {d.path.removeprefix("//") for d in spec.dirs if d.runtime}
    for mention in found:
        token = normalize(mention.token, backend_name)
        if not looks_like_path(mention.token) or not token:
            continue
        if token.split("/")[0] in runtime:
            continue  # created at run time, never in a clean checkout
        target = index.rel(token)
        if target in index.files or index.is_dir(target):
            continue
        result["paths"].append(_dead(readme_rel, mention.line, f"mentions {token}, which does not exist in the backend",
                                     _moved_file_hint(index, token), phase))
    planned_tops = {d.path.split("/")[0] for d in spec.dirs if not d.path.startswith("//")}
    for line, command in command_mentions(text):
        problem = _dead_command_target(index, command, backend_name, planned_tops)
        if problem is not None:
            result["paths"].append(_dead(readme_rel, line, *problem, phase=phase))
    return result


SHELL_FENCES = {"", "bash", "sh", "shell", "console", "zsh", "text"}
RUNNERS = ("python", "python3", "bash", "sh", "node")


def command_mentions(readme: str) -> list[tuple[int, str]]:
    """Commands the README tells people to run: code spans of several words outside fences, and
    lines of shell-like fenced blocks (tree diagrams left out)."""
    found = []
    fence: str | None = None
    for number, line in enumerate(readme.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else stripped[3:].strip().lower()
            continue
        if fence is not None:
            if fence in SHELL_FENCES and stripped and not TREE_ENTRY.match(line) and not re.search("[│├└]", line):
                found.append((number, stripped.removeprefix("$ ")))
            continue
        found.extend((number, m.group(1).strip()) for m in CODE_SPAN.finditer(line) if " " in m.group(1).strip())
    return found


def _dead_command_target(index: RepoIndex, command: str, backend_name: str,
                         planned_tops: set[str]) -> tuple[str, str] | None:
    """A `python -m pkg.mod` or `python tool.py` whose module or file is not in the backend."""
    import shlex

    try:
        words = shlex.split(command.split("  #", 1)[0].split(" # ", 1)[0])
    except ValueError:
        return None
    for position, word in enumerate(words[:-1]):
        if posixpath.basename(word) not in RUNNERS:
            continue
        following = words[position + 1]
        if following == "-m" and position + 2 < len(words):
            module = words[position + 2]
            top = module.split(".")[0]
            if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", module):
                return None
            package = index.rel(f"{top}/__init__.py") in index.files or index.rel(f"{top}.py") in index.files
            namespace = index.is_dir(index.rel(top)) and not package
            planned_missing = top in planned_tops and not index.is_dir(index.rel(top))
            if not (package or planned_missing or (namespace and "." in module)):
                return None  # third party or stdlib (uvicorn, pytest; alembic even beside an alembic/ dir)
            path = module.replace(".", "/")
            if index.rel(f"{path}.py") in index.files or index.rel(f"{path}/__init__.py") in index.files \
                    or index.rel(f"{path}/__main__.py") in index.files:
                return None
            return (f"runs `{' '.join(words[position:position + 3])}`, but there is no {path}.py in the backend",
                    _moved_file_hint(index, f"{path}.py", as_module=True))
        if following.startswith("-"):
            continue
        token = normalize(following, backend_name)
        if not token.endswith((".py", ".sh", ".js", ".mjs", ".cjs")) or any(c in token for c in "<>{}*$"):
            continue
        target = index.rel(token)
        if target in index.files:
            return None
        return (f"runs `{' '.join(words[position:position + 2])}`, but {token} does not exist in the backend",
                _moved_file_hint(index, token))
    return None


def _moved_file_hint(index: RepoIndex, token: str, as_module: bool = False) -> str:
    """Where a file of that name lives in the backend now, said as the README should say it."""
    name = posixpath.basename(token)
    places = [rel for p in index.named(name) if (rel := index.backend_rel(p)) is not None]
    if len(places) == 1:
        place = places[0]
        if as_module and place.endswith(".py"):
            return f"it moved: write `python -m {place[:-3].replace('/', '.')}` (run from the backend root)"
        return f"it moved: write {place}"
    if places:
        return f"fix the path: {name} exists as {', '.join(places[:3])}"
    return "fix the path (did it move?) or remove the mention"


def _dead(readme_rel: str, line: int, message: str, fix: str, phase: int) -> Finding:
    return DOCS.finding(readme_rel, message, fix, line=line, subject="paths", plan=PLAN_DEAD_PATHS, phase=phase)


def _describes(mention: Mention, name: str) -> bool:
    """True when the line says something beyond the bare name (two words or more)."""
    rest = CODE_SPAN.sub(" ", mention.text)
    words = re.findall(r"[A-Za-z]{2,}", rest)
    return len(words) >= 2
