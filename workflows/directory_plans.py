"""Onboarding and offboarding plans across the configured directories: what would change, nothing changed.

``plan_onboarding(person, naming, directories, policy)`` picks the username (the naming policy, checked
against every configured directory), works out the groups, licences, OU and expiry from
``config/directory.yaml`` and asks each directory for its plan; ``plan_offboarding(username,
directories, policy)`` composes disable, group and licence removal, session revocation and the move to
the disabled-users OU. Both return a ``DirectoryPlan``: ordered steps, each the ``Change``s
(attribute, old, new) a connector verb reported with ``plan=True``. Nothing is written.

``directories`` maps a system (``"ad"``, ``"entra"``) to an object with the ``Directory`` verbs plus
what planning needs (``PlanningDirectory`` below; ``connectors.directories`` builds them).

Pure: no LDAP, Graph or Slack here; a directory is whatever object is passed in.
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

from workflows.config import ConfigError, Located, load_yaml, require_mapping
from workflows.directory import Change, DirectoryUser, NewUser, Outcome, not_theirs
from workflows.naming import FORBIDDEN, SAM_MAX, NamingPolicy, PersonName, generate_username, upn_for

SYSTEM_NAMES = {"ad": "Active Directory", "entra": "Entra ID"}
PASSWORD_PLACEHOLDER = "(generated when the plan is carried out)"   # never written: plans only


# ==================================================================================================
# The person (PERSON.json)
# ==================================================================================================

class PlanError(ValueError):
    """The plan cannot be made from what was given (fix the input or config, then ask again)."""


class PersonError(PlanError):
    """The person's record has mistakes; ``problems`` lists every one of them."""

    def __init__(self, problems: Sequence[str], source: str = "person"):
        self.problems = list(problems)
        self.source = source
        count = f"{len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}"
        super().__init__(f"{source}: {count}: " + "; ".join(self.problems))


@dataclass(frozen=True)
class Person:
    """A new hire as HR describes them. ``given_name``/``surname`` are the legal names."""

    given_name: str
    surname: str
    start_date: date
    preferred_given_name: str | None = None
    preferred_surname: str | None = None
    department: str | None = None
    title: str | None = None
    office: str | None = None
    employee_id: str | None = None
    manager: str | None = None            # the manager's username
    usage_location: str | None = None     # ISO 3166 alpha-2 country, needed before Entra licences
    contractor: bool = False
    end_date: date | None = None          # the last working day (accounts expire at its end, AD)
    username: str | None = None           # chosen by hand; otherwise the naming policy makes one

    @property
    def first_name(self) -> str:
        return self.preferred_given_name or self.given_name

    @property
    def last_name(self) -> str:
        return self.preferred_surname or self.surname

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def person_name(self) -> PersonName:
        return PersonName(self.given_name, self.surname, self.preferred_given_name, self.preferred_surname,
                          self.employee_id)


# field -> (required, kind, max length); lengths are AD's schema limits
_PERSON_FIELDS: dict[str, tuple[bool, str, int | None]] = {
    "given_name": (True, "name", 64), "surname": (True, "name", 64),
    "preferred_given_name": (False, "name", 64), "preferred_surname": (False, "name", 64),
    "department": (False, "text", 64), "title": (False, "text", 128), "office": (False, "text", 128),
    "employee_id": (False, "id", 16), "manager": (False, "username", 256),
    "start_date": (True, "date", None), "end_date": (False, "date", None),
    "usage_location": (False, "country", None), "contractor": (False, "bool", None),
    "username": (False, "username", SAM_MAX),
}


def parse_person(data: Any, source: str = "person") -> Person:
    """A ``Person`` from a JSON object; ``PersonError`` lists every bad or missing field at once."""
    if not isinstance(data, dict):
        raise PersonError(["expected a JSON object with given_name, surname, start_date, …"], source)
    problems: list[str] = []
    unknown = sorted(k for k in data if k not in _PERSON_FIELDS)
    for key in unknown:
        problems.append(f"{key}: unknown field (known: {', '.join(_PERSON_FIELDS)})")
    values: dict[str, Any] = {}
    for name, (required, kind, limit) in _PERSON_FIELDS.items():
        raw = data.get(name)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if required:
                problems.append(f"{name}: required")
            continue
        value, problem = _person_value(name, kind, raw, limit)
        if problem:
            problems.append(f"{name}: {problem}")
        else:
            values[name] = value
    start, end = values.get("start_date"), values.get("end_date")
    if start and end and end < start:
        problems.append(f"end_date: {end} is before start_date {start}")
    if problems:
        raise PersonError(problems, source)
    return Person(**values)


