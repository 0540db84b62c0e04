"""Active Directory through ldap3: the ``Directory`` verbs, each idempotent and able to plan.

Every verb reads the current state first (one search), works out the exact changes, and writes
only those (``plan=True`` stops before writing). New accounts are created disabled (UAC 546),
get their initial password (which also clears PASSWD_NOTREQD), and only then may be enabled.
``onboard`` (in ``ad_onboard``) does a whole new hire in the fewest round trips.
Filter values are escaped with ``escape_filter_chars``, RDNs with ``escape_rdn``.
"""
from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Sequence
from zoneinfo import ZoneInfo

from ldap3 import MODIFY_REPLACE
from ldap3.utils.conv import escape_filter_chars as esc
from ldap3.utils.dn import escape_rdn

from connectors import ad_values as v
from connectors.ad_create import CreateMixin
from connectors.ad_groups import GroupsMixin
from connectors.ad_onboard import OnboardMixin
from connectors.ad_session import ADSession
from connectors.ad_values import Entry
from workflows.directory import (
    Change, ConflictError, DirectoryUser, NotFoundError, Outcome,
)

log = logging.getLogger("itbot.ad")
USER_ATTRIBUTES = sorted({"sAMAccountName", "userPrincipalName", "displayName", "cn", "userAccountControl",
                          "memberOf", "manager", "accountExpires", "pwdLastSet", "groupType", "sAMAccountType",
                          "objectSid", "primaryGroupID",
                          *v.ATTRIBUTES.values()})


