"""The Entra ID connector: ``Directory`` verbs over Microsoft Graph v1.0 (system ``"entra"``).

Usernames are the mailNickname (``jdoe``, made ``jdoe@ENTRA_UPN_DOMAIN``), a UPN or an object id.
Groups are object ids or exact display names; licences are SKU ids or part numbers (``ENTERPRISEPACK``).
Every verb reads first and writes only the difference ("ensure"; the create itself leans on Entra's
UPN uniqueness instead, see ``graph_onboard``); ``plan=True`` returns the changes without writing.
Users synchronised from on-premises AD (``onPremisesSyncEnabled``) are refused, when a change is due,
for what AD owns (names, title, department, office, employee id, enabled, password, manager, synced
groups), with a message sending the operator to Active Directory; ``usageLocation``, licences,
sessions, MFA methods and passes are cloud-only and stay allowed.

Public API: ``GraphConnector(GraphConfig(...), session=, sleep=, clock=, now=, retry=)`` or
``GraphConnector.from_settings(settings)``; ``Directory`` verbs; ``assign_licenses``,
``remove_licenses``, ``revoke_sessions``, ``remove_mfa_methods`` (= ``reset_mfa``),
``issue_temporary_access_pass`` (returns ``(Outcome, TemporaryAccessPass)``); ``onboard``; ``close``.
``http.round_trips`` and ``tokens.fetches`` count requests to Graph and to the token endpoint.

The Entra-only verbs live in ``graph_entra`` (licences, sessions, MFA, Temporary Access Pass) and the
new-hire composite in ``graph_onboard``; this class puts them together.
"""
from __future__ import annotations

from typing import Any, Sequence

from connectors.graph_auth import DEFAULT_AUTHORITY_HOST, DEFAULT_GRAPH_URL, GraphConfig
from connectors.graph_base import ABSENT, GraphBase, Step, synced_refusal
from connectors.graph_entra import EntraVerbs, TemporaryAccessPass
from connectors.graph_http import Call
from connectors.graph_onboard import OnboardVerbs
from workflows.directory import Change, DirectoryUser, InvalidInputError, NewUser, Outcome

__all__ = ["GraphConnector", "GraphConfig", "TemporaryAccessPass", "ATTRIBUTES"]

# business name -> Graph user property; the Graph names themselves are accepted too
ATTRIBUTES = {"title": "jobTitle", "department": "department", "office": "officeLocation",
              "employee_id": "employeeId", "display_name": "displayName", "given_name": "givenName",
              "surname": "surname", "usage_location": "usageLocation"}


