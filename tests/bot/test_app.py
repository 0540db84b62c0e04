"""The real app over HTTP: signatures, greetings, mentions, retries, Slack errors, health."""
from __future__ import annotations

import json
import time
import urllib.request

import pytest

from bot.server import make_wsgi, HttpServer


def _no_reply_within(harness, mark: int, seconds: float = 0.5) -> bool:
    time.sleep(seconds)
    return not [c for c in harness.fake.calls[mark:] if c.method.startswith("chat.")]


def test_greeting_in_a_dm_is_answered_in_that_dm(harness):
    reply = harness.driver.dm("U0ANA", "hello")
    assert reply.status == 200
    call = harness.fake.wait_for("chat.postMessage")
    assert call.args["channel"] == "D0ANA"
    assert call.args["text"].startswith("Hi <@U0ANA>!") and "IT front door" in call.args["text"]
    assert harness.fake.messages("D0ANA")[0]["thread_ts"] is None


def test_mention_in_a_channel_is_answered_in_its_thread(harness):
    harness.driver.mention("U0BEN", "C0GENERAL", "help")
    call = harness.fake.wait_for("chat.postMessage")
    assert call.args["channel"] == "C0GENERAL" and call.args["thread_ts"]


def test_bad_signature_gets_401_and_reaches_no_listener(harness):
    mark = len(harness.fake.calls)
    reply = harness.driver.dm("U0ANA", "hi", signature="v0=" + "ab" * 32)
    assert reply.status == 401 and reply.json() == {"error": "invalid request"}
    assert _no_reply_within(harness, mark)


def test_stale_signature_older_than_five_minutes_gets_401(harness):
    mark = len(harness.fake.calls)
    reply = harness.driver.dm("U0ANA", "hi", timestamp=int(time.time()) - 301)
    assert reply.status == 401
    assert _no_reply_within(harness, mark)


def test_signature_for_another_body_is_refused(harness):
    d = harness.driver
    ts = str(int(time.time()))
    signature = d.verifier.generate_signature(timestamp=ts, body='{"type":"event_callback"}')
    reply = d.dm("U0ANA", "hi", signature=signature, timestamp=int(ts))
    assert reply.status == 401


def test_slack_retry_of_the_same_event_is_answered_once(harness):
    first = harness.driver.dm("U0ANA", "hi", event_id="Ev0SAME")
    harness.fake.wait_for("chat.postMessage")
    retries = [harness.driver.dm("U0ANA", "hi", event_id="Ev0SAME", retry_num=n) for n in (1, 2, 3)]
    assert first.status == 200 and all(r.status == 200 for r in retries)
    time.sleep(0.5)
    assert len(harness.fake.calls_to("chat.postMessage")) == 1


def test_edits_bot_echoes_and_channel_chatter_get_no_reply(harness):
    d = harness.driver
    mark = len(harness.fake.calls)
    d.send_event({"type": "message", "subtype": "message_changed", "channel": "D0ANA", "channel_type": "im"})
    d.send_event({"type": "message", "channel": "D0ANA", "channel_type": "im", "bot_id": "B9", "text": "hi"})
    d.channel_message("U0ANA", "C0GENERAL", "hi everyone")
    assert _no_reply_within(harness, mark)


def test_rate_limited_reply_is_retried_after_retry_after(harness):
    harness.fake.rate_limit_next("chat.postMessage", retry_after=1)
    started = time.monotonic()
    harness.driver.dm("U0ANA", "hi")
    delivered = harness.fake.wait_for(lambda c: c.method == "chat.postMessage" and c.status == 200, timeout=10)
    attempts = harness.fake.calls_to("chat.postMessage")
    assert [c.status for c in attempts] == [429, 200]
    assert delivered.at - attempts[0].at >= 0.9 and time.monotonic() - started < 10


def test_app_home_is_published_when_opened(harness):
    harness.driver.send_event({"type": "app_home_opened", "user": "U0DEV", "channel": "D0DEV", "tab": "home"})
    call = harness.fake.wait_for("views.publish")
    assert call.args["user_id"] == "U0DEV" and call.args["view"]["type"] == "home"
    assert harness.fake.state.home["U0DEV"]["blocks"][0]["type"] == "header"


def test_auth_test_is_called_once_however_many_requests(harness):
    for text in ("hi", "hello", "hey"):
        harness.driver.dm("U0ANA", text)
    harness.settle(after=0)
    assert len(harness.fake.calls_to("auth.test")) == 1


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_healthz_reports_ok_and_unknown_paths_404(harness):
    assert _get(harness.server.url + "/healthz") == (200, {"status": "ok", "store": "ok"})
    assert _get(harness.server.url + "/nope")[0] == 404
    assert _get(harness.server.url + "/slack/events")[0] == 405


def test_healthz_is_503_when_the_store_is_unreachable(harness, tmp_path):
    class DownStore:
        def ping(self):
            raise ConnectionError("database is down")

    services = type("S", (), {"store": DownStore()})()
    server = HttpServer(make_wsgi(None, services), "127.0.0.1", 0).start()
    try:
        assert _get(server.url + "/healthz") == (503, {"status": "unhealthy", "store": "unreachable"})
    finally:
        server.stop()


def test_the_listener_executor_knows_when_listeners_are_still_running():
    """What Harness.settle (tests, the demo, `itbot chat`) relies on to know the app is through."""
    import threading

    from bot.app import ListenerExecutor

    release = threading.Event()
    executor = ListenerExecutor(max_workers=2)
    try:
        executor.submit(release.wait, 10)
        executor.submit(lambda: 1 / 0)              # a failing listener still counts as finished
        assert executor.busy >= 1 and not executor.wait_idle(0.2)
        release.set()
        assert executor.wait_idle(5) and executor.busy == 0
    finally:
        executor.shutdown(wait=True)
