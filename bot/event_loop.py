"""The event process's loop: take events from the spool, handle each with the listeners, settle its fate.

A few worker threads handle events side by side, so one employee's reply stuck behind Slack's retries does not
hold up the others; the spool hands out only the oldest live event of each conversation, so one person's
messages are still handled in order. After each event: done → removed; failed for a passing reason (the store
unreachable, Slack answering 429/5xx or not at all after the client's own retries) → back in the spool with
backoff; failed otherwise (a bug retrying cannot fix) or for longer than the spool's bound → kept as dead and
logged as an error.
"""
from __future__ import annotations

import logging
import os
import select
import threading
import time
import urllib.error
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App, BoltRequest
from slack_sdk.errors import SlackApiError
from sqlalchemy import exc as sa

from bot.attempt import Attempt, current
from connectors.spool import Spool, SpooledEvent

log = logging.getLogger("bot.events")
ACK_HEADROOM = 0.003  # seconds a worker waits before a fresh event (the serving process finishes its ack first)
IDLE_WAIT = 0.5       # seconds between looks at the spool when nothing rang (retries coming due, orphan check)


def _chain(error: BaseException | None):
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def is_transient(error: BaseException) -> bool:
    """Will trying again later plausibly work? Store or Slack unreachable, Slack overloaded: yes."""
    for e in _chain(error):
        if isinstance(e, SlackApiError):
            status = getattr(e.response, "status_code", 200)
            return status == 429 or status >= 500
        if isinstance(e, (sa.IntegrityError, sa.ProgrammingError, sa.DataError)):
            return False
        if isinstance(e, (sa.DBAPIError, sa.TimeoutError)):   # OperationalError, InterfaceError, pool timeouts
            return True
        if isinstance(e, (ConnectionError, TimeoutError, urllib.error.URLError)):
            return True
    return False


def describe(error: BaseException) -> str:
    if isinstance(error, SlackApiError):
        return f"SlackApiError: HTTP {error.response.status_code} {error.response.get('error')}"
    return f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"[:500]


class Bell:
    """What wakes the loop: a byte on a pipe from the serving process (an event was spooled; ``q``: stop), or
    from one of its own workers (one is free). A pipe, not a multiprocessing.Event: a process killed while
    holding an Event's shared lock would leave every other process waiting on it for ever. The serving
    process's end closing (it died) stops the loop too."""

    def __init__(self, fd: int | None = None):
        self._fds = [] if fd is None else [fd]
        self._local_r, self._local_w = os.pipe()
        self._fds.append(self._local_r)
        for f in (*self._fds, self._local_w):
            os.set_blocking(f, False)
        self.stopped = False

    def set(self) -> None:
        try:
            os.write(self._local_w, b".")
        except BlockingIOError:
            pass   # already rung many times

    def wait(self, timeout: float) -> bool:
        return bool(select.select(self._fds, [], [], timeout)[0])

    def clear(self) -> None:
        for fd in self._fds:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if fd != self._local_r and (not data or b"q" in data):
                self.stopped = True


class EventLoop:
    def __init__(self, app: App, spool: Spool, *, workers: int = 4):
        self.app, self.spool, self.workers = app, spool, workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="itbot-event")
        self._lock = threading.Lock()
        self._handling: dict[int, SpooledEvent] = {}

    def run(self, doorbell: Bell, parent: int | None = None) -> None:
        renewed = time.monotonic()
        while not doorbell.stopped:
            doorbell.clear()   # before looking, so an event spooled while we look rings again
            if doorbell.stopped:
                break
            with self._lock:
                free = self.workers - len(self._handling)
            taken = self.spool.claim(free) if free > 0 else []
            for event in taken:
                with self._lock:
                    self._handling[event.id] = event
                self._pool.submit(self._handle, event, doorbell)
            if time.monotonic() - renewed > self.spool.lease / 3:
                with self._lock:
                    held = list(self._handling)
                self.spool.renew(held)
                renewed = time.monotonic()
            if not taken and not doorbell.wait(IDLE_WAIT) and parent is not None and os.getppid() != parent:
                log.warning("the serving process is gone; the event process stops")
                break
        self._pool.shutdown(wait=True)   # events under way finish; the rest wait in the spool

    def _handle(self, event: SpooledEvent, doorbell: Any) -> None:
        try:
            if event.attempts == 0:
                time.sleep(ACK_HEADROOM)
            error = self.attempt(event)
            self._settle(event, error)
        except Exception:   # the spool itself failed: the lease runs out and the event is taken again
            log.exception("could not settle a spooled event", extra={"event_id": event.event_id})
        finally:
            with self._lock:
                self._handling.pop(event.id, None)
            doorbell.set()   # a worker is free

    def attempt(self, event: SpooledEvent) -> BaseException | None:
        """Run the listeners on one event; the error that made it fail, or None."""
        attempt = Attempt(self.spool, event.id)
        token = current.set(attempt)
        try:
            response = self.app.dispatch(BoltRequest(body=event.body, headers=event.headers))
        except Exception as exc:   # Bolt catches listeners' errors; this would be Bolt's own
            return exc
        finally:
            current.reset(token)
        if attempt.error is None and response.status >= 500:
            return RuntimeError(f"the app answered {response.status}")
        return attempt.error

    def _settle(self, event: SpooledEvent, error: BaseException | None) -> None:
        if error is None:
            self.spool.done(event)
            if event.attempts:
                log.info("spooled event handled after a retry", extra={"event_id": event.event_id,
                                                                       "attempts": event.attempts + 1})
            return
        transient = is_transient(error)
        state = self.spool.retry(event, describe(error), transient=transient)
        extra = {"event_id": event.event_id, "attempts": event.attempts + 1, "error": describe(error)}
        if state == "dead":
            log.error("event given up: kept as dead in the spool for an operator", extra=extra)
        else:
            log.warning("event failed; it stays in the spool and is tried again", extra=extra)
