"""The HTTP side: a WSGI app with /slack/events and /healthz, served by waitress."""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Callable, Iterable

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import create_server

from bot.guard import guard
from bot.metrics import exposition, observe_http, readiness
from connectors.services import Services

log = logging.getLogger(__name__)
MAX_BODY = 2 * 1024 * 1024  # Slack payloads are small; refuse anything absurd before parsing it

WsgiApp = Callable[[dict, Callable], Iterable[bytes]]


def _json(start_response: Callable, status: str, body: dict) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def make_wsgi(app: App | None, services: Services, hr_hook: WsgiApp | None = None) -> WsgiApp:
    """Route /slack/events to Bolt (absent in Socket Mode), /hooks/hr to the HR webhook, and answer /healthz,
    /readyz (the store answers, its schema at head) and /metrics (Prometheus text format); every answer is
    counted by route and status class."""
    # the guard answers 4xx for what Bolt would turn into a 500 (bad bytes, bad JSON, missing fields)
    slack = guard(SlackRequestHandler(app), app._signing_secret) if app is not None else None

    def wsgi(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")

        def counted(status: str, headers: list, *exc_info: Any) -> Any:
            observe_http(path, status)
            return start_response(status, headers, *exc_info)

        return route(environ, counted)

    def route(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path == "/metrics" and method in ("GET", "HEAD"):
            body, content_type = exposition(getattr(services, "store", None))
            start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
            return [body]
        if path == "/readyz" and method in ("GET", "HEAD"):
            ready, report = readiness(services.store)
            return _json(start_response, "200 OK" if ready else "503 Service Unavailable", report)
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
    """A waitress server that can run in the foreground (itbot serve) or a thread (demo, tests).

    ``request_stop()`` (safe in a signal handler) stops it gracefully: the listening socket closes at once (a
    new connection is refused), requests under way finish and their answers are written, for up to ``drain``
    seconds, and then every connection closes and ``serve_forever`` returns."""

    def __init__(self, wsgi: WsgiApp, host: str, port: int, *, threads: int = 8, drain: float = 20.0):
        self._server = create_server(wsgi, host=host, port=port, threads=threads, max_request_body_size=MAX_BODY,
                                     ident="itbot", clear_untrusted_proxy_headers=True, channel_timeout=30)
        self._thread: threading.Thread | None = None
        self._drain = drain
        self._stop_requested = threading.Event()

    @property
    def port(self) -> int:
        return self._server.effective_port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve_forever(self) -> None:
        server, channels = self._server, self._server._map
        deadline = None
        try:
            while True:
                if self._stop_requested.is_set():
                    if deadline is None:
                        deadline = time.monotonic() + self._drain
                        wasyncore.dispatcher.close(server)   # the listening socket only; the trigger stays
                    if not self._busy() or time.monotonic() >= deadline:
                        break
                # a signal does not cut select() short (PEP 475): look at the flag at least every 0.2 s
                wasyncore.loop(timeout=0.2, map=channels, count=1)
        finally:
            server.task_dispatcher.shutdown(timeout=max(0.0, (deadline or 0) - time.monotonic()))
            wasyncore.close_all(channels)

    def _busy(self) -> bool:
        """A request is queued, running, or its answer is not all written yet."""
        return any(isinstance(channel, HTTPChannel) and (channel.requests or channel.total_outbufs_len)
                   for channel in list(self._server._map.values()))

    def request_stop(self) -> None:
        """Stop accepting, finish what is under way, return from serve_forever (a flag: signal-safe)."""
        self._stop_requested.set()

    def start(self) -> "HttpServer":
        self._thread = threading.Thread(target=self.serve_forever, name="itbot-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.request_stop()
        if self._thread:
            self._thread.join(timeout=self._drain + 5)


def metrics_server(settings: Any, services: Services) -> HttpServer | None:
    """For the worker and the clock: /metrics, /readyz and /healthz on METRICS_PORT, in a thread (None when
    METRICS_PORT is not set)."""
    if settings.metrics_port is None:
        return None
    server = HttpServer(make_wsgi(None, services), settings.host, settings.metrics_port, threads=2, drain=2.0)
    log.info("serving metrics", extra={"port": server.port, "path": "/metrics"})
    return server.start()
