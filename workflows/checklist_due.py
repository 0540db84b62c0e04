"""The pieces of a checklist step, and planning one run purely: which steps apply, in what order, when due.

``Due`` is a step's due expression, relative to the run's anchor date (the start date, the last day or the
effective date of a role change), in the person's own time zone:

    immediately               as soon as the run starts (``now``), or the anchor moment
    day N [HH:MM] [local]     day 1 is the anchor date itself, day 2 the day after …
    [+|-]N days [HH:MM] [local]
                              N days after (+) or before (-) the anchor date; "+0 days 17:00" is the anchor date

Without a clock time the checklist's ``default_time`` applies. ``Condition`` is a step's ``when``. The
parsers here are called by ``workflows.checklist`` while it loads a file; the rest takes loaded steps and
a person (a mapping or an object with attributes) and never reads files, the clock or the network.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo

from workflows.config import ConfigError, Located
from workflows.teams import check_keys, mapping_at

if TYPE_CHECKING:  # pragma: no cover
    from workflows.checklist import Checklist, Step

DUE_HELP = 'use "immediately", "day 1 09:00 local", "-3 days" or "+0 days 17:00"'
_CLOCK = r"(?:\s+(\d{1,2}):(\d{2}))?(?:\s+local)?"
_DAY = re.compile(r"^day\s+(\d+)" + _CLOCK + "$")
_RELATIVE = re.compile(r"^([+-]?)(\d+)\s+days?" + _CLOCK + "$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
CHANGEABLE = ("department", "manager", "location", "title", "office")
WHEN_KEYS = ("department", "location", "contractor", "privileged", "changed")


@dataclass(frozen=True)
class Due:
    text: str                   # as written in the YAML
    immediate: bool = False
    days: int = 0               # offset from the anchor date
    at: time = time(9, 0)       # local clock time (the checklist's default_time when none was written)


def parse_clock(text: Any) -> time:
    """``"09:00"`` → time(9, 0); ValueError otherwise."""
    match = _TIME.match(text.strip()) if isinstance(text, str) else None
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        why = "YAML reads an unquoted 17:00 as a number; " if type(text) is int else ""
        raise ValueError(f"bad time {text!r} ({why}write HH:MM in quotes, e.g. \"09:00\")")
    return time(int(match.group(1)), int(match.group(2)))


def parse_due(text: Any, default_time: time) -> Due:
    """One due expression (see the module doc) → ``Due``; ValueError with the reason otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"bad due {text!r} ({DUE_HELP})")
    norm = " ".join(text.lower().split())
    if norm == "immediately":
        return Due(text, immediate=True, at=default_time)
    day, rel = _DAY.match(norm), _RELATIVE.match(norm)
    if day:
        days = int(day.group(1)) - 1
        if days < 0:
            raise ValueError(f"bad due {text!r}: days are counted from day 1 (the anchor date)")
        hour, minute = day.group(2), day.group(3)
    elif rel:
        days = -int(rel.group(2)) if rel.group(1) == "-" else int(rel.group(2))
        hour, minute = rel.group(3), rel.group(4)
    else:
        raise ValueError(f"bad due {text!r} ({DUE_HELP})")
    at = parse_clock(f"{hour}:{minute}") if hour is not None else default_time
    return Due(text, days=days, at=at)


def _zone(tz: str | tzinfo) -> tzinfo:
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def due_at(step: "Step | Due", anchor: date | datetime, tz: str | tzinfo, *, now: datetime | None = None) -> datetime:
    """When ``step`` is due, as an aware datetime in ``tz`` (the person's IANA zone).

    ``anchor`` is the anchor date, or an aware datetime (e.g. "terminate now"): its date in ``tz`` is then
    the anchor date. "immediately" is ``now`` when given, else the anchor datetime, else the start of the
    anchor date. A wall time the clocks skip (spring forward) moves on by the gap; a repeated one (fall
    back) is its first occurrence.
    """
    due = step if isinstance(step, Due) else step.due
    zone = _zone(tz)
    if due.immediate:
        if now is not None:
            return now.astimezone(zone)
        if isinstance(anchor, datetime):
            return anchor.astimezone(zone)
        return datetime.combine(anchor, time(0), zone)
    day = anchor.astimezone(zone).date() if isinstance(anchor, datetime) else anchor
    wall = datetime.combine(day + timedelta(days=due.days), due.at, zone)
    return wall.astimezone(timezone.utc).astimezone(zone)  # normalise skipped wall times


