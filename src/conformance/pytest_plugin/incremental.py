"""Which inputs each expensive result depends on: the keys under which run_cache keeps them.

Keys are built from content only (conformance.repo.content_keys), the spec file's bytes and the
backend interpreter's fingerprint (its real path and what its sys.path directories hold, see
conformance.runtime.interpreter.environment_fingerprint), never from timestamps. Each key is
wide on purpose: a key that changes too often costs time, one that misses an input hides a
violation.

- the interpreter probe: the interpreter, the names asked about, the fingerprint of the paths
  the previous probe reported;
- parses: each file's content id (and the suite's code and Python version, in every key);
- the structure report: every indexed file's name and kind (not its content), untracked names,
  git's ignore sources, HEAD (move history), the index's own facts and the spec; plus, checked
  on reuse, every look the checks took at the disk (a script's first line, an empty module);
- deptry, the contracts: what they read of the backend's Python files (imports_key: import
  statements, dynamic import calls, deptry comments, parse errors; not function bodies), every
  other backend file's id, the spec, the environment (and the contracts file);
- importability, per module: its static import closure (checks.imports.closure), the list of
  backend files, every non-Python backend file, the environment and `test_env`;
- whatever is computed from the import scan alone (from_scan: the static import checks,
  first-party names, imports_key, entry points; the importability verdicts of a clean run):
  scan_key, every indexed file's content, HEAD, the spec and the environment. An unchanged tree
  never builds the scan.
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
    """The backend interpreter, what it has installed, the spec's test_env and network policy (what
    a module may connect to at import decides whether it imports)."""
    from conformance.runtime.interpreter import InterpreterError, environment_fingerprint

    def build() -> str:
        info = ctx.interpreter()
        paths = () if isinstance(info, InterpreterError) else info.paths
        return digest(ctx.python, environment_fingerprint(ctx.python, paths), sorted(ctx.spec.test_env.items()),
                      repr(ctx.spec.network))

    return ctx.cached("environment_key", build)  # one look at site-packages per process


def spec_key(ctx: Context) -> str:
    return digest(ctx.backend, ctx.spec.source, file_bytes(ctx.spec.source))


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


def structure(ctx: Context, build: Callable[[], Any]) -> Any:
    """The structure report, reused while the names it judges are the same and every look it
    took at the disk beyond them (checks.structure.disk) still sees the same."""
    from conformance.checks.structure.disk import unchanged

    key = structure_key(ctx)
    report = ctx.store().load("structure", key)
    if report is MISS or not unchanged(ctx.index().root, report.seen):
        report = build()
        ctx.store().save("structure", key, report)
    return report


def structure_key(ctx: Context) -> str:
    """File names and kinds, not contents: the structure checks read contents only through
    recorded disk looks."""
    index, content = ctx.index(), ctx.content()
    return digest(spec_key(ctx), content.shape(), content.untracked, content.head, content.ignore_sources,
                  sorted(index.ignored_dirs), sorted(index.tracked_ignored), sorted(index.links_out.items()),
                  index.unreadable_dirs, index.shallow, index.has_commits, index.root, index.prefix)


def imports_key(ctx: Context) -> str:
    """imports_digest of the backend's scan, kept while nothing the scan reads changed."""
    return from_scan(ctx, "imports_key", imports_digest)


