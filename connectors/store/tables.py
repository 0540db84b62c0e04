"""The store's schema as SQLAlchemy Core tables (migrations create the same shape)."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (JSON, Boolean, Column, DateTime, ForeignKey, Index, Integer, MetaData, String, Table, Text,
                        TypeDecorator, UniqueConstraint)


class UTCDateTime(TypeDecorator):
    """Stores UTC without a zone (portable across SQLite and PostgreSQL); returns aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware datetime")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return value.replace(tzinfo=timezone.utc) if value is not None else None


metadata = MetaData()

people = Table(
    "people", metadata,
    Column("id", Integer, primary_key=True),
    Column("slack_user_id", String(32), unique=True),
    Column("email", String(320), unique=True),
    Column("display_name", String(200), nullable=False),
    Column("timezone", String(64)),
    Column("department", String(100)),
    Column("title", String(200)),
    Column("manager_id", Integer, ForeignKey("people.id")),
    Column("employee_id", String(64), unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

requests = Table(
    "requests", metadata,
    Column("id", Integer, primary_key=True),
    Column("requester_slack_id", String(32), nullable=False, index=True),
    Column("summary", String(300), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("intent", String(20), nullable=False),
    Column("topic", String(20), nullable=False),
    Column("priority", String(2), nullable=False),
    Column("team", String(50), nullable=False, index=True),
    Column("status", String(20), nullable=False, index=True),
    Column("assignee", String(32)),
    Column("channel", String(32)),
    Column("thread_ts", String(32)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("source", String(20)),
    Column("priority_reasons", Text),
    Column("team_channel", String(32)),
    Column("team_ts", String(32)),
    Column("approver", String(32)),
    Column("first_response_at", UTCDateTime),
    Column("resolved_at", UTCDateTime),
    Column("sla_warned_at", UTCDateTime),
    Column("sla_breached_at", UTCDateTime),
    Column("escalations", Integer),
    Column("sla_window_started_at", UTCDateTime),
    Column("sla_window_breached_at", UTCDateTime),
    Column("unanswered_at", UTCDateTime),
    Column("sla_started_at", UTCDateTime),
    Column("tier_response_at", UTCDateTime),
    Index("ix_requests_team_thread", "team_channel", "team_ts"),
    Index("ix_requests_employee_thread", "channel", "thread_ts"),
)

answer_log = Table(
    "answer_log", metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("user_slack_id", String(32), nullable=False),
    Column("question", Text, nullable=False),
    Column("intent", String(20), nullable=False),
    Column("topic", String(20), nullable=False),
    Column("article_id", String(100)),
    Column("outcome", String(20), nullable=False, index=True),
    Column("request_id", Integer, ForeignKey("requests.id")),
    Column("channel", String(32)),
    Column("thread_ts", String(32)),
)

checklist_runs = Table(
    "checklist_runs", metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("person_id", Integer, ForeignKey("people.id"), nullable=False),
    Column("requested_by", String(200), nullable=False),
    Column("status", String(20), nullable=False, index=True),
    Column("effective_date", String(10), nullable=False),
    Column("idempotency_key", String(200), unique=True),
    Column("channel", String(32)),
    Column("thread_ts", String(32)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("person", JSON),
    Column("source", String(20)),
    Column("blocked_reason", Text),
    # Set while the run is live (connectors/store/live.py), else NULL: one live run per kind and person, and one
    # live onboarding per username, held by the database itself.
    Column("live_key", String(120)),
    Column("live_username", String(150)),
    Index("uq_checklist_runs_live_key", "live_key", unique=True),
    Index("uq_checklist_runs_live_username", "live_username", unique=True),
)

checklist_steps = Table(
    "checklist_steps", metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("checklist_runs.id", ondelete="CASCADE"), nullable=False),
    Column("step_key", String(100), nullable=False),
    Column("title", String(300), nullable=False),
    Column("team", String(50), nullable=False),
    Column("action", String(100)),
    Column("status", String(20), nullable=False, index=True),
    Column("due_at", UTCDateTime),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("result", JSON),
    Column("owner_slack_id", String(32)),
    Column("lease_until", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("position", Integer),
    Column("requires", JSON),
    Column("next_attempt_at", UTCDateTime),
    Column("approval_id", Integer),
    Column("channel", String(32)),
    Column("message_ts", String(32)),
    Column("done_by", String(100)),
    # The step_key of a required step not yet finished (NULL: free to run when due); kept by the store, released
    # in the transaction that finishes the step it names (connectors/store/readiness.py).
    Column("waiting_on", String(100)),
    Column("priority", Integer, nullable=False, default=0, server_default="0"),
    UniqueConstraint("run_id", "step_key", name="uq_checklist_steps_run_step"),
    Index("ix_checklist_steps_due", "status", "waiting_on", "due_at"),
)

approvals = Table(
    "approvals", metadata,
    Column("id", Integer, primary_key=True),
    Column("subject", String(100), nullable=False, index=True),
    Column("requested_by", String(200), nullable=False),
    Column("status", String(20), nullable=False, index=True),
    Column("needs_security", Boolean, nullable=False, default=False),
    Column("plan", JSON),
    Column("decided_by", String(32)),
    Column("decided_at", UTCDateTime),
    Column("expires_at", UTCDateTime),
    Column("channel", String(32)),
    Column("message_ts", String(32)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("run_id", Integer),
    Column("security_status", String(20)),
    Column("security_decided_by", String(32)),
    Column("summary", Text),
    Index("ix_approvals_status_expires", "status", "expires_at"),   # the worker's "which expired" at every pass
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("actor", String(100), nullable=False),
    Column("action", String(100), nullable=False),
    Column("subject", String(200), nullable=False, index=True),
    Column("detail", JSON, nullable=False),
)

processed_events = Table(
    "processed_events", metadata,
    Column("event_id", String(100), primary_key=True),
    Column("seen_at", UTCDateTime, nullable=False, index=True),
)

# What itbot has to tell people, written in the same transaction as the change it announces (see
# connectors/store/outbox.py): a sender delivers each row, in order within its stream, and marks it sent.
outbox = Table(
    "outbox", metadata,
    Column("id", Integer, primary_key=True),
    Column("stream", String(64), nullable=False),        # rows of one stream go out in order: "run:12"
    Column("kind", String(40), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(10), nullable=False),        # pending | sending | sent | failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease_until", UTCDateTime),
    Column("parts", JSON),                               # the Slack messages already made: part → [channel, ts]
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    Index("ix_outbox_due", "status", "next_attempt_at"),
    Index("ix_outbox_stream", "stream", "id"),
)

digest_log = Table(
    "digest_log", metadata,
    Column("user_slack_id", String(32), primary_key=True),
    Column("local_date", String(10), primary_key=True),
    Column("sent_at", UTCDateTime, nullable=False),
    Column("items", Integer, nullable=False),
)
