"""Slack events handled in a separate process, so the serving process only verifies and acks.

Slack times every delivery, and Python threads share one interpreter lock: triage, the store and Web API
calls running beside the HTTP server would slow every ack. In `itbot serve` the serving process checks the
signature, acknowledges at once and hands the raw event to an event process (same code, same settings),
which runs the listeners. Commands, buttons and forms stay in the serving process: their replies (modal
errors, updates) belong in the HTTP response (in Socket Mode, in the envelope's ack). In Socket Mode an event
arrives already parsed, with no raw body: it is handed over as JSON.

The hand-off is a local queue, not a durable one: if the process dies with events in the queue, Slack's
retries are not coming (they were acked), so the relay keeps the queue short and restarts the event process
when it dies. Event ids are recorded by the listeners, so an event is never handled twice.
"""
from __future__ import annotations

import json
import logging
import multiprocessing
import os
import queue
import time
from typing import Any, Callable

from slack_bolt import BoltRequest, BoltResponse

log = logging.getLogger(__name__)
ACK_HEADROOM = 0.003  # seconds the event process waits after taking an event (invisible to a person)
ORPHAN_CHECK = 1.0    # seconds between checks, while idle, that the serving process is still there


def _run_events(settings: Any, events: Any, pending: Any, parent: int) -> None:
    from bot.app import create_app
    from bot.logs import configure_logging
    from connectors.services import build_services

    try:
        os.nice(10)  # background work: the kernel schedules the serving process (the acks) first
    except OSError:
        pass
    configure_logging(settings.log_level, settings.log_format, settings.secrets())
    services = build_services(settings)
    app = create_app(settings, services, inline=True)
    while True:
        try:
            item = events.get(timeout=ORPHAN_CHECK)
        except queue.Empty:
            if os.getppid() != parent:  # the serving process died without stopping us (kill -9): go too
                # (compared with the pid it gave us: it may have died before this process had started)
                log.warning("the serving process is gone; the event process stops")
                break
            continue
        if item is None:
            break
        body, headers = item
        time.sleep(ACK_HEADROOM)  # let the serving process finish writing the ack before competing for CPU
        try:
            app.dispatch(BoltRequest(body=body, headers=headers))
        except Exception:  # one bad event must not stop the others
            log.exception("event process failed on an event")
        finally:
            with pending.get_lock():
                pending.value -= 1
    services.close()


class EventRelay:
    def __init__(self, settings: Any, *, backlog: int = 5000):
        self._ctx = multiprocessing.get_context("spawn")
        self._settings = settings
        self._queue = self._ctx.Queue(maxsize=backlog)
        self._pending = self._ctx.Value("i", 0)
        self._process: Any = None

    def start(self) -> "EventRelay":
        args = (self._settings, self._queue, self._pending, os.getpid())
        self._process = self._ctx.Process(target=_run_events, args=args, name="itbot-events", daemon=True)
        self._process.start()
        return self

    def pending(self) -> int:
        return self._pending.value

    def put(self, body: str, headers: dict[str, Any]) -> bool:
        """Queue an event; False when it cannot be handed over (the caller then handles it itself)."""
        if self._process is None or not self._process.is_alive():
            log.error("event process is not running; restarting it")
            self.start()
        with self._pending.get_lock():
            self._pending.value += 1
        try:
            self._queue.put_nowait((body, headers))
        except queue.Full:
            with self._pending.get_lock():
                self._pending.value -= 1
            return False
        return True

    def stop(self, timeout: float = 10.0) -> None:
        if self._process is not None and self._process.is_alive():
            self._queue.put(None)
            self._process.join(timeout)
            if self._process.is_alive():
                self._process.terminate()


def forward_events(relay: EventRelay) -> Callable[..., BoltResponse]:
    """Middleware: acknowledge a verified event at once and hand it to the event process."""

    def middleware(req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]) -> BoltResponse:  # noqa: A002
        # in Socket Mode there is no raw body: the envelope's payload arrives parsed
        if req.body.get("type") == "event_callback" and relay.put(req.raw_body or json.dumps(req.body),
                                                                  dict(req.headers)):
            return BoltResponse(status=200, body="")
        return next()

    return middleware
