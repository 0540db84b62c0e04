"""Socket Mode end to end: `itbot serve` with SLACK_APP_TOKEN, in its own process, against FakeSlack.

FakeSlack answers the Web API and plays Slack's side of Socket Mode: `apps.connections.open` (app-level token
only) returns the ws:// URL of its peer, which greets the app with `hello`, sends envelopes and reads the acks.
"""
from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.devtools.fake_slack import FakeSlack
from bot.devtools.harness import DEFAULT_PEOPLE
from bot.devtools.socket_driver import SocketDriver
from bot.ids import BlockId, CallbackId

ROOT = Path(__file__).resolve().parents[2]
BOT_TOKEN = "xoxb-itbot-socket-0000"
APP_TOKEN = "xapp-1-A0ITBOT-0000-socket"


class Served:
    """`python -m bot serve` in a child process, as a Procfile would run it; its log goes to a file."""

    def __init__(self, env: dict[str, str], log: Path):
        self.log = log
        self.port = int(env["PORT"])
        with log.open("wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=env,
                                         stdout=out, stderr=subprocess.STDOUT)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, as a platform stops a process; its exit code, once it has exited by itself."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def output(self) -> str:
        return self.log.read_text()

    def healthz(self) -> tuple[int, dict]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=5) as reply:
            return reply.status, json.loads(reply.read())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (the event process, for one), read from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            pass
    return found


@pytest.fixture
def slack():
    with FakeSlack(bot_token=BOT_TOKEN, app_token=APP_TOKEN) as fake:
        for user_id, (name, tz) in DEFAULT_PEOPLE.items():
            fake.state.add_user(user_id, name, tz=tz)
        yield fake
    assert [t.name for t in threading.enumerate() if t.name.startswith("socket-peer")] == []


@pytest.fixture
def serve(slack, tmp_path):
    started: list[Served] = []

    def start(app_token: str = APP_TOKEN, **overrides: str) -> Served:
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "SLACK_BOT_TOKEN": BOT_TOKEN,
               "SLACK_APP_TOKEN": app_token, "SLACK_API_URL": slack.url, "HOST": "127.0.0.1", "PORT": str(free_port()),
               "DATABASE_URL": f"sqlite:///{tmp_path / 'itbot.db'}", "ITBOT_SPOOL_PATH": str(tmp_path / "spool.db"),
               "ITBOT_CONFIG_DIR": str(ROOT / "config"),
               "ITBOT_DIRECTORY": "sandbox", "LOG_FORMAT": "json", **overrides}
        served = Served(env, tmp_path / f"serve-{len(started)}.log")
        started.append(served)
        return served

    yield start
    for served in started:
        served.kill()


def stopped_cleanly(served: Served) -> str:
    """Stop the app; its log, after checking that it exited 0 by itself (no thread left hanging), took its
    event process with it, and never wrote a token."""
    spawned = children(served.proc.pid)
    code = served.stop()
    out = served.output()
    assert code == 0, out
    assert "Traceback" not in out, out
    assert APP_TOKEN not in out and BOT_TOKEN not in out
    deadline = time.monotonic() + 10
    while (left := [pid for pid in spawned if Path(f"/proc/{pid}").exists()]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left == [], "a child process outlived `itbot serve`"
    return out


def answers_in(slack: FakeSlack, channel: str, *, after: int = 0):
    return slack.wait_for(lambda c: c.method == "chat.postMessage" and c.args.get("channel") == channel
                          and c.response.get("ok"), after=after, timeout=30)


# FakeSlack's side of Socket Mode, as Slack answers ----------------------------------------------------------

def test_apps_connections_open_wants_the_app_level_token(slack):
    def open_with(token):
        return WebClient(base_url=slack.url).apps_connections_open(app_token=token)

    assert open_with(APP_TOKEN)["url"].startswith("ws://127.0.0.1:")
    for token, error in ((BOT_TOKEN, "not_allowed_token_type"), ("xapp-1-A0ITBOT-9999-other", "invalid_auth")):
        with pytest.raises(SlackApiError) as refused:
            open_with(token)
        assert refused.value.response["error"] == error
    with pytest.raises(SlackApiError) as wrong_kind:
        WebClient(token=APP_TOKEN, base_url=slack.url).chat_postMessage(channel="D0ANA", text="hi")
    assert wrong_kind.value.response["error"] == "not_allowed_token_type"


def _upgrade(url: str) -> tuple[socket.socket, bytes]:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.hostname}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    answer = b""
    while b"hello" not in answer and (chunk := sock.recv(4096)):   # the hello, or the end of a refusal
        answer += chunk
    return sock, answer


def test_a_connection_url_is_good_for_one_connection_and_client_frames_must_be_masked(slack):
    url = WebClient(base_url=slack.url).apps_connections_open(app_token=APP_TOKEN)["url"]
    first, greeting = _upgrade(url)
    assert greeting.startswith(b"HTTP/1.1 101 ") and b'"type": "hello"' in greeting
    second, refused = _upgrade(url)
    assert refused.startswith(b"HTTP/1.1 401 ") and second.recv(1) == b""
    first.sendall(bytes([0x81, 2]) + b"{}")   # an unmasked text frame
    closing = first.recv(64)
    assert closing[0] == 0x88 and closing[2:4] == (1002).to_bytes(2, "big")   # close: protocol error
    first.close()
    second.close()


