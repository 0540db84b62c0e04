"""Daily digests with a controllable clock: local 09:00 in two time zones, weekends, escalation, catch-up."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo
from pathlib import Path

import pytest

from bot.app import make_client
from bot.devtools.harness import Harness
from bot.digests import Digests, digest_blocks
from bot.ids import DigestActionId
from workflows.digest import load_reminder_policy
from workflows.hr import parse_hr_event
from workflows.models import Person

CONFIG = Path(__file__).resolve().parents[2] / "config"
EVENT = json.loads((CONFIG / "examples" / "hr-event.json").read_text())
# Monday 23 November 2026 in London; New York is five hours behind.
MONDAY = datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock(MONDAY + timedelta(hours=6))


@pytest.fixture
def h(tmp_path, clock):
    with Harness(database_url=f"sqlite:///{tmp_path / 'itbot.db'}", clock=clock) as harness:
        harness.services.store.save_person(Person(display_name="Dev Patel", slack_user_id="U0IT1",
                                                  timezone="America/New_York"))
        yield harness


def _digests(h):
    policy = load_reminder_policy(CONFIG)
    return Digests(h.services, policy.__class__(**{**policy.__dict__, "messages_per_second": 0}))


def _start_run(h, clock, **changes):
    event = parse_hr_event({**EVENT, "start_date": (clock.now + timedelta(days=3)).date().isoformat(), **changes},
                           "webhook")
    run = h.services.engine.start_run(event)
    h.services.engine.tick("test", MONDAY + timedelta(hours=9, minutes=1))  # the laptop task falls due at 09:00
    return run


def _dms(h, user):
    return [c for c in h.fake.calls_to("chat.postMessage") if c.args.get("channel") == user]


def test_each_owner_gets_one_digest_at_nine_local_time_in_their_own_time_zone(h, clock):
    _start_run(h, clock)                      # laptop and first-week tasks for the help desk lead (U0IT1)
    security_lead = h.services.teams.team("security").lead
    h.services.store.save_person(Person(display_name="Sec", slack_user_id=security_lead, timezone="Europe/London"))
    digests, client = _digests(h), make_client(h.settings)
    clock.now = MONDAY + timedelta(hours=9, minutes=5)     # 09:05 London, 04:05 New York
    sent_first = digests.send(client, clock.now)
    assert not _dms(h, "U0IT1"), "not yet 09:00 in New York"
    approvers = [u for u in h.services.run_policy.it_approvers if _dms(h, u)]
    assert approvers, "IT approvers in London got their pending approval in a digest"
    clock.now = MONDAY + timedelta(hours=14, minutes=5)    # 09:05 New York
    digests.send(client, clock.now)
    [digest] = _dms(h, "U0IT1")
    text = json.dumps(digest.args["blocks"], ensure_ascii=False)
    assert "Prepare the laptop" in text and DigestActionId.DONE.value in text
    assert digests.send(client, clock.now + timedelta(hours=3)) == 0, "never two in a day"
    assert sent_first >= 1 and len(_dms(h, "U0IT1")) == 1


def test_no_digest_on_weekends_or_with_nothing_in_it(h, clock):
    digests, client = _digests(h), make_client(h.settings)
    assert digests.send(client, MONDAY + timedelta(hours=15)) == 0, "nothing listed: nobody is messaged"
    _start_run(h, clock)
    saturday = MONDAY + timedelta(days=5, hours=15)
    assert digests.send(client, saturday) == 0
    assert digests.send(client, saturday + timedelta(days=2)) > 0, "Monday again"


def test_overdue_tasks_escalate_to_the_lead_then_the_cio(h, clock):
    _start_run(h, clock)
    [run] = h.services.store.list_runs()
    member = "U0IT4"   # a help desk member claims the laptop task and forgets it
    laptop = next(s for s in h.services.store.list_steps(run.id) if s.step_key == "laptop")
    h.services.engine.claim_task(laptop.id, member)
    digests, client = _digests(h), make_client(h.settings)
    cio = h.services.teams.team("cio").lead
    lead = h.services.teams.team(laptop.team).lead
    listed, _ = digests.due((laptop.due_at + timedelta(days=3)).replace(hour=15))  # a Thursday, 3 days late
    kinds = {d.user: {i.kind for i in d.items} for d in listed}
    assert "task" in kinds.get(member, set()) and "escalation" in kinds.get(lead, set())
    assert "escalation" not in kinds.get(cio, set()), "not yet late enough for the CIO"
    listed, _ = digests.due((laptop.due_at + timedelta(days=7)).replace(hour=15))  # a Monday, 7 days late
    assert any(i.kind == "escalation" for d in listed if d.user == cio for i in d.items)


def test_a_clock_that_was_down_at_nine_catches_up_once(h, clock):
    _start_run(h, clock)
    digests, client = _digests(h), make_client(h.settings)
    late = MONDAY + timedelta(hours=16)     # the clock came back at 16:00 London / 11:00 New York
    first = digests.send(client, late)
    assert first > 0 and digests.send(client, late + timedelta(minutes=5)) == 0


def test_done_in_the_digest_completes_the_task_and_updates_the_line(h, clock):
    _start_run(h, clock)
    digests, client = _digests(h), make_client(h.settings)
    digests.send(client, MONDAY + timedelta(hours=15))
    [digest] = _dms(h, "U0IT1")
    button = next(b["accessory"] for b in digest.args["blocks"] if b.get("accessory", {}).get("action_id")
                  == DigestActionId.DONE.value)
    mark = len(h.fake.calls)
    payload = {"type": "block_actions", "user": {"id": "U0IT1"}, "trigger_id": "t",
               "container": {"type": "message", "channel_id": digest.response["channel"],
                             "message_ts": digest.response["ts"]},
               "channel": {"id": digest.response["channel"]},
               "message": {"ts": digest.response["ts"], "text": digest.args["text"], "blocks": digest.args["blocks"]},
               "actions": [{"type": "button", "action_id": DigestActionId.DONE.value, "value": button["value"],
                            "block_id": "b", "action_ts": "1"}]}
    assert h.driver.interact(payload).status == 200
    calls = h.settle(after=mark)
    assert h.services.store.get_step(int(button["value"])).status == "done"
    update = [c for c in calls if c.method == "chat.update" and c.args["channel"] == digest.response["channel"]]
    assert update and "✅ Done" in json.dumps(update[0].args["blocks"], ensure_ascii=False)


def test_a_managers_task_goes_to_the_manager(h, clock):
    h.fake.state.add_user("U0MGR", "Morgan Grey")
    h.services.store.save_person(Person(display_name="Morgan Grey", slack_user_id="U0MGR", timezone="Europe/London"))
    _start_run(h, clock, manager_slack_id="U0MGR")
    [run] = h.services.store.list_runs()
    welcome = next(s for s in h.services.store.list_steps(run.id) if s.step_key == "manager_welcome")
    assert welcome.status == "task"
    listed, _ = _digests(h).due(MONDAY + timedelta(hours=15))
    mine = {d.user: [i.title for i in d.items] for d in listed}
    assert any("Plan the first week" in t for t in mine.get("U0MGR", [])), "the manager's digest lists it"
    assert not any("Plan the first week" in t for t in mine.get(h.services.teams.team(welcome.team).lead, []))


def test_a_digest_size_slack_would_refuse_stops_start_up_with_the_line(tmp_path):
    import pytest as _pytest

    from workflows.config import ConfigError

    (tmp_path / "reminders.yaml").write_text('send_at: "09:00"\nmax_items: 60\n')
    with _pytest.raises(ConfigError) as caught:
        load_reminder_policy(tmp_path)
    assert "reminders.yaml:2" in str(caught.value) and "at most 45" in str(caught.value)


def test_a_task_due_yesterday_evening_is_a_day_late_in_the_morning_digest(h, clock):
    from workflows.digest import digests_due

    _start_run(h, clock)
    [run] = h.services.store.list_runs()
    laptop = next(s for s in h.services.store.list_steps(run.id) if s.step_key == "laptop")
    policy = load_reminder_policy(CONFIG)
    due = laptop.due_at.astimezone(ZoneInfo("Europe/London")).replace(hour=17, minute=0)
    morning = (due + timedelta(days=1)).replace(hour=9, minute=30)
    while morning.weekday() >= 5:
        morning += timedelta(days=1)
    step = replace(laptop, due_at=due)
    [digest] = digests_due(morning, tasks=[(run, step)], approvals=[], owners_of=lambda s: ["U0IT1"],
                           approvers_of=lambda a: [], lead_of=lambda t: "", cio="", timezone_of=lambda u: "Europe/London",
                           policy=policy)
    assert digest.items[0].overdue_days >= 1, "not 'due today': it was due yesterday"


def test_a_pending_approval_is_listed_only_to_those_who_may_still_decide_it(h, clock):
    _start_run(h, clock, privileged=True)
    engine, store = h.services.engine, h.services.store
    for approval in store.list_approvals(status="pending"):          # the account itself is approved first
        engine.decide(approval.id, "U0IT3", True)
    engine.tick("test", MONDAY + timedelta(days=2, hours=9))          # the admin-group step asks IT + Security
    [privileged] = [a for a in store.list_approvals(status="pending") if a.needs_security]
    engine.decide(privileged.id, "U0IT2", True)                       # IT's half given
    security = set(h.services.teams.team("security").members)
    listed, _ = _digests(h).due(MONDAY + timedelta(days=2, hours=10))
    holders = {d.user for d in listed for i in d.items if i.kind == "approval" and i.ref == privileged.id}
    assert "U0IT2" not in holders, "whoever gave their half is not asked again"
    assert holders and holders <= security, "only Security may give the other half"
    later, _ = _digests(h).due((privileged.expires_at or MONDAY) + timedelta(days=1, hours=10))
    assert not [i for d in later for i in d.items if i.kind == "approval" and i.ref == privileged.id], \
        "an expired approval is nobody's to decide"


def test_the_open_link_in_a_digest_is_acknowledged(h):
    """Slack also sends the app a link button's click; an unanswered one shows the person an error."""
    payload = {"type": "block_actions", "user": {"id": "U0IT1"}, "trigger_id": "t",
               "container": {"type": "message", "channel_id": "D0IT1", "message_ts": "1.2"},
               "channel": {"id": "D0IT1"}, "message": {"ts": "1.2", "text": "Your IT to-do", "blocks": []},
               "actions": [{"type": "button", "action_id": "digest_open_task_7", "block_id": "b", "action_ts": "1"}]}
    assert h.driver.interact(payload).status == 200


