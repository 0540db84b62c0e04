"""First-response alerts, and room for who requested a run.

``requests.unanswered_at``: when a tier was told that nobody had responded to a request in time (an old
request still unanswered past its target is told about at the next sweep, once).
``requests.sla_started_at``: when the SLA clock started, for requests that waited for an approver (the wait
is not the team's time); none for older ones, which keep counting from their creation.
``requests.tier_response_at``: when the tier holding a request first responded to it (the first-response
flag is per tier).
``requested_by`` of runs and approvals: 200 characters, as HR events allow (an HR system's sender such as
an e-mail address did not fit in 32, so the event could never be stored).

Revision ID: 0006
"""
import sqlalchemy as sa
from alembic import op

from connectors.store.tables import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


_REQUESTED_BY = ("checklist_runs", "approvals")


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("unanswered_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("sla_started_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("tier_response_at", UTCDateTime(), nullable=True))
    for table in _REQUESTED_BY:
        with op.batch_alter_table(table) as batch:
            batch.alter_column("requested_by", type_=sa.String(200), existing_type=sa.String(32),
                               existing_nullable=False)


def downgrade() -> None:
    for table in _REQUESTED_BY:
        with op.batch_alter_table(table) as batch:
            batch.alter_column("requested_by", type_=sa.String(32), existing_type=sa.String(200),
                               existing_nullable=False)
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("tier_response_at")
        batch.drop_column("sla_started_at")
        batch.drop_column("unanswered_at")
