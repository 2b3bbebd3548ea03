"""Unit tests of what the start-script run relies on, without running a script: the install
stand-ins' decisions and line matching (installguard.py, data/install_shim.py), the /proc socket
parser (listensockets.py) and the port-line finder (boundport.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.checks.deploy.bound_port import elsewhere, misbound_finding, port_line
from conformance.data.install_shim import BLOCK, FORWARD, RUN, decide, family
from conformance.checks.deploy.install_guard import InstallCall, check_installs, install_lines, make_guard, match_calls, read_calls
from conformance.runtime.listensockets import Listener, listening_sockets, parse_address, parse_tcp_table, socket_inode

# --------------------------------------------------------------------------------------------
# install stand-ins


@pytest.mark.parametrize(("tool", "args", "action"), [
    ("pip", ["install", "-r", "requirements.txt"], BLOCK),
    ("pip", ["--disable-pip-version-check", "install", "x"], BLOCK),
    ("pip", ["--python", "/x/python", "install", "x"], BLOCK),
    ("pip", ["uninstall", "-y", "x"], BLOCK),
    ("pip", ["download", "x"], BLOCK),
    ("pip", ["freeze"], FORWARD),
    ("pip", ["-q", "list"], FORWARD),
    ("pip", ["--version"], FORWARD),
    ("pip", [], FORWARD),
    ("pip", ["--bogus"], BLOCK),
    ("uv", ["pip", "install", "x"], BLOCK),
    ("uv", ["sync"], BLOCK),
    ("uv", ["--directory", "app", "sync"], BLOCK),
    ("uv", ["pip", "freeze"], FORWARD),
    ("uv", ["--version"], FORWARD),
    ("uv", ["run", "uvicorn", "main:app"], RUN),
    ("poetry", ["install", "--no-root"], BLOCK),
    ("poetry", ["run", "uvicorn", "main:app"], RUN),
    ("poetry", ["env", "info"], FORWARD),
    ("poetry", ["env", "use", "3.11"], BLOCK),
    ("pipenv", ["install", "--deploy"], BLOCK),
    ("pipenv", ["--python", "3.11", "install"], BLOCK),
    ("pipenv", ["run", "python", "x.py"], RUN),
    ("pipx", ["install", "x"], BLOCK),
    ("pipx", ["--version"], FORWARD),
])
def test_stand_in_decisions(tool, args, action):
    assert decide(tool, args) == action


def test_tool_families():
    assert [family(name) for name in ("pip", "pip3", "pip3.11", "/venv/bin/pip", "uv", "pipenv", "pipx",
                                      "pipe", "python", "uvicorn")] == \
        ["pip", "pip", "pip", "pip", "uv", "pipenv", "pipx", None, None, None]


SCRIPT = """\
#!/usr/bin/env bash
set -euo pipefail
cd "$(dirname "$0")"
pip install -r requirements.txt
"$PYTHON" -m pip install ./vendor/canarypkg
if [ ! -d .venv ]; then python3 -m venv .venv && .venv/bin/pip install -q -r requirements.txt; fi
# pip install nothing-in-a-comment
pip freeze > logs/freeze.txt
echo "pip install is not run by echo"
PIP_NO_CACHE_DIR=1 exec uv sync --frozen
exec "$PYTHON" -m uvicorn main:app --port "${PORT:-8000}"
"""


def test_install_lines_are_read_from_the_script():
    assert [(line.line, line.program, line.args) for line in install_lines(SCRIPT)] == [
        (4, "pip", ("install", "-r", "requirements.txt")),
        (5, "python -m pip", ("install", "./vendor/canarypkg")),
        (6, "pip", ("install", "-q", "-r", "requirements.txt")),
        (10, "uv", ("sync", "--frozen")),
    ]


def _call(program, *args, action=BLOCK, tool="pip"):
    return InstallCall(tool, program, tuple(args), "/sandbox/backend", action)


def test_calls_are_matched_to_lines_by_program_and_arguments():
    lines = install_lines(SCRIPT)
    calls = [_call("pip", "install", "-r", "requirements.txt"), _call("python -m pip", "install", "./vendor/canarypkg"),
             _call("pip", "freeze", action=FORWARD), _call("pip3", "install", "other"),
             _call("uv", "sync", tool="uv")]
    paired, unmatched = match_calls(lines, calls)
    # pip3 install other: no line shows it, the unpaired pip install line takes it (same subcommand)
    assert {i: c.command for i, c in paired.items()} == {0: "pip install -r requirements.txt",
                                                        1: "'python -m pip' install ./vendor/canarypkg",
                                                        2: "pip3 install other", 3: "uv sync"}
    assert unmatched == []
    paired, unmatched = match_calls(lines[:1], [_call("pip", "install", "x"), _call("pip", "install", "y")])
    assert [c.args for c in unmatched] == [("install", "y")]


def test_one_finding_lists_every_install_line():
    calls = [_call("pip", "install", "-r", "requirements.txt"), _call("python -m pip", "install", "./vendor/canarypkg")]
    [finding] = check_installs("backend/start_production.sh", SCRIPT, calls, 4).errors
    assert finding.render() == (
        "backend/start_production.sh:4 installs packages at start-up: "
        "line 4: pip install -r requirements.txt (stopped by the check); "
        "line 5: $PYTHON -m pip install ./vendor/canarypkg (stopped by the check); "
        "line 6: .venv/bin/pip install -q -r requirements.txt (not seen in this run); "
        "line 10: PIP_NO_CACHE_DIR=1 exec uv sync --frozen (not seen in this run). "
        "It changes the interpreter of whoever runs it (here the backend's own environment) and makes every start "
        "depend on the package index; install at build time: Dockerfile/CI, not at start-up\n"
        '  rule: deploy (phase 4) - "Phase 4.3: Update deployment scripts"\n'
        "  fix:  remove the installs from backend/start_production.sh (lines 4, 5, 6, 10) and install at build "
        "time: `RUN pip install -r requirements.txt` in the Dockerfile, or a CI step before deploying")


def test_a_script_without_installs_passes():
    text = "#!/bin/sh\npip freeze\npython -m pip --version\nexec uvicorn main:app --port \"$PORT\"\n"
    assert check_installs("backend/start.sh", text, [_call("pip", "freeze", action=FORWARD)]).findings == []


def test_an_install_no_line_shows_is_still_reported():
    [finding] = check_installs("backend/start.sh", "#!/bin/sh\n./setup.sh\n", [_call("pip", "install", "x")]).errors
    assert finding.location == "backend/start.sh"
    assert "installs packages at start-up: pip install x (run from /sandbox/backend, by a program the script " \
           "started; stopped by the check)" in finding.message


def test_stand_ins_stop_installs_and_forward_read_only_calls(tmp_path):
    """The stand-ins themselves, run as the start script would run them."""
    guard = make_guard(tmp_path / "guard")
    env = {"PATH": os.pathsep.join([str(guard.bin), str(Path(sys.executable).parent), "/usr/bin:/bin"]),
           "PYTHONPATH": str(guard.python_path), **guard.env}
    for command in (["pip", "install", "nothing-here"], [sys.executable, "-m", "pip", "install", "nothing-here"],
                    ["pip3", "uninstall", "-y", "nothing-here-either"]):
        done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "conformance: stopped" in done.stderr, done.stderr
    done = subprocess.run([sys.executable, "-m", "pip", "--version"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("pip "), done.stderr
    assert [(c.program, c.args, c.action) for c in read_calls(guard.report)] == [
        ("pip", ("install", "nothing-here"), BLOCK), ("python -m pip", ("install", "nothing-here"), BLOCK),
        ("pip3", ("uninstall", "-y", "nothing-here-either"), BLOCK), ("python -m pip", ("--version",), FORWARD)]


# --------------------------------------------------------------------------------------------
# listening sockets

TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0 100 0 0 10 0
   1: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000   107        0 10347 1 0 100 0 0 10 0
   2: 0100007F:1F40 0100007F:D2C4 01 00000000:00000000 00:00000000 00000000  1000        0 4243 1 0 20 4 30 10 -1
"""
TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F41 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 5000 1 0 100 0 0 10 0
   1: 00000000000000000000000001000000:1111 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 5740 1 0 100 0 0 10 0
   2: 0000000000000000FFFF00000100007F:1F42 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 5001 1 0 100 0 0 10 0
