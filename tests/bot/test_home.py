"""The App Home tab through the real app: each person's sections, privacy, SLA state, the pipeline, paging."""
from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from slack_sdk.models.views import View

from bot.devtools.harness import Harness
from bot.home import home_view
from bot.home_ids import HomeActionId
from tests.support.statements import statements_sent
from workflows.hr import parse_hr_event
from workflows.models import Approval, ItRequest, Run, RunStep
from tests.support.clock import Clock

HIRE = json.loads((Path(__file__).resolve().parents[2] / "config" / "examples" / "hr-event.json").read_text())
AGENT, HR, APPROVER = "U0IT1", "U0HR1", "U0IT2"  # help desk L1 member; HR; an IT approver (help desk L2)


def open_home(h, user: str) -> dict:
    """Open the Home tab as ``user``; the published view, checked against Slack's own model of a view."""
    mark = len(h.fake.calls)
    h.driver.send_event({"type": "app_home_opened", "user": user, "channel": "D" + user[1:], "tab": "home"})
    return _published(h, user, mark)


def click(h, user: str, view: dict, action: HomeActionId, value: str) -> dict:
    """Press a paging button on the Home tab; the view published in reply."""
    return _published(h, user, press(h, user, view, action.value, value))


def press(h, user: str, view: dict, action_id: str, value: str) -> int:
    """Press a button on the Home tab, as Slack sends it (a view container with private_metadata); returns the
    position in FakeSlack's calls before the press."""
    mark = len(h.fake.calls)
    reply = h.driver.interact({
        "type": "block_actions", "user": {"id": user}, "trigger_id": "trig.home",
        "container": {"type": "view", "view_id": view["id"]},
        "view": {"id": view["id"], "type": "home", "private_metadata": view.get("private_metadata", ""),
                 "blocks": view["blocks"], "state": {"values": {}}},
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b", "value": value,
                     "action_ts": f"{time.time():.6f}"}]})
    assert reply.status == 200
    return mark


def _published(h, user: str, mark: int) -> dict:
    call = h.fake.wait_for(lambda c: c.method == "views.publish" and c.args.get("user_id") == user, after=mark)
    assert call.response.get("ok"), call.response
    view = call.args["view"]
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    model = View(**view)
    model.validate_json()
    model.to_dict()  # validates every block too (section text <= 3000, header <= 150, ...)
    return {**view, "id": call.response["view"]["id"]}


def section(view: dict, title: str) -> list[str]:
    """The texts of the blocks under the header ``title`` (up to the next divider); [] if absent."""
    texts, inside = [], False
    for block in view["blocks"]:
        if block["type"] == "header":
            inside = block["text"]["text"] == title
        elif block["type"] == "divider":
            inside = False
        elif inside:
            if block["type"] == "section":
                texts.append(block["text"]["text"])
            elif block["type"] == "context":
                texts.append(block["elements"][0]["text"])
    return texts


def headers(view: dict) -> list[str]:
    return [b["text"]["text"] for b in view["blocks"] if b["type"] == "header"]


def paging(view: dict, key: str) -> dict[str, str]:
    return {e["action_id"]: e["value"] for b in view["blocks"] if b.get("block_id") == f"home_page_{key}"
            for e in b["elements"]}


def add_request(h, requester: str, summary: str, **fields) -> ItRequest:
    fields.setdefault("team", "helpdesk_l1")
    return h.services.store.save_request(ItRequest(requester_slack_id=requester, summary=summary, **fields))


def start_hire(h, days: int = 3, **changes):
    event = {**HIRE, "event_id": f"test-{days}-{len(changes)}", "start_date": (date.today() + timedelta(days=days))
             .isoformat(), **changes}
    started = h.services.engine.start_run(parse_hr_event(event, "webhook"))
    notices = h.services.engine.tick("test")
    return started.run_id, notices


