"""Knowledge gaps on the App Home tab: a team's biggest unanswered questions, and "Draft an article"."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.render import slack_escape
from connectors.services import Services
from connectors.store.reports import answers_since
from workflows.gaps import (DRAFT_ACTION, GAP_WINDOW, Gap, GapFinder, drafted_recently, gap_subject, offered,
                            parse_gap_value)


def finder_of(services: Services) -> GapFinder:
    hd = services.helpdesk
    return GapFinder.from_rules(hd.model.lexicon, services.teams, hd.routing)


def team_gaps(services: Services, teams: tuple[str, ...], now: datetime) -> list[Gap]:
    """The ≤ 5 gaps per team of ``teams`` still to offer, biggest first."""
    if not teams:
        return []
    finder, answers = finder_of(services), answers_since(services.store, now - GAP_WINDOW)
    found: list[Gap] = []
    for team in teams:
        drafted = drafted_recently(services.store.audit_trail(gap_subject(team)), now)
        found += offered(finder, answers, team, drafted)
    return sorted(found, key=lambda g: (-g.count, -g.askers, g.team, g.question))


def draft_card_text(gap: Gap, team_name: str) -> str:
    return (f":memo: *Draft a KB article for:* {slack_escape(gap.question)} (asked {gap.count} "
            f"time{'s' if gap.count != 1 else ''} by {gap.askers} "
            f"{'people' if gap.askers != 1 else 'person'})\nKnowledge gap of {slack_escape(team_name)}")


def draft_article(services: Services, client: Any, user: str, value: str, now: datetime) -> str | None:
    """Post the task card for the gap ``value`` names in its team's channel and record it (audit), so the gap is
    not offered again this week; None when done, else what to tell ``user`` (not in that team, gap gone)."""
    wanted = parse_gap_value(value)
    team = services.teams.teams.get(wanted[0]) if wanted else None
    if wanted is None or team is None:
        return "That button is no longer valid. Open the Home tab again."
    if user not in team.members:
        return f"Only members of {team.name} can ask for an article on their knowledge gaps."
    gap = next((g for g in team_gaps(services, (wanted[0],), now) if g.key == wanted[1]), None)
    if gap is None:
        return "That knowledge gap has already been handed out this week, or has changed. Open the Home tab again."
    text = draft_card_text(gap, team.name)
    posted = client.chat_postMessage(channel=team.channel, text=text, blocks=[
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Asked for by <@{user}> from the Home tab"}]}])
    services.store.audit(user, DRAFT_ACTION, gap_subject(gap.team),
                         {"key": gap.key, "question": gap.question, "count": gap.count, "channel": team.channel,
                          "ts": posted.get("ts")})
    return None
