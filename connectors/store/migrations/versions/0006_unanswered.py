"""First-response alerts: when a tier was told that nobody had responded to a request in time.

Requests already open on upgrade are not flagged retroactively: an old request still unanswered past its
target is told about at the next sweep, once.

Revision ID: 0006
"""
import sqlalchemy as sa
from alembic import op

from connectors.store.tables import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("unanswered_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("unanswered_at")
