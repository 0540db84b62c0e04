"""As `itbot serve` runs: events acked by the serving process and handled in the event process."""
from __future__ import annotations

import time

import pytest

from bot.devtools.harness import Harness


@pytest.fixture
def served(tmp_path):
    with Harness(database_url=f"sqlite:///{tmp_path / 'itbot.db'}", event_process=True) as h:
        yield h


def test_events_are_acked_at_once_and_answered_by_the_event_process(served):
    reply = served.driver.dm("U0ANA", "my vpn is not working since this morning", event_id="Ev0PROC1")
    assert reply.status == 200 and reply.body == ""
    card = served.fake.wait_for(lambda c: c.method == "chat.postMessage" and c.args.get("channel") == "C0HELPDESK1",
                                timeout=30)
    assert "vpn" in card.args["text"].lower()
    [request] = served.services.store.list_requests()
    assert request.topic == "vpn" and request.requester_slack_id == "U0ANA"


def test_a_retry_is_handled_once_across_processes(served):
    served.driver.dm("U0BEN", "hello", event_id="Ev0PROC2")
    served.fake.wait_for("chat.postMessage", timeout=30)
    served.driver.dm("U0BEN", "hello", event_id="Ev0PROC2", retry_num=1)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and served.relay.pending():
        time.sleep(0.05)
    time.sleep(0.3)
    assert len(served.fake.calls_to("chat.postMessage")) == 1


def test_forged_events_never_reach_the_event_process(served):
    reply = served.driver.dm("U0ANA", "hi", signature="v0=" + "0" * 64)
    assert reply.status == 401 and served.relay.pending() == 0
    time.sleep(0.5)
    assert not served.fake.calls_to("chat.postMessage")


def _gone(pid: int) -> bool:
    """Exited (or a zombie waiting for a parent that will never reap it)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_the_event_process_stops_when_the_serving_process_is_killed(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    script = ("import sys, time\n"
              "from dataclasses import replace\n"
              "from bot.settings import Settings\n"
              "from bot.events import EventRelay\n"
              "settings = replace(Settings.from_env({}, require_slack=False), database_url=sys.argv[1], spool_path=sys.argv[2])\n"
              "relay = EventRelay(settings).start()\n"
              "print(relay._process.pid, flush=True)\n"
              "time.sleep(120)\n")
    serving = subprocess.Popen([sys.executable, "-c", script, f"sqlite:///{tmp_path / 'itbot.db'}", str(tmp_path / "spool.db")],
                               stdout=subprocess.PIPE, text=True)
    try:
        event_pid = int(serving.stdout.readline())
        time.sleep(0.5)
        assert not _gone(event_pid)
        os.kill(serving.pid, signal.SIGKILL)      # no chance to stop its event process
        serving.wait(10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not _gone(event_pid):
            time.sleep(0.2)
        assert _gone(event_pid), "an orphaned event process would hold the store's connections for ever"
    finally:
        serving.kill()
