"""Each person's Home tab: their sections gathered from the store, one page each, rendered by home.json.j2.

Everyone sees their open requests, their checklist tasks and what they may approve; IT staff also see their
teams' queue with SLA state, HR the onboarding/offboarding pipeline. Only the viewer's own records are read
for the first section, so an employee never sees anyone else's request.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from functools import cached_property
from typing import Any, Callable, Mapping

from bot.home_ids import HOME_PAGE_BLOCK, HomeActionId
from bot.ids import GapActionId
from bot.notify import status_text
from bot.render import mention, render
from connectors.services import Services
from workflows.conversation import capabilities
from workflows.home import (LIVE_RUNS, Roles, approval_role, encode_pages, my_tasks, page_of, page_value,
                            pipeline_order, progress, queue_order, roles_of, sla_label)

log = logging.getLogger(__name__)

MAX_BLOCKS = 100
TITLES = {"requests": "My open requests", "tasks": "My tasks", "approvals": "My approvals",
          "queue": "My team's queue", "pipeline": "Onboarding and offboarding", "gaps": "Knowledge gaps"}
EMPTY = {"requests": "Nothing here. Send me a message whenever something doesn't work.",
         "tasks": "Nothing here. Checklist tasks you or your team own will show up here.",
         "approvals": "Nothing here. Nothing is waiting for your decision.",
         "queue": "Nothing here. Your team's queue is empty.",
         "pipeline": "Nothing here. No onboarding or offboarding is under way.",
         "gaps": "Nothing here. Every question your team owns found an article in the last 30 days."}
_SLA_ICON = {"breached": ":red_circle:", "at risk": ":large_orange_circle:", "on track": ":large_green_circle:"}


def slack_date(moment: datetime | None) -> str:
    """A time Slack shows in the viewer's own time zone (UTC in the fallback text)."""
    if moment is None:
        return "—"
    fallback = moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if moment.tzinfo else str(moment)
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


class _LiveRuns:
    """Active and blocked runs with their steps, read in one query (whatever the number of runs) once per view."""

    def __init__(self, store: Any):
        self.store = store

    @cached_property
    def _read(self) -> list[tuple[Any, list[Any]]]:
        return self.store.runs_with_steps(LIVE_RUNS)

    @cached_property
    def runs(self) -> list[Any]:
        return [run for run, _ in self._read]

    @cached_property
    def steps(self) -> dict[int, list[Any]]:
        return {run.id: steps for run, steps in self._read}


