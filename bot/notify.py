"""Posting and updating what people see about a request: the team card, the employee's thread,
the approver's card. Used by listeners and by the clock's SLA sweep."""
from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.render import render, slack_escape
from workflows.helpdesk import Helpdesk
from workflows.models import ItRequest
from workflows.request_limits import Limited

log = logging.getLogger(__name__)

STATUS_TEXT = {"awaiting_approval": "Waiting for approval", "open": "Open, unclaimed", "in_progress": "In progress",
               "resolved": "Resolved", "denied": "Denied", "cancelled": "Cancelled"}


def _when(moment: datetime | None, tz: str) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(ZoneInfo(tz)).strftime("%a %d %b %H:%M ") + tz


def status_text(r: ItRequest) -> str:
    text = STATUS_TEXT.get(r.status, r.status)
    if r.assignee and r.status == "in_progress":
        text += f" · <@{r.assignee}>"
    return text


def card_blocks(helpdesk: Helpdesk, r: ItRequest) -> list[dict]:
    team = helpdesk.teams.team(r.team)
    due = helpdesk.due(r) if r.is_open else None
    return render("request_card", r=r, team_name=team.name, status_text=status_text(r),
                  due_text=_when(due, team.timezone), can_escalate=helpdesk.teams.next_tier(r.team) is not None)


def card_text(r: ItRequest) -> str:
    return f"{r.number} ({r.priority}) from <@{r.requester_slack_id}>: {slack_escape(r.summary)}"


def team_card(helpdesk: Helpdesk, r: ItRequest) -> dict:
    """The chat.postMessage arguments of the request's card in its team's channel."""
    return {"channel": r.team_channel, "text": card_text(r), "blocks": card_blocks(helpdesk, r), "unfurl_links": False}


def post_team_card(client: WebClient, helpdesk: Helpdesk, r: ItRequest) -> ItRequest:
    reply = client.chat_postMessage(**team_card(helpdesk, r))
    return helpdesk.posted(r, team_ts=reply["ts"])


def update_team_card(client: WebClient, helpdesk: Helpdesk, r: ItRequest, *, channel: str | None = None,
                     ts: str | None = None, note: str | None = None) -> None:
    channel, ts = channel or r.team_channel, ts or r.team_ts
    if not (channel and ts):
        return
    blocks = card_blocks(helpdesk, r)
    if note:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": note}]})
        blocks = [b for b in blocks if b.get("type") != "actions"]
    client.chat_update(channel=channel, ts=ts, text=card_text(r), blocks=blocks)


def tell_employee(client: WebClient, r: ItRequest, text: str) -> None:
    """Post an update in the employee's thread (the thread the request came from)."""
    if not r.channel:
        return
    try:
        client.chat_postMessage(channel=r.channel, thread_ts=r.thread_ts, text=text)
    except SlackApiError as exc:  # the update is not worth failing the team's action for
        log.warning("could not update the employee thread", extra={"request": r.number, "error": exc.response.get("error")})


def tell_team(client: WebClient, r: ItRequest, text: str) -> None:
    if r.team_channel and r.team_ts:
        client.chat_postMessage(channel=r.team_channel, thread_ts=r.team_ts, text=text)


def post_approval(client: WebClient, helpdesk: Helpdesk, r: ItRequest) -> None:
    team = helpdesk.teams.team(r.team)
    client.chat_postMessage(channel=r.approver, text=f"Approval needed: {r.number} from <@{r.requester_slack_id}>",
                            blocks=render("approval_card", r=r, team_name=team.name, decision=""))


def announce_limited(client: WebClient, helpdesk: Helpdesk, limited: Limited) -> None:
    """The first refusal of a burst: the person is told (kindly) and the help desk sees one card; the refusals
    after it say nothing, so a thousand messages cost a thousand silent checks, not a thousand cards."""
    if not limited.first:
        return
    if limited.channel:
        client.chat_postMessage(channel=limited.channel, thread_ts=limited.thread_ts, text=(
            f"You've opened {limited.limit} requests in the last {limited.window}, which is as many as I open for "
            f"one person in that time, so I haven't opened one for this message (nor will I for the next ones "
            f"until the {limited.window} has passed). IT knows. If something can't wait, contact the IT help "
            f"desk directly; otherwise, send it again a little later."))
    try:
        team = helpdesk.teams.team_for("it_doesnt_work")
    except KeyError:
        return
    text = f"<@{limited.requester}> reached the limit of {limited.limit} new requests per {limited.window}"
    client.chat_postMessage(channel=team.channel, text=text,
                            blocks=render("request_limited", requester=limited.requester, limit=limited.limit,
                                          window=limited.window))


def announce_opened(client: WebClient, helpdesk: Helpdesk, opened) -> ItRequest | None:
    """Tell the employee what happened, and put the request in front of the team or the approver (or, when
    the person reached their limit of new requests, ``announce_limited``)."""
    if isinstance(opened, Limited):
        announce_limited(client, helpdesk, opened)
        return None
    r, team = opened.request, opened.team
    if r.status == "awaiting_approval":
        headline = (f"I've opened *{r.number}* ({r.priority}) for {team.name}. It needs approval first: "
                    f"I've asked <@{r.approver}>.")
        post_approval(client, helpdesk, r)
    else:
        headline = f"I've opened *{r.number}* ({r.priority}) and sent it to {team.name}."
        r = post_team_card(client, helpdesk, r)
    reasons = f" Priority {r.priority} because: {', '.join(r.priority_reasons)}." if r.priority_reasons else ""
    blocks = render("request_opened", headline=headline + reasons, safety_steps=list(opened.route.safety_steps))
    if r.channel:
        client.chat_postMessage(channel=r.channel, thread_ts=r.thread_ts, text=headline, blocks=blocks)
    return r
