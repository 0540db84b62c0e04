"""A worker killed while it tells people: every card is posted exactly once after the restart.

The real `itbot worker` process, a SQLite or PostgreSQL store and FakeSlack. Twenty hires each get three
manual tasks at once: sixty task cards and twenty progress cards to post. FakeSlack answers chat.postMessage
slowly (after posting), and the worker is SIGKILLed once a few cards are out: at that moment one card is
posted but its worker never heard so, and the rest are not posted at all. A second worker, started once the
first one's outbox lease has run out, must post every card that is missing and none twice.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from bot.devtools.fake_slack import FakeSlack
from bot.settings import Settings
from connectors.services import build_services
from workflows.hr import parse_hr_event

REPO = Path(__file__).resolve().parents[2]
HIRES = 20
LEASE = 2.0   # seconds: the outbox lease of both workers (ITBOT_OUTBOX_LEASE)

CHECKLIST = """\
anchor: start_date
steps:
  - id: laptop
    title: Prepare a laptop
    team: helpdesk_l1
    task: Image a standard laptop and put it on the new hire's desk.
    due: immediately
  - id: badge
    title: Print a badge
    team: helpdesk_l1
    task: Print and activate the building badge.
    due: immediately
  - id: desk
    title: Book a desk
    team: msp
    task: Book a desk near the team.
    due: immediately
"""


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request, tmp_path):
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    (config / "checklists" / "onboarding.yaml").write_text(CHECKLIST)
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'itbot.db'}"
    else:
        from tests.support.postgres import empty_database
        url = request.getfixturevalue("postgres_url")
        empty_database(url)
    settings = replace(Settings.from_env({"ITBOT_CONFIG_DIR": str(config)}, require_slack=False), database_url=url)
    services = build_services(settings)
    fake = FakeSlack(bot_token="xoxb-crash-test").start()
    env = {**os.environ, "ITBOT_CONFIG_DIR": str(config), "DATABASE_URL": url, "SLACK_BOT_TOKEN": fake.state.bot_token,
           "SLACK_API_URL": fake.url, "ITBOT_OUTBOX_LEASE": str(LEASE), "LOG_LEVEL": "WARNING", "LOG_FORMAT": "text",
           "ITBOT_HTTP_TIMEOUT": "20"}
    yield services, fake, env
    fake.stop()
    services.close()


def _start_hires(services) -> None:
    for i in range(HIRES):
        event = parse_hr_event({"event_id": f"hris-{i}", "kind": "onboarding", "given_name": "Hire",
                                "surname": f"Number{i}", "employee_id": f"E9{i:03d}", "department": "Sales",
                                "title": "Account Executive", "start_date": date.today().isoformat(),
                                "timezone": "UTC"}, "webhook")
        assert services.engine.start_run(event).created


def _worker(env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bot", "worker", "--once"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _cards(fake) -> Counter:
    """How many times each task card (its step's title and the hire) and each progress card was posted."""
    posted = Counter()
    for message in fake.messages():
        text = message["text"]
        if text.startswith("Task for ") or text.startswith("Onboarding of "):
            posted[text] += 1
    return posted


def test_a_worker_killed_while_posting_cards_leaves_every_card_to_be_posted_once(world):
    services, fake, env = world
    _start_hires(services)
    fake.slow("chat.postMessage", 1.0, after=True)   # the kill lands while the worker waits for an answer

    first = _worker(env)
    try:
        fake.wait_for(lambda c: c.method == "chat.postMessage" and c.args.get("text", "").startswith("Task for"),
                      timeout=60)
        deadline = time.monotonic() + 60
        while len(fake.calls_to("chat.postMessage")) < 5:
            assert time.monotonic() < deadline, "the first worker never got to its fifth card"
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
    finally:
        first.wait(30)
    assert first.returncode == -signal.SIGKILL
    steps = [s for run in services.store.list_runs() for s in services.store.list_steps(run.id)]
    assert len(steps) == 3 * HIRES and all(s.status == "task" for s in steps), "every task was recorded"
    before = sum(_cards(fake).values())
    assert 0 < before < 4 * HIRES, f"killed mid-pass ({before} cards out)"

    fake.clear_slow()
    time.sleep(LEASE + 0.2)   # the first worker's claim on its row in flight has run out
    second = _worker({**env, "LOG_LEVEL": "INFO"})
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err[-3000:]
    assert err.count("already posted; not posting it again") == 1, "the card in flight was found, not posted again"

    posted = _cards(fake)
    task_cards = {k: n for k, n in posted.items() if k.startswith("Task for ")}
    progress_cards = {k: n for k, n in posted.items() if k.startswith("Onboarding of ")}
    assert len(task_cards) == 3 * HIRES and set(task_cards.values()) == {1}, \
        f"each task card exactly once: {sorted(k for k, n in task_cards.items() if n != 1)}"
    assert len(progress_cards) == HIRES and set(progress_cards.values()) == {1}, "one progress card per run"
    assert all(s.message_ts for run in services.store.list_runs() for s in services.store.list_steps(run.id)), \
        "every step knows where its card is"
    backlog = services.store.outbox.backlog()
    assert (backlog.pending, backlog.sending, backlog.failed) == (0, 0, 0)
