"""One duration grammar for every setting, config file and command-line flag. Pure: no clock, no I/O.

    DURATION := PART { PART }        PART := WHOLE-NUMBER UNIT        UNIT := w | d | h | m | s

Units go from the largest to the smallest, each at most once, with nothing between the parts (``90s``,
``90m``, ``12h``, ``1h30m``, ``1d12h``, ``2w``, ``1w2d``); letters may be capitals; the total must be more than
zero. ``w`` is 7 days and ``d`` 24 hours, except where a caller says what a day is (an SLA target's ``d`` is
one working day of its team, and a week of working days means nothing there, so SLA targets take d, h, m).
Environment variables that hold seconds also take a plain number (``2``, ``0.5``), read as seconds.
"""
from __future__ import annotations

import re
from datetime import timedelta

UNITS = "wdhms"
_PART = re.compile(r"(\d+)([a-z])")
_HELP = "e.g. 90s, 90m, 12h, 1d12h, 2w"


class DurationError(ValueError):
    """Not a duration; the message quotes the text and says what to write instead (``reason`` alone)."""

    def __init__(self, what: str, text: object, reason: str):
        super().__init__(f"bad {what} {text!r}: {reason}")
        self.reason = reason


def parse_duration(text: object, *, units: str = UNITS, day: timedelta = timedelta(days=1),
                   what: str = "duration") -> timedelta:
    """``text`` (see the module doc) → a timedelta of more than zero; ``units`` are the ones allowed here and
    ``day`` is how long a ``d`` is. DurationError naming ``what`` otherwise."""
    examples = ", ".join(e for e in ("90s", "90m", "12h", "1d12h", "2w") if set(re.sub(r"\d", "", e)) <= set(units))
    help_ = f"use whole numbers with units {', '.join(units)} from largest to smallest, e.g. {examples}"
    if not isinstance(text, str) or not text.strip():
        raise DurationError(what, text, help_)
    norm, at, seen, total = text.strip().lower(), 0, "", timedelta(0)
    sizes = {"w": 7 * day, "d": day, "h": timedelta(hours=1), "m": timedelta(minutes=1), "s": timedelta(seconds=1)}
    while at < len(norm):
        match = _PART.match(norm, at)
        if not match:
            raise DurationError(what, text, help_)
        amount, unit = int(match.group(1)), match.group(2)
        if unit not in units:
            known = "w (weeks), d (days), h (hours), m (minutes), s (seconds)"
            why = f"{unit!r} is not a unit here" if unit in UNITS else f"unknown unit {unit!r} (units: {known})"
            raise DurationError(what, text, f"{why}; {help_}")
        if seen and UNITS.index(unit) <= UNITS.index(seen[-1]):
            raise DurationError(what, text, f"units go from largest to smallest, each once "
                                f"(w, d, h, m, s), e.g. 1d12h")
        seen += unit
        total += amount * sizes[unit]
        at = match.end()
    if total <= timedelta(0):
        raise DurationError(what, text, "must be more than zero")
    return total


def parse_seconds(text: str, *, what: str = "duration") -> float:
    """A plain number of seconds (``2``, ``0.5``) or a duration (``90s``, ``2m``) → seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return parse_duration(text, what=what).total_seconds()
    except DurationError:
        raise DurationError(what, text, f"expected a number of seconds or a duration ({_HELP})") from None
