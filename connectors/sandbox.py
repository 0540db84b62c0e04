"""In-memory directories for ``itbot demo`` and engine tests: ``SandboxAD`` ("ad") and ``SandboxEntra`` ("entra").

Each has the verbs, signatures, Changes, details and errors of its real connector (``ADConnector``,
``GraphConnector``), ``onboard`` and the system's own verbs included, without network or credentials.
Seed state through the constructor; users are usernames, ``NewUser``s or dicts (``username``, ``upn``,
``enabled``, ``has_password``, ``groups``, ``manager``, the business attributes ``title``/``department``/…,
``attributes``, AD ``ou``/``expires``, Entra ``licenses``/``mfa_methods`` such as "phone: +44 7700 900123").
Seeded users default to enabled with a password; unknown groups and licences they name are created.
Groups in ``protected_groups`` refuse membership changes (PermissionDeniedError). Passwords must be at
least 12 characters with three character classes. ``fail_next``, ``calls`` and ``snapshot()`` are for tests.
Known differences: Entra users are never "synchronised from AD"; the password policy is checked on
``plan=True`` too; MFA methods are opaque "kind: label" strings, all removable.
"""
from __future__ import annotations

import re
import secrets
import uuid
from datetime import date, datetime, timezone
from typing import Any, Callable, Iterable, Sequence
from zoneinfo import ZoneInfo

from connectors import ad_values as v
from connectors.graph import ATTRIBUTES as GRAPH_ATTRIBUTES, graph_property
from connectors.graph_base import GUID
from connectors.graph_entra import RECENT_REVOCATION, TAP_MINUTES, TemporaryAccessPass
from connectors.graph_onboard import check_same
from connectors.sandbox_core import Account, SandboxCore, check_password, verb
from workflows.directory import (Change, ConflictError, DirectoryUser, InvalidInputError, NewUser, NotFoundError,
                                 Outcome, require_own_account)

__all__ = ["SandboxAD", "SandboxEntra", "TemporaryAccessPass"]

_HIDDEN = {True: "(random, not disclosed)", False: "(initial password, not shown)"}
_FIXED = ("sAMAccountName", "userPrincipalName", "manager")   # not kept in Account.attributes
_AD_NEW = (("sAMAccountName", "username"), ("userPrincipalName", "upn"), ("givenName", "given_name"),
           ("sn", "surname"), ("displayName", "display_name"), ("title", "title"), ("department", "department"),
           ("physicalDeliveryOfficeName", "office"), ("employeeID", "employee_id"))