class _Sections:
    """One method per section: (all records, how one record is shown, a note for the whole list)."""

    def __init__(self, services: Services, roles: Roles, now: datetime):
        self.s, self.roles, self.now = services, roles, now
        self.live = _LiveRuns(services.store)

    def _team_name(self, team_id: str) -> str:
        try:
            return self.s.teams.team(team_id).name
        except KeyError:
            return team_id

    def requests(self) -> tuple[list[Any], Callable[[Any], dict], str]:
        mine = [r for r in self.s.store.list_requests(requester_slack_id=self.roles.user, open_only=True) if r.is_open]
        mine.sort(key=lambda r: r.id, reverse=True)  # newest first: what they just asked about
        return mine, lambda r: {"number": r.number, "summary": r.summary, "status": status_text(r),
                                "team": self._team_name(r.team), "priority": r.priority,
                                "opened": slack_date(r.created_at)}, ""

    def tasks(self) -> tuple[list[Any], Callable[[Any], dict], str]:
        found = my_tasks(self.live.runs, self.live.steps, self.roles)

        def show(pair: tuple[Any, Any]) -> dict:
            run, step = pair
            team = self.s.teams.teams.get(step.team)
            return {"title": step.title, "person": run.display_name, "kind": run.kind, "date": run.effective_date,
                    "team": self._team_name(step.team), "due": slack_date(step.due_at),
                    "overdue": bool(step.due_at and step.due_at < self.now),
                    "owner": mention(step.owner_slack_id) if step.owner_slack_id else "",
                    "channel": team.channel if team else ""}
        return found, show, ""

    def approvals(self) -> tuple[list[Any], Callable[[Any], dict], str]:
        found: list[tuple] = []
        if self.roles.it_approver or self.roles.security:
            runs = {run.id: run for run in self.live.runs}
            for approval in self.s.store.list_approvals(status="pending"):
                run = runs.get(approval.run_id) or self.s.store.get_run(approval.run_id)
                role = approval_role(approval, run, self.roles, self.now)
                if role:
                    found.append(("run", approval, run, role))
        for r in self.s.store.list_requests(status="awaiting_approval"):
            if r.approver == self.roles.user and r.requester_slack_id != self.roles.user:
                found.append(("request", r, None, "approver"))
        channel = self.s.run_policy.approvals_channel

        def show(entry: tuple) -> dict:
            kind, record, run, role = entry
            if kind == "request":
                return {"kind": kind, "number": record.number, "requester": mention(record.requester_slack_id),
                        "summary": record.summary, "team": self._team_name(record.team)}
            return {"kind": kind, "summary": record.summary or f"Run {record.run_id}", "role": role,
                    "requester": mention(record.requested_by), "expires": slack_date(record.expires_at),
                    "channel": channel}
        return found, show, ""

    def queue(self) -> tuple[list[Any], Callable[[Any], dict], str]:
        found = queue_order(self.s.store.list_requests(open_only=True), self.roles)
        states: dict[int, Any] = {}
        for r in found:
            try:
                states[r.id] = self.s.helpdesk.sla(r, self.now)  # the current tier's window
            except (ValueError, KeyError, TypeError) as exc:  # a bad priority or team must not blank the tab
                log.warning("no SLA state for %s: %s", r.number, exc)
        labels = {rid: sla_label(state) for rid, state in states.items()}
        counts = [f"{n} {label}" for label in ("breached", "at risk")
                  if (n := sum(v == label for v in labels.values()))]

        def show(r: Any) -> dict:
            state = states.get(r.id)
            label = labels.get(r.id, "no SLA")
            return {"number": r.number, "summary": r.summary, "priority": r.priority, "status": status_text(r),
                    "team": self._team_name(r.team), "due": slack_date(state.resolution_due if state else None),
                    "sla": label, "icon": _SLA_ICON.get(label, ":white_circle:"), "opened": slack_date(r.created_at)}
        return found, show, " · ".join(counts)

    def gaps(self) -> tuple[list[Any], Callable[[Any], dict], str]:
        from bot.gaps import team_gaps

        def show(g: Any) -> dict:
            return {"question": g.question, "count": g.count, "askers": g.askers, "team": self._team_name(g.team),
                    "last": slack_date(g.last_asked), "draft": f"{g.team}:{g.key}"}
        return team_gaps(self.s, self.roles.teams, self.now), show, "questions nobody's article answered, 30 days"

    def pipeline(self) -> tuple[list[Any], Callable[[Any], dict], str]:
        found = pipeline_order(self.live.runs)

        def show(run: Any) -> dict:
            done, total = progress(self.live.steps.get(run.id, ()))
            return {"name": run.display_name, "kind": run.kind, "date": run.effective_date, "status": run.status,
                    "reason": run.blocked_reason or "", "done": done, "total": total,
                    "requester": mention(run.requested_by)}
        blocked = sum(run.status == "blocked" for run in found)
        return found, show, f"{blocked} blocked" if blocked else ""


def fallback_view(services: Services) -> dict[str, Any]:
    """What is published when the lists cannot be read (the store is down): who itbot is, and to try again."""
    intro = capabilities(services.org) + "\n\n_I couldn't load your requests and tasks just now. " \
                                         "Open this tab again in a minute._"
    return render("home", sections=[], title=f"{services.org.bot_name} — IT help", intro=intro, metadata="{}",
                  HomeActionId=HomeActionId, GapActionId=GapActionId, page_block=HOME_PAGE_BLOCK)


def home_view(services: Services, user: str, pages: Mapping[str, int] | None = None) -> dict[str, Any]:
    """The Home view for ``user``, each section on the page ``pages`` asks for (the first by default)."""
    pages = dict(pages or {})
    roles = roles_of(user, services.teams, services.run_policy)
    now = services.helpdesk.clock()
    builder = _Sections(services, roles, now)
    sections = []
    for key in roles.sections():
        records, show, note = getattr(builder, key)()
        page = page_of(records, pages.get(key, 0))
        pages[key] = page.number
        sections.append({"key": key, "title": TITLES[key], "empty": EMPTY[key], "note": note,
                         "items": [show(r) for r in page.items], "first": page.first, "last": page.last,
                         "total": page.total, "more": page_value(key, page.number + 1) if page.has_more else "",
                         "back": page_value(key, 0) if page.number else ""})
    view = render("home", sections=sections, title=f"{services.org.bot_name} — IT help",
                  intro=capabilities(services.org), metadata=encode_pages(pages), HomeActionId=HomeActionId, GapActionId=GapActionId,
                  page_block=HOME_PAGE_BLOCK)
    if len(view["blocks"]) > MAX_BLOCKS:  # cannot happen with the page size; never publish a view Slack refuses
        log.error("home view for %s had %d blocks; cut to %d", user, len(view["blocks"]), MAX_BLOCKS)
        view["blocks"] = view["blocks"][:MAX_BLOCKS]
    return view
