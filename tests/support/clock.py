"""A clock the test moves: what the engine, the help desk and the connectors read as "now"."""
from __future__ import annotations

from datetime import datetime


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now