class ADConnector(OnboardMixin, CreateMixin, GroupsMixin):
    system = "ad"

    def __init__(self, url: str, bind_dn: str, bind_password, *, base_dn: str, users_ou: str,
                 disabled_ou: str | None = None, groups_base: str | None = None, upn_domain: str | None = None,
                 ca_file: str | None = None, tls_name: str | None = None, starttls: bool = False,
                 connect_timeout: float = 10, receive_timeout: float = 30, page_size: int = 500,
                 timezone: str = "UTC"):
        self.session = ADSession(url, bind_dn, bind_password, ca_file=ca_file, tls_name=tls_name,
                                 starttls=starttls, connect_timeout=connect_timeout,
                                 receive_timeout=receive_timeout)
        self.base_dn, self.users_ou, self.disabled_ou = base_dn, users_ou, disabled_ou
        self.groups_base, self.upn_domain, self.page_size = groups_base, upn_domain, page_size
        self.zone = ZoneInfo(timezone)

    def __repr__(self) -> str:
        return f"ADConnector({self.session.url!r}, base_dn={self.base_dn!r})"

    def close(self) -> None:
        self.session.close()

    @property
    def round_trips(self) -> int:
        return self.session.round_trips

    # --- reading ----------------------------------------------------------------------------------

    def _lookup(self, identifiers: Sequence[str], dns: Sequence[str] = (),
                extra: str = "") -> tuple[list[Entry | None], list[Entry]]:
        """One search: each user identifier (username, UPN or DN) → its entry, plus every entry
        found for ``dns`` and the ``extra`` filter (so a verb learns all it needs in one round trip)."""
        clauses = [f"(distinguishedName={esc(i)})" if v.is_dn(i)
                   else f"(|(sAMAccountName={esc(i)})(userPrincipalName={esc(i)}))" for i in identifiers]
        users = f"(&{v.NORMAL_USER}(|{''.join(clauses)}))" if clauses else ""
        others = "".join(f"(distinguishedName={esc(dn)})" for dn in dns) + extra
        found = [Entry(dn, attrs) for dn, attrs in
                 self.session.search(self.base_dn, f"(|{users}{others})", USER_ATTRIBUTES)]
        matched = []
        for identifier in identifiers:
            hits = [e for e in found if e.is_user and e.matches(identifier)]
            if len(hits) > 1:
                raise ConflictError(f"{identifier!r} matches {len(hits)} accounts", system="ad", code="ambiguous")
            matched.append(hits[0] if hits else None)
        return matched, found

    def _user(self, username: str) -> Entry:
        entry = self._lookup([username])[0][0]
        if entry is None:
            raise NotFoundError(f"no AD user {username!r}", system="ad", code="noSuchObject")
        return entry

    def find_user(self, username: str) -> DirectoryUser | None:
        entry = self._lookup([username])[0][0]
        return None if entry is None else _to_user(entry)

    def list_users(self, base: str | None = None, ldap_filter: str = "") -> list[DirectoryUser]:
        """Every user under ``base`` (paged); ``ldap_filter`` is ANDed, and must be escaped already."""
        flt = f"(&{v.NORMAL_USER}{ldap_filter})"
        return [_to_user(Entry(dn, a)) for dn, a in
                self.session.paged_search(base or self.base_dn, flt, USER_ATTRIBUTES, page_size=self.page_size)]

    def name_in_use(self, username: str) -> bool:
        """For ``workflows.naming.generate_username``: is this sAMAccountName (or its UPN) taken?"""
        clauses = f"(sAMAccountName={esc(username)})"
        if self.upn_domain:
            clauses += f"(userPrincipalName={esc(username)}@{esc(self.upn_domain)})"
        return bool(self.session.search(self.base_dn, f"(|{clauses})", ["sAMAccountName"]))

    # --- writing helpers --------------------------------------------------------------------------

    def _done(self, verb: str, changes: list[Change], plan: bool, **details) -> Outcome:
        outcome = Outcome(system="ad", verb=verb, changes=tuple(changes), planned=plan,
                          details=details)
        state = "already done" if not changes else ("planned" if plan else "done")
        log.info("ad %s %s: %s", verb, state, "; ".join(c.describe() for c in changes) or "no changes")
        return outcome

    def _replace(self, verb: str, entry: Entry, values: dict[str, object], plan: bool, *,
                 shown: dict[str, tuple] | None = None, **details) -> Outcome:
        """Set single-valued attributes (None clears), writing only those that differ, in one modify."""
        changes, mods = [], {}
        for attr, new in values.items():
            old = entry.get(attr)
            if isinstance(new, int) and old is not None:
                old = int(old)
            if (str(old) if old is not None else None) == (str(new) if new is not None else None):
                continue
            old_shown, new_shown = (shown or {}).get(attr, (old, new))
            changes.append(Change(entry.username, attr, old_shown, new_shown))
            mods[attr] = [(MODIFY_REPLACE, [] if new is None else [new])]
        if mods and not plan:
            self.session.modify(entry.dn, mods, action=f"{verb} for {entry.username}")
        return self._done(verb, changes, plan, dn=entry.dn, **details)

    # --- verbs ------------------------------------------------------------------------------------

    def set_initial_credential(self, username: str, password: str, *, must_change: bool = True,
                               plan: bool = False) -> Outcome:
        """Give a new account its first password (never overwrites one it already has)."""
        if not isinstance(password, str) or not password:
            raise v.invalid("the initial password is empty", "unicodePwd")
        entry = self._user(username)
        uac = v.uac_of(entry.attrs)
        if v.has_password(entry):
            return self._done("set_initial_credential", [], plan, dn=entry.dn,
                              reason="the account already has a password; an initial one is not set twice")
        changes = [Change(entry.username, "unicodePwd", "(none)", "(initial password, not shown)"),
                   Change(entry.username, "userAccountControl", uac, uac & ~v.UAC_PASSWD_NOTREQD)]
        if must_change and str(entry.get("pwdLastSet")) != "0":
            changes.append(Change(entry.username, "pwdLastSet", entry.get("pwdLastSet"), 0))
        if not plan:
            mods = {"unicodePwd": [(MODIFY_REPLACE, [f'"{password}"'.encode("utf-16-le")])]}
            if must_change:   # after unicodePwd, which itself stamps pwdLastSet with 'now'
                mods["pwdLastSet"] = [(MODIFY_REPLACE, [0])]
            mods["userAccountControl"] = [(MODIFY_REPLACE, [uac & ~v.UAC_PASSWD_NOTREQD])]
            self.session.modify(entry.dn, mods, action=f"set the initial password of {entry.username}",
                                secrets=(password,))
        return self._done("set_initial_credential", changes, plan, dn=entry.dn, must_change=must_change)

    def enable_user(self, username: str, *, plan: bool = False) -> Outcome:
        entry = self._user(username)
        uac = v.uac_of(entry.attrs)
        if uac & v.UAC_DISABLED and not v.has_password(entry):
            raise ConflictError(f"{entry.username} has no password yet (PASSWD_NOTREQD is set): set the "
                                "initial credential before enabling the account", system="ad",
                                code="PASSWD_NOTREQD")
        return self._replace("enable_user", entry, {"userAccountControl": uac & ~v.UAC_DISABLED}, plan)

    def disable_user(self, username: str, *, plan: bool = False) -> Outcome:
        entry = self._user(username)
        return self._replace("disable_user", entry,
                             {"userAccountControl": v.uac_of(entry.attrs) | v.UAC_DISABLED}, plan)

    def set_manager(self, username: str, manager: str | None, *, plan: bool = False) -> Outcome:
        """``manager`` is a username, UPN or DN; None removes the manager."""
        entries, _ = self._lookup([username, manager] if manager else [username])
        entry, boss = entries[0], (entries[1] if manager else None)
        if entry is None:
            raise NotFoundError(f"no AD user {username!r}", system="ad", code="noSuchObject")
        if manager and boss is None:
            raise NotFoundError(f"no AD user {manager!r} to be the manager", system="ad", code="noSuchObject")
        if boss is not None and v.same_dn(boss.dn, entry.dn):
            raise v.invalid(f"{entry.username} cannot be their own manager", "manager")
        return self._replace("set_manager", entry, {"manager": boss.dn if boss else None}, plan)

    def set_attributes(self, username: str, attributes: dict[str, str | None], *, plan: bool = False) -> Outcome:
        """Friendly names (title, department, office, employee_id, …) or their LDAP names."""
        values = {}
        for name, value in attributes.items():
            attr = v.ldap_attribute(name)
            values[attr] = v.check_value(attr, value)
        return self._replace("set_attributes", self._user(username), values, plan)

    def move_to_ou(self, username: str, ou: str | None = None, *, plan: bool = False) -> Outcome:
        """Move the account into ``ou`` (default: the disabled-users OU), keeping its CN."""
        target = ou or self.disabled_ou
        if not target:
            raise v.invalid("no OU given and no disabled-users OU configured", "ou")
        (entry,), existing = self._lookup([username], [target])
        if entry is None:
            raise NotFoundError(f"no AD user {username!r}", system="ad", code="noSuchObject")
        if v.parent_key(entry.dn) == v.dn_key(target):
            return self._done("move_to_ou", [], plan, dn=entry.dn)
        if not any(v.same_dn(e.dn, target) for e in existing):
            raise NotFoundError(f"OU {target!r} does not exist", system="ad", code="noSuchObject")
        rdn = "CN=" + escape_rdn(entry.get("cn"))
        new_dn = f"{rdn},{target}"
        if not plan:
            self.session.modify_dn(entry.dn, rdn, target)
        return self._done("move_to_ou", [Change(entry.username, "distinguishedName", entry.dn, new_dn)],
                          plan, dn=new_dn)

    def set_account_expiry(self, username: str, last_day: date | datetime | None, *,
                           plan: bool = False) -> Outcome:
        """The account stops working at the END of ``last_day`` (connector time zone); None: never."""
        entry = self._user(username)
        new = v.expiry_value(last_day, self.zone)
        old = int(entry.get("accountExpires") or 0)
        if new == 0 and old in v.NEVER_EXPIRES:
            return self._done("set_account_expiry", [], plan, dn=entry.dn)
        return self._replace("set_account_expiry", entry, {"accountExpires": new}, plan,
                             shown={"accountExpires": (v.describe_expiry(old), v.describe_expiry(new))})


def _to_user(entry: Entry) -> DirectoryUser:
    attrs = {friendly: entry.get(ldap) for friendly, ldap in v.ATTRIBUTES.items() if entry.get(ldap) is not None}
    attrs.update(manager=entry.get("manager"), account_expires=v.from_filetime(entry.get("accountExpires")),
                 user_account_control=v.uac_of(entry.attrs), cn=entry.get("cn"))
    return DirectoryUser(id=entry.dn, username=entry.username, upn=entry.get("userPrincipalName") or "",
                         display_name=entry.get("displayName") or "", groups=tuple(entry.attrs.get("memberOf") or ()),
                         enabled=not v.uac_of(entry.attrs) & v.UAC_DISABLED, attributes=attrs)

