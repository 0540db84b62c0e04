"""Help desk: request routing and SLA fields, the team card, and the answer log (deflection and gaps).

Revision ID: 0002
"""
import sqlalchemy as sa
from alembic import op

from connectors.store.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_NEW_REQUEST_COLUMNS = [
    ("source", sa.String(20)),
    ("priority_reasons", sa.Text()),
    ("team_channel", sa.String(32)),
    ("team_ts", sa.String(32)),
    ("approver", sa.String(32)),
    ("first_response_at", UTCDateTime()),
    ("resolved_at", UTCDateTime()),
    ("sla_warned_at", UTCDateTime()),
    ("sla_breached_at", UTCDateTime()),
    ("escalations", sa.Integer()),
]


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        for name, type_ in _NEW_REQUEST_COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))
        batch.create_index("ix_requests_team_thread", ["team_channel", "team_ts"])
        batch.create_index("ix_requests_employee_thread", ["channel", "thread_ts"])
    op.create_table(
        "answer_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False, index=True),
        sa.Column("user_slack_id", sa.String(32), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("intent", sa.String(20), nullable=False),
        sa.Column("topic", sa.String(20), nullable=False),
        sa.Column("article_id", sa.String(100)),
        sa.Column("outcome", sa.String(20), nullable=False, index=True),
        sa.Column("request_id", sa.Integer(), sa.ForeignKey("requests.id")),
        sa.Column("channel", sa.String(32)),
        sa.Column("thread_ts", sa.String(32)),
    )


def downgrade() -> None:
    op.drop_table("answer_log")
    with op.batch_alter_table("requests") as batch:
        batch.drop_index("ix_requests_employee_thread")
        batch.drop_index("ix_requests_team_thread")
        for name, _ in reversed(_NEW_REQUEST_COLUMNS):
            batch.drop_column(name)
