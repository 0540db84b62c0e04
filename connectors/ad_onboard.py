"""A whole new hire in the fewest round trips AD allows safely: ``onboard``.

A new account with G groups costs 3 + G round trips (plus the bind when the connection is new):

1. one search finds everything that could stop the hire or make it a re-run: the username and UPN
   (taken by someone else, or this person's account from an earlier run with its attributes,
   memberships and userAccountControl), the CN and the namesake CN in the OU, the OU, the manager,
   and every group by name or DN. All of it is checked before the first write;
2. one add writes the account with its attributes and manager. AD makes it disabled and without a
   password: userAccountControl 546 (NORMAL | ACCOUNTDISABLE | PASSWD_NOTREQD), primaryGroupID 513;
3. one modify per group it is not in yet (Domain Users it already is, through primaryGroupID);
4. one modify of the account, last: unicodePwd, pwdLastSet 0 when the hire must change it, and
   userAccountControl computed from the 546 of step 2 with PASSWD_NOTREQD and (enable) ACCOUNTDISABLE
   cleared: 512. A modify is atomic, so a refused password changes nothing in it: the account stays
   as steps 2-3 left it, disabled with no password, and the error says exactly that.

Enabling comes last, so the account can never be used before it is complete.

A re-run finds the account in step 1. Only if it is provably the same person's (same username and UPN,
and the hire's employeeID, which itbot writes on every account it creates) is it finished; any other account
holding the name is a ``ConflictError`` and nothing is written to it. On a re-run only what differs is written: the missing groups, then one modify with
the attributes and manager that differ and, if the account never had a password, the password and
userAccountControl; an account that has a password keeps it (the hire may have changed it), and is
only enabled. Other userAccountControl bits are kept (66082 → 66048). ``enable=False`` never disables
an account, and an account elsewhere than ``user.ou`` is not moved. A finished hire costs the one
search. ``plan=True`` stops after step 1 and returns the changes steps 2-4 would make.

A failed write raises the class and code AD's answer maps to, with a message stating the account's
state (created or not, userAccountControl, password or not, groups joined and not, what was not
applied), never the password; it carries ``partial_changes`` (what this run did write) and ``dn``.
"""
from __future__ import annotations

import re
import secrets
import string
from typing import Sequence

from ldap3 import MODIFY_REPLACE

from connectors import ad_values as v
from connectors.ad_create import Prepared, creation_changes
from connectors.ad_groups import already_member, group_filter
from workflows.directory import Change, DirectoryError, NewUser, NotFoundError, Outcome
from workflows.redact import scrub_text

_HIDDEN = {True: "(random, not disclosed)", False: "(initial password, not shown)"}
_FIXED = ("sAMAccountName", "userPrincipalName")   # matched already; never rewritten


def random_password(user: NewUser, length: int = 24) -> str:
    """A password nobody knows that meets AD's complexity rule (three of four character classes,
    and none of the account name or a 3+ character part of the display name in it)."""
    pools = (string.ascii_uppercase, string.ascii_lowercase, string.digits, "!#%^*-_=+")
    parts = [p.casefold() for p in re.split(r"[,.\-_#\s]+", user.display_name) + [user.username] if len(p) >= 3]
    while True:
        chars = [secrets.choice(p) for p in pools] + [secrets.choice("".join(pools)) for _ in range(length - 4)]
        secrets.SystemRandom().shuffle(chars)
        password = "".join(chars)
        if not any(part in password.casefold() for part in parts):
            return password


