"""Signed requests Slack would never send, through the real HTTP path: a 4xx with the reason, or a clear
ephemeral message, never a 500, a late 404 or silence."""
from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest

from bot.ids import ActionId, CallbackId, DigestActionId, RunActionId

JSON, FORM = "application/json", "application/x-www-form-urlencoded"
IDS = [a.value for a in (*ActionId, *RunActionId, *DigestActionId)]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """One app for the module: nothing sent here changes anything."""
    from bot.devtools.harness import Harness

    with Harness(database_url=f"sqlite:///{tmp_path_factory.mktemp('malformed') / 'itbot.db'}") as h:
        yield h


def _form(payload) -> str:
    return urlencode({"payload": payload if isinstance(payload, str) else json.dumps(payload)})


@pytest.mark.parametrize("body, content_type, error", [
    (b'{"type": "event_callback", ', JSON, "body: not valid JSON"),
    (b'{"type": "event_callback", "x": "\xff"}', JSON, "body: not UTF-8"),
    (b"[" * 50_000 + b"]" * 50_000, JSON, "body: nested too deeply (at most 48 levels)"),
    (b'{"type": "event_callback", "event": ' + b"[" * 100 + b"]" * 100 + b"}", JSON, "body: nested too deeply"),
    (b"[1, 2]", JSON, "body: expected a JSON object"),
    (b"", JSON, "body: empty"),
    (b"payload=%FF%FE", FORM, "body: a form field is not UTF-8"),
    (b"payload=\xff", FORM, "body: not UTF-8"),
    (_form("{not json").encode(), FORM, "payload: not valid JSON"),
    (_form("[" * 50_000).encode(), FORM, "payload: nested too deeply"),
    (json.dumps({"type": "event_callback", "event_id": "Ev1"}).encode(), JSON, "event: missing"),
    (json.dumps({"type": "event_callback", "event_id": "Ev1", "event": "hi"}).encode(), JSON, "event: expected dict"),
    (_form({"type": "block_actions", "user": {"id": "U0IT1"}}).encode(), FORM, "actions: missing"),
    (_form({"type": "block_actions", "actions": [{"action_id": "request_claim", "value": "1"}]}).encode(), FORM,
     "user.id: missing"),
    (_form({"type": "block_actions", "user": {"id": "U0IT1"}, "actions": [{"action_id": "request_claim",
                                                                           "value": "1"}]}).encode(), FORM,
     "channel.id: missing"),
    (_form({"type": "view_submission", "user": {"id": "U0ANA"}}).encode(), FORM, "view.id: missing"),
    (_form({"type": "view_submission", "user": {"id": "U0ANA"},
            "view": {"id": "V1", "callback_id": "it_request_modal", "state": {"values": ["x"]}}}).encode(), FORM,
     "view.state.values: missing"),
    (urlencode({"command": "/it", "user_id": "U0ANA", "text": ""}).encode(), FORM, "trigger_id: missing"),
])
def test_a_signed_body_itbot_cannot_read_is_a_400_with_the_reason(app, body, content_type, error):
    mark = len(app.fake.calls)
    reply = app.driver.post(body, content_type)
    assert reply.status == 400, reply
    assert reply.json()["error"].startswith(error)
    assert not app.settle(after=mark, timeout=5)


def test_a_timestamp_that_is_not_a_number_is_a_401_not_a_500(app):
    reply = app.driver.post(b'{"type": "event_callback"}', JSON, timestamp="soon")
    assert reply.status == 401
    assert reply.json() == {"error": "invalid request: X-Slack-Request-Timestamp is not unix seconds"}


def test_garbage_unsigned_is_still_a_401(app):
    assert app.driver.post(b"\xff\xfe[[[", JSON, signature="v0=" + "00" * 32).status == 401


