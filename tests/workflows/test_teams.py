"""config/teams.yaml: the shipped teams, and a file:line error for every kind of mistake."""
from __future__ import annotations

from datetime import date, time, timedelta
from pathlib import Path

import pytest

from workflows.config import ConfigError
from workflows.holiday_calendar import HolidayCalendar
from workflows.teams import load_teams, parse_business_hours, parse_duration

CONFIG = Path(__file__).resolve().parents[2] / "config"

# Line numbers matter: the error tests below name them.
MINIMAL = """\
teams:
  helpdesk_l1:
    name: Help desk
    channel: C0HELPDESK1
    channel_name: "#it-helpdesk"
    members: [U0IT1, U0IT4]
    lead: U0IT1
    business_hours: mon-fri 08:00-18:00
    timezone: Europe/London
    escalates_to: helpdesk_l2
    sla:
      P1: {first_response: 15m, resolution: 4h}
      P2: {first_response: 1h, resolution: 1d}
      P3: {first_response: 4h, resolution: 3d}
      P4: {first_response: 1d, resolution: 5d}
  helpdesk_l2:
    name: Help desk (advanced)
    channel: C0HELPDESK2
    channel_name: "#it-helpdesk-l2"
    members: [U0IT2]
    lead: U0IT2
    business_hours: mon-fri 08:00-18:00
    timezone: Europe/London
    sla:
      P1: {first_response: 15m, resolution: 4h}
      P2: {first_response: 1h, resolution: 1d}
      P3: {first_response: 4h, resolution: 3d}
      P4: {first_response: 1d, resolution: 5d}
responsibilities:
  it_doesnt_work: helpdesk_l1
"""


def load_text(tmp_path, text):
    (tmp_path / "teams.yaml").write_text(text, encoding="utf-8")
    return load_teams(tmp_path)


def error_for(tmp_path, old, new):
    assert old in MINIMAL, old
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, MINIMAL.replace(old, new, 1))
    return str(caught.value)


# ------------------------------------------------------------------ the shipped file

@pytest.fixture(scope="module")
def teams():
    return load_teams(CONFIG)


def test_shipped_teams_are_the_six_owners_of_the_matrix(teams):
    assert list(teams.teams) == ["helpdesk_l1", "helpdesk_l2", "helpdesk_l3", "msp", "security", "cio"]
    l1 = teams.team("helpdesk_l1")
    assert (l1.channel, l1.channel_name, l1.lead) == ("C0HELPDESK1", "#it-helpdesk", "U0IT1")
    assert l1.business_hours == parse_business_hours("mon-fri 08:00-18:00")
    assert teams.team("security").business_hours.always


def test_help_desk_escalates_l1_to_l2_to_l3_and_stops(teams):
    assert teams.next_tier("helpdesk_l1") == "helpdesk_l2"
    assert teams.next_tier("helpdesk_l2") == "helpdesk_l3"
    assert teams.next_tier("helpdesk_l3") is None
    assert [teams.next_tier(t) for t in ("msp", "security", "cio")] == [None, None, None]


def test_responsibilities_name_the_owning_team(teams):
    assert teams.team_for("it_doesnt_work").id == "helpdesk_l1"
    assert teams.team_for("onboarding_steps").id == "helpdesk_l1"
    assert teams.team_for("active_directory_maintenance").id == "helpdesk_l3"
    assert teams.team_for("backup_issues").channel == "C0MSP"
    assert teams.team_for("security_incidents").id == "security"
    assert teams.team_for("software_approval").id == "cio"
    assert teams.team_for("equipment_purchase").id == "cio"
    with pytest.raises(KeyError, match="no team is responsible for 'make_coffee'"):
        teams.team_for("make_coffee")


def test_membership_and_vips(teams):
    assert teams.is_member("helpdesk_l1", "U0IT1")
    assert teams.is_member("security", "U0SEC1")
    assert not teams.is_member("security", "U0IT1")
    assert teams.is_vip("U0CEO") and not teams.is_vip("U0ANA")
    for employee in ("U0ANA", "U0BEN", "U0CHLOE", "U0DEV"):
        assert not any(teams.is_member(t, employee) for t in teams.teams)
    with pytest.raises(KeyError, match="unknown team 'helpdesk'"):
        teams.is_member("helpdesk", "U0IT1")


