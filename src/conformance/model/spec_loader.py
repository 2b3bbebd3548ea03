"""Load the spec from a TOML file (conformance.toml, or pyproject.toml's [tool.conformance]):
each section parsed into the spec's dataclasses and validated through TomlTable.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from conformance.model.rules import RuleId, rule
from conformance.model.spec import (Alias, AppSpec, DeploySpec, DirRule, DocsSpec, ForbiddenRule, ImportsSpec,
                                    MigrationsSpec, Move, NetworkSpec, Spec, SpecError, WorkerSpec)
from conformance.model.toml_table import TomlTable, check_patterns, normalize_spec_path, positive


def has_conformance_table(path: Path) -> bool:
    """Whether a pyproject.toml holds the plan: where the plugin and the CLI look for a spec."""
    try:
        return "[tool.conformance" in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def load_spec(path: Path) -> Spec:
    """Read `path` and return the validated spec; raise SpecError with a precise message."""
    try:
        data = path.read_bytes()
        raw = tomllib.loads(data.decode("utf-8"))
    except FileNotFoundError:
        raise SpecError(f"{path}: spec file not found") from None
    except IsADirectoryError:
        raise SpecError(f"{path}: is a directory, not a TOML spec file") from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot read spec file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SpecError(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); TOML files are "
                        "UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: invalid TOML: {exc}") from None
    tool = raw.get("tool", {}) if isinstance(raw.get("tool"), dict) else {}
    if "conformance" in tool:
        return parse_spec(tool["conformance"], path, "tool.conformance")
    if "tool" in raw or "project" in raw or "build-system" in raw:
        raise SpecError(f"{path}: no [tool.conformance] table; add one or pass --conformance-config")
    return parse_spec(raw, path, "")


def parse_spec(data: Any, source: Path, keypath: str) -> Spec:
    top = TomlTable(data, keypath, source)
    backend = top.take("backend", str)
    workers = top.take_path("workers", "workers")
    max_root_files = top.take("max_root_files", int, 12)
    if max_root_files < 1:
        raise top.error("must be at least 1", "max_root_files")
    non_production = top.take_str_list("non_production")
    node_exempt = top.take_str_list("node_exempt")
    for key, patterns in (("non_production", non_production), ("node_exempt", node_exempt)):
        check_patterns(patterns, top, key)

    root = TomlTable(top.take("root", dict, {}), top.child("root"), source)
    root_allow = root.take_str_list("allow")
    root_allow_dirs = root.take_str_list("allow_dirs")
    root_phase = root.take_phase()
    root.reject_unknown()

    dirs = _parse_dirs(top.take("dirs", dict, {}), top.child("dirs"), source)
    moves = _parse_moves(top.take("moves", list, []), top.child("moves"), source)
    forbidden = _parse_forbidden(top.take("forbidden", list, []), top.child("forbidden"), source)

    imports = _parse_imports(top.take("imports", dict, {}), top.child("imports"), source)
    test_env = _parse_env(top.take("test_env", dict, {}), top.child("test_env"), source)
    app = _parse_app(top.take("app", dict, {}), top.child("app"), source)
    migrations_table = TomlTable(top.take("migrations", dict, {}), top.child("migrations"), source)
    migrations = MigrationsSpec(
        config=migrations_table.take_path("config", "alembic.ini") or "alembic.ini",
        timeout=positive(migrations_table, "timeout", 120.0))
    migrations_table.reject_unknown()
    worker_processes = _parse_workers(top.take("worker", list, []), top.child("worker"), source)
    deploy_table = TomlTable(top.take("deploy", dict, {}), top.child("deploy"), source)
    deploy = DeploySpec(
        start_script=deploy_table.take_path("start_script", "start_production.sh") or "",
        env=_parse_env(deploy_table.take("env", dict, {}), deploy_table.child("env"), source),
        dockerfile=deploy_table.take_path("dockerfile", "Dockerfile") or "",
        ready_timeout=positive(deploy_table, "ready_timeout", 60.0))
    deploy_table.reject_unknown()
    aliases = _parse_aliases(top.take("aliases", list, []), top.child("aliases"), source)
    docs_table = TomlTable(top.take("docs", dict, {}), top.child("docs"), source)
    docs = DocsSpec(readme=docs_table.take_path("readme", "README.md") or "README.md")
    docs_table.reject_unknown()
    network = _parse_network(top.take("network", dict, {}), top.child("network"), source)
    phases_table = TomlTable(top.take("phases", dict, {}), top.child("phases"), source)
    phases = {RuleId.ROOT_FILES: root_phase, RuleId.ROOT_FILE_COUNT: root_phase}
    for key in sorted(r.value for r in RuleId):  # the user writes phases.<rule id>
        if key in phases_table.data:
            phases[RuleId(key)] = phases_table.take_phase(key)
        phases_table.known.add(key)
    phases_table.reject_unknown()
    top.reject_unknown()

    return Spec(
        source=source,
        backend=(source.parent / backend) if backend else None,
        workers=workers,
        max_root_files=max_root_files,
        non_production=non_production,
        node_exempt=node_exempt,
        root_allow=root_allow,
        root_allow_dirs=root_allow_dirs,
        root_phase=root_phase,
        dirs=dirs,
        moves=moves,
        forbidden=forbidden,
        phases=phases,
        imports=imports,
        test_env=test_env,
        app=app,
        migrations=migrations,
        worker_processes=worker_processes,
        deploy=deploy,
        docs=docs,
        network=network,
        aliases=aliases,
    )


def _parse_aliases(data: list[Any], keypath: str, source: Path) -> tuple[Alias, ...]:
    aliases: dict[str, Alias] = {}
    for index, value in enumerate(data):
        item = TomlTable(value, f"{keypath}[{index}]", source)
        old, new = item.take("old", str), item.take("new", str)
        for key, module in (("old", old), ("new", new)):
            if not module or not all(part.isidentifier() for part in module.split(".")):
                raise item.error(f"must be a dotted module path such as database.auth, got {module!r}", key)
        alias = Alias(old, new, item.take_phase("retire_phase", 4))  # type: ignore[arg-type]
        item.reject_unknown()
        if alias.old in aliases:
            raise item.error(f'"{alias.old}" has another alias entry', "old")
        aliases[alias.old] = alias
    return tuple(aliases.values())


def _parse_env(data: dict[str, Any], keypath: str, source: Path) -> dict[str, str]:
    table = TomlTable(data, keypath, source)
    return {key: table.take(key, str) for key in list(table.data)}



def _parse_network(data: dict[str, Any], keypath: str, source: Path) -> NetworkSpec:
    table = TomlTable(data, keypath, source)
    allow = table.take_str_list("allow")
    for entry in (e for e in allow if not e.startswith("/")):  # "/path": a Unix socket
        host, _, port = entry.rpartition(":") if entry.count(":") == 1 or entry.startswith("[") else ("", "", "")
        if not entry.strip() or " " in entry.strip() or "/" in entry or (host and not (port.isdigit() and 0 < int(port) < 65536)):
            raise table.error(f'"{entry}" must be a host, host:port or a socket\'s absolute path, e.g. '
                              '"api.example.com:443" or "127.0.0.1:6379"',
                              "allow")
    ports = table.take("protected_ports", list, [])
    if not all(isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536 for p in ports):
        raise table.error(f"must be a list of port numbers (1-65535), got {ports!r}", "protected_ports")
    table.reject_unknown()
    return NetworkSpec(allow, tuple(ports))


def _parse_app(data: dict[str, Any], keypath: str, source: Path) -> AppSpec:
    table = TomlTable(data, keypath, source)
    target = table.take("target", str, "main:app")
    if ":" not in target:
        raise table.error(f'"{target}" must look like module:attribute (e.g. main:app)', "target")
    health = table.take("health_path", str, "/health")
    if not health.startswith("/"):
        raise table.error("must start with /", "health_path")
    spec = AppSpec(target, health, table.take_str_list("routes"), positive(table, "startup_timeout", 30.0))
    table.reject_unknown()
    return spec


def _parse_workers(data: list[Any], keypath: str, source: Path) -> tuple[WorkerSpec, ...]:
    workers: dict[str, WorkerSpec] = {}
    for index, value in enumerate(data):
        item = TomlTable(value, f"{keypath}[{index}]", source)
        name = item.take("name", str)
        command = item.take_str_list("command")
        if not name or not command:
            raise item.error('needs "name" and "command" (a list, e.g. ["node", "workers/master/manager.js"])')
        worker = WorkerSpec(
            name=name, command=command, cwd=item.take_path("cwd", "") or "",
            env=_parse_env(item.take("env", dict, {}), item.child("env"), source),
            ready_log=item.take("ready_log", str), ready_url=item.take("ready_url", str),
            ready_timeout=positive(item, "ready_timeout", 20.0),
            reply_timeout=positive(item, "reply_timeout", 20.0),
            stop_grace=positive(item, "stop_grace", 10.0))
        item.reject_unknown()
        if not worker.ready_log and not worker.ready_url:
            raise item.error('needs "ready_log" (a line the worker prints) or "ready_url" (an HTTP probe)')
        if name in workers:
            raise item.error(f'name "{name}" is used by another worker', "name")
        workers[name] = worker
    return tuple(workers.values())


def _parse_imports(data: dict[str, Any], keypath: str, source: Path) -> ImportsSpec:
    table = TomlTable(data, keypath, source)
    default = ImportsSpec()
    depth = table.take("max_relative_depth", int, default.max_relative_depth)
    if depth < 0:
        raise table.error("must be 0 or more", "max_relative_depth")
    prefixes = tuple(p.rstrip(".") for p in table.take_str_list("forbidden_prefixes", default.forbidden_prefixes))
    allowed = table.take_str_list("sys_path_allowed", default.sys_path_allowed)
    check_patterns(allowed, table, "sys_path_allowed")
    requirements = table.take_path("requirements", default.requirements) or default.requirements
    dependency_exclude = table.take_str_list("dependency_exclude", default.dependency_exclude)
    check_patterns(dependency_exclude, table, "dependency_exclude")
    runtime_dependencies = table.take_str_list("runtime_dependencies")
    contracts = table.take("contracts", str, None)
    dev_requirements = _dev_requirements(table, requirements)
    table.reject_unknown()
    return ImportsSpec(depth, prefixes, allowed, requirements, dependency_exclude, runtime_dependencies,
                       (source.parent / contracts).as_posix() if contracts else None,
                       dev_requirements=dev_requirements)


def _dev_requirements(table: TomlTable, requirements: str) -> tuple[str, ...] | None:
    """`imports.dev_requirements`: a path or a list of paths inside the backend (deptry reads the
    backend's copy), never the production requirements file itself (nothing would be dev-only)."""
    raw = table.take_str_list("dev_requirements")
    if "dev_requirements" not in table.data:
        return None
    paths = []
    for value in raw:
        if value.startswith("//"):
            raise table.error(f'"{value}" must be inside the backend (the dependency check reads the backend\'s '
                              "files only)", "dev_requirements")
        path = normalize_spec_path(value, table, "dev_requirements")
        if path == requirements:
            raise table.error(f'"{value}" is imports.requirements itself; name the file with the dev-only '
                              "requirements", "dev_requirements")
        paths.append(path)
    return tuple(dict.fromkeys(paths))


def _parse_dirs(data: dict[str, Any], keypath: str, source: Path) -> tuple[DirRule, ...]:
    table = TomlTable(data, keypath, source)
    result: dict[str, DirRule] = {}
    for key, value in data.items():
        table.known.add(key)
        path = normalize_spec_path(key, table, key)
        if isinstance(value, str):
            entry = DirRule(path, value)
        else:
            item = TomlTable(value, table.child(key), source)
            entry = DirRule(
                path=path,
                purpose=item.take("purpose", str, ""),
                package=item.take("package", bool, False),
                runtime=item.take("runtime", bool, False),
                phase=item.take_phase(default=rule(RuleId.REQUIRED_DIR).phase),
            )
            item.reject_unknown()
            if not entry.purpose:
                raise item.error('needs a "purpose" (one line for the documentation check)')
            if entry.package and entry.runtime:
                raise item.error("a runtime dir (gitignored) cannot also be a package")
        if path in result:
            raise table.error(f'"{key}" duplicates "{result[path].path}"', key)
        result[path] = entry
    return tuple(result.values())


def _parse_moves(data: list[Any], keypath: str, source: Path) -> tuple[Move, ...]:
    moves: dict[str, Move] = {}
    for index, value in enumerate(data):
        item = TomlTable(value, f"{keypath}[{index}]", source)
        files = item.take_str_list("files")
        single = item.take("from", str)
        if single is not None:
            files = (*files, single)
        if not files:
            raise item.error('needs "files" (a list) or "from" (one path)')
        to = item.take_path("to")
        if to is None:
            raise item.error('needs "to": the directory the files move to')
        anywhere = item.take("anywhere", bool, True)
        phase = item.take_phase(default=rule(RuleId.MOVE).phase)
        plan = item.take("plan", str, f"Move to /{to.lstrip('/')}/")
        item.reject_unknown()
        for raw in files:
            src = normalize_spec_path(raw, item, "files")
            if src in moves:
                raise item.error(f'"{raw}" is already moved by another entry', "files")
            moves[src] = Move(src, to, anywhere, phase, plan)
    return tuple(moves.values())


def _parse_forbidden(data: list[Any], keypath: str, source: Path) -> tuple[ForbiddenRule, ...]:
    rules: dict[str, ForbiddenRule] = {}
    for index, value in enumerate(data):
        item = TomlTable(value, f"{keypath}[{index}]", source)
        patterns = item.take_str_list("pattern")
        if not patterns:
            raise item.error('needs "pattern": a gitignore-style pattern or a list of them')
        check_patterns(patterns, item, "pattern")
        name = item.take("name", str, patterns[0] if len(patterns) == 1 else None)
        if not name:
            raise item.error('needs a "name" when "pattern" is a list (it becomes the test id)')
        why = item.take("why", str, "not production code")
        move_to = item.take_path("move_to")
        phase = item.take_phase(default=rule(RuleId.FORBIDDEN).phase)
        item.reject_unknown()
        if name in rules:
            raise item.error(f'name "{name}" is used by another entry', "name")
        rules[name] = ForbiddenRule(name, patterns, why, move_to, phase)
    return tuple(rules.values())
