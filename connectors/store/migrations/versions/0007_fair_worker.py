"""A worker that takes only what can move, and one live run per person held by the database.

``checklist_steps.waiting_on``: the key of a required step not yet finished (NULL: the step may run when due);
the worker's query skips waiting steps, and the store releases them in the transaction that finishes what they
wait for. Existing steps are given theirs here, from their run's steps as they stand.
``checklist_steps.priority``: taken highest first (the protective steps of a terminate-now offboarding).
``checklist_runs.live_key`` / ``live_username``: "kind:employee id" and "kind:username" while a run is live,
NULL once it ended; each unique. Where a store already holds two live runs for one person (the race this
revision closes), the oldest gets the key and new events are matched to it; the others still run to their end.
``ix_approvals_status_expires``: the worker looks for expired approvals at every pass.

Revision ID: 0007
"""
from collections import defaultdict

import sqlalchemy as sa
from alembic import op

from connectors.store.live import live_keys
from connectors.store.readiness import waiting_on

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_LIVE = ("active", "blocked")   # workflows.models.LIVE_RUNS as of this revision


def upgrade() -> None:
    with op.batch_alter_table("checklist_steps") as batch:
        batch.add_column(sa.Column("waiting_on", sa.String(100), nullable=True))
        batch.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="0"))
        batch.create_index("ix_checklist_steps_due", ["status", "waiting_on", "due_at"])
    with op.batch_alter_table("checklist_runs") as batch:
        batch.add_column(sa.Column("live_key", sa.String(120), nullable=True))
        batch.add_column(sa.Column("live_username", sa.String(150), nullable=True))
    _set_waiting_steps()
    _set_live_keys()
    # unique indexes, not constraints: on SQLite a constraint would make batch mode copy checklist_runs, and
    # dropping the old copy would delete every step through their ON DELETE CASCADE
    op.create_index("uq_checklist_runs_live_key", "checklist_runs", ["live_key"], unique=True)
    op.create_index("uq_checklist_runs_live_username", "checklist_runs", ["live_username"], unique=True)
    op.create_index("ix_approvals_status_expires", "approvals", ["status", "expires_at"])


def _set_waiting_steps() -> None:
    steps = sa.table("checklist_steps", sa.column("id"), sa.column("run_id"), sa.column("step_key"),
                     sa.column("status"), sa.column("requires", sa.JSON()), sa.column("waiting_on"))
    bind = op.get_bind()
    by_run = defaultdict(list)
    for row in bind.execute(sa.select(steps.c.id, steps.c.run_id, steps.c.step_key, steps.c.status,
                                      steps.c.requires)).mappings():
        by_run[row["run_id"]].append(row)
    for rows in by_run.values():
        statuses = {r["step_key"]: r["status"] for r in rows}
        for row in rows:
            waits = waiting_on(row["status"], row["requires"], statuses)
            if waits is not None:
                bind.execute(steps.update().where(steps.c.id == row["id"]).values(waiting_on=waits))


def _set_live_keys() -> None:
    runs = sa.table("checklist_runs", sa.column("id"), sa.column("kind"), sa.column("status"),
                    sa.column("person", sa.JSON()), sa.column("live_key"), sa.column("live_username"))
    bind = op.get_bind()
    taken: set[tuple[str, str]] = set()
    query = sa.select(runs.c.id, runs.c.kind, runs.c.status, runs.c.person).where(runs.c.status.in_(_LIVE))
    for row in bind.execute(query.order_by(runs.c.id)).mappings():
        keys = live_keys(row["kind"], row["status"], row["person"] or {})
        keys = {column: key for column, key in keys.items() if key is not None and (column, key) not in taken}
        taken.update(keys.items())
        if keys:
            bind.execute(runs.update().where(runs.c.id == row["id"]).values(**keys))


def downgrade() -> None:
    op.drop_index("ix_approvals_status_expires", "approvals")
    op.drop_index("uq_checklist_runs_live_username", "checklist_runs")
    op.drop_index("uq_checklist_runs_live_key", "checklist_runs")
    with op.batch_alter_table("checklist_runs") as batch:
        batch.drop_column("live_username")
        batch.drop_column("live_key")
    with op.batch_alter_table("checklist_steps") as batch:
        batch.drop_index("ix_checklist_steps_due")
        batch.drop_column("priority")
        batch.drop_column("waiting_on")