def _invisible(text: str) -> str:
    """The first invisible formatting character in ``text`` as ``U+202E RIGHT-TO-LEFT OVERRIDE``; '' if none.

    Unicode's format characters (bidi overrides and isolates, zero-width spaces and joiners, the BOM, soft
    hyphens, tags) and line/paragraph separators: none belongs in a name, and they are how a display name is
    made to read as someone else's.
    """
    for c in text:
        if unicodedata.category(c) in ("Cf", "Zl", "Zp"):
            return f"U+{ord(c):04X} {unicodedata.name(c, 'unnamed')}"
    return ""


def _shown(raw: Any) -> str:
    """A wrong value as the error quotes it: a 60 KB list is not read back to whoever sent it."""
    text = repr(raw)
    return text if len(text) <= 60 else text[:59] + "…"


def _person_value(name: str, kind: str, raw: Any, limit: int | None) -> tuple[Any, str | None]:
    if kind == "bool":
        return (raw, None) if isinstance(raw, bool) else (None, f"expected true or false, got {_shown(raw)}")
    if kind == "id" and isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str):
        return None, f"expected a string, got {type(raw).__name__} {_shown(raw)}"
    text = raw.strip()
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        return None, "contains control characters"
    hidden = _invisible(text)
    if hidden:
        return None, (f"contains an invisible character ({hidden}) that can make a name read as another "
                      "(bidi override, zero-width or other formatting character): send the value without it")
    if limit and len(text) > limit:
        return None, f"{len(text)} characters; at most {limit}"
    if kind == "date":
        try:
            return date.fromisoformat(text), None
        except ValueError:
            return None, f"expected a date as YYYY-MM-DD, got {text!r}"
    if kind == "country":
        if not re.fullmatch(r"[A-Za-z]{2}", text):
            return None, f"expected a two-letter ISO country code such as GB or US, got {text!r}"
        return text.upper(), None
    if kind == "username":
        bad = sorted({c for c in text if c in FORBIDDEN or ord(c) > 126})
        if bad:
            return None, f"{text!r} contains characters a username cannot have: {' '.join(bad)}"
        return text, None
    if kind == "name" and not any(c.isalpha() for c in text):
        return None, f"{text!r} has no letters"
    return text, None


