"""Leadership for the clock: only the process holding the lock runs scheduled jobs.

PostgreSQL: a session-level advisory lock on a connection kept open for the clock's life (if the
process dies, the server drops the lock with the connection). SQLite: an exclusive lock file.
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

    def release(self) -> None:
        if self._held is None:
            return
        if self.engine.dialect.name == "postgresql":
            self._held.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            self._held.close()
        else:
            fcntl.flock(self._held, fcntl.LOCK_UN)
            self._held.close()
        self._held = None
