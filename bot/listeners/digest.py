"""The Done button in a daily digest: the task is marked done and the digest line says so."""
from __future__ import annotations

import re

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.ids import DigestActionId
from connectors.services import Services
from workflows.engine import RunError


def register(app: App, services: Services) -> None:
    def handle_digest_done_action(ack: Ack, body: dict, action: dict, client: WebClient) -> None:
        ack()
        user = body["user"]["id"]
        try:
            services.engine.complete_task(int(action["value"]), user)
        except RunError as exc:
            return client.chat_postEphemeral(channel=body["channel"]["id"], user=user, text=str(exc))
        message = body.get("message") or {}
        blocks = []
        for block in message.get("blocks", []):
            if block.get("accessory", {}).get("value") == action["value"]:
                block = {k: v for k, v in block.items() if k != "accessory"}
                block["text"] = {**block["text"], "text": block["text"]["text"] + "\n✅ Done"}
            blocks.append(block)
        client.chat_update(channel=body["channel"]["id"], ts=body["container"]["message_ts"],
                           text=message.get("text") or "Your IT to-do", blocks=blocks)
        services.wake()   # what finishing it announces is in the outbox; the worker sends it

    def handle_digest_open_action(ack: Ack) -> None:
        ack()   # a link button: Slack opens the URL and still tells the app, which must answer 200

    app.action(DigestActionId.DONE.value)(handle_digest_done_action)
    app.action(re.compile(r"^digest_open_"))(handle_digest_open_action)
