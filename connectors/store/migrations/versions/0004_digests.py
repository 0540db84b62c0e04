"""Daily digests: one row per person and local day, so nobody gets two in a day.

Revision ID: 0004
"""
import sqlalchemy as sa
from alembic import op

from connectors.store.tables import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "digest_log",
        sa.Column("user_slack_id", sa.String(32), primary_key=True),
        sa.Column("local_date", sa.String(10), primary_key=True),
        sa.Column("sent_at", UTCDateTime(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("digest_log")
