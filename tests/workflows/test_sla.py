"""Business time and SLA clocks, with due times worked out by hand.

The help desk (helpdesk_l1) works mon-fri 08:00-18:00 Europe/London and is closed on the
England and Wales bank holidays (of every year); security is 24x7. In 2026 the UK clocks go forward
on Sunday 29 March (01:00 GMT -> 02:00 BST) and back on Sunday 25 October (02:00 BST -> 01:00 GMT).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from workflows.sla import add_business_time, business_time_between, sla_state
from workflows.teams import load_teams, parse_business_hours

CONFIG = Path(__file__).resolve().parents[2] / "config"
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
UTC = timezone.utc


def london(*args):
    return datetime(*args, tzinfo=LONDON)


@pytest.fixture(scope="module")
def teams():
    return load_teams(CONFIG)


@pytest.fixture(scope="module")
def l1(teams):
    return teams.team("helpdesk_l1")


@pytest.fixture(scope="module")
def security(teams):
    return teams.team("security")


def due(team, start, **duration):
    return add_business_time(start, timedelta(**duration), team.business_hours, team.zone, team.holidays)


def spent(team, a, b):
    return business_time_between(a, b, team.business_hours, team.zone, team.holidays)


# ------------------------------------------------------------------ adding business time

def test_friday_evening_request_is_due_monday_morning(l1):
    # 30 minutes are left on Friday (17:30-18:00), the other 30 run from Monday 08:00.
    assert due(l1, london(2026, 6, 5, 17, 30), hours=1) == london(2026, 6, 8, 8, 30)
    # The P2 first-response target of the help desk is exactly this hour.
    assert l1.sla["P2"].first_response == timedelta(hours=1)


def test_request_outside_hours_starts_at_next_opening(l1):
    assert due(l1, london(2026, 6, 5, 19, 0), hours=4) == london(2026, 6, 8, 12, 0)  # Friday night
    assert due(l1, london(2026, 6, 6, 11, 0), hours=4) == london(2026, 6, 8, 12, 0)  # Saturday
    assert due(l1, london(2026, 6, 9, 6, 45), minutes=15) == london(2026, 6, 9, 8, 15)  # Tuesday, early


def test_work_ending_at_closing_time_is_due_at_closing(l1):
    assert due(l1, london(2026, 6, 8, 14, 0), hours=4) == london(2026, 6, 8, 18, 0)


def test_multi_day_window(l1):
    # 30 business hours from Monday 09:00: Mon 9h + Tue 10h + Wed 10h + Thu 1h.
    assert due(l1, london(2026, 6, 1, 9, 0), hours=30) == london(2026, 6, 4, 9, 0)


def test_bank_holidays_are_skipped(l1):
    # Thursday 2 April 17:00: 1h that day; Good Friday, the weekend and Easter Monday closed;
    # the remaining 3h run from Tuesday 7 April 08:00.
    assert due(l1, london(2026, 4, 2, 17, 0), hours=4) == london(2026, 4, 7, 11, 0)


def test_clocks_going_forward_over_a_weekend(l1):
    # Friday 27 March 17:00 GMT: 1h Friday, then Monday 30 March 08:00 BST + 3h = 11:00 BST = 10:00 UTC.
    result = due(l1, london(2026, 3, 27, 17, 0), hours=4)
    assert result == london(2026, 3, 30, 11, 0)
    assert result.astimezone(UTC) == datetime(2026, 3, 30, 10, 0, tzinfo=UTC)


def test_clocks_going_back_over_a_weekend(l1):
    # Friday 23 October 16:00 BST: 2h Friday, then Monday 26 October 08:00 GMT + 2h.
    result = due(l1, london(2026, 10, 23, 16, 0), hours=4)
    assert result == london(2026, 10, 26, 10, 0)
    assert result.astimezone(UTC) == datetime(2026, 10, 26, 10, 0, tzinfo=UTC)


def test_24x7_counts_real_hours_across_the_spring_change(security):
    # Saturday 23:00 GMT + 4 real hours = 03:00 UTC = 04:00 BST, five hours later on the wall clock.
    assert due(security, london(2026, 3, 28, 23, 0), hours=4) == datetime(2026, 3, 29, 3, 0, tzinfo=UTC)
    assert due(security, london(2026, 3, 28, 23, 0), hours=4).strftime("%H:%M %Z") == "04:00 BST"


def test_24x7_counts_real_hours_across_the_autumn_change(security):
    # 00:30 BST (23:30 UTC) + 2 real hours = 01:30 UTC = the second 01:30 of the night, in GMT.
    result = due(security, london(2026, 10, 25, 0, 30), hours=2)
    # (Python never calls a time inside the repeated hour equal to one in another zone: compare in UTC.)
    assert result.astimezone(UTC) == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert result.strftime("%H:%M %Z") == "01:30 GMT"


def test_24x7_ignores_weekends_and_holidays(security):
    assert due(security, london(2026, 12, 24, 22, 0), hours=10) == london(2026, 12, 25, 8, 0)


def test_a_window_on_the_day_the_clocks_change_is_as_long_as_it_really_is():
    night = parse_business_hours("sun 00:00-06:00")
    spring = business_time_between(london(2026, 3, 29, 0, 0), london(2026, 3, 29, 6, 0), night, LONDON)
    autumn = business_time_between(london(2026, 10, 25, 0, 0), london(2026, 10, 25, 6, 0), night, LONDON)
    assert (spring, autumn) == (timedelta(hours=5), timedelta(hours=7))
    # Five real hours fill that Sunday; the sixth starts the next Sunday (5 April, BST).
    assert add_business_time(london(2026, 3, 29, 0, 0), timedelta(hours=6), night, LONDON) == london(2026, 4, 5, 1, 0)


def test_start_in_another_time_zone(l1):
    # Dev in New York at 12:00 EDT on Friday 27 March is 16:00 in London: 2h Friday, 2h Monday.
    start = datetime(2026, 3, 27, 12, 0, tzinfo=NEW_YORK)
    assert due(l1, start, hours=4) == london(2026, 3, 30, 10, 0)


def test_time_zone_may_be_given_by_name(l1):
    hours = l1.business_hours
    assert add_business_time(london(2026, 6, 5, 17, 30), timedelta(hours=1), hours, "Europe/London") == \
        london(2026, 6, 8, 8, 30)


def test_naive_datetimes_are_refused(l1):
    with pytest.raises(ValueError, match="time-zone-aware"):
        due(l1, datetime(2026, 6, 5, 17, 30), hours=1)


# ------------------------------------------------------------------ measuring business time

def test_business_time_between(l1):
    assert spent(l1, london(2026, 6, 5, 17, 0), london(2026, 6, 8, 9, 0)) == timedelta(hours=2)
    assert spent(l1, london(2026, 6, 6, 9, 0), london(2026, 6, 7, 17, 0)) == timedelta(0)  # weekend
    assert spent(l1, london(2026, 4, 2, 9, 0), london(2026, 4, 7, 9, 0)) == timedelta(hours=10)  # Easter
    assert spent(l1, london(2026, 6, 8, 9, 0), london(2026, 6, 5, 9, 0)) == timedelta(0)  # backwards


def test_between_undoes_add(l1):
    for start in (london(2026, 3, 27, 17, 0), london(2026, 10, 23, 3, 0), london(2026, 12, 24, 12, 0)):
        for hours in (1, 7, 26):
            end = due(l1, start, hours=hours)
            assert spent(l1, start, end) == timedelta(hours=hours)


# ------------------------------------------------------------------ SLA state

CREATED = london(2026, 6, 1, 9, 0)  # Monday; help desk P3 = 4h first response, 3d (30h) resolution


def test_due_times_of_a_p3(l1):
    state = sla_state(CREATED, london(2026, 6, 1, 10, 0), "P3", l1)
    assert state.first_response_due == london(2026, 6, 1, 13, 0)
    assert state.resolution_due == london(2026, 6, 4, 9, 0)
    assert state.remaining == timedelta(hours=29)
    assert not (state.warning or state.breached or state.first_response_breached)


def test_warning_at_three_quarters_of_the_window(l1):
    # 75% of 30h is 22h30: Mon 9h + Tue 10h + Wed 08:00-11:30.
    before = sla_state(CREATED, london(2026, 6, 3, 11, 29), "P3", l1, first_response_at=london(2026, 6, 1, 9, 5))
    at = sla_state(CREATED, london(2026, 6, 3, 11, 30), "P3", l1, first_response_at=london(2026, 6, 1, 9, 5))
    assert (before.warning, at.warning) == (False, True)
    assert at.used == 0.75 and at.remaining == timedelta(hours=7, minutes=30)
    assert not at.breached


def test_warning_fraction_is_a_setting(l1):
    # Half of 30h = 15h: Mon 9h + Tue 08:00-14:00.
    assert sla_state(CREATED, london(2026, 6, 2, 14, 0), "P3", l1, warn_fraction=0.5).warning
    assert not sla_state(CREATED, london(2026, 6, 2, 13, 59), "P3", l1, warn_fraction=0.5).warning


def test_breached_once_past_due_and_unresolved(l1):
    state = sla_state(CREATED, london(2026, 6, 4, 9, 1), "P3", l1)
    assert state.breached and state.warning and state.first_response_breached
    assert state.remaining == timedelta(minutes=-1)


def test_resolved_in_time_is_never_breached(l1):
    state = sla_state(CREATED, london(2026, 6, 10, 12, 0), "P3", l1, first_response_at=london(2026, 6, 1, 12, 59),
                      resolved_at=london(2026, 6, 3, 15, 0))
    assert not (state.breached or state.warning or state.first_response_breached)
    assert state.used == pytest.approx(26 / 30)  # Mon 9h + Tue 10h + Wed 7h


def test_first_response_late_or_overdue(l1):
    assert sla_state(CREATED, london(2026, 6, 1, 13, 1), "P3", l1).first_response_breached
    assert sla_state(CREATED, london(2026, 6, 2, 9, 0), "P3", l1,
                     first_response_at=london(2026, 6, 1, 14, 0)).first_response_breached
    assert not sla_state(CREATED, london(2026, 6, 1, 12, 59), "P3", l1).first_response_breached


def test_request_raised_at_the_weekend_starts_on_monday(l1):
    state = sla_state(london(2026, 6, 6, 10, 0), london(2026, 6, 7, 23, 0), "P2", l1)
    assert state.first_response_due == london(2026, 6, 8, 9, 0)
    assert state.resolution_due == london(2026, 6, 8, 18, 0)  # 1d = one 10-hour working day
    assert state.used == 0.0


def test_security_p1_runs_through_the_night(security):
    state = sla_state(london(2026, 6, 6, 2, 0), london(2026, 6, 6, 5, 0), "P1", security)
    assert state.first_response_due == london(2026, 6, 6, 2, 15)
    assert state.resolution_due == london(2026, 6, 6, 6, 0)
    assert state.warning and not state.breached and state.first_response_breached


def test_unknown_priority(l1):
    with pytest.raises(ValueError, match="unknown priority 'P9'"):
        sla_state(CREATED, CREATED, "P9", l1)


# ------------------------------------------------------------------ holidays in any year (issue 10)

def test_a_window_across_new_year_2027_skips_new_years_day(l1):
    # Thursday 31 December 2026 16:00: 2h that day; Friday 1 January 2027 is a bank holiday, then the
    # weekend; the other 8h of the P2 resolution (1d = 10h) run from Monday 4 January 08:00.
    start = london(2026, 12, 31, 16, 0)
    assert due(l1, start, hours=10) == london(2027, 1, 4, 16, 0)
    assert spent(l1, start, london(2027, 1, 4, 9, 0)) == timedelta(hours=3)
    state = sla_state(start, london(2027, 1, 4, 15, 0), "P2", l1)
    assert state.resolution_due == london(2027, 1, 4, 16, 0) and not state.breached


US_TEAM = """\
  helpdesk_us:
    name: IT help desk (New York)
    channel: C0HELPDESKUS
    channel_name: "#it-helpdesk-us"
    members: [U0ITNY]
    lead: U0ITNY
    business_hours: mon-fri 09:00-17:00
    timezone: America/New_York
    holidays: {country: US, subdivision: NY}
    sla:
      P1: {first_response: 15m, resolution: 4h}
      P2: {first_response: 1h, resolution: 1d}
      P3: {first_response: 4h, resolution: 3d}
      P4: {first_response: 1d, resolution: 5d}
