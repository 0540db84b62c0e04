"""The core both sandbox directories share (see ``connectors.sandbox``): accounts, groups, one lock,
fault injection, the call log and ``snapshot()``.

No network and no credentials. A password is never kept: an account only records whether it has
one (and whether it must be changed), so no password can leak through a repr, an Outcome or a log.
"""
from __future__ import annotations

import functools
import inspect
import logging
import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence

from connectors.ad_values import from_filetime
from workflows.directory import (Change, DirectoryError, DirectoryUser, InvalidInputError, NewUser, NotFoundError,
                                 Outcome, PermissionDeniedError)

log = logging.getLogger("itbot.sandbox")
POLICY = "at least 12 characters with three of: lower case, upper case, digits, symbols"
# top-level keys a seed user may carry, as business names (the system maps them to its own attributes)
SEED_ATTRIBUTES = ("given_name", "surname", "display_name", "title", "department", "office", "employee_id",
                   "usage_location")


@dataclass(eq=False)
class Account:
    username: str
    upn: str
    id: str = ""
    enabled: bool = True
    has_password: bool = True       # a flag only: the password itself is never stored
    must_change: bool = False
    groups: set[str] = field(default_factory=set)          # group keys (casefolded names)
    manager: str | None = None                              # the manager's key (casefolded username)
    attributes: dict[str, Any] = field(default_factory=dict)  # the system's own names (sn, jobTitle, …)
    cn: str = ""                    # AD
    ou: str | None = None           # AD
    expires: int = 0                # AD accountExpires (FILETIME; 0 = never)
    licenses: set[str] = field(default_factory=set)         # Entra: SKU keys (upper-case part numbers)
    methods: list[str] = field(default_factory=list)        # Entra: authentication methods, "kind: label"
    sessions_valid_from: datetime | None = None             # Entra


def check_password(password: Any, system: str) -> None:
    """The sandbox's password policy; the message never contains the password."""
    text = password if isinstance(password, str) else ""
    classes = sum(any(test(c) for c in text) for test in
                  (str.islower, str.isupper, str.isdigit, lambda c: not c.isalnum()))
    if len(text) < 12 or classes < 3:
        raise InvalidInputError(f"the password does not meet the policy ({POLICY})", system=system,
                                code="PasswordPolicy")


def verb(method):
    """A public verb: under the lock, logged in ``calls`` as (verb, username), and failing first with
    any error queued by ``fail_next`` (before it reads or writes anything)."""
    first = list(inspect.signature(method).parameters)[1]

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._lock:
            subject = args[0] if args else kwargs.get(first)
            self.calls.append((method.__name__, getattr(subject, "username", subject)))
            queued = self._faults.get(method.__name__)
            if queued:
                raise queued.popleft()
            return method(self, *args, **kwargs)
    wrapper.sandbox_verb = True
    return wrapper


