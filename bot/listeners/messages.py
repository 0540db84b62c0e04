"""Direct messages, @-mentions and thread replies: triage, answers, requests, and the relay."""
from __future__ import annotations

import re

from slack_sdk import WebClient

from slack_bolt import App

from bot.flows import relay, respond_to_employee
from bot.middleware import first_delivery
from bot.render import from_slack
from connectors.services import Services

# Message subtypes that are still a person writing: a message with a file or screenshot, and a thread reply
# also sent to the channel. Every other subtype (edits, deletions, joins, bot messages) is not for us.
_PERSON_SUBTYPES = (None, "file_share", "thread_broadcast")


def register(app: App, services: Services) -> None:
    def handle_message_event(event: dict, body: dict, client: WebClient, context: dict) -> None:
        if event.get("subtype") not in _PERSON_SUBTYPES or event.get("bot_id") or not event.get("user"):
            return  # edits, joins and bot echoes are not for us
        if not first_delivery(services.store, body):
            return
        bot = context.get("bot_user_id")
        if event.get("channel_type") != "im" and bot and f"<@{bot}>" in (event.get("text") or ""):
            return  # a mention in a channel: handle_app_mention_event answers it (Slack sends none for DMs)
        if _relayed(event, client, services, bot):
            return
        if event.get("channel_type") == "im":
            respond_to_employee(services, client, user=event["user"], text=_clean(event, bot), channel=event["channel"],
                                thread_ts=event.get("thread_ts") or event["ts"], source="dm",
                                reply_in_thread=bool(event.get("thread_ts")))

    def handle_app_mention_event(event: dict, body: dict, client: WebClient, context: dict) -> None:
        bot = context.get("bot_user_id")
        if not first_delivery(services.store, body) or _relayed(event, client, services, bot):
            return
        respond_to_employee(services, client, user=event["user"], text=_clean(event, bot), channel=event["channel"],
                            thread_ts=event.get("thread_ts") or event["ts"], source="mention", reply_in_thread=True)

    app.event("message")(handle_message_event)
    app.event("app_mention")(handle_app_mention_event)


def _clean(event: dict, bot: str | None) -> str:
    """The message as plain text (``from_slack``), without the mention of itbot itself; other people's mentions
    are kept as text ("@U… can't log in either" matters, but must not ping them from a card); with any files it
    carries named."""
    text = event.get("text") or ""
    if bot:
        text = re.sub(rf"<@{re.escape(bot)}(\|[^>]*)?>", "", text)
    text = from_slack(text)
    files = [f.get("name") or f.get("title") or "a file" for f in event.get("files") or []]
    if files:
        text = f"{text.strip()} [attached: {', '.join(files)}]"
    return text.strip()


def _relayed(event: dict, client: WebClient, services: Services, bot: str | None) -> bool:
    """A reply in a request's thread (employee side or team side) goes to the other side."""
    thread = event.get("thread_ts")
    if not thread or thread == event.get("ts"):
        return False
    request = services.store.find_request_by_thread(event["channel"], thread)
    if request is None:
        return False
    relay(services, client, request, user=event["user"], text=_clean(event, bot), channel=event["channel"])
    return True
