"""Cross-cutting concerns for every Slack request: request ids and logging, and event de-duplication."""
from __future__ import annotations

import itertools
import logging
import time
import uuid
from typing import Callable

from slack_bolt import BoltRequest, BoltResponse

from bot.attempt import once
from bot.logs import request_id
from workflows.ports import Store

log = logging.getLogger("itbot.requests")


def _kind(body: dict) -> str:
    if body.get("type") == "event_callback":
        return "event:" + str(body.get("event", {}).get("type"))
    if body.get("command"):
        return "command:" + str(body["command"])
    return str(body.get("type") or "unknown")


class LoggedDispatch:
    """Wraps ``App.dispatch``: one log line per request with its real status and duration.

    A Bolt middleware cannot do this: its ``next()`` returns before the listeners run, and requests refused
    by signature verification never reach it. The request id is set before dispatch, so listener threads
    (which copy the context when they are submitted) log with it too.
    """

    def __init__(self, dispatch: Callable[[BoltRequest], BoltResponse]):
        self._dispatch = dispatch
        self._prefix = uuid.uuid4().hex[:6]
        self._count = itertools.count(1)

    def __call__(self, req: BoltRequest) -> BoltResponse:
        rid = (req.headers.get("x-slack-request-id") or [None])[0] if req.headers else None
        token = request_id.set(rid or f"{self._prefix}-{next(self._count)}")
        started = time.perf_counter()
        status = 500
        try:
            response = self._dispatch(req)
            status = response.status
            return response
        finally:
            retry = (req.headers.get("x-slack-retry-num") or [None])[0] if req.headers else None
            retry = None if retry == "0" else retry   # Socket Mode marks a first delivery retry_attempt 0
            log.info("slack request", extra={"kind": _kind(req.body or {}), "status": status,
                                             "ms": round((time.perf_counter() - started) * 1000, 1),
                                             "user": req.context.user_id, "retry": retry})
            request_id.reset(token)


def first_delivery(store: Store, body: dict) -> bool:
    """True the first time an event id is seen; False for Slack's retries of it.

    Called at the top of event listeners, after the ack, so the store write is not on the path
    that Slack times (a retry only comes after 3 s without an ack, by which time this has run).
    The event process's own retry of an event that failed after this point finds its first answer
    (``once``: the spool remembers it), so a retry is not mistaken for a duplicate.
    """
    event_id = body.get("event_id")
    if not event_id:
        return True
    if once("event-seen", lambda: store.mark_event_seen(str(event_id))):
        return True
    log.info("duplicate event ignored", extra={"event_id": event_id})
    return False
