"""Checklist runs: the person's record on the run, step arguments, retries and cards; two-stage approvals.

Revision ID: 0003
"""
import sqlalchemy as sa
from alembic import op

from connectors.store.tables import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("checklist_runs") as batch:
        batch.add_column(sa.Column("person", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("source", sa.String(20), nullable=True))
        batch.add_column(sa.Column("blocked_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("checklist_steps") as batch:
        batch.add_column(sa.Column("position", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("requires", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("next_attempt_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("approval_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("channel", sa.String(32), nullable=True))
        batch.add_column(sa.Column("message_ts", sa.String(32), nullable=True))
        batch.add_column(sa.Column("done_by", sa.String(100), nullable=True))
    with op.batch_alter_table("approvals") as batch:
        batch.add_column(sa.Column("run_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("security_status", sa.String(20), nullable=True))
        batch.add_column(sa.Column("security_decided_by", sa.String(32), nullable=True))
        batch.add_column(sa.Column("summary", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        for name in ("summary", "security_decided_by", "security_status", "run_id"):
            batch.drop_column(name)
    with op.batch_alter_table("checklist_steps") as batch:
        for name in ("done_by", "message_ts", "channel", "approval_id", "next_attempt_at", "requires", "position"):
            batch.drop_column(name)
    with op.batch_alter_table("checklist_runs") as batch:
        for name in ("blocked_reason", "source", "person"):
            batch.drop_column(name)
