"""SLA windows per tier through the help desk's sweep, on a real store (SQLite and PostgreSQL), with a set clock.

Times worked out by hand. Late November 2026, so London is on GMT (London time = UTC) and there is no
holiday. The help desk tiers L1 and L2 work mon-fri 08:00-18:00 and resolve P2 in 1d = 10 hours; L3 works
mon-fri 09:00-17:30 and resolves P2 in 2d = 17 hours. Warnings come at 75 % of a window.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import update

from connectors.store import build_store
from connectors.store.reports import report_rows
from connectors.store.tables import requests
from workflows.helpdesk import Helpdesk
from workflows.models import ItRequest
from workflows.report import build_report
from workflows.routing import load_routing
from workflows.teams import load_teams
from tests.support.clock import Clock

CONFIG = Path(__file__).resolve().parents[2] / "config"


def nov(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=timezone.utc)


CREATED = nov(24, 10)  # Tuesday 10:00


@pytest.fixture
def clock():
    return Clock(CREATED)


@pytest.fixture
def helpdesk(database_url, clock):
    teams = load_teams(CONFIG)
    store = build_store(database_url)
    yield Helpdesk(store=store, teams=teams, routing=load_routing(CONFIG, teams), model=None, kb=None, clock=clock)
    store.close()


def open_request(helpdesk, *, team="helpdesk_l1", priority="P2", status="open") -> ItRequest:
    saved = helpdesk.store.save_request(ItRequest(requester_slack_id="U0ANA", summary="Laptop will not boot",
                                                  team=team, priority=priority, status=status))
    with helpdesk.store.engine.begin() as conn:
        conn.execute(update(requests).where(requests.c.id == saved.id).values(created_at=CREATED))
    return helpdesk.store.get_request(saved.id)


def sweep(helpdesk, at: datetime) -> list[tuple[str, str]]:
    """What the sweep did about the resolution windows at ``at``: (kind, team the request is with afterwards)
    for each event (first-response alerts, tested on their own below, left out)."""
    return [(e.kind, e.request.team) for e in helpdesk.sla_sweep(at) if e.kind != "unanswered"]


def test_an_l1_breach_escalates_to_l2_and_l2s_window_starts_then(helpdesk):
    r = open_request(helpdesk)
    assert helpdesk.due(r) == nov(25, 10)                 # Tue 10:00-18:00 is 8h, then Wed 08:00-10:00
    assert sweep(helpdesk, nov(24, 17, 29)) == []
    assert sweep(helpdesk, nov(24, 17, 31)) == [("warning", "helpdesk_l1")]  # 7.5h used at 17:30
    [event] = [e for e in helpdesk.sla_sweep(nov(25, 10, 1)) if e.kind != "unanswered"]
    assert event.kind == "breach" and event.due_at == nov(25, 10)
    assert (event.escalation.from_team.id, event.escalation.to_team.id) == ("helpdesk_l1", "helpdesk_l2")
    moved = helpdesk.store.get_request(r.id)
    assert moved.team == "helpdesk_l2" and moved.escalations == 1
    assert moved.sla_breached_at == nov(25, 10, 1), "the employee's breach is recorded"
    assert moved.sla_window_started_at == nov(25, 10, 1) and moved.sla_warned_at is None
    assert helpdesk.due(moved) == nov(26, 10, 1)          # Wed 10:01-18:00 is 7h59m, then Thu 08:00-10:01
    assert sweep(helpdesk, nov(25, 10, 30)) == [], "L2 has only just got it"
    assert not helpdesk.sla(moved, nov(25, 17, 30)).warning


def test_each_tier_is_warned_once_and_escalated_once_and_the_last_tier_is_reported_once(helpdesk):
    r = open_request(helpdesk)
    timeline = [
        (nov(24, 17, 31), [("warning", "helpdesk_l1")]),
        (nov(24, 17, 45), []),
        (nov(25, 10, 1), [("breach", "helpdesk_l2")]),    # L2's window: Wed 10:01 -> Thu 10:01
        (nov(25, 17, 30), []),
        (nov(25, 17, 32), [("warning", "helpdesk_l2")]),  # 7.5h of L2's window used at Wed 17:31
        (nov(26, 9, 0), []),
        (nov(26, 10, 2), [("breach", "helpdesk_l3")]),    # L3's window: Thu 10:02 -> Mon 30 10:02 (17h)
        (nov(26, 16, 0), []),
        (nov(27, 14, 18), [("warning", "helpdesk_l3")]),  # 12h45m used at Fri 14:17
        (nov(30, 10, 1), []),
        (nov(30, 10, 3), [("breach", "helpdesk_l3")]),    # the last tier: reported, not escalated
        (nov(30, 10, 4), []),
        (nov(30, 16, 0), []),
        (nov(30, 16, 0) + timedelta(days=30), []),
    ]
    for moment, expected in timeline:
        assert sweep(helpdesk, moment) == expected, moment
    final = helpdesk.store.get_request(r.id)
    assert final.team == "helpdesk_l3" and final.escalations == 2
    assert final.sla_breached_at == nov(25, 10, 1), "the first breach stays the one on record"
    assert final.sla_window_started_at == nov(26, 10, 2) and final.sla_window_breached_at == nov(30, 10, 3)
    actions = [e.action for e in helpdesk.store.audit_trail(f"request:{r.id}")]
    assert actions.count("request.sla_breached") == 1 and actions.count("request.sla_window_lapsed") == 3


def test_the_report_counts_one_breach_per_request_however_many_tiers_ran_out(helpdesk):
    late = open_request(helpdesk)
    on_time = open_request(helpdesk, priority="P4")         # 5d: still inside its window at the end
    for moment in (nov(25, 10, 1), nov(26, 10, 2), nov(30, 10, 3)):
        helpdesk.sla_sweep(moment)
    assert helpdesk.store.get_request(late.id).escalations == 2
    now, since = nov(30, 12), nov(1, 0)
    rows = report_rows(helpdesk.store, since)
    report = build_report(requests=rows.requests, answers=rows.answers, runs=rows.runs, steps=rows.steps,
                          teams=helpdesk.teams, now=now, since=since, run_done_at=rows.run_done_at)
    assert report.sla_breaches == (late.number,)
    assert on_time.number not in report.sla_breaches


def test_a_hand_escalation_gives_the_receiving_tier_its_own_window(helpdesk, clock):
    r = open_request(helpdesk)
    clock.now = nov(24, 12)
    moved = helpdesk.escalate(r.id, "U0IT1").request
    assert moved.team == "helpdesk_l2" and moved.sla_window_started_at == nov(24, 12)
    assert helpdesk.due(moved) == nov(25, 12)              # Tue 12:00-18:00 is 6h, then Wed 08:00-12:00
    assert sweep(helpdesk, nov(25, 9, 31)) == [("warning", "helpdesk_l2")]
    assert sweep(helpdesk, nov(25, 10, 1)) == [], "the employee's clock ran out, but L2's window has not"
    assert helpdesk.store.get_request(r.id).sla_breached_at == nov(25, 10, 1), "recorded all the same"
    assert sweep(helpdesk, nov(25, 12, 1)) == [("breach", "helpdesk_l3")]
    assert helpdesk.store.get_request(r.id).sla_breached_at == nov(25, 10, 1)


def test_a_window_opened_after_hours_counts_from_the_receiving_teams_next_opening(helpdesk):
    r = open_request(helpdesk)
    assert sweep(helpdesk, nov(25, 19)) == [("breach", "helpdesk_l2")]   # the clock was down until Wed 19:00
    assert helpdesk.due(helpdesk.store.get_request(r.id)) == nov(26, 18)  # Thu 08:00 + 10h
    assert sweep(helpdesk, nov(26, 15, 29)) == []
    assert sweep(helpdesk, nov(26, 15, 31)) == [("warning", "helpdesk_l2")]
    assert sweep(helpdesk, nov(26, 18, 1)) == [("breach", "helpdesk_l3")]
    # L3 opens at 09:00 and closes at 17:30: 17h from Fri 09:00 is all of Friday and all of Monday.
    assert helpdesk.due(helpdesk.store.get_request(r.id)) == nov(30, 17, 30)


def test_a_team_with_no_next_tier_is_reported_once(helpdesk):
    r = open_request(helpdesk, team="msp")                # MSP: mon-fri 07:00-19:00, P2 in 1d = 12h
    assert helpdesk.due(r) == nov(25, 10)                 # Tue 10:00-19:00 is 9h, then Wed 07:00-10:00
    assert sweep(helpdesk, nov(25, 10, 1)) == [("breach", "msp")]
    assert [sweep(helpdesk, nov(25, 10) + timedelta(hours=h)) for h in (1, 24, 24 * 7)] == [[], [], []]
    assert helpdesk.store.get_request(r.id).sla_breached_at == nov(25, 10, 1)


def test_a_request_awaiting_approval_is_left_alone(helpdesk):
    r = open_request(helpdesk, status="awaiting_approval")
    assert sweep(helpdesk, nov(30, 12)) == []
    assert helpdesk.store.get_request(r.id).sla_breached_at is None


def _unanswered(helpdesk, at: datetime) -> list[tuple[str, datetime]]:
    return [(e.request.team, e.due_at) for e in helpdesk.sla_sweep(at) if e.kind == "unanswered"]


def test_no_first_response_by_the_target_is_flagged_once_per_tier(helpdesk):
    r = open_request(helpdesk)                            # P2 at L1: first response within 1h of business time
    assert _unanswered(helpdesk, nov(24, 10, 59)) == []
    assert _unanswered(helpdesk, nov(24, 11, 1)) == [("helpdesk_l1", nov(24, 11))]
    assert _unanswered(helpdesk, nov(24, 15)) == [], "told once"
    helpdesk.sla_sweep(nov(25, 10, 1))                    # L1's window lapses: escalated to L2, still unanswered
    assert helpdesk.store.get_request(r.id).team == "helpdesk_l2"
    l2_due = helpdesk.sla(helpdesk.store.get_request(r.id), nov(25, 10, 2)).first_response_due
    assert l2_due > nov(25, 10, 1), "L2 gets its own first-response target"
    assert _unanswered(helpdesk, l2_due + timedelta(minutes=1)) == [("helpdesk_l2", l2_due)]
    assert _unanswered(helpdesk, l2_due + timedelta(hours=2)) == []


def test_a_request_with_a_first_response_or_awaiting_approval_is_not_flagged(helpdesk):
    answered = open_request(helpdesk)
    helpdesk.store.save_request(replace(answered, first_response_at=nov(24, 10, 30)))
    open_request(helpdesk, status="awaiting_approval")
    assert _unanswered(helpdesk, nov(24, 16)) == []


def test_the_wait_for_an_approver_is_not_the_teams_time(helpdesk, clock):
    waiting = open_request(helpdesk, status="awaiting_approval")
    helpdesk.store.save_request(replace(waiting, approver="U0BEN"))
    clock.now = nov(30, 10)                               # the manager approves a week later (Monday 10:00)
    approved = helpdesk.decide(waiting.id, "U0BEN", True)
    assert approved.sla_started_at == nov(30, 10)
    assert helpdesk.sla_sweep(nov(30, 10, 1)) == [], "not unanswered, not breached a minute after approval"
    assert helpdesk.due(helpdesk.store.get_request(waiting.id)) == nov(30, 10) + timedelta(days=1)
    assert helpdesk.store.get_request(waiting.id).sla_breached_at is None
    kinds = [e.kind for e in helpdesk.sla_sweep(nov(30, 11, 1))]
    assert kinds == ["unanswered"], "an hour after the approval nobody has answered: that is the team's"