class GraphConnector(OnboardVerbs, EntraVerbs, GraphBase):
    """``Directory`` for Entra ID, plus the Entra verbs and ``onboard``. See the module docstring."""

    @classmethod
    def from_settings(cls, settings: Any, **kw: Any) -> "GraphConnector":
        """Build from the app's settings (attribute names listed in ``config_from_settings``)."""
        return cls(config_from_settings(settings), **kw)

    # -- reading -------------------------------------------------------------------------------
    def find_user(self, username: str) -> DirectoryUser | None:
        user, _ = self.read_user(username, groups=True)
        if user is None:
            return None
        attributes = {name: user.get(prop) for name, prop in ATTRIBUTES.items()
                      if name not in ("display_name",) and prop in user}
        attributes["licenses"] = [self.sku_label(a["skuId"]) for a in user.get("assignedLicenses") or []]
        return DirectoryUser(
            id=user["id"], username=user.get("mailNickname") or user["userPrincipalName"].split("@")[0],
            upn=user["userPrincipalName"], display_name=user.get("displayName") or "",
            enabled=bool(user.get("accountEnabled")),
            groups=tuple(g.get("displayName") or g["id"] for g in user.get("_groups", [])),
            attributes=attributes, synced_from_ad=bool(user.get("onPremisesSyncEnabled")))

    # -- account -------------------------------------------------------------------------------
    def create_user(self, user: NewUser, *, plan: bool = False) -> Outcome:
        """Create the account disabled, with a random password nobody knows (``set_initial_credential``
        or a Temporary Access Pass follows), its attributes and its manager."""
        return self.onboard(user, enable=False, plan=plan, verb="create_user")

    def set_initial_credential(self, username: str, password: str, *, must_change: bool = True,
                               plan: bool = False) -> Outcome:
        """Always a change: Graph cannot say whether the password already is this one."""
        user = self.require_user(username)
        upn = user["userPrincipalName"]
        if user.get("onPremisesSyncEnabled"):
            raise synced_refusal(upn, "the password")
        body = {"passwordProfile": {"password": password, "forceChangePasswordNextSignIn": must_change}}
        note = "set (hidden)" + (", must change at next sign-in" if must_change else "")
        step = Step((Change(upn, "password", None, note),), self.patch_call(user, body, redact=(password,)))
        return self.finish("set_initial_credential", [step], plan=plan)

    def enable_user(self, username: str, *, plan: bool = False) -> Outcome:
        return self._set_enabled(username, True, "enable_user", plan)

    def disable_user(self, username: str, *, plan: bool = False) -> Outcome:
        return self._set_enabled(username, False, "disable_user", plan)

    def _set_enabled(self, username: str, enabled: bool, verb: str, plan: bool) -> Outcome:
        user = self.require_user(username)
        upn = user["userPrincipalName"]
        if bool(user.get("accountEnabled")) == enabled:
            return self.finish(verb, [], plan=plan)
        if user.get("onPremisesSyncEnabled"):
            raise synced_refusal(upn, "whether the account is enabled")
        step = Step((Change(upn, "accountEnabled", not enabled, enabled),),
                    self.patch_call(user, {"accountEnabled": enabled}))
        return self.finish(verb, [step], plan=plan)

    # -- groups --------------------------------------------------------------------------------
    def add_to_groups(self, username: str, groups: Sequence[str], *, plan: bool = False) -> Outcome:
        user, wanted = self._user_and_groups(username, groups)
        have = {g["id"] for g in user["_groups"]}
        steps = [self.add_member_step(user, g) for g in wanted if g["id"] not in have]
        return self.finish("add_to_groups", steps, plan=plan)

    def remove_from_groups(self, username: str, groups: Sequence[str], *, plan: bool = False) -> Outcome:
        user, unwanted = self._user_and_groups(username, groups)
        have = {g["id"] for g in user["_groups"]}
        steps = [self._remove_member_step(user, g) for g in unwanted if g["id"] in have]
        return self.finish("remove_from_groups", steps, plan=plan)

    def _user_and_groups(self, username: str, refs: Sequence[str]) -> tuple[dict, list[dict]]:
        """The user with its memberships and the groups resolved, in one round trip."""
        lookups = self.group_calls(refs)
        user, replies = self.read_user(username, groups=True, extra=lookups)
        user = self.found(user, username)
        self.remember_groups(lookups, replies, refs)
        wanted = list({g["id"]: g for g in self.groups(refs)}.values())
        for group in wanted:
            self.check_group_writable(group)
        return user, wanted

    def add_member_step(self, user: dict, group: dict) -> Step:
        change = Change(user["userPrincipalName"], "memberOf", None, group.get("displayName") or group["id"])
        call = Call("POST", f"/groups/{group['id']}/members/$ref",
                    {"@odata.id": self.odata_id("directoryObjects", user["id"])},
                    accept=((400, "Request_BadRequest"),), fresh=self.is_fresh(user["id"]))
        return Step((change,), call)

    def _remove_member_step(self, user: dict, group: dict) -> Step:
        change = Change(user["userPrincipalName"], "memberOf", group.get("displayName") or group["id"], None)
        # /$ref removes the membership; without it Graph deletes the user object itself
        call = Call("DELETE", f"/groups/{group['id']}/members/{user['id']}/$ref", accept=ABSENT)
        return Step((change,), call)

    # -- manager and attributes ----------------------------------------------------------------
    def set_manager(self, username: str, manager: str | None, *, plan: bool = False) -> Outcome:
        lookup = self.manager_call(manager) if manager else None
        user, replies = self.read_user(username, manager=True, extra=[lookup] if lookup else [])
        user = self.found(user, username)
        if lookup:
            self.remember_manager(manager, replies[0])
        target = self.manager_id(manager) if manager else None
        step = self.manager_step(user, target, manager)
        if step and user.get("onPremisesSyncEnabled"):
            raise synced_refusal(user["userPrincipalName"], "the manager")
        return self.finish("set_manager", [step] if step else [], plan=plan)

    def manager_step(self, user: dict, target: str | None, label: str | None) -> Step | None:
        current = user.get("_manager") or {}
        if current.get("id") == target:
            return None
        upn = user["userPrincipalName"]
        change = Change(upn, "manager", current.get("userPrincipalName") or current.get("id"),
                        self.upn(label) if label else None)
        base = f"/users/{user['id']}/manager/$ref"
        fresh = self.is_fresh(user["id"])
        if target is None:
            return Step((change,), Call("DELETE", base, accept=ABSENT))
        return Step((change,), Call("PUT", base, {"@odata.id": self.odata_id("users", target)}, fresh=fresh))

    def set_attributes(self, username: str, attributes: dict[str, str | None], *,
                       plan: bool = False) -> Outcome:
        wanted = {graph_property(name): value for name, value in attributes.items()}
        user = self.require_user(username)
        step = self.attributes_step(user, wanted)
        return self.finish("set_attributes", [step] if step else [], plan=plan)


def graph_property(name: str) -> str:
    if name in ATTRIBUTES:
        return ATTRIBUTES[name]
    if name in ATTRIBUTES.values():
        return name
    raise InvalidInputError(f"unknown user attribute {name!r}; known: {', '.join(sorted(ATTRIBUTES))}",
                            system="entra", code="UnknownAttribute")


def config_from_settings(settings: Any) -> GraphConfig:
    """``azure_tenant_id``, ``azure_client_id``, ``azure_client_secret``, ``azure_authority_host``,
    ``graph_url``, ``entra_upn_domain``, ``http_timeout`` (missing optional ones take the defaults)."""
    return GraphConfig(
        tenant_id=settings.azure_tenant_id, client_id=settings.azure_client_id,
        client_secret=settings.azure_client_secret,
        authority_host=getattr(settings, "azure_authority_host", None) or DEFAULT_AUTHORITY_HOST,
        graph_url=getattr(settings, "graph_url", None) or DEFAULT_GRAPH_URL,
        upn_domain=getattr(settings, "entra_upn_domain", None) or None,
        timeout=float(getattr(settings, "http_timeout", 10.0) or 10.0))
