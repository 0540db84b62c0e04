"""The IT department's report: how many requests, how fast, how many breaches, how much was deflected.

``build_report`` is pure: it takes plain lists of requests, answers, runs and steps (whatever the store
returned), the team directory and ``now``, and counts. The window is ``[since, now]``. Times to first response
and to resolution are business time of the request's owning team, as its SLA clock counts them (its opening
hours in its time zone; nights, closed days and holidays skipped; every second for a 24x7 team): a request
opened Friday 17:55 and answered Monday 08:05 by a team open 08:00-18:00 waited 10 minutes, not 62 hours.
Onboarding lead time stays wall time (days until a new hire is ready).
"""
from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from math import ceil
from typing import Any, Iterable, Mapping

from workflows.durations import DurationError, parse_duration
from workflows.gaps import UNANSWERED  # no answer, an answer that did not help, an unsettled "did you mean"
from workflows.models import AnswerRecord, ItRequest, Run, RunStep
from workflows.sla import business_time_between, sla_state
from workflows.teams import PRIORITIES, TeamDirectory

ANSWERED = ("answered", "solved", "still_stuck")  # the bot offered an article
TOP_UNANSWERED = 10
DEFLECTION_DEFINITION = ("answers marked solved / (questions answered from the knowledge base + requests opened), "
                         "both in the window; a question is 'answered' when the bot offered an article "
                         "(outcome answered, solved or still_stuck)")
DURATION_DEFINITION = ("business hours of each request's owning team, as its SLA clock counts them (nights, closed "
                       "days and holidays in its time zone do not count; 24x7 teams count every second); requests "
                       "of a team no longer in teams.yaml are not timed; p90 is the nearest-rank 90th percentile")
DURATION_UNIT = "business_hours"  # what the JSON's first_response and resolution are measured in
_WORDS = re.compile(r"[^\w]+")
_NOT_COUNTED = ("awaiting_approval", "denied", "cancelled")  # no SLA clock is worth judging on these


class ReportError(ValueError):
    """A bad report parameter; the message says what to write instead."""


def parse_since(text: str, now: datetime) -> datetime:
    """A duration before ``now`` (``30d``, ``12h``, ``2w``, ``1d12h``: workflows.durations), or an ISO
    date/datetime (UTC when it names no zone)."""
    if re.fullmatch(r"\s*\d+[A-Za-z]\S*\s*", text or ""):
        try:
            return now - parse_duration(text, what="--since")
        except DurationError as exc:
            raise ReportError(f"--since {text!r}: {exc.reason} (or an ISO date such as 2026-01-31)") from None
    try:
        moment = datetime.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        raise ReportError(f"--since {text!r} is not understood; use 30d, 12h, 2w, 1d12h or an ISO date such as "
                          "2026-01-31") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    if moment >= now:
        raise ReportError(f"--since {text!r} is not in the past")
    return moment


def normalise_question(text: str) -> str:
    """Lower case, punctuation dropped, spaces collapsed: "VPN down?!" and "vpn  down" group together."""
    return " ".join(_WORDS.sub(" ", text.casefold()).replace("_", " ").split())


@dataclass(frozen=True)
class Durations:
    count: int
    median: timedelta | None
    p90: timedelta | None

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "median_seconds": _seconds(self.median), "p90_seconds": _seconds(self.p90)}


def durations(values: Iterable[timedelta]) -> Durations:
    ordered = sorted(v for v in values if v >= timedelta(0))
    if not ordered:
        return Durations(0, None, None)
    median = timedelta(seconds=statistics.median(v.total_seconds() for v in ordered))
    return Durations(len(ordered), median, ordered[ceil(0.9 * len(ordered)) - 1])


