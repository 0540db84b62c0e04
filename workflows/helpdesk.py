"""The help desk: from an employee's words to an answer or a routed, tracked request.

``Helpdesk`` holds no Slack vocabulary. Each method takes plain values, changes the store, and
returns what happened as data; bot/ turns that into messages, cards and thread updates.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Callable

from workflows.helpdesk_sla import SlaMixin, new_window, responded
from workflows.models import Announcement, AnswerRecord, ItRequest
from workflows.request_limits import WINDOWS, Limited, RequestLimits
from workflows.request_limits import check as check_limit
from workflows.triage import TriageResult

SUMMARY_LIMIT = 300
_LOCKS = tuple(threading.Lock() for _ in range(64))   # striped by requester: the limit check and the insert
DESCRIPTION_LIMIT = 20_000


class HelpdeskError(ValueError):
    """A person tried something they may not do, or on a request in the wrong state; the text says which."""


OFFER_FIRST_PRIORITIES = ("P3", "P4")   # a problem this urgent goes to a person at once, article or not


def offers_article(result: TriageResult, priority: str | None) -> bool:
    """Whether the bot answers with ``result``'s article: a question's always; a problem's (offered first, the
    request one click away) only when it is not urgent."""
    if result.article_id is None:
        return False
    return result.intent != "broken" or priority in OFFER_FIRST_PRIORITIES


@dataclass(frozen=True)
class Understanding:
    """What itbot made of a message: the triage and, when confident, the article to answer with (or, when two
    articles are too close to call, the two ``choices`` to ask about)."""

    triage: TriageResult
    article: Any | None          # workflows.triage.knowledge.Article
    text: str
    choices: tuple[Any, ...] = ()

    @property
    def answerable(self) -> bool:
        return self.article is not None

    @property
    def asks(self) -> bool:
        """"Did you mean A or B?" rather than a guess."""
        return bool(self.choices) and self.article is None

    @property
    def offers_first(self) -> bool:
        """A problem an article may solve: the article first, the request one click away."""
        return self.answerable and self.triage.intent == "broken"

    @property
    def wants_request(self) -> bool:
        return self.triage.intent in ("broken", "request") and not self.answerable and not self.asks


@dataclass(frozen=True)
class Opened:
    request: ItRequest
    route: Any                  # workflows.routing.Route
    team: Any                   # workflows.teams.Team
    approver_id: str | None = None


@dataclass(frozen=True)
class Escalated:
    request: ItRequest
    from_team: Any
    to_team: Any
    from_card: tuple[str | None, str | None] = (None, None)  # (channel, ts) of the previous tier's card


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def summarise(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= SUMMARY_LIMIT else line[: SUMMARY_LIMIT - 1].rstrip() + "…"


class Helpdesk(SlaMixin):
    def __init__(self, *, store: Any, teams: Any, routing: Any, model: Any, kb: Any,
                 clock: Callable[[], datetime] = _utcnow):
        self.store = store
        self.teams = teams
        self.routing = routing
        self.model = model
        self.kb = kb
        self.clock = clock

    # understanding and answering ---------------------------------------------
    def understand(self, text: str) -> Understanding:
        from workflows.routing import route_request
        from workflows.triage import triage

        result = triage(text, self.model, self.kb)
        priority = None
        if result.intent == "broken" and (result.article_id or result.choices):
            priority = route_request("broken", result.topic, text, None, self.teams, self.routing).priority
            if priority not in OFFER_FIRST_PRIORITIES:     # urgent: a person, not reading
                return Understanding(replace(result, article_id=None, decision="none", choices=()), None, text)
        article = self.kb.get(result.article_id) if offers_article(result, priority) else None
        choices = tuple(a for a in (self.kb.get(c) for c in result.choices) if a is not None)
        return Understanding(result, article, text, choices)

    def record_answer(self, user: str, u: Understanding, outcome: str, *, channel: str | None = None,
                      thread_ts: str | None = None) -> AnswerRecord:
        """``outcome``: answered (with ``u.article``), clarify (itbot asked which of two articles) or no_answer."""
        return self.store.record_answer(AnswerRecord(
            user_slack_id=user, question=summarise(u.text), intent=u.triage.intent, topic=u.triage.topic,
            outcome=outcome, article_id=u.article.id if u.article else None, channel=channel, thread_ts=thread_ts))

    def answer_feedback(self, answer_id: int, user: str, solved: bool) -> AnswerRecord:
        record = self.store.get_answer(answer_id)
        if record is None:
            raise HelpdeskError("That answer is no longer on record.")
        if record.user_slack_id != user:
            raise HelpdeskError("Only the person who asked can say whether this solved it.")
        if record.outcome in ("solved", "still_stuck"):
            return record
        return self.store.record_answer(replace(record, outcome="solved" if solved else "still_stuck"))

    def link_answer(self, record: AnswerRecord, request: ItRequest) -> AnswerRecord:
        return self.store.record_answer(replace(record, request_id=request.id))

    def choose_article(self, answer_id: int, user: str, article_id: str) -> tuple[AnswerRecord, Any]:
        """The employee picked one of the two articles itbot asked about: it becomes the answer."""
        record = self.store.get_answer(answer_id)
        if record is None:
            raise HelpdeskError("That question is no longer on record.")
        if record.user_slack_id != user:
            raise HelpdeskError("Only the person who asked can choose.")
        article = self.kb.get(article_id)
        if article is None:
            raise HelpdeskError("That article is no longer in the knowledge base.")
        if record.outcome != "clarify":
            raise HelpdeskError("You already chose for this question.")
        return self.store.record_answer(replace(record, outcome="answered", article_id=article.id)), article

    def add_followup(self, request: ItRequest, user: str, text: str) -> ItRequest:
        """The employee wrote again in the request's thread: it becomes part of the request's description."""
        if user != request.requester_slack_id or not text.strip():
            return request
        description = f"{request.description}\n\nFollow-up from the employee: {text.strip()}"
        return self.store.save_request(replace(request, description=description[:DESCRIPTION_LIMIT]))

    # opening --------------------------------------------------------------------
    def open_request(self, *, requester: str, text: str, source: str, channel: str | None, thread_ts: str | None,
                     understanding: Understanding | None = None, conversation: str = "") -> Opened | Limited:
        """The request opened, or ``Limited`` (nothing opened) when the person has reached their limit of new
        requests (``routing.yaml`` ``request_limits``). The check and the insert hold a lock per person, so
        a burst handled by several threads opens no more than the limit."""
        with _LOCKS[hash(requester) % len(_LOCKS)]:
            limited = self._limited(requester)
            if limited is not None:
                return replace(limited, channel=channel, thread_ts=thread_ts)
            return self._open(requester=requester, text=text, source=source, channel=channel, thread_ts=thread_ts,
                              understanding=understanding, conversation=conversation)

    def _limited(self, requester: str) -> Limited | None:
        limits = getattr(self.routing, "request_limits", None) or RequestLimits()
        hit = check_limit(limits, self.store.count_requests(requester, WINDOWS["minute"]),
                          self.store.count_requests(requester, WINDOWS["hour"]))
        if hit is None:
            return None
        # once per episode: the key holds how many requests the person has ever opened, which stays the same
        # until one more is opened (after the window), so the first refusal claims it and the rest find it taken
        episode = self.store.count_requests(requester)
        first = self.store.mark_event_seen(f"request-limit:{requester}:{episode}")
        if first:
            self.store.audit(requester, "request.limited", f"person:{requester}", {"window": hit[0], "limit": hit[1]})
        return Limited(requester, hit[0], hit[1], first)

    def _open(self, *, requester: str, text: str, source: str, channel: str | None, thread_ts: str | None,
              understanding: Understanding | None, conversation: str) -> Opened:
        u = understanding or self.understand(text)
        intent, route = self._route(requester, text, u)
        approver = self._approver(route, requester)
        description = (conversation + "\n\n" if conversation else "") + text
        request = self.store.save_request(ItRequest(
            requester_slack_id=requester, summary=summarise(text) or "(no text)",
            description=description[:DESCRIPTION_LIMIT], intent=intent, topic=u.triage.topic,
            priority=route.priority, team=route.team, status="awaiting_approval" if approver else "open",
            channel=channel, thread_ts=thread_ts, source=source, priority_reasons=tuple(route.reasons),
            approver=approver, team_channel=self.teams.team(route.team).channel))
        self.store.audit(requester, "request.opened", f"request:{request.id}",
                         {"team": route.team, "priority": route.priority, "source": source, "approver": approver})
        return Opened(request, route, self.teams.team(route.team), approver)

    def _route(self, requester: str, text: str, u: Understanding) -> tuple[str, Any]:
        from workflows.routing import route_request

        intent = u.triage.intent if u.triage.intent in ("broken", "request") else "broken"
        return intent, route_request(intent, u.triage.topic, text, requester, self.teams, self.routing)

    def opened_before(self, request_id: int, text: str, understanding: Understanding) -> Opened:
        """What ``open_request`` returned when it opened this request (for a retry of the same message)."""
        request = self.store.get_request(request_id)
        if request is None:
            raise LookupError(f"request {request_id} does not exist")
        _, route = self._route(request.requester_slack_id, text, understanding)
        return Opened(request, route, self.teams.team(request.team), request.approver)

    def _approver(self, route: Any, requester: str) -> str | None:
        if not route.needs_approval:
            return None
        kind = route.approver
        if kind == "manager":
            manager = self.store.get_manager_slack_id(requester)
            if manager:
                return manager
        if kind == "app_owner" and getattr(self.routing, "app_owner", None):
            return self.routing.app_owner
        return self.teams.team("cio").lead

    def posted(self, request: ItRequest, *, team_ts: str | None = None, thread_ts: str | None = None,
               channel: str | None = None) -> ItRequest:
        """Remember where the request's card and the employee's thread live."""
        return self.store.save_request(replace(request, team_ts=team_ts or request.team_ts,
                                               thread_ts=thread_ts or request.thread_ts,
                                               channel=channel or request.channel))

    # the team's buttons ---------------------------------------------------------
    def _load(self, request_id: int) -> ItRequest:
        request = self.store.get_request(request_id)
        if request is None:
            raise HelpdeskError(f"Request {request_id} does not exist.")
        return request

    def _require_member(self, request: ItRequest, user: str, verb: str) -> None:
        if not self.teams.is_member(request.team, user):
            raise HelpdeskError(f"Only members of {self.teams.team(request.team).name} can {verb} {request.number}.")

    def _require_open(self, request: ItRequest) -> None:
        if request.status == "awaiting_approval":
            raise HelpdeskError(f"{request.number} is still waiting for approval.")
        if not request.is_open:
            raise HelpdeskError(f"{request.number} is already {request.status}.")

    def claim(self, request_id: int, user: str) -> ItRequest:
        request = self._load(request_id)
        self._require_member(request, user, "claim")
        self._require_open(request)
        if request.assignee == user:
            return request
        saved = self.store.save_request(replace(request, assignee=user, status="in_progress",
                                                **responded(request, self.clock())))
        self.store.audit(user, "request.claimed", f"request:{request.id}", {})
        return saved

    def resolve(self, request_id: int, user: str) -> ItRequest:
        request = self._load(request_id)
        self._require_member(request, user, "resolve")
        self._require_open(request)
        now = self.clock()
        saved = self.store.save_request(replace(request, status="resolved", resolved_at=now,
                                                assignee=request.assignee or user, **responded(request, now)))
        self.store.audit(user, "request.resolved", f"request:{request.id}", {})
        return saved

    def escalate(self, request_id: int, user: str | None, *, reason: str = "escalated",
                 at: datetime | None = None, announce: dict[str, Any] | None = None) -> Escalated:
        """Move the request to the next tier, which gets its own SLA window from ``at`` (default: now).

        ``announce`` (a kind and payload) is stored in the outbox with the move, completed with the teams and
        the previous tier's card."""
        request = self._load(request_id)
        if user is not None:
            self._require_member(request, user, "escalate")
        self._require_open(request)
        target = self.teams.next_tier(request.team)
        if target is None:
            raise HelpdeskError(f"{self.teams.team(request.team).name} is the last tier; reassign it instead.")
        said = []
        if announce is not None:
            payload = {**announce, "request_id": request.id, "from_team": request.team, "to_team": target,
                       "from_card": [request.team_channel, request.team_ts]}
            said = [Announcement(f"request:{request.id}", payload.pop("kind"), payload)]
        saved = self.store.save_request(replace(
            request, team=target, team_channel=self.teams.team(target).channel, team_ts=None, assignee=None,
            status="open", escalations=request.escalations + 1, **new_window(at or self.clock())), announce=said)
        self.store.audit(user or "itbot", "request.escalated", f"request:{request.id}",
                         {"from": request.team, "to": target, "reason": reason})
        return Escalated(saved, self.teams.team(request.team), self.teams.team(target),
                         (request.team_channel, request.team_ts))

    def reassign(self, request_id: int, user: str, assignee: str) -> ItRequest:
        request = self._load(request_id)
        self._require_member(request, user, "reassign")
        self._require_open(request)
        if not self.teams.is_member(request.team, assignee):
            raise HelpdeskError(f"<@{assignee}> is not in {self.teams.team(request.team).name}.")
        saved = self.store.save_request(replace(request, assignee=assignee, status="in_progress",
                                                **responded(request, self.clock())))
        self.store.audit(user, "request.reassigned", f"request:{request.id}", {"to": assignee})
        return saved

    def note_reply(self, request: ItRequest, user: str) -> ItRequest:
        """A team member wrote to the employee: the tier's response (and the first one) if none came before."""
        if request.answered_here or not self.teams.is_member(request.team, user):
            return request
        return self.store.save_request(replace(request, **responded(request, self.clock())))

    # approvals ------------------------------------------------------------------------
    def decide(self, request_id: int, user: str, approve: bool) -> ItRequest:
        request = self._load(request_id)
        if request.status != "awaiting_approval":
            raise HelpdeskError(f"{request.number} was already decided ({request.status}).")
        if user == request.requester_slack_id:
            raise HelpdeskError("You cannot approve your own request.")
        if user != request.approver:
            raise HelpdeskError(f"Only <@{request.approver}> can decide on {request.number}.")
        now = self.clock()
        clock = {"sla_started_at": now, **new_window(now)} if approve else {}   # the SLA counts from here
        saved = self.store.save_request(replace(request, status="open" if approve else "denied",
                                                resolved_at=None if approve else now, **clock))
        self.store.audit(user, "request.approved" if approve else "request.denied", f"request:{request.id}", {})
        return saved
