"""`itbot serve`, `worker` and `clock` stop cleanly on SIGTERM, as systemd and Kubernetes stop them: exit 0, no
traceback, within a deadline, and the work handed back (the clock's lock released, the server's requests
under way answered)."""
from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.devtools.fake_slack import FakeSlack
from bot.server import HttpServer

REPO = Path(__file__).resolve().parents[2]
BOT_TOKEN = "xoxb-itbot-stops-0000"
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.05)


@pytest.fixture
def fake():
    with FakeSlack(bot_token=BOT_TOKEN) as fake:
        yield fake


@pytest.fixture
def env(tmp_path, fake):
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "PYTHONPATH": str(REPO),
            "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": "0123456789abcdef0123456789abcdef",
            "SLACK_API_URL": fake.url, "DATABASE_URL": f"sqlite:///{tmp_path / 'itbot.db'}",
            "PORT": str(free_port()), "HOST": "127.0.0.1", "LOG_FORMAT": "text", "ITBOT_WORKER_POLL": "0.2",
            "ITBOT_CONFIG_DIR": str(REPO / "config")}


@contextmanager
def started(command: str, env: dict, tmp_path: Path):
    """`python -m bot COMMAND` as a Procfile runs it, its output in a file; killed if a test left it running."""
    log = tmp_path / f"{command}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot", command], cwd=tmp_path, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        yield proc, log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def stop(proc: subprocess.Popen, log: Path, timeout: float = 30.0) -> str:
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"still running {timeout}s after SIGTERM:\n{log.read_text()}") from None
    output = log.read_text()
    assert code == 0, output
    assert "Traceback" not in output, output
    return output


def test_serve_stops_on_sigterm(env, tmp_path):
    with started("serve", env, tmp_path) as (proc, log):
        def healthy() -> bool:
            assert proc.poll() is None, log.read_text()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", int(env["PORT"]), timeout=2)
                conn.request("GET", "/healthz")
                return conn.getresponse().status == 200
            except OSError:
                return False
        wait_until(healthy, 60, "itbot serve answers /healthz")
        output = stop(proc, log)
        assert "stopped serving" in output
        with pytest.raises(OSError):   # nothing listens any more
            socket.create_connection(("127.0.0.1", int(env["PORT"])), timeout=2).close()


def test_worker_stops_on_sigterm_and_serves_metrics_on_its_port(env, tmp_path):
    from tests.ship.test_metrics import scrape
    env = {**env, "METRICS_PORT": str(free_port())}
    with started("worker", env, tmp_path) as (proc, log):
        wait_until(lambda: "serving metrics" in log.read_text() or proc.poll() is not None, 60, "the worker starts")
        samples = scrape(f"http://127.0.0.1:{env['METRICS_PORT']}")
        assert ("state", "pending") in {k[0] for k in samples["itbot_outbox_messages"]}
        assert "worker stopped" in stop(proc, log)


def test_clock_stops_on_sigterm_and_releases_its_lock(env, tmp_path):
    from connectors.store import build_store
    from connectors.store.leader import Leadership

    with started("clock", env, tmp_path) as (proc, log):
        wait_until(lambda: "this clock is the leader" in log.read_text() or proc.poll() is not None, 60,
                   "the clock leads")
        stop(proc, log)
    store = build_store(env["DATABASE_URL"])
    try:
        leader = Leadership(store.engine)
        assert leader.try_acquire(), "the stopped clock still holds its lock"
        leader.release()
    finally:
        store.close()


def test_a_stopping_server_refuses_new_connections_and_finishes_the_requests_under_way():
    started, release = threading.Event(), threading.Event()

    def slow(environ, start_response):
        started.set()
        release.wait(10)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"finished"]

    server = HttpServer(slow, "127.0.0.1", 0, drain=10).start()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/slow")
    assert started.wait(10)
    server.request_stop()
    wait_until(lambda: _refused(server.port), 5, "the listening socket closes")
    release.set()
    reply = conn.getresponse()
    assert (reply.status, reply.read()) == (200, b"finished")
    server._thread.join(10)
    assert not server._thread.is_alive()


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except OSError:
        return True


def test_a_stopping_worker_claims_nothing_more_and_hands_back_the_rows_it_had_not_sent(harness):
    from bot.app import make_client
    from bot.worker import WorkerLoop
    from workflows.models import Announcement

    services = harness.services
    loop = WorkerLoop(services, make_client(harness.settings), name="stopping")
    stop = threading.Event()
    services.store.outbox.add([Announcement("run:1", "notice", {"text": "one"}),
                               Announcement("run:2", "notice", {"text": "two"})])
    sent = []
    real_send = loop.sender.send

    def send_then_sigterm(row):   # SIGTERM arrives while the first row is being sent
        sent.append(row.id)
        stop.set()
        return real_send(row)

    loop.sender.send = send_then_sigterm
    loop.run_pass(stop.is_set)
    assert len(sent) == 1, "the row under way was finished; the next one was not started"
    backlog = services.store.outbox.backlog()
    assert (backlog.pending, backlog.sending) == (1, 0), backlog   # due again now, for another worker
    loop.run_pass(stop.is_set)
    assert len(sent) == 1, "a stopping worker claims no more rows"
    [pending] = services.store.outbox.rows(status="pending")
    assert "handed back" in pending["last_error"]


def test_a_stopping_worker_claims_no_step(harness):
    from datetime import date

    from workflows.hr import parse_hr_event

    services = harness.services
    event = parse_hr_event({"event_id": "hris-stop-1", "kind": "onboarding", "given_name": "Sam", "surname": "Stop",
                            "employee_id": "E6060", "start_date": date.today().isoformat(), "timezone": "UTC"},
                           "webhook")
    run_id = services.engine.start_run(event).run_id
    assert services.engine.tick("stopping", stopping=lambda: True) == []
    assert all(s.status == "pending" for s in services.store.list_steps(run_id))
