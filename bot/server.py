"""The HTTP side: a WSGI app with /slack/events and /healthz, served by waitress."""
from __future__ import annotations

import json
import logging
import threading
from typing import Callable, Iterable

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from waitress.server import create_server

from bot.guard import guard
from connectors.services import Services

log = logging.getLogger(__name__)
MAX_BODY = 2 * 1024 * 1024  # Slack payloads are small; refuse anything absurd before parsing it

WsgiApp = Callable[[dict, Callable], Iterable[bytes]]


def _json(start_response: Callable, status: str, body: dict) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def make_wsgi(app: App | None, services: Services, hr_hook: WsgiApp | None = None) -> WsgiApp:
    """Route /slack/events to Bolt (absent in Socket Mode), /hooks/hr to the HR webhook, and answer /healthz."""
    # the guard answers 4xx for what Bolt would turn into a 500 (bad bytes, bad JSON, missing fields)
    slack = guard(SlackRequestHandler(app), app._signing_secret) if app is not None else None

    def wsgi(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path == "/healthz" and method in ("GET", "HEAD"):
            try:
                services.store.ping()
            except Exception as exc:  # the health check reports, never raises
                log.warning("health check failed", extra={"error": type(exc).__name__})
                return _json(start_response, "503 Service Unavailable", {"status": "unhealthy", "store": "unreachable"})
            return _json(start_response, "200 OK", {"status": "ok", "store": "ok"})
        if path == "/slack/events" and slack is not None:
            if method != "POST":
                return _json(start_response, "405 Method Not Allowed", {"error": "POST only"})
            return slack(environ, start_response)
        if path == "/hooks/hr" and hr_hook is not None:
            return hr_hook(environ, start_response)
        return _json(start_response, "404 Not Found", {"error": "not found"})

    return wsgi


class HttpServer:
    """A waitress server that can run in the foreground (itbot serve) or a thread (demo, tests)."""

    def __init__(self, wsgi: WsgiApp, host: str, port: int, *, threads: int = 8):
        self._server = create_server(wsgi, host=host, port=port, threads=threads, max_request_body_size=MAX_BODY,
                                     ident="itbot", clear_untrusted_proxy_headers=True, channel_timeout=30)
        self._thread: threading.Thread | None = None
        self._stopping = False

    @property
    def port(self) -> int:
        return self._server.effective_port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve_forever(self) -> None:
        self._server.run()

    def start(self) -> "HttpServer":
        self._thread = threading.Thread(target=self._run_until_stopped, name="itbot-http", daemon=True)
        self._thread.start()
        return self

    def _run_until_stopped(self) -> None:
        try:
            self._server.run()
        except (OSError, ValueError):
            if not self._stopping:  # closing the socket under select() is how a threaded server stops
                raise

    def stop(self) -> None:
        self._stopping = True
        self._server.close()
        if self._thread:
            self._thread.join(timeout=5)
