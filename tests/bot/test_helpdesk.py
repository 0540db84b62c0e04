"""The help desk through the real app: answers, requests, routing, team buttons, relay, SLA, approvals."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.app import make_client
from bot.devtools.harness import Harness
from bot.ids import ActionId
from bot.jobs import run_sla_sweep
from bot.report_cli import report_for


class Clock:
    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now


# Tuesday 10:00 London: inside every team's business hours.
TUESDAY_10 = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def clock():
    return Clock(TUESDAY_10)


@pytest.fixture
def h(tmp_path, clock):
    with Harness(database_url=f"sqlite:///{tmp_path / 'itbot.db'}", clock=clock) as harness:
        yield harness


def say(h, user: str, text: str, **kwargs):
    mark = len(h.fake.calls)
    h.driver.dm(user, text, **kwargs)
    return h.settle(after=mark)


def click(h, user: str, action: ActionId, value, *, channel: str, ts: str):
    mark = len(h.fake.calls)
    reply = h.driver.click(user, action.value, str(value), channel=channel, message_ts=ts)
    assert reply.status == 200
    return h.settle(after=mark)


def posts(calls, channel=None):
    return [c for c in calls if c.method == "chat.postMessage" and c.response.get("ok")
            and (channel is None or c.response["channel"] == channel)]


def team_channel(h, team_id: str) -> str:
    return h.services.teams.team(team_id).channel


def buttons(call) -> dict[str, str]:
    return {e["action_id"]: e["value"] for b in call.args.get("blocks", []) if b["type"] == "actions"
            for e in b["elements"]}


def only_request(h):
    [request] = h.services.store.list_requests()
    return request


def test_how_to_question_is_answered_from_the_knowledge_base_with_feedback_buttons(h):
    calls = say(h, "U0ANA", "how do I set up an out of office reply in outlook?")
    [answer] = posts(calls, "D0ANA")
    assert "out-of-office" in answer.args["text"].lower() and "automatic repl" in str(answer.args["blocks"]).lower()
    assert answer.args["thread_ts"]
    assert set(buttons(answer)) == {ActionId.ANSWER_SOLVED.value, ActionId.ANSWER_STUCK.value}
    assert h.services.store.list_requests() == []
    click(h, "U0ANA", ActionId.ANSWER_SOLVED, buttons(answer)[ActionId.ANSWER_SOLVED.value], channel="D0ANA",
          ts=answer.response["ts"])
    assert [a.outcome for a in h.services.store.list_answers()] == ["solved"]
    updated = h.fake.calls_to("chat.update")[-1]
    assert not [b for b in updated.args["blocks"] if b["type"] == "actions"], "buttons must not be clickable twice"


def test_still_stuck_opens_a_request_with_the_conversation_attached(h):
    calls = say(h, "U0ANA", "how do I set up an out of office reply in outlook?")
    [answer] = posts(calls, "D0ANA")
    calls = click(h, "U0ANA", ActionId.ANSWER_STUCK, buttons(answer)[ActionId.ANSWER_STUCK.value],
                  channel="D0ANA", ts=answer.response["ts"])
    request = only_request(h)
    assert request.source == "still_stuck" and request.requester_slack_id == "U0ANA"
    assert "Employee: how do I set up an out of office" in request.description          # the whole thread
    assert "itbot: Set up an out-of-office" in request.description
    assert "still stuck" in request.description
    card = posts(calls, team_channel(h, request.team))
    assert len(card) == 1 and request.number in card[0].args["text"]
    thread = posts(calls, "D0ANA")
    assert thread and thread[-1].args["thread_ts"] == answer.args["thread_ts"]
    assert [a.outcome for a in h.services.store.list_answers()] == ["still_stuck"]


def test_broken_laptop_goes_to_help_desk_l1_with_a_priority(h):
    calls = say(h, "U0ANA", "my laptop won't turn on, the screen stays black")
    request = only_request(h)
    assert request.team == "helpdesk_l1" and request.intent == "broken" and request.topic == "hardware"
    assert request.priority in ("P3", "P4", "P2")
    [card] = posts(calls, team_channel(h, "helpdesk_l1"))
    assert set(buttons(card)) == {ActionId.CLAIM.value, ActionId.RESOLVE.value, ActionId.ESCALATE.value,
                                  ActionId.REASSIGN.value}
    [told] = posts(calls, "D0ANA")
    assert request.number in told.args["text"] and h.services.teams.team("helpdesk_l1").name in told.args["text"]


def test_phishing_goes_to_security_at_p1_and_the_employee_gets_safety_steps_at_once(h):
    calls = say(h, "U0BEN", "I clicked a link in a suspicious email and typed my password, I think it was phishing")
    request = only_request(h)
    assert (request.team, request.priority, request.topic) == ("security", "P1", "security")
    [card] = posts(calls, team_channel(h, "security"))
    [told] = posts(calls, "D0BEN")
    steps = [b for b in told.args["blocks"] if b["type"] == "section" and "Do this now" in b["text"]["text"]]
    assert steps and "password" in steps[0]["text"]["text"].lower()


def test_escalation_moves_from_l1_to_l2_to_l3_and_no_further(h):
    say(h, "U0ANA", "outlook keeps crashing when I open it")
    r = only_request(h)
    assert r.team == "helpdesk_l1"
    for agent, target in (("U0IT1", "helpdesk_l2"), ("U0IT2", "helpdesk_l3")):
        calls = click(h, agent, ActionId.ESCALATE, r.id, channel=r.team_channel, ts=r.team_ts)
        r = only_request(h)
        assert r.team == target and r.escalations >= 1
        [card] = posts(calls, team_channel(h, target))
        old = [c for c in calls if c.method == "chat.update"][-1]
        assert "Escalated to" in str(old.args["blocks"]) and not [b for b in old.args["blocks"] if b["type"] == "actions"]
        assert any("has moved to" in c.args["text"] for c in posts(calls, "D0ANA"))
    assert ActionId.ESCALATE.value not in buttons(card), "L3 is the last tier"


def test_only_the_owning_team_can_claim_and_the_employee_hears_about_it(h):
    say(h, "U0ANA", "the printer on floor 2 is jammed and not printing")
    r = only_request(h)
    calls = click(h, "U0DEV", ActionId.CLAIM, r.id, channel=r.team_channel, ts=r.team_ts)
    [refusal] = [c for c in calls if c.method == "chat.postEphemeral"]
    assert "Only members of" in refusal.args["text"] and only_request(h).assignee is None
    calls = click(h, "U0IT1", ActionId.CLAIM, r.id, channel=r.team_channel, ts=r.team_ts)
    r = only_request(h)
    assert r.assignee == "U0IT1" and r.status == "in_progress" and r.first_response_at is not None
    assert any("<@U0IT1>" in c.args["text"] for c in posts(calls, "D0ANA"))
    calls = click(h, "U0IT1", ActionId.RESOLVE, r.id, channel=r.team_channel, ts=r.team_ts)
    assert only_request(h).status == "resolved"
    assert any("resolved" in c.args["text"] for c in posts(calls, "D0ANA"))


def test_replies_are_relayed_between_the_team_thread_and_the_employee_thread(h):
    say(h, "U0ANA", "my monitor flickers all the time")
    r = only_request(h)
    mark = len(h.fake.calls)
    h.driver.channel_message("U0IT1", r.team_channel, "Which dock are you using?", thread_ts=r.team_ts)
    [to_employee] = posts(h.settle(after=mark), "D0ANA")
    assert to_employee.args["thread_ts"] == r.thread_ts and "Which dock are you using?" in to_employee.args["text"]
    assert only_request(h).first_response_at is not None
    mark = len(h.fake.calls)
    h.driver.dm("U0ANA", "The grey one from the office", thread_ts=r.thread_ts)
    [to_team] = posts(h.settle(after=mark), r.team_channel)
    assert to_team.args["thread_ts"] == r.team_ts and "The grey one from the office" in to_team.args["text"]
    assert len(h.services.store.list_requests()) == 1, "a reply in the thread must not open a new request"


def _answered_at_once(h, r=None):
    """The team replied straight away: only the resolution window matters to the test."""
    r = r or only_request(h)
    return h.services.store.save_request(replace(r, first_response_at=r.created_at))


def test_sla_breach_warns_first_then_escalates_automatically(h, clock):
    say(h, "U0ANA", "my laptop is broken, the keyboard stopped working")
    r = _answered_at_once(h)
    client = make_client(h.settings)
    due = h.services.helpdesk.due(r)
    assert due is not None and due > clock.now
    assert run_sla_sweep(h.services, client, clock.now) == 0
    mark = len(h.fake.calls)
    window = due - r.created_at
    clock.now = r.created_at + window * 0.9 if window < timedelta(hours=8) else due - timedelta(minutes=1)
    assert run_sla_sweep(h.services, client, clock.now) == 1
    assert any(":warning:" in c.args["text"] for c in posts(h.fake.calls[mark:], r.team_channel))
    clock.now = due + timedelta(hours=30)
    mark = len(h.fake.calls)
    assert run_sla_sweep(h.services, client, clock.now) == 1
    moved = only_request(h)
    assert moved.team == "helpdesk_l2" and moved.sla_breached_at is not None
    assert posts(h.fake.calls[mark:], team_channel(h, "helpdesk_l2"))
    assert any("escalated" in c.args["text"] for c in posts(h.fake.calls[mark:], "D0ANA"))
    assert run_sla_sweep(h.services, client, clock.now + timedelta(minutes=5)) == 0, "a breach escalates once"


def test_each_tier_gets_its_own_sla_window_and_the_last_tier_is_told_once(h, clock):
    say(h, "U0ANA", "my laptop is broken, the keyboard stopped working")
    client, helpdesk = make_client(h.settings), h.services.helpdesk

    def sweep_at(moment):
        clock.now = moment
        mark = len(h.fake.calls)
        assert run_sla_sweep(h.services, client, moment) == 1
        return h.fake.calls[mark:]

    def quiet_at(*moments):
        assert [run_sla_sweep(h.services, client, m) for m in moments] == [0] * len(moments)

    r = _answered_at_once(h)
    for tier in ("helpdesk_l2", "helpdesk_l3"):
        calls = sweep_at(helpdesk.due(r) + timedelta(minutes=1))
        moved = only_request(h)
        assert moved.team == tier and moved.sla_window_started_at == clock.now
        assert not moved.answered_here, "the new tier has not responded yet"
        moved = h.services.store.save_request(replace(moved, tier_response_at=clock.now))   # it picks it up
        due = helpdesk.due(moved)
        assert due > clock.now + timedelta(hours=4), f"{tier} gets a whole window of its own"
        [card, note] = posts(calls, team_channel(h, tier))
        assert note.args["thread_ts"] == moved.team_ts and "escalated here automatically" in note.args["text"]
        zone = h.services.teams.team(tier).timezone
        assert due.astimezone(ZoneInfo(zone)).strftime("%a %d %b %H:%M") in str(card.args["blocks"])
        assert any("escalated" in c.args["text"] for c in posts(calls, "D0ANA"))
        quiet_at(clock.now + timedelta(minutes=5))
        calls = sweep_at(due - timedelta(minutes=1))
        [warning] = posts(calls, team_channel(h, tier))
        assert ":warning:" in warning.args["text"] and warning.args["thread_ts"] == moved.team_ts
        quiet_at(due - timedelta(seconds=30))
        r = moved
    calls = sweep_at(helpdesk.due(r) + timedelta(minutes=1))
    [told] = posts(calls, team_channel(h, "helpdesk_l3"))
    assert "<@U0IT3>, please take a look" in told.args["text"] and told.args["thread_ts"] == r.team_ts
    assert not posts(calls, "D0ANA")
    quiet_at(clock.now + timedelta(minutes=1), clock.now + timedelta(days=1), clock.now + timedelta(days=30))
    final = only_request(h)
    assert final.team == "helpdesk_l3" and final.escalations == 2
    assert final.sla_breached_at < final.sla_window_started_at, "the employee's breach was the first one"
    report = report_for(h.services.store, h.services.teams, final.created_at - timedelta(days=1), clock.now)
    assert report.sla_breaches == (final.number,)


def test_access_request_waits_for_the_managers_approval_before_the_team_sees_it(h):
    calls = say(h, "U0ANA", "I need access to the Finance shared drive please")
    r = only_request(h)
    assert r.status == "awaiting_approval" and r.approver == "U0BEN"
    assert not posts(calls, team_channel(h, r.team)), "the team must not work it before approval"
    [card] = posts(calls, "D0BEN")
    ts = card.response["ts"]
    refused = click(h, "U0ANA", ActionId.APPROVE, r.id, channel="D0BEN", ts=ts)
    assert [c for c in refused if c.method == "chat.postEphemeral"] and only_request(h).status == "awaiting_approval"
    calls = click(h, "U0BEN", ActionId.APPROVE, r.id, channel="D0BEN", ts=ts)
    assert only_request(h).status == "open"
    assert posts(calls, team_channel(h, r.team))
    [update] = [c for c in calls if c.method == "chat.update"]
    assert "Approved by <@U0BEN>" in str(update.args["blocks"])
    again = click(h, "U0BEN", ActionId.DENY, r.id, channel="D0BEN", ts=ts)
    assert "already decided" in [c for c in again if c.method == "chat.postEphemeral"][0].args["text"]


def test_empty_huge_and_foreign_messages_are_handled_once_without_a_crash(h):
    calls = say(h, "U0ANA", "   ")
    assert "didn't catch any text" in posts(calls)[0].args["text"]
    huge = "my vpn is not working " + "x" * 40_000
    calls = say(h, "U0ANA", huge)
    r = only_request(h)
    assert len(r.summary) <= 300 and r.topic == "vpn"
    for call in posts(calls):
        assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in call.args.get("blocks", []))
    calls = say(h, "U0CHLOE", "Bonjour, mon imprimante ne fonctionne pas depuis ce matin")
    assert len(posts(calls, "D0CHLOE")) == 1, "one reply to the employee, whatever the language"
    assert len([x for x in h.services.store.list_requests() if x.requester_slack_id == "U0CHLOE"]) <= 1
    event = "Ev0DUPLICATE"
    say(h, "U0DEV", "my mouse is broken", event_id=event)
    say(h, "U0DEV", "my mouse is broken", event_id=event, retry_num=1)
    assert len([x for x in h.services.store.list_requests() if x.requester_slack_id == "U0DEV"]) == 1


def test_a_request_nobody_has_answered_by_its_first_response_target_is_flagged_once(h, clock):
    say(h, "U0ANA", "my laptop is broken, the keyboard stopped working")
    r = only_request(h)
    team = h.services.teams.team(r.team)
    client = make_client(h.settings)
    due = h.services.helpdesk.sla(r, clock.now).first_response_due
    assert run_sla_sweep(h.services, client, min(due, clock.now) - timedelta(minutes=1)) == 0
    mark = len(h.fake.calls)
    assert run_sla_sweep(h.services, client, due + timedelta(minutes=1)) == 1
    [alert] = posts(h.fake.calls[mark:], r.team_channel)
    assert ":bell:" in alert.args["text"] and f"<@{team.lead}>" in alert.args["text"]
    assert alert.args["thread_ts"] == r.team_ts and team.sla[r.priority].first_response_text in alert.args["text"]
    assert not posts(h.fake.calls[mark:], "D0ANA"), "the employee is not told about the team's lateness"
    assert run_sla_sweep(h.services, client, due + timedelta(minutes=30)) == 0, "once, not every sweep"


def test_a_request_answered_in_time_is_never_flagged_as_unanswered(h, clock):
    say(h, "U0ANA", "my monitor flickers all the time")
    r = only_request(h)
    mark = len(h.fake.calls)
    h.driver.channel_message("U0IT1", r.team_channel, "Which dock are you using?", thread_ts=r.team_ts)
    h.settle(after=mark)
    due = h.services.helpdesk.sla(r, clock.now).first_response_due
    events = h.services.helpdesk.sla_sweep(due + timedelta(minutes=1))
    assert not [e for e in events if e.kind == "unanswered"]


def _event(h, event: dict):
    import time as _time
    mark = len(h.fake.calls)
    h.driver.send_event({"type": "message", "ts": f"{_time.time():.6f}", **event})
    return h.settle(after=mark)


def test_a_dm_that_mentions_itbot_is_answered_like_any_dm(h):
    """Slack sends no app_mention for a DM, so the message event must answer it."""
    calls = _event(h, {"channel_type": "im", "channel": "D0ANA", "user": "U0ANA",
                       "text": "<@U0ITBOT> my laptop screen is cracked"})
    assert posts(calls, "D0ANA") and len(h.services.store.list_requests()) == 1


def test_a_message_with_a_screenshot_is_answered_and_names_the_file(h):
    calls = _event(h, {"subtype": "file_share", "channel_type": "im", "channel": "D0ANA", "user": "U0ANA",
                       "text": "my printer shows this error and will not print",
                       "files": [{"id": "F1", "name": "printer-error.png"}]})
    assert posts(calls, "D0ANA")
    [r] = h.services.store.list_requests()
    assert "printer-error.png" in r.description or "printer-error.png" in r.summary


def test_colleagues_named_in_a_request_are_kept_as_text_and_only_itbots_mention_is_dropped(h):
    say(h, "U0ANA", "<@U0ITBOT> I cannot log in to the VPN and <@U0CHLOE> cannot log in either")
    [r] = h.services.store.list_requests()
    text = r.summary + " " + r.description
    assert "@U0CHLOE cannot log in" in text and "U0ITBOT" not in text
    assert "<@" not in text, "kept as text: the colleague is named on the card, not pinged by it"


def test_only_the_owning_team_speaks_to_the_employee_from_the_team_thread(h):
    say(h, "U0ANA", "my monitor flickers all the time")
    r = only_request(h)
    mark = len(h.fake.calls)
    h.driver.channel_message("U0CHLOE", r.team_channel, "lol just buy a mac", thread_ts=r.team_ts)
    calls = h.settle(after=mark)
    assert not posts(calls, "D0ANA"), "a passer-by in the team channel does not reach the employee"
    assert any(c.method == "chat.postEphemeral" and c.args["user"] == "U0CHLOE" for c in calls)
    assert only_request(h).first_response_at is None


def test_a_refused_post_in_the_sla_sweep_strands_nothing(h, clock):
    """Slack refuses the escalation's card (not_in_channel): the other request is still handled, and the
    next sweep posts the missing card so the team sees it and thread replies can be relayed."""
    say(h, "U0ANA", "my laptop is broken, the keyboard stopped working")
    say(h, "U0BEN", "my monitor is broken, it stays black")
    first, second = [_answered_at_once(h, r) for r in h.services.store.list_requests()]
    client = make_client(h.settings)
    due = max(h.services.helpdesk.due(first), h.services.helpdesk.due(second))
    h.fake.fail_next("chat.postMessage", "not_in_channel")
    assert run_sla_sweep(h.services, client, due + timedelta(minutes=1)) == 2
    moved = h.services.store.list_requests()
    assert {r.team for r in moved} == {"helpdesk_l2"}
    assert sum(r.team_ts is None for r in moved) == 1, "one card was refused, the other was posted"
    mark = len(h.fake.calls)
    run_sla_sweep(h.services, client, due + timedelta(minutes=5))
    assert all(r.team_ts for r in h.services.store.list_requests()), "the missing card is posted again"
    assert len(posts(h.fake.calls[mark:], team_channel(h, "helpdesk_l2"))) == 1


def test_a_double_click_on_still_stuck_opens_one_request(h):
    import threading

    calls = say(h, "U0ANA", "how do I set up an out of office reply in outlook?")
    [answer] = posts(calls, "D0ANA")
    value = buttons(answer)[ActionId.ANSWER_STUCK.value]
    mark = len(h.fake.calls)
    clicks = [threading.Thread(target=h.driver.click, args=("U0ANA", ActionId.ANSWER_STUCK.value, str(value)),
                               kwargs={"channel": "D0ANA", "message_ts": answer.response["ts"]}) for _ in range(2)]
    for t in clicks:
        t.start()
    for t in clicks:
        t.join()
    h.settle(after=mark)
    assert len(h.services.store.list_requests()) == 1


def test_a_tier_that_never_responds_after_an_escalation_is_flagged_though_l1_had_answered(h, clock):
    say(h, "U0ANA", "my laptop is broken, the keyboard stopped working")
    r = _answered_at_once(h)
    helpdesk, client = h.services.helpdesk, make_client(h.settings)
    moved = helpdesk.escalate(r.id, h.services.teams.team(r.team).members[0]).request
    due = helpdesk.sla(moved, clock.now).first_response_due
    events = [e.kind for e in helpdesk.sla_sweep(due + timedelta(minutes=1))]
    assert events.count("unanswered") == 1
    assert not [e for e in helpdesk.sla_sweep(due + timedelta(minutes=2)) if e.kind == "unanswered"], "once"
