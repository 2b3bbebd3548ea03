"""A Dockerfile, read without docker: every COPY/ADD source exists in the build context, and
the files its CMD/ENTRYPOINT run exist, mapped back to the repository through the COPY
instructions (rule `deploy`)."""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from conformance.checks.deploy.common import DEPLOY, missing_reference_finding, runtime_dirs
from conformance.model.findings import CheckResult, Finding, Skipped
from conformance.repo.index import RepoIndex
from conformance.analysis.shell_paths import command_references, join_path, shell_references
from conformance.model.spec import Spec
from conformance.analysis.trackedtree import TrackedTree, missing_references


@dataclass
class _Stage:
    """What one build stage has seen so far: its COPYs, WORKDIR, CMD and ENTRYPOINT."""

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
    """The JSON array of an exec-form instruction; None for the shell form."""
    if not rest.lstrip().startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    return [str(v) for v in value] if isinstance(value, list) else None


def check_dockerfile(index: RepoIndex, spec: Spec, phase: int | None = None) -> CheckResult:
    """COPY/ADD sources exist; the files CMD/ENTRYPOINT run exist (through the COPY mapping)."""
    if not spec.deploy.dockerfile:
        return CheckResult(skipped=Skipped("no [tool.conformance.deploy] dockerfile"))
    rel = index.rel(spec.deploy.dockerfile)
    if rel not in index.files:
        return CheckResult(skipped=Skipped(f"no Dockerfile at {rel}"))
    text = (index.root / rel).read_text("utf-8", "replace")
    tree = TrackedTree.for_spec(index, spec)
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
    """The sources of one COPY/ADD exist in the build context; records where they land in the image."""
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
        repo_path = join_path(context, src) if src else context
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
            missing = f"{instruction} {source}: {repo_path} does not exist in the build context ({context or '.'}/)"
            findings.append(DEPLOY.finding(rel, missing, hint, line=line, phase=phase, subject=source))
            continue
        if dest_abs is not None and not any(c in src for c in "*?["):
            if is_dir:
                stage.copies.append((dest_abs, repo_path, True))
            else:
                target = posixpath.join(dest_abs, posixpath.basename(src)) if dest_dir else dest_abs
                stage.copies.append((target, repo_path, False))
    return findings


def _image_to_repo(stage: _Stage) -> Callable[[str], str | None]:
    """Maps an absolute path in the image back to the repository file COPYed there (None: unknown)."""
    def resolve(image_path: str) -> str | None:
        path = posixpath.normpath(image_path) if image_path.startswith("/") else None
        if path is None:
            return None
        for dest, src, is_dir in reversed(stage.copies):
            if is_dir and dest != "/" and (path == dest or path.startswith(dest.rstrip("/") + "/")):
                return join_path(src, posixpath.relpath(path, dest)) if path != dest else src
            if not is_dir and path == dest:
                return src
        return None
    return resolve


def _run_command(rel: str, stage: _Stage, context: str, tree: TrackedTree, spec: Spec,
                 phase: int | None) -> list[Finding]:
    """The files the final stage's ENTRYPOINT (with CMD as its arguments) or CMD runs exist."""
    instruction = stage.entrypoint or stage.cmd
    workdir = stage.workdir
    if workdir is None or instruction is None:
        return []
    line, text = instruction
    skip = runtime_dirs(spec)
    words = _exec_form(text)
    if words is not None and stage.entrypoint and stage.cmd:
        words += _exec_form(stage.cmd[1]) or []
    if words is None:
        scan = shell_references(text, cwd=workdir, first_line=line, skip_dirs=skip, absolute=True)
    elif len(words) >= 3 and posixpath.basename(words[0]) in ("sh", "bash") and words[1] == "-c":
        scan = shell_references(words[2], cwd=workdir, first_line=line, skip_dirs=skip, absolute=True)
    else:
        scan = command_references(words, cwd=workdir, line=line, skip_dirs=skip, absolute=True)
    return [missing_reference_finding(rel, missing, phase, "the Dockerfile", prefix="CMD/ENTRYPOINT ")
            for missing in missing_references(scan, tree, resolve=_image_to_repo(stage))]
