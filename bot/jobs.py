"""Scheduled work that talks to Slack: the SLA sweep (warn before a breach, escalate on one)."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from slack_sdk import WebClient

from bot.notify import post_team_card, team_card, update_team_card
from bot.outbox import Delivery, OutboxSender, Retry
from connectors.services import Services
from workflows.models import ItRequest

log = logging.getLogger(__name__)
CARD_GRACE = timedelta(minutes=2)


def run_sla_sweep(services: Services, client: WebClient, now: datetime | None = None) -> int:
    """Flag each request's warning, escalation or last tier's breach (each once per SLA window) and send what
    that tells people; returns how many were flagged.

    The flag and its message are stored together (the outbox), so a clock killed in the middle of a sweep
    leaves every message it flagged to be sent, once, by the next sender (this sweep's or a worker's)."""
    now = now or services.helpdesk.clock()
    _repost_missing_cards(services, client, now)
    events = services.helpdesk.sla_sweep(now)
    for event in events:
        log.info("sla event", extra={"request": event.request.number, "kind": event.kind})
    OutboxSender(services, client).drain()
    return len(events)


def _repost_missing_cards(services: Services, client: WebClient, now: datetime) -> None:
    """An open request whose team card never made it to Slack (a post that failed) gets it now, so the team
    sees it and replies in its thread reach the employee. Requests changed in the last CARD_GRACE are left
    to the listener that is posting their card."""
    for r in services.store.list_requests(open_only=True):
        if r.status == "awaiting_approval" or r.team_ts or not r.team_channel:
            continue
        if r.updated_at is None or now - r.updated_at < CARD_GRACE:
            continue
        try:
            post_team_card(client, services.helpdesk, r)
            log.warning("posted a missing team card", extra={"request": r.number, "channel": r.team_channel})
        except Exception:
            log.exception("could not post a missing team card", extra={"request": r.number})


def _utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%a %d %b %H:%M UTC")


def _request(delivery: Delivery) -> ItRequest:
    return delivery.sender.services.store.get_request(delivery.row.payload["request_id"])


def _due(delivery: Delivery) -> str:
    return _utc(datetime.fromisoformat(delivery.row.payload["due_at"]))


def _in_team_thread(delivery: Delivery, r: ItRequest, text: str) -> None:
    """A message in the thread of the tier's card the notice is about (the request may have moved on since);
    it waits for the team card if that was not out yet."""
    channel, ts = delivery.row.payload.get("card") or (None, None)
    if not ts:
        channel, ts = r.team_channel, r.team_ts
    if not (channel and ts):
        raise Retry(f"{r.number} has no team card yet")
    delivery.post("team", channel=channel, thread_ts=ts, text=text)


def _warn(delivery: Delivery) -> None:
    services, r = delivery.sender.services, _request(delivery)
    after = services.teams.next_tier(r.team)
    then = (f"If it is still open then, it goes to {services.teams.team(after).name} automatically." if after
            else f"If it is still open then, <@{services.teams.team(r.team).lead}> is told.")
    _in_team_thread(delivery, r, f":warning: {r.number} ({r.priority}) will breach this team's SLA at "
                                 f"{_due(delivery)}. "
                                 f"{'<@' + r.assignee + '> is on it.' if r.assignee else 'Nobody has claimed it yet.'} "
                                 f"{then}")


def _unanswered(delivery: Delivery) -> None:
    services, r = delivery.sender.services, _request(delivery)
    team = services.teams.team(r.team)
    _in_team_thread(delivery, r, f":bell: {r.number} ({r.priority}) has had no response yet; its first-response "
                                 f"target ({team.sla[r.priority].first_response_text}) passed at {_due(delivery)}. "
                                 f"<@{team.lead}>, can someone claim it or reply in its thread?")


def _breached(delivery: Delivery) -> None:
    services, r = delivery.sender.services, _request(delivery)
    lead = services.teams.team(r.team).lead
    _in_team_thread(delivery, r, f":rotating_light: {r.number} breached its SLA at {_due(delivery)}. "
                                 f"<@{lead}>, please take a look.")


def _escalated(delivery: Delivery) -> None:
    """The new tier's card, a note on the old one, a word in the new thread and one to the employee."""
    services = delivery.sender.services
    helpdesk, r, payload = services.helpdesk, _request(delivery), delivery.row.payload
    from_team, to_team = services.teams.team(payload["from_team"]), services.teams.team(payload["to_team"])
    if r.team == to_team.id and not r.team_ts:
        _, ts = delivery.post("card", **team_card(helpdesk, r))
        r = helpdesk.posted(r, team_ts=ts)
    old_channel, old_ts = payload["from_card"]
    if old_ts:
        update_team_card(delivery.client, helpdesk, r, channel=old_channel, ts=old_ts,
                         note=f"SLA breached at {_due(delivery)}: escalated to {to_team.name} automatically.")
    if r.team == to_team.id:
        _in_team_thread(delivery, r, f":rotating_light: {r.number} ran past its SLA with {from_team.name}, so it "
                                     f"was escalated here automatically. This team's SLA for it runs until "
                                     f"{_utc(helpdesk.due(r))}.")
    if r.channel:
        delivery.post("employee", channel=r.channel, thread_ts=r.thread_ts,
                      text=f"{r.number} is taking longer than it should, so I've escalated it to {to_team.name}.")


SLA_HANDLERS = {"sla_warning": _warn, "sla_unanswered": _unanswered, "sla_breach": _breached,
                "sla_escalated": _escalated}


def post_weekly_summary(services: Services, client: WebClient, now: datetime | None = None) -> str:
    """Post last week's numbers to the CIO team's channel (IT leadership); returns the text posted."""
    from bot.report_cli import report_for
    from workflows.report import weekly_summary

    now = now or datetime.now(timezone.utc)
    text = weekly_summary(report_for(services.store, services.teams, now - timedelta(days=7), now))
    client.chat_postMessage(channel=services.teams.team("cio").channel, text=text)
    return text