def test_sla_days_are_working_days_of_the_team(teams):
    l1, security = teams.team("helpdesk_l1"), teams.team("security")
    assert l1.sla["P1"].first_response == timedelta(minutes=15)
    assert l1.sla["P3"].resolution == timedelta(hours=30)  # 3 days of 08:00-18:00
    assert l1.sla["P3"].resolution_text == "3d"
    assert security.sla["P3"].resolution == timedelta(hours=72)  # 24x7: 3 real days


def test_company_holidays_close_every_team(teams):
    assert date(2026, 12, 25) in teams.team("helpdesk_l1").holidays
    assert date(2026, 4, 3) in teams.team("cio").holidays


def test_the_shipped_calendar_never_runs_out(teams):
    """England's bank holidays are computed for any year the SLA clock reaches (issue 10: the 2027 date bomb)."""
    l1 = teams.team("helpdesk_l1").holidays
    assert (l1.country, l1.subdivision, l1.ends) == ("GB", "ENG", None)
    assert date(2027, 1, 1) in l1 and date(2031, 12, 25) in l1
    assert date(2027, 12, 27) in l1 and date(2027, 12, 28) in l1  # Christmas and Boxing Day on a weekend
    assert date(2027, 1, 4) not in l1
    assert teams.holiday_warnings(date(2026, 12, 3)) == []


def test_old_list_of_dates_still_works_and_adds_to_a_country(tmp_path):
    text = MINIMAL.replace("teams:\n", "holidays: [2026-12-24]\nteams:\n", 1).replace(
        "    timezone: Europe/London\n    sla:",
        "    timezone: Europe/London\n    holidays: {country: IE, extra: [2027-01-04]}\n    sla:", 1)
    teams = load_text(tmp_path, text)
    l1, l2 = teams.team("helpdesk_l1").holidays, teams.team("helpdesk_l2").holidays
    assert l2 == HolidayCalendar("IE", None, frozenset({date(2026, 12, 24), date(2027, 1, 4)}))
    assert date(2027, 3, 17) in l2 and date(2027, 1, 4) in l2  # St Patrick's Day; the team's own day
    assert l1 == HolidayCalendar(None, None, frozenset({date(2026, 12, 24)}))
    assert date(2027, 1, 1) not in l1 and l1.ends == date(2026, 12, 24)


def test_a_calendar_of_explicit_dates_is_warned_about_60_days_before_it_ends(tmp_path):
    text = MINIMAL.replace("teams:\n", "holidays: [2026-12-25, 2026-12-28]\nteams:\n", 1)
    teams = load_text(tmp_path, text)
    warnings = teams.holiday_warnings(date(2026, 12, 3))
    assert warnings == [
        f"team {tid!r}: its holidays end on 2026-12-28; after that its SLA clock counts public holidays as "
        "working days (set holidays: {country: GB, subdivision: ENG} to have them for every year)"
        for tid in ("helpdesk_l1", "helpdesk_l2")]
    assert teams.holiday_warnings(date(2026, 10, 29)) == []  # 60 days ahead still inside the list
    assert len(teams.holiday_warnings(date(2026, 10, 30))) == 2
    bare = load_text(tmp_path, MINIMAL).holiday_warnings(date(2026, 12, 3))
    assert bare[0].startswith("team 'helpdesk_l1' has no holidays")


def test_24x7_teams_are_not_warned_about_holidays(tmp_path):
    teams = load_text(tmp_path, MINIMAL.replace("business_hours: mon-fri 08:00-18:00", "business_hours: 24x7"))
    assert teams.holiday_warnings(date(2026, 12, 3)) == []


# ------------------------------------------------------------------ single values

def test_business_hours_forms():
    assert parse_business_hours("mon-fri 08:00-18:00").days == frozenset({0, 1, 2, 3, 4})
    hours = parse_business_hours("Mon,Wed,sat-sun 09:30-17:00")
    assert hours.days == frozenset({0, 2, 5, 6}) and (hours.opens, hours.closes) == (time(9, 30), time(17))
    assert hours.day_length == timedelta(hours=7, minutes=30)
    assert parse_business_hours("24x7").day_length == timedelta(hours=24)
    for bad in ("weekdays 8-6", "fri-mon 08:00-18:00", "mon-fri 18:00-08:00", "mon-fri 08:00-24:00"):
        with pytest.raises(ValueError):
            parse_business_hours(bad)