def test_a_help_desk_request_waiting_for_its_approver_is_in_the_approvers_digest(h, clock):
    h.driver.dm("U0ANA", "I need access to the Finance shared drive please")
    h.settle()
    [request] = h.services.store.list_requests()
    assert request.status == "awaiting_approval" and request.approver == "U0BEN"
    listed, _ = _digests(h).due(MONDAY + timedelta(days=1, hours=10))
    [digest] = [d for d in listed if d.user == "U0BEN"]
    [item] = [i for i in digest.items if i.kind == "request_approval"]
    assert item.ref == request.id and request.number in item.title
    blocks = json.dumps(digest_blocks(digest, load_reminder_policy(CONFIG), "Europe/London"))
    assert "waiting for your approval" in blocks and "<@U0ANA>" in blocks


def test_a_digest_slack_could_not_take_is_sent_once_later_and_not_twice(h, clock):
    from slack_sdk import WebClient
    _start_run(h, clock)
    # a client without the 5xx retries of make_client (they only make the test wait): the outbox does the retrying
    digests, client = _digests(h), WebClient(token=h.settings.slack_bot_token.reveal(), base_url=h.fake.url)
    h.fake.fail_next("chat.postMessage", "service_unavailable", status=503, times=1000)   # Slack is down for a while
    assert digests.send(client, MONDAY + timedelta(hours=15)) == 0
    assert _dms(h, "U0IT1") == [] or all(not c.response.get("ok") for c in _dms(h, "U0IT1"))
    assert digests.send(client, MONDAY + timedelta(hours=15, minutes=5)) == 0, "recorded once: not built again"
    backlog = h.services.store.outbox.backlog()
    assert backlog.pending >= 1 and backlog.failed == 0, "waiting to be tried again, not dropped"
    h.fake._faults.clear()
    from bot.outbox import OutboxSender
    later = datetime.now(timezone.utc) + timedelta(hours=1)   # past every backoff
    OutboxSender(h.services, client, clock=lambda: later).drain()
    delivered = [c for c in _dms(h, "U0IT1") if c.response.get("ok")]
    assert len(delivered) == 1 and delivered[0].args["text"].startswith("Your IT to-do")
