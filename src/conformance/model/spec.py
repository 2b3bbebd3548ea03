"""The spec: the plan as data (dirs, moves, forbidden files, imports, app, workers, deploy, docs).

Frozen dataclasses, built from a TOML file by spec_loader.load_spec; SpecError is what reading
a spec raises when the file cannot be used.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from pathlib import Path

from conformance.model.rules import RULES, RuleId

PHASES = (1, 2, 3, 4)


class SpecError(Exception):
    """The spec file cannot be used; the message says where and why."""


@dataclass(frozen=True)
class DirRule:
    path: str
    purpose: str
    package: bool = False
    runtime: bool = False
    phase: int = 1


@dataclass(frozen=True)
class Move:
    source: str
    to: str
    anywhere: bool = True
    phase: int = 1
    plan: str = ""

    @property
    def name(self) -> str:
        return posixpath.basename(self.source)

    @property
    def destination(self) -> str:
        return join_spec_path(self.to, self.name)


@dataclass(frozen=True)
class ForbiddenRule:
    name: str
    patterns: tuple[str, ...]
    why: str
    move_to: str | None = None
    phase: int = 1


@dataclass(frozen=True)
class ImportsSpec:
    max_relative_depth: int = 2
    forbidden_prefixes: tuple[str, ...] = ("backend",)
    sys_path_allowed: tuple[str, ...] = ("scripts/", "alembic/", "tests/", "**/tests/", "**/conftest.py")
    requirements: str = "requirements.txt"
    dependency_exclude: tuple[str, ...] = ("tests/", "**/tests/", "**/conftest.py", "workers/")
    runtime_dependencies: tuple[str, ...] = ()
    contracts: str | None = None
    # None: look for the usual names (conformance.checks.imports.dependencies.DEV_REQUIREMENTS); () names none
    dev_requirements: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Alias:
    """An old module path kept importable until `retire_phase` (the plan's rollback rule)."""

    old: str
    new: str
    retire_phase: int = 4


@dataclass(frozen=True)
class AppSpec:
    """How to boot the FastAPI app (tests/startup)."""

    target: str = "main:app"
    health_path: str = "/health"
    routes: tuple[str, ...] = ()  # paths /openapi.json must list
    startup_timeout: float = 30.0


@dataclass(frozen=True)
class MigrationsSpec:
    config: str = "alembic.ini"
    timeout: float = 120.0


@dataclass(frozen=True)
class WorkerSpec:
    """A Node.js process to run against the fake Telegram Bot API and the booted backend."""

    name: str
    command: tuple[str, ...]
    cwd: str = ""
    env: dict[str, str] = field(default_factory=dict)
    ready_log: str | None = None
    ready_url: str | None = None
    ready_timeout: float = 20.0
    reply_timeout: float = 20.0
    stop_grace: float = 10.0


@dataclass(frozen=True)
class DeploySpec:
    start_script: str = "start_production.sh"
    env: dict[str, str] = field(default_factory=dict)
    dockerfile: str = "Dockerfile"
    ready_timeout: float = 60.0


@dataclass(frozen=True)
class NetworkSpec:
    """Where a check's backend may connect besides loopback and its given database (the guard)."""

    allow: tuple[str, ...] = ()  # "host:port" or "host" (any port); loopback entries lift a protected port
    protected_ports: tuple[int, ...] = ()  # loopback ports refused on top of the usual servers' ports


@dataclass(frozen=True)
class DocsSpec:
    readme: str = "README.md"


@dataclass(frozen=True)
class Spec:
    source: Path
    backend: Path | None
    workers: str = "workers"
    max_root_files: int = 12
    non_production: tuple[str, ...] = ()
    node_exempt: tuple[str, ...] = ()
    root_allow: tuple[str, ...] = ()
    root_allow_dirs: tuple[str, ...] = ()
    root_phase: int = 1
    dirs: tuple[DirRule, ...] = ()
    moves: tuple[Move, ...] = ()
    forbidden: tuple[ForbiddenRule, ...] = ()
    phases: dict[RuleId, int] = field(default_factory=dict)
    imports: ImportsSpec = field(default_factory=ImportsSpec)
    test_env: dict[str, str] = field(default_factory=dict)
    app: AppSpec = field(default_factory=AppSpec)
    migrations: MigrationsSpec = field(default_factory=MigrationsSpec)
    worker_processes: tuple[WorkerSpec, ...] = ()
    deploy: DeploySpec = field(default_factory=DeploySpec)
    docs: DocsSpec = field(default_factory=DocsSpec)
    network: NetworkSpec = field(default_factory=NetworkSpec)
    aliases: tuple[Alias, ...] = ()

    def phase_of(self, rule_id: RuleId | str) -> int:
        """The phase the spec gives the rule, else the rule's default phase."""
        return self.phases.get(rule_id, RULES[rule_id].phase if rule_id in RULES else 1)


def join_spec_path(base: str, name: str) -> str:
    return f"{base.rstrip('/')}/{name}" if base not in ("", "//") else f"{base}{name}"
