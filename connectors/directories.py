"""The configured directories, built from settings: Active Directory and/or Entra ID, or neither.

``build_directories(settings)`` returns ``{"ad": ADDirectory, "entra": EntraDirectory}`` holding only
the systems that are configured (an empty dict when none is: itbot then turns directory steps into
manual tasks). ``build_ad`` / ``build_entra`` return one connector, or None when it is not configured.

``ADDirectory`` and ``EntraDirectory`` are the connectors plus what ``workflows.directory_plans``
needs to plan (``PlanningDirectory``): a label, the name check for the username generator, the plan
for a new hire, and which of a leaver's groups can be removed. Settings are read by attribute (the
names ``bot.settings.Settings`` uses), so this module does not depend on the bot layer.
"""
from __future__ import annotations

from datetime import date
from typing import Any, Sequence

from connectors import ad_values as v
from connectors.ad import ADConnector
from connectors.graph import GraphConnector
from connectors.graph_auth import SYSTEM as ENTRA
from connectors.graph_http import Call
from workflows.directory import Change, NewUser, Outcome


class ADDirectory(ADConnector):
    """``ADConnector`` plus planning (see the module docstring)."""

    @property
    def label(self) -> str:
        return self.session.url

    def plan_new_hire(self, user: NewUser, *, groups: Sequence[str] = (), licenses: Sequence[str] = (),
                      expires: date | None = None) -> list[Outcome]:
        """``onboard(plan=True)`` (one search: create with attributes and manager, groups, a random initial
        password, enable), then the account expiry when there is an end date. Nothing is written.

        A re-run plans only what differs from the account an earlier run made. For an account that does
        not exist yet, the expiry is what ``set_account_expiry`` writes on a new account (which never
        expires until then)."""
        outcome = self.onboard(user, groups=list(groups), plan=True)
        outcomes = [outcome]
        if expires is not None:
            if outcome.details.get("created"):
                expiry = v.describe_expiry(v.expiry_value(expires, self.zone))
                outcomes.append(Outcome("ad", "set_account_expiry",
                                        (Change(user.username, "accountExpires", "never", expiry),),
                                        planned=True, details={"predicted": True}))
            else:
                outcomes.append(self.set_account_expiry(user.username, expires, plan=True))
        return outcomes

    def removable_groups(self, username: str, keep: Sequence[str] = ()) -> tuple[list[str], list[str]]:
        """The leaver's groups (DNs) minus those named in ``keep``; the notes say what was kept.
        (The primary group, Domain Users, is not in memberOf and cannot be removed anyway.)"""
        user = self.find_user(username)
        if user is None:
            return [], []
        kept_names = {k.casefold() for k in keep if not v.is_dn(k)}
        kept_dns = {v.dn_key(k) for k in keep if v.is_dn(k)}
        groups, notes = [], []
        for dn in user.groups:
            cn = v.dn_key(dn)[0][1]
            if v.dn_key(dn) in kept_dns or cn in kept_names:
                notes.append(f"{dn} is kept (keep_groups)")
            else:
                groups.append(dn)
        return groups, notes