# ---------------------------------------------------------------------------------------------- conditions

def person_value(person: Any, name: str, default: Any = None) -> Any:
    """A field of ``person``, a mapping or any object with attributes."""
    if isinstance(person, Mapping):
        return person.get(name, default)
    return getattr(person, name, default)


def fold_name(value: Any) -> str | None:
    """A name compared without case or outer spaces; None when there is no name."""
    return value.strip().casefold() if isinstance(value, str) and value.strip() else None


@dataclass(frozen=True)
class Condition:
    """A step's ``when``: every part given must hold (None / empty means "any")."""

    departments: frozenset[str] | None = None   # casefolded
    locations: frozenset[str] | None = None     # casefolded; the person's location, else their office
    contractor: bool | None = None
    privileged: bool | None = None
    changed: tuple[str, ...] = ()               # role change: one of these differs from a given previous_<field>

    def matches(self, person: Any) -> bool:
        if self.departments is not None and fold_name(person_value(person, "department")) not in self.departments:
            return False
        location = person_value(person, "location") or person_value(person, "office")
        if self.locations is not None and fold_name(location) not in self.locations:
            return False
        for flag in ("contractor", "privileged"):
            wanted = getattr(self, flag)
            if wanted is not None and bool(person_value(person, flag, False)) != wanted:
                return False
        if self.changed and not any(_differs(person, f) for f in self.changed):
            return False
        return True


def _differs(person: Any, field: str) -> bool:
    before, after = person_value(person, f"previous_{field}"), person_value(person, field)
    if before is None:  # not told what it was: nothing to compare with
        return False
    if isinstance(before, str) and isinstance(after, str):
        return before.strip().casefold() != after.strip().casefold()
    return before != after


def parse_condition(node: Located, path: Path, what: str) -> Condition:
    """The ``when`` of a step's YAML ``node``; ``ConfigError`` at the offending line."""
    if "when" not in node:
        return Condition()
    when = mapping_at(node["when"], path, node.line_of("when"), f"{what} when")
    check_keys(when, WHEN_KEYS, path, f"{what} when")
    parts: dict[str, Any] = {}
    for key, value in when.items():
        line = when.line_of(key)
        if key in ("department", "location"):
            values = [value] if isinstance(value, str) else value
            if not isinstance(values, list) or not values or not all(fold_name(v) for v in values):
                raise ConfigError(path, line, f"{what}: when {key} must be a name or a list of names")
            parts[f"{key}s"] = frozenset(fold_name(v) for v in values)
        elif key in ("contractor", "privileged"):
            if not isinstance(value, bool):
                raise ConfigError(path, line, f"{what}: when {key} must be true or false")
            parts[key] = value
        else:
            if not isinstance(value, list) or not value or any(v not in CHANGEABLE for v in value):
                raise ConfigError(path, line, f"{what}: when changed must list some of {', '.join(CHANGEABLE)}")
            parts["changed"] = tuple(value)
    return Condition(**parts)


def parse_department_map(data: Located, key: str, path: Path) -> Mapping[str, tuple[str, ...]]:
    """``department_groups``/``department_licenses``: department (any case) → names."""
    node = mapping_at(data.get(key, Located()), path, data.line_of(key), key)
    out: dict[str, tuple[str, ...]] = {}
    for dept, names in node.items():
        line = node.line_of(dept)
        if not isinstance(dept, str) or not dept.strip() or fold_name(dept) in out:
            raise ConfigError(path, line, f"{key}: {dept!r} must be a department name, once")
        try:
            out[fold_name(dept)] = name_list(names)
        except ValueError as exc:
            raise ConfigError(path, line, f"{key} {dept}: {exc}") from None
    return MappingProxyType(out)


def name_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, list) and value and all(fold_name(v) for v in value):
        return tuple(v.strip() for v in value)
    raise ValueError("must be a non-empty list of names")


# ---------------------------------------------------------------------------------------------- order

