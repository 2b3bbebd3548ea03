"""Facts about the backend's own interpreter, asked once per session in one child process.

The backend may run on another Python with other pins than the suite. Which names are
stdlib, which are installed (and from which distribution) must come from that interpreter.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field

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
}))
"""


class InterpreterError(Exception):
    """The backend interpreter cannot be run."""


@dataclass(frozen=True)
class InterpreterInfo:
    python: str
    version: str = ""
    stdlib: frozenset[str] = frozenset()
    distributions: dict[str, list[str]] = field(default_factory=dict)  # import name -> distributions
    installed: dict[str, bool] = field(default_factory=dict)  # probed name -> importable outside the backend


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
                               distributions=data["distributions"], installed=data["installed"])
    except (ValueError, KeyError, TypeError):
        said = done.text.strip()[-200:] or "no output"
        raise InterpreterError(f"backend interpreter {python} did not answer a short probe script "
                               f"({said}); {needs}") from None