@dataclass(frozen=True)
class Report:
    since: datetime
    until: datetime
    team_names: Mapping[str, str]  # every team id that appears, in config order, unknown ids last
    by_team: Mapping[str, int]
    by_priority: Mapping[str, int]
    by_team_priority: Mapping[str, Mapping[str, int]]
    first_response: Durations
    first_response_by_team: Mapping[str, Durations]
    resolution: Durations
    resolution_by_team: Mapping[str, Durations]
    sla_breaches: tuple[str, ...]  # request numbers, e.g. IT-00042
    first_response_late: tuple[str, ...]
    answered: int
    solved: int
    requests_opened: int
    unanswered: tuple[tuple[str, int], ...]  # (question as last asked, times asked)
    onboarding_lead_time: Durations
    steps_done: int
    steps_automated: int
    knowledge_gaps: tuple[Any, ...] = ()  # workflows.gaps.Gap, biggest first (empty without a GapFinder)

    @property
    def deflection_rate(self) -> float | None:
        contacts = self.answered + self.requests_opened
        return self.solved / contacts if contacts else None

    @property
    def automated_share(self) -> float | None:
        return self.steps_automated / self.steps_done if self.steps_done else None

    def as_dict(self) -> dict[str, Any]:
        """Stable keys; durations in whole seconds; null where there was nothing to measure."""
        return {
            "window": {"since": self.since.isoformat(), "until": self.until.isoformat()},
            "teams": dict(self.team_names),
            "requests": {"total": self.requests_opened, "by_team": dict(self.by_team),
                         "by_priority": dict(self.by_priority),
                         "by_team_and_priority": {t: dict(p) for t, p in self.by_team_priority.items()}},
            "durations_measured_as": DURATION_DEFINITION,
            "first_response": _timed(self.first_response, self.first_response_by_team),
            "resolution": _timed(self.resolution, self.resolution_by_team),
            "sla": {"breached": len(self.sla_breaches), "breached_requests": list(self.sla_breaches),
                    "first_response_late": len(self.first_response_late),
                    "first_response_late_requests": list(self.first_response_late)},
            "deflection": {"rate": _round(self.deflection_rate), "solved": self.solved,
                           "answered_questions": self.answered, "requests_opened": self.requests_opened,
                           "definition": DEFLECTION_DEFINITION},
            "top_unanswered": [{"question": q, "count": n} for q, n in self.unanswered],
            "knowledge_gaps": [{k: v for k, v in g.as_dict().items() if k != "key"} for g in self.knowledge_gaps],
            "onboarding": {"lead_time": self.onboarding_lead_time.as_dict(),
                           "steps_done": self.steps_done, "steps_automated": self.steps_automated,
                           "automated_share": _round(self.automated_share)},
        }


def build_report(*, requests: Iterable[ItRequest], answers: Iterable[AnswerRecord], runs: Iterable[Run],
                 steps: Iterable[RunStep], teams: TeamDirectory, now: datetime, since: datetime,
                 run_done_at: Mapping[int, datetime] | None = None, gaps: Any = None) -> Report:
    """The report for ``[since, now]``; rows outside the window are ignored, so callers may pass more.

    ``run_done_at`` gives when each run finished (the ``run.done`` audit entry); without it a done run's
    ``updated_at`` stands in. ``gaps`` (a ``workflows.gaps.GapFinder``) groups the unanswered questions into
    knowledge gaps by meaning and owning team.
    """
    inside = lambda moment: moment is not None and since <= moment <= now  # noqa: E731
    reqs = [r for r in requests if inside(r.created_at)]
    names = _team_names(teams, {r.team for r in reqs})
    by_team = {t: n for t, n in ((t, sum(r.team == t for r in reqs)) for t in names) if n}
    priorities = list(PRIORITIES) + sorted({r.priority for r in reqs} - set(PRIORITIES))
    by_priority = {p: sum(r.priority == p for r in reqs) for p in priorities}
    matrix = {t: {p: sum(r.team == t and r.priority == p for r in reqs) for p in priorities} for t in by_team}

    def waits(rows: list[ItRequest], end: str) -> Durations:
        return durations(wait for r in rows if (wait := business_wait(r, end, teams)) is not None)

    breaches, late = _sla(reqs, teams, now)
    asked = [a for a in answers if inside(a.at)]
    done = run_done_at or {}
    finished_at = {r.id: done.get(r.id) or r.updated_at for r in runs if r.status == "done"}
    all_runs = list(runs)
    lead = [finished_at[r.id] - r.created_at for r in all_runs
            if r.kind == "onboarding" and inside(finished_at.get(r.id)) and r.created_at]
    touched = {r.id for r in all_runs if inside(r.created_at) or inside(finished_at.get(r.id))}
    done_steps = [s for s in steps if s.run_id in touched and s.status == "done"]
    return Report(
        since=since, until=now, team_names=names, by_team=by_team, by_priority=by_priority, by_team_priority=matrix,
        first_response=waits(reqs, "first_response_at"),
        first_response_by_team={t: waits([r for r in reqs if r.team == t], "first_response_at") for t in by_team},
        resolution=waits(reqs, "resolved_at"),
        resolution_by_team={t: waits([r for r in reqs if r.team == t], "resolved_at") for t in by_team},
        sla_breaches=breaches, first_response_late=late,
        answered=sum(a.outcome in ANSWERED for a in asked), solved=sum(a.outcome == "solved" for a in asked),
        requests_opened=len(reqs), unanswered=_unanswered(asked), onboarding_lead_time=durations(lead),
        steps_done=len(done_steps), steps_automated=sum(s.done_by == "itbot" for s in done_steps),
        knowledge_gaps=tuple(gaps.find(asked)) if gaps is not None else (),
    )


