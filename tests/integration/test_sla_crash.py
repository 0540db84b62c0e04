"""A clock killed in the middle of its SLA sweep: every notice it flagged is sent exactly once afterwards.

Ten requests nobody answered, a month old: the sweep flags each as unanswered and escalates it to L2 (a card
in L2's channel, a note on L1's card, words in both threads and in the employee's). A process running the
real sweep (bot.jobs.run_sla_sweep, as `itbot clock` does) is SIGKILLed once a few of those messages are out,
while it waits for Slack's answer to one more. A second sweep, after the first one's outbox lease has run
out, must send everything that is missing and nothing twice; before the outbox, half the requests were left
flagged "told" with nothing said.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import update

from bot.app import make_client
from bot.devtools.fake_slack import FakeSlack
from bot.notify import post_team_card
from bot.settings import Settings
from connectors.services import build_services
from connectors.store.tables import requests
from tests.support.clock import Clock

REPO = Path(__file__).resolve().parents[2]
REQUESTS = 10
PEOPLE = ("U0ANA", "U0BEN", "U0CHLOE", "U0DEV")
LEASE = 2.0
SWEEP = r"""
from bot.app import make_client
from bot.jobs import run_sla_sweep
from bot.settings import Settings
from connectors.services import build_services
from connectors.store.tables import requests
settings = Settings.from_env(require_slack=False)
services = build_services(settings)
print(run_sla_sweep(services, make_client(settings)))
"""


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'itbot.db'}"
    else:
        from tests.support.postgres import empty_database
        url = request.getfixturevalue("postgres_url")
        empty_database(url)
    fake = FakeSlack(bot_token="xoxb-sla-crash").start()
    for user in ("U0ANA", "U0BEN"):
        fake.state.add_user(user, user)
    env = {**os.environ, "DATABASE_URL": url, "SLACK_BOT_TOKEN": fake.state.bot_token, "SLACK_API_URL": fake.url,
           "ITBOT_OUTBOX_LEASE": str(LEASE), "LOG_LEVEL": "WARNING", "LOG_FORMAT": "text"}
    settings = Settings.from_env(env, require_slack=False)
    month_ago = Clock(datetime.now(timezone.utc) - timedelta(days=30))
    services = build_services(settings, clock=month_ago)
    yield services, fake, env, settings
    fake.stop()
    services.close()


def _month_old_requests(services, settings, month_ago: datetime) -> list[int]:
    client, ids = make_client(settings), []
    for i in range(REQUESTS):
        opened = services.helpdesk.open_request(requester=PEOPLE[i % len(PEOPLE)],   # (within request_limits)
                                                text=f"my laptop {i} is broken, the screen flickers",
                                                source="dm", channel="D0ANA", thread_ts=f"1700000000.{i:06d}")
        r = opened.request
        assert r.team == "helpdesk_l1" and r.status == "open"
        post_team_card(client, services.helpdesk, r)
        ids.append(r.id)
    with services.store.engine.begin() as conn:   # opened a month ago (the store stamps its own time)
        conn.execute(update(requests).where(requests.c.id.in_(ids)).values(created_at=month_ago))
    return ids


def _sweep(env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SWEEP], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_a_clock_killed_mid_sweep_leaves_every_notice_to_be_sent_once(world):
    services, fake, env, settings = world
    ids = _month_old_requests(services, settings, services.helpdesk.clock())
    numbers = [services.store.get_request(i).number for i in ids]
    mark = len(fake.calls)
    fake.slow("chat.postMessage", 1.0, after=True)   # the kill lands while the clock waits for Slack's answer

    first = _sweep(env)
    try:
        deadline = time.monotonic() + 90
        while len([c for c in fake.calls[mark:] if c.method == "chat.postMessage"]) < 5:
            assert time.monotonic() < deadline, "the sweep never got to its fifth message"
            assert first.poll() is None, first.stderr.read()[-2000:] if first.stderr else ""
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
    finally:
        first.wait(30)
    assert first.returncode == -signal.SIGKILL
    flagged = [services.store.get_request(i) for i in ids]
    assert all(r.team == "helpdesk_l2" and r.escalations == 1 for r in flagged), "the sweep flagged all ten first"

    fake.clear_slow()
    time.sleep(LEASE + 0.2)
    second = _sweep(env)
    out, err = second.communicate(timeout=180)
    assert second.returncode == 0, err[-3000:]
    assert out.strip() == "0", "nothing new to flag: only what the first sweep flagged is sent"

    posted = Counter()
    l1, l2 = (services.teams.team(t).channel for t in ("helpdesk_l1", "helpdesk_l2"))
    for m in fake.messages():
        number = next((n for n in numbers if n in m["text"]), None)
        if number is None:
            continue
        if m["channel"] == l1 and m["thread_ts"] and ":bell:" in m["text"]:
            posted[(number, "unanswered")] += 1
        elif m["channel"] == l2 and not m["thread_ts"]:
            posted[(number, "l2 card")] += 1
        elif m["channel"] == l2 and "escalated here automatically" in m["text"]:
            posted[(number, "l2 thread")] += 1
        elif m["channel"] == "D0ANA" and "escalated it to" in m["text"]:
            posted[(number, "employee")] += 1
    expected = {(n, what): 1 for n in numbers for what in ("unanswered", "l2 card", "l2 thread", "employee")}
    assert dict(posted) == expected
    for i in ids:
        r = services.store.get_request(i)
        assert r.team_ts, f"{r.number}'s L2 card is known, so replies in its thread reach the employee"
    backlog = services.store.outbox.backlog()
    assert (backlog.pending, backlog.sending, backlog.failed) == (0, 0, 0)
