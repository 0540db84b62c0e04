"""When a team is closed for the day: its country's public holidays, and the company's and team's own days.

Public holidays come from the ``holidays`` package and are computed for whatever year is asked about,
so a calendar with a country never runs out. A calendar of explicit dates only (the old form of
config/teams.yaml) ends on its last date: ``workflows.teams.holiday_warnings`` names the teams whose
calendar ends soon.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import holidays as _holidays



@dataclass(frozen=True)
class HolidayCalendar:
    """A team's closed days. ``day in calendar`` answers for any year."""

    country: str | None = None  # ISO 3166-1 alpha-2, e.g. GB; None: explicit dates only
    subdivision: str | None = None  # e.g. ENG (England), as the holidays package names it
    dates: frozenset[date] = frozenset()  # the company's and the team's own days

    def __contains__(self, day: object) -> bool:
        if not isinstance(day, date):
            return False
        if day in self.dates:
            return True
        return self.country is not None and day in public_holidays(self.country, self.subdivision, day.year)

    @property
    def ends(self) -> date | None:
        """The last day this calendar knows of; None when it is computed for every year (it has a country)."""
        if self.country is not None:
            return None
        return max(self.dates, default=None)

    def describe(self) -> str:
        if self.country is None:
            return "explicit dates only"
        return f"{self.country}-{self.subdivision}" if self.subdivision else self.country


@lru_cache(maxsize=512)
def public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    """The public holidays (observed days included) of ``country``/``subdivision`` in ``year``."""
    # Neighbouring years too: a holiday of one year may be observed on a day of the next.
    days = _holidays.country_holidays(country, subdiv=subdivision, years=range(year - 1, year + 2))
    return frozenset(d for d in days if d.year == year)


def check_country(country: str) -> None:
    """ValueError when the holidays package does not know ``country``."""
    if country not in _holidays.list_supported_countries():
        raise ValueError(f"unknown holiday country {country!r} (use an ISO 3166 code such as GB, US, DE)")


def check_subdivision(country: str, subdivision: str) -> None:
    """ValueError when ``subdivision`` is not one of ``country``'s (a known country)."""
    known = _holidays.list_supported_countries()[country]
    if subdivision not in known:
        raise ValueError(f"unknown holiday subdivision {subdivision!r} for {country} "
                         f"(known: {', '.join(known) or 'none'})")
