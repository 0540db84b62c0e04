"""Reads for the report: only the rows a window needs, in a few queries (not one per run)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import and_, or_, select

from connectors.store.runs import _run, _step
from connectors.store.sql import _request
from connectors.store.tables import answer_log, audit_log, checklist_runs, checklist_steps, requests
from workflows.models import AnswerRecord, ItRequest, Run, RunStep

_CHUNK = 500  # ids per IN (...) list, well under every database's parameter limit


@dataclass(frozen=True)
class ReportRows:
    """What ``workflows.report.build_report`` needs for one window."""

    requests: list[ItRequest]
    answers: list[AnswerRecord]
    runs: list[Run]
    steps: list[RunStep]
    run_done_at: dict[int, datetime]


def requests_created_since(store: Any, since: datetime) -> list[ItRequest]:
    query = select(requests).where(requests.c.created_at >= since).order_by(requests.c.id)
    with store.engine.connect() as conn:
        return [_request(r) for r in conn.execute(query).mappings()]


def answers_since(store: Any, since: datetime) -> list[AnswerRecord]:
    query = select(answer_log).where(answer_log.c.at >= since).order_by(answer_log.c.id)
    with store.engine.connect() as conn:
        return [AnswerRecord(**dict(r)) for r in conn.execute(query).mappings()]


def run_done_times(store: Any, *, since: datetime | None = None, run_ids: list[int] | None = None
                   ) -> dict[int, datetime]:
    """Run id → when it first finished, from the ``run.done`` audit entries (since ``since``, of ``run_ids``)."""
    query = select(audit_log.c.subject, audit_log.c.at).where(audit_log.c.action == "run.done")
    if since is not None:
        query = query.where(audit_log.c.at >= since)
    chunks = [None] if run_ids is None else _chunks(sorted(run_ids))
    done: dict[int, datetime] = {}
    with store.engine.connect() as conn:
        for chunk in chunks:
            limited = query if chunk is None else query.where(audit_log.c.subject.in_([f"run:{i}" for i in chunk]))
            for subject, at in conn.execute(limited.order_by(audit_log.c.id)):
                kind, _, number = subject.partition(":")
                if kind == "run" and number.isdigit():
                    done.setdefault(int(number), at)
    return done


def runs_touching(store: Any, since: datetime, done_ids: Iterable[int] = ()) -> list[Run]:
    """Runs created since ``since``, finished since then (``done_ids``), or done and updated since then."""
    finished = and_(checklist_runs.c.status == "done", checklist_runs.c.updated_at >= since)
    condition = or_(checklist_runs.c.created_at >= since, finished)
    runs: dict[int, Run] = {}
    with store.engine.connect() as conn:
        for row in conn.execute(select(checklist_runs).where(condition)).mappings():
            runs[row["id"]] = _run(row)
        missing = sorted(set(done_ids) - set(runs))
        for chunk in _chunks(missing):
            for row in conn.execute(select(checklist_runs).where(checklist_runs.c.id.in_(chunk))).mappings():
                runs[row["id"]] = _run(row)
    return [runs[k] for k in sorted(runs)]


def steps_of_runs(store: Any, run_ids: list[int]) -> list[RunStep]:
    steps: list[RunStep] = []
    with store.engine.connect() as conn:
        for chunk in _chunks(sorted(run_ids)):
            query = (select(checklist_steps).where(checklist_steps.c.run_id.in_(chunk))
                     .order_by(checklist_steps.c.run_id, checklist_steps.c.position, checklist_steps.c.id))
            steps.extend(_step(r) for r in conn.execute(query).mappings())
    return steps


def report_rows(store: Any, since: datetime) -> ReportRows:
    runs = runs_touching(store, since, set(run_done_times(store, since=since)))
    done_at = run_done_times(store, run_ids=[r.id for r in runs if r.status == "done"])
    return ReportRows(requests=requests_created_since(store, since), answers=answers_since(store, since),
                      runs=runs, steps=steps_of_runs(store, [r.id for r in runs]), run_done_at=done_at)


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[i:i + _CHUNK] for i in range(0, len(ids), _CHUNK)]
