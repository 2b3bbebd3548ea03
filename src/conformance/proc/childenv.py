"""The environment of every child process the suite starts (backend interpreter, child pytest).

It is built from an ALLOWLIST, not a blocklist: the developer's or CI's shell holds secrets and
settings under names nobody can enumerate (DATABASE_URL, REDIS_URL, AWS_*, *_TOKEN, GIT_*,
PYTHONPATH, VIRTUAL_ENV, PYTEST_ADDOPTS, ...). A blocklist misses the next one, and a backend
imported under them would reach real services or behave differently than in CI. The only
variables a child sees are the few the OS and locale need plus what the spec sets explicitly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from conformance.model.spec import NetworkSpec
from conformance.proc.dbguard import GUARD_DIR, GUARD_ENV, Guard
from conformance.proc.nodeguard import node_guard_defaults

KEEP = frozenset({
    "PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM", "USER", "LOGNAME", "SHELL", "SYSTEMROOT",
})
KEEP_PREFIXES = ("LC_",)

# Never overridable: importing the backend's modules must not write __pycache__ into its tree.
FORCED = {"PYTHONDONTWRITEBYTECODE": "1"}


def kept(name: str) -> bool:
    return name in KEEP or name.startswith(KEEP_PREFIXES)


def child_env(extra: Mapping[str, str] | None = None, *, python_path: Sequence[Path] = (),
              guard: Guard | None = None) -> dict[str, str]:
    """The allowlisted parent environment, Python's safety settings, then the spec's `extra`.

    `extra` overrides everything except PYTHONDONTWRITEBYTECODE and the guard; a PYTHONPATH in
    `extra` is appended after `python_path` instead of replacing it, so the backend root stays
    importable. With `guard` (every child that runs backend code), the database guard's
    sitecustomize comes first on PYTHONPATH, so it loads before any backend code in that child
    and in every Python process it starts.
    """
    env = {name: value for name, value in os.environ.items() if kept(name)}
    env["PYTHONNOUSERSITE"] = "1"
    extra = dict(extra or {})
    extra.pop(GUARD_ENV, None)
    paths = ([str(GUARD_DIR)] if guard is not None else []) + [str(p) for p in python_path]
    if extra.get("PYTHONPATH"):
        paths.append(extra["PYTHONPATH"])
    extra.pop("PYTHONPATH", None)
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    env.update(extra)
    env.update(FORCED)
    # any node started: loopback only (the spec's network policy), never a protected port
    env.update(node_guard_defaults(env.get("NODE_OPTIONS", ""), guard.network if guard else NetworkSpec()))
    if guard is not None:
        env[GUARD_ENV] = guard.env_value()
    return env
