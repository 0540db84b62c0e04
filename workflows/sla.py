"""Business-time arithmetic and SLA clocks.

A team's hours are wall-clock times in its own time zone ("08:00-18:00 Europe/London"),
so each day's opening and closing are turned into instants separately and all sums are
done in UTC: a day on which the clocks change is still exactly as long as it really is.
Nights, closed weekdays and holidays do not count; a request raised outside hours starts
its clock at the next opening. A ``24x7`` team counts every real second, holidays too.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Container, Iterator
from zoneinfo import ZoneInfo

from workflows.teams import BusinessHours, Team

UTC = timezone.utc
DEFAULT_WARNING_FRACTION = 0.75
_MAX_CLOSED_DAYS = 366  # a longer run of closed days means the hours or holidays are wrong
_ZERO = timedelta(0)


def add_business_time(start: datetime, duration: timedelta, hours: BusinessHours, tz: tzinfo | str,
                      holidays: Container[date] = ()) -> datetime:
    """The instant ``duration`` of business time after ``start``, in ``tz``.

    A duration that ends exactly at closing time is due at closing, not the next morning.
    """
    zone = _zone(tz)
    start = _utc(start, "start")
    if duration < _ZERO:
        raise ValueError("duration must not be negative")
    if hours.always:
        return (start + duration).astimezone(zone)
    left = duration
    for opens, closes in _open_windows(start.astimezone(zone).date(), hours, zone, holidays):
        begin = max(start, opens)
        if begin >= closes:
            continue
        if left <= closes - begin:
            return (begin + left).astimezone(zone)
        left -= closes - begin
    raise AssertionError("unreachable: _open_windows never ends")  # pragma: no cover


def business_time_between(a: datetime, b: datetime, hours: BusinessHours, tz: tzinfo | str,
                          holidays: Container[date] = ()) -> timedelta:
    """Business time from ``a`` to ``b``; zero when ``b`` is not after ``a``."""
    zone = _zone(tz)
    a, b = _utc(a, "a"), _utc(b, "b")
    if b <= a:
        return _ZERO
    if hours.always:
        return b - a
    total = _ZERO
    for opens, closes in _open_windows(a.astimezone(zone).date(), hours, zone, holidays):
        if opens >= b:
            return total
        total += max(_ZERO, min(closes, b) - max(opens, a))
    raise AssertionError("unreachable: _open_windows never ends")  # pragma: no cover


def _open_windows(day: date, hours: BusinessHours, zone: ZoneInfo,
                  holidays: Container[date]) -> Iterator[tuple[datetime, datetime]]:
    """(opening, closing) as UTC instants for each open day from ``day`` on, without end."""
    closed_run = 0
    while True:
        if day.weekday() in hours.days and day not in holidays:
            closed_run = 0
            yield _instant(day, hours.opens, zone), _instant(day, hours.closes, zone)
        else:
            closed_run += 1
            if closed_run > _MAX_CLOSED_DAYS:
                raise ValueError(f"no business hours in the {_MAX_CLOSED_DAYS} days after {day}: "
                                 "check the team's days and holidays")
        day += timedelta(days=1)


def _instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a time-zone-aware datetime")
    return moment.astimezone(UTC)


def _zone(tz: tzinfo | str) -> tzinfo:
    return ZoneInfo(tz) if isinstance(tz, str) else tz


# ------------------------------------------------------------------ SLA state of one request

@dataclass(frozen=True)
class SlaState:
    priority: str
    first_response_due: datetime  # in the team's time zone
    resolution_due: datetime
    first_response_breached: bool  # answered late, or still unanswered after the due time
    used: float  # share of the resolution window used (business time) until resolved_at or now; > 1 once late
    remaining: timedelta  # business time left before resolution_due; negative once late
    warning: bool  # unresolved and used >= the warning fraction (also true once breached)
    breached: bool  # unresolved and past resolution_due


def sla_state(request_created_at: datetime, now: datetime, priority: str, team: Team, *,
              first_response_at: datetime | None = None, resolved_at: datetime | None = None,
              warn_fraction: float = DEFAULT_WARNING_FRACTION) -> SlaState:
    """Where a request stands against ``team``'s SLA for ``priority`` at ``now``.

    ``warn_fraction`` comes from routing.yaml (``RoutingRules.sla_warning_fraction``).
    """
    try:
        sla = team.sla[priority]
    except KeyError:
        raise ValueError(f"unknown priority {priority!r} (use P1, P2, P3 or P4)") from None
    hours, zone, holidays = team.business_hours, team.zone, team.holidays
    first_due = add_business_time(request_created_at, sla.first_response, hours, zone, holidays)
    resolution_due = add_business_time(request_created_at, sla.resolution, hours, zone, holidays)
    now = _utc(now, "now")
    open_ = resolved_at is None
    used = business_time_between(request_created_at, now if open_ else resolved_at, hours, zone, holidays)
    fraction = used / sla.resolution
    return SlaState(
        priority=priority,
        first_response_due=first_due,
        resolution_due=resolution_due,
        first_response_breached=_utc(first_response_at or now, "first_response_at") > first_due,
        used=fraction,
        remaining=sla.resolution - used,
        warning=open_ and fraction >= warn_fraction,
        breached=open_ and now > resolution_due,
    )