def read_person(path: Path | str) -> Person:
    """``parse_person`` of a JSON file; unreadable or invalid JSON is a ``PersonError`` too."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PersonError(["file not found"], str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PersonError([f"cannot read: {exc}"], str(path)) from None
    except json.JSONDecodeError as exc:
        raise PersonError([f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"], str(path)) from None
    return parse_person(data, str(path))


# ==================================================================================================
# The policy (config/directory.yaml)
# ==================================================================================================

@dataclass(frozen=True)
class Assignments:
    """Group (or licence) names for everyone, by kind of worker and by department."""

    everyone: tuple[str, ...] = ()
    employees: tuple[str, ...] = ()
    contractors: tuple[str, ...] = ()
    departments: dict[str, tuple[str, ...]] = field(default_factory=dict)   # keys casefolded

    def for_person(self, person: Person) -> list[str]:
        names = [*self.everyone, *(self.contractors if person.contractor else self.employees),
                 *self.departments.get((person.department or "").casefold(), ())]
        return list(dict.fromkeys(names))

    def knows(self, department: str | None) -> bool:
        return bool(department) and department.casefold() in self.departments


@dataclass(frozen=True)
class ADPolicy:
    groups: Assignments = field(default_factory=Assignments)
    ou_by_department: dict[str, str] = field(default_factory=dict)   # keys casefolded
    expire_at_end_date: bool = True
    remove_groups: bool = True
    move_to_disabled_ou: bool = True
    keep_groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class EntraPolicy:
    accounts: str = "auto"     # cloud: itbot creates them · synced: AD Connect does · auto: synced if AD is set
    groups: Assignments = field(default_factory=Assignments)
    licenses: Assignments = field(default_factory=Assignments)
    revoke_sessions: bool = True
    remove_groups: bool = True
    remove_licenses: bool = True
    remove_mfa_methods: bool = False
    keep_groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class DirectoryPolicy:
    ad: ADPolicy = field(default_factory=ADPolicy)
    entra: EntraPolicy = field(default_factory=EntraPolicy)


_ACCOUNTS = ("auto", "cloud", "synced")
_KEYS = {
    "top": {"ad", "entra"},
    "ad": {"groups", "ou_by_department", "expire_at_end_date", "offboarding"},
    "ad.offboarding": {"remove_groups", "move_to_disabled_ou", "keep_groups"},
    "entra": {"accounts", "groups", "licenses", "offboarding"},
    "entra.offboarding": {"revoke_sessions", "remove_groups", "remove_licenses", "remove_mfa_methods", "keep_groups"},
    "assignments": {"everyone", "employees", "contractors", "departments"},
}


def load_directory_policy(config_dir: Path | str) -> DirectoryPolicy:
    """The policy in ``config_dir/directory.yaml``; no groups, licences or OU overrides when absent."""
    path = Path(config_dir) / "directory.yaml"
    if not path.exists():
        return DirectoryPolicy()
    data = load_yaml(path)
    if data is None:
        return DirectoryPolicy()
    return parse_directory_policy(require_mapping(data, path, "directory.yaml"), path)


def parse_directory_policy(data: Located, path: Path | str = "directory.yaml") -> DirectoryPolicy:
    _known(data, "top", path, "directory.yaml")
    ad = _section(data, "ad", path)
    entra = _section(data, "entra", path)
    ad_off = _section(ad, "offboarding", path, "ad.offboarding")
    entra_off = _section(entra, "offboarding", path, "entra.offboarding")
    _known(ad, "ad", path, "ad")
    _known(entra, "entra", path, "entra")
    _known(ad_off, "ad.offboarding", path, "ad.offboarding")
    _known(entra_off, "entra.offboarding", path, "entra.offboarding")
    accounts = entra.get("accounts", "auto")
    if accounts not in _ACCOUNTS:
        raise ConfigError(path, entra.line_of("accounts"),
                          f"entra.accounts must be one of {', '.join(_ACCOUNTS)}, got {accounts!r}")
    return DirectoryPolicy(
        ad=ADPolicy(
            groups=_assignments(ad, "groups", path, "ad.groups"),
            ou_by_department=_ous(ad, path),
            expire_at_end_date=_flag(ad, "expire_at_end_date", True, path, "ad"),
            remove_groups=_flag(ad_off, "remove_groups", True, path, "ad.offboarding"),
            move_to_disabled_ou=_flag(ad_off, "move_to_disabled_ou", True, path, "ad.offboarding"),
            keep_groups=_names(ad_off, "keep_groups", path, "ad.offboarding.keep_groups")),
        entra=EntraPolicy(
            accounts=accounts,
            groups=_assignments(entra, "groups", path, "entra.groups"),
            licenses=_assignments(entra, "licenses", path, "entra.licenses"),
            revoke_sessions=_flag(entra_off, "revoke_sessions", True, path, "entra.offboarding"),
            remove_groups=_flag(entra_off, "remove_groups", True, path, "entra.offboarding"),
            remove_licenses=_flag(entra_off, "remove_licenses", True, path, "entra.offboarding"),
            remove_mfa_methods=_flag(entra_off, "remove_mfa_methods", False, path, "entra.offboarding"),
            keep_groups=_names(entra_off, "keep_groups", path, "entra.offboarding.keep_groups")),
    )


def _empty(line: int) -> Located:
    out = Located()
    out.line, out.lines = line, {}
    return out


def _section(data: Located, key: str, path, what: str | None = None) -> Located:
    value = data.get(key)
    if value is None:
        return _empty(data.line_of(key))
    if not isinstance(value, Located):
        raise ConfigError(path, data.line_of(key), f"{what or key} must be a mapping")
    return value


def _known(data: Located, kind: str, path, what: str) -> None:
    for key in data:
        if key not in _KEYS[kind]:
            raise ConfigError(path, data.line_of(key),
                              f"unknown key {key!r} in {what} (known: {', '.join(sorted(_KEYS[kind]))})")


def _flag(data: Located, key: str, default: bool, path, what: str) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(path, data.line_of(key), f"{what}.{key} must be true or false, got {value!r}")
    return value


def _names(data: Located, key: str, path, what: str) -> tuple[str, ...]:
    return _name_list(data.get(key), path, what, data.line_of(key))


def _name_list(value: Any, path, what: str, line: int | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(path, line, f"{what} must be a list of names, e.g. [\"All Staff\", VPN Users]")
    return tuple(dict.fromkeys(v.strip() for v in value))


def _assignments(data: Located, key: str, path, what: str) -> Assignments:
    section = _section(data, key, path, what)
    _known(section, "assignments", path, what)
    departments = _section(section, "departments", path, f"{what}.departments")
    by_department: dict[str, tuple[str, ...]] = {}
    for name, names in departments.items():
        line = departments.line_of(name)
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(path, line, f"{what}.departments: a department name must be a non-empty string")
        if name.strip().casefold() in by_department:
            raise ConfigError(path, line, f"{what}.departments: {name!r} is listed twice (names ignore case)")
        by_department[name.strip().casefold()] = _name_list(names, path, f"{what}.departments.{name}", line)
    return Assignments(everyone=_names(section, "everyone", path, f"{what}.everyone"),
                       employees=_names(section, "employees", path, f"{what}.employees"),
                       contractors=_names(section, "contractors", path, f"{what}.contractors"),
                       departments=by_department)


def _ous(data: Located, path) -> dict[str, str]:
    section = _section(data, "ou_by_department", path, "ad.ou_by_department")
    out: dict[str, str] = {}
    for name, dn in section.items():
        line = section.line_of(name)
        if not isinstance(dn, str) or "=" not in dn or dn.strip().startswith(","):
            raise ConfigError(path, line, f"ad.ou_by_department.{name} must be an OU's distinguished name, "
                                          f"e.g. \"OU=Sales,OU=Users,DC=corp,DC=example,DC=com\"")
        if str(name).strip().casefold() in out:
            raise ConfigError(path, line, f"ad.ou_by_department: {name!r} is listed twice (names ignore case)")
        out[str(name).strip().casefold()] = dn.strip()
    return out


# ==================================================================================================
# The directories a plan reads
# ==================================================================================================

class PlanningDirectory(Protocol):
    """What planning asks of a directory, beyond the ``Directory`` verbs (all read-only or plan=True)."""

    system: str
    label: str                       # where it is: a URL or tenant, for people reading the plan
    upn_domain: str | None

    def find_user(self, username: str) -> DirectoryUser | None: ...
    def name_in_use(self, username: str) -> bool: ...
    def plan_new_hire(self, user: NewUser, *, groups: Sequence[str] = (), licenses: Sequence[str] = (),
                      expires: date | None = None) -> list[Outcome]: ...
    def removable_groups(self, username: str, keep: Sequence[str] = ()) -> tuple[list[str], list[str]]: ...
    # Entra (synced accounts): what follows once AD Connect has brought the account over
    # def plan_after_sync(self, user, *, groups, licenses) -> list[Outcome]


# ==================================================================================================
# Plans
# ==================================================================================================

@dataclass(frozen=True)
class PlanStep:
    system: str
    verb: str
    changes: tuple[Change, ...] = ()
    note: str = ""

    @property
    def already_done(self) -> bool:
        return not self.changes

    @classmethod
    def of(cls, system: str, outcome: Outcome, note: str = "") -> "PlanStep":
        if not note and outcome.details.get("predicted"):
            note = "worked out from the steps above: the account does not exist yet"
        return cls(system, outcome.verb, tuple(outcome.changes), note or str(outcome.details.get("note") or ""))


@dataclass(frozen=True)
class DirectoryPlan:
    action: str                      # "onboarding" or "offboarding"
    username: str
    display_name: str
    systems: dict[str, str]          # system -> where (label), in plan order
    steps: tuple[PlanStep, ...]
    notes: tuple[str, ...] = ()
    summary: str = ""

    @property
    def changes(self) -> list[Change]:
        return [c for s in self.steps for c in s.changes]

    def as_dict(self) -> dict:
        return {"action": self.action, "username": self.username, "display_name": self.display_name,
                "summary": self.summary, "planned": True,
                "systems": [{"system": s, "name": SYSTEM_NAMES.get(s, s), "where": w} for s, w in self.systems.items()],
                "steps": [{"system": s.system, "verb": s.verb, "already_done": s.already_done, "note": s.note,
                           "changes": [{"target": c.target, "attribute": c.attribute, "old": _jsonable(c.old),
                                        "new": _jsonable(c.new)} for c in s.changes]} for s in self.steps],
                "notes": list(self.notes)}


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


def entra_accounts_synced(directories: Mapping[str, Any], policy: DirectoryPolicy) -> bool:
    """Does AD Connect (not itbot) create the Entra ID accounts? (``entra.accounts`` in directory.yaml)"""
    mode = policy.entra.accounts
    return mode == "synced" or (mode == "auto" and "ad" in directories)


def _taken_by_someone_else(directories: Mapping[str, Any], person: Person, candidate: str) -> str | None:
    """Why ``candidate`` belongs to somebody else (naming the system), or None when it is free, or theirs:
    an account an earlier attempt made for this person, which carries their employee ID (a name, display
    name or UPN proves nothing: ``workflows.directory.not_theirs``)."""
    for system, directory in directories.items():
        if directory.name_in_use(candidate):
            label = f"{candidate} ({SYSTEM_NAMES.get(system, system)})"
            existing = directory.find_user(candidate)
            why = (not_theirs(label, existing.attributes.get("employee_id"), person.employee_id) if existing
                   else f"{label} is already used by another object")
            if why:
                return why
    return None


def choose_username(person: Person, naming: NamingPolicy, directories: Mapping[str, Any],
                    held: Callable[[str], bool] | None = None) -> str:
    """The person's username: theirs from an earlier run, else the policy's first free candidate. A username
    HR gave goes through the same check: taken by someone else → ``PersonError`` on ``username``. ``held``
    says whether another hire under way holds a name (not in the directories yet, but promised): such a name
    is taken too."""
    def taken(candidate: str) -> str | None:
        if held is not None and held(candidate):
            return f"{candidate} is being given to another new hire whose onboarding is under way"
        return _taken_by_someone_else(directories, person, candidate)

    if person.username:
        why = taken(person.username)
        if why:
            raise PersonError([f"username: {why}: choose another, or leave it out to have one generated"])
        return person.username
    return generate_username(naming, person.person_name(), lambda c: taken(c) is not None)


def _new_user(person: Person, username: str, domain: str | None, *, ou: str | None = None) -> NewUser:
    if not domain:
        raise PlanError("the directory has no UPN domain configured (LDAP_UPN_DOMAIN / ENTRA_UPN_DOMAIN)")
    return NewUser(username=username, given_name=person.first_name, surname=person.last_name,
                   display_name=person.display_name, upn=upn_for(username, domain), department=person.department,
                   title=person.title, office=person.office, employee_id=person.employee_id,
                   manager=person.manager, usage_location=person.usage_location, ou=ou)


def _require_directories(directories: Mapping[str, Any]) -> None:
    if not directories:
        raise PlanError("no directory is configured: set LDAP_URL and the other LDAP_* variables "
                        "(Active Directory) and/or AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET and "
                        "ENTRA_UPN_DOMAIN (Entra ID)")


def plan_onboarding(person: Person, naming: NamingPolicy, directories: Mapping[str, Any],
                    policy: DirectoryPolicy | None = None,
                    checklist: Mapping[str, Mapping[str, list[str]]] | None = None) -> DirectoryPlan:
    """Every change onboarding ``person`` would make, per directory and in order; nothing is written.
    ``checklist``: the groups and licences the onboarding checklist adds, per system
    (``workflows.assignments.checklist_assignments``), planned together with directory.yaml's."""
    _require_directories(directories)
    policy = policy or DirectoryPolicy()
    extra = checklist or {}

    def union(system: str, kind: str, names: list[str]) -> list[str]:
        return list(dict.fromkeys([*extra.get(system, {}).get(kind, ()), *names]))

    ad, entra = directories.get("ad"), directories.get("entra")
    synced = entra is not None and entra_accounts_synced(directories, policy)
    licenses = union("entra", "licenses", policy.entra.licenses.for_person(person)) if entra is not None else []
    if licenses and not person.usage_location:
        raise PersonError([f"usage_location: required, because Entra ID licences ({', '.join(licenses)}) can only "
                           f"be assigned once the account has a country (e.g. GB)"])
    username = choose_username(person, naming, directories)
    steps: list[PlanStep] = []
    notes: list[str] = []
    systems: dict[str, str] = {}

    if ad is not None:
        systems["ad"] = ad.label
        ou = policy.ad.ou_by_department.get((person.department or "").casefold())
        expires = person.end_date if policy.ad.expire_at_end_date else None
        user = _new_user(person, username, ad.upn_domain, ou=ou)
        outcomes = ad.plan_new_hire(user, groups=union("ad", "groups", policy.ad.groups.for_person(person)),
                                    expires=expires)
        steps += [PlanStep.of("ad", o) for o in outcomes]
        if any(c.attribute == "unicodePwd" for o in outcomes for c in o.changes):
            notes.append("Active Directory: the initial password is random and nobody is told it (it must be "
                         "changed at first sign-in): give the hire a password of their own on the start date")
        notes += _unknown_department(person, policy.ad.groups, "Active Directory", "ad.groups")

    if entra is not None:
        systems["entra"] = entra.label
        user = _new_user(person, username, entra.upn_domain)
        groups = union("entra", "groups", policy.entra.groups.for_person(person))
        if synced:
            outcomes = entra.plan_after_sync(user, groups=groups, licenses=licenses)
            note = "after the account arrives from Active Directory (AD Connect sync)"
            steps += [PlanStep.of("entra", o, note) for o in outcomes]
            if ad is None:
                notes.append("Entra ID accounts are synchronised from on-premises Active Directory "
                             "(entra.accounts: synced): create the account there first")
        else:
            steps += [PlanStep.of("entra", o) for o in entra.plan_new_hire(user, groups=groups, licenses=licenses)]
            notes.append("Entra ID: the account gets a random password nobody knows; for the first sign-in, issue "
                         "a Temporary Access Pass on the start date")
        notes += _unknown_department(person, policy.entra.groups, "Entra ID", "entra.groups")
        if person.end_date:
            notes.append(f"Entra ID has no account expiry: offboard {username} after {person.end_date}")

    if person.contractor and not person.end_date:
        notes.append("a contractor without end_date: the account will not expire by itself")
    summary = (f"Onboarding {person.display_name}"
               + (f" (employee {person.employee_id})" if person.employee_id else "")
               + f", starting {person.start_date}: username {username}")
    return DirectoryPlan("onboarding", username, person.display_name, systems, tuple(steps), tuple(notes), summary)