"""


def test_a_team_in_another_country_keeps_its_own_holidays(tmp_path, l1):
    text = (CONFIG / "teams.yaml").read_text(encoding="utf-8").replace("\nresponsibilities:", US_TEAM + "\nresponsibilities:")
    (tmp_path / "teams.yaml").write_text(text, encoding="utf-8")
    us = load_teams(tmp_path).team("helpdesk_us")
    ny = lambda *args: datetime(*args, tzinfo=NEW_YORK)  # noqa: E731
    # Thanksgiving, Thursday 25 November 2027: closed in New York, open in London.
    assert due(us, ny(2027, 11, 24, 16, 0), hours=2) == ny(2027, 11, 26, 10, 0)
    assert due(l1, london(2027, 11, 24, 17, 0), hours=2) == london(2027, 11, 25, 9, 0)
    # The English summer bank holiday, Monday 30 August 2027: closed in London, open in New York.
    assert due(l1, london(2027, 8, 27, 17, 0), hours=2) == london(2027, 8, 31, 9, 0)
    assert due(us, ny(2027, 8, 27, 16, 0), hours=2) == ny(2027, 8, 30, 10, 0)
    # Independence Day on a Sunday is observed on Monday 5 July 2027.
    assert due(us, ny(2027, 7, 2, 16, 0), hours=2) == ny(2027, 7, 6, 10, 0)
