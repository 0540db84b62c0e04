"""The outbox: what itbot has to tell people, written in the same transaction as the change it announces.

A state change and its announcement commit together or not at all (``enqueue`` runs inside the store
method's transaction). A sender then claims due rows with a lease, delivers them and marks them sent only
after Slack said ok; a row whose sender died is claimed again when its lease runs out, flagged
``recovering`` so the sender first looks for what it may already have posted. Rows of one stream (a run,
a request) go out in order: a row is claimable only when no earlier row of its stream is still unsent.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from sqlalchemy import Connection, Engine, and_, delete, exists, func, insert, or_, select, update

from connectors.store.tables import outbox
from workflows.models import Announcement

log = logging.getLogger(__name__)
UNSENT = ("pending", "sending")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def enqueue(conn: Connection, announcements: Iterable[Announcement], now: datetime | None = None) -> None:
    """Add announcements inside the caller's transaction (so they commit with its change, or not at all)."""
    now = now or _now()
    rows = [{"stream": a.stream[:64], "kind": a.kind, "payload": a.payload, "status": "pending", "attempts": 0,
             "next_attempt_at": now, "parts": {}, "created_at": now} for a in announcements]
    if rows:
        conn.execute(insert(outbox), rows)


@dataclass(frozen=True)
class OutboxRow:
    id: int
    stream: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    lease_until: datetime
    created_at: datetime
    parts: dict[str, Any] = field(default_factory=dict)
    recovering: bool = False     # an earlier sender claimed it and vanished: it may have posted already


@dataclass(frozen=True)
class Backlog:
    pending: int
    sending: int
    failed: int
    oldest_pending_seconds: float | None


class SqlOutbox:
    def __init__(self, engine: Engine):
        self.engine = engine

    def add(self, announcements: Iterable[Announcement]) -> None:
        with self.engine.begin() as conn:
            enqueue(conn, announcements)

    def claim(self, now: datetime, lease: timedelta, limit: int = 50) -> list[OutboxRow]:
        """Take up to ``limit`` due rows, each the oldest unsent row of its stream."""
        earlier = outbox.alias("earlier")
        due = or_(and_(outbox.c.status == "pending", outbox.c.next_attempt_at <= now),
                  and_(outbox.c.status == "sending", outbox.c.lease_until < now))
        blocked = exists().where(earlier.c.stream == outbox.c.stream, earlier.c.id < outbox.c.id,
                                 earlier.c.status.in_(UNSENT))
        query = select(outbox).where(due, ~blocked).order_by(outbox.c.id).limit(limit)
        with self.engine.connect() as conn:
            candidates = list(conn.execute(query).mappings())
        claimed = []
        for row in candidates:
            until = max(now, _now()) + lease
            take = (update(outbox).where(outbox.c.id == row["id"], outbox.c.status == row["status"])
                    .values(status="sending", lease_until=until, attempts=row["attempts"] + 1))
            if row["status"] == "sending":
                take = take.where(outbox.c.lease_until == row["lease_until"])
            with self.engine.begin() as conn:
                if conn.execute(take).rowcount != 1:
                    continue   # another sender took it
            claimed.append(OutboxRow(row["id"], row["stream"], row["kind"], dict(row["payload"] or {}),
                                     row["attempts"] + 1, until, row["created_at"], dict(row["parts"] or {}),
                                     recovering=row["status"] == "sending"))
        return claimed

    def _fenced(self, row: OutboxRow) -> Any:
        return update(outbox).where(outbox.c.id == row.id, outbox.c.status == "sending",
                                    outbox.c.lease_until == row.lease_until)

    def part_done(self, row: OutboxRow, part: str, channel: str, ts: str) -> None:
        """Record one Slack message of a row as made (a retry of the row skips it)."""
        row.parts[part] = [channel, ts]
        with self.engine.begin() as conn:
            conn.execute(self._fenced(row).values(parts=dict(row.parts)))

    def sent(self, row: OutboxRow) -> bool:
        with self.engine.begin() as conn:
            done = conn.execute(self._fenced(row).values(status="sent", sent_at=_now(), lease_until=None,
                                                         last_error=None)).rowcount == 1
        if not done:
            log.warning("an outbox row was taken over before it was marked sent", extra={"outbox": row.id})
        return done

    def retry(self, row: OutboxRow, when: datetime, error: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(self._fenced(row).values(status="pending", next_attempt_at=when, lease_until=None,
                                                  last_error=error[:2000]))

    def fail(self, row: OutboxRow, error: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(self._fenced(row).values(status="failed", lease_until=None, last_error=error[:2000]))

    def is_last_of_stream(self, row: OutboxRow) -> bool:
        """No later row of the same stream is waiting (a view refreshed now would be refreshed again by it)."""
        query = select(func.count()).select_from(outbox).where(outbox.c.stream == row.stream, outbox.c.id > row.id,
                                                               outbox.c.status.in_(UNSENT))
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one() == 0

    def sent_in(self, streams: Iterable[str]) -> int:
        """How many rows of these streams have been sent."""
        names = list(streams)
        if not names:
            return 0
        query = select(func.count()).select_from(outbox).where(outbox.c.stream.in_(names), outbox.c.status == "sent")
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    def backlog(self, now: datetime | None = None) -> Backlog:
        now = now or _now()
        query = (select(outbox.c.status, func.count(), func.min(outbox.c.created_at))
                 .where(outbox.c.status.in_(("pending", "sending", "failed"))).group_by(outbox.c.status))
        with self.engine.connect() as conn:
            counts = {status: (n, oldest) for status, n, oldest in conn.execute(query)}
        oldest = [counts[s][1] for s in UNSENT if s in counts and counts[s][1] is not None]
        age = (now - min(oldest)).total_seconds() if oldest else None
        return Backlog(counts.get("pending", (0,))[0], counts.get("sending", (0,))[0], counts.get("failed", (0,))[0],
                       age)

    def prune(self, before: datetime) -> int:
        """Forget rows sent before ``before`` (failed ones stay for an operator to read)."""
        with self.engine.begin() as conn:
            return conn.execute(delete(outbox).where(outbox.c.status == "sent", outbox.c.sent_at < before)).rowcount

    def rows(self, *, status: str | None = None) -> list[dict[str, Any]]:
        query = select(outbox).order_by(outbox.c.id)
        if status:
            query = query.where(outbox.c.status == status)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]
