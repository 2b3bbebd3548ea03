"""Which backend modules a module's import may run: its static import closure, as one content key.

Importability results are reused between runs only while nothing a module's import can execute
has changed. The import graph here is deliberately wide: every import statement counts (lazy,
guarded and TYPE_CHECKING ones too), every prefix of an imported name (`a.b.c` runs a/__init__.py
and a/b/__init__.py), the names of `from m import x` that are submodules, and the module's own
parent packages. Strongly connected components (import cycles) share one key; a module's key
is its component's, which covers its own source and the keys of every component it reaches.
Linear in modules plus imports.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

from conformance.checks.imports.scan import ImportScan, module_name


def _package_of(name: str, rel: str) -> str:
    return name if rel.endswith("__init__.py") or rel == "__init__.py" else name.rpartition(".")[0]


def import_edges(scan_: ImportScan) -> dict[str, set[str]]:
    """Backend file -> the backend files its import may execute (directly)."""
    files = scan_.table.files
    edges: dict[str, set[str]] = {}
    for rel, source in scan_.sources.items():
        name = module_name(rel)
        targets: set[str] = set()
        if name is not None:
            parts = name.split(".")
            targets.update(files[p] for p in (".".join(parts[:i]) for i in range(1, len(parts))) if p in files)
        for stmt in source.imports:
            if stmt.level:
                if name is None:
                    continue
                base = _package_of(name, rel).split(".") if _package_of(name, rel) else []
                base = base[: len(base) - (stmt.level - 1)] if stmt.level > 1 else base
                full = ".".join([*base, *([stmt.module] if stmt.module else [])])
            else:
                full = stmt.module
            if not full:
                continue
            parts = full.split(".")
            candidates = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
            candidates += [f"{full}.{n}" for n in stmt.names if n != "*"]
            targets.update(files[c] for c in candidates if c in files)
        targets.discard(rel)
        edges[rel] = targets
    for targets in list(edges.values()):
        for target in targets:
            edges.setdefault(target, set())  # a file that was not parsed is still a node
    return edges


def closure_keys(edges: dict[str, set[str]], own: Callable[[str], str], salt: str,
                 wanted: Iterable[str]) -> dict[str, str]:
    """rel -> key of its whole import closure (own content ids and every reachable module's)."""
    component = _components(edges)
    members: dict[int, list[str]] = {}
    for rel, comp in component.items():
        members.setdefault(comp, []).append(rel)
    keys: dict[int, str] = {}
    # Tarjan numbers components in reverse topological order: successors come first.
    for comp in sorted(members):
        h = hashlib.sha1(salt.encode())
        for rel in sorted(members[comp]):
            h.update(rel.encode("utf-8", "surrogateescape") + b"\0" + own(rel).encode() + b"\0")
        successors = {component[t] for rel in members[comp] for t in edges.get(rel, ()) if component[t] != comp}
        for succ in sorted(keys[s] for s in successors):
            h.update(succ.encode())
        keys[comp] = h.hexdigest()
    result = {}
    for rel in wanted:
        if rel in component:
            result[rel] = keys[component[rel]]
        else:  # not parsed (unreadable, a symlink out): its own id only
            result[rel] = hashlib.sha1(f"{salt}\0{rel}\0{own(rel)}".encode("utf-8", "surrogateescape")).hexdigest()
    return result


def _components(edges: dict[str, set[str]]) -> dict[str, int]:
    """Tarjan's strongly connected components, iteratively; numbers in reverse topological order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    component: dict[str, int] = {}
    counter = components = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in edges:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component[member] = components
                    if member == node:
                        break
                components += 1
    return component