def _unknown_department(person: Person, groups: Assignments, system: str, where: str) -> list[str]:
    """A note when departments have groups configured but not this person's (a typo in HR's data?)."""
    if person.department and groups.departments and not groups.knows(person.department):
        return [f"{system}: no groups are configured for department {person.department!r} "
                f"(config/directory.yaml, {where}.departments)"]
    return []


def plan_offboarding(username: str, directories: Mapping[str, Any],
                     policy: DirectoryPolicy | None = None) -> DirectoryPlan:
    """Every change offboarding ``username`` would make, per directory and in order; nothing is written."""
    _require_directories(directories)
    policy = policy or DirectoryPolicy()
    found = {system: d.find_user(username) for system, d in directories.items()}
    if not any(found.values()):
        where = " or ".join(SYSTEM_NAMES.get(s, s) for s in directories)
        raise PlanError(f"no account {username!r} in {where}")
    steps: list[PlanStep] = []
    notes: list[str] = []
    systems: dict[str, str] = {}
    display = next(u.display_name for u in found.values() if u is not None) or username

    ad, ad_user = directories.get("ad"), found.get("ad")
    if ad is not None:
        systems["ad"] = ad.label
        if ad_user is None:
            notes.append(f"Active Directory: no account {username!r}")
        else:
            name = ad_user.username
            steps.append(PlanStep.of("ad", ad.disable_user(name, plan=True)))
            if policy.ad.remove_groups:
                groups, skipped = ad.removable_groups(name, policy.ad.keep_groups)
                steps.append(PlanStep.of("ad", ad.remove_from_groups(name, groups, plan=True)))
                notes += [f"Active Directory: {s}" for s in skipped]
            if policy.ad.move_to_disabled_ou:
                if getattr(ad, "disabled_ou", None):
                    steps.append(PlanStep.of("ad", ad.move_to_ou(name, plan=True)))
                else:
                    notes.append("Active Directory: LDAP_DISABLED_OU is not set, so the account stays in its OU")

    entra, entra_user = directories.get("entra"), found.get("entra")
    if entra is not None:
        systems["entra"] = entra.label
        if entra_user is None:
            notes.append(f"Entra ID: no account {username!r}")
        else:
            upn = entra_user.upn
            if entra_user.synced_from_ad:
                notes.append("Entra ID: the account is synchronised from Active Directory, so it is disabled there"
                             + ("" if ad_user is not None else " (disable it in on-premises AD: itbot has no "
                                                               "account for it in the configured AD)"))
            else:
                steps.append(PlanStep.of("entra", entra.disable_user(upn, plan=True)))
            if policy.entra.revoke_sessions:
                steps.append(PlanStep.of("entra", entra.revoke_sessions(upn, plan=True)))
            if policy.entra.remove_groups:
                groups, skipped = entra.removable_groups(upn, policy.entra.keep_groups)
                steps.append(PlanStep.of("entra", entra.remove_from_groups(upn, groups, plan=True)))
                notes += [f"Entra ID: {s}" for s in skipped]
            if policy.entra.remove_licenses:
                held = list(entra_user.attributes.get("licenses") or [])
                steps.append(PlanStep.of("entra", entra.remove_licenses(upn, held, plan=True)))
            if policy.entra.remove_mfa_methods:
                steps.append(PlanStep.of("entra", entra.remove_mfa_methods(upn, plan=True)))

    summary = f"Offboarding {display} ({username})"
    return DirectoryPlan("offboarding", username, display, systems, tuple(steps), tuple(notes), summary)


