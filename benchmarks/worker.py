"""The worker's pass (``Engine.tick``) with 100, 1,000 and 5,000 live runs: most wait on people, a handful are due.

Each live run has its manager's task open, two steps waiting on it (one behind the other), an account step
awaiting approval with its pending approval, and a step not due for days; five runs more each have one
manual step due, which the measured pass turns into a task (it is put back before the next sample). The
time and the SQL statements of a pass should follow those five due steps, not the live runs: both are
reported as a ratio to the pass with 100 runs, measured in the same run, on SQLite.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import event, update

from benchmarks.registry import Context, Measurement, at_most, benchmark

FULL, QUICK = (100, 1_000, 5_000), (100, 300, 1_000)
DUE_RUNS, SAMPLES = 5, 7
NOW = datetime(2027, 3, 1, 9, 0, tzinfo=timezone.utc)


def _waiting_run(store, n: int) -> None:
    from workflows.models import Approval, Run, RunStep

    def step(key: str, position: int, status: str = "pending", due=NOW - timedelta(days=1), requires=()):
        return RunStep(run_id=0, step_key=key, title=key, team="helpdesk_l1", status=status, position=position,
                       due_at=due, requires=requires)

    run, _ = store.create_run(
        Run(kind="onboarding", requested_by="U0HR1", effective_date="2027-03-08", idempotency_key=f"wait-{n}",
            person={"given_name": "Hire", "surname": f"N{n}", "employee_id": f"E{n:06d}", "username": f"hire{n}"}),
        [step("manager_welcome", 0, "task"), step("laptop", 1, requires=("manager_welcome",)),
         step("ship_equipment", 2, requires=("laptop",)), step("ad_account", 3, "awaiting_approval"),
         step("building_access", 4, due=NOW + timedelta(days=5))])
    store.create_approval(Approval(subject=f"run:{run.id}", requested_by="U0HR1", run_id=run.id,
                                   summary="1 account change", expires_at=NOW + timedelta(days=2)))


def _due_runs(store) -> list[int]:
    from workflows.models import Run, RunStep
    ids = []
    for n in range(DUE_RUNS):
        run, _ = store.create_run(
            Run(kind="onboarding", requested_by="U0HR1", effective_date="2027-03-08", idempotency_key=f"due-{n}",
                person={"given_name": "Due", "surname": f"N{n}", "employee_id": f"D{n}", "username": f"due{n}"}),
            [RunStep(run_id=0, step_key="manager_welcome", title="Plan the first week", team="helpdesk_l1",
                     due_at=NOW - timedelta(minutes=5))])
        ids.append(store.list_steps(run.id)[0].id)
    return ids


def _measure(ctx: Context, runs: int, root: Path) -> tuple[float, float]:
    """(median seconds, median statements) of a pass over ``runs`` waiting runs and the due ones."""
    from bot.settings import Settings
    from connectors.services import build_services
    from connectors.store.tables import checklist_steps

    settings = replace(Settings.from_env({}, require_slack=False), database_url=f"sqlite:///{root / f'w{runs}.db'}")
    services = build_services(settings, clock=lambda: NOW, directories={})
    try:
        ctx.progress(f"seeding {runs} live runs waiting on people")
        for n in range(runs):
            _waiting_run(services.store, n)
        due = _due_runs(services.store)
        engine, seconds, counts = services.store.engine, [], []
        for _ in range(SAMPLES):
            with engine.begin() as conn:   # the due steps are due again (not measured)
                conn.execute(update(checklist_steps).where(checklist_steps.c.id.in_(due))
                             .values(status="pending", lease_until=None, result=None))
            sent = []

            def count(*_args) -> None:
                sent.append(1)

            event.listen(engine, "before_cursor_execute", count)
            started = time.perf_counter()
            notices = services.engine.tick("bench", NOW)
            seconds.append(time.perf_counter() - started)
            event.remove(engine, "before_cursor_execute", count)
            counts.append(len(sent))
            assert len([n for n in notices if n.kind == "task"]) == DUE_RUNS, "each due step became a task"
        return statistics.median(seconds), statistics.median(counts)
    finally:
        services.close()


@benchmark("worker", "a worker pass with 100 / 1,000 / 5,000 live runs waiting on people and five due steps")
def run(ctx: Context) -> list[Measurement]:
    sizes = QUICK if ctx.quick else FULL
    with tempfile.TemporaryDirectory(prefix="itbot-bench-worker-") as tmp:
        results = {runs: _measure(ctx, runs, Path(tmp)) for runs in sizes}
    floor_s, floor_sql = results[sizes[0]]
    note = (f"Engine.tick on SQLite, {DUE_RUNS} manual steps due in each pass; every live run has its manager's "
            f"task open, two steps waiting behind it, an account step awaiting approval (with its pending "
            f"approval) and a step due in days. Median of {SAMPLES} passes. Ratios are to the pass with "
            f"{sizes[0]} runs in the same run: a worker that grows with the live runs shows here.")
    rows = []
    for runs, (seconds, statements) in results.items():
        rows += [Measurement(f"pass time, {runs:,} live runs", seconds * 1000, "ms", notes=note),
                 Measurement(f"SQL statements per pass, {runs:,} live runs", statements, "statements", notes=note)]
    top = sizes[-1]
    rows += [Measurement(f"pass time ratio ({top:,} / {sizes[0]} runs)", results[top][0] / floor_s, "x",
                         at_most(2.0), notes=note),
             Measurement(f"statements ratio ({top:,} / {sizes[0]} runs)", results[top][1] / floor_sql, "x",
                         at_most(1.0), notes=note)]
    return rows
