"""The outbox sender: delivers what the store recorded to tell people, once each, in order per run or request.

Every announcement was written in the same transaction as the change it announces (connectors/store/
outbox.py), so a process that dies after the change still has it to send. The sender claims due rows with a
lease and makes each row's Slack messages one "part" at a time, recording each part as it is made, and marks
the row sent only once Slack has said ok to all of them:

- 429: the row is tried again after Slack's ``Retry-After``; 5xx, timeouts and connection errors: again
  after a backoff that doubles (5 s up to 10 minutes); after ``max_attempts`` it is marked failed and
  logged (``itbot status`` counts failures). A refusal retrying cannot fix (``channel_not_found``,
  ``not_in_channel``, ``invalid_blocks``, …) fails the row at once, with Slack's error.
- Never twice: each message carries the row id and part in its message metadata. A row claimed again after
  its sender vanished (``recovering``) first looks in the channel (or thread) for a message with that
  metadata and, if it finds one, records it instead of posting again. Updates (``chat.update``) are
  idempotent and simply made again.
"""
from __future__ import annotations

import logging
import socket
import time
import urllib.error
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from connectors.store.outbox import OutboxRow

log = logging.getLogger(__name__)
METADATA_EVENT = "itbot_outbox"
FIND_PAGES = 5   # pages of channel history read to find a message a vanished sender may have posted
TRANSIENT_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                              "request_timeout", "team_added_to_org"})
_NETWORK = (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError)


class Retry(Exception):
    """Slack could not take the message now; try the row again at ``when`` (or after the backoff)."""

    def __init__(self, reason: str, after: float | None = None):
        super().__init__(reason)
        self.after = after


class Refused(Exception):
    """Slack refused the message for a reason retrying cannot fix."""


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Delivery:
    """One row being delivered: its parts are made through ``post`` and ``update``."""

    sender: "OutboxSender"
    row: OutboxRow

    @property
    def client(self) -> WebClient:
        return self.sender.client

    def post(self, part: str, **kwargs: Any) -> tuple[str, str]:
        """chat.postMessage once for this part of the row: (channel, ts) of the message."""
        if part in self.row.parts:
            channel, ts = self.row.parts[part]
            return channel, ts
        if self.row.recovering:
            found = self._find(part, kwargs["channel"], kwargs.get("thread_ts"))
            if found is not None:
                log.info("an outbox message was already posted; not posting it again",
                         extra={"outbox": self.row.id, "part": part})
                self.sender.outbox.part_done(self.row, part, *found)
                return found
        metadata = {"event_type": METADATA_EVENT, "event_payload": {"outbox_id": self.row.id, "part": part}}
        reply = _call(lambda: self.client.chat_postMessage(**kwargs, metadata=metadata))
        self.sender.outbox.part_done(self.row, part, reply["channel"], reply["ts"])
        return reply["channel"], reply["ts"]

    def update(self, **kwargs: Any) -> None:
        _call(lambda: self.client.chat_update(**kwargs))

    def _find(self, part: str, channel: str, thread_ts: str | None) -> tuple[str, str] | None:
        """A message this row's part already made (by its metadata), looked for where it would be."""
        if channel[:1] in "UW":   # a DM posted to a user id: the conversation is the D… channel
            channel = _call(lambda: self.client.conversations_open(users=channel))["channel"]["id"]
        oldest = f"{self.row.created_at.timestamp() - 5:.6f}"
        read = self.client.conversations_replies if thread_ts else self.client.conversations_history
        where = {"ts": thread_ts} if thread_ts else {}
        cursor = None
        for _ in range(FIND_PAGES):   # a busy channel: a few pages of what was posted since the row was made
            reply = _call(lambda: read(channel=channel, oldest=oldest, include_all_metadata=True, limit=200,
                                       **where, **({"cursor": cursor} if cursor else {})))
            for message in reply.get("messages") or []:
                payload = (message.get("metadata") or {}).get("event_payload") or {}
                if payload.get("outbox_id") == self.row.id and payload.get("part") == part:
                    return channel, message["ts"]
            cursor = (reply.get("response_metadata") or {}).get("next_cursor")
            if not (reply.get("has_more") and cursor):
                break
        return None


