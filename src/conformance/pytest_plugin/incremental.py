"""Which inputs each expensive result depends on: the keys under which run_cache keeps them.

Keys are built from content only (conformance.repo.content_keys), the spec file's bytes and the
backend interpreter's fingerprint (its real path and what its sys.path directories hold, see
conformance.runtime.interpreter.environment_fingerprint), never from timestamps. Each key is
wide on purpose: a key that changes too often costs time, one that misses an input hides a
violation.

- the interpreter probe: the interpreter, the names asked about, the fingerprint of the paths
  the previous probe reported;
- parses: each file's content id (and the suite's code and Python version, in every key);
- the structure report: every indexed file's id, untracked names, git's ignore sources, HEAD
  (move history), the index's own facts and the spec;
- deptry, the contracts: every backend file's id, the spec, the environment (and the contracts
  file);
- importability, per module: its static import closure (checks.imports.closure), the list of
  backend files, every non-Python backend file, the environment and `test_env`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conformance.checks.imports.importability_report import ImportabilityReport
from conformance.pytest_plugin.run_cache import MISS

Context = Any  # conformance.pytest_plugin.session.Context (which imports this module)

DOCS = (".md", ".rst")


def digest(*parts: object) -> str:
    h = hashlib.sha1()
    for part in parts:
        h.update(str(part).encode("utf-8", "surrogateescape") + b"\0")
    return h.hexdigest()


def file_bytes(path: Path | None) -> str:
    if path is None:
        return "none"
    try:
        return hashlib.sha1(path.read_bytes()).hexdigest()
    except OSError as exc:
        return f"unreadable {exc.errno}"


def probe(ctx: Context, names: list[str], run: Callable[[], Any]) -> Any:
    """The interpreter probe, reused while the interpreter and its installed packages are unchanged."""
    from conformance.runtime.interpreter import InterpreterInfo, environment_fingerprint

    stored = ctx.store().load("probe", digest(ctx.python, names))
    if isinstance(stored, tuple) and len(stored) == 2 and isinstance(stored[1], InterpreterInfo):
        fingerprint, info = stored
        if fingerprint == environment_fingerprint(ctx.python, info.paths):
            return info
    info = run()
    if isinstance(info, InterpreterInfo):
        ctx.store().save("probe", digest(ctx.python, names), (environment_fingerprint(ctx.python, info.paths), info))
    return info


def environment(ctx: Context) -> str:
    """The backend interpreter, what it has installed, and the spec's test_env."""
    from conformance.runtime.interpreter import InterpreterError, environment_fingerprint

    info = ctx.interpreter()
    paths = () if isinstance(info, InterpreterError) else info.paths
    return digest(ctx.python, environment_fingerprint(ctx.python, paths), sorted(ctx.spec.test_env.items()))


def spec_key(ctx: Context) -> str:
    return digest(ctx.backend, ctx.spec.source, file_bytes(ctx.spec.source))


def backend_files_key(ctx: Context) -> str:
    index = ctx.index()
    return ctx.content().digest(index.backend_files())


def known_parses(ctx: Context) -> tuple[dict[str, Any], Callable[[Any], None]]:
    """Parses of the backend's files whose content is unchanged, and the function that saves a scan's."""
    index, content = ctx.index(), ctx.content()
    stored = ctx.store().load("parses", "parses")
    stored = stored if isinstance(stored, dict) else {}
    ids = {rel: content.of(index.rel(rel)) for rel in (index.backend_rel(p) for p in index.backend_files())
           if rel is not None and rel.endswith(".py")}
    known = {rel: entry[1] for rel, entry in stored.items()
             if isinstance(entry, tuple) and rel in ids and entry[0] == ids[rel]}

    def save(scan: Any) -> None:
        fresh = {rel: (ids[rel], source) for rel, source in scan.sources.items()
                 if rel in ids and not source.error}  # errors are re-parsed: they may depend on the interpreter
        if fresh != {rel: entry for rel, entry in stored.items() if rel in fresh}:
            ctx.store().save("parses", "parses", fresh)

    return known, save


def structure_key(ctx: Context) -> str:
    index, content = ctx.index(), ctx.content()
    return digest(spec_key(ctx), content.digest(), content.untracked, content.head, content.ignore_sources,
                  sorted(index.ignored_dirs), sorted(index.tracked_ignored), sorted(index.links_out.items()),
                  index.unreadable_dirs, index.shallow, index.has_commits, index.root, index.prefix)


def dependencies_key(ctx: Context, first_party: set[str]) -> str:
    return digest(spec_key(ctx), backend_files_key(ctx), environment(ctx), sorted(first_party),
                  sorted(ctx.index().links_out.items()))


def contracts_key(ctx: Context) -> str:
    return digest(spec_key(ctx), backend_files_key(ctx), environment(ctx), ctx.contracts_file,
                  file_bytes(ctx.contracts_file), sorted(ctx.index().links_out.items()))


def persistent(ctx: Context, name: str, key: str, build: Callable[[], Any]) -> Any:
    value = ctx.store().load(name, key)
    if value is MISS:
        value = build()
        ctx.store().save(name, key, value)
    return value


def importability(ctx: Context, scan: Any, files: list[str], run: Callable[[list[str]], ImportabilityReport]
                  ) -> ImportabilityReport:
    """Import only the modules whose closure key changed; the others' results come from the cache."""
    from conformance.checks.imports.closure import closure_keys, import_edges

    index, content = ctx.index(), ctx.content()
    backend = [rel for rel in (index.backend_rel(p) for p in index.backend_files()) if rel is not None]
    others = [rel for rel in backend if not rel.endswith(".py") and not rel.endswith(DOCS)]
    salt = digest(environment(ctx), sorted(rel for rel in backend if rel.endswith(".py")),
                  content.digest([index.rel(rel) for rel in others]), sorted(index.links_out.items()), ctx.backend)
    keys = closure_keys(import_edges(scan), lambda rel: content.of(index.rel(rel)), salt, files)
    stored = ctx.store().load("importability", "per-module")
    stored = stored if isinstance(stored, dict) else {}
    reused = {rel: stored[rel] for rel in files
              if isinstance(stored.get(rel), tuple) and len(stored[rel]) == 3 and stored[rel][0] == keys[rel]}
    todo = [rel for rel in files if rel not in reused]
    fresh = run(todo) if todo else ImportabilityReport()
    report = ImportabilityReport(error=fresh.error)
    fresh_checked = set(fresh.checked)
    for rel in files:
        if rel in reused:
            _, checked, failure = reused[rel]
        else:
            checked, failure = rel in fresh_checked, fresh.failures.get(rel)
        if checked:
            report.checked.append(rel)
        if failure is not None:
            report.failures[rel] = failure
    if todo and fresh.error is None:
        entries = {rel: (keys[rel], rel in report.checked, report.failures.get(rel)) for rel in files}
        entries = {rel: entry for rel, entry in entries.items()
                   if entry[2] is None or entry[2].kind != "timeout"}  # a timeout may pass on a calmer machine
        ctx.store().save("importability", "per-module", entries)
    return report


def describe(ctx: Context) -> str:
    """The report header's line about the cache."""
    store = ctx.store()
    if not store.enabled:
        return f"run cache off{': ' + ctx.cache_note if ctx.cache_note else ''}"
    return f"run cache in {store.directory} (--no-conformance-cache turns it off)"

