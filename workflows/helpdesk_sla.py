"""The help desk's SLA: every tier a request reaches gets its own window, and the sweep acts once per window.

The first window runs from when the request was opened. Escalating it, by hand or on a breach, opens a new
window for the receiving tier at that moment: that team's resolution target for the priority, counted in
that team's business hours. The sweep warns once per window; when a window lapses it escalates to the next
tier, or, at the last tier, tells the lead once. ``sla_breached_at`` is the breach the employee feels (the
clock from ``created_at``), recorded once per request whatever the windows do: reports count that.
Requests awaiting approval are left out of the sweep, as before.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from workflows.models import Announcement, ItRequest
from workflows.sla import SlaState, sla_state

if TYPE_CHECKING:
    from workflows.helpdesk import Escalated


@dataclass(frozen=True)
class SlaEvent:
    kind: str                   # "warning" | "breach" (the window ran out) | "unanswered" (no first response in time)
    request: ItRequest
    due_at: datetime            # the end of the window at risk or run out, or the first response's due time
    escalation: Escalated | None = None

    @staticmethod
    def announce(kind: str, request: ItRequest, due_at: datetime) -> Announcement:
        """The outbox row that tells people, written with the flag that says it was told."""
        return Announcement(f"request:{request.id}", f"sla_{kind}",
                            {"request_id": request.id, "due_at": due_at.isoformat(),
                             "card": [request.team_channel, request.team_ts]})   # the flagged tier's thread


def new_window(at: datetime) -> dict[str, Any]:
    """The SLA fields of a request that has just reached a new tier at ``at``."""
    return {"sla_window_started_at": at, "sla_warned_at": None, "sla_window_breached_at": None,
            "unanswered_at": None, "tier_response_at": None}


def responded(request: ItRequest, now: datetime) -> dict[str, Any]:
    """The response fields once the tier holding ``request`` has claimed it or replied at ``now``."""
    return {"first_response_at": request.first_response_at or now, "tier_response_at": request.tier_response_at or now}


class SlaMixin:
    """Helpdesk's SLA methods; expects ``store``, ``teams``, ``routing``, ``clock`` and ``escalate``."""

    def sla(self, request: ItRequest, now: datetime | None = None) -> SlaState:
        """Where the current tier's window stands at ``now`` (what cards, the Home tab and the sweep show)."""
        return self._sla_from(request.sla_window_started_at or request.clock_start, request, now or self.clock())

    def _sla_from(self, start: datetime, request: ItRequest, now: datetime) -> SlaState:
        return sla_state(start, now, request.priority, self.teams.team(request.team),
                         first_response_at=request.first_response_at, resolved_at=request.resolved_at,
                         warn_fraction=getattr(self.routing, "sla_warning_fraction", 0.75))

    def due(self, request: ItRequest) -> datetime | None:
        """When the current tier must resolve the request by, in its team's business time."""
        if request.created_at is None:
            return None
        return self.sla(request).resolution_due

    def sla_sweep(self, now: datetime | None = None) -> list[SlaEvent]:
        """Warn before the current tier's window runs out and act when it does; tell the tier when nobody has
        responded by the first-response target. Each once per window."""
        now = now or self.clock()
        events: list[SlaEvent] = []
        for request in self.store.list_requests(open_only=True):
            if request.status == "awaiting_approval":
                continue
            state = self.sla(request, now)
            request = self._record_breach(request, state, now)
            if not request.answered_here and request.unanswered_at is None \
                    and now > state.first_response_due:
                due = state.first_response_due
                request = self.store.save_request(replace(request, unanswered_at=now),
                                                  announce=[SlaEvent.announce("unanswered", request, due)])
                events.append(SlaEvent("unanswered", request, due))
            if state.breached:
                if request.sla_window_breached_at is None:
                    events.append(self._lapsed(request, state.resolution_due, now))
            elif state.warning and request.sla_warned_at is None:
                due = state.resolution_due
                saved = self.store.save_request(replace(request, sla_warned_at=now),
                                                announce=[SlaEvent.announce("warning", request, due)])
                events.append(SlaEvent("warning", saved, due))
        return events

    def _record_breach(self, request: ItRequest, window: SlaState, now: datetime) -> ItRequest:
        """Stamp ``sla_breached_at`` the first time the employee's clock (``clock_start``) has run out."""
        if request.sla_breached_at is not None:
            return request
        state = window if request.sla_window_started_at is None else self._sla_from(request.clock_start, request, now)
        if not state.breached:
            return request
        self.store.audit("itbot", "request.sla_breached", f"request:{request.id}",
                         {"due": state.resolution_due.isoformat()})
        return self.store.save_request(replace(request, sla_breached_at=now))

    def _lapsed(self, request: ItRequest, due: datetime, now: datetime) -> SlaEvent:
        self.store.audit("itbot", "request.sla_window_lapsed", f"request:{request.id}",
                         {"team": request.team, "due": due.isoformat()})
        if self.teams.next_tier(request.team):
            escalation = self.escalate(request.id, None, reason="SLA breach", at=now,
                                       announce={"kind": "sla_escalated", "due_at": due.isoformat()})
            return SlaEvent("breach", escalation.request, due, escalation)
        saved = self.store.save_request(replace(request, sla_window_breached_at=now),
                                        announce=[SlaEvent.announce("breach", request, due)])
        return SlaEvent("breach", saved, due)
