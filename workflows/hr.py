"""HR intake: the events that start onboarding, offboarding and role-change runs, checked as a whole.

One flat object per event, with the same field names as JSON (webhook, Slack modal) or as a CSV row:
``event_id`` (required, ≤ 200 characters: the idempotency key) and ``kind`` (onboarding | offboarding |
role-change); optional for every kind: requested_by, timezone (IANA; none: the organisation's), location,
privileged, manager_slack_id, slack_user_id. Onboarding: PERSON.json's fields (``directory_plans``) with
employee_id required too. Offboarding: username (employee_id optional), last_day; terminate_now, manager. Role
change: username, effective_date, at least one new department, title, manager, office or location, and
optionally previous_<field> for each. An unknown key is an error, and so is another kind's field with a value.

``parse_hr_event`` lists every problem in one ``HrEventError`` (nothing partial); ``sign``/``verify_signature``
are the webhook's HMAC; ``parse_people_csv`` reads a whole file. Pure: no clock, network or store.
"""
from __future__ import annotations

import csv
import difflib
import hashlib
import hmac
import io
import re
from dataclasses import dataclass, fields
from datetime import date
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from workflows.checklist import KINDS
from workflows.checklist_due import CHANGEABLE
from workflows.directory_plans import _PERSON_FIELDS, Person, PersonError, _person_value, parse_person

SOURCES = ("webhook", "csv", "slack")
# the dates an HR event may carry: anything outside is a typo or a placeholder (1900-01-01, 9999-12-31), never
# a start or a last day HR could mean, and would start a run with every step overdue or none ever due
EARLIEST_DATE, LATEST_DATE = date(1970, 1, 1), date(2100, 12, 31)
MAX_KEY = 200
DEFAULT_TOLERANCE = 300   # seconds a signed request stays valid, either side of now


class HrEventError(ValueError):
    """The event (or file) has mistakes; ``problems`` lists every one, ``field: what is wrong``."""
    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class SignatureError(ValueError):
    """A webhook request is not provably from the HR system; ``reason`` is safe to send back."""
    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, kw_only=True)
class _RunFields:
    timezone: str | None = None           # IANA; None: the organisation's default_timezone
    location: str | None = None           # checklist conditions fall back to the office
    privileged: bool = False              # admin rights: Security approves too
    manager_slack_id: str | None = None
    slack_user_id: str | None = None


@dataclass(frozen=True)
class NewHire(Person, _RunFields):
    """Onboarding: PERSON.json's record (so the directory plans take it as it is) and the run's fields."""


@dataclass(frozen=True, kw_only=True)
class _Existing(_RunFields):
    """Someone who already has accounts: found by username, else by employee id."""

    username: str | None = None
    employee_id: str | None = None

    @property
    def display_name(self) -> str:
        return self.username or f"employee {self.employee_id}"


@dataclass(frozen=True)
class Leaver(_Existing):
    last_day: date
    terminate_now: bool = False           # emergency: disable and revoke sessions at once
    manager: str | None = None            # who receives the handover (username)


@dataclass(frozen=True)
class Mover(_Existing):
    """A role change: the new values given, and optionally what they were (``when: {changed: …}``)."""

    effective_date: date
    department: str | None = None
    title: str | None = None
    manager: str | None = None
    office: str | None = None             # (location is a run field: given, it is the new one)
    previous_department: str | None = None
    previous_title: str | None = None
    previous_manager: str | None = None
    previous_office: str | None = None
    previous_location: str | None = None


HrPerson = NewHire | Leaver | Mover


@dataclass(frozen=True)
class HrEvent:
    kind: str                   # onboarding | offboarding | role-change
    person: HrPerson
    effective_date: date        # the start date, the last day or the date the change takes effect
    idempotency_key: str        # the payload's event_id
    source: str                 # webhook | csv | slack
    requested_by: str | None = None

    def describe(self) -> str:
        return f"{self.kind} {self.person.display_name}"

    def to_payload(self) -> dict[str, Any]:
        """A JSON-ready object that ``parse_hr_event`` turns back into this event (for storing it)."""
        values = {"requested_by": self.requested_by,
                  **{f.name: getattr(self.person, f.name) for f in fields(self.person)}}
        return {"event_id": self.idempotency_key, "kind": self.kind,
                **{k: v.isoformat() if isinstance(v, date) else v for k, v in values.items()
                   if v is not None and v is not False}}


@dataclass(frozen=True)
class StartedRun:
    run_id: int
    created: bool               # False: the idempotency key was known, this is the run it started


class RunStarter(Protocol):
    def start_run(self, event: HrEvent) -> StartedRun: ...


# ---------------------------------------------------------------------------------------- the field spec

_COMMON = ("event_id", "kind", "requested_by", "timezone", "location", "privileged", "manager_slack_id",
           "slack_user_id")