class SandboxCore:
    system = ""
    not_found_code = ""
    protected_code = ""

    def __init__(self, users: Iterable[Any], groups: Iterable[str], protected_groups: Iterable[str],
                 upn_domain: str):
        self._lock = threading.RLock()
        self.calls: list[tuple[str, str]] = []
        self._faults: dict[str, deque] = {}
        self.upn_domain = upn_domain
        self._groups: dict[str, str] = {}          # key -> name as given
        for name in [*groups, *protected_groups]:
            self._add_group(name)
        self._protected = {name.casefold() for name in protected_groups}
        self._accounts: dict[str, Account] = {}    # key (casefolded username) -> account
        self._seed(users)

    # -- test hooks ------------------------------------------------------------------------------
    def fail_next(self, verb_name: str, error: DirectoryError, times: int = 1) -> None:
        """Make the next ``times`` calls of ``verb_name`` raise ``error`` before touching anything."""
        method = getattr(type(self), verb_name, None)
        if not getattr(method, "sandbox_verb", False):
            raise ValueError(f"{verb_name!r} is not a verb of {type(self).__name__}")
        if not isinstance(error, DirectoryError) or times < 1:
            raise TypeError("fail_next needs a DirectoryError instance and times >= 1")
        with self._lock:   # keyed by the real name, so an alias (reset_mfa) reaches its verb
            self._faults.setdefault(method.__name__, deque()).extend([error] * times)

    def snapshot(self) -> dict[str, Any]:
        """The whole state as plain data (names, not keys; no secrets)."""
        with self._lock:
            return {"system": self.system, "groups": sorted(self._groups.values()),
                    "protected_groups": sorted(self._groups[k] for k in self._protected),
                    "users": {a.username: self._plain(a) for a in self._accounts.values()},
                    **self._snapshot_extra()}

    def _plain(self, a: Account) -> dict[str, Any]:
        expiry = from_filetime(a.expires)
        return {"upn": a.upn, "enabled": a.enabled, "has_password": a.has_password,
                "must_change": a.must_change, "groups": sorted(self._groups[k] for k in a.groups),
                "manager": self._accounts[a.manager].username if a.manager else None,
                "attributes": dict(a.attributes), "ou": a.ou, "expiry": expiry.isoformat() if expiry else None,
                "licenses": sorted(self._license_label(k) for k in a.licenses), "mfa_methods": list(a.methods),
                "sessions_valid_from": a.sessions_valid_from.isoformat() if a.sessions_valid_from else None}

    def close(self) -> None:
        """Nothing to release; here so the sandbox can stand in wherever a connector is closed."""

    def name_in_use(self, username: str) -> bool:
        with self._lock:
            return self._find(username) is not None or self._find(f"{username}@{self.upn_domain}") is not None

    # -- shared verbs ----------------------------------------------------------------------------
    @verb
    def find_user(self, username: str) -> DirectoryUser | None:
        account = self._find(username)
        return None if account is None else self._to_user(account)

    @verb
    def add_to_groups(self, username: str, groups: Sequence[str], *, plan: bool = False) -> Outcome:
        return self._membership("add_to_groups", username, groups, True, plan)

    @verb
    def remove_from_groups(self, username: str, groups: Sequence[str], *, plan: bool = False) -> Outcome:
        return self._membership("remove_from_groups", username, groups, False, plan)

    def _membership(self, verb_name: str, username: str, groups: Sequence[str], add: bool, plan: bool) -> Outcome:
        account = self._account(username)
        todo = [k for k in self._group_keys(groups) if (k in account.groups) != add]
        changes = [Change(self._target(account), "memberOf", None if add else self._group_label(k),
                          self._group_label(k) if add else None) for k in todo]
        if not plan:
            (account.groups.update if add else account.groups.difference_update)(todo)
        return self._done(verb_name, changes, plan, **self._details(account))

    @verb
    def enable_user(self, username: str, *, plan: bool = False) -> Outcome:
        return self._set_enabled("enable_user", username, True, plan)

    @verb
    def disable_user(self, username: str, *, plan: bool = False) -> Outcome:
        return self._set_enabled("disable_user", username, False, plan)

    def _set_enabled(self, verb_name: str, username: str, enabled: bool, plan: bool) -> Outcome:
        account = self._account(username)
        if enabled:
            self._check_enable(account)
        changes = [] if account.enabled == enabled else [self._enabled_change(account, enabled)]
        if not plan:
            account.enabled = enabled
        return self._done(verb_name, changes, plan, **self._details(account))

    @verb
    def set_attributes(self, username: str, attributes: dict[str, str | None], *, plan: bool = False) -> Outcome:
        wanted = self._wanted(attributes)
        account = self._account(username)
        changes = self._set_values(account, wanted)
        if not plan:
            self._write_values(account, changes)
        return self._done("set_attributes", changes, plan, **self._details(account))

    @verb
    def set_manager(self, username: str, manager: str | None, *, plan: bool = False) -> Outcome:
        account = self._account(username)
        boss = self._account(manager, "to be the manager") if manager else None
        if boss is account:
            raise InvalidInputError(f"{account.username} cannot be their own manager", system=self.system,
                                    code="manager")
        new = boss.username.casefold() if boss else None
        changes = [] if new == account.manager else [Change(
            self._target(account), "manager", self._manager_label(account), self._label_of(boss))]
        if not plan:
            account.manager = new
        return self._done("set_manager", changes, plan, **self._details(account))

    # -- helpers ---------------------------------------------------------------------------------
    def _seed(self, users: Iterable[Any]) -> None:
        managers = []
        for spec in users:
            spec = {"username": spec} if isinstance(spec, str) else (
                asdict(spec) if isinstance(spec, NewUser) else dict(spec))
            name = spec["username"]
            account = Account(name, spec.get("upn") or f"{name}@{self.upn_domain}",
                              enabled=spec.get("enabled", True), has_password=spec.get("has_password", True),
                              groups={self._add_group(g) for g in spec.get("groups", ())})
            words = (spec.get("display_name") or name).split()
            named = {"display_name": " ".join(words), "given_name": words[0], "surname": words[-1]}
            named.update({k: spec[k] for k in SEED_ATTRIBUTES if spec.get(k)})
            self._seed_account(account, {**named, **spec.get("attributes", {})}, spec)
            self._accounts[name.casefold()] = account
            managers.append((account, spec.get("manager")))
        for account, manager in managers:
            account.manager = self._account(manager).username.casefold() if manager else None

    def _add_group(self, name: str) -> str:
        key = name.casefold()
        self._groups.setdefault(key, name)
        return key

    def _account(self, identifier: str, role: str = "") -> Account:
        account = self._find(identifier)
        if account is None:
            raise NotFoundError(f"no {self.system} user {identifier!r}{' ' + role if role else ''}",
                                system=self.system, code=self.not_found_code)
        return account

    def _group_keys(self, refs: Sequence[str] | str) -> list[str]:
        """Group names (or the system's ids) → keys, duplicates dropped; unknown → NotFoundError,
        protected → PermissionDeniedError, all checked before anything is written."""
        keys: list[str] = []
        for ref in [refs] if isinstance(refs, str) else refs:
            key = self._group_key(ref)
            if key not in self._groups:
                raise NotFoundError(f"no {self.system} group {ref!r}", system=self.system, code=self.not_found_code)
            if key in self._protected:
                raise PermissionDeniedError(f"group {self._groups[key]!r} is protected: its members are not "
                                            f"managed by itbot", system=self.system, code=self.protected_code)
            keys += [] if key in keys else [key]
        return keys

    def _set_values(self, account: Account, wanted: Mapping[str, Any]) -> list[Change]:
        """Changes for the attributes in ``wanted`` that differ ('' and None both mean unset)."""
        return [Change(self._target(account), attr, account.attributes.get(attr), new)
                for attr, new in wanted.items() if (account.attributes.get(attr) or None) != (new or None)]

    @staticmethod
    def _write_values(account: Account, changes: Sequence[Change]) -> None:
        for change in changes:
            if change.new in (None, ""):
                account.attributes.pop(change.attribute, None)
            else:
                account.attributes[change.attribute] = change.new

    def _manager_label(self, account: Account) -> str | None:
        return self._label_of(self._accounts[account.manager]) if account.manager else None

    def _done(self, verb_name: str, changes: Sequence[Change], plan: bool, **details: Any) -> Outcome:
        state = "already done" if not changes else ("planned" if plan else "done")
        log.info("sandbox %s %s %s: %s", self.system, verb_name, state,
                 "; ".join(c.describe() for c in changes) or "no changes")
        return Outcome(self.system, verb_name, tuple(changes), planned=plan, details=details)

    def _check_enable(self, account: Account) -> None:
        """AD refuses to enable an account that has no password yet."""

    def _snapshot_extra(self) -> dict[str, Any]:
        return {}

    def _license_label(self, key: str) -> str:
        return key

    # each system provides: _find, _group_key, _group_label, _target, _label_of, _details, _to_user,
    # _seed_account, _enabled_change, _wanted
