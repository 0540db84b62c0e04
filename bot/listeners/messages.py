"""Direct messages, @-mentions and thread replies: triage, answers, requests, and the relay."""
from __future__ import annotations

import re

from slack_sdk import WebClient

from slack_bolt import App

from bot.flows import relay, respond_to_employee
from bot.middleware import first_delivery
from connectors.services import Services

_MENTION = re.compile(r"<@[A-Z0-9]+>")


def register(app: App, services: Services) -> None:
    def handle_message_event(event: dict, body: dict, client: WebClient, context: dict) -> None:
        if event.get("subtype") or event.get("bot_id") or not event.get("user"):
            return  # edits, joins, file-only shares and bot echoes are not for us
        if not first_delivery(services.store, body):
            return
        if context.get("bot_user_id") and f"<@{context['bot_user_id']}>" in (event.get("text") or ""):
            return  # a mention: handle_app_mention_event answers it
        if _relayed(event, client, services):
            return
        if event.get("channel_type") == "im":
            respond_to_employee(services, client, user=event["user"], text=_clean(event), channel=event["channel"],
                                thread_ts=event.get("thread_ts") or event["ts"], source="dm",
                                reply_in_thread=bool(event.get("thread_ts")))

    def handle_app_mention_event(event: dict, body: dict, client: WebClient) -> None:
        if not first_delivery(services.store, body) or _relayed(event, client, services):
            return
        respond_to_employee(services, client, user=event["user"], text=_clean(event), channel=event["channel"],
                            thread_ts=event.get("thread_ts") or event["ts"], source="mention", reply_in_thread=True)

    app.event("message")(handle_message_event)
    app.event("app_mention")(handle_app_mention_event)


def _clean(event: dict) -> str:
    return _MENTION.sub("", event.get("text") or "").strip()


def _relayed(event: dict, client: WebClient, services: Services) -> bool:
    """A reply in a request's thread (employee side or team side) goes to the other side."""
    thread = event.get("thread_ts")
    if not thread or thread == event.get("ts"):
        return False
    request = services.store.find_request_by_thread(event["channel"], thread)
    if request is None:
        return False
    relay(services, client, request, user=event["user"], text=_clean(event), channel=event["channel"])
    return True
