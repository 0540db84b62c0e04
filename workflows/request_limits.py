"""How many new requests one person may open: a limit per minute and per hour, so that a script (or a stuck
key) sending a thousand DMs opens a handful of requests, not a thousand, and IT hears of it once.

Pure: ``check`` takes the counts the store gives (requests opened by the person in the last minute and hour)
and says whether one more is allowed. The help desk asks it before opening a request.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

WINDOWS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1)}


@dataclass(frozen=True)
class RequestLimits:
    per_minute: int = 5
    per_hour: int = 30

    def __post_init__(self) -> None:
        for name in ("per_minute", "per_hour"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000:
                raise ValueError(f"{name}: expected a whole number from 1 to 10000, got {value!r}")
        if self.per_hour < self.per_minute:
            raise ValueError(f"per_hour ({self.per_hour}) is less than per_minute ({self.per_minute})")


@dataclass(frozen=True)
class Limited:
    """A request that was not opened: the person reached ``limit`` new requests in the last ``window``.
    ``first`` is True for the first refusal since their last request was opened: only then are they told
    (and IT shown a card); the refusals after it are silent."""

    requester: str
    window: str
    limit: int
    first: bool
    channel: str | None = None     # where the person wrote (to tell them there)
    thread_ts: str | None = None
    request = None   # (so callers that look at ``.request`` see that none was opened)

    @property
    def key(self) -> str:
        return f"request-limit:{self.requester}:{self.window}"


def check(limits: RequestLimits, in_last_minute: int, in_last_hour: int) -> tuple[str, int] | None:
    """The window and limit one more request would break, or None when it may be opened."""
    if in_last_minute >= limits.per_minute:
        return "minute", limits.per_minute
    if in_last_hour >= limits.per_hour:
        return "hour", limits.per_hour
    return None
