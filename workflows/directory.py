"""The directory interface: business verbs shared by Active Directory and Entra ID.

Every verb "ensures" a state: running it twice leaves the same state and the second run reports
``already_done``. Every verb takes ``plan=True`` to return the exact changes it would make
(attribute, old value, new value) without making them; approval cards show that plan.

Errors form one small tree, each keeping the system's own code::

    DirectoryError
    ├── NotFoundError          the user, group, OU or licence does not exist
    ├── ConflictError          the name is taken, or the object is in a state that forbids the change
    ├── PermissionDeniedError  the service account may not do this (or the object is protected/synced)
    ├── InvalidInputError      the directory refused the values (password policy, bad attribute)
    └── TransientError         throttled, timed out, unavailable: worth retrying
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence


class DirectoryError(Exception):
    def __init__(self, message: str, *, system: str = "", code: str | None = None):
        super().__init__(message)
        self.system = system
        self.code = code

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base} [{self.system} {self.code}]" if self.code else base


class NotFoundError(DirectoryError):
    pass


class ConflictError(DirectoryError):
    pass


class PermissionDeniedError(DirectoryError):
    pass


class InvalidInputError(DirectoryError):
    pass


class TransientError(DirectoryError):
    pass


def not_theirs(account: str, holder_id: Any, hire_id: str | None) -> str | None:
    """Why the existing ``account`` (holding a new hire's username or UPN) is not the hire's own, or None
    when it is. It is theirs only when it carries their employee ID: itbot writes it on every account it
    creates, so an earlier attempt of the same run (a crash, a retry) left it there. A name, display name or
    UPN proves nothing: a colleague, or a former namesake's disabled account, can share them."""
    holder = str(holder_id or "").strip()
    hire = (hire_id or "").strip()
    if hire and holder == hire:
        return None
    if not hire:
        why = "the new hire has no employee ID, so no existing account can be shown to be theirs"
    elif holder:
        why = f"employeeID {holder}; the new hire's is {hire}"
    else:
        why = f"it has no employeeID, so it is not the new hire's ({hire}) account from an earlier attempt"
    return f"{account} already belongs to someone else ({why})"


def require_own_account(user: "NewUser", account: str, holder_id: Any, *, system: str, code: str) -> None:
    """``ConflictError`` (never "already done") unless the existing ``account`` is ``user``'s (``not_theirs``)."""
    why = not_theirs(account, holder_id, user.employee_id)
    if why:
        raise ConflictError(f"{why}: nothing was changed on it; give {user.display_name} another username",
                            system=system, code=code)


@dataclass(frozen=True)
class Change:
    """One change a verb made or would make, in words an approver can check."""

    target: str            # the user or group it applies to (username, DN or UPN)
    attribute: str         # e.g. "account", "userAccountControl", "memberOf", "manager", "licenses"
    old: Any = None
    new: Any = None

    def describe(self) -> str:
        return f"{self.target}: {self.attribute} {self.old!r} → {self.new!r}"


@dataclass(frozen=True)
class Outcome:
    system: str
    verb: str
    changes: tuple[Change, ...] = ()
    planned: bool = False            # True when plan=True: nothing was changed
    details: dict[str, Any] = field(default_factory=dict)  # never secrets

    @property
    def already_done(self) -> bool:
        return not self.changes


@dataclass(frozen=True)
class NewUser:
    username: str                     # sAMAccountName / mailNickname, from workflows.naming
    given_name: str
    surname: str
    display_name: str
    upn: str                          # username@verified-domain
    department: str | None = None
    title: str | None = None
    office: str | None = None
    employee_id: str | None = None
    manager: str | None = None        # the manager's username
    usage_location: str | None = None  # ISO 3166 alpha-2, needed by Entra before licences
    ou: str | None = None             # AD only: where to create the account


@dataclass(frozen=True)
class DirectoryUser:
    id: str                           # AD: distinguishedName; Entra: object id
    username: str
    upn: str
    display_name: str
    enabled: bool
    groups: tuple[str, ...] = ()
    attributes: dict[str, Any] = field(default_factory=dict)
    synced_from_ad: bool = False      # Entra: onPremisesSyncEnabled


class Directory(Protocol):
    """Verbs both systems share. Systems add their own (AD: move_to_ou, set_account_expiry;
    Entra: assign_licenses, remove_licenses, revoke_sessions, remove_mfa_methods,
    issue_temporary_access_pass)."""

    system: str

    def find_user(self, username: str) -> DirectoryUser | None: ...
    def create_user(self, user: NewUser, *, plan: bool = False) -> Outcome: ...
    def set_initial_credential(self, username: str, password: str, *, must_change: bool = True,
                               plan: bool = False) -> Outcome: ...
    def enable_user(self, username: str, *, plan: bool = False) -> Outcome: ...
    def disable_user(self, username: str, *, plan: bool = False) -> Outcome: ...
    def add_to_groups(self, username: str, groups: Sequence[str], *, plan: bool = False) -> Outcome: ...
    def remove_from_groups(self, username: str, groups: Sequence[str], *, plan: bool = False) -> Outcome: ...
    def set_manager(self, username: str, manager: str | None, *, plan: bool = False) -> Outcome: ...
    def set_attributes(self, username: str, attributes: dict[str, str | None], *, plan: bool = False) -> Outcome: ...

