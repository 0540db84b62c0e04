"""The first schema: people, requests, checklist runs and steps, approvals, audit log, processed events.

Revision ID: 0001
"""
import sqlalchemy as sa
from alembic import op

from connectors.store.tables import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _stamps(*names: str) -> list[sa.Column]:
    return [sa.Column(n, UTCDateTime(), nullable=False) for n in names]


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("slack_user_id", sa.String(32), unique=True),
        sa.Column("email", sa.String(320), unique=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("timezone", sa.String(64)),
        sa.Column("department", sa.String(100)),
        sa.Column("title", sa.String(200)),
        sa.Column("manager_id", sa.Integer(), sa.ForeignKey("people.id")),
        sa.Column("employee_id", sa.String(64), unique=True),
        *_stamps("created_at", "updated_at"),
    )
    op.create_table(
        "requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("requester_slack_id", sa.String(32), nullable=False, index=True),
        sa.Column("summary", sa.String(300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("intent", sa.String(20), nullable=False),
        sa.Column("topic", sa.String(20), nullable=False),
        sa.Column("priority", sa.String(2), nullable=False),
        sa.Column("team", sa.String(50), nullable=False, index=True),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("assignee", sa.String(32)),
        sa.Column("channel", sa.String(32)),
        sa.Column("thread_ts", sa.String(32)),
        *_stamps("created_at", "updated_at"),
    )
    op.create_table(
        "checklist_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("people.id"), nullable=False),
        sa.Column("requested_by", sa.String(32), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("effective_date", sa.String(10), nullable=False),
        sa.Column("idempotency_key", sa.String(200), unique=True),
        sa.Column("channel", sa.String(32)),
        sa.Column("thread_ts", sa.String(32)),
        *_stamps("created_at", "updated_at"),
    )
    op.create_table(
        "checklist_steps",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("checklist_runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("step_key", sa.String(100), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("team", sa.String(50), nullable=False),
        sa.Column("action", sa.String(100)),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("due_at", UTCDateTime()),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("result", sa.JSON()),
        sa.Column("owner_slack_id", sa.String(32)),
        sa.Column("lease_until", UTCDateTime()),
        *_stamps("updated_at"),
        sa.UniqueConstraint("run_id", "step_key", name="uq_checklist_steps_run_step"),
    )
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("subject", sa.String(100), nullable=False, index=True),
        sa.Column("requested_by", sa.String(32), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("needs_security", sa.Boolean(), nullable=False),
        sa.Column("plan", sa.JSON()),
        sa.Column("decided_by", sa.String(32)),
        sa.Column("decided_at", UTCDateTime()),
        sa.Column("expires_at", UTCDateTime()),
        sa.Column("channel", sa.String(32)),
        sa.Column("message_ts", sa.String(32)),
        *_stamps("created_at"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False, index=True),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False, index=True),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.String(100), primary_key=True),
        sa.Column("seen_at", UTCDateTime(), nullable=False, index=True),
    )


def downgrade() -> None:
    for name in ("processed_events", "audit_log", "approvals", "checklist_steps", "checklist_runs", "requests", "people"):
        op.drop_table(name)
