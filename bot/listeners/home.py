"""The App Home tab: published when a person opens it, re-published when they page through a section."""
from __future__ import annotations

import logging

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.home import fallback_view, home_view
from bot.gaps import draft_article
from bot.home_ids import HomeActionId
from bot.ids import GapActionId
from connectors.services import Services
from workflows.home import decode_pages, parse_page_value

log = logging.getLogger(__name__)


def register(app: App, services: Services) -> None:
    def _view(user: str, pages: dict[str, int] | None = None) -> dict:
        try:
            return home_view(services, user, pages)
        except Exception:  # a store outage must still leave the tab with something readable in it
            log.exception("could not build the Home tab for %s", user)
            return fallback_view(services)

    def handle_app_home_opened_event(event: dict, client: WebClient) -> None:
        if event.get("tab") != "home":
            return
        client.views_publish(user_id=event["user"], view=_view(event["user"]))

    def handle_home_page_action(ack: Ack, body: dict, action: dict, client: WebClient) -> None:
        ack()
        user = body["user"]["id"]  # always the clicker's own view: a forged value cannot show anyone else's data
        pages = decode_pages((body.get("view") or {}).get("private_metadata"))
        wanted = parse_page_value(action.get("value", ""))
        if wanted is None:
            log.warning("ignoring a home paging button with value %r", action.get("value"))
        else:
            section, number = wanted
            pages[section] = number
        client.views_publish(user_id=user, view=_view(user, pages))

    def handle_gap_draft_action(ack: Ack, body: dict, action: dict, client: WebClient) -> None:
        ack()
        user = body["user"]["id"]
        refusal = draft_article(services, client, user, action.get("value", ""), services.helpdesk.clock())
        if refusal:
            client.chat_postEphemeral(channel=user, user=user, text=refusal)  # in their messages with itbot
            return
        pages = decode_pages((body.get("view") or {}).get("private_metadata"))
        client.views_publish(user_id=user, view=_view(user, pages))  # the drafted gap leaves their Home

    app.event("app_home_opened")(handle_app_home_opened_event)
    app.action(GapActionId.DRAFT.value)(handle_gap_draft_action)
    app.action(HomeActionId.MORE.value)(handle_home_page_action)
    app.action(HomeActionId.FIRST.value)(handle_home_page_action)
