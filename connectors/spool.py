"""The event spool: a small local SQLite file (WAL) holding Slack events between their ack and their handling.

The serving process adds each verified event before it acks it; the event process claims events with a lease,
handles them and removes them. It does not depend on the main store (which may be the thing that is down).

- **Order per conversation**: events carry a *lane* (their channel, or their user); only the oldest live event
  of a lane can be claimed, so a conversation's messages are handled in the order they came, while other lanes
  go ahead.
- **Leases**: a claim holds an event for ``lease`` seconds (renewed while it is being handled). Events held by
  a process that is gone (its pid no longer runs) or whose lease ran out are taken again.
- **Retries**: ``retry`` puts an event back with exponential backoff; once it has failed for longer than
  ``give_up`` seconds (or at once, for a failure retrying cannot fix) it is kept as ``dead`` for an operator
  and no longer holds up its lane.
- **Effects journal**: what a handler already did for an event (a message it posted, a row it wrote) is kept
  beside it, so a retry does not do it twice; it is removed with the event.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT UNIQUE,
    lane TEXT NOT NULL,
    body TEXT NOT NULL,
    headers TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'ready',
    attempts INTEGER NOT NULL DEFAULT 0,
    due REAL NOT NULL,
    owner TEXT,
    lease_until REAL,
    received REAL NOT NULL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS events_lane ON events (lane, id);
CREATE TABLE IF NOT EXISTS effects (
    event INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    result TEXT,
    PRIMARY KEY (event, seq)
);
"""
DAY = 24 * 3600.0


@dataclass(frozen=True)
class SpooledEvent:
    id: int
    event_id: str | None
    lane: str
    body: str
    headers: dict[str, Any]
    attempts: int          # earlier attempts (0 on the first)
    received: float


def backoff(attempts: int, *, base: float = 1.0, cap: float = 300.0) -> float:
    """Seconds before the next try after ``attempts`` failures: 1, 2, 4 … up to ``cap``."""
    return min(cap, base * 2 ** max(0, attempts - 1))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Spool:
    def __init__(self, path: str | Path, *, lease: float = 30.0, give_up: float = DAY,
                 backoff: Callable[[int], float] = backoff, clock: Callable[[], float] = time.time):
        self.path = str(path)
        self.lease, self.give_up, self._backoff, self._now = lease, give_up, backoff, clock
        self.owner = f"{os.getpid()}:{uuid.uuid4().hex[:8]}"
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")   # an acked event survives a power cut too
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _tx(self, work: Callable[[sqlite3.Connection], Any]) -> Any:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = work(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return result

    # the serving process ----------------------------------------------------------
    def add(self, body: str, headers: dict[str, Any], *, lane: str, event_id: str | None = None) -> bool:
        """Keep an event; False when this spool already holds that event id (a Slack retry of it)."""
        now = self._now()
        row = (event_id, lane, body, json.dumps(headers), now, now)
        return self._tx(lambda db: db.execute(
            "INSERT OR IGNORE INTO events (event_id, lane, body, headers, due, received) VALUES (?,?,?,?,?,?)",
            row).rowcount == 1)

    # the event process ------------------------------------------------------------
    def claim(self, limit: int) -> list[SpooledEvent]:
        """Up to ``limit`` due events, each the oldest live event of its lane, leased to this process."""
        now = self._now()

        def work(db: sqlite3.Connection) -> list[SpooledEvent]:
            rows = db.execute(
                "SELECT e.id, e.event_id, e.lane, e.body, e.headers, e.attempts, e.received, e.owner, e.lease_until "
                "FROM events e WHERE e.state = 'ready' AND e.due <= ? "
                "AND e.id = (SELECT MIN(id) FROM events WHERE lane = e.lane AND state = 'ready') "
                "ORDER BY e.due, e.id", (now,)).fetchall()
            taken = []
            for rid, event_id, lane, body, headers, attempts, received, owner, lease_until in rows:
                if len(taken) >= limit:
                    break
                if owner and not self._abandoned(owner, lease_until, now):
                    continue
                db.execute("UPDATE events SET owner = ?, lease_until = ? WHERE id = ?", (self.owner, now + self.lease, rid))
                taken.append(SpooledEvent(rid, event_id, lane, body, json.loads(headers), attempts, received))
            return taken

        return self._tx(work)

    def _abandoned(self, owner: str, lease_until: float | None, now: float) -> bool:
        if owner == self.owner:
            return False   # ours and still being handled
        if lease_until is None or lease_until < now:
            return True
        pid = owner.split(":", 1)[0]
        return pid.isdigit() and not _pid_alive(int(pid))

    def renew(self, ids: list[int]) -> None:
        if ids:
            until = self._now() + self.lease
            self._tx(lambda db: db.executemany("UPDATE events SET lease_until = ? WHERE id = ? AND owner = ?",
                                               [(until, i, self.owner) for i in ids]))

    def done(self, event: SpooledEvent) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM effects WHERE event = ?", (event.id,))
            db.execute("DELETE FROM events WHERE id = ?", (event.id,))
        self._tx(work)

    def retry(self, event: SpooledEvent, error: str, *, transient: bool = True) -> str:
        """Put a failed event back for later ('ready'), or keep it as 'dead'; returns which."""
        now = self._now()
        attempts = event.attempts + 1
        dead = not transient or now - event.received >= self.give_up
        state = "dead" if dead else "ready"
        due = now if dead else now + self._backoff(attempts)
        self._tx(lambda db: db.execute(
            "UPDATE events SET state = ?, attempts = ?, due = ?, owner = NULL, lease_until = NULL, last_error = ? "
            "WHERE id = ?", (state, attempts, due, error[:2000], event.id)))
        return state

    # the effects journal ----------------------------------------------------------
    def recall(self, event: int, seq: int, name: str) -> tuple[bool, Any]:
        """(True, result) when step ``seq`` of this event was done before under the same name."""
        with self._lock:
            row = self._db.execute("SELECT name, result FROM effects WHERE event = ? AND seq = ?",
                                   (event, seq)).fetchone()
        if row is None or row[0] != name:
            return False, None
        return True, json.loads(row[1])

    def remember(self, event: int, seq: int, name: str, result: Any) -> None:
        blob = json.dumps(result)
        self._tx(lambda db: db.execute("INSERT OR REPLACE INTO effects (event, seq, name, result) VALUES (?,?,?,?)",
                                       (event, seq, name, blob)))

    # reading ----------------------------------------------------------------------
    def pending(self) -> int:
        """Events not yet handled (waiting, being handled or waiting to be retried); dead ones not counted."""
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM events WHERE state = 'ready'").fetchone()[0]

    def dead(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT id, event_id, lane, attempts, received, last_error FROM events "
                                    "WHERE state = 'dead' ORDER BY id").fetchall()
        keys = ("id", "event_id", "lane", "attempts", "received", "last_error")
        return [dict(zip(keys, r)) for r in rows]
