"""The outbox sender against FakeSlack: Slack's 429s and 500s delay a message, never lose or double it;
a refusal fails only its own message; a run's messages go out in order."""
from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.app import make_client
from bot.devtools.fake_slack import FakeSlack
from bot.outbox import OutboxSender
from bot.settings import Settings
from connectors.services import build_services
from tests.support.clock import Clock
from workflows.hr import parse_hr_event

REPO = Path(__file__).resolve().parents[2]
ONE_TASK = """\
anchor: start_date
steps:
  - id: laptop
    title: Prepare a laptop
    team: helpdesk_l1
    task: Image a standard laptop.
    due: immediately
"""


@pytest.fixture
def world(tmp_path, database_url):
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    (config / "checklists" / "onboarding.yaml").write_text(ONE_TASK)
    fake = FakeSlack(bot_token="xoxb-outbox-test").start()
    settings = replace(Settings.from_env({"ITBOT_CONFIG_DIR": str(config), "SLACK_BOT_TOKEN": fake.state.bot_token,
                                          "SLACK_API_URL": fake.url}, require_slack=False), database_url=database_url)
    services = build_services(settings)
    clock = Clock(datetime.now(timezone.utc))
    sender = OutboxSender(services, make_client(settings), clock=clock)
    yield services, fake, sender, clock
    fake.stop()
    services.close()


def _hire(services, clock, n: int = 1) -> None:
    for i in range(n):
        event = parse_hr_event({"event_id": f"hris-{i}", "kind": "onboarding", "given_name": "Ana", "surname": f"Hire{i}",
                                "employee_id": f"E5{i:03d}", "start_date": date.today().isoformat(),
                                "timezone": "UTC"}, "webhook")
        services.engine.start_run(event)
    services.engine.tick("w")
    clock.now = datetime.now(timezone.utc)   # the sender's clock starts from when the cards were recorded


def _task_cards(fake) -> list[dict]:
    return [m for m in fake.messages() if m["text"].startswith("Task for")]


def test_slack_rate_limiting_past_the_clients_retries_delays_the_card_until_retry_after(world):
    services, fake, sender, clock = world
    _hire(services, clock)
    fake.rate_limit_next("chat.postMessage", retry_after=1, times=4)   # the client itself retries three times
    assert sender.drain() == 0 and _task_cards(fake) == []
    [row] = services.store.outbox.rows(status="pending")[:1]
    assert row["next_attempt_at"] <= clock() + timedelta(seconds=1.5), "tried again after Retry-After"
    assert sender.drain() == 0, "not before Retry-After has passed"
    clock.now += timedelta(seconds=2)
    assert sender.drain() == 1   # the task card, and with it the run's progress card
    assert [m["text"] for m in fake.messages()] == ["Task for IT help desk: Prepare a laptop (Ana Hire0)",
                                                     "Onboarding of Ana Hire0"]
    assert len(_task_cards(fake)) == 1


def test_slack_failing_for_a_while_delays_every_card_and_doubles_none(world):
    services, fake, sender, clock = world
    _hire(services, clock, 3)
    for _ in range(2):   # Slack is down: 500 on every call the client makes, its own retries included
        fake.fail_next("chat.postMessage", "internal_error", status=500, times=3 * 3)
        sender.drain()
        clock.now += timedelta(minutes=10)
    assert _task_cards(fake) == []
    assert services.store.outbox.backlog().failed == 0, "transient failures are retried, not given up"
    sender.drain()
    cards = [m["text"] for m in _task_cards(fake)]
    assert len(cards) == 3 and len(set(cards)) == 3


def test_a_refused_card_fails_alone_and_is_counted(world):
    services, fake, sender, clock = world
    _hire(services, clock, 2)
    fake.fail_next("chat.postMessage", "not_in_channel")
    sender.drain()
    assert len(_task_cards(fake)) == 1, "the other hire's card still went out"
    [failed] = services.store.outbox.rows(status="failed")
    assert "not_in_channel" in failed["last_error"]
    assert services.store.outbox.backlog().failed == 1


def test_a_cancelled_task_is_not_announced_after_all(world):
    services, fake, sender, clock = world
    _hire(services, clock)
    [run] = services.store.list_runs()
    services.engine.stop_run(run.id, sorted(services.engine.policy.it_approvers)[0])
    clock.now = datetime.now(timezone.utc)
    sender.drain()
    assert _task_cards(fake) == [], "its task was cancelled before the card went out"
    stopped = [m for m in fake.messages() if "stopped" in m["text"]]
    assert len(stopped) == 1


def test_housekeeping_forgets_messages_sent_a_week_ago_and_keeps_failures(world):
    from sqlalchemy import update

    from bot import clock as clock_process
    from connectors.store.tables import outbox

    services, fake, sender, clock = world
    _hire(services, clock, 2)
    fake.fail_next("chat.postMessage", "not_in_channel")
    sender.drain()
    with services.store.engine.begin() as conn:
        conn.execute(update(outbox).values(sent_at=datetime.now(timezone.utc) - timedelta(days=8)))
    clock_process._RUNTIME.update(services=services, client=None)
    try:
        clock_process.run_job("housekeeping")
    finally:
        clock_process._RUNTIME.clear()
    assert [r["status"] for r in services.store.outbox.rows()] == ["failed"], "the failure stays to be read"