@pytest.mark.parametrize("value", ["abc", "", "1e5", "-1", "9" * 30])
def test_a_button_value_that_is_not_an_id_is_a_400_naming_it(app, value):
    mark = len(app.fake.calls)
    for action_id in IDS:
        reply = app.driver.click("U0IT1", action_id, value)
        assert reply.status == 400, action_id
        assert reply.json()["error"] == (f"actions[0].value: {action_id} expects a request, task or approval "
                                         f"number, got {value!r}")
    assert not app.settle(after=mark)


@pytest.mark.parametrize("action_id, says", [
    (ActionId.ANSWER_SOLVED, "That answer is no longer on record."),
    (ActionId.ANSWER_STUCK, "That answer is no longer on record."),
    (ActionId.OPEN_REQUEST, "That answer is no longer on record."),
    (ActionId.CLAIM, "Request 424242 does not exist."), (ActionId.RESOLVE, "Request 424242 does not exist."),
    (ActionId.ESCALATE, "Request 424242 does not exist."), (ActionId.REASSIGN, "Request 424242 does not exist."),
    (ActionId.APPROVE, "Request 424242 does not exist."), (ActionId.DENY, "Request 424242 does not exist."),
    (RunActionId.APPROVE, "That approval no longer exists."), (RunActionId.DENY, "That approval no longer exists."),
    (RunActionId.TASK_DONE, "That task no longer exists."), (RunActionId.TASK_CLAIM, "That task is not open any more."),
    (RunActionId.STOP, "That run no longer exists."), (DigestActionId.DONE, "That task no longer exists."),
])
def test_a_button_for_something_that_does_not_exist_says_so_to_the_clicker(app, action_id, says):
    mark = len(app.fake.calls)
    started = time.monotonic()
    reply = app.driver.click("U0IT1", action_id.value, "424242")
    assert reply.status == 200 and time.monotonic() - started < 2
    calls = [c for c in app.settle(after=mark) if c.method.startswith(("chat.", "views."))]
    assert [(c.method, c.args["user"], c.args["text"]) for c in calls] == [("chat.postEphemeral", "U0IT1", says)]


def test_a_form_missing_its_field_gets_a_form_error_not_a_crash(app):
    harness = app
    reply = harness.driver.submit_view("U0ANA", CallbackId.IT_MODAL.value, {"other": {"value": {"value": "x"}}})
    assert reply.status == 200
    assert reply.json() == {"response_action": "errors",
                            "errors": {"description": "Please describe what you need in a few words."}}
    reply = harness.driver.submit_view("U0IT1", CallbackId.REASSIGN_MODAL.value, {}, private_metadata="1")
    assert reply.status == 200 and reply.json()["errors"] == {"assignee": "Choose who should take it."}
    reply = harness.driver.submit_view("U0IT1", CallbackId.REASSIGN_MODAL.value, {}, private_metadata="x")
    assert reply.status == 400 and reply.json()["error"] == "view.private_metadata: expected the request number"


def test_the_hr_webhook_refuses_unreadable_bodies_with_a_400(harness):
    import urllib.error
    import urllib.request

    from workflows.hr import sign

    def post(body: bytes):
        ts = str(int(time.time()))
        request = urllib.request.Request(harness.server.url + "/hooks/hr", data=body, method="POST", headers={
            "Content-Type": "application/json", "X-Itbot-Timestamp": ts,
            "X-Itbot-Signature": sign(harness.hr_secret, ts, body)})
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    assert post(b'{"event_id": ') == (400, {"errors": ["body: not valid JSON"]})
    assert post(b'{"event_id": "\xff"}') == (400, {"errors": ["body: not UTF-8"]})
    assert post(b"[" * 50_000) == (400, {"errors": ["body: nested too deeply (at most 48 levels)"]})
    assert post(b'{"event_id": ' + b"[" * 60 + b"]" * 60 + b"}") == \
        (400, {"errors": ["body: nested too deeply (at most 48 levels)"]})
    status, body = post(json.dumps({"event_id": "e1", "kind": "onboarding", "given_name": [["x"] * 5000]}).encode())
    assert status == 400 and max(len(e) for e in body["errors"]) < 200
    assert harness.services.store.list_runs() == []