def test_an_employee_sees_their_own_open_requests_and_nobody_elses(harness):
    first = add_request(harness, "U0ANA", "VPN drops every hour")
    second = add_request(harness, "U0ANA", "Printer on 3rd floor <jammed> & offline", priority="P2")
    done = add_request(harness, "U0ANA", "Old issue already fixed", status="resolved")
    other = add_request(harness, "U0CHLOE", "Chloé's confidential salary spreadsheet")
    view = open_home(harness, "U0ANA")
    assert headers(view)[1:] == ["My open requests", "My tasks", "My approvals"], "no queue or pipeline"
    mine = section(view, "My open requests")
    text = json.dumps(view, ensure_ascii=False)
    assert any(first.number in t and "VPN drops" in t and "IT help desk" in t for t in mine)
    assert any(second.number in t and "&lt;jammed&gt; &amp; offline" in t for t in mine), "user text is escaped"
    assert done.number not in text and other.number not in text and "salary" not in text
    assert section(view, "My tasks") == ["_Nothing here. Checklist tasks you or your team own will show up here._"]
    assert section(view, "My approvals")[0].startswith("_Nothing here")


def test_an_it_agent_sees_their_teams_queue_oldest_first_with_sla_state(tmp_path):
    clock = Clock(datetime.now(timezone.utc))
    with Harness(database_url=f"sqlite:///{tmp_path / 'itbot.db'}", clock=clock) as h:
        old = add_request(h, "U0ANA", "Laptop will not boot", priority="P2")
        new = add_request(h, "U0CHLOE", "Teams camera is black", priority="P4", status="in_progress", assignee=AGENT)
        elsewhere = add_request(h, "U0DEV", "Wi-Fi in the lobby", team="msp")
        waiting = add_request(h, "U0DEV", "Access to the finance share", status="awaiting_approval", approver="U0BEN")
        view = open_home(h, AGENT)
        assert "My team's queue" in headers(view) and "Onboarding and offboarding" not in headers(view)
        queue = section(view, "My team's queue")
        assert old.number in queue[0] and new.number in queue[1], "oldest first"
        assert "SLA *on track*" in queue[0] and "<!date^" in queue[0] and "due" in queue[0]
        assert f"<@{AGENT}>" in queue[1], "who is working on it"
        text = json.dumps(view)
        assert elsewhere.number not in text and waiting.number not in text
        assert queue[-1] == "Showing 1–2 of 2"

        clock.now += timedelta(days=30)
        queue = section(open_home(h, AGENT), "My team's queue")
        assert all("SLA *breached*" in t and ":red_circle:" in t for t in queue[:2])
        assert queue[-1] == "Showing 1–2 of 2 · 2 breached"
        assert "My team's queue" not in headers(open_home(h, "U0ANA")), "employees never see the queue"


def test_after_an_escalation_the_queue_shows_the_receiving_tiers_own_window(tmp_path):
    clock = Clock(datetime.now(timezone.utc))
    with Harness(database_url=f"sqlite:///{tmp_path / 'itbot.db'}", clock=clock) as h:
        late = add_request(h, "U0ANA", "Laptop will not boot", priority="P2")
        clock.now += timedelta(days=30)
        [escalated] = [e for e in h.services.helpdesk.sla_sweep(clock.now) if e.kind == "breach"]
        assert escalated.request.team == "helpdesk_l2"
        [shown] = section(open_home(h, "U0IT2"), "My team's queue")[:1]
        assert late.number in shown and "SLA *on track*" in shown, "L2's window has only just started"
        clock.now += timedelta(days=30)
        [shown] = section(open_home(h, "U0IT2"), "My team's queue")[:1]
        assert "SLA *breached*" in shown


def test_hr_sees_the_pipeline_with_progress_and_the_approver_sees_the_pending_approval(harness):
    run_id, notices = start_hire(harness)
    assert any(n.kind == "approval_needed" for n in notices)
    steps = harness.services.store.list_steps(run_id)
    done = sum(s.status in ("done", "cancelled") for s in steps)

    pipeline = section(open_home(harness, HR), "Onboarding and offboarding")
    assert "*Onboarding: Pepe Núñez*" in pipeline[0]
    assert f"{done} of {len(steps)} steps done" in pipeline[0] and "in progress" in pipeline[0]
    assert pipeline[-1] == "Showing 1–1 of 1"

    approvals = section(open_home(harness, APPROVER), "My approvals")
    assert "Onboarding of Pepe Núñez" in approvals[0] and "Needs your IT approval" in approvals[0]
    assert "<#C0ITAPPROVALS>" in approvals[0]
    employee = open_home(harness, "U0ANA")
    assert section(employee, "My approvals")[0].startswith("_Nothing here")
    assert "Onboarding and offboarding" not in headers(employee) and "Núñez" not in json.dumps(employee)
    assert section(open_home(harness, "U0SEC1"), "My approvals")[0].startswith("_Nothing here"), \
        "Security decides only privileged changes"


