"""Daily digests: who gets one today, and what it lists (due and overdue tasks, pending approvals).

Pure and clock-driven: ``digests_due(now, ...)`` returns the digests that should go out at ``now`` for
everyone whose local time has passed ``send_at`` on a working day. The caller records each one sent per
person and local date, so a sweep run every few minutes sends each digest once, and a sweep after downtime
catches up once instead of repeating.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path
from typing import Any, Callable, Iterable
from zoneinfo import ZoneInfo

from workflows.config import ConfigError, load_yaml, require_mapping

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_ITEMS = 45   # one block per item plus the header and footer blocks, under Slack's 50 per message
_KEYS = ("send_at", "working_days", "lead_after_days", "cio_after_days", "max_items", "messages_per_second")


@dataclass(frozen=True)
class ReminderPolicy:
    send_at: time = time(9, 0)
    working_days: frozenset[int] = frozenset(range(5))
    lead_after_days: int = 2
    cio_after_days: int = 5
    max_items: int = 15
    messages_per_second: float = 20.0


@dataclass(frozen=True)
class Item:
    kind: str              # task | approval (a run's) | request_approval (a help-desk request's) | escalation
    title: str
    due_at: datetime | None
    overdue_days: int
    ref: int               # step id (task, escalation) or approval id
    where: tuple[str | None, str | None] = (None, None)   # (channel, ts) of its card
    context: str = ""


@dataclass(frozen=True)
class Digest:
    user: str
    local_date: str
    items: tuple[Item, ...] = field(default_factory=tuple)


def load_reminder_policy(config_dir: Path | str) -> ReminderPolicy:
    path = Path(config_dir) / "reminders.yaml"
    data = require_mapping(load_yaml(path), path, "reminders.yaml")
    for key in data:
        if key not in _KEYS:
            raise ConfigError(path, data.line_of(key), f"unknown key {key!r} (known: {', '.join(_KEYS)})")
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", str(data.get("send_at", "09:00")))
    if not match:
        raise ConfigError(path, data.line_of("send_at"), 'send_at must be a quoted local time such as "09:00"')
    days = data.get("working_days", list(DAYS[:5]))
    if not isinstance(days, list) or not days or any(str(d).lower() not in DAYS for d in days):
        raise ConfigError(path, data.line_of("working_days"), f"working_days must list days from {', '.join(DAYS)}")
    numbers = {}
    for key, default in (("lead_after_days", 2), ("cio_after_days", 5), ("max_items", 15), ("messages_per_second", 20)):
        value = data.get(key, default)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise ConfigError(path, data.line_of(key), f"{key} must be a positive number")
        numbers[key] = value
    if numbers["max_items"] > MAX_ITEMS:
        raise ConfigError(path, data.line_of("max_items"), f"max_items must be at most {MAX_ITEMS}: a digest has one "
                                                           f"block per item and Slack refuses a message over 50")
    if numbers["cio_after_days"] < numbers["lead_after_days"]:
        raise ConfigError(path, data.line_of("cio_after_days"), "cio_after_days must not be less than lead_after_days")
    return ReminderPolicy(time(int(match.group(1)), int(match.group(2))),
                          frozenset(DAYS.index(str(d).lower()) for d in days), int(numbers["lead_after_days"]),
                          int(numbers["cio_after_days"]), int(numbers["max_items"]), float(numbers["messages_per_second"]))


def digests_due(now: datetime, *, tasks: Iterable[tuple[Any, Any]], approvals: Iterable[Any],
                owners_of: Callable[[Any], list[str]], approvers_of: Callable[[Any], list[str]],
                lead_of: Callable[[str], str], cio: str, timezone_of: Callable[[str], str],
                policy: ReminderPolicy, request_approvals: Iterable[Any] = ()) -> list[Digest]:
    """The digests to send at ``now``: everyone with something due or overdue, whose local time has passed
    ``send_at`` today on a working day. Nobody with nothing listed gets one."""
    items: dict[str, list[Item]] = {}
    for run, step in tasks:
        owners = owners_of(step)
        if step.due_at is None or not owners:
            continue
        overdue = _days_late(now, step.due_at, timezone_of(owners[0]))
        if overdue < 0 and not _due_today(now, step.due_at, timezone_of(owners[0])):
            continue  # due on a later day
        item = Item("task", f"{step.title} — {run.display_name}", step.due_at, max(overdue, 0), step.id,
                    (step.channel, step.message_ts), run.kind)
        for owner in owners:
            items.setdefault(owner, []).append(item)
        for boss, after in ((lead_of(step.team), policy.lead_after_days), (cio, policy.cio_after_days)):
            if overdue >= after and boss and boss not in owners:  # an owner sees the task already
                items.setdefault(boss, []).append(Item("escalation", item.title, step.due_at, overdue, step.id,
                                                       item.where, f"{run.kind}, {overdue} days late"))
    for approval in approvals:
        item = Item("approval", approval.summary, approval.expires_at, 0, approval.id,
                    (approval.channel, approval.message_ts), "approval")
        for user in approvers_of(approval):
            items.setdefault(user, []).append(item)
    for request in request_approvals:   # access, software or hardware requests waiting for their approver
        if request.approver and request.approver != request.requester_slack_id:
            items.setdefault(request.approver, []).append(
                Item("request_approval", f"{request.number} · {request.summary}", None, 0, request.id,
                     context=request.requester_slack_id))
    out = []
    for user, listed in items.items():
        local = now.astimezone(ZoneInfo(timezone_of(user)))
        if local.weekday() not in policy.working_days or local.time() < policy.send_at:
            continue
        unique = {(i.kind, i.ref): i for i in listed}
        ordered = sorted(unique.values(), key=lambda i: (-i.overdue_days, "approval" not in i.kind, i.title))
        out.append(Digest(user, local.date().isoformat(), tuple(ordered)))
    return out


def _days_late(now: datetime, due: datetime | None, tz: str) -> int:
    """Whole days late counted in local dates (due Monday 17:00 is 1 day late on Tuesday morning); -1 when
    not yet due."""
    if due is None or now < due:
        return -1
    zone = ZoneInfo(tz)
    return (now.astimezone(zone).date() - due.astimezone(zone).date()).days


def _due_today(now: datetime, due: datetime, tz: str) -> bool:
    zone = ZoneInfo(tz)
    return due.astimezone(zone).date() <= now.astimezone(zone).date()