_UPN = re.compile(r"^[A-Za-z0-9'.\-_!#^~]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_NICKNAME = re.compile(r"^[A-Za-z0-9'.\-_!#^~$%&*+/=?`{|}]{1,64}$")


def _rdn(value: str) -> str:
    escaped = re.sub(r'([,+"\\<>;=])', r"\\\1", value)
    return "\\" + escaped if escaped[:1] in ("#", " ") else escaped


def _object_id(kind: str, name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"itbot-sandbox:{kind}:{name.casefold()}"))


def _stamp(moment: datetime | None) -> str | None:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


class SandboxAD(SandboxCore):
    """Active Directory: a user's id is its DN; groups are named by sAMAccountName/CN or DN and reported by DN."""
    system, not_found_code, protected_code = "ad", "noSuchObject", "50 insufficientAccessRights"

    def __init__(self, users: Iterable[Any] = (), groups: Iterable[str] = (), *, protected_groups: Iterable[str] = (),
                 base_dn: str = "DC=example,DC=com", users_ou: str | None = None, disabled_ou: str | None = None,
                 groups_ou: str | None = None, ous: Iterable[str] = (), upn_domain: str = "example.com",
                 timezone: str = "UTC"):
        self.base_dn, self.users_ou = base_dn, users_ou or f"OU=Users,{base_dn}"
        self.disabled_ou = f"OU=Disabled,{base_dn}" if disabled_ou is None else disabled_ou   # "": none configured
        self.groups_ou, self.zone = groups_ou or f"OU=Groups,{base_dn}", ZoneInfo(timezone)
        self._ous = {v.dn_key(ou): ou for ou in (self.users_ou, self.disabled_ou, *ous) if ou}
        super().__init__(users, groups, protected_groups, upn_domain)

    def __repr__(self) -> str:
        return f"SandboxAD(base_dn={self.base_dn!r}, users={len(self._accounts)})"

    # -- verbs -------------------------------------------------------------------------------------
    @verb
    def create_user(self, user: NewUser, *, plan: bool = False) -> Outcome:
        existing, attrs, boss, ou = self._prepare(user)
        if existing is not None:
            return self._done("create_user", [], plan, dn=self._dn(existing))
        account = self._new(user, attrs, boss, ou)
        if not plan:
            self._accounts[account.username.casefold()] = account
        return self._done("create_user", self._creation(account, attrs), plan, dn=self._dn(account))

    @verb
    def onboard(self, user: NewUser, *, groups: Sequence[str] = (), password: str | None = None,
                must_change: bool = True, enable: bool = True, plan: bool = False) -> Outcome:
        if password is not None and (not isinstance(password, str) or not password):
            raise v.invalid("the initial password is empty", "unicodePwd")
        existing, attrs, boss, ou = self._prepare(user)
        keys = self._group_keys(groups)
        account = existing or self._new(user, attrs, boss, ou)
        name, secret = account.username, not account.has_password
        if secret and password is not None:
            check_password(password, "ad")
        updates = [] if existing is None else [Change(name, a, self._value(account, a), x) for a, x in attrs.items()
                                               if a not in _FIXED[:2] and self._value(account, a) != x]
        joins = [k for k in keys if k not in account.groups]
        uac = self._uac(account)
        new_uac = uac & ~(v.UAC_DISABLED if enable else 0) & ~(v.UAC_PASSWD_NOTREQD if secret else 0)
        changes = [*([] if existing else self._creation(account, attrs)),
                   *(Change(name, "memberOf", None, self._group_label(k)) for k in joins), *updates,
                   *([Change(name, "unicodePwd", "(none)", _HIDDEN[password is None])] if secret else []),
                   *([Change(name, "userAccountControl", uac, new_uac)] if new_uac != uac else [])]
        details = {"dn": self._dn(account), "created": existing is None,
                   "password": ("random" if password is None else "set") if secret else "kept"}
        if password is not None and not secret:
            details["reason"] = "the account already has a password; an initial one is never set twice"
        if not plan:
            self._accounts[name.casefold()] = account
            account.groups.update(joins)
            self._write_values(account, [c for c in updates if c.attribute != "manager"])
            account.manager = boss.username.casefold() if boss else account.manager
            if secret:
                account.has_password, account.must_change = True, must_change or password is None
            account.enabled = account.enabled or enable
        return self._done("onboard", changes, plan, **details)

    @verb
    def set_initial_credential(self, username: str, password: str, *, must_change: bool = True,
                               plan: bool = False) -> Outcome:
        if not isinstance(password, str) or not password:
            raise v.invalid("the initial password is empty", "unicodePwd")
        account = self._account(username)
        if account.has_password:
            return self._done("set_initial_credential", [], plan, dn=self._dn(account),
                              reason="the account already has a password; an initial one is not set twice")
        check_password(password, "ad")
        uac = self._uac(account)
        changes = [Change(account.username, "unicodePwd", "(none)", "(initial password, not shown)"),
                   Change(account.username, "userAccountControl", uac, uac & ~v.UAC_PASSWD_NOTREQD)]
        if not plan:
            account.has_password, account.must_change = True, must_change
        return self._done("set_initial_credential", changes, plan, dn=self._dn(account), must_change=must_change)

    @verb
    def move_to_ou(self, username: str, ou: str | None = None, *, plan: bool = False) -> Outcome:
        target = ou or self.disabled_ou
        if not target:
            raise v.invalid("no OU given and no disabled-users OU configured", "ou")
        account = self._account(username)
        old, new = self._dn(account), f"CN={_rdn(account.cn)},{target}"
        if v.dn_key(account.ou) == v.dn_key(target):
            return self._done("move_to_ou", [], plan, dn=old)
        if v.dn_key(target) not in self._ous:
            raise NotFoundError(f"OU {target!r} does not exist", system="ad", code="noSuchObject")
        if self._find(new) is not None:
            raise ConflictError(f"{new!r} is taken", system="ad", code="68 entryAlreadyExists")
        if not plan:
            account.ou = target
        return self._done("move_to_ou", [Change(account.username, "distinguishedName", old, new)], plan, dn=new)

    @verb
    def set_account_expiry(self, username: str, last_day: date | datetime | None, *, plan: bool = False) -> Outcome:
        account = self._account(username)
        old, new = account.expires, v.expiry_value(last_day, self.zone)
        same = new == old or (new == 0 and old in v.NEVER_EXPIRES)
        changes = [] if same else [Change(account.username, "accountExpires", v.describe_expiry(old),
                                          v.describe_expiry(new))]
        if not plan:
            account.expires = new
        return self._done("set_account_expiry", changes, plan, dn=self._dn(account))

    # -- creating ----------------------------------------------------------------------------------
    def _prepare(self, user: NewUser) -> tuple[Account | None, dict, Account | None, str]:
        """Validate ``user`` and find what could stop the add (as ``ADConnector._prepare_create``)."""
        v.check_sam(user.username)
        v.check_upn(user.upn)
        attrs = {attr: v.check_value(attr, getattr(user, field)) for attr, field in _AD_NEW}
        for attr in ("givenName", "sn", "displayName"):
            if not attrs[attr]:
                raise v.invalid(f"a new user needs a {attr}", attr)
        attrs, ou = {a: x for a, x in attrs.items() if x}, user.ou or self.users_ou
        existing = self._accounts.get(user.username.casefold())
        holder = next((a for a in self._accounts.values() if a.upn.casefold() == user.upn.casefold()), None)
        if existing is not None and holder is not existing:
            raise ConflictError(f"username {user.username!r} is already used by {self._dn(existing)}", system="ad",
                                code="68 entryAlreadyExists sAMAccountName")
        if existing is not None:
            require_own_account(user, f"{existing.username} ({self._dn(existing)})",
                                existing.attributes.get("employeeID"), system="ad",
                                code="68 entryAlreadyExists sAMAccountName")
        if existing is None and holder is not None:
            raise ConflictError(f"UPN {user.upn!r} is already used by {self._dn(holder)}", system="ad",
                                code="68 entryAlreadyExists userPrincipalName")
        if existing is None and v.dn_key(ou) not in self._ous:
            raise NotFoundError(f"OU {ou!r} does not exist", system="ad", code="noSuchObject")
        boss = self._account(user.manager, "to be the manager") if user.manager else None
        if boss is not None:
            attrs["manager"] = self._dn(boss)
        return existing, attrs, boss, ou

    def _new(self, user: NewUser, attrs: dict, boss: Account | None, ou: str) -> Account:
        cn = user.display_name.strip()[:64]
        if self._find(f"CN={_rdn(cn)},{ou}") is not None:   # a namesake in the OU: 'Jane Doe (jdoe2)'
            cn = cn[:64 - len(user.username) - 3].rstrip() + f" ({user.username})"
        return Account(user.username, user.upn, enabled=False, has_password=False, must_change=True, cn=cn, ou=ou,
                       manager=boss.username.casefold() if boss else None,
                       attributes={a: x for a, x in attrs.items() if a not in _FIXED})

    def _creation(self, account: Account, attrs: dict) -> list[Change]:
        name = account.username
        return [Change(name, "account", None, self._dn(account)), Change(name, "userAccountControl", None,
                                                                         v.UAC_NEW_USER),
                *(Change(name, attr, None, value) for attr, value in attrs.items())]

    # -- hooks -------------------------------------------------------------------------------------
    def _check_enable(self, account: Account) -> None:
        if not account.enabled and not account.has_password:
            raise ConflictError(f"{account.username} has no password yet (PASSWD_NOTREQD is set): set the initial "
                                "credential before enabling the account", system="ad", code="PASSWD_NOTREQD")

    def _enabled_change(self, account: Account, enabled: bool) -> Change:
        old = self._uac(account)
        return Change(account.username, "userAccountControl", old,
                      old & ~v.UAC_DISABLED if enabled else old | v.UAC_DISABLED)

    @staticmethod
    def _wanted(attributes: dict) -> dict:
        return {attr: v.check_value(attr, x) for attr, x in ((v.ldap_attribute(n), x) for n, x in attributes.items())}

    def _seed_account(self, account: Account, attributes: dict, spec: dict) -> None:
        account.attributes = {v.ldap_attribute(k): v.check_value(v.ldap_attribute(k), x)
                              for k, x in attributes.items() if x and k != "usage_location"}
        account.ou = spec.get("ou") or self.users_ou
        self._ous.setdefault(v.dn_key(account.ou), account.ou)
        account.cn = account.attributes["displayName"]
        account.expires = v.expiry_value(spec.get("expires"), self.zone)

    def _find(self, identifier: str) -> Account | None:
        if v.is_dn(identifier):
            return next((a for a in self._accounts.values() if v.same_dn(self._dn(a), identifier)), None)
        key = identifier.casefold()
        return next((a for a in self._accounts.values() if key in (a.username.casefold(), a.upn.casefold())), None)

    def _group_key(self, ref: str) -> str:
        if v.is_dn(ref):
            return next((k for k in self._groups if v.same_dn(self._group_label(k), ref)), "")
        return ref.casefold()

    def _group_label(self, key: str) -> str:
        return f"CN={_rdn(self._groups[key])},{self.groups_ou}"

    def _dn(self, account: Account) -> str:
        return f"CN={_rdn(account.cn)},{account.ou}"

    def _value(self, account: Account, attr: str) -> Any:
        return self._manager_label(account) if attr == "manager" else account.attributes.get(attr)

    @staticmethod
    def _uac(a: Account) -> int:
        return v.UAC_NORMAL | (0 if a.enabled else v.UAC_DISABLED) | (0 if a.has_password else v.UAC_PASSWD_NOTREQD)

    def _target(self, account: Account) -> str:
        return account.username

    def _label_of(self, account: Account | None) -> str | None:
        return self._dn(account) if account else None

    def _details(self, account: Account) -> dict:
        return {"dn": self._dn(account)}

    def _snapshot_extra(self) -> dict:
        return {"ous": sorted(self._ous.values())}

    def _to_user(self, a: Account) -> DirectoryUser:
        attrs = {name: a.attributes[ldap] for name, ldap in v.ATTRIBUTES.items() if a.attributes.get(ldap) is not None}
        attrs.update(manager=self._manager_label(a), account_expires=v.from_filetime(a.expires),
                     user_account_control=self._uac(a), cn=a.cn)
        return DirectoryUser(id=self._dn(a), username=a.username, upn=a.upn,
                             display_name=a.attributes.get("displayName", ""), enabled=a.enabled,
                             groups=tuple(self._group_label(k) for k in sorted(a.groups)), attributes=attrs)


def _profile(user: NewUser) -> dict:
    props = {"displayName": user.display_name, "givenName": user.given_name, "surname": user.surname,
             "jobTitle": user.title, "department": user.department, "officeLocation": user.office,
             "employeeId": user.employee_id, "usageLocation": user.usage_location}
    return {k: x for k, x in props.items() if x}


class SandboxEntra(SandboxCore):
    """Entra ID: users by mailNickname (made ``name@upn_domain``), UPN or object id; groups by display name or
    id (``group_id``); licences by part number or id (``sku_id``). Ids are stable uuid5s of the names."""
    system, not_found_code, protected_code = "entra", "Request_ResourceNotFound", "Authorization_RequestDenied"

    def __init__(self, users: Iterable[Any] = (), groups: Iterable[str] = (), licenses: Iterable[str] = (), *,
                 protected_groups: Iterable[str] = (), upn_domain: str = "example.com",
                 now: Callable[[], datetime] | None = None):
        self.now = now or (lambda: datetime.now(timezone.utc))
        self._skus = {s.upper(): s for s in licenses}   # key -> part number as given
        super().__init__(users, groups, protected_groups, upn_domain)

    def __repr__(self) -> str:
        return f"SandboxEntra(upn_domain={self.upn_domain!r}, users={len(self._accounts)})"

    @staticmethod
    def group_id(name: str) -> str:
        return _object_id("group", name)

    @staticmethod
    def sku_id(part_number: str) -> str:
        return _object_id("sku", part_number)

    # -- verbs -------------------------------------------------------------------------------------
    @verb
    def create_user(self, user: NewUser, *, plan: bool = False) -> Outcome:
        """Disabled, with a random password nobody knows (as ``GraphConnector.create_user``)."""
        return self._onboard(user, (), (), None, True, False, plan, "create_user")

    @verb
    def onboard(self, user: NewUser, *, groups: Sequence[str] = (), licenses: Sequence[str] = (),
                password: str | None = None, must_change: bool = True, enable: bool = True,
                plan: bool = False, verb: str = "onboard") -> Outcome:
        return self._onboard(user, groups, licenses, password, must_change, enable, plan, verb)

    def _onboard(self, user: NewUser, groups: Sequence[str], licenses: Sequence[str], password: str | None,
                 must_change: bool, enable: bool, plan: bool, verb_name: str) -> Outcome:
        for refused, message, code in (
                (not _UPN.match(user.upn), f"{user.upn!r} is not a valid user principal name", "InvalidUpn"),
                (not _NICKNAME.match(user.username), f"{user.username!r} is not a valid mailNickname",
                 "InvalidMailNickname"),
                (licenses and not user.usage_location, f"{user.upn}: licences need a usage location (ISO code)",
                 "UsageLocationMissing")):
            if refused:
                raise InvalidInputError(message, system="entra", code=code)
        keys, skus = self._group_keys(groups), self._sku_keys(licenses)
        boss = self._account(user.manager, "to be the manager") if user.manager else None
        existing = self._find(user.upn) or self._accounts.get(user.username.casefold())
        if existing is not None:
            check_same({"userPrincipalName": existing.upn, "mailNickname": existing.username, **existing.attributes},
                       user)
        upn, profile = user.upn, _profile(user)
        if existing is None:
            if password:
                check_password(password, "entra")
            account = Account(user.username, upn, id=_object_id("user", upn), enabled=enable,
                              must_change=must_change if password else True, attributes=profile,
                              sessions_valid_from=self.now())   # as Graph stamps a new account
            changes = [Change(upn, "account", None, f"created, {'enabled' if enable else 'disabled'}"),
                       Change(upn, "userPrincipalName", None, upn), Change(upn, "mailNickname", None, user.username),
                       *(Change(upn, p, None, x) for p, x in profile.items()),
                       Change(upn, "password", None, "set (hidden)" if password else "random, not disclosed")]
            updates: list[Change] = []
        else:
            account = existing
            updates = self._set_values(account, profile)
            changes = [*updates, *([Change(upn, "accountEnabled", False, True)] if enable and not account.enabled
                                   else [])]
        manager = boss.username.casefold() if boss else account.manager
        if manager != account.manager:
            changes.append(Change(upn, "manager", self._manager_label(account), boss.upn))
        joins = [k for k in keys if k not in account.groups]
        changes += [Change(upn, "memberOf", None, self._groups[k]) for k in joins]
        missing = [k for k in skus if k not in account.licenses]
        changes += [self._license_change(account, account.licenses | set(missing))] if missing else []
        if not plan:
            self._accounts[account.username.casefold()] = account
            self._write_values(account, updates)
            account.enabled, account.manager = account.enabled or enable, manager
            account.groups.update(joins)
            account.licenses.update(missing)
        details = {"created": True} if plan and existing is None else {"id": account.id, "created": existing is None}
        return self._done(verb_name, changes, plan, **details)

    @verb
    def set_initial_credential(self, username: str, password: str, *, must_change: bool = True,
                               plan: bool = False) -> Outcome:
        """Always a change, like Graph's: a password cannot be read back to compare."""
        account = self._account(username)
        check_password(password, "entra")
        note = "set (hidden)" + (", must change at next sign-in" if must_change else "")
        if not plan:
            account.has_password, account.must_change = True, must_change
        return self._done("set_initial_credential", [Change(account.upn, "password", None, note)], plan)

    @verb
    def assign_licenses(self, username: str, sku_ids: Sequence[str], *, usage_location: str | None = None,
                        plan: bool = False) -> Outcome:
        account = self._account(username)
        missing = [k for k in self._sku_keys(sku_ids) if k not in account.licenses]
        changes = []
        if missing and not account.attributes.get("usageLocation"):
            if not usage_location:
                raise InvalidInputError(f"{account.upn} has no usageLocation: licences need one (ISO country code) "
                                        "set first", system="entra", code="UsageLocationMissing")
            changes.append(Change(account.upn, "usageLocation", None, usage_location))
        changes += [self._license_change(account, account.licenses | set(missing))] if missing else []
        if not plan:
            self._write_values(account, changes[:-1])
            account.licenses.update(missing)
        return self._done("assign_licenses", changes, plan)

    @verb
    def remove_licenses(self, username: str, sku_ids: Sequence[str], *, plan: bool = False) -> Outcome:
        account = self._account(username)
        drop = [k for k in self._sku_keys(sku_ids) if k in account.licenses]
        changes = [self._license_change(account, account.licenses - set(drop))] if drop else []
        if not plan:
            account.licenses.difference_update(drop)
        return self._done("remove_licenses", changes, plan)

    @verb
    def revoke_sessions(self, username: str, *, plan: bool = False) -> Outcome:
        """A revocation less than ``RECENT_REVOCATION`` ago counts as already done."""
        account = self._account(username)
        since, now = account.sessions_valid_from, self.now()
        recent = since is not None and now - since < RECENT_REVOCATION
        changes = [] if recent else [Change(account.upn, "signInSessionsValidFromDateTime", _stamp(since), "now")]
        if changes and not plan:
            account.sessions_valid_from = now
        return self._done("revoke_sessions", changes, plan)

    @verb
    def remove_mfa_methods(self, username: str, *, plan: bool = False) -> Outcome:
        account = self._account(username)
        changes = [Change(account.upn, "authenticationMethod", method, None) for method in account.methods]
        if not plan:
            account.methods.clear()
        return self._done("remove_mfa_methods", changes, plan)

    reset_mfa = remove_mfa_methods

    @verb
    def issue_temporary_access_pass(self, username: str, *, lifetime_minutes: int = 60, usable_once: bool = True,
                                    replace: bool = True, plan: bool = False
                                    ) -> tuple[Outcome, TemporaryAccessPass | None]:
        """Never already done (a pass cannot be read back); an existing pass is replaced, or with
        ``replace=False`` refused. The value lives only in the returned ``TemporaryAccessPass``."""
        if not TAP_MINUTES[0] <= lifetime_minutes <= TAP_MINUTES[1]:
            raise InvalidInputError(f"lifetime_minutes must be within {TAP_MINUTES}", system="entra",
                                    code="InvalidLifetime")
        account = self._account(username)
        old = [m for m in account.methods if m.startswith("temporaryAccessPass: ")]
        if old and not replace:
            raise ConflictError(f"{account.upn} already has a Temporary Access Pass", system="entra",
                                code="TemporaryAccessPassExists")
        note = f"issued ({lifetime_minutes} min, {'single use' if usable_once else 'reusable'})"
        changes = [*(Change(account.upn, "authenticationMethod", m, None) for m in old),
                   Change(account.upn, "temporaryAccessPass", None, note)]
        if plan:
            return self._done("issue_temporary_access_pass", changes, True), None
        method_id, starts = str(uuid.uuid4()), _stamp(self.now())
        account.methods = [m for m in account.methods if m not in old] + [f"temporaryAccessPass: {method_id}"]
        outcome = self._done("issue_temporary_access_pass", changes, False, method_id=method_id, starts=starts)
        return outcome, TemporaryAccessPass(secrets.token_urlsafe(12), user=account.upn, method_id=method_id,
                                            starts=starts, lifetime_minutes=lifetime_minutes, usable_once=usable_once)

    # -- hooks -------------------------------------------------------------------------------------
    @staticmethod
    def _enabled_change(account: Account, enabled: bool) -> Change:
        return Change(account.upn, "accountEnabled", not enabled, enabled)

    @staticmethod
    def _wanted(attributes: dict) -> dict:
        return {graph_property(name): value for name, value in attributes.items()}

    def _sku_keys(self, refs: Sequence[str]) -> list[str]:
        keys: list[str] = []
        for ref in refs:
            key = ref.upper() if ref.upper() in self._skus else next(
                (k for k in self._skus if self.sku_id(k) == ref.lower()), None)
            if key is None:
                raise NotFoundError(f"the tenant has no licence {ref!r}", system="entra", code="UnknownSku")
            keys += [] if key in keys else [key]
        return keys

    def _license_change(self, account: Account, new: set[str]) -> Change:
        return Change(account.upn, "licenses", sorted(self._skus[k] for k in account.licenses),
                      sorted(self._skus[k] for k in new))

    def _seed_account(self, account: Account, attributes: dict, spec: dict) -> None:
        account.id = _object_id("user", account.upn)
        account.attributes = {graph_property(k): x for k, x in attributes.items() if x}
        account.licenses = {self._skus.setdefault(s.upper(), s).upper() for s in spec.get("licenses", ())}
        account.methods = list(spec.get("mfa_methods", ()))

    def _find(self, identifier: str) -> Account | None:
        key = (identifier if "@" in identifier or GUID.match(identifier) else f"{identifier}@{self.upn_domain}")
        return next((a for a in self._accounts.values() if key.casefold() in (a.upn.casefold(), a.id)), None)

    def _group_key(self, ref: str) -> str:
        return next((k for k in self._groups if self.group_id(k) == ref.lower()), "") if GUID.match(ref) \
            else ref.casefold()

    def _group_label(self, key: str) -> str:
        return self._groups[key]

    def _target(self, account: Account) -> str:
        return account.upn

    def _label_of(self, account: Account | None) -> str | None:
        return account.upn if account else None

    def _details(self, account: Account) -> dict:
        return {}

    def _license_label(self, key: str) -> str:
        return self._skus[key]

    def _snapshot_extra(self) -> dict:
        return {"licenses": sorted(self._skus.values())}

    def _to_user(self, a: Account) -> DirectoryUser:
        attrs = {name: a.attributes[prop] for name, prop in GRAPH_ATTRIBUTES.items()
                 if name != "display_name" and prop in a.attributes}
        attrs["licenses"] = sorted(self._skus[k] for k in a.licenses)
        return DirectoryUser(id=a.id, username=a.username, upn=a.upn, display_name=a.attributes.get("displayName", ""),
                             enabled=a.enabled, groups=tuple(sorted(self._groups[k] for k in a.groups)),
                             attributes=attrs)