def test_a_blocked_run_comes_first_in_the_pipeline(harness):
    start_hire(harness)
    later, _ = start_hire(harness, days=20, employee_id="E2001", given_name="Ada", surname="Lovelace",
                          preferred_given_name="Ada")
    store = harness.services.store
    store.save_run(replace(store.get_run(later), status="blocked", blocked_reason="Create the AD account: DC down"))
    pipeline = section(open_home(harness, HR), "Onboarding and offboarding")
    assert "Ada Lovelace" in pipeline[0] and "blocked: Create the AD account" in pipeline[0]
    assert "Pepe Núñez" in pipeline[1] and pipeline[-1] == "Showing 1–2 of 2 · 1 blocked"


def test_a_team_member_sees_their_teams_tasks_and_who_claimed_them(harness):
    run_id, _ = start_hire(harness)
    task = next(s for s in harness.services.store.list_steps(run_id) if s.status == "task")
    team = harness.services.teams.team(task.team)
    member = next(m for m in team.members if m in harness.people)
    tasks = section(open_home(harness, member), "My tasks")
    assert any(task.title in t and "unclaimed" in t and f"<#{team.channel}>" in t for t in tasks)
    harness.services.engine.claim_task(task.id, member)
    tasks = section(open_home(harness, member), "My tasks")
    assert any(task.title in t and f"claimed by <@{member}>" in t for t in tasks)
    assert section(open_home(harness, "U0ANA"), "My tasks")[0].startswith("_Nothing here")


def test_a_privileged_change_waits_for_it_and_security_on_their_homes(harness):
    run_id, notices = start_hire(harness, days=1, privileged=True)
    for n in notices:
        if n.kind == "approval_needed":
            harness.services.engine.decide(n.approval.id, APPROVER, True)
    harness.services.engine.tick("test")
    [ask] = [a for a in harness.services.store.list_approvals(status="pending") if a.needs_security]
    assert "Needs your Security approval" in section(open_home(harness, "U0SEC1"), "My approvals")[0]
    assert "Needs your IT approval" in section(open_home(harness, APPROVER), "My approvals")[0]
    harness.services.engine.decide(ask.id, APPROVER, True)
    assert section(open_home(harness, APPROVER), "My approvals")[0].startswith("_Nothing here"), "decided already"
    assert "Needs your Security approval" in section(open_home(harness, "U0SEC1"), "My approvals")[0]


def test_a_manager_sees_the_access_request_waiting_for_their_approval(harness):
    r = add_request(harness, "U0ANA", "Access to the Sales drive", intent="request", status="awaiting_approval",
                    approver="U0BEN")
    approvals = section(open_home(harness, "U0BEN"), "My approvals")
    assert r.number in approvals[0] and "<@U0ANA>" in approvals[0] and "Sales drive" in approvals[0]


def test_150_open_requests_are_paged_within_block_kit_limits(harness):
    made = [add_request(harness, AGENT if n < 30 else "U0ANA", f"Problem number {n:03d}") for n in range(150)]
    view = open_home(harness, AGENT)
    assert len(view["blocks"]) <= 100
    queue = section(view, "My team's queue")
    assert queue[-1] == "Showing 1–10 of 150" and made[0].number in queue[0]
    assert paging(view, "queue") == {HomeActionId.MORE.value: "queue:1"}
    assert section(view, "My open requests")[-1] == "Showing 1–10 of 30"

    view = click(harness, AGENT, view, HomeActionId.MORE, paging(view, "requests")[HomeActionId.MORE.value])
    assert section(view, "My open requests")[-1] == "Showing 11–20 of 30"
    first_queue = section(view, "My team's queue")
    view = click(harness, AGENT, view, HomeActionId.MORE, paging(view, "queue")[HomeActionId.MORE.value])
    second_queue = section(view, "My team's queue")
    assert second_queue[-1] == "Showing 11–20 of 150"
    assert made[10].number in second_queue[0] and not set(first_queue[:10]) & set(second_queue[:10])
    assert section(view, "My open requests")[-1] == "Showing 11–20 of 30", "other sections keep their page"
    assert paging(view, "queue") == {HomeActionId.MORE.value: "queue:2", HomeActionId.FIRST.value: "queue:0"}

    view = click(harness, AGENT, view, HomeActionId.FIRST, "queue:0")
    assert section(view, "My team's queue")[-1] == "Showing 1–10 of 150"
    view = click(harness, AGENT, view, HomeActionId.MORE, "queue:99")  # past the end: the last page
    assert section(view, "My team's queue")[-1] == "Showing 141–150 of 150"
    assert paging(view, "queue") == {HomeActionId.FIRST.value: "queue:0"}, "no More on the last page"