def test_durations():
    day = timedelta(hours=10)
    assert parse_duration("15m", day) == timedelta(minutes=15)
    assert parse_duration("1h30m", day) == timedelta(minutes=90)
    assert parse_duration("2d4h", day) == timedelta(hours=24)
    for bad in ("", "0m", "4 hours", "h", 4, "1.5h"):
        with pytest.raises(ValueError):
            parse_duration(bad, day)


# ------------------------------------------------------------------ mistakes, with file and line

def test_minimal_file_loads(tmp_path):
    teams = load_text(tmp_path, MINIMAL)
    assert teams.next_tier("helpdesk_l1") == "helpdesk_l2"
    assert teams.vips == frozenset() and teams.team("helpdesk_l2").holidays == HolidayCalendar()


def test_unknown_key_in_a_team(tmp_path):
    message = error_for(tmp_path, "    lead: U0IT1\n", "    lead: U0IT1\n    pager: U0IT1\n")
    assert message == (f"{tmp_path / 'teams.yaml'}:8: unknown key 'pager' in team 'helpdesk_l1' (known: name, "
                       "channel, channel_name, members, lead, business_hours, timezone, sla, escalates_to, holidays)")


def test_unknown_top_level_key(tmp_path):
    message = error_for(tmp_path, "responsibilities:", "owners:")
    assert message == (f"{tmp_path / 'teams.yaml'}:29: unknown key 'owners' in teams.yaml "
                       "(known: teams, vips, holidays, responsibilities)")


def test_missing_required_key_points_at_the_team(tmp_path):
    message = error_for(tmp_path, "    lead: U0IT2\n", "")
    assert message == f"{tmp_path / 'teams.yaml'}:16: team 'helpdesk_l2' is missing 'lead'"


def test_unknown_team_in_escalates_to(tmp_path):
    message = error_for(tmp_path, "escalates_to: helpdesk_l2", "escalates_to: helpdesk_l9")
    assert message == (f"{tmp_path / 'teams.yaml'}:10: team 'helpdesk_l1': unknown team 'helpdesk_l9' "
                       "in escalates_to (known: helpdesk_l1, helpdesk_l2)")


def test_unknown_team_in_responsibilities(tmp_path):
    message = error_for(tmp_path, "it_doesnt_work: helpdesk_l1", "it_doesnt_work: helpdesk")
    assert message == (f"{tmp_path / 'teams.yaml'}:30: responsibility 'it_doesnt_work': unknown team "
                       "'helpdesk' (known: helpdesk_l1, helpdesk_l2)")


def test_bad_duration(tmp_path):
    message = error_for(tmp_path, "P3: {first_response: 4h, resolution: 3d}",
                        "P3: {first_response: 4h, resolution: 3 days}")
    assert message == (f"{tmp_path / 'teams.yaml'}:14: team 'helpdesk_l1' sla P3 resolution: "
                       "bad duration '3 days': use whole numbers with units d, h, m from largest to smallest, "
                       "e.g. 90m, 12h, 1d12h")


def test_first_response_longer_than_resolution(tmp_path):
    message = error_for(tmp_path, "P1: {first_response: 15m, resolution: 4h}",
                        "P1: {first_response: 5h, resolution: 4h}")
    assert message == (f"{tmp_path / 'teams.yaml'}:12: team 'helpdesk_l1' sla P1: "
                       "first_response is longer than resolution")


def test_bad_time_zone(tmp_path):
    message = error_for(tmp_path, "timezone: Europe/London", "timezone: Europe/Londres")
    assert message == (f"{tmp_path / 'teams.yaml'}:9: team 'helpdesk_l1': unknown time zone 'Europe/Londres' "
                       "(use an IANA name such as Europe/London)")


