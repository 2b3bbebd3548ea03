"""A start script that listens somewhere other than the PORT it was given (rule `deploy`).

Production hands the port to the script in PORT; a script with `--port 8000` written into it
still starts, just not where the platform's health check looks. While the check waits for the
health URL it reads what the script's processes listen on (listensockets.py): once they serve
HTTP on another port, it stops waiting and names the address and the script line that sets it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from conformance.runtime.app_server import http_get
from conformance.checks.deploy.common import DEPLOY
from conformance.model.findings import Finding
from conformance.runtime.listensockets import Listener, listening_sockets

SETTLE_SECONDS = 3.0  # how long the group must listen only elsewhere before the check gives up waiting
PORT_WORDS = re.compile(r"--port\b|--bind\b|(?:^|\s)-[bp]\s|\bPORT\w*\s*=|\bport\s*=|:\s*\d+\b", re.IGNORECASE)


def elsewhere(listeners: Iterable[Listener], port: int) -> list[Listener]:
    """The sockets of a group that listens, but not on `port` (empty when it listens on `port`)."""
    items = sorted(set(listeners))
    return [] if any(item.port == port for item in items) else items


@dataclass
class PortWatch:
    """A give-up test for the health poll: True once the group has listened only on other ports for
    `settle` seconds and one of them answers HTTP at `health_path` (so it is the server, not a
    side process that opened a port before a slow migration). `seen` keeps the last sockets."""

    pids: Callable[[], list[int]]
    port: int
    health_path: str
    settle: float = SETTLE_SECONDS
    seen: list[Listener] = field(default_factory=list)
    _since: float | None = None

    def __call__(self) -> bool:
        self.seen = elsewhere(listening_sockets(self.pids()), self.port)
        if not self.seen:
            self._since = None
            return False
        now = time.monotonic()
        self._since = self._since if self._since is not None else now
        if now - self._since < self.settle:
            return False
        return any(http_get(f"http://{item.loopback_host}:{item.port}{self.health_path}", timeout=2) is not None
                   for item in self.seen)


def port_line(script_text: str, bound: int) -> int | None:
    """The line of the script most likely to set the port it bound: the literal number beside a
    port option or assignment first, never a comment or a `${PORT:-8000}` default (that one is
    not used when PORT is set)."""
    literal = re.compile(rf"(?<![\w.]){bound}(?![\w.])")
    best: tuple[int, int] | None = None
    for number, text in enumerate(script_text.splitlines(), 1):
        code = text.split(" #", 1)[0]
        if code.lstrip().startswith("#") or not literal.search(code):
            continue
        if not literal.search(re.sub(r"\$\{[^}]*\}", "", code)):
            continue  # only inside ${VAR:-8000}
        score = 2 if PORT_WORDS.search(code) else 1
        if best is None or score > best[0]:
            best = (score, number)
    return best[1] if best else None


def misbound_finding(script: str, script_text: str, listeners: list[Listener], port: int,
                     phase: int | None) -> Finding:
    """listens on 0.0.0.0:8000, not on the PORT it was given, at the line that sets it."""
    shown = ", ".join(item.shown for item in listeners)
    bound = listeners[0].port
    line = port_line(script_text, bound)
    setting = script_text.splitlines()[line - 1].strip().rstrip("\\").rstrip() if line else ""
    where = (f"the port is set here: {setting}" if line else
             f"no line of {script} names {bound}: it comes from the server's own default or a config file")
    fix = ("take the port from the environment: "
           + (f"write \"${{PORT:-{bound}}}\" instead of {bound} at line {line}" if line else
              "give the server --port \"${PORT:-8000}\" (gunicorn: --bind \"0.0.0.0:${PORT:-8000}\")")
           + "; production sets PORT, [tool.conformance.deploy] env sets it for this check")
    return DEPLOY.finding(script, f"listens on {shown}, not on the PORT it was given ({port}); {where}",
                          fix, line=line, phase=phase, subject="port")