@pytest.mark.parametrize("value", ["queue:3", "pipeline:1", "nonsense", "requests:-1"])
def test_a_forged_paging_value_shows_an_employee_nothing_more(harness, value):
    add_request(harness, AGENT, "Something only IT should see in the queue")
    view = click(harness, "U0ANA", open_home(harness, "U0ANA"), HomeActionId.MORE, value)
    assert headers(view)[1:] == ["My open requests", "My tasks", "My approvals"]
    assert "only IT should see" not in json.dumps(view)


def test_when_the_store_fails_the_tab_still_says_what_itbot_is(harness, monkeypatch):
    def down(**_):
        raise RuntimeError("database unreachable")
    monkeypatch.setattr(harness.services.store, "list_requests", down)
    view = open_home(harness, "U0ANA")
    assert "couldn't load your requests" in json.dumps(view) and headers(view) == ["itbot — IT help"]


def test_long_text_is_clipped_to_slacks_section_limit(harness):
    add_request(harness, "U0ANA", "x" * 5000, description="y" * 5000)
    [text] = section(open_home(harness, "U0ANA"), "My open requests")[:1]
    assert len(text) <= 3000 and text.endswith("…")


def test_paging_values_and_metadata_are_checked():
    from workflows.home import decode_pages, encode_pages, page_of, parse_page_value

    assert parse_page_value("queue:2") == ("queue", 2)
    assert parse_page_value("queue:-1") is None and parse_page_value("other:1") is None
    assert parse_page_value("queue:99999999") is None
    assert decode_pages(encode_pages({"queue": 2, "tasks": 0})) == {"queue": 2}
    assert decode_pages("not json") == {} and decode_pages('{"queue": "x", "evil": 3}') == {}
    page = page_of(list(range(25)), 7, size=10)
    assert (page.number, page.first, page.last, page.has_more, page.items) == (2, 21, 25, False, (20, 21, 22, 23, 24))
    empty = page_of([], 3)
    assert (empty.number, empty.first, empty.last, empty.total) == (0, 0, 0, 0)


def add_runs(h, count: int, first: int = 0) -> None:
    """``count`` live runs straight into the store, each with a done step, an open help-desk task and an approval."""
    store = h.services.store
    for n in range(first, first + count):
        run, _ = store.create_run(
            Run(kind="onboarding", person={"given_name": "Hire", "surname": f"{n:03d}"}, requested_by=HR,
                effective_date="2030-01-01", idempotency_key=f"bulk-{n}", status="blocked" if n % 3 else "active"),
            [RunStep(run_id=0, step_key="account", title="Create the account", team="helpdesk_l1", status="done"),
             RunStep(run_id=0, step_key="laptop", title=f"Laptop for hire {n:03d}", team="helpdesk_l1",
                     status="task", position=1)])
        store.create_approval(Approval(subject=f"run:{run.id}", requested_by=HR, run_id=run.id,
                                       summary=f"Groups for hire {n:03d}"))


def statements_for_home(h, users: list[str]) -> tuple[int, list[dict]]:
    """SQL statements the store runs while the Home views of ``users`` are built, and the views."""
    with statements_sent(h.services.store.engine) as seen:
        views = [home_view(h.services, user) for user in users]
    return len(seen), views


