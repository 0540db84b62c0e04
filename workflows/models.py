"""The nouns of itbot as frozen dataclasses: what workflows read and return."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Person:
    display_name: str
    slack_user_id: str | None = None
    email: str | None = None
    timezone: str | None = None
    department: str | None = None
    title: str | None = None
    manager_slack_id: str | None = None
    id: int | None = None


@dataclass(frozen=True)
class ItRequest:
    """A help-desk request (incident or service request) with its routing."""

    requester_slack_id: str
    summary: str
    intent: str = "broken"
    topic: str = "other"
    priority: str = "P3"
    team: str = "helpdesk_l1"
    status: str = "open"
    description: str = ""
    channel: str | None = None
    thread_ts: str | None = None
    assignee: str | None = None
    source: str = "dm"
    priority_reasons: tuple[str, ...] = ()
    team_channel: str | None = None
    team_ts: str | None = None
    approver: str | None = None
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    sla_warned_at: datetime | None = None           # warned in the current tier's SLA window
    sla_breached_at: datetime | None = None         # the customer-facing breach (clock from created_at), once
    escalations: int = 0
    sla_window_started_at: datetime | None = None   # the current tier's window began (None: at created_at)
    sla_window_breached_at: datetime | None = None  # the current tier's window lapsed and was reported
    unanswered_at: datetime | None = None           # the current tier was told nobody had responded in time
    sla_started_at: datetime | None = None          # the SLA clock began: approval, for requests that needed one
    tier_response_at: datetime | None = None        # the current tier first claimed it or replied

    @property
    def answered_here(self) -> bool:
        """Has the tier holding it responded (claimed, replied, reassigned or resolved) in its window?"""
        return self.tier_response_at is not None or (self.sla_window_started_at is None
                                                     and self.first_response_at is not None)
    id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def number(self) -> str:
        return f"IT-{self.id:05d}" if self.id is not None else "IT-new"

    @property
    def is_open(self) -> bool:
        return self.status not in ("resolved", "denied", "cancelled")

    @property
    def clock_start(self) -> datetime | None:
        """When the employee's SLA clock started: the approval, else the request's creation (waiting for an
        approver is not the team's time)."""
        return self.sla_started_at or self.created_at


@dataclass(frozen=True)
class AnswerRecord:
    """One question answered (or not) from the knowledge base: deflection and knowledge gaps."""

    user_slack_id: str
    question: str
    intent: str
    topic: str
    outcome: str                  # answered | solved | still_stuck | no_answer | clarify
    article_id: str | None = None
    request_id: int | None = None
    channel: str | None = None
    thread_ts: str | None = None
    id: int | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class AuditEntry:
    actor: str
    action: str
    subject: str
    detail: dict[str, Any] = field(default_factory=dict)
    at: datetime | None = None
    id: int | None = None


# A run still under way: its steps are taken, its person has no second run. Ended: done, denied, failed
# (stopped by IT, or the hire's username is someone else's).
LIVE_RUNS = ("active", "blocked")
# A step in one of these is behind its run: the steps that require it may go.
FINISHED_STEPS = ("done", "cancelled")
# RunStep.priority of the steps that cut a leaver's access in a terminate-now offboarding: taken before any other.
URGENT = 1


@dataclass(frozen=True)
class Run:
    """One onboarding, offboarding or role change of one person."""

    kind: str                        # onboarding | offboarding | role-change
    person: dict[str, Any]           # the validated HR record (plain JSON values)
    requested_by: str
    effective_date: str              # ISO date the checklist counts from
    idempotency_key: str | None = None
    source: str = "slack"
    status: str = "active"           # active | blocked (LIVE_RUNS) | done | denied | failed
    blocked_reason: str | None = None
    channel: str | None = None       # where the progress card lives
    thread_ts: str | None = None
    person_id: int | None = None
    id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_RUNS

    @property
    def display_name(self) -> str:
        p = self.person
        given = p.get("preferred_given_name") or p.get("given_name") or ""
        return f"{given} {p.get('surname', '')}".strip() or p.get("username") or "(unnamed)"


@dataclass(frozen=True)
class RunStep:
    run_id: int
    step_key: str
    title: str
    team: str
    status: str = "pending"          # pending | awaiting_approval | running | done | task | denied | cancelled
    action: str | None = None
    position: int = 0
    requires: tuple[str, ...] = ()
    due_at: datetime | None = None
    attempts: int = 0
    last_error: str | None = None
    result: dict[str, Any] | None = None
    next_attempt_at: datetime | None = None
    lease_until: datetime | None = None
    approval_id: int | None = None
    owner_slack_id: str | None = None
    channel: str | None = None
    message_ts: str | None = None
    done_by: str | None = None
    priority: int = 0                # higher is taken first (URGENT: a terminate-now offboarding's protective steps)
    id: int | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Approval:
    subject: str                     # e.g. "step:42"
    requested_by: str
    status: str = "pending"          # pending | approved | denied | expired
    needs_security: bool = False
    security_status: str | None = None
    plan: dict[str, Any] | None = None
    summary: str = ""
    run_id: int | None = None
    decided_by: str | None = None
    security_decided_by: str | None = None
    decided_at: datetime | None = None
    expires_at: datetime | None = None
    channel: str | None = None
    message_ts: str | None = None
    id: int | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class Announcement:
    """Something itbot has to tell people, stored in the same transaction as the change it announces (the
    outbox). Announcements of one ``stream`` (a run, a request) are delivered in the order they were made."""

    stream: str                      # e.g. "run:12", "request:7"
    kind: str                        # what happened: task, approval_needed, sla_warning, …
    payload: dict[str, Any] = field(default_factory=dict)   # plain JSON: the ids and text to say it with
