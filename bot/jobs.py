"""Scheduled work that talks to Slack: the SLA sweep (warn before a breach, escalate on one)."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from slack_sdk import WebClient

from bot.notify import post_team_card, tell_employee, tell_team, update_team_card
from connectors.services import Services
from workflows.helpdesk_sla import SlaEvent

log = logging.getLogger(__name__)
CARD_GRACE = timedelta(minutes=2)


def run_sla_sweep(services: Services, client: WebClient, now: datetime | None = None) -> int:
    """Post a warning, the escalation, or the last tier's breach for each request the sweep flags; returns how many.

    Each tier a request reaches has its own SLA window; the sweep flags each window once.
    """
    now = now or services.helpdesk.clock()
    _repost_missing_cards(services, client, now)
    events = services.helpdesk.sla_sweep(now)
    for event in events:
        try:
            _post(services, client, event)
        except Exception:   # one refused post (say not_in_channel) must not strand the others; a missing
            # team card is posted again by the next sweep (_repost_missing_cards)
            log.exception("could not post an SLA event", extra={"request": event.request.number, "kind": event.kind})
            continue
        log.info("sla event", extra={"request": event.request.number, "kind": event.kind})
    return len(events)


def _post(services: Services, client: WebClient, event: SlaEvent) -> None:
    if event.kind == "warning":
        _warn(services, client, event)
    elif event.kind == "unanswered":
        _unanswered(services, client, event)
    elif event.escalation:
        _escalated(services, client, event)
    else:
        r = event.request
        lead = services.teams.team(r.team).lead
        tell_team(client, r, f":rotating_light: {r.number} breached its SLA at {_utc(event.due_at)}. "
                             f"<@{lead}>, please take a look.")


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


def _warn(services: Services, client: WebClient, event: SlaEvent) -> None:
    r = event.request
    after = services.teams.next_tier(r.team)
    then = (f"If it is still open then, it goes to {services.teams.team(after).name} automatically." if after
            else f"If it is still open then, <@{services.teams.team(r.team).lead}> is told.")
    tell_team(client, r, f":warning: {r.number} ({r.priority}) will breach this team's SLA at {_utc(event.due_at)}. "
                         f"{'<@' + r.assignee + '> is on it.' if r.assignee else 'Nobody has claimed it yet.'} {then}")


def _unanswered(services: Services, client: WebClient, event: SlaEvent) -> None:
    r = event.request
    team = services.teams.team(r.team)
    tell_team(client, r, f":bell: {r.number} ({r.priority}) has had no response yet; its first-response target "
                         f"({team.sla[r.priority].first_response_text}) passed at {_utc(event.due_at)}. "
                         f"<@{team.lead}>, can someone claim it or reply in its thread?")


def _escalated(services: Services, client: WebClient, event: SlaEvent) -> None:
    helpdesk, moved = services.helpdesk, event.escalation
    old_channel, old_ts = moved.from_card
    r = post_team_card(client, helpdesk, event.request)
    if old_ts:
        update_team_card(client, helpdesk, r, channel=old_channel, ts=old_ts,
                         note=f"SLA breached at {_utc(event.due_at)}: escalated to {moved.to_team.name} automatically.")
    tell_team(client, r, f":rotating_light: {r.number} ran past its SLA with {moved.from_team.name}, so it was "
                         f"escalated here automatically. This team's SLA for it runs until {_utc(helpdesk.due(r))}.")
    tell_employee(client, r, f"{r.number} is taking longer than it should, so I've escalated it to "
                             f"{moved.to_team.name}.")


def post_weekly_summary(services: Services, client: WebClient, now: datetime | None = None) -> str:
    """Post last week's numbers to the CIO team's channel (IT leadership); returns the text posted."""
    from bot.report_cli import report_for
    from workflows.report import weekly_summary

    now = now or datetime.now(timezone.utc)
    text = weekly_summary(report_for(services.store, services.teams, now - timedelta(days=7), now))
    client.chat_postMessage(channel=services.teams.team("cio").channel, text=text)
    return text
