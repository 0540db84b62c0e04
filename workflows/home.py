"""The Home tab's rules as plain data: who sees which section, what is theirs, paging, labels.

Pure: no Slack, no store, no clock. ``bot/home.py`` fetches the records and turns these answers into blocks.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Sequence

from workflows.models import FINISHED_STEPS, LIVE_RUNS

PAGE_SIZE = 10
SECTIONS = ("requests", "tasks", "approvals", "queue", "gaps", "pipeline")
_FAR_FUTURE = datetime.max.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class Roles:
    """What a person is to itbot; everyone has the first three sections, these add the others."""

    user: str
    teams: tuple[str, ...]       # team ids (teams.yaml) they are a member of: IT staff when not empty
    hr: bool = False
    it_approver: bool = False
    security: bool = False

    @property
    def it_staff(self) -> bool:
        return bool(self.teams)

    def sections(self) -> tuple[str, ...]:
        extra = (("queue", "gaps") if self.it_staff else ()) + (("pipeline",) if self.hr else ())
        return ("requests", "tasks", "approvals") + extra


def roles_of(user: str, teams: Any, policy: Any) -> Roles:
    """``teams`` is a TeamDirectory, ``policy`` a RunPolicy."""
    mine = tuple(tid for tid, team in teams.teams.items() if user in team.members)
    return Roles(user=user, teams=mine, hr=user in policy.hr, it_approver=user in policy.it_approvers,
                 security=policy.security_team in mine)


# ------------------------------------------------------------------ paging

@dataclass(frozen=True)
class Page:
    items: tuple[Any, ...]
    number: int                  # 0-based, clamped to the last page
    total: int
    size: int

    @property
    def first(self) -> int:      # 1-based position of the first item shown
        return self.number * self.size + 1 if self.total else 0

    @property
    def last(self) -> int:
        return self.number * self.size + len(self.items)

    @property
    def has_more(self) -> bool:
        return self.last < self.total


def page_of(items: Sequence[Any], number: int = 0, size: int = PAGE_SIZE) -> Page:
    """The ``number``-th page of ``items``; a page past the end (the list shrank) shows the last one."""
    if size < 1:
        raise ValueError("page size must be at least 1")
    last_page = max(0, (len(items) - 1) // size)
    number = min(max(0, number), last_page)
    return Page(tuple(items[number * size:(number + 1) * size]), number, len(items), size)


def page_value(section: str, number: int) -> str:
    return f"{section}:{number}"


def parse_page_value(value: str) -> tuple[str, int] | None:
    """``"queue:2"`` -> ("queue", 2); None for anything else (never trust a button's value)."""
    section, _, number = str(value).partition(":")
    if section not in SECTIONS or not number.isdigit() or len(number) > 6:
        return None
    return section, int(number)


def decode_pages(metadata: str | None) -> dict[str, int]:
    """The page each section was on, as kept in the published view's private_metadata."""
    try:
        data = json.loads(metadata or "{}")
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if k in SECTIONS and isinstance(v, int) and 0 <= v < 10**6}


def encode_pages(pages: Mapping[str, int]) -> str:
    return json.dumps({k: v for k, v in sorted(pages.items()) if v}, separators=(",", ":"))


# ------------------------------------------------------------------ what is whose

def progress(steps: Iterable[Any]) -> tuple[int, int]:
    """(finished steps, all steps) of a run."""
    steps = list(steps)
    return sum(s.status in FINISHED_STEPS for s in steps), len(steps)


def my_tasks(runs: Iterable[Any], steps_of: Mapping[int, Sequence[Any]], roles: Roles) -> list[tuple[Any, Any]]:
    """(run, step) for every open task the person claimed or their teams own, soonest due first."""
    found = []
    for run in runs:
        if run.status not in LIVE_RUNS:
            continue
        for step in steps_of.get(run.id, ()):
            if step.status == "task" and (step.owner_slack_id == roles.user or step.team in roles.teams):
                found.append((run, step))
    return sorted(found, key=lambda rs: (rs[1].due_at or _FAR_FUTURE, rs[0].id, rs[1].position))


def approval_role(approval: Any, run: Any, roles: Roles, now: datetime) -> str | None:
    """What ``roles.user`` may still give on a run approval ("IT" or "Security"), or None.

    Mirrors the engine's check at click time, so nobody is shown a card they would be refused on.
    """
    if approval.status != "pending" or (approval.expires_at and approval.expires_at < now):
        return None
    person = (run.person if run else {}) or {}
    if roles.user in (approval.requested_by, person.get("slack_user_id")):
        return None
    if not approval.needs_security:
        return "IT" if roles.it_approver else None
    if roles.it_approver and approval.decided_by is None and approval.security_decided_by != roles.user:
        return "IT"
    if roles.security and approval.security_decided_by is None and approval.decided_by != roles.user:
        return "Security"
    return None


def queue_order(requests: Iterable[Any], roles: Roles) -> list[Any]:
    """Open requests of the person's teams that the team is working on, oldest first.

    Requests still waiting for approval are left out: they are not the team's yet and their SLA sweep skips them.
    """
    mine = [r for r in requests if r.team in roles.teams and r.is_open and r.status != "awaiting_approval"]
    return sorted(mine, key=lambda r: (r.created_at or _FAR_FUTURE, r.id or 0))


def sla_label(state: Any) -> str:
    """"breached", "at risk" or "on track" for a ``workflows.sla.SlaState``."""
    if state.breached:
        return "breached"
    if state.warning:
        return "at risk"
    return "on track"


def pipeline_order(runs: Iterable[Any]) -> list[Any]:
    """Active and blocked runs, blocked ones first, then by effective date."""
    live = [r for r in runs if r.status in LIVE_RUNS]
    return sorted(live, key=lambda r: (r.status != "blocked", r.effective_date, r.id or 0))
