"""Entra-only verbs: licences, sign-in sessions, MFA methods, Temporary Access Pass.

The Temporary Access Pass is the one secret this connector hands out. It is returned beside the
``Outcome`` as a ``TemporaryAccessPass`` whose ``repr``/``str`` mask it and which refuses to be
pickled; the ``Outcome`` only says a pass was issued. Nothing here logs it.
"""
from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta, timezone
from typing import Sequence

from connectors.graph_auth import SYSTEM
from connectors.graph_base import ABSENT, GraphBase, Step
from connectors.graph_http import Call, Reply
from workflows.directory import Change, ConflictError, DirectoryError, InvalidInputError, Outcome

# authenticationMethod subtype -> the navigation property of microsoft.graph.authentication holding it
# (the generic /authentication/methods collection is not deletable; password methods cannot be removed)
METHOD_SETS = {
    "#microsoft.graph.phoneAuthenticationMethod": "phoneMethods",
    "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod": "microsoftAuthenticatorMethods",
    "#microsoft.graph.fido2AuthenticationMethod": "fido2Methods",
    "#microsoft.graph.softwareOathAuthenticationMethod": "softwareOathMethods",
    "#microsoft.graph.emailAuthenticationMethod": "emailMethods",
    "#microsoft.graph.windowsHelloForBusinessAuthenticationMethod": "windowsHelloForBusinessMethods",
    "#microsoft.graph.temporaryAccessPassAuthenticationMethod": "temporaryAccessPassMethods",
    "#microsoft.graph.platformCredentialAuthenticationMethod": "platformCredentialMethods",
    "#microsoft.graph.externalAuthenticationMethod": "externalAuthenticationMethods",
}
PASSWORD_METHOD = "#microsoft.graph.passwordAuthenticationMethod"
RECENT_REVOCATION = timedelta(minutes=10)   # a revocation this recent makes a second run "already done"
TAP_MINUTES = (10, 43200)                    # Graph's allowed lifetime range


class TemporaryAccessPass:
    """A freshly issued pass. ``reveal()`` gives the value; nothing else shows it."""

    __slots__ = ("_value", "user", "method_id", "starts", "lifetime_minutes", "usable_once")

    def __init__(self, value: str, *, user: str, method_id: str, starts: str | None, lifetime_minutes: int,
                 usable_once: bool):
        self._value = value
        self.user, self.method_id, self.starts = user, method_id, starts
        self.lifetime_minutes, self.usable_once = lifetime_minutes, usable_once

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return (f"TemporaryAccessPass(user={self.user!r}, lifetime_minutes={self.lifetime_minutes}, "
                f"usable_once={self.usable_once}, value='***')")

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("a Temporary Access Pass is not serialisable")


def _utc(value: str | None) -> datetime | None:
    """Graph's timestamp (``…Z``, up to 7 fraction digits) as an aware datetime; None if unreadable."""
    if not value:
        return None
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00"))
    try:
        return datetime.fromisoformat(text).astimezone(timezone.utc)
    except ValueError:
        return None


