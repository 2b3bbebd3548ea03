"""Facts about the backend's own interpreter, asked once per session in one child process.

The backend may run on another Python with other pins than the suite. Which names are
stdlib, which are installed (and from which distribution) must come from that interpreter.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from conformance.proc.processes import ProcessTimeout, run

_PROBE = r"""
import importlib.metadata as md, importlib.util as iu, json, sys
names = json.loads(sys.argv[1])
installed = {}
for name in names:
    try:
        spec = iu.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    installed[name] = bool(spec and (spec.origin or spec.submodule_search_locations))
print(json.dumps({
    "version": sys.version.split()[0],
    "executable": sys.executable,
    "stdlib": sorted(sys.stdlib_module_names),
    "distributions": {k: sorted(set(v)) for k, v in md.packages_distributions().items()},
    "installed": installed,
    "paths": [p for p in sys.path if p],
}))
"""


def environment_fingerprint(python: str, paths: tuple[str, ...] | list[str]) -> str:
    """What the interpreter can import, cheaply: its real path and size, and the entries of every
    directory on its sys.path (distributions' dist-info names, top-level modules) with the text of
    the .pth files there (editable installs). Changes when a package is installed or removed."""
    h = hashlib.sha1()
    real = os.path.realpath(python)
    try:
        h.update(f"{real}\0{os.stat(real).st_size}\0".encode())
    except OSError:
        h.update(f"{real}\0missing\0".encode())
    for directory in paths:
        try:
            names = sorted(os.listdir(directory))
        except OSError as exc:
            h.update(f"{directory}\0unlistable {exc.errno}\0".encode())
            continue
        h.update(os.fsencode(directory) + b"\0" + "\0".join(names).encode("utf-8", "surrogateescape") + b"\1")
        for name in names:
            if name.endswith(".pth"):
                try:
                    h.update(Path(directory, name).read_bytes())
                except OSError:
                    h.update(b"unreadable")
    return h.hexdigest()


class InterpreterError(Exception):
    """The backend interpreter cannot be run."""


@dataclass(frozen=True)
class InterpreterInfo:
    python: str
    version: str = ""
    stdlib: frozenset[str] = frozenset()
    distributions: dict[str, list[str]] = field(default_factory=dict)  # import name -> distributions
    installed: dict[str, bool] = field(default_factory=dict)  # probed name -> importable outside the backend
    paths: tuple[str, ...] = ()  # the interpreter's sys.path (isolated mode): where installs land


def probe(python: str, names: list[str], timeout: float = 60.0) -> InterpreterInfo:
    """Run the probe under `python` from a neutral directory (the backend is not on sys.path)."""
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR", "SYSTEMROOT"}}
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONNOUSERSITE="1")
    with tempfile.TemporaryDirectory(prefix="conformance-probe-") as neutral:
        try:
            done = run([python, "-I", "-c", _PROBE, json.dumps(sorted(names))], cwd=neutral, env=env,
                       timeout=timeout)
        except FileNotFoundError:
            raise InterpreterError(f"backend interpreter {python} does not exist") from None
        except (ProcessTimeout, OSError) as exc:
            raise InterpreterError(f"backend interpreter {python} cannot run: {exc}") from None
    needs = "it must be a Python >= 3.10 interpreter (--backend-python)"
    if done.returncode != 0:
        said = done.error_text[-500:] or done.text.strip()[-500:] or "no output"
        raise InterpreterError(f"backend interpreter {python} exited with {done.returncode} on a short probe "
                               f"script ({said}); {needs}")
    try:
        data = json.loads(done.text)
        return InterpreterInfo(python=python, version=data["version"], stdlib=frozenset(data["stdlib"]),
                               distributions=data["distributions"], installed=data["installed"],
                               paths=tuple(data.get("paths", ())))
    except (ValueError, KeyError, TypeError):
        said = done.text.strip()[-200:] or "no output"
        raise InterpreterError(f"backend interpreter {python} did not answer a short probe script "
                               f"({said}); {needs}") from None
