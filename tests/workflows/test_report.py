"""The report, from a real SQLite store filled with rows whose times are set by hand.

The window is 30 days before NOW (Monday 2 March 2026, 12:00 UTC; London is on GMT then).
helpdesk_l1 works mon-fri 08:00-18:00, the MSP mon-fri 07:00-19:00, security 24x7.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from connectors.store import build_store
from connectors.store.reports import report_rows
from connectors.store.tables import answer_log, audit_log, checklist_runs, requests
from workflows.models import AnswerRecord, ItRequest, Run, RunStep
from workflows.report import (Durations, ReportError, build_report, business_duration, durations, human_duration,
                              normalise_question, parse_since, weekly_summary)
from workflows.teams import load_teams

CONFIG = Path(__file__).resolve().parents[2] / "config"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
SINCE = NOW - timedelta(days=30)


def at(month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=timezone.utc)


def _set(store, table, row_id: int, **values) -> None:
    with store.engine.begin() as conn:
        conn.execute(update(table).where(table.c.id == row_id).values(**values))


def _request(store, team, priority, created, *, status="open", first=None, resolved=None, breached=None):
    saved = store.save_request(ItRequest(requester_slack_id="U0ANA", summary=f"{team} {priority}", team=team,
                                         priority=priority, status=status, first_response_at=first,
                                         resolved_at=resolved, sla_breached_at=breached))
    _set(store, requests, saved.id, created_at=created)


def _answer(store, question, outcome, when):
    saved = store.record_answer(AnswerRecord(user_slack_id="U0BEN", question=question, intent="question",
                                             topic="other", outcome=outcome))
    _set(store, answer_log, saved.id, at=when)


def _run(store, key, kind, created, steps, *, done=None, updated=None):
    run, _ = store.create_run(
        Run(kind=kind, person={"given_name": "Ana", "surname": key}, requested_by="U0HR1",
            effective_date="2026-02-01", idempotency_key=key),
        [RunStep(run_id=0, step_key=f"s{i}", title=f"Step {i}", team="helpdesk_l1", position=i, status=status,
                 done_by=by) for i, (status, by) in enumerate(steps)])
    if done:
        store.save_run(replace(run, status="done"))
        entry = store.audit("itbot", "run.done", f"run:{run.id}", {})
        _set(store, audit_log, entry.id, at=done)
    _set(store, checklist_runs, run.id, created_at=created, updated_at=updated or done or created)


BOT, HAND, OPEN = ("done", "itbot"), ("done", "U0IT1"), ("pending", None)


def seed(store) -> None:
    """Requests IT-00001..7, answers and runs; the expected numbers are worked out in the tests below."""
    _request(store, "helpdesk_l1", "P3", at(2, 23), status="resolved", first=at(2, 23, 9, 30), resolved=at(2, 23, 13))
    _request(store, "helpdesk_l1", "P2", at(2, 24, 10), status="resolved", first=at(2, 24, 12),
             resolved=at(2, 26, 10))                     # resolved after Wed 25 10:00: breached; answered late
    _request(store, "security", "P1", at(3, 1, 6), status="in_progress", first=at(3, 1, 6, 10),
             breached=at(3, 1, 10, 1))                   # the sweep stamped it
    _request(store, "security", "P1", at(3, 2, 11), status="resolved", first=at(3, 2, 11, 5), resolved=at(3, 2, 11, 35))
    _request(store, "msp", "P4", at(2, 10, 8))           # never answered; due Tue 24 08:00: breached
    _request(store, "helpdesk_l1", "P3", at(1, 20))      # before the window
    _request(store, "helpdesk_l1", "P4", at(3, 2, 9), status="awaiting_approval")
    _answer(store, "How do I set up VPN?", "solved", at(2, 20))
    _answer(store, "how do i set up vpn", "still_stuck", at(2, 21))
    _answer(store, "How do I set up  VPN!!", "no_answer", at(2, 22))
    _answer(store, "printer on floor 3 jammed", "no_answer", at(2, 23))
    _answer(store, "reset password", "answered", at(2, 24))
    _answer(store, "reset password", "solved", at(2, 25))
    _answer(store, "Printer on floor 3 jammed?", "no_answer", at(2, 26))
    _answer(store, "PRINTER on floor 3   jammed", "no_answer", at(2, 27))
    _answer(store, "an old question", "no_answer", at(1, 10))
    _run(store, "r1", "onboarding", at(2, 16), [BOT, BOT, HAND, ("cancelled", None)], done=at(2, 19))
    _run(store, "r2", "onboarding", at(2, 20), [BOT, HAND], done=at(2, 25, 21), updated=at(2, 28))
    _run(store, "r3", "onboarding", at(1, 1), [HAND, HAND], done=at(1, 5))
    _run(store, "r4", "offboarding", at(2, 27), [BOT, OPEN])
    _run(store, "r5", "onboarding", at(1, 20), [BOT], done=at(2, 3, 12))


@pytest.fixture
def store(tmp_path):
    s = build_store(f"sqlite:///{tmp_path / 'report.db'}")
    seed(s)
    yield s
    s.close()


@pytest.fixture(scope="module")
def teams():
    return load_teams(CONFIG)


@pytest.fixture
def report(store, teams):
    rows = report_rows(store, SINCE)
    return build_report(requests=rows.requests, answers=rows.answers, runs=rows.runs, steps=rows.steps,
                        teams=teams, now=NOW, since=SINCE, run_done_at=rows.run_done_at)


def m(minutes: float) -> timedelta:
    return timedelta(minutes=minutes)


def test_requests_are_counted_by_team_and_priority(report):
    assert report.requests_opened == 6
    assert report.by_team == {"helpdesk_l1": 3, "msp": 1, "security": 2}
    assert report.by_priority == {"P1": 2, "P2": 1, "P3": 1, "P4": 2}
    assert report.by_team_priority["helpdesk_l1"] == {"P1": 0, "P2": 1, "P3": 1, "P4": 1}


def test_response_and_resolution_times(report):
    assert report.first_response == Durations(4, m(20), m(120))          # 5m 10m 30m 2h
    assert report.first_response_by_team["helpdesk_l1"] == Durations(2, m(75), m(120))
    assert report.first_response_by_team["security"] == Durations(2, m(7.5), m(10))
    assert report.first_response_by_team["msp"] == Durations(0, None, None)
    # in business hours: 35m, 4h, and IT-00002's Tue 10:00 -> Thu 10:00 is 8h + 10h + 2h of 08:00-18:00 (48h wall)
    assert report.resolution == Durations(3, m(240), timedelta(hours=20))
    assert report.resolution_by_team["helpdesk_l1"] == Durations(2, timedelta(hours=12), timedelta(hours=20))


def test_a_request_over_a_weekend_or_holiday_is_timed_in_its_teams_business_hours(teams):
    friday = ItRequest(requester_slack_id="U1", summary="a", team="helpdesk_l1", priority="P3", id=1,
                       status="resolved", created_at=at(2, 27, 17, 55), first_response_at=at(3, 2, 8, 5),
                       resolved_at=at(3, 2, 9, 5))  # Fri 17:55 -> Mon 08:05 and 09:05 (London = UTC in winter)
    soc = replace(friday, id=2, team="security")  # 24x7: every second counts
    report = build_report(requests=[friday, soc], answers=[], runs=[], steps=[], teams=teams, now=NOW, since=SINCE)
    assert report.first_response_by_team["helpdesk_l1"] == Durations(1, m(10), m(10))
    assert report.resolution_by_team["helpdesk_l1"] == Durations(1, m(70), m(70))
    assert report.first_response_by_team["security"] == Durations(1, m(62 * 60 + 10), m(62 * 60 + 10))

    london = ZoneInfo("Europe/London")  # Easter 2026: Good Friday 3 and Easter Monday 6 April are holidays (BST)
    easter = ItRequest(requester_slack_id="U1", summary="b", team="helpdesk_l1", priority="P3", id=3,
                       created_at=datetime(2026, 4, 2, 17, 0, tzinfo=london),
                       first_response_at=datetime(2026, 4, 7, 9, 0, tzinfo=london))
    later = datetime(2026, 4, 8, tzinfo=timezone.utc)
    report = build_report(requests=[easter], answers=[], runs=[], steps=[], teams=teams, now=later,
                          since=later - timedelta(days=30))
    assert report.first_response == Durations(1, m(120), m(120))   # Thu 17:00-18:00 and Tue 08:00-09:00


def test_a_request_of_a_team_no_longer_in_config_is_counted_but_not_timed(teams):
    gone = ItRequest(requester_slack_id="U1", summary="x", team="old_team", priority="P2", id=9, status="resolved",
                     created_at=at(2, 20), first_response_at=at(2, 20, 10), resolved_at=at(2, 21))
    report = build_report(requests=[gone], answers=[], runs=[], steps=[], teams=teams, now=NOW, since=SINCE)
    assert report.requests_opened == 1 and report.first_response == report.resolution == Durations(0, None, None)


def test_sla_breaches_stamped_or_worked_out(report):
    assert report.sla_breaches == ("IT-00002", "IT-00003", "IT-00005")
    assert report.first_response_late == ("IT-00002", "IT-00005")


def test_deflection_and_unanswered_questions(report):
    assert (report.solved, report.answered, report.requests_opened) == (2, 4, 6)
    assert report.deflection_rate == pytest.approx(0.2)
    assert report.unanswered == (("PRINTER on floor 3 jammed", 3), ("How do I set up VPN!!", 2))


def test_onboarding_lead_time_and_automation(report):
    # r1 3d, r2 5d 12h (from the audit entry, not its later update), r5 14d 3h (created before the window)
    assert report.onboarding_lead_time == Durations(3, timedelta(days=5, hours=12), timedelta(days=14, hours=3))
    assert (report.steps_done, report.steps_automated) == (7, 5)           # runs r1, r2, r4, r5
    assert report.automated_share == pytest.approx(5 / 7)


def test_as_dict_has_stable_keys_and_plain_values(report):
    data = report.as_dict()
    assert list(data) == ["window", "teams", "requests", "durations_measured_as", "first_response", "resolution",
                          "sla", "deflection", "top_unanswered", "knowledge_gaps", "onboarding"]
    assert data["first_response"]["overall"] == {"count": 4, "median_seconds": 1200, "p90_seconds": 7200}
    assert data["first_response"]["measured_in"] == data["resolution"]["measured_in"] == "business_hours"
    assert "business hours" in data["durations_measured_as"]
    assert data["deflection"]["rate"] == 0.2 and "solved" in data["deflection"]["definition"]
    assert data["sla"]["breached_requests"] == ["IT-00002", "IT-00003", "IT-00005"]
    assert data["onboarding"]["automated_share"] == 0.7143
    assert data["top_unanswered"][0] == {"question": "PRINTER on floor 3 jammed", "count": 3}


def test_an_empty_window_reports_nothing_measured(teams):
    empty = build_report(requests=[], answers=[], runs=[], steps=[], teams=teams, now=NOW, since=SINCE)
    assert empty.requests_opened == 0 and empty.deflection_rate is None and empty.automated_share is None
    assert empty.as_dict()["resolution"]["overall"] == {"count": 0, "median_seconds": None, "p90_seconds": None}
    assert "*0* requests" in weekly_summary(empty)


def test_a_team_no_longer_in_config_is_still_counted(teams):
    gone = ItRequest(requester_slack_id="U1", summary="x", team="old_team", priority="P2", id=9,
                     created_at=at(2, 20), sla_breached_at=at(2, 21))
    report = build_report(requests=[gone], answers=[], runs=[], steps=[], teams=teams, now=NOW, since=SINCE)
    assert report.by_team == {"old_team": 1} and report.team_names["old_team"] == "old_team"
    assert report.sla_breaches == ("IT-00009",)


def test_weekly_summary_is_short_slack_mrkdwn(report):
    text = weekly_summary(report)
    assert text.startswith("*IT report, 31 Jan – 02 Mar 2026*")
    assert "*6* requests opened (IT help desk 3, Security operations 2, Managed service provider 1)" in text
    assert "SLA breaches: *3* (IT-00002, IT-00003, IT-00005)" in text
    assert "Deflection: *20%*" in text and "71% of steps automated" in text
    assert "Resolution (business hours): median 4h 00m, p90 20h 00m" in text
    assert "“PRINTER on floor 3 jammed” (3×)" in text
    assert len(text.splitlines()) <= 8


@pytest.mark.parametrize("text,expected", [
    ("30d", NOW - timedelta(days=30)), ("12h", NOW - timedelta(hours=12)), ("2w", NOW - timedelta(weeks=2)),
    (" 7D ", NOW - timedelta(days=7)), ("2026-02-01", at(2, 1, 0)),
    ("2026-02-01T08:30+01:00", at(2, 1, 7, 30)),
])
def test_since_accepts_spans_and_iso_dates(text, expected):
    assert parse_since(text, NOW) == expected


@pytest.mark.parametrize("text", ["30", "thirty days", "3mo", "0d", "2026-13-01", "2027-01-01", ""])
def test_a_bad_since_is_one_clear_error(text):
    with pytest.raises(ReportError, match="--since"):
        parse_since(text, NOW)


def test_durations_median_and_nearest_rank_p90():
    ten = durations(m(i) for i in range(1, 11))
    assert (ten.median, ten.p90) == (m(5.5), m(9))
    assert durations([m(3)]) == Durations(1, m(3), m(3))


def test_question_text_is_normalised_and_durations_read_well():
    assert normalise_question("  Where's   the VPN?! ") == normalise_question("where s the vpn") == "where s the vpn"
    assert [human_duration(v) for v in (None, m(45), m(185), timedelta(days=2, hours=4))] == \
        ["—", "45m", "3h 05m", "2d 4h"]
    assert [business_duration(v) for v in (None, m(45), timedelta(days=2, hours=4))] == ["—", "45m", "52h 00m"]
