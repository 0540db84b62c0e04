"""SLA windows per tier: when the current tier's window began, and whether its lapse was reported.

Requests breached before this revision were handled the old way (one escalation, or one word to the lead
at the last tier). They are carried over so that nothing is announced again on upgrade: one never escalated,
or warned again after its last escalation, breached where it is and stays reported; any other was
escalated by that breach, so its current tier's window starts at the breach.

Revision ID: 0005
"""
import sqlalchemy as sa
from alembic import op

from connectors.store.tables import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_NEW_REQUEST_COLUMNS = [
    ("sla_window_started_at", UTCDateTime()),
    ("sla_window_breached_at", UTCDateTime()),
]


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        for name, type_ in _NEW_REQUEST_COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))
    r = sa.table("requests", sa.column("sla_breached_at"), sa.column("sla_warned_at"), sa.column("escalations"),
                 sa.column("sla_window_started_at"), sa.column("sla_window_breached_at"))
    breached = r.c.sla_breached_at.isnot(None)
    breached_here = sa.or_(sa.func.coalesce(r.c.escalations, 0) == 0, r.c.sla_warned_at.isnot(None))
    op.execute(r.update().where(breached, breached_here).values(sla_window_breached_at=r.c.sla_breached_at))
    op.execute(r.update().where(breached, r.c.sla_window_breached_at.is_(None))
               .values(sla_window_started_at=r.c.sla_breached_at))


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        for name, _ in reversed(_NEW_REQUEST_COLUMNS):
            batch.drop_column(name)