class OnboardMixin:
    def onboard(self, user: NewUser, *, groups: Sequence[str] = (), password: str | None = None,
                must_change: bool = True, enable: bool = True, plan: bool = False) -> Outcome:
        """Ensure ``user`` exists with its attributes, manager, groups, an initial password and (with
        ``enable``) enabled; see the module docstring. ``password=None`` sets a random one nobody
        knows, to be changed at first sign-in (reset it for the hire, or use another first-day route)."""
        if password is not None and (not isinstance(password, str) or not password):
            raise v.invalid("the initial password is empty", "unicodePwd")
        names = [groups] if isinstance(groups, str) else list(groups)
        ready = self._prepare_create(user, extra=group_filter(names))
        wanted = self._resolve_groups(names, ready.found)
        entry, created = ready.existing, ready.existing is None
        if created:   # what the add will make: see the module docstring
            entry = v.Entry(ready.dn, {"sAMAccountName": [user.username], "userAccountControl": [v.UAC_NEW_USER],
                                       "primaryGroupID": [v.DOMAIN_USERS_RID], "pwdLastSet": ["0"]})
        elif user.manager and ready.boss is None:
            raise NotFoundError(f"no AD user {user.manager!r} to be the manager", system="ad", code="noSuchObject")
        updates = {} if created else {attr: new for attr, new in ready.attributes.items()
                                      if attr not in _FIXED and _differs(entry, attr, new)}
        member_of, primary = entry.attrs.get("memberOf") or (), entry.get("primaryGroupID")
        joins = [g.dn for g in wanted if not already_member(member_of, primary, g)]
        secret = None if v.has_password(entry) else (password or random_password(user))
        finish, mods = _account_step(entry, updates, secret, must_change or password is None, enable,
                                     random=password is None)
        details = {"dn": entry.dn, "created": created,
                   "password": ("random" if password is None else "set") if secret else "kept"}
        if password is not None and not secret:
            details["reason"] = "the account already has a password; an initial one is never set twice"
        if plan:
            planned = [*(creation_changes(user, ready) if created else ()),
                       *(Change(entry.username, "memberOf", None, g) for g in joins), *finish]
            return self._done("onboard", planned, True, **details)
        done = self._carry_out(user, ready if created else None, entry, joins, finish, mods, secret)
        return self._done("onboard", done, False, **details)

    def _carry_out(self, user: NewUser, new: Prepared | None, entry: v.Entry, joins: list[str],
                   finish: list[Change], mods: dict, secret: str | None) -> list[Change]:
        """Add (when ``new``), join the groups, then the one modify that finishes the account."""
        done: list[Change] = []
        if new is not None:
            self._add(user, entry.dn, new.attributes)
            done += creation_changes(user, new)
        for index, group in enumerate(joins):
            try:
                if self._write_member(entry, group, True, done):
                    done.append(Change(entry.username, "memberOf", None, group))
            except DirectoryError as exc:
                raise _stopped(exc, f"adding it to {group}", entry, new is not None, joins[:index],
                               joins[index:], finish, done, secret) from exc
        if mods:
            try:
                self.session.modify(entry.dn, mods, action=f"update of {entry.username} ({', '.join(mods)})",
                                    secrets=(secret,) if secret else ())
            except DirectoryError as exc:
                raise _stopped(exc, "setting its password" if secret else "updating it", entry,
                               new is not None, joins, [], finish, done, secret) from exc
            done += finish
        return done


def _differs(entry: v.Entry, attribute: str, new: str) -> bool:
    old = entry.get(attribute)
    if attribute == "manager" and old is not None:
        return not v.same_dn(old, new)
    return old != new


def _account_step(entry: v.Entry, updates: dict, secret: str | None, must_change: bool, enable: bool,
                  *, random: bool) -> tuple[list[Change], dict]:
    """The changes and the one modify that finish the account: attributes that differ, then (if it has
    no password yet) unicodePwd and pwdLastSet, then userAccountControl. Empty when nothing is due."""
    name = entry.username
    changes = [Change(name, attr, entry.get(attr), new) for attr, new in updates.items()]
    mods = {attr: [(MODIFY_REPLACE, [new])] for attr, new in updates.items()}
    uac = v.uac_of(entry.attrs)
    new_uac = uac & ~(v.UAC_DISABLED if enable else 0)
    if secret:
        changes.append(Change(name, "unicodePwd", "(none)", _HIDDEN[random]))
        mods["unicodePwd"] = [(MODIFY_REPLACE, [f'"{secret}"'.encode("utf-16-le")])]
        if must_change:   # after unicodePwd, which itself stamps pwdLastSet with 'now'
            mods["pwdLastSet"] = [(MODIFY_REPLACE, [0])]
            if str(entry.get("pwdLastSet")) != "0":
                changes.append(Change(name, "pwdLastSet", entry.get("pwdLastSet"), 0))
        new_uac &= ~v.UAC_PASSWD_NOTREQD
    if new_uac != uac:
        changes.append(Change(name, "userAccountControl", uac, new_uac))
        mods["userAccountControl"] = [(MODIFY_REPLACE, [new_uac])]
    return changes, mods


def _stopped(exc: DirectoryError, step: str, entry: v.Entry, created: bool, joined: list[str],
             missing: list[str], pending: list[Change], done: list[Change], secret: str | None) -> DirectoryError:
    """``exc`` (same class and code) saying exactly what state the account was left in."""
    uac = v.uac_of(entry.attrs)
    state = (f"{entry.dn} {'was created with its attributes' if created else 'exists'}, "
             f"{'disabled' if uac & v.UAC_DISABLED else 'enabled'} (userAccountControl {uac}), "
             f"{'with' if v.has_password(entry) else 'without'} a password")
    if joined:
        state += f"; this run added it to {', '.join(joined)}"
    if missing:
        state += f"; it is not in {', '.join(missing)}"
    if pending:
        what = ", ".join(dict.fromkeys(c.attribute for c in pending))
        state += (f"; not applied: {what} (that modify is atomic, none of it was written)" if not missing
                  else f"; not attempted: {what}")
    message = (f"AD onboard of {entry.username} stopped when {step} failed. State: {state}. Once the cause is "
               f"dealt with, running onboard again finishes it without creating a second account. "
               f"Cause: {exc.args[0]}")
    error = type(exc)(scrub_text(message, (secret,) if secret else ()), system="ad", code=exc.code)
    error.partial_changes = tuple(done)
    error.dn = entry.dn
    return error
