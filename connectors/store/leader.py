"""Leadership for the clock: only the process holding the lock runs scheduled jobs.

PostgreSQL: a session-level advisory lock on a connection kept open for the clock's life (if the
process dies, the server drops the lock with the connection). The server also drops it when only the
connection goes (a failover, a backend terminated, a network cut), and another clock may then take it:
so the leader asks ``still_held()`` at every poll (the connection answers and ``pg_locks`` shows the lock
granted to its backend) and stops its jobs when it is not. SQLite: an exclusive lock file (flock), held
by the open file for the process's life; there is no connection to lose.
"""
from __future__ import annotations

import fcntl
import logging
from typing import Any

from sqlalchemy import Engine, text

log = logging.getLogger(__name__)
CLOCK_LOCK = 0x17B0C


class Leadership:
    def __init__(self, engine: Engine, key: int = CLOCK_LOCK):
        self.engine = engine
        self.key = key
        self._held: Any = None

    @property
    def held(self) -> bool:
        return self._held is not None

    def try_acquire(self) -> bool:
        if self._held is not None:
            return True
        if self.engine.dialect.name == "postgresql":
            conn = self.engine.connect()
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar()
            conn.commit()
            if got:
                self._held = conn
            else:
                conn.close()
        else:
            handle = open(f"{self.engine.url.database or 'itbot'}.clock-lock", "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._held = handle
            except BlockingIOError:
                handle.close()
        return self._held is not None

    def still_held(self) -> bool:
        """Whether this process still holds the lock (False, and forgotten, when its connection was lost)."""
        if self._held is None:
            return False
        if self.engine.dialect.name != "postgresql":
            return True
        conn = self._held
        try:
            held = conn.execute(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND classid = :hi AND objid = :lo AND objsubid = 1"),
                {"hi": (self.key >> 32) & 0xFFFFFFFF, "lo": self.key & 0xFFFFFFFF}).scalar()
            conn.commit()
        except Exception:   # the connection is gone (terminated, failover): so is the lock
            log.warning("the clock's lock connection was lost", exc_info=True)
            held = 0
        if held:
            return True
        self._held = None
        try:
            conn.invalidate()
            conn.close()
        except Exception:
            log.debug("closing the lost lock connection failed", exc_info=True)
        return False

    def release(self) -> None:
        if self._held is None:
            return
        if self.engine.dialect.name == "postgresql":
            try:
                self._held.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            except Exception:   # the connection had gone, and the lock with it
                log.warning("could not release the clock's lock; its connection was lost", exc_info=True)
                self._held.invalidate()
            self._held.close()
        else:
            fcntl.flock(self._held, fcntl.LOCK_UN)
            self._held.close()
        self._held = None
