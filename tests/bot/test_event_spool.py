"""Nothing lost, nothing twice: events acked to Slack are answered exactly once across a store outage, a Slack
outage and a killed event process, and one slow Slack reply does not hold up other people.

As `itbot serve` runs: the serving process spools and acks, the event process handles (Harness(event_process=True)).
Every wait is a condition with a deadline.
"""
from __future__ import annotations

import itertools
import os
import signal
import sqlite3
import time

import pytest

from bot.devtools.harness import Harness

QUESTIONS = ("how do I connect to the guest wifi", "how do I reset my password", "how do I set up the printer")
USERS = ("U0ANA", "U0BEN", "U0CHLOE", "U0DEV")
_ts = itertools.count(1)


def ask(h: Harness, user: str, text: str) -> tuple[str, str]:
    """A DM as Slack delivers it; (channel, ts) of the message, where its answer is expected in thread."""
    channel, ts = "D" + user[1:], f"{int(time.time())}.{next(_ts):06d}"
    reply = h.driver.send_event({"type": "message", "channel_type": "im", "channel": channel, "user": user,
                                 "text": text, "ts": ts})
    assert reply.status == 200, reply
    return channel, ts


def ask_many(h: Harness, n: int) -> list[tuple[str, str]]:
    return [ask(h, USERS[i % len(USERS)], QUESTIONS[i % len(QUESTIONS)]) for i in range(n)]


def answers(h: Harness, dm: tuple[str, str]) -> list:
    channel, ts = dm
    return [c for c in h.fake.calls_to("chat.postMessage")
            if c.status == 200 and c.args.get("channel") == channel and c.args.get("thread_ts") == ts]


def wait_answered_once(h: Harness, sent: list[tuple[str, str]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(not answers(h, dm) for dm in sent):
        if time.monotonic() > deadline:
            missing = [dm for dm in sent if not answers(h, dm)]
            raise AssertionError(f"{len(missing)} of {len(sent)} DMs unanswered after {timeout}s: {missing[:5]}")
        time.sleep(0.1)
    h.settle(timeout=max(5.0, deadline - time.monotonic()))   # the spool is empty: nothing more is coming
    twice = {dm: len(answers(h, dm)) for dm in sent if len(answers(h, dm)) != 1}
    assert twice == {}, f"answered more than once: {twice}"
    assert h.relay.spool.dead() == []


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} within {timeout}s")
        time.sleep(0.05)


@pytest.mark.postgres
def test_dms_during_a_20s_postgresql_outage_are_each_answered_once(postgres_url):
    from tests.support.postgres import empty_database
    from tests.support.tcp_proxy import TcpProxy

    empty_database(postgres_url)
    proxy = TcpProxy("127.0.0.1", 5432).start()
    url = postgres_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{proxy.port}/")
    assert url != postgres_url
    try:
        with Harness(database_url=url, event_process=True) as h:
            sent = ask_many(h, 4)
            wait_answered_once(h, sent, timeout=30)     # the event process is up and using the store
            proxy.cut()
            cut_at = time.monotonic()
            while time.monotonic() - cut_at < 20:       # a stream of DMs while the store is away
                sent += ask_many(h, 2)
                time.sleep(1)
            proxy.restore()
            restored_at = time.monotonic()
            sent += ask_many(h, 4)
            wait_answered_once(h, sent, timeout=90)
            assert proxy.refused > 0, "the event process never noticed the outage"
            late = [dm for dm in sent if answers(h, dm)[0].at > restored_at]
            assert late, "no DM waited for the store: the outage did not happen"
    finally:
        proxy.stop()


def test_dms_during_30s_of_slack_429_and_500_are_each_answered_once(tmp_path):
    with Harness(database_url=f"sqlite:///{tmp_path / 'itbot.db'}", event_process=True) as h:
        sent = ask_many(h, 2)
        wait_answered_once(h, sent, timeout=30)
        h.fake.outage("chat.postMessage", 30, retry_after=1)
        started = time.monotonic()
        while time.monotonic() - started < 25:
            sent += ask_many(h, 2)
            time.sleep(2)
        wait_answered_once(h, sent, timeout=120)
        refused = [c for c in h.fake.calls_to("chat.postMessage") if c.status in (429, 500)]
        assert {c.status for c in refused} == {429, 500}


def test_events_of_a_killed_event_process_are_handled_once_by_the_next(tmp_path):
    db = tmp_path / "itbot.db"
    with Harness(database_url=f"sqlite:///{db}", event_process=True) as h:
        wait_answered_once(h, [ask(h, "U0ANA", "how do I reset my password")], timeout=30)
        lock = sqlite3.connect(db, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")                # the event process's first store write now waits
        try:
            sent = ask_many(h, 8)
            spool = sqlite3.connect(h.settings.spool_path)
            wait_until(lambda: spool.execute("SELECT COUNT(*) FROM events WHERE owner IS NOT NULL").fetchone()[0] >= 4,
                       30, "taken by the event process")
            spool.close()
            killed = h.relay.pid
            os.kill(killed, signal.SIGKILL)
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        wait_until(lambda: h.relay.pid != killed, 30, "restarted")
        wait_answered_once(h, sent, timeout=60)


def test_one_slow_reply_does_not_hold_up_another_employee(tmp_path):
    with Harness(database_url=f"sqlite:///{tmp_path / 'itbot.db'}", event_process=True) as h:
        wait_answered_once(h, [ask(h, "U0DEV", "how do I reset my password")], timeout=30)
        h.fake.slow("chat.postMessage", 6, when=lambda args: args.get("channel") == "D0ANA")
        slow = ask(h, "U0ANA", "how do I connect to the guest wifi")
        quick = ask(h, "U0BEN", "how do I reset my password")
        wait_answered_once(h, [slow, quick], timeout=60)
        [slow_answer], [quick_answer] = answers(h, slow), answers(h, quick)
        assert quick_answer.at < slow_answer.at, "Ben waited for Ana's slow reply"
