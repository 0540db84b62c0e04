"""Slack events kept in a local spool and handled in a separate process, so the serving process only verifies,
spools and acks, and an acked event is handled exactly once even across a store or Slack outage.

Slack times every delivery, and Python threads share one interpreter lock: triage, the store and Web API calls
running beside the HTTP server would slow every ack. In `itbot serve` the serving process checks the signature,
writes the event to the spool (``ITBOT_SPOOL_PATH``, a SQLite file of its own: the main store may be the thing
that is down) and only then answers 200; if the spool cannot take it, the answer is 500 and Slack sends it
again. Commands, buttons and forms stay in the serving process: their replies belong in the HTTP response (in
Socket Mode, in the envelope's ack). In Socket Mode an event arrives already parsed: it is spooled as JSON.

The event process (started and restarted by ``EventRelay``) takes events from the spool with a lease and
handles them on a few threads, one conversation's events in order (bot/event_loop.py). An event whose handling
failed because the store or Slack was unavailable stays in the spool and is retried with backoff for up to a
day, then kept as dead and logged as an error. A killed event process's events are taken again by the next.

Exactly once: listeners record each event id in the store (``first_delivery``) so that Slack's own retries are
ignored, and everything an attempt did (that record, the request it opened, the messages it posted) is
journalled beside the event in the spool (bot/attempt.py): a retry after a failure redoes only what had not
been done. The one gap is a step whose effect happened but whose journal entry was not written (the process
killed between the two): that step is done again on the retry.
"""
from __future__ import annotations

import json
import logging
import multiprocessing
import os
import threading
from pathlib import Path
from typing import Any, Callable

from slack_bolt import BoltRequest, BoltResponse

from connectors.spool import Spool

log = logging.getLogger(__name__)
WORKERS = 4           # events handled side by side in the event process
WATCH_EVERY = 1.0     # seconds between checks that the event process is alive


def _run_events(settings: Any, bell: Any, parent: int) -> None:
    from bot.app import create_app
    from bot.event_loop import Bell, EventLoop
    from bot.logs import configure_logging
    from connectors.services import build_services

    try:
        os.nice(10)  # background work: the kernel schedules the serving process (the acks) first
    except OSError:
        pass
    configure_logging(settings.log_level, settings.log_format, settings.secrets())
    doorbell = Bell(bell.fileno())
    services, wait = None, 1.0
    while services is None:   # the store may be down right now: the events wait in the spool meanwhile
        try:
            services = build_services(settings)
        except Exception as exc:
            log.warning("event process cannot open the store yet; trying again", extra={"error": type(exc).__name__})
            doorbell.wait(wait)
            doorbell.clear()
            if doorbell.stopped or os.getppid() != parent:
                return
            wait = min(wait * 2, 30.0)
    spool = Spool(settings.spool_path)
    try:
        EventLoop(create_app(settings, services, inline=True), spool, workers=WORKERS).run(doorbell, parent)
    finally:
        spool.close()
        services.close()


def lane_of(body: dict) -> str:
    """The conversation an event belongs to: its channel, else its user (events of one lane keep their order)."""
    event = body.get("event") or {}
    item = event.get("item") if isinstance(event.get("item"), dict) else {}
    return str(event.get("channel") or item.get("channel") or event.get("user") or "-")


class EventRelay:
    def __init__(self, settings: Any):
        self._ctx = multiprocessing.get_context("spawn")
        self._settings = settings
        self.spool = Spool(settings.spool_path)
        # a pipe to wake the event process (see bot.event_loop.Bell); ours is the writing end
        self._bell_r, self._bell_w = self._ctx.Pipe(duplex=False)
        os.set_blocking(self._bell_w.fileno(), False)
        self._stopping = threading.Event()
        self._process: Any = None
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None

    def start(self) -> "EventRelay":
        with self._lock:
            self._spawn()
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name="itbot-event-watch", daemon=True)
            self._watcher.start()
        return self

    def _spawn(self) -> None:
        args = (self._settings, self._bell_r, os.getpid())
        self._process = self._ctx.Process(target=_run_events, args=args, name="itbot-events", daemon=True)
        self._process.start()

    def _watch(self) -> None:
        """Restart the event process when it dies; its events are still in the spool."""
        while not self._stopping.wait(WATCH_EVERY):
            with self._lock:
                if self._stopping.is_set() or self._process.is_alive():
                    continue
                log.error("event process died; restarting it", extra={"exitcode": self._process.exitcode})
                self._spawn()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def pending(self) -> int:
        """Events spooled and not yet handled (waiting, under way, or waiting to be retried)."""
        return self.spool.pending()

    def put(self, body: str, parsed: dict, headers: dict[str, Any]) -> None:
        """Spool an event (raises when it cannot be kept: then it must not be acked)."""
        event_id = parsed.get("event_id")
        self.spool.add(body, headers, lane=lane_of(parsed), event_id=str(event_id) if event_id else None)
        self._ring(b".")

    def _ring(self, what: bytes) -> None:
        try:
            os.write(self._bell_w.fileno(), what)
        except BlockingIOError:
            pass   # rung often enough already: the event process will look

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._ring(b"q")
        with self._lock:
            if self._process is not None and self._process.is_alive():
                self._process.join(timeout)
                if self._process.is_alive():
                    self._process.terminate()
        self.spool.close()
        self._bell_r.close()
        self._bell_w.close()


def forward_events(relay: EventRelay) -> Callable[..., BoltResponse]:
    """Middleware: spool a verified event, then acknowledge it; 500 (Slack retries) when it cannot be spooled."""

    def middleware(req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]) -> BoltResponse:  # noqa: A002
        if req.body.get("type") != "event_callback":
            return next()
        try:   # in Socket Mode there is no raw body: the envelope's payload arrives parsed
            relay.put(req.raw_body or json.dumps(req.body), req.body, dict(req.headers))
        except Exception as exc:
            log.error("could not spool an event; not acknowledging it so Slack sends it again",
                      extra={"error": type(exc).__name__, "spool": str(Path(relay.spool.path).name)})
            return BoltResponse(status=500, body="")
        return BoltResponse(status=200, body="")

    return middleware
