"""Scheduled work that talks to Slack: the SLA sweep (warn before a breach, escalate on one)."""
from __future__ import annotations

import logging
from datetime import datetime

from slack_sdk import WebClient

from bot.notify import post_team_card, tell_employee, tell_team, update_team_card
from connectors.services import Services

log = logging.getLogger(__name__)


def run_sla_sweep(services: Services, client: WebClient, now: datetime | None = None) -> int:
    """Post a warning or perform the escalation for each request the sweep flags; returns how many."""
    helpdesk = services.helpdesk
    events = helpdesk.sla_sweep(now)
    for event in events:
        r = event.request
        due = event.due_at.strftime("%a %d %b %H:%M UTC")
        if event.kind == "warning":
            tell_team(client, r, f":warning: {r.number} ({r.priority}) will breach its SLA at {due}. "
                                 f"{'<@' + r.assignee + '> is on it.' if r.assignee else 'Nobody has claimed it yet.'}")
        elif event.escalation:
            moved = event.escalation
            old_channel, old_ts = moved.from_card
            r = post_team_card(client, helpdesk, r)
            if old_ts:
                update_team_card(client, helpdesk, r, channel=old_channel, ts=old_ts,
                                 note=f"SLA breached at {due}: escalated to {moved.to_team.name} automatically.")
            tell_team(client, r, f":rotating_light: {r.number} breached its SLA in {moved.from_team.name}; "
                                 f"escalated here automatically.")
            tell_employee(client, r, f"{r.number} is taking longer than it should, so I've escalated it to "
                                     f"{moved.to_team.name}.")
        else:
            lead = services.teams.team(r.team).lead
            tell_team(client, r, f":rotating_light: {r.number} breached its SLA at {due}. <@{lead}>, please take a look.")
        log.info("sla event", extra={"request": r.number, "kind": event.kind})
    return len(events)



def post_weekly_summary(services: Services, client: WebClient, now: datetime | None = None) -> str:
    """Post last week's numbers to the CIO team's channel (IT leadership); returns the text posted."""
    from datetime import timedelta, timezone

    from bot.report_cli import report_for
    from workflows.report import weekly_summary

    now = now or datetime.now(timezone.utc)
    text = weekly_summary(report_for(services.store, services.teams, now - timedelta(days=7), now))
    client.chat_postMessage(channel=services.teams.team("cio").channel, text=text)
    return text
