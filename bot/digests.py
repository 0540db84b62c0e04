"""Sending the daily digests: one DM per person per local day, paced, retried on 429 by the client."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk import WebClient

from bot.render import render
from connectors.services import Services
from workflows.digest import Digest, ReminderPolicy, digests_due
from workflows.home import approval_role, roles_of
from workflows.models import Announcement

log = logging.getLogger(__name__)


def _link(where: tuple[str | None, str | None]) -> str | None:
    channel, ts = where
    return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}" if channel and ts else None


def digest_blocks(digest: Digest, policy: ReminderPolicy, tz: str) -> list[dict[str, Any]]:
    shown = digest.items[: policy.max_items]
    items = []
    for item in shown:
        due = item.due_at.astimezone(ZoneInfo(tz)).strftime("%a %d %b %H:%M") if item.due_at else ""
        when = {"approval": f"Waiting for your decision{' · expires ' + due if due else ''}",
                "request_approval": f"<@{item.context}> is waiting for your approval: Approve or Deny in "
                                    f"the message I sent you",
                "escalation": f"Escalated to you: {item.context}"}.get(
            item.kind, f"{item.overdue_days} days overdue (due {due})" if item.overdue_days else f"Due today {due}")
        items.append({"kind": item.kind, "ref": item.ref, "title": item.title, "when": when, "link": _link(item.where)})
    day = datetime.fromisoformat(digest.local_date).strftime("%A %d %B")
    return render("digest", day=day, items=items, more=len(digest.items) - len(shown))


class Digests:
    def __init__(self, services: Services, policy: ReminderPolicy):
        self.services = services
        self.policy = policy

    def _timezone_of(self) -> Any:
        store, default = self.services.store, self.services.org.default_timezone

        @lru_cache(maxsize=None)
        def timezone_of(user: str) -> str:
            person = store.get_person_by_slack_id(user)
            return person.timezone if person and person.timezone else default

        return timezone_of

    def due(self, now: datetime) -> tuple[list[Digest], Any]:
        teams, policy = self.services.teams, self.services.run_policy
        security = set(teams.team(policy.security_team).members)

        tasks = self.services.store.open_tasks()
        runs = {run.id: run for run, _ in tasks}

        def owners_of(step: Any) -> list[str]:
            """Who has the task: whoever claimed it; else the new hire's manager for manager tasks; else the lead."""
            if step.owner_slack_id:
                return [step.owner_slack_id]
            manager = self.services.engine.manager_of_task(runs[step.run_id], step)
            return [manager or teams.team(step.team).lead]

        def approvers_of(approval: Any) -> list[str]:
            """Who may still decide it, as the engine would check at click time (not the requester or the
            person it is about, not whoever already gave their half, nobody once it has expired)."""
            run = self.services.store.get_run(approval.run_id) if approval.run_id else None
            return sorted(user for user in set(policy.it_approvers) | security
                          if approval_role(approval, run, roles_of(user, teams, policy), now))

        timezone_of = self._timezone_of()
        digests = digests_due(now, tasks=tasks,
                              approvals=self.services.store.list_approvals(status="pending"),
                              owners_of=owners_of, approvers_of=approvers_of, lead_of=lambda t: teams.team(t).lead,
                              cio=teams.team("cio").lead, timezone_of=timezone_of, policy=self.policy,
                              request_approvals=[r for r in self.services.store.list_requests(open_only=True)
                                                 if r.status == "awaiting_approval"])
        return digests, timezone_of

    def send(self, client: WebClient, now: datetime | None = None) -> int:
        """Record every digest due at ``now`` that was not recorded today, each with its message in the outbox
        (so a clock killed here leaves each message to be sent once), then send them paced; returns how many
        of them went out. One Slack could not take now is retried by the outbox (after ``Retry-After``)."""
        from bot.outbox import OutboxSender

        now = now or datetime.now(timezone.utc)
        digests, timezone_of = self.due(now)
        gap = 1.0 / self.policy.messages_per_second if self.policy.messages_per_second else 0.0
        streams = []
        for digest in digests:
            stream = f"digest:{digest.user}:{digest.local_date}"
            message = Announcement(stream, "digest", {
                "user": digest.user, "text": f"Your IT to-do: {len(digest.items)} item(s)",
                "blocks": digest_blocks(digest, self.policy, timezone_of(digest.user))})
            if self.services.store.claim_digest(digest.user, digest.local_date, len(digest.items),
                                                announce=[message]):
                streams.append(stream)   # else: already recorded today (perhaps by another clock)
        OutboxSender(self.services, client).drain(pace=gap)
        sent = self.services.store.outbox.sent_in(streams)
        log.info("digests sent", extra={"sent": sent, "due": len(digests)})
        return sent


def send_digest(delivery: Any) -> None:
    """The outbox's digest row: the DM as it was rendered when the digest was recorded."""
    payload = delivery.row.payload
    delivery.post("dm", channel=payload["user"], text=payload["text"], blocks=payload["blocks"])