def test_building_a_home_tab_takes_as_many_queries_for_30_runs_as_for_3(harness):
    users = [HR, AGENT, APPROVER]
    add_runs(harness, 3)
    few, views = statements_for_home(harness, users)
    assert section(views[0], "Onboarding and offboarding")[-1] == "Showing 1–3 of 3 · 2 blocked"
    assert section(views[1], "My tasks")[-1] == "Showing 1–3 of 3"
    assert section(views[2], "My approvals")[-1] == "Showing 1–3 of 3"

    add_runs(harness, 27, first=3)
    many, views = statements_for_home(harness, users)
    assert section(views[0], "Onboarding and offboarding")[-1] == "Showing 1–10 of 30 · 20 blocked"
    assert section(views[1], "My tasks")[-1] == "Showing 1–10 of 30"
    assert section(views[2], "My approvals")[-1] == "Showing 1–10 of 30"
    assert "1 of 2 steps done" in section(views[0], "Onboarding and offboarding")[0]
    assert many == few, f"{few} statements for 3 runs, {many} for 30"


# ------------------------------------------------------------------ knowledge gaps

def _unanswered(h, user: str, question: str, topic: str = "account", outcome: str = "no_answer"):
    from workflows.models import AnswerRecord
    return h.services.store.record_answer(AnswerRecord(user_slack_id=user, question=question, intent="how_to",
                                                       topic=topic, outcome=outcome))


def _draft(h, user: str, view: dict, value: str) -> int:
    from bot.ids import GapActionId
    return press(h, user, view, GapActionId.DRAFT.value, value)


def _draft_buttons(view: dict) -> list[str]:
    return [b["accessory"]["value"] for b in view["blocks"]
            if b.get("accessory", {}).get("action_id") == "kb_gap_draft"]


def test_a_team_sees_its_knowledge_gaps_and_drafts_an_article_once_a_week(harness):
    _unanswered(harness, "U0ANA", "How do I reset my password?")
    _unanswered(harness, "U0CHLOE", "Wie kann ich mein Passwort zurücksetzen?", outcome="still_stuck")
    _unanswered(harness, "U0BEN", "reset my password <@U0CEO> <!channel>")
    _unanswered(harness, "U0BEN", "wifi in the lobby keeps dropping", topic="network")  # the MSP's
    view = open_home(harness, AGENT)
    gaps = section(view, "Knowledge gaps")
    assert len(gaps) == 2 and "asked 3× by 3 people" in gaps[0] and "lobby" not in json.dumps(gaps)
    assert "<@U0CEO>" not in json.dumps(view) and "<!channel>" not in json.dumps(view), "employees' text escaped"
    [value] = _draft_buttons(view)
    assert "Knowledge gaps" not in headers(open_home(harness, "U0ANA")), "employees never see gaps"

    mark = _draft(harness, "U0MSP1", view, value)  # not a help desk member
    refusal = harness.fake.wait_for(lambda c: c.method == "chat.postEphemeral", after=mark)
    assert refusal.args["user"] == "U0MSP1" and "Only members of IT help desk" in refusal.args["text"]
    assert not any(c.method == "chat.postMessage" and c.args.get("channel") == "C0HELPDESK1"
                   for c in harness.fake.calls[mark:])

    mark = _draft(harness, AGENT, view, value)
    card = harness.fake.wait_for(lambda c: c.method == "chat.postMessage" and c.args.get("channel") == "C0HELPDESK1",
                                 after=mark)
    assert "Draft a KB article for:" in card.args["text"] and "(asked 3 times by 3 people)" in card.args["text"]
    republished = _published(harness, AGENT, mark)
    assert _draft_buttons(republished) == [], "not offered again this week"
    [entry] = [e for e in harness.services.store.audit_trail("kb_gap:helpdesk_l1") if e.action == "kb.gap_draft"]
    assert entry.actor == AGENT and entry.detail["count"] == 3

    _unanswered(harness, "U0DEV", "Passwort vergessen, zurücksetzen bitte")  # the same gap, asked again
    assert _draft_buttons(open_home(harness, AGENT)) == [], "asked again, still not offered this week"
    mark = _draft(harness, AGENT, view, value)  # the old button, pressed again
    again = harness.fake.wait_for(lambda c: c.method == "chat.postEphemeral", after=mark)
    assert "already been handed out" in again.args["text"]
    assert _draft_buttons(open_home(harness, "U0MSP1")) != [], "the MSP has its own gap"