class EntraDirectory(GraphConnector):
    """``GraphConnector`` plus planning (see the module docstring)."""

    @property
    def label(self) -> str:
        return f"tenant {self.config.tenant_id}"

    @property
    def upn_domain(self) -> str | None:
        return self.config.upn_domain

    def name_in_use(self, username: str) -> bool:
        """Is ``username@ENTRA_UPN_DOMAIN`` taken? (One GET.)"""
        user, _ = self.read_user(username)
        return user is not None

    def plan_new_hire(self, user: NewUser, *, groups: Sequence[str] = (), licenses: Sequence[str] = (),
                      expires: date | None = None) -> list[Outcome]:
        """``onboard(plan=True)``: one read ``$batch``; a re-run plans only what is missing."""
        return [self.onboard(user, groups=groups, licenses=licenses, enable=True, plan=True)]

    def plan_after_sync(self, user: NewUser, *, groups: Sequence[str] = (),
                        licenses: Sequence[str] = ()) -> list[Outcome]:
        """For accounts AD Connect creates: the cloud-only steps (usage location, licences, cloud groups).
        Before the account has arrived they are worked out from the names (checked in one ``$batch``);
        once it is there, the verbs plan against it."""
        if self.read_user(user.upn)[0] is not None:
            outcomes = [self.add_to_groups(user.upn, list(groups), plan=True)] if groups else []
            if licenses:
                outcomes.append(self.assign_licenses(user.upn, licenses, usage_location=user.usage_location,
                                                     plan=True))
            return outcomes
        lookups = self.group_calls(groups)
        skus = self.sku_call(licenses)
        calls = [*lookups, *([skus] if skus else [])]
        replies = dict(zip((c.id for c in calls), self.run(calls)))
        self.remember_groups(lookups, [replies[c.id] for c in lookups], groups)
        if skus:
            self.remember_skus(replies[skus.id])
        resolved = list({g["id"]: g for g in self.groups(groups)}.values())
        for group in resolved:
            self.check_group_writable(group)
        sku_ids = self.sku_ids(licenses)
        predicted = {"predicted": True}
        outcomes = []
        if resolved:
            outcomes.append(Outcome(ENTRA, "add_to_groups", tuple(
                Change(user.upn, "memberOf", None, g.get("displayName") or g["id"]) for g in resolved),
                planned=True, details=predicted))
        if sku_ids:
            outcomes.append(Outcome(ENTRA, "assign_licenses", (
                Change(user.upn, "usageLocation", None, user.usage_location),
                Change(user.upn, "licenses", [], sorted(self.sku_label(s) for s in sku_ids))),
                planned=True, details=predicted))
        return outcomes

    def remove_licenses(self, username: str, sku_ids: Sequence[str], *, plan: bool = False) -> Outcome:
        """As ``GraphConnector.remove_licenses``, with the tenant's SKUs read first (once per process) so
        the change names licences by part number (ENTERPRISEPACK) rather than by id."""
        if sku_ids and self._skus is None:
            self.remember_skus(self.http.send(Call("GET", "/subscribedSkus", id="skus")))
        return super().remove_licenses(username, sku_ids, plan=plan)

    def removable_groups(self, username: str, keep: Sequence[str] = ()) -> tuple[list[str], list[str]]:
        """The leaver's group ids itbot may remove, and notes on those it leaves (synced from AD, dynamic,
        mail-enabled, or in ``keep``)."""
        user, _ = self.read_user(username, groups=True)
        if user is None:
            return [], []
        kept = {k.casefold() for k in keep}
        ids, notes = [], []
        for group in user.get("_groups") or []:
            name = group.get("displayName") or group["id"]
            types = group.get("groupTypes") or []
            if name.casefold() in kept or group["id"].casefold() in kept:
                notes.append(f"{name} is kept (keep_groups)")
            elif group.get("onPremisesSyncEnabled"):
                notes.append(f"{name} is synchronised from Active Directory: the membership is removed there")
            elif "DynamicMembership" in types:
                notes.append(f"{name} has rule-based membership: the rule drops the account")
            elif group.get("mailEnabled") and "Unified" not in types:
                notes.append(f"{name} is a mail-enabled group: remove the member in Exchange Online")
            else:
                ids.append(group["id"])
        return ids, notes


def build_ad(settings: Any) -> ADDirectory | None:
    """The Active Directory connector from ``ldap_*`` settings, or None when ``ldap_url`` is unset."""
    if not getattr(settings, "ldap_url", None):
        return None
    org = getattr(settings, "org", None)
    return ADDirectory(
        settings.ldap_url, settings.ldap_bind_dn, settings.ldap_bind_password, base_dn=settings.ldap_base_dn,
        users_ou=settings.ldap_users_ou, disabled_ou=settings.ldap_disabled_ou,
        groups_base=settings.ldap_groups_base, upn_domain=settings.ldap_upn_domain, ca_file=settings.ldap_ca_file,
        tls_name=settings.ldap_tls_name, starttls=settings.ldap_starttls,
        connect_timeout=settings.ldap_connect_timeout, receive_timeout=settings.ldap_receive_timeout,
        page_size=settings.ldap_page_size, timezone=getattr(org, "default_timezone", None) or "UTC")


def build_entra(settings: Any, **kw: Any) -> EntraDirectory | None:
    """The Entra ID connector from ``azure_*`` settings, or None when ``azure_tenant_id`` is unset.
    ``kw`` goes to the connector (``session``, ``sleep``, ``retry``, …)."""
    if not getattr(settings, "azure_tenant_id", None):
        return None
    return EntraDirectory.from_settings(settings, **kw)


def build_directories(settings: Any, **entra_kw: Any) -> dict[str, Any]:
    """``{"ad": …, "entra": …}`` with only the configured systems; ``{}`` when neither is."""
    built = {"ad": build_ad(settings), "entra": build_entra(settings, **entra_kw)}
    return {system: directory for system, directory in built.items() if directory is not None}


def close_directories(directories: dict[str, Any]) -> None:
    for directory in directories.values():
        directory.close()
