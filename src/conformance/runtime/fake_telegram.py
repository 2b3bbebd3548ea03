"""A small in-process fake of the Telegram Bot API, for running bot workers in tests.

It serves `http://127.0.0.1:<port>/bot<token>/<method>` like api.telegram.org does (workers that
talk to https://api.telegram.org reach it through the Node.js guard, data/node_guard.cjs, which
re-targets their requests here), answers with the real API's JSON envelope
(`{"ok": true, "result": ...}` / `{"ok": false, "error_code": ..., "description": ...}`), and
implements what node-telegram-bot-api, telegraf and grammY need to start and poll:

- getMe, getWebhookInfo, getMyCommands, deleteWebhook and harmless setters and actions
  (setMyCommands, sendChatAction, ...) that answer `true`; other methods answer Telegram's
  404 "Not Found" error;
- getUpdates: long poll honouring `offset` (confirms earlier updates; negative: the last ones),
  `limit` and `timeout` (capped at `max_poll` seconds so a test never hangs on it);
- sendMessage: recorded as `{"token", "chat_id", "text"}` for the test to wait on.

Parameters are read from the query string and from a JSON, urlencoded or multipart/form-data
body (plain or chunked), as Telegram accepts: the libraries differ in what they send.

    with FakeTelegram() as telegram:
        ...start the worker with TELEGRAM_API_BASE=telegram.url...
        telegram.queue_message("123:ABC", chat_id=42, user_id=42, text="hi")
        sent = telegram.wait_for_sent(lambda m: m["chat_id"] == 42, timeout=10)
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SentMessage = dict[str, Any]

# Methods a bot may call on start-up that need no behaviour here: answered with `true`.
TRIVIAL_METHODS = frozenset({
    "deletewebhook", "setwebhook", "setmycommands", "deletemycommands", "setmydescription",
    "setmyshortdescription", "setmyname", "sendchataction", "answercallbackquery", "logout", "close",
})


@dataclass
class Call:
    """One request the fake answered (what a failure message can show)."""

    token: str
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


class FakeTelegram:
    """The fake Bot API server; a context manager that starts and cleanly stops it."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, max_poll: float = 5.0):
        self.max_poll = max_poll
        self._lock = threading.Condition()
        self._closing = False
        self._next_update_id = 1000
        self._next_message_id = 1
        self._updates: dict[str, list[dict[str, Any]]] = {}
        self.sent: list[SentMessage] = []
        self.calls: list[Call] = []
        self._server = _Server((host, port), _handler_for(self))
        self.port = int(self._server.server_address[1])
        self.url = f"http://{host}:{self.port}"
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> FakeTelegram:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"fake-telegram-{self.port}", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Wake every long poll, stop serving, close the socket; idempotent."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            self._lock.notify_all()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what a test drives --------------------------------------------------------------------
    def api_base(self) -> str:
        """The value for a worker's API base setting (the real one is https://api.telegram.org)."""
        return self.url

    def queue_message(self, token: str, chat_id: int, user_id: int, text: str,
                      username: str = "conformance_user") -> int:
        """Queue a private text message from `user_id` for the bot `token`; returns its update_id."""
        with self._lock:
            update_id = self._next_update_id
            self._next_update_id += 1
            message_id = self._next_message_id
            self._next_message_id += 1
            self._updates.setdefault(token, []).append({
                "update_id": update_id,
                "message": {
                    "message_id": message_id,
                    "date": int(time.time()),
                    "chat": {"id": chat_id, "type": "private", "first_name": "Conformance",
                             "username": username},
                    "from": {"id": user_id, "is_bot": False, "first_name": "Conformance",
                             "username": username, "language_code": "en"},
                    "text": text,
                },
            })
            self._lock.notify_all()
        return update_id

    def wait_for_sent(self, predicate: Callable[[SentMessage], bool], timeout: float) -> SentMessage | None:
        """The first sendMessage matching `predicate`, waiting up to `timeout` seconds; else None."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for message in self.sent:
                    if predicate(message):
                        return message
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closing:
                    return None
                self._lock.wait(remaining)

    def wait_for_call(self, method: str, timeout: float, token: str | None = None) -> Call | None:
        """The first call of `method` (optionally by `token`), waiting up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        wanted = method.lower()
        with self._lock:
            while True:
                for call in self.calls:
                    if call.method.lower() == wanted and (token is None or call.token == token):
                        return call
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closing:
                    return None
                self._lock.wait(remaining)

    def polling_tokens(self) -> list[str]:
        """The bots that called getUpdates so far, in the order they first did (a master runs several)."""
        with self._lock:
            return list(dict.fromkeys(c.token for c in self.calls if c.method.lower() == "getupdates" and c.token))

    def pending(self, token: str) -> int:
        """Updates queued for `token` that the bot has not confirmed yet."""
        with self._lock:
            return len(self._updates.get(token, []))

    def summary(self) -> str:
        """One line for failure messages: which methods were called how often."""
        with self._lock:
            counts: dict[str, int] = {}
            for call in self.calls:
                counts[call.method] = counts.get(call.method, 0) + 1
        if not counts:
            return "the fake Telegram API received no request"
        return "the fake Telegram API received: " + ", ".join(f"{m} x{n}" for m, n in counts.items())

    # -- the API -------------------------------------------------------------------------------
    def handle(self, token: str, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.calls.append(Call(token, method, params))
            self._lock.notify_all()
        name = method.lower()
        if not token:
            return 401, _error(401, "Unauthorized")
        if name == "getme":
            return 200, _ok(self._bot(token))
        if name == "getwebhookinfo":
            return 200, _ok({"url": "", "has_custom_certificate": False, "pending_update_count": self.pending(token)})
        if name == "getmycommands":
            return 200, _ok([])
        if name == "getupdates":
            return self._get_updates(token, params)
        if name == "sendmessage":
            return self._send_message(token, params)
        if name in TRIVIAL_METHODS:
            return 200, _ok(True)
        return 404, _error(404, "Not Found")

    def _bot(self, token: str) -> dict[str, Any]:
        head = token.split(":", 1)[0]
        bot_id = int(head) if head.isdigit() else 1
        return {"id": bot_id, "is_bot": True, "first_name": "Conformance Bot", "username": f"conformance_{bot_id}_bot",
                "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}

    def _get_updates(self, token: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        try:
            offset = int(params.get("offset") or 0)
            limit = min(max(int(params.get("limit") or 100), 1), 100)
            timeout = max(float(params.get("timeout") or 0), 0.0)
        except (TypeError, ValueError):
            return 400, _error(400, "Bad Request: wrong parameter type")
        deadline = time.monotonic() + min(timeout, self.max_poll)
        with self._lock:
            while True:
                queue = self._updates.setdefault(token, [])
                if offset > 0:
                    # Like Telegram: an offset confirms every update with a lower id.
                    queue[:] = [u for u in queue if u["update_id"] >= offset]
                if queue or self._closing:
                    return 200, _ok(list(queue[offset:] if offset < 0 else queue[:limit]))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return 200, _ok([])
                self._lock.wait(remaining)

    def _send_message(self, token: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        chat_id = params.get("chat_id")
        text = params.get("text")
        if chat_id in (None, ""):
            return 400, _error(400, "Bad Request: chat_id is empty")
        if not isinstance(text, str) or not text:
            return 400, _error(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return 400, _error(400, "Bad Request: message is too long")
        if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
            chat_id = int(chat_id)
        with self._lock:
            message_id = self._next_message_id
            self._next_message_id += 1
            self.sent.append({"token": token, "chat_id": chat_id, "text": text})
            self._lock.notify_all()
        return 200, _ok({"message_id": message_id, "date": int(time.time()), "text": text,
                         "chat": {"id": chat_id, "type": "private"}, "from": self._bot(token)})


def _multipart_fields(content_type: str, raw: bytes) -> dict[str, Any]:
    """The text fields of a multipart/form-data body (file parts are named, not kept)."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + raw)
    if not message.is_multipart():
        raise ValueError("malformed multipart/form-data body")
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        if part.get_filename():
            fields[name] = f"<file {part.get_filename()}>"
            continue
        payload = part.get_payload(decode=True)
        fields[name] = payload.decode(part.get_content_charset() or "utf-8", "replace") \
            if isinstance(payload, bytes) else ""
    return fields


def _ok(result: Any) -> dict[str, Any]:
    return {"ok": True, "result": result}


def _error(code: int, description: str) -> dict[str, Any]:
    return {"ok": False, "error_code": code, "description": description}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def _handler_for(fake: FakeTelegram) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: nothing lingers at shutdown

        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            self._serve()

        def do_POST(self) -> None:  # noqa: N802
            self._serve()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
            pass

        def _serve(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            parts = url.path.strip("/").split("/")
            if len(parts) != 2 or not parts[0].startswith("bot"):
                self._reply(404, _error(404, "Not Found"))
                return
            try:
                params = self._params(url.query)
            except ValueError as exc:
                self._reply(400, _error(400, f"Bad Request: {exc}"))
                return
            status, body = fake.handle(parts[0][3:], parts[1], params)
            self._reply(status, body)

        def _params(self, query: str) -> dict[str, Any]:
            params: dict[str, Any] = {k: v[-1] for k, v in urllib.parse.parse_qs(query).items()}
            raw = self._body()
            if not raw:
                return params
            content_type = self.headers.get("Content-Type") or ""
            kind = content_type.split(";")[0].strip().lower()
            if kind == "application/json":
                try:
                    body = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    raise ValueError(f"invalid JSON body: {exc}") from None
                if not isinstance(body, dict):
                    raise ValueError("the JSON body must be an object")
                params.update(body)
            elif kind == "application/x-www-form-urlencoded":
                params.update({k: v[-1] for k, v in urllib.parse.parse_qs(raw.decode("utf-8")).items()})
            elif kind == "multipart/form-data":
                params.update(_multipart_fields(content_type, raw))
            return params

        def _body(self) -> bytes:
            """The request body: Content-Length bytes, or chunked (node streams send that)."""
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline().strip():  # trailers
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length > 0 else b""

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode("utf-8")
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the worker gave up on the request (stopping): nothing to answer

    return Handler
