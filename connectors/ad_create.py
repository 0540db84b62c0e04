"""Creating an AD account: validated before anything is written, disabled until it has a password.

One search finds everything that could stop the add (the username or UPN taken, the CN taken in
the OU, the OU or the manager missing); then one add writes the account with its attributes and
manager. A different person with the same CN in the OU gets ``CN=Display Name (username)``.
"""
from __future__ import annotations

from typing import NamedTuple

from ldap3.utils.conv import escape_filter_chars as esc
from ldap3.utils.dn import escape_rdn

from connectors import ad_values as v
from workflows.directory import Change, ConflictError, NewUser, NotFoundError, Outcome, require_own_account

_OPTIONAL = {"title": "title", "department": "department", "office": "physicalDeliveryOfficeName",
             "employee_id": "employeeID"}


def _attributes(user: NewUser) -> dict[str, str]:
    values = {"sAMAccountName": user.username, "userPrincipalName": user.upn, "givenName": user.given_name,
              "sn": user.surname, "displayName": user.display_name}
    values.update({ldap: getattr(user, field) for field, ldap in _OPTIONAL.items()})
    checked = {attr: v.check_value(attr, value) for attr, value in values.items()}
    for attr in ("givenName", "sn", "displayName"):
        if not checked[attr]:
            raise v.invalid(f"a new user needs a {attr}", attr)
    return {attr: value for attr, value in checked.items() if value}


def _cns(user: NewUser) -> list[str]:
    """The CN to use, then the one for a namesake already in the OU: 'Jane Doe (jdoe2)'."""
    name = user.display_name.strip()
    suffix = f" ({user.username})"
    return [name[:64], name[:64 - len(suffix)].rstrip() + suffix]


class Prepared(NamedTuple):
    """What the first search of a create learned: the account if it already exists (this person's,
    from an earlier attempt: same employeeID), else the DN to add it at; the attributes to write; the manager's entry;
    and every entry found (so a caller can fold its own lookups into the same search)."""
    existing: v.Entry | None
    dn: str | None
    attributes: dict
    boss: v.Entry | None
    found: list


class CreateMixin:
    def create_user(self, user: NewUser, *, plan: bool = False) -> Outcome:
        ready = self._prepare_create(user)
        if ready.existing is not None:
            return self._done("create_user", [], plan, dn=ready.existing.dn)
        changes = creation_changes(user, ready)
        if not plan:
            self._add(user, ready.dn, ready.attributes)
        return self._done("create_user", changes, plan, dn=ready.dn)

    def _prepare_create(self, user: NewUser, extra: str = "") -> Prepared:
        """Validate ``user`` and find, in one search (with the ``extra`` filter ORed in), all that
        could stop the add. Raises before anything is written."""
        v.check_sam(user.username)
        v.check_upn(user.upn)
        attributes = _attributes(user)
        ou = user.ou or self.users_ou
        dns = [f"CN={escape_rdn(cn)},{ou}" for cn in _cns(user)]
        taken = f"(sAMAccountName={esc(user.username)})(userPrincipalName={esc(user.upn)})"
        matched, found = self._lookup([user.manager] if user.manager else [], [*dns, ou], extra=taken + extra)
        boss = matched[0] if user.manager else None
        if boss is not None:
            attributes["manager"] = boss.dn

        existing = self._existing(user, found)
        if existing is not None:
            return Prepared(existing, None, attributes, boss, found)
        if not any(v.same_dn(e.dn, ou) for e in found):
            raise NotFoundError(f"OU {ou!r} does not exist", system="ad", code="noSuchObject")
        if user.manager and boss is None:
            raise NotFoundError(f"no AD user {user.manager!r} to be the manager", system="ad",
                                code="noSuchObject")
        dn = next((d for d in dns if not any(v.same_dn(e.dn, d) for e in found)), None)
        if dn is None:
            raise ConflictError(f"{dns[0]!r} and {dns[1]!r} are both taken", system="ad",
                                code="68 entryAlreadyExists")
        return Prepared(None, dn, attributes, boss, found)

    def _existing(self, user: NewUser, found: list) -> v.Entry | None:
        """The hire's own account from an earlier attempt (same username and UPN, and their employeeID:
        ``require_own_account``), to be finished; None when there is none; anything else → ConflictError."""
        for entry in found:
            if entry.username.casefold() == user.username.casefold():
                same_upn = (entry.get("userPrincipalName") or "").casefold() == user.upn.casefold()
                if not (same_upn and entry.is_user):
                    raise ConflictError(f"username {user.username!r} is already used by {entry.dn}", system="ad",
                                        code="68 entryAlreadyExists sAMAccountName")
                require_own_account(user, f"{entry.username} ({entry.dn})", entry.get("employeeID"), system="ad",
                                    code="68 entryAlreadyExists sAMAccountName")
                return entry
        for entry in found:
            if (entry.get("userPrincipalName") or "").casefold() == user.upn.casefold():
                raise ConflictError(f"UPN {user.upn!r} is already used by {entry.dn}", system="ad",
                                    code="68 entryAlreadyExists userPrincipalName")
        return None

    def _add(self, user: NewUser, dn: str, attributes: dict) -> None:
        reconnects = self.session.reconnects
        try:
            self.session.add(dn, v.USER_OBJECT_CLASS, attributes)
        except ConflictError:
            # After a reconnect the first attempt may have landed: then it was us, not a namesake.
            if self.session.reconnects == reconnects:
                raise
            entry = self._lookup([user.username])[0][0]
            if entry is None or not v.same_dn(entry.dn, dn):
                raise


def creation_changes(user: NewUser, ready: Prepared) -> list[Change]:
    """What the add writes: the account (disabled, no password: UAC 546) and its attributes."""
    changes = [Change(user.username, "account", None, ready.dn),
               Change(user.username, "userAccountControl", None, v.UAC_NEW_USER)]
    return changes + [Change(user.username, attr, None, value) for attr, value in ready.attributes.items()]