"""  # noqa: E501 - /proc's own layout


def test_proc_net_tcp_is_parsed():
    assert parse_address("0100007F:1F40") == ("127.0.0.1", 8000)
    assert parse_tcp_table(TCP) == [Listener("0.0.0.0", 8000, 4242), Listener("127.0.0.1", 3306, 10347)]
    assert parse_tcp_table(TCP6) == [Listener("::", 8001, 5000), Listener("::1", 4369, 5740),
                                     Listener("127.0.0.1", 8002, 5001)]
    assert [item.shown for item in parse_tcp_table(TCP6)] == ["[::]:8001", "[::1]:4369", "127.0.0.1:8002"]
    assert socket_inode("socket:[4242]") == 4242 and socket_inode("pipe:[1]") is None
    assert parse_tcp_table("header only\n  0: garbage\n") == []


def test_elsewhere_is_empty_once_the_given_port_listens():
    items = [Listener("0.0.0.0", 8000), Listener("127.0.0.1", 9100)]
    assert elsewhere(items, 5555) == items
    assert elsewhere(items, 9100) == []
    assert elsewhere([], 5555) == []


def test_listening_sockets_of_this_process():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        found = listening_sockets([os.getpid()])
    assert [(item.address, item.port) for item in found if item.port == port] == [("127.0.0.1", port)]
    assert listening_sockets([999_999_999]) == []


# --------------------------------------------------------------------------------------------
# the line that sets the port

PORT_SCRIPT = """\
#!/bin/sh
# serves on 8000 in production
APP_PORT_DEFAULT="${PORT:-8000}"
echo "starting on 8000"
exec uvicorn main:app --host 0.0.0.0 \\
    --port 8000 \\
    --workers 2
"""


def test_port_line_prefers_the_option_over_comments_defaults_and_echo():
    assert port_line(PORT_SCRIPT, 8000) == 6
    assert port_line("exec gunicorn -b 0.0.0.0:8000 main:app\n", 8000) == 1
    assert port_line('exec uvicorn main:app --port "${PORT:-8000}"\n', 8000) is None
    assert port_line("exec uvicorn main:app --port 18000\n", 8000) is None


def test_misbound_finding_names_address_line_and_fix():
    finding = misbound_finding("backend/start_production.sh", PORT_SCRIPT, [Listener("0.0.0.0", 8000)], 5555, 4)
    assert finding.render() == (
        "backend/start_production.sh:6 listens on 0.0.0.0:8000, not on the PORT it was given (5555); "
        "the port is set here: --port 8000\n"
        '  rule: deploy (phase 4) - "Phase 4.3: Update deployment scripts"\n'
        '  fix:  take the port from the environment: write "${PORT:-8000}" instead of 8000 at line 6; production '
        "sets PORT, [tool.conformance.deploy] env sets it for this check")
    unknown = misbound_finding("backend/s.sh", "exec uvicorn main:app\n", [Listener("127.0.0.1", 8000)], 5555, 4)
    assert unknown.location == "backend/s.sh"
    assert unknown.message.endswith("no line of backend/s.sh names 8000: it comes from the server's own default "
                                    "or a config file")
