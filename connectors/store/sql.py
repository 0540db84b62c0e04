"""SqlStore: the workflows' Store port over SQLAlchemy Core, one short transaction per call."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from sqlalchemy import Engine, and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from connectors.store.outbox import SqlOutbox, enqueue
from connectors.store.queue_status import QueueStatusMixin
from connectors.store.runs import RunStoreMixin
from connectors.store.tables import answer_log, audit_log, people, processed_events, requests
from workflows.models import Announcement, AnswerRecord, AuditEntry, ItRequest, Person
from workflows.redact import scrub

_PERSON_FIELDS = ("slack_user_id", "email", "display_name", "timezone", "department", "title")
_REQUEST_FIELDS = ("requester_slack_id", "summary", "description", "intent", "topic", "priority", "team",
                   "status", "assignee", "channel", "thread_ts", "source", "team_channel", "team_ts", "approver",
                   "first_response_at", "resolved_at", "sla_warned_at", "sla_breached_at", "escalations",
                   "sla_window_started_at", "sla_window_breached_at", "unanswered_at",
                   "sla_started_at", "tier_response_at")
_ANSWER_FIELDS = ("user_slack_id", "question", "intent", "topic", "outcome", "article_id", "request_id", "channel",
                  "thread_ts")
OPEN_STATUSES = ("awaiting_approval", "open", "in_progress")


def _now() -> datetime:
    return datetime.now(timezone.utc)


class SqlStore(RunStoreMixin, QueueStatusMixin):
    def __init__(self, engine: Engine):
        self.engine = engine
        self.outbox = SqlOutbox(engine)

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(select(1))

    # people -----------------------------------------------------------------
    def save_person(self, person: Person) -> Person:
        values = {f: getattr(person, f) for f in _PERSON_FIELDS}
        now = _now()
        with self.engine.begin() as conn:
            values["manager_id"] = None
            if person.manager_slack_id:
                values["manager_id"] = conn.execute(select(people.c.id).where(
                    people.c.slack_user_id == person.manager_slack_id)).scalar()
                if values["manager_id"] is None:
                    raise LookupError(f"manager {person.manager_slack_id} is not a known person")
            existing_id = person.id
            if existing_id is None and person.slack_user_id:
                existing_id = conn.execute(select(people.c.id).where(
                    people.c.slack_user_id == person.slack_user_id)).scalar()
            if existing_id is None:
                new_id = conn.execute(insert(people).values(**values, created_at=now, updated_at=now)
                                      .returning(people.c.id)).scalar_one()
            else:
                conn.execute(update(people).where(people.c.id == existing_id).values(**values, updated_at=now))
                new_id = existing_id
        return replace(person, id=new_id)

    def get_person_by_slack_id(self, slack_user_id: str) -> Person | None:
        manager = people.alias("manager")
        query = (select(people, manager.c.slack_user_id.label("manager_slack_id"))
                 .outerjoin(manager, people.c.manager_id == manager.c.id)
                 .where(people.c.slack_user_id == slack_user_id))
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if not row:
            return None
        return Person(**{f: row[f] for f in _PERSON_FIELDS}, manager_slack_id=row["manager_slack_id"], id=row["id"])

    def get_manager_slack_id(self, slack_user_id: str) -> str | None:
        person = self.get_person_by_slack_id(slack_user_id)
        return person.manager_slack_id if person else None

    # requests ---------------------------------------------------------------
    def save_request(self, request: ItRequest, *, announce: Iterable[Announcement] = ()) -> ItRequest:
        """Insert or update a request; ``announce`` goes to the outbox in the same transaction."""
        values = {f: getattr(request, f) for f in _REQUEST_FIELDS}
        values["priority_reasons"] = "\n".join(request.priority_reasons)
        now = _now()
        with self.engine.begin() as conn:
            if request.id is None:
                new_id = conn.execute(insert(requests).values(**values, created_at=now, updated_at=now)
                                      .returning(requests.c.id)).scalar_one()
            else:
                found = conn.execute(update(requests).where(requests.c.id == request.id)
                                     .values(**values, updated_at=now)).rowcount
                if not found:
                    raise LookupError(f"request {request.id} does not exist")
                new_id = request.id
            enqueue(conn, announce)
            row = conn.execute(select(requests).where(requests.c.id == new_id)).mappings().one()
        return _request(row)

    def get_request(self, request_id: int) -> ItRequest | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(requests).where(requests.c.id == request_id)).mappings().first()
        return _request(row) if row else None

    def list_requests(self, *, requester_slack_id: str | None = None, status: str | None = None,
                      open_only: bool = False) -> list[ItRequest]:
        query = select(requests).order_by(requests.c.id)
        if requester_slack_id:
            query = query.where(requests.c.requester_slack_id == requester_slack_id)
        if status:
            query = query.where(requests.c.status == status)
        if open_only:
            query = query.where(requests.c.status.in_(OPEN_STATUSES))
        with self.engine.connect() as conn:
            return [_request(r) for r in conn.execute(query).mappings()]

    def count_requests(self, requester_slack_id: str, within: timedelta | None = None) -> int:
        """How many requests the person opened (in the last ``within``, by the clock that stamps
        ``created_at``): the help desk's limit on new requests."""
        query = select(func.count()).select_from(requests).where(requests.c.requester_slack_id == requester_slack_id)
        if within is not None:
            query = query.where(requests.c.created_at >= _now() - within)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    def find_request_by_thread(self, channel: str, ts: str) -> ItRequest | None:
        """The request whose employee thread or team-channel card is (channel, ts)."""
        query = select(requests).where(or_(and_(requests.c.channel == channel, requests.c.thread_ts == ts),
                                           and_(requests.c.team_channel == channel, requests.c.team_ts == ts)))
        with self.engine.connect() as conn:
            row = conn.execute(query.order_by(requests.c.id.desc())).mappings().first()
        return _request(row) if row else None

    # knowledge-base answers ---------------------------------------------------
    def record_answer(self, record: AnswerRecord) -> AnswerRecord:
        values = {f: getattr(record, f) for f in _ANSWER_FIELDS}
        with self.engine.begin() as conn:
            if record.id is None:
                at = _now()
                new_id = conn.execute(insert(answer_log).values(**values, at=at).returning(answer_log.c.id)).scalar_one()
            else:
                conn.execute(update(answer_log).where(answer_log.c.id == record.id).values(**values))
                new_id, at = record.id, record.at
        return AnswerRecord(**values, id=new_id, at=at)

    def get_answer(self, answer_id: int) -> AnswerRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(answer_log).where(answer_log.c.id == answer_id)).mappings().first()
        return AnswerRecord(**dict(row)) if row else None

    def list_answers(self, *, outcome: str | None = None) -> list[AnswerRecord]:
        query = select(answer_log).order_by(answer_log.c.id)
        if outcome:
            query = query.where(answer_log.c.outcome == outcome)
        with self.engine.connect() as conn:
            return [AnswerRecord(**dict(r)) for r in conn.execute(query).mappings()]

    # audit ------------------------------------------------------------------
    def audit(self, actor: str, action: str, subject: str, detail: dict[str, Any] | None = None) -> AuditEntry:
        clean = scrub(detail or {})
        at = _now()
        with self.engine.begin() as conn:
            new_id = conn.execute(insert(audit_log).values(at=at, actor=actor, action=action, subject=subject,
                                                           detail=clean).returning(audit_log.c.id)).scalar_one()
        return AuditEntry(actor=actor, action=action, subject=subject, detail=clean, at=at, id=new_id)

    def audit_trail(self, subject: str | None = None) -> list[AuditEntry]:
        query = select(audit_log).order_by(audit_log.c.id)
        if subject:
            query = query.where(audit_log.c.subject == subject)
        with self.engine.connect() as conn:
            return [AuditEntry(**dict(r)) for r in conn.execute(query).mappings()]

    # Slack event de-duplication ----------------------------------------------
    def prune_processed_events(self, older_than: datetime) -> int:
        """Forget event ids seen before ``older_than`` (Slack retries come within minutes); returns how many."""
        with self.engine.begin() as conn:
            return conn.execute(delete(processed_events).where(processed_events.c.seen_at < older_than)).rowcount

    def mark_event_seen(self, event_id: str) -> bool:
        """Record an event id; False when some process already recorded it (a retry)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(processed_events).values(event_id=event_id, seen_at=_now()))
        except IntegrityError:
            return False
        return True


def _request(row: Any) -> ItRequest:
    values = {f: row[f] for f in _REQUEST_FIELDS}
    values["escalations"] = values["escalations"] or 0
    values["source"] = values["source"] or "dm"
    reasons = row["priority_reasons"]
    return ItRequest(**values, priority_reasons=tuple(reasons.split("\n")) if reasons else (), id=row["id"],
                     created_at=row["created_at"], updated_at=row["updated_at"])