def find_cycle(steps: Sequence["Step"]) -> list[str] | None:
    """A dependency cycle among ``steps`` as ids, first id repeated at the end; None if there is none.
    The cycle starts at its step that comes first in ``steps``."""
    order = {s.id: n for n, s in enumerate(steps)}
    needs = {s.id: [r for r in s.requires if r in order] for s in steps}
    state: dict[str, int] = {}  # 1 = on the path, 2 = finished
    path: list[str] = []

    def visit(sid: str) -> list[str] | None:
        state[sid] = 1
        path.append(sid)
        for nxt in needs[sid]:
            if state.get(nxt) == 1:
                loop = path[path.index(nxt):]
                first = min(range(len(loop)), key=lambda i: order[loop[i]])
                loop = loop[first:] + loop[:first]
                return loop + [loop[0]]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[sid] = 2
        path.pop()
        return None

    for step in steps:
        if step.id not in state and (found := visit(step.id)):
            return found
    return None


def topological_order(steps: Iterable["Step"]) -> list["Step"]:
    """``steps`` with every step after those it requires, otherwise in the given order. Requirements on
    steps not in ``steps`` are ignored. ValueError naming the cycle if there is one."""
    pending = list(steps)
    present = {s.id for s in pending}
    placed: set[str] = set()
    out: list[Step] = []
    while pending:
        for n, step in enumerate(pending):
            if all(r in placed or r not in present for r in step.requires):
                out.append(pending.pop(n))
                placed.add(step.id)
                break
        else:
            raise ValueError("dependency cycle: " + " → ".join(find_cycle(pending) or []))
    return out


def steps_for(checklist: "Checklist", person: Any) -> list["Step"]:
    """The steps whose ``when`` holds for ``person``, in dependency order. A requirement on a step that does
    not apply is replaced by that step's own requirements (so order still holds through it)."""
    chosen = [s for s in checklist.steps if s.when.matches(person)]
    ids = {s.id for s in chosen}
    by_id = {s.id: s for s in checklist.steps}

    def effective(req: str, seen: frozenset[str] = frozenset()) -> list[str]:
        if req in ids:
            return [req]
        if req in seen or req not in by_id:
            return []
        return [r for sub in by_id[req].requires for r in effective(sub, seen | {req})]

    pruned = [replace(s, requires=tuple(dict.fromkeys(r for req in s.requires for r in effective(req))))
              for s in chosen]
    return topological_order(pruned)


def ready_steps(steps: Sequence["Step"], done_ids: Iterable[str]) -> list["Step"]:
    """Steps not yet done whose requirements are all done (or not among ``steps``), in the given order."""
    done = set(done_ids)
    present = {s.id for s in steps}
    return [s for s in steps if s.id not in done and all(r in done or r not in present for r in s.requires)]


def anchor_date(checklist: "Checklist", person: Any) -> date | None:
    """The person's date the checklist counts from (``start_date``, ``last_day`` or ``effective_date``)."""
    value = person_value(person, checklist.anchor)
    if isinstance(value, str):
        return date.fromisoformat(value)
    return value


def action_arguments(checklist: "Checklist", step: "Step", person: Any) -> dict[str, Any]:
    """The verb's keyword arguments for ``person`` (besides the username): ``groups``/``licenses`` resolved
    through the checklist's department maps, less ``keep``; ``*_from: all`` adds ``all_groups``/``all_licenses``
    = True and ``keep`` (what must stay). Other arguments pass through unchanged."""
    out = {k: v for k, v in step.args.items() if not k.startswith(("groups", "licenses", "keep"))}
    for kind, table in (("groups", checklist.department_groups), ("licenses", checklist.department_licenses)):
        source = step.args.get(f"{kind}_from")
        if kind not in step.args and source is None:
            continue
        names = list(step.args.get(kind, ()))
        if source not in (None, "all"):
            names += table.get(fold_name(person_value(person, source)), ())
        keep = list(step.args.get("keep", ()))
        if step.args.get("keep_from"):
            keep += table.get(fold_name(person_value(person, step.args["keep_from"])), ())
        kept = {k.casefold() for k in keep}
        out[kind] = [n for n in dict.fromkeys(names) if n.casefold() not in kept]
        if source == "all":
            out[f"all_{kind}"] = True
        if keep or source == "all":
            out["keep"] = list(dict.fromkeys(keep))
    return out
