"""/it and the "Send to IT" shortcut open a modal; submitting it opens a request in the employee's DM."""
from __future__ import annotations

import json

from bot.ids import BlockId, CallbackId


def _values(text: str, urgency: str | None = None) -> dict:
    values = {BlockId.DESCRIPTION.value: {"value": {"type": "plain_text_input", "value": text}}}
    if urgency:
        values[BlockId.URGENCY.value] = {"value": {"type": "static_select", "selected_option": {"value": urgency}}}
    return values


def test_it_command_opens_the_modal_with_the_typed_text(harness):
    reply = harness.driver.command("U0ANA", "/it", "printer on floor 3 is jammed")
    assert reply.status == 200
    call = harness.fake.wait_for("views.open")
    view = call.args["view"]
    assert view["callback_id"] == CallbackId.IT_MODAL.value and call.args["trigger_id"].startswith("trig.")
    assert "printer on floor 3 is jammed" in json.dumps(view)


def test_submitting_the_modal_opens_a_request_and_reports_in_the_dm(harness):
    mark = len(harness.fake.calls)
    reply = harness.driver.submit_view("U0ANA", CallbackId.IT_MODAL.value,
                                       _values("the VPN keeps disconnecting every few minutes", "blocked"),
                                       private_metadata=json.dumps({"channel": "C0GENERAL"}))
    assert reply.status == 200 and reply.body == ""
    harness.settle(after=mark)
    [request] = harness.services.store.list_requests()
    assert request.source == "command" and request.topic == "vpn" and request.channel == "D0ANA"
    assert request.priority in ("P1", "P2"), "\"I can't work at all\" raises the urgency"
    told = harness.fake.messages("D0ANA")
    assert told[0]["text"].startswith("You asked IT:") and any(request.number in m["text"] for m in told)


def test_a_too_short_description_is_refused_in_the_modal_and_nothing_is_opened(harness):
    reply = harness.driver.submit_view("U0ANA", CallbackId.IT_MODAL.value, _values("hm"))
    assert reply.status == 200
    assert reply.json() == {"response_action": "errors",
                            "errors": {BlockId.DESCRIPTION.value: "Please describe what you need in a few words."}}
    assert harness.services.store.list_requests() == []


def test_send_to_it_shortcut_quotes_the_message_in_the_modal(harness):
    payload = {"type": "message_action", "callback_id": CallbackId.SEND_TO_IT.value, "user": {"id": "U0BEN"},
               "trigger_id": "trig.9", "channel": {"id": "C0GENERAL"}, "response_url": "https://hooks.slack.test/x",
               "message": {"ts": "1.2", "user": "U0ANA", "text": "the shared drive &amp; <!here> are empty!"}}
    assert harness.driver.interact(payload).status == 200
    view = harness.fake.wait_for("views.open").args["view"]
    # the input shows plain text: Slack's escapes decoded, a live mention as the words it reads as
    assert view["blocks"][0]["element"]["initial_value"] == "From @U0ANA: the shared drive & @here are empty!"