def business_wait(request: ItRequest, end: str, teams: TeamDirectory) -> timedelta | None:
    """Business time of the owning team from the request's creation to ``end`` ("first_response_at" or
    "resolved_at"); None when there is nothing to time: not reached, not resolved, or a team not in config."""
    until, team = getattr(request, end), teams.teams.get(request.team)
    start = request.clock_start
    if until is None or team is None or start is None or until < start:
        return None
    if end == "resolved_at" and request.status != "resolved":
        return None
    return business_time_between(start, until, team.business_hours, team.zone, team.holidays)


def _timed(overall: Durations, by_team: Mapping[str, Durations]) -> dict[str, Any]:
    return {"measured_in": DURATION_UNIT, "overall": overall.as_dict(),
            "by_team": {t: d.as_dict() for t, d in by_team.items()}}


def _team_names(teams: TeamDirectory, seen: set[str]) -> dict[str, str]:
    names = {tid: team.name for tid, team in teams.teams.items()}
    return names | {tid: tid for tid in sorted(seen - set(names))}


def _sla(reqs: list[ItRequest], teams: TeamDirectory, now: datetime) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Breached: the sweep stamped it, or it was resolved after (or is still open past) its resolution due
    time. First response late: answered after its first-response due time, or not answered and past it."""
    breached, late = [], []
    for r in reqs:
        stamped = r.sla_breached_at is not None
        state = None
        if r.status not in _NOT_COUNTED and r.team in teams.teams:
            try:
                state = sla_state(r.clock_start, now, r.priority, teams.teams[r.team],
                                  first_response_at=r.first_response_at, resolved_at=r.resolved_at)
            except ValueError:  # a priority the team has no SLA for: only the stamp counts
                state = None
        if stamped or (state and (r.resolved_at or now) > state.resolution_due):
            breached.append(r.number)
        if state and state.first_response_breached:
            late.append(r.number)
    return tuple(breached), tuple(late)


def _unanswered(asked: list[AnswerRecord]) -> tuple[tuple[str, int], ...]:
    counts: Counter[str] = Counter()
    wording: dict[str, str] = {}
    for a in sorted(asked, key=lambda a: (a.at, a.id or 0)):
        key = normalise_question(a.question)
        if a.outcome in UNANSWERED and key:
            counts[key] += 1
            wording[key] = " ".join(a.question.split())
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_UNANSWERED]
    return tuple((wording[k], n) for k, n in top)


# ------------------------------------------------------------------ words for people

def human_duration(value: timedelta | None, *, days: bool = True) -> str:
    """``45m``, ``3h 05m``, ``2d 4h``; ``—`` for nothing measured.

    ``days=False`` counts whole hours past a day (``52h 00m``): for business time, where a "day" of 24 hours
    would mean nothing (one team's working day is 10 hours, another's 24).
    """
    if value is None:
        return "—"
    minutes = round(value.total_seconds() / 60)
    whole_days, rest = divmod(minutes, 24 * 60) if days else (0, minutes)
    hours, mins = divmod(rest, 60)
    if whole_days:
        return f"{whole_days}d {hours}h"
    return f"{hours}h {mins:02d}m" if hours else f"{mins}m"


def business_duration(value: timedelta | None) -> str:
    """A business-time figure for people: hours and minutes, never days."""
    return human_duration(value, days=False)


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def weekly_summary(report: Report) -> str:
    """A few lines of Slack mrkdwn for a channel post."""
    span = f"{report.since:%d %b} – {report.until:%d %b %Y}"
    busiest = ", ".join(f"{report.team_names[t]} {n}" for t, n in
                        sorted(report.by_team.items(), key=lambda kv: -kv[1])[:3]) or "none"
    breaches = len(report.sla_breaches)
    lines = [
        f"*IT report, {span}*",
        f"• *{report.requests_opened}* requests opened ({busiest})",
        f"• First response (business hours): median {business_duration(report.first_response.median)}, "
        f"p90 {business_duration(report.first_response.p90)}",
        f"• Resolution (business hours): median {business_duration(report.resolution.median)}, "
        f"p90 {business_duration(report.resolution.p90)}",
        f"• SLA breaches: *{breaches}*" + (f" ({', '.join(report.sla_breaches[:5])}"
                                           f"{', …' if breaches > 5 else ''})" if breaches else ""),
        f"• Deflection: *{percent(report.deflection_rate)}* ({report.solved} solved by the knowledge base)",
        f"• Onboarding: median lead time {human_duration(report.onboarding_lead_time.median)}, "
        f"{percent(report.automated_share)} of steps automated",
    ]
    if report.unanswered:
        question, count = report.unanswered[0]
        lines.append(f"• Most asked without an answer: “{_mrkdwn(question)[:80]}” ({count}×)")
    return "\n".join(lines)


def _mrkdwn(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _seconds(value: timedelta | None) -> int | None:
    return None if value is None else round(value.total_seconds())


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
