"""The event spool on its own: claims and leases, order per conversation, retry backoff, dead after the bound."""
from __future__ import annotations

import pytest

from connectors.spool import Spool, backoff


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def spool(tmp_path, clock):
    s = Spool(tmp_path / "spool.db", lease=30, give_up=3600, clock=clock)
    yield s
    s.close()


def add(spool, n, lane="D1"):
    assert spool.add(f'{{"n": {n}}}', {"h": ["1"]}, lane=lane, event_id=f"Ev{n}")


def test_an_event_is_claimed_once_and_removed_when_done(spool):
    add(spool, 1)
    [event] = spool.claim(4)
    assert event.body == '{"n": 1}' and event.headers == {"h": ["1"]} and event.attempts == 0
    assert spool.claim(4) == [] and spool.pending() == 1
    spool.done(event)
    assert spool.pending() == 0 and spool.claim(4) == []


def test_the_same_event_id_is_spooled_once(spool):
    add(spool, 1)
    assert not spool.add("{}", {}, lane="D1", event_id="Ev1")
    assert spool.pending() == 1


def test_one_conversation_in_order_others_side_by_side(spool):
    add(spool, 1, "D1"), add(spool, 2, "D1"), add(spool, 3, "D2")
    first = spool.claim(4)
    assert [e.event_id for e in first] == ["Ev1", "Ev3"]   # Ev2 waits for Ev1, its conversation's earlier one
    spool.done(first[0])
    [second] = spool.claim(4)
    assert second.event_id == "Ev2"


def test_a_failed_event_waits_with_backoff_and_holds_its_conversation(spool, clock):
    add(spool, 1, "D1"), add(spool, 2, "D1")
    [event] = spool.claim(4)
    assert spool.retry(event, "OperationalError: down") == "ready"
    assert spool.claim(4) == []                      # not due yet, and Ev2 stays behind it
    clock.now += backoff(1)
    [again] = spool.claim(4)
    assert again.event_id == "Ev1" and again.attempts == 1
    spool.retry(again, "OperationalError: down")
    clock.now += backoff(2) - 0.01
    assert spool.claim(4) == []
    clock.now += 0.02
    assert [e.event_id for e in spool.claim(4)] == ["Ev1"]


def test_backoff_doubles_up_to_a_cap():
    assert [backoff(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert backoff(30) == 300


def test_after_the_bound_an_event_is_dead_and_frees_its_conversation(spool, clock):
    add(spool, 1, "D1"), add(spool, 2, "D1")
    [event] = spool.claim(4)
    clock.now += 3600
    assert spool.retry(event, "SlackApiError: HTTP 500") == "dead"
    assert spool.pending() == 1
    [dead] = spool.dead()
    assert dead["event_id"] == "Ev1" and dead["attempts"] == 1 and "HTTP 500" in dead["last_error"]
    assert [e.event_id for e in spool.claim(4)] == ["Ev2"]


def test_a_failure_retrying_cannot_fix_is_dead_at_once(spool):
    add(spool, 1)
    [event] = spool.claim(4)
    assert spool.retry(event, "TypeError: bug", transient=False) == "dead"
    assert spool.pending() == 0 and spool.claim(4) == []


def test_a_lease_that_ran_out_is_taken_again(tmp_path, clock, spool):
    add(spool, 1)
    [event] = spool.claim(4)
    other = Spool(tmp_path / "spool.db", lease=30, clock=clock)   # another event process, same pid (alive)
    try:
        assert other.claim(4) == []
        clock.now += 29
        spool.renew([event.id])           # the holder is still at it
        clock.now += 29
        assert other.claim(4) == []
        clock.now += 2
        [taken] = other.claim(4)
        assert taken.event_id == "Ev1"
    finally:
        other.close()


def test_events_of_a_process_that_is_gone_are_taken_at_once(tmp_path, clock, spool):
    import subprocess
    import sys

    add(spool, 1)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = Spool(tmp_path / "spool.db", lease=30, clock=clock)
    gone.owner = f"{dead.pid}:0000"
    gone.claim(4)
    gone.close()
    [taken] = spool.claim(4)            # its lease has 30 s to run, but its process is gone
    assert taken.event_id == "Ev1"


def test_the_journal_recalls_a_step_by_position_and_name(spool):
    add(spool, 1)
    [event] = spool.claim(4)
    spool.remember(event.id, 1, "slack:chat.postMessage", {"ok": True, "ts": "1.2"})
    assert spool.recall(event.id, 1, "slack:chat.postMessage") == (True, {"ok": True, "ts": "1.2"})
    assert spool.recall(event.id, 1, "open-request") == (False, None)   # another step: do it
    assert spool.recall(event.id, 2, "slack:chat.postMessage") == (False, None)
    spool.done(event)
    assert spool.recall(event.id, 1, "slack:chat.postMessage") == (False, None)