_CHANGES = CHANGEABLE   # department, manager, location, title, office
_KIND_FIELDS = {
    "onboarding": tuple(_PERSON_FIELDS),
    "offboarding": ("username", "employee_id", "last_day", "terminate_now", "manager"),
    "role-change": ("username", "employee_id", "effective_date", *_CHANGES, *(f"previous_{c}" for c in _CHANGES)),
}
_ANCHOR = {"onboarding": "start_date", "offboarding": "last_day", "role-change": "effective_date"}
# field -> (kind, max length); PERSON.json's own fields keep directory_plans' kinds and AD's limits
_SPEC: dict[str, tuple[str, int | None]] = {
    **{name: (kind, limit) for name, (_, kind, limit) in _PERSON_FIELDS.items()},
    "event_id": ("id", MAX_KEY), "requested_by": ("text", 200), "timezone": ("timezone", 64),
    "location": ("text", 128), "privileged": ("bool", None), "manager_slack_id": ("slack", 32),
    "slack_user_id": ("slack", 32), "last_day": ("date", None), "terminate_now": ("bool", None),
    "effective_date": ("date", None),
}
_SPEC.update({f"previous_{c}": _SPEC[c] for c in _CHANGES})
_KNOWN = ("kind", *_SPEC)
_ZONE = re.compile(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*")
_NOT_ZONES = {"localtime", "posixrules", "factory"}
_SLACK_ID = re.compile(r"[UW][A-Z0-9]{2,31}")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _value(name: str, raw: Any) -> tuple[Any, str | None]:
    kind, limit = _SPEC[name]
    value, problem = _person_value(name, "text" if kind in ("timezone", "slack") else kind, raw, limit)
    if problem or kind not in ("timezone", "slack"):
        return value, problem
    if kind == "slack" and not _SLACK_ID.fullmatch(value):
        return None, f"expected a Slack user id such as U012AB3CD, got {value!r}"
    if kind == "timezone":
        try:   # the regex keeps paths out; the set keeps out tz files that are not zones
            if _ZONE.fullmatch(value) and value.lower() not in _NOT_ZONES and ZoneInfo(value):
                return value, None
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
        return None, f"unknown time zone {value!r} (use an IANA name such as Europe/London)"
    return value, None


def _date_problem(name: str, raw: Any) -> str | None:
    """A well-formed date HR could not mean (malformed ones are reported by the field's own check)."""
    if _SPEC.get(name, ("",))[0] != "date" or not isinstance(raw, str):
        return None
    try:
        value = date.fromisoformat(raw.strip())
    except ValueError:
        return None
    if EARLIEST_DATE <= value <= LATEST_DATE:
        return None
    return (f"{name}: {value.isoformat()} is not a date HR could mean: expected one between "
            f"{EARLIEST_DATE.isoformat()} and {LATEST_DATE.isoformat()}")


def _kind(raw: Any) -> tuple[str | None, str | None]:
    expected = ", ".join(KINDS[:-1]) + f" or {KINDS[-1]}"
    if _blank(raw):
        return None, f"kind: required ({expected})"
    text = raw.strip().lower().replace("_", "-") if isinstance(raw, str) else None
    return (text, None) if text in KINDS else (None, f"kind: expected {expected}, got {raw!r}")


def parse_hr_event(payload: Any, source: str) -> HrEvent:
    """An ``HrEvent`` from one flat object (see the module doc); ``HrEventError`` lists every problem."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    if not isinstance(payload, dict):
        raise HrEventError(["expected a JSON object with event_id, kind and the person's fields"])
    kind, problem = _kind(payload.get("kind"))
    problems = [problem] if problem else []
    allowed = set(_COMMON) | set(_KIND_FIELDS.get(kind or "", ()))
    for key, raw in payload.items():
        if key not in _KNOWN:
            close = difflib.get_close_matches(str(key), _KNOWN, n=1)
            problems.append(f"{key}: unknown field" + (f" (did you mean {close[0]}?)" if close else ""))
        elif kind and key not in allowed and not _blank(raw):
            problems.append(f"{key}: not a field of {kind} events")
    if _blank(payload.get("event_id")):
        problems.append("event_id: required (HR's id for this event, used to recognise it if it is sent again)")
    person: Any = None
    if kind == "onboarding":
        try:
            person = parse_person({k: payload[k] for k in _PERSON_FIELDS if k in payload})
        except PersonError as exc:
            problems.extend(exc.problems)
    values: dict[str, Any] = {}
    for name in _SPEC:
        if name in allowed and not (kind == "onboarding" and name in _PERSON_FIELDS) \
                and not _blank(payload.get(name)):
            value, problem = _value(name, payload[name])
            if problem:
                problems.append(f"{name}: {problem}")
            else:
                values[name] = value
    if kind == "onboarding" and _blank(payload.get("employee_id")):
        problems.append("employee_id: required")
    elif kind in ("offboarding", "role-change"):
        if _blank(payload.get("username")):
            who = "leaving" if kind == "offboarding" else "changing role"
            problems.append(f"username: required: the directory username of who is {who} (employee_id alone "
                            f"is not enough: itbot does not look accounts up by employee id)")
        if _blank(payload.get(_ANCHOR[kind])):
            problems.append(f"{_ANCHOR[kind]}: required")
        if kind == "role-change" and values.get("privileged") and _blank(payload.get("slack_user_id")):
            problems.append("slack_user_id: required for a privileged role change, so that the person gaining "
                            "admin rights can never approve them")
        if kind == "role-change" and all(_blank(payload.get(c)) for c in _CHANGES):
            problems.append(f"role-change: nothing changes: give at least one new {', '.join(_CHANGES)}")
    problems += [p for p in (_date_problem(k, v) for k, v in payload.items() if k in allowed) if p]
    if problems:
        raise HrEventError(problems)
    assert kind is not None
    own = {k: v for k, v in values.items() if k not in ("event_id", "requested_by")}
    if kind == "onboarding":
        person = NewHire(**{f.name: getattr(person, f.name) for f in fields(Person)}, **own)
    else:
        person = (Leaver if kind == "offboarding" else Mover)(**own)
    return HrEvent(kind, person, getattr(person, _ANCHOR[kind]), values["event_id"], source,
                   values.get("requested_by"))


# ---------------------------------------------------------------------------------------- the signature

def sign(secret: str, timestamp: str | int, body: bytes) -> str:
    """The ``X-Itbot-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    if not secret:
        raise ValueError("the HR webhook secret is empty")
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def verify_signature(secret: str, timestamp: str, body: bytes, signature: str, now: float,
                     tolerance: int = DEFAULT_TOLERANCE) -> None:
    """Return if ``signature`` is ``sign(secret, timestamp, body)`` and ``timestamp`` is within ``tolerance``
    seconds of ``now``; else ``SignatureError`` with the reason. The comparison takes constant time."""
    if not (signature or "").strip():
        raise SignatureError("missing signature")
    timestamp = (timestamp or "").strip()
    if not timestamp:
        raise SignatureError("missing timestamp")
    if not re.fullmatch(r"\d{1,12}", timestamp):
        raise SignatureError("bad timestamp: expected unix seconds")
    if abs(now - int(timestamp)) > tolerance:
        raise SignatureError("stale timestamp")
    expected = sign(secret, timestamp, body).encode()
    if not hmac.compare_digest(expected, signature.strip().lower().encode("utf-8", "replace")):
        raise SignatureError("bad signature")


# ---------------------------------------------------------------------------------------- CSV files

_FLAGS = {name for name, (kind, _) in _SPEC.items() if kind == "bool"}
_WORDS = {"true": True, "yes": True, "y": True, "1": True, "false": False, "no": False, "n": False, "0": False}


def parse_people_rows(text: str) -> list[tuple[int, HrEvent]]:
    """Every event of a CSV file with its row number (the header is row 1, as in a spreadsheet), or one
    ``HrEventError`` listing every ``row N: field: problem`` and any event_id used twice. Excel-friendly: a BOM
    is dropped, the delimiter is whichever of , ; or tab the header uses most, blank cells are absent fields,
    blank rows are skipped, and contractor/privileged/terminate_now take yes/no, true/false or 1/0."""
    text = text[1:] if text.startswith("\ufeff") else text
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        table = list(reader)
    except csv.Error as exc:
        raise HrEventError([f"line {reader.line_num}: {exc}"]) from None
    if not table or not any(c.strip() for c in table[0]):
        raise HrEventError(["the file is empty: expected a header row (event_id, kind, given_name, …)"])
    header = [c.strip().lower() for c in table[0]]
    problems = [f"header: unknown column {name!r}" for name in header if name and name not in _KNOWN]
    problems += [f"header: column {name!r} appears twice" for name in dict.fromkeys(header)
                 if name and header.count(name) > 1]
    problems += [f"header: column {name!r} is required" for name in ("event_id", "kind") if name not in header]
    if problems:
        raise HrEventError(problems)
    events: list[tuple[int, HrEvent]] = []
    first_row: dict[str, int] = {}
    for number, cells in enumerate(table[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(header) and any(c.strip() for c in cells[len(header):]):
            problems.append(f"row {number}: {len(cells)} cells, but the header has {len(header)} columns")
        row: dict[str, Any] = {}
        for name, cell in zip(header, cells):
            if cell.strip() and not name:
                problems.append(f"row {number}: a value under a column with no name in the header")
            elif cell.strip():
                row[name] = _WORDS.get(cell.strip().lower(), cell) if name in _FLAGS else cell
        key = row.get("event_id", "").strip()
        if key in first_row:
            problems.append(f"row {number}: event_id: {key!r} is also on row {first_row[key]}")
        elif key:
            first_row[key] = number
        try:
            events.append((number, parse_hr_event(row, "csv")))
        except HrEventError as exc:
            problems += [f"row {number}: {p}" for p in exc.problems]
    if not problems and not events:
        problems.append("no rows after the header: nothing to import")
    if problems:
        raise HrEventError(problems)
    return events


def parse_people_csv(text: str) -> list[HrEvent]:
    """The events of a whole CSV file, all valid, or ``HrEventError`` listing every row's problems."""
    return [event for _, event in parse_people_rows(text)]