def _call(make: Callable[[], Any]) -> Any:
    """A Web API call, its failure sorted into Retry (try the row later) or Refused (never will work)."""
    try:
        return make()
    except SlackApiError as exc:
        response = exc.response
        error = (response.data or {}).get("error", "") if isinstance(response.data, dict) else ""
        status = getattr(response, "status_code", 200)
        if status == 429:
            after = (response.headers or {}).get("Retry-After") or (response.headers or {}).get("retry-after")
            raise Retry("ratelimited", float(after) if after and str(after).isdigit() else None) from None
        if status >= 500 or error in TRANSIENT_ERRORS:
            raise Retry(f"Slack answered {status} {error}".strip()) from None
        raise Refused(error or f"HTTP {status}") from None
    except _NETWORK as exc:
        raise Retry(f"could not reach Slack: {exc}") from None


class OutboxSender:
    def __init__(self, services: Any, client: WebClient, *, lease: timedelta | None = None,
                 max_attempts: int = 12, clock: Callable[[], datetime] = _utcnow):
        from bot.outbox_kinds import HANDLERS

        lease = lease or timedelta(seconds=getattr(services, "outbox_lease", 120.0))
        self.services, self.client, self.lease, self.max_attempts = services, client, lease, max_attempts
        self.outbox = services.store.outbox
        self.clock = clock
        self._handlers = HANDLERS

    def drain(self, *, rounds: int = 20, limit: int = 50, pace: float = 0.0,
              stopping: Callable[[], bool] = lambda: False) -> int:
        """Send everything due now (rows freed by a sent one, later in their stream, in later rounds), ``pace``
        seconds apart; returns how many rows were sent. Once ``stopping()`` says so, nothing more is claimed and
        the rows claimed but not sent yet are handed back at once (due now, for another sender) rather than
        held until their lease runs out."""
        sent = 0
        for _ in range(rounds):
            rows = [] if stopping() else self.outbox.claim(self.clock(), self.lease, limit)
            if not rows:
                break
            for i, row in enumerate(rows):
                if stopping():
                    self.hand_back(rows[i:])
                    return sent
                sent += self.send(row)
                if pace:
                    time.sleep(pace)
        return sent

    def hand_back(self, rows: list[OutboxRow]) -> None:
        for row in rows:
            self.outbox.retry(row, self.clock(), "handed back: the sender was stopped before sending it")

    def send(self, row: OutboxRow) -> bool:
        handler = self._handlers.get(row.kind)
        if handler is None:
            log.error("an outbox row of an unknown kind", extra={"outbox": row.id, "kind": row.kind})
            self.outbox.fail(row, f"unknown kind {row.kind}")
            return False
        try:
            handler(Delivery(self, row))
        except Retry as exc:
            if row.attempts >= self.max_attempts:
                log.error("gave up on an outbox message after %d attempts", row.attempts,
                          extra={"outbox": row.id, "kind": row.kind, "error": str(exc)})
                self.outbox.fail(row, f"gave up after {row.attempts} attempts: {exc}")
                return False
            wait = exc.after if exc.after is not None else min(5 * 2 ** (row.attempts - 1), 600)
            log.warning("Slack could not take an outbox message; trying again later",
                        extra={"outbox": row.id, "kind": row.kind, "error": str(exc), "retry_in": wait})
            self.outbox.retry(row, self.clock() + timedelta(seconds=wait), str(exc))
            return False
        except Refused as exc:
            log.error("Slack refused an outbox message", extra={"outbox": row.id, "kind": row.kind,
                                                                "error": str(exc)})
            self.outbox.fail(row, f"Slack refused it: {exc}")
            return False
        return self.outbox.sent(row)