def test_bad_business_hours(tmp_path):
    message = error_for(tmp_path, "business_hours: mon-fri 08:00-18:00", "business_hours: weekdays 8 to 6")
    assert message == (f"{tmp_path / 'teams.yaml'}:8: team 'helpdesk_l1': bad business_hours "
                       "'weekdays 8 to 6' (use e.g. 'mon-fri 08:00-18:00' or '24x7')")


def test_escalation_cycle(tmp_path):
    message = error_for(tmp_path, "    timezone: Europe/London\n    sla:",
                        "    timezone: Europe/London\n    escalates_to: helpdesk_l1\n    sla:")
    assert message == f"{tmp_path / 'teams.yaml'}:10: escalation cycle: helpdesk_l1 -> helpdesk_l2 -> helpdesk_l1"


def test_team_escalating_to_itself(tmp_path):
    message = error_for(tmp_path, "escalates_to: helpdesk_l2", "escalates_to: helpdesk_l1")
    assert message == f"{tmp_path / 'teams.yaml'}:10: escalation cycle: helpdesk_l1 -> helpdesk_l1"


def test_missing_priority(tmp_path):
    message = error_for(tmp_path, "      P4: {first_response: 1d, resolution: 5d}\n  helpdesk_l2:", "  helpdesk_l2:")
    assert message == (f"{tmp_path / 'teams.yaml'}:11: team 'helpdesk_l1': sla must set P1, P2, P3 and P4 "
                       "(missing: P4)")


def test_unknown_priority(tmp_path):
    message = error_for(tmp_path, "      P4: {first_response: 1d, resolution: 5d}\n  helpdesk_l2:",
                        "      P5: {first_response: 1d, resolution: 5d}\n  helpdesk_l2:")
    assert message == (f"{tmp_path / 'teams.yaml'}:15: unknown key 'P5' in team 'helpdesk_l1' sla "
                       "(known: P1, P2, P3, P4)")


def test_lead_must_be_a_member(tmp_path):
    message = error_for(tmp_path, "    lead: U0IT1", "    lead: U0IT9")
    assert message == f"{tmp_path / 'teams.yaml'}:7: team 'helpdesk_l1': lead 'U0IT9' is not one of its members"


def test_channel_must_be_a_channel_id(tmp_path):
    message = error_for(tmp_path, "channel: C0HELPDESK1", "channel: it-helpdesk")
    assert message == (f"{tmp_path / 'teams.yaml'}:4: team 'helpdesk_l1': channel must be a Slack channel id "
                       "like C0HELPDESK1")


def test_unknown_holiday_subdivision(tmp_path):
    message = error_for(tmp_path, "teams:\n", "holidays:\n  country: GB\n  subdivision: LDN\nteams:\n")
    assert message == (f"{tmp_path / 'teams.yaml'}:3: company holidays: unknown holiday subdivision 'LDN' for GB "
                       "(known: ENG, NIR, SCT, WLS)")


@pytest.mark.parametrize("holidays, line, message", [
    ("[2026-12-25, christmas]", 24, "holidays: 'christmas' is not a date like 2026-12-25"),
    ("{country: XX}", 24, "team 'helpdesk_l2' holidays: unknown holiday country 'XX' "
                          "(use an ISO 3166 code such as GB, US, DE)"),
    ("{country: NO}", 24, "team 'helpdesk_l2' holidays: country must be a code in quotes, e.g. \"NO\""),
    ("{subdivision: ENG}", 24, "team 'helpdesk_l2' holidays: a subdivision needs a country"),
    ("{country: GB, region: ENG}", 24, "unknown key 'region' in team 'helpdesk_l2' holidays "
                                       "(known: country, subdivision, extra)"),
    ("GB", 24, "team 'helpdesk_l2' holidays must be a list of dates like 2026-12-25, or "
               "{country: GB, subdivision: ENG, extra: [2026-12-24]}"),
])
def test_holiday_mistakes(tmp_path, holidays, line, message):
    got = error_for(tmp_path, "    timezone: Europe/London\n    sla:",
                    f"    timezone: Europe/London\n    holidays: {holidays}\n    sla:")
    assert got == f"{tmp_path / 'teams.yaml'}:{line}: {message}"


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_teams(tmp_path)
    assert str(caught.value) == f"{tmp_path / 'teams.yaml'}: file not found"
