"""Every Block Kit template renders within Slack's limits (checked by slack_sdk's own models)."""
from __future__ import annotations

import json

import pytest

from workflows.triage import Article
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.render import render, slack_escape
from workflows.models import ItRequest

LONG = "my vpn is not working <script> & \"quotes\" " + "x" * 40_000
REQUEST = ItRequest(requester_slack_id="U0ANA", summary=LONG[:300], description=LONG, priority="P2", team="helpdesk_l1",
                    topic="vpn", priority_reasons=("urgent (\"asap\")", "VIP requester"), id=42, status="open")


def _valid_blocks(blocks: list[dict]) -> None:
    assert 0 < len(blocks) <= 50
    for raw in blocks:
        Block.parse(raw).validate_json()


@pytest.mark.parametrize("name,context", [
    ("answer", {"title": "Reset <your> password", "body": LONG, "answer_id": 7, "team_name": "IT help desk"}),
    ("answer", {"title": "Printer offline", "body": LONG, "answer_id": 7, "team_name": "IT", "problem": True}),
    ("did_you_mean", {"question": "Did you mean *A* or *B*?", "answer_id": 9, "choices": [
        Article("vpn-setup", "Install <the> VPN " + "x" * 200, ("vpn",), (), "msp", "body"),
        Article("vpn-troubleshooting", "VPN will not connect", ("vpn",), (), "msp", "body")]}),
    ("no_answer", {"question": "I don't have a good answer", "answer_id": 8}),
    ("request_opened", {"headline": LONG, "safety_steps": ["Disconnect from Wi-Fi", "Don't <click> & wait"]}),
    ("request_card", {"r": REQUEST, "team_name": "IT help desk", "status_text": "Open", "due_text": "Tue",
                      "can_escalate": True}),
    ("approval_card", {"r": REQUEST, "team_name": "IT help desk", "decision": ""}),
])
def test_message_templates_stay_within_block_kit_limits(name, context):
    _valid_blocks(render(name, **context))


@pytest.mark.parametrize("name,context", [
    ("it_modal", {"initial": LONG, "metadata": json.dumps({"channel": "C1"})}),
    ("reassign_modal", {"r": REQUEST}),
])
def test_modals_validate_as_views(name, context):
    view = render(name, **context)
    View(**view).validate_json()
    assert len(view["blocks"]) <= 100


def test_user_text_is_escaped_and_cannot_inject_mentions_or_links():
    blocks = render("request_card", r=ItRequest(requester_slack_id="U1", summary="<!channel> hi",
                                                 description="<!everyone> <https://evil|click> & more", id=1),
                    team_name="T", status_text="Open", due_text="—", can_escalate=False)
    text = json.dumps(blocks)
    assert "<!everyone>" not in text and "&lt;!everyone&gt;" in text
    assert slack_escape("a<b>&c") == "a&lt;b&gt;&amp;c"


def test_actions_disappear_once_a_request_is_closed():
    from dataclasses import replace
    blocks = render("request_card", r=replace(REQUEST, status="resolved"), team_name="T", status_text="Resolved",
                    due_text="—", can_escalate=True)
    assert not [b for b in blocks if b["type"] == "actions"]
