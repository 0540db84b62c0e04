"""Entra ID in a hybrid tenant: accounts come from on-premises AD through AD Connect (or Cloud Sync).

In such a tenant itbot must not create the cloud account (AD Connect would then meet a duplicate), and it
cannot write what AD owns (names, title, enabled, manager, password): Graph refuses those writes on synced
users. What stays in the cloud is itbot's to do: usage location, licences, cloud groups, sign-in sessions
and MFA methods.

``SyncedEntra`` wraps the Entra connector for the engine. The verbs whose effect comes from AD do not write;
they check that the sync has carried the AD change over, and while it has not, raise ``AwaitingSync`` (the
engine polls again later and, after a while, hands the step to a person). Nothing is reported done that
cannot be seen in Entra ID, except the password, which Graph cannot read: that step says so.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from workflows.directory import (Change, ConflictError, NewUser, Outcome, PermissionDeniedError, TransientError,
                                require_own_account)

# Attributes itbot's checklists set that stay cloud-owned on a synced user (the rest follow AD).
CLOUD_OWNED = frozenset({"usage_location"})
SYNCED_CODE = "OnPremisesSyncEnabled"     # the Entra connector's code for "AD owns this"
SYSTEM = "entra"
CLOUD_ACCOUNT_EXISTS = "CloudAccountExists"   # a cloud-only account holds the hire's UPN: IT matches or removes it


class AwaitingSync(TransientError):
    """The change has been made (or is due) in AD and has not reached Entra ID yet."""


class SyncedEntra:
    """The Entra connector, with account creation, enable/disable, manager, password and AD-owned attributes
    left to AD Connect and checked rather than written. Every other verb is the connector's own."""

    def __init__(self, entra: Any):
        self._entra = entra

    def __getattr__(self, name: str) -> Any:
        return getattr(self._entra, name)

    def __repr__(self) -> str:
        return f"SyncedEntra({self._entra!r})"

    # account ------------------------------------------------------------------------------------------
    def create_user(self, user: NewUser, *, plan: bool = False) -> Outcome:
        existing = self._entra.find_user(user.upn)
        if existing is not None:
            if not existing.synced_from_ad:
                raise ConflictError(
                    f"{user.upn} already exists in Entra ID as a cloud account, not synchronised from AD: match it "
                    f"to the AD account (or remove it) before AD Connect brings the new one over",
                    system=SYSTEM, code=CLOUD_ACCOUNT_EXISTS)
            synced_id = existing.attributes.get("employee_id")
            if synced_id and user.employee_id:   # AD (where the account is made) checks ownership in full
                require_own_account(user, f"{existing.upn} (synchronised from AD)", synced_id, system=SYSTEM,
                                    code="ObjectConflict")
            return Outcome(SYSTEM, "create_user", (), details={"synced": True})
        if plan:
            return Outcome(SYSTEM, "create_user",
                           (Change(user.upn, "account", None, "synchronised from Active Directory by AD Connect"),),
                           planned=True, details={"synced": True})
        raise AwaitingSync(f"waiting for AD Connect to bring {user.upn} over from Active Directory",
                           system=SYSTEM, code="AwaitingSync")

    def onboard(self, user: NewUser, *, groups: Sequence[str] = (), licenses: Sequence[str] = (),
                enable: bool = True, plan: bool = False, **_: Any) -> Outcome:
        """The cloud part of a new hire once the account has arrived: cloud groups, usage location, licences
        (enabling follows AD). Before it has arrived: planned from the names, or waited for."""
        arrived = self.create_user(user, plan=plan)
        if arrived.changes:  # planned: not there yet
            extra = self._entra.plan_after_sync(user, groups=groups, licenses=licenses) \
                if hasattr(self._entra, "plan_after_sync") else []
            changes = arrived.changes + tuple(c for o in extra for c in o.changes)
            return Outcome(SYSTEM, "onboard", changes, planned=True, details={"synced": True})
        changes: list[Change] = []
        if groups:
            changes += self._entra.add_to_groups(user.upn, list(groups), plan=plan).changes
        if licenses:
            changes += self._entra.assign_licenses(user.upn, list(licenses), usage_location=user.usage_location,
                                                   plan=plan).changes
        return Outcome(SYSTEM, "onboard", tuple(changes), planned=plan, details={"synced": True})

    def enable_user(self, username: str, *, plan: bool = False) -> Outcome:
        return self._follow(username, "enable_user", lambda p: self._entra.enable_user(username, plan=p), plan,
                            "the account to be enabled")

    def disable_user(self, username: str, *, plan: bool = False) -> Outcome:
        """Blocking sign-in is AD's (disabled there, synced here). Until the sync shows it, the person's
        sessions are revoked on every check, so nobody stays signed in through the sync's delay."""
        try:
            return self._follow(username, "disable_user", lambda p: self._entra.disable_user(username, plan=p),
                                plan, "the account to be disabled")
        except AwaitingSync:
            self._entra.revoke_sessions(username)
            raise

    def set_manager(self, username: str, manager: str | None, *, plan: bool = False) -> Outcome:
        return self._follow(username, "set_manager", lambda p: self._entra.set_manager(username, manager, plan=p),
                            plan, "the manager")

    def set_initial_credential(self, username: str, password: str, *, must_change: bool = True,
                               plan: bool = False) -> Outcome:
        """The password is AD's (password hash sync or pass-through); Graph cannot show it, so nothing to check."""
        changes = (Change(username, "password", None, "set in Active Directory (synchronised)"),) if plan else ()
        return Outcome(SYSTEM, "set_initial_credential", changes, planned=plan,
                       details={"synced": True, "note": "the password comes from Active Directory"})

    def set_attributes(self, username: str, attributes: Mapping[str, Any], *, plan: bool = False) -> Outcome:
        """Cloud-owned attributes are written; the ones AD owns are checked, and waited for."""
        cloud = {k: v for k, v in attributes.items() if k in CLOUD_OWNED}
        from_ad = {k: v for k, v in attributes.items() if k not in CLOUD_OWNED}
        changes: list[Change] = []
        if from_ad:
            changes += self._follow(username, "set_attributes",
                                    lambda p: self._entra.set_attributes(username, from_ad, plan=p), plan,
                                    ", ".join(sorted(from_ad))).changes
        if cloud:
            changes += self._entra.set_attributes(username, cloud, plan=plan).changes
        return Outcome(SYSTEM, "set_attributes", tuple(changes), planned=plan, details={"synced": True})

    # ------------------------------------------------------------------------------------------------
    def _follow(self, username: str, verb: str, call: Callable[[bool], Outcome], plan: bool, what: str) -> Outcome:
        """A change AD owns. The connector plans it first (read-only): nothing to change means Entra ID already
        shows it (done); Graph's refusal means the account is synced and AD Connect has yet to carry it over
        (planned for the approval card, or waited for). A cloud-only account is the connector's to change."""
        try:
            probe = call(True)
        except PermissionDeniedError as exc:
            if exc.code != SYNCED_CODE:
                raise
        else:
            if not probe.changes:
                return Outcome(SYSTEM, verb, (), details={"synced": True})
            return probe if plan else call(False)
        if plan:
            return Outcome(SYSTEM, verb, (Change(username, what, None, "from Active Directory (synchronised)"),),
                           planned=True, details={"synced": True})
        raise AwaitingSync(f"waiting for AD Connect to carry {what} over from Active Directory to {username}",
                           system=SYSTEM, code="AwaitingSync")