class EntraVerbs(GraphBase):
    # -- licences ------------------------------------------------------------------------------
    def assign_licenses(self, username: str, sku_ids: Sequence[str], *, usage_location: str | None = None,
                        plan: bool = False) -> Outcome:
        """Ensure the SKUs are assigned. ``usageLocation`` must be set first: when the user has none,
        ``usage_location`` is set in the same batch, sequenced before the licences."""
        user = self.require_user(username)
        steps = self.license_steps(user, self.sku_ids(sku_ids), usage_location)
        return self.finish("assign_licenses", steps, plan=plan)

    def license_steps(self, user: dict, skus: list[str], usage_location: str | None) -> list[Step]:
        have = [a["skuId"].lower() for a in user.get("assignedLicenses") or []]
        missing = [s for s in dict.fromkeys(skus) if s not in have]
        if not missing:
            return []
        steps = []
        if not user.get("usageLocation"):
            if not usage_location:
                raise InvalidInputError(f"{user['userPrincipalName']} has no usageLocation: licences need one "
                                        f"(ISO country code) set first", system=SYSTEM, code="UsageLocationMissing")
            steps.append(self.attributes_step(user, {"usageLocation": usage_location}))
        body = {"addLicenses": [{"skuId": s, "disabledPlans": []} for s in missing], "removeLicenses": []}
        call = Call("POST", f"/users/{user['id']}/assignLicense", body, fresh=self.is_fresh(user["id"]),
                    depends_on=("patch",) if steps else ())
        steps.append(Step((self._license_change(user, have, have + missing),), call))
        return steps

    def remove_licenses(self, username: str, sku_ids: Sequence[str], *, plan: bool = False) -> Outcome:
        user = self.require_user(username)
        have = [a["skuId"].lower() for a in user.get("assignedLicenses") or []]
        drop = [s for s in dict.fromkeys(self.sku_ids(sku_ids)) if s in have]
        if not drop:
            return self.finish("remove_licenses", [], plan=plan)
        body = {"addLicenses": [], "removeLicenses": drop}
        call = Call("POST", f"/users/{user['id']}/assignLicense", body)
        change = self._license_change(user, have, [s for s in have if s not in drop])
        return self.finish("remove_licenses", [Step((change,), call)], plan=plan)

    def _license_change(self, user: dict, old: list[str], new: list[str]) -> Change:
        return Change(user["userPrincipalName"], "licenses", sorted(self.sku_label(s) for s in old),
                      sorted(self.sku_label(s) for s in new))

    # -- sessions ------------------------------------------------------------------------------
    def revoke_sessions(self, username: str, *, plan: bool = False) -> Outcome:
        """Invalidate refresh tokens and session cookies (takes effect within minutes). A revocation
        in the last ``RECENT_REVOCATION`` counts as already done."""
        user = self.require_user(username)
        since = _utc(user.get("signInSessionsValidFromDateTime"))
        if since and self.now() - since < RECENT_REVOCATION:
            return self.finish("revoke_sessions", [], plan=plan)
        change = Change(user["userPrincipalName"], "signInSessionsValidFromDateTime",
                        user.get("signInSessionsValidFromDateTime"), "now")
        call = Call("POST", f"/users/{user['id']}/revokeSignInSessions")
        return self.finish("revoke_sessions", [Step((change,), call)], plan=plan, on_reply=_revoked)

    # -- MFA -----------------------------------------------------------------------------------
    def remove_mfa_methods(self, username: str, *, plan: bool = False) -> Outcome:
        """Delete every registered authentication method except the password, so the user registers
        MFA again. Methods of a type this connector does not know are kept and listed in details."""
        listing = Call("GET", f"/users/{self.path(self.upn(username))}/authentication/methods", id="methods",
                       accept=ABSENT)
        user, (reply,) = self.read_user(username, extra=[listing])
        user = self.found(user, username)
        methods = self.http.get_pages(reply, listing)
        kept = [m.get("@odata.type") for m in methods
                if m.get("@odata.type") not in METHOD_SETS and m.get("@odata.type") != PASSWORD_METHOD]
        steps = [self._delete_method_step(user, m) for m in methods if m.get("@odata.type") in METHOD_SETS]
        return self.finish("remove_mfa_methods", steps, plan=plan, details={"kept": kept} if kept else None)

    reset_mfa = remove_mfa_methods

    def _delete_method_step(self, user: dict, method: dict) -> Step:
        kind = METHOD_SETS[method["@odata.type"]]
        label = method.get("displayName") or method.get("phoneType") or method.get("id")
        change = Change(user["userPrincipalName"], "authenticationMethod", f"{kind[:-7]}: {label}", None)
        return Step((change,), Call("DELETE", f"/users/{user['id']}/authentication/{kind}/{method['id']}",
                                    accept=ABSENT))

    # -- Temporary Access Pass -----------------------------------------------------------------
    def issue_temporary_access_pass(self, username: str, *, lifetime_minutes: int = 60, usable_once: bool = True,
                                    replace: bool = True, plan: bool = False
                                    ) -> tuple[Outcome, TemporaryAccessPass | None]:
        """Issue a pass and return it beside the outcome. A user holds one pass at a time: an existing
        one is deleted first (``replace=True``) or the call is refused (``ConflictError``). Never
        "already done": a pass cannot be read back, so a second run issues a new one."""
        if not TAP_MINUTES[0] <= lifetime_minutes <= TAP_MINUTES[1]:
            raise InvalidInputError(f"lifetime_minutes must be within {TAP_MINUTES}", system=SYSTEM,
                                    code="InvalidLifetime")
        listing = Call("GET", f"/users/{self.path(self.upn(username))}/authentication/temporaryAccessPassMethods",
                       id="taps", accept=ABSENT)
        user, (reply,) = self.read_user(username, extra=[listing])
        user = self.found(user, username)
        existing = list((reply.body or {}).get("value") or [])
        if existing and not replace:
            raise ConflictError(f"{user['userPrincipalName']} already has a Temporary Access Pass",
                                system=SYSTEM, code="TemporaryAccessPassExists")
        steps = [self._delete_method_step(user, {**m, "@odata.type": "#microsoft.graph."
                                                 "temporaryAccessPassAuthenticationMethod"}) for m in existing]
        steps = [Step(s.changes, _with_id(s.call, f"drop{n}")) for n, s in enumerate(steps)]
        body = {"lifetimeInMinutes": lifetime_minutes, "isUsableOnce": usable_once}
        issue = Call("POST", f"/users/{user['id']}/authentication/temporaryAccessPassMethods", body, id="issue",
                     depends_on=tuple(s.call.id for s in steps), fresh=self.is_fresh(user["id"]))
        note = f"issued ({lifetime_minutes} min, {'single use' if usable_once else 'reusable'})"
        steps.append(Step((Change(user["userPrincipalName"], "temporaryAccessPass", None, note),), issue))
        issued: list[Reply] = []
        outcome = self.finish("issue_temporary_access_pass", steps, plan=plan,
                              on_reply=lambda step, r: issued.append(r) if step.call is issue else None)
        if plan:
            return outcome, None
        body = issued[0].body or {}
        details = {"method_id": body.get("id"), "starts": body.get("startDateTime")}
        outcome = dataclasses.replace(outcome, details=details)
        return outcome, TemporaryAccessPass(body.get("temporaryAccessPass", ""), user=user["userPrincipalName"],
                                            method_id=body.get("id", ""), starts=body.get("startDateTime"),
                                            lifetime_minutes=body.get("lifetimeInMinutes", lifetime_minutes),
                                            usable_once=body.get("isUsableOnce", usable_once))


def _revoked(step: Step, reply: Reply) -> None:
    """Graph answers 200 ``{"value": true}`` (the docs say 204): both are success; ``false`` is not."""
    if reply.status == 200 and isinstance(reply.body, dict) and reply.body.get("value") is False:
        raise DirectoryError(f"Graph did not revoke the sessions of {step.changes[0].target}", system=SYSTEM,
                             code="RevokeReturnedFalse")


def _with_id(call: Call, cid: str) -> Call:
    return dataclasses.replace(call, id=cid)