# the app in Socket Mode ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("event_process", ["1", "0"])
def test_a_dm_envelope_is_acked_and_answered_in_the_dm(slack, serve, event_process):
    served = serve(ITBOT_EVENT_PROCESS=event_process)
    conn = slack.socket.wait_connection()
    [opened] = slack.calls_to("apps.connections.open")
    assert opened.token == APP_TOKEN and opened.response["ok"]
    assert served.healthz() == (200, {"status": "ok", "store": "ok"})

    sent = SocketDriver(slack.socket).dm("U0ANA", "how do I reset my password")
    assert sent.ack == {"envelope_id": sent.envelope_id}
    answer = answers_in(slack, "D0ANA")
    assert "password" in json.dumps(answer.args).lower()
    assert conn.open and [m for m in conn.received if "envelope_id" not in m] == []
    stopped_cleanly(served)
    slack.socket.wait_closed(conn)


def _described(text: str) -> dict:
    return {BlockId.DESCRIPTION.value: {"value": {"type": "plain_text_input", "value": text}}}


def test_a_slash_command_envelope_is_acked_and_opens_the_modal_whose_answers_come_back_in_acks(slack, serve):
    served = serve()
    slack.socket.wait_connection()
    driver = SocketDriver(slack.socket)
    sent = driver.command("U0ANA", "/it", "printer on floor 3 is jammed")
    assert sent.ack == {"envelope_id": sent.envelope_id}
    opened = slack.wait_for("views.open")
    assert opened.response["ok"] and opened.args["view"]["callback_id"] == CallbackId.IT_MODAL.value
    assert "printer on floor 3 is jammed" in json.dumps(opened.args["view"])

    # a form's errors are the ack's payload, as they are the HTTP response's body over HTTP
    refused = driver.submit_view("U0ANA", CallbackId.IT_MODAL.value, _described("hm"))
    assert refused.ack == {"envelope_id": refused.envelope_id, "payload": {
        "response_action": "errors", "errors": {BlockId.DESCRIPTION.value: "Please describe what you need in a few words."}}}
    accepted = driver.submit_view("U0ANA", CallbackId.IT_MODAL.value, _described("printer on floor 3 is jammed"),
                                  private_metadata=json.dumps({"channel": "C0GENERAL"}))
    assert accepted.ack == {"envelope_id": accepted.envelope_id}
    slack.wait_for(lambda c: c.method == "chat.postMessage" and c.response.get("channel") == "D0ANA"
                   and "IT-" in c.args.get("text", ""), timeout=30)   # the request's number, in her DM
    stopped_cleanly(served)


@pytest.mark.parametrize("how", ["refresh_requested", "close_frame"])
def test_the_app_reconnects_when_slack_asks_or_closes_and_keeps_working(slack, serve, how):
    served = serve()
    driver = SocketDriver(slack.socket)
    first = slack.socket.wait_connection()
    driver.dm("U0ANA", "hello")
    mark = len(slack.calls)

    # refresh_requested: the app opens a new connection, then leaves the old one; a close frame from
    # Slack: the app answers it and reconnects (slack_sdk's monitor notices within its 10 s ping interval)
    left = slack.socket.request_refresh() if how == "refresh_requested" else slack.socket.close_connection()
    second = slack.socket.wait_connection(2)
    slack.socket.wait_closed(left)
    assert first is left and second is not first and len(slack.calls_to("apps.connections.open")) == 2

    sent = driver.dm("U0BEN", "how do I reset my password")
    assert sent.ack == {"envelope_id": sent.envelope_id} and sent.ack in second.received
    answers_in(slack, "D0BEN", after=mark)
    ping = slack.socket.ping(b"still-there")
    slack.socket.wait_pong(ping, b"still-there")
    stopped_cleanly(served)


def test_a_refused_app_token_stops_start_up_with_one_line(slack, serve):
    served = serve(app_token="xapp-1-A0ITBOT-0000-revoked")
    code = served.proc.wait(60)
    lines = served.output().strip().splitlines()
    assert code == 2 and lines == [
        "itbot: error: SLACK_APP_TOKEN was refused by Slack (invalid_auth): use the app-level token (xapp-…) "
        "with the connections:write scope from Basic Information → App-Level Tokens"]
    assert slack.socket.connections == []


def test_a_bot_token_in_place_of_the_app_token_is_refused_before_slack_is_asked(slack, serve):
    served = serve(app_token=BOT_TOKEN)
    assert served.proc.wait(60) == 2
    assert served.output().strip().splitlines() == [
        "itbot: error: SLACK_APP_TOKEN is malformed: expected a token starting with 'xapp-'"]
    assert slack.calls == []
