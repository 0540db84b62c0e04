"""Who does what: the teams in config/teams.yaml, their hours, SLAs and escalation path.

``load_teams`` reads and checks the whole file at start-up, so a typo stops itbot with
``config/teams.yaml:LINE: message`` instead of misrouting a request later. Durations such
as ``15m``, ``4h``, ``1h30m`` or ``3d`` are business time; ``1d`` is one working day of
that team (its opening hours, or 24 hours for a ``24x7`` team).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from workflows import durations
from workflows.config import ConfigError, Located, load_yaml
from workflows.holiday_calendar import HolidayCalendar, check_country, check_subdivision

CONFIG_FILE = "teams.yaml"
PRIORITIES = ("P1", "P2", "P3", "P4")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_TOP_KEYS = ("teams", "vips", "holidays", "responsibilities")
_TEAM_KEYS = ("name", "channel", "channel_name", "members", "lead", "business_hours",
              "timezone", "sla", "escalates_to", "holidays")
_TEAM_REQUIRED = _TEAM_KEYS[:8]  # all but escalates_to and holidays
_SLA_KEYS = ("first_response", "resolution")
_HOLIDAY_KEYS = ("country", "subdivision", "extra")
HOLIDAYS_WARN_WITHIN = timedelta(days=60)
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_HOURS = re.compile(r"^([a-z,\-]+)\s+(\d\d):(\d\d)\s*-\s*(\d\d):(\d\d)$")


@dataclass(frozen=True)
class BusinessHours:
    """When a team works, in its own wall-clock time. ``always`` is 24x7 (days/opens/closes unused)."""

    days: frozenset[int]  # 0 = Monday … 6 = Sunday
    opens: time
    closes: time
    always: bool = False

    @property
    def day_length(self) -> timedelta:
        """One working day as written (24h for 24x7); what ``1d`` means in an SLA."""
        if self.always:
            return timedelta(hours=24)
        return datetime.combine(date.min, self.closes) - datetime.combine(date.min, self.opens)


ALWAYS_OPEN = BusinessHours(frozenset(range(7)), time(0), time(0), always=True)


@dataclass(frozen=True)
class Sla:
    """Targets for one priority, as business time; ``*_text`` keeps what the YAML said ("4h")."""

    first_response: timedelta
    resolution: timedelta
    first_response_text: str
    resolution_text: str


@dataclass(frozen=True)
class Team:
    id: str
    name: str
    channel: str  # Slack channel id, e.g. C0HELPDESK1
    channel_name: str  # for people, e.g. #it-helpdesk
    members: tuple[str, ...]  # Slack user ids; the lead is one of them
    lead: str
    business_hours: BusinessHours
    timezone: str  # IANA name
    sla: Mapping[str, Sla]  # "P1".."P4" -> Sla
    escalates_to: str | None = None
    holidays: HolidayCalendar = HolidayCalendar()  # public holidays, the company's and the team's own days

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class TeamDirectory:
    teams: Mapping[str, Team]  # in file order
    vips: frozenset[str] = frozenset()
    responsibilities: Mapping[str, str] = field(default_factory=dict)  # responsibility -> team id

    def team(self, team_id: str) -> Team:
        try:
            return self.teams[team_id]
        except KeyError:
            raise KeyError(f"unknown team {team_id!r} (known: {', '.join(self.teams)})") from None

    def next_tier(self, team_id: str) -> str | None:
        """The team a request escalates to from ``team_id``; None at the top of the ladder."""
        return self.team(team_id).escalates_to

    def team_for(self, responsibility: str) -> Team:
        try:
            return self.team(self.responsibilities[responsibility])
        except KeyError:
            raise KeyError(f"no team is responsible for {responsibility!r} in {CONFIG_FILE}") from None

    def is_member(self, team_id: str, user_id: str) -> bool:
        return user_id in self.team(team_id).members

    def is_vip(self, user_id: str) -> bool:
        return user_id in self.vips

    def holiday_warnings(self, today: date, within: timedelta = HOLIDAYS_WARN_WITHIN) -> list[str]:
        """One line per team with business hours whose holidays run out within ``within`` of ``today``."""
        out = []
        for tid, team in self.teams.items():
            calendar = team.holidays
            if team.business_hours.always or calendar.country is not None:
                continue
            if calendar.ends is None:
                out.append(f"team {tid!r} has no holidays: its SLA clock counts public holidays as working days "
                           "(set holidays: {country: GB, subdivision: ENG})")
            elif calendar.ends < today + within:
                out.append(f"team {tid!r}: its holidays end on {calendar.ends.isoformat()}; after that its SLA "
                           "clock counts public holidays as working days (set holidays: {country: GB, "
                           "subdivision: ENG} to have them for every year)")
        return out


# ------------------------------------------------------------------ parsing single values

def parse_business_hours(text: str) -> BusinessHours:
    """``"24x7"`` or ``"mon-fri 08:00-18:00"`` (days: ``mon,wed``, ``mon-fri,sat``); ValueError if not."""
    text = " ".join(str(text).lower().split())
    if text == "24x7":
        return ALWAYS_OPEN
    match = _HOURS.match(text)
    if not match:
        raise ValueError(f"bad business_hours {text!r} (use e.g. 'mon-fri 08:00-18:00' or '24x7')")
    days = _parse_days(match.group(1))
    h1, m1, h2, m2 = (int(g) for g in match.groups()[1:])
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59 or (h2, m2) <= (h1, m1):
        raise ValueError(f"bad business_hours {text!r}: opening must be before closing, within one day")
    return BusinessHours(days, time(h1, m1), time(h2, m2))


def _parse_days(text: str) -> frozenset[int]:
    days: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        if first not in WEEKDAYS or (last and last not in WEEKDAYS):
            raise ValueError(f"bad days {text!r} (use mon, tue, … sun, ranges like mon-fri)")
        start, end = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
        if end < start:
            raise ValueError(f"bad days {text!r}: a range runs forwards, e.g. mon-fri")
        days.update(range(start, end + 1))
    return frozenset(days)


def parse_duration(text: Any, day: timedelta) -> timedelta:
    """An SLA target: ``"15m"``, ``"4h"``, ``"1h30m"``, ``"3d"`` (``day`` long each) → timedelta; ValueError if not.
    The one grammar of workflows.durations, with d, h and m (a week of working days means nothing here)."""
    return durations.parse_duration(text, units="dhm", day=day)


# ------------------------------------------------------------------ small checks shared with routing

def mapping_at(value: Any, path: Path, line: int, what: str) -> Located:
    if not isinstance(value, Located):
        raise ConfigError(path, line, f"{what} must be a mapping of keys to values")
    return value


def check_keys(node: Located, known: Iterable[str], path: Path, what: str, required: Iterable[str] = (),
               line: int | None = None) -> None:
    """Unknown keys fail at their own line; missing ones at ``line`` (default: the mapping's first line)."""
    known = tuple(known)
    for key in node:
        if key not in known:
            raise ConfigError(path, node.line_of(key), f"unknown key {key!r} in {what} (known: {', '.join(known)})")
    missing = [key for key in required if key not in node]
    if missing:
        raise ConfigError(path, line or node.line, f"{what} is missing {', '.join(repr(k) for k in missing)}")


def string_list(value: Any, path: Path, line: int, what: str, pattern: re.Pattern | None = None) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(path, line, f"{what} must be a list of non-empty strings")
    for item in value:
        if pattern and not pattern.match(item):
            raise ConfigError(path, line, f"{what}: {item!r} does not look like a Slack id")
    return tuple(v.strip() for v in value)


# ------------------------------------------------------------------ the file

def load_teams(config_dir: Path | str) -> TeamDirectory:
    """Read and validate config/teams.yaml; every mistake is a ``ConfigError`` with file and line."""
    path = Path(config_dir) / CONFIG_FILE
    data = mapping_at(load_yaml(path), path, 1, CONFIG_FILE)
    check_keys(data, _TOP_KEYS, path, CONFIG_FILE, required=("teams",))
    shared = _holidays(data.get("holidays", []), path, data.line_of("holidays"), "company", HolidayCalendar())
    nodes = mapping_at(data["teams"], path, data.line_of("teams"), "teams")
    if not nodes:
        raise ConfigError(path, data.line_of("teams"), "teams must name at least one team")
    teams = {tid: _team(tid, node, shared, path, nodes.line_of(tid)) for tid, node in nodes.items()}
    _check_escalation(teams, nodes, path)
    vips = string_list(data.get("vips", []), path, data.line_of("vips"), "vips", _USER_ID)
    duties = _responsibilities(data.get("responsibilities", Located()), teams, path, data.line_of("responsibilities"))
    return TeamDirectory(MappingProxyType(teams), frozenset(vips), MappingProxyType(duties))


def _team(tid: Any, node: Any, shared: HolidayCalendar, path: Path, line: int) -> Team:
    if not isinstance(tid, str) or not _NAME.match(tid):
        raise ConfigError(path, line, f"team id {tid!r} must be lower_snake_case")
    what = f"team {tid!r}"
    node = mapping_at(node, path, line, what)
    check_keys(node, _TEAM_KEYS, path, what, required=_TEAM_REQUIRED, line=line)
    text = {k: _text(node, k, path, what) for k in ("name", "channel", "channel_name", "lead", "timezone")}
    if not _CHANNEL_ID.match(text["channel"]):
        raise ConfigError(path, node.line_of("channel"), f"{what}: channel must be a Slack channel id like C0HELPDESK1")
    members = string_list(node["members"], path, node.line_of("members"), f"{what} members", _USER_ID)
    if text["lead"] not in members:
        raise ConfigError(path, node.line_of("lead"), f"{what}: lead {text['lead']!r} is not one of its members")
    try:
        ZoneInfo(text["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(path, node.line_of("timezone"), f"{what}: unknown time zone {text['timezone']!r} "
                                                          "(use an IANA name such as Europe/London)") from None
    try:
        hours = parse_business_hours(node["business_hours"])
    except ValueError as exc:
        raise ConfigError(path, node.line_of("business_hours"), f"{what}: {exc}") from None
    escalates_to = node.get("escalates_to")
    if escalates_to is not None and not isinstance(escalates_to, str):
        raise ConfigError(path, node.line_of("escalates_to"), f"{what}: escalates_to must be a team id")
    calendar = _holidays(node.get("holidays", []), path, node.line_of("holidays"), what, shared)
    return Team(id=tid, name=text["name"], channel=text["channel"], channel_name=text["channel_name"],
                members=members, lead=text["lead"], business_hours=hours, timezone=text["timezone"],
                sla=_slas(node["sla"], hours, path, node.line_of("sla"), what), escalates_to=escalates_to,
                holidays=calendar)


def _text(node: Located, key: str, path: Path, what: str) -> str:
    value = node[key]
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(path, node.line_of(key), f"{what}: {key} must be a non-empty string")
    return value.strip()


def _slas(value: Any, hours: BusinessHours, path: Path, line: int, what: str) -> Mapping[str, Sla]:
    node = mapping_at(value, path, line, f"{what} sla")
    check_keys(node, PRIORITIES, path, f"{what} sla")
    missing = [p for p in PRIORITIES if p not in node]
    if missing:
        raise ConfigError(path, line, f"{what}: sla must set P1, P2, P3 and P4 (missing: {', '.join(missing)})")
    out = {}
    for prio in PRIORITIES:
        entry = mapping_at(node[prio], path, node.line_of(prio), f"{what} sla {prio}")
        check_keys(entry, _SLA_KEYS, path, f"{what} sla {prio}", required=_SLA_KEYS)
        values = {}
        for key in _SLA_KEYS:
            try:
                values[key] = parse_duration(entry[key], hours.day_length)
            except ValueError as exc:
                raise ConfigError(path, entry.line_of(key), f"{what} sla {prio} {key}: {exc}") from None
        if values["first_response"] > values["resolution"]:
            raise ConfigError(path, entry.line_of("first_response"),
                              f"{what} sla {prio}: first_response is longer than resolution")
        out[prio] = Sla(values["first_response"], values["resolution"],
                        entry["first_response"].strip(), entry["resolution"].strip())
    return MappingProxyType(out)


def _holidays(value: Any, path: Path, line: int, what: str, inherited: HolidayCalendar) -> HolidayCalendar:
    """``holidays:`` as a list of dates (extra days), or ``{country, subdivision, extra}``; adds to ``inherited``.

    A team's country replaces the company's (and its subdivision); its extra days add to the company's.
    """
    if isinstance(value, list):
        return HolidayCalendar(inherited.country, inherited.subdivision, inherited.dates | _dates(value, path, line))
    where = f"{what} holidays"
    if not isinstance(value, Located):
        raise ConfigError(path, line, f"{where} must be a list of dates like 2026-12-25, or "
                                      "{country: GB, subdivision: ENG, extra: [2026-12-24]}")
    node = value
    check_keys(node, _HOLIDAY_KEYS, path, where)
    country, subdivision = inherited.country, inherited.subdivision
    if "country" in node:
        country, subdivision = _region_code(node, "country", path, where).upper(), None
        try:
            check_country(country)
        except ValueError as exc:
            raise ConfigError(path, node.line_of("country"), f"{where}: {exc}") from None
    if "subdivision" in node:
        subdivision = _region_code(node, "subdivision", path, where)
        if country is None:
            raise ConfigError(path, node.line_of("subdivision"), f"{where}: a subdivision needs a country")
        try:
            check_subdivision(country, subdivision)
        except ValueError as exc:
            raise ConfigError(path, node.line_of("subdivision"), f"{where}: {exc}") from None
    extra = _dates(node.get("extra", []), path, node.line_of("extra"))
    return HolidayCalendar(country, subdivision, inherited.dates | extra)


def _region_code(node: Located, key: str, path: Path, where: str) -> str:
    value = node[key]
    if isinstance(value, bool):  # YAML reads a bare NO (Norway) as false
        raise ConfigError(path, node.line_of(key), f"{where}: {key} must be a code in quotes, e.g. \"NO\"")
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(path, node.line_of(key), f"{where}: {key} must be a code such as GB or ENG")
    return value.strip()


def _dates(value: Any, path: Path, line: int) -> frozenset[date]:
    if not isinstance(value, list):
        raise ConfigError(path, line, "holidays must be a list of dates like 2026-12-25")
    out = set()
    for item in value:
        try:
            out.add(item if type(item) is date else date.fromisoformat(item))
        except (TypeError, ValueError):
            raise ConfigError(path, line, f"holidays: {item!r} is not a date like 2026-12-25") from None
    return frozenset(out)


def _check_escalation(teams: dict[str, Team], nodes: Located, path: Path) -> None:
    for tid, team in teams.items():
        line = nodes[tid].line_of("escalates_to")
        if team.escalates_to is not None and team.escalates_to not in teams:
            raise ConfigError(path, line, f"team {tid!r}: unknown team {team.escalates_to!r} in escalates_to "
                                          f"(known: {', '.join(teams)})")
    for tid in teams:
        chain, current = [tid], teams[tid].escalates_to
        while current is not None:
            chain.append(current)
            if current == tid:
                raise ConfigError(path, nodes[tid].line_of("escalates_to"), f"escalation cycle: {' -> '.join(chain)}")
            if current in chain[:-1]:
                break  # a cycle further up: reported when its own team is checked
            current = teams[current].escalates_to


def _responsibilities(value: Any, teams: dict[str, Team], path: Path, line: int) -> dict[str, str]:
    node = mapping_at(value, path, line, "responsibilities")
    out = {}
    for key, tid in node.items():
        where = node.line_of(key)
        if not isinstance(key, str) or not _NAME.match(key):
            raise ConfigError(path, where, f"responsibility {key!r} must be lower_snake_case")
        if tid not in teams:
            raise ConfigError(path, where, f"responsibility {key!r}: unknown team {tid!r} (known: {', '.join(teams)})")
        out[key] = tid
    return out
