"""/it (a modal) and the "Send to IT" message shortcut: both open a request."""
from __future__ import annotations

import json

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.ids import BlockId, CallbackId
from bot.notify import announce_opened
from bot.render import from_slack, render, slack_escape
from connectors.services import Services

_URGENCY_WORDS = {"blocked": "I can't work at all, this is urgent.", "degraded": "", "low": ""}


def register(app: App, services: Services) -> None:
    helpdesk = services.helpdesk

    def handle_it_command(ack: Ack, body: dict, client: WebClient) -> None:
        ack()
        metadata = json.dumps({"channel": body.get("channel_id")})
        client.views_open(trigger_id=body["trigger_id"], view=render("it_modal", initial=from_slack(body.get("text", "")),
                                                                     metadata=metadata))

    def handle_send_to_it_shortcut(ack: Ack, body: dict, shortcut: dict, client: WebClient) -> None:
        ack()
        message = shortcut.get("message", {})
        quoted = from_slack(message.get("text", ""))
        author = message.get("user")
        initial = quoted if not author or author == body["user"]["id"] else f"From @{author}: {quoted}"
        metadata = json.dumps({"channel": shortcut.get("channel", {}).get("id"), "message_ts": message.get("ts")})
        client.views_open(trigger_id=shortcut["trigger_id"], view=render("it_modal", initial=initial, metadata=metadata))

    def handle_it_modal_submission(ack: Ack, body: dict, view: dict, client: WebClient) -> None:
        values = view["state"]["values"]
        text = ((values.get(BlockId.DESCRIPTION.value, {}).get("value") or {}).get("value") or "").strip()
        if len(text) < 5:
            return ack(response_action="errors",
                       errors={BlockId.DESCRIPTION.value: "Please describe what you need in a few words."})
        ack()
        urgency = (values.get(BlockId.URGENCY.value, {}).get("value", {}).get("selected_option") or {}).get("value")
        user = body["user"]["id"]
        full = text + (" " + _URGENCY_WORDS[urgency] if _URGENCY_WORDS.get(urgency) else "")
        dm = client.conversations_open(users=user)["channel"]["id"]
        root = client.chat_postMessage(channel=dm, text=f"You asked IT: {slack_escape(text[:2900])}")
        opened = helpdesk.open_request(requester=user, text=full, source="command", channel=dm, thread_ts=root["ts"])
        announce_opened(client, helpdesk, opened)

    app.command("/it")(handle_it_command)
    app.shortcut(CallbackId.SEND_TO_IT.value)(handle_send_to_it_shortcut)
    app.view(CallbackId.IT_MODAL.value)(handle_it_modal_submission)