# ==================================================================================================
# Showing a plan
# ==================================================================================================

def show_value(value: Any) -> str:
    if value is None or value == "" or value == [] or value == ():
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ", ".join(show_value(v) for v in value)
    return str(value)


def render_plan(plan: DirectoryPlan) -> str:
    """The plan as text: per system, each step and each change ``attribute: old → new``."""
    lines = [plan.summary or f"{plan.action.capitalize()} {plan.username}",
             "This is a plan: nothing has been changed."]
    number = 0
    for system, where in plan.systems.items():
        lines += ["", f"{SYSTEM_NAMES.get(system, system)} ({where})"]
        steps = [s for s in plan.steps if s.system == system]
        if not steps:
            lines.append("   nothing to do")
        for step in steps:
            number += 1
            state = "  (already done)" if step.already_done else ""
            lines.append(f"  {number}. {step.verb}{state}")
            if step.note:
                lines.append(f"       ({step.note})")
            targets = {c.target for c in step.changes}
            for change in step.changes:
                who = f"{change.target} " if len(targets) > 1 else ""
                lines.append(f"       {who}{change.attribute}: {show_value(change.old)} → {show_value(change.new)}")
    if plan.notes:
        lines += ["", "Notes"] + [f"  - {note}" for note in plan.notes]
    total = len(plan.changes)
    lines += ["", f"In all: {total} change{'s' if total != 1 else ''} planned, none made."]
    return "\n".join(lines)
