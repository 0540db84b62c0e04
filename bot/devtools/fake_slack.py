"""A local fake of the Slack Web API that records every call and answers like Slack.

Point a WebClient at ``FakeSlack.url`` (the ``SLACK_API_URL`` setting). It answers the methods
itbot uses with Slack's shapes, keeps the messages it was sent (so a conversation can be read
back), and can be told to fail: ``fail_next`` gives ``{"ok": false, "error": ...}`` and
``rate_limit_next`` a 429 with ``Retry-After``, exactly as Slack does; ``outage`` answers a method with 429s
and 500s for a while, and ``slow`` delays its answers (to one channel, say) as an overloaded Slack would.

Given an app-level token (``app_token="xapp-…"``), it also plays Slack's side of Socket Mode:
``apps.connections.open`` (with that token only) returns the ``ws://`` URL of ``FakeSlack.socket``, a
``SocketModePeer`` that greets the app, sends it envelopes and reads its acks.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl

from bot.devtools.fake_slack_methods import APP_LEVEL_METHODS, METHODS, SlackState
from bot.devtools.socket_peer import SocketModePeer


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str | None
    at: float = field(default_factory=time.monotonic)
    status: int = 200
    response: dict[str, Any] = field(default_factory=dict)


class FakeSlack:
    def __init__(self, *, bot_token: str = "xoxb-itbot-demo", team_id: str = "T0ITBOT", bot_user_id: str = "U0ITBOT",
                 app_token: str | None = None, app_id: str = "A0ITBOT"):
        self.state = SlackState(bot_token=bot_token, team_id=team_id, bot_user_id=bot_user_id)
        self.app_token = app_token
        self.socket: SocketModePeer | None = SocketModePeer(app_id=app_id) if app_token else None
        self.calls: list[Call] = []
        self._faults: dict[str, list[tuple[int, dict[str, Any], dict[str, str]]]] = {}
        self._outages: dict[str, tuple[float, int]] = {}   # method → (until, Retry-After)
        # (method, which calls, seconds, after acting on the call: the effect is there, the answer late)
        self._delays: list[tuple[str, Callable[[dict[str, Any]], bool], float, bool]] = []
        self._lock = threading.Condition()
        self._server: ThreadingHTTPServer | None = None

    # lifecycle ----------------------------------------------------------------
    def start(self) -> "FakeSlack":
        handler = _make_handler(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="fake-slack", daemon=True).start()
        if self.socket:
            self.state.socket_url = self.socket.start().issue_url
        return self

    def stop(self) -> None:
        if self.socket:
            self.socket.stop()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FakeSlack":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server, "FakeSlack is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    # programming faults -------------------------------------------------------
    def fail_next(self, method: str, error: str, *, times: int = 1, status: int = 200) -> None:
        with self._lock:
            self._faults.setdefault(method, []).extend([(status, {"ok": False, "error": error}, {})] * times)

    def rate_limit_next(self, method: str, *, retry_after: int = 1, times: int = 1) -> None:
        reply = (429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})
        with self._lock:
            self._faults.setdefault(method, []).extend([reply] * times)

    def outage(self, method: str, seconds: float, *, retry_after: int = 1) -> None:
        """For the next ``seconds``, answer ``method`` with 429 (``Retry-After``) and 500, in turn."""
        with self._lock:
            self._outages[method] = (time.monotonic() + seconds, retry_after)

    def slow(self, method: str, seconds: float, *, when: Callable[[dict[str, Any]], bool] = lambda args: True,
             after: bool = False) -> None:
        """Answer calls of ``method`` whose arguments match ``when`` only after ``seconds``: before acting on
        them, or (``after``) once the call has taken effect, so a caller may die before it hears so."""
        with self._lock:
            self._delays.append((method, when, seconds, after))

    def clear_slow(self) -> None:
        with self._lock:
            self._delays.clear()

    def _outage_reply(self, method: str) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        until, retry_after = self._outages.get(method, (0.0, 0))
        if time.monotonic() >= until:
            return None
        if sum(1 for c in self.calls if c.method == method and c.status != 200) % 2 == 0:
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)}
        return 500, {"ok": False, "error": "internal_error"}, {}

    def delay(self, method: str, args: dict[str, Any], *, after: bool = False) -> float:
        with self._lock:
            return max((s for m, when, s, late in self._delays if m == method and late == after and when(args)),
                       default=0.0)

    # reading back -------------------------------------------------------------
    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, predicate: Callable[[Call], bool] | str, *, after: int = 0, timeout: float = 15.0) -> Call:
        """Wait for a call (by method name or predicate) at index >= ``after``; AssertionError on timeout."""
        match = (lambda c: c.method == predicate) if isinstance(predicate, str) else predicate
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for call in self.calls[after:]:
                    if match(call):
                        return call
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = ", ".join(c.method for c in self.calls[after:]) or "none"
                    raise AssertionError(f"no matching Slack call within {timeout}s (calls seen: {seen})")
                self._lock.wait(remaining)

    def wait_quiet(self, *, after: int, quiet: float = 0.25, timeout: float = 10.0) -> list[Call]:
        """Wait until at least one call after ``after`` arrived and then none for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while time.monotonic() < deadline:
                if len(self.calls) > after and time.monotonic() - self.calls[-1].at >= quiet:
                    break
                self._lock.wait(0.05)
            return list(self.calls[after:])

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        return self.state.messages_in(channel)

    # request handling (called from the server threads) -----------------------
    def handle(self, method: str, args: dict[str, Any], token: str | None) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            fault = self._faults.get(method)
            outage = self._outage_reply(method)
            if fault:
                status, body, headers = fault.pop(0)
            elif outage:
                status, body, headers = outage
            elif refused := self._refuse_token(method, token):
                status, body, headers = 200, {"ok": False, "error": refused}, {}
            elif method not in METHODS:
                status, body, headers = 200, {"ok": False, "error": "unknown_method"}, {}
            else:
                status, body, headers = 200, METHODS[method](self.state, args), {}
            self.calls.append(Call(method, args, token, status=status, response=body))
            self._lock.notify_all()
        return status, body, headers

    def _refuse_token(self, method: str, token: str | None) -> str | None:
        """Slack's answer to the wrong token: none, an unknown one, or the wrong kind (app-level vs bot)."""
        if token is None:
            return "not_authed"
        if token not in (self.state.bot_token, self.app_token):
            return "invalid_auth"
        if (token == self.app_token) != (method in APP_LEVEL_METHODS):
            return "not_allowed_token_type"
        return None


def _make_handler(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            if not self.path.startswith("/api/"):
                return self._reply(404, {"ok": False, "error": "not_found"}, {})
            method = self.path[len("/api/"):].split("?", 1)[0]
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8") if length else ""
            args = _parse_args(raw, self.headers.get("Content-Type", ""), self.path)
            auth = self.headers.get("Authorization", "")
            token = auth[len("Bearer "):] if auth.startswith("Bearer ") else args.pop("token", None)
            time.sleep(fake.delay(method, args))
            status, body, headers = fake.handle(method, args, token)
            time.sleep(fake.delay(method, args, after=True))
            self._reply(status, body, headers)

        do_GET = do_POST

        def _reply(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def _parse_args(raw: str, content_type: str, path: str) -> dict[str, Any]:
    args: dict[str, Any] = dict(parse_qsl(path.split("?", 1)[1])) if "?" in path else {}
    if "json" in content_type and raw:
        args.update(json.loads(raw))
    elif raw:
        args.update(parse_qsl(raw, keep_blank_values=True))
    for key in ("blocks", "view", "attachments", "metadata"):
        if isinstance(args.get(key), str):
            try:
                args[key] = json.loads(args[key])
            except ValueError:
                pass
    return args