def imports_digest(scan: Any) -> str:
    """What import-reading tools (grimp, deptry) see of the backend's Python files: every file's
    name, import statements (line, text, names, context), dynamic import calls, deptry comments
    and parse errors; an edit that changes none of these leaves their results as they were."""
    h = hashlib.sha1()
    for rel in sorted(scan.sources):
        source = scan.sources[rel]
        h.update(repr((rel, [tuple(vars(stmt).values()) for stmt in source.imports], source.import_extras,
                       source.error, source.error_line)).encode("utf-8", "surrogateescape"))
    h.update(repr(sorted(scan.unfollowed.items())).encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def other_files_key(ctx: Context) -> str:
    """Names and contents of the backend's files that are not Python (requirements, pyproject,
    notebooks, directories' markers): read by deptry and the contracts check as they are."""
    index = ctx.index()
    return ctx.content().digest([path for path in index.backend_files() if not path.endswith(".py")])


def dependencies_key(ctx: Context, first_party: set[str]) -> str:
    return digest(spec_key(ctx), imports_key(ctx), other_files_key(ctx), environment(ctx),
                  sorted(first_party), sorted(ctx.index().links_out.items()))


def contracts_key(ctx: Context) -> str:
    return digest(spec_key(ctx), imports_key(ctx), other_files_key(ctx), environment(ctx),
                  ctx.contracts_file, file_bytes(ctx.contracts_file), sorted(ctx.index().links_out.items()))


def scan_key(ctx: Context) -> str:
    """Everything the import scan reads, and so everything computed from it alone: every indexed
    file's name and content, HEAD and, for a backend below the repository root, the names of the
    repository's other tracked files (where moved modules went), the spec, the backend
    interpreter and its packages. Untracked files are not read: an editor's swap file next to a
    module changes nothing here."""
    def build() -> str:
        index, content = ctx.index(), ctx.content()
        elsewhere = sorted(index.repository_files - index.files) if index.prefix else []
        return digest(spec_key(ctx), content.digest(), content.head, environment(ctx), elsewhere,
                      sorted(index.links_out.items()), index.root, index.prefix)

    return ctx.cached("scan_key", build)


def from_scan(ctx: Context, name: str, compute: Callable[[Any], Any], *extra: object) -> Any:
    """compute(scan), reused from the run cache while scan_key (and `extra`) is unchanged: an
    unchanged tree never builds the scan. `compute` must depend on nothing else."""
    file = "scan-" + hashlib.sha1(name.encode("utf-8", "surrogateescape")).hexdigest()[:20]  # any name, a safe file
    return ctx.cached(f"from_scan:{name}", lambda: persistent(
        ctx, file, digest(name, scan_key(ctx), *extra), lambda: compute(ctx.import_scan())))


def persistent(ctx: Context, name: str, key: str, build: Callable[[], Any]) -> Any:
    value = ctx.store().load(name, key)
    if value is MISS:
        value = build()
        ctx.store().save(name, key, value)
    return value


Entry = tuple[str, bool, Any]  # (closure key, checked, ImportFailure or None) of one module


def stored_importability(ctx: Context) -> dict[str, Entry]:
    """The per-module results kept by the last run (empty: a cold run, everything is imported)."""
    def load() -> dict[str, Entry]:
        stored = ctx.store().load("importability", "per-module")
        return stored if isinstance(stored, dict) else {}

    return ctx.cached("stored_importability", load)  # read once: every decision of a run sees the same


def importability_keys(ctx: Context, scan: Any, files: list[str]) -> dict[str, str]:
    """Each module's key: its import closure's content, the environment and the backend's other files."""
    from conformance.checks.imports.closure import closure_keys, import_edges

    index, content = ctx.index(), ctx.content()
    backend = [rel for rel in (index.backend_rel(p) for p in index.backend_files()) if rel is not None]
    others = [rel for rel in backend if not rel.endswith(".py") and not rel.endswith(DOCS)]
    salt = digest(environment(ctx), sorted(rel for rel in backend if rel.endswith(".py")),
                  content.digest([index.rel(rel) for rel in others]), sorted(index.links_out.items()), ctx.backend)
    return closure_keys(import_edges(scan), lambda rel: content.of(index.rel(rel)), salt, files)


def reusable(stored: dict[str, Entry], keys: dict[str, str], files: list[str]) -> dict[str, Entry]:
    """The stored results whose module's key is unchanged."""
    return {rel: stored[rel] for rel in files
            if isinstance(stored.get(rel), tuple) and len(stored[rel]) == 3 and stored[rel][0] == keys[rel]}


def importability_merge(ctx: Context, files: list[str], keys: dict[str, str], reused: dict[str, Entry],
                        fresh: ImportabilityReport, ran: bool) -> ImportabilityReport:
    """The whole report from the reused results and the fresh run; keeps it for the next run."""
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
    if ran and fresh.error is None:
        entries = {rel: (keys[rel], rel in report.checked, report.failures.get(rel)) for rel in files}
        entries = {rel: entry for rel, entry in entries.items()
                   if entry[2] is None or entry[2].kind != "timeout"}  # a timeout may pass on a calmer machine
        ctx.store().save("importability", "per-module", entries)
    return report


def importability_results(ctx: Context, compute: Callable[[], tuple[ImportabilityReport, Any]]) -> Any:
    """The importability verdicts, kept whole while nothing the scan reads changed, when the run
    that made them was clean (no error, no module stopped for taking too long)."""
    results = _kept_importability_results(ctx)
    if results is MISS:
        report, results = compute()
        if report.error is None and all(f.kind != "timeout" for f in report.failures.values()):
            ctx.store().save("importability-results", scan_key(ctx), results)
    return results


def _kept_importability_results(ctx: Context) -> Any:
    return ctx.cached("kept_importability_results", lambda: ctx.store().load("importability-results", scan_key(ctx)))


def importability_results_kept(ctx: Context) -> bool:
    """Whether the importability verdicts of an unchanged tree are in the cache."""
    return _kept_importability_results(ctx) is not MISS


def describe(ctx: Context) -> str:
    """The report header's line about the cache."""
    store = ctx.store()
    if not store.enabled:
        return f"run cache off{': ' + ctx.cache_note if ctx.cache_note else ''}"
    return f"run cache in {store.directory} (--no-conformance-cache turns it off)"

