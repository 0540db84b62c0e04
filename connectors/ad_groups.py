"""Group membership: groups named by sAMAccountName, CN or DN; one search, then one modify per group.

The user's ``memberOf`` and ``primaryGroupID`` say what is already done (AD lists the primary group,
Domain Users for a new account, only in the latter). Raw results are mapped as AD gives them:
68 (already a member, also via primaryGroupID) on add and 53 (not a member) on remove mean
"already done"; 32 means the group or user is gone.
"""
from __future__ import annotations

from typing import Sequence

from ldap3 import MODIFY_ADD, MODIFY_DELETE
from ldap3.utils.conv import escape_filter_chars as esc

from connectors import ad_values as v
from workflows.directory import (
    Change, ConflictError, DirectoryError, NotFoundError, Outcome,
)


def _group_clause(name: str) -> str:
    if v.is_dn(name):
        return f"(distinguishedName={esc(name)})"
    return f"(|(sAMAccountName={esc(name)})(cn={esc(name)}))"


def group_filter(names: Sequence[str]) -> str:
    """The filter finding every group ``names`` could mean ('' for none), values escaped."""
    return f"(&(objectClass=group)(|{''.join(_group_clause(n) for n in names)}))" if names else ""


def already_member(member_of: Sequence[str], primary_group_id, group: v.Entry) -> bool:
    """In ``memberOf``, or ``group`` is the primary group (its RID is the user's primaryGroupID)."""
    rid = v.domain_rid(group)
    if rid is not None and str(rid) == str(primary_group_id):
        return True
    return any(v.same_dn(dn, group.dn) for dn in member_of)


class GroupsMixin:
    def add_to_groups(self, username: str, groups: Sequence[str], *, plan: bool = False) -> Outcome:
        return self._membership("add_to_groups", username, groups, add=True, plan=plan)

    def remove_from_groups(self, username: str, groups: Sequence[str], *, plan: bool = False) -> Outcome:
        return self._membership("remove_from_groups", username, groups, add=False, plan=plan)

    def _resolve_groups(self, names: Sequence[str], found: list) -> list[v.Entry]:
        """Each group name (sAMAccountName, CN, or DN) → its entry among ``found``, duplicates dropped."""
        groups = [e for e in found if e.get("groupType") is not None]
        resolved = []
        for name in names:
            if v.is_dn(name):
                hits = [g for g in groups if v.same_dn(g.dn, name)]
            else:
                hits = [g for g in groups if name.casefold() in
                        ((g.get("sAMAccountName") or "").casefold(), (g.get("cn") or "").casefold())
                        and (not self.groups_base or v.dn_key(g.dn)[-len(v.dn_key(self.groups_base)):]
                             == v.dn_key(self.groups_base))]
            if not hits:
                raise NotFoundError(f"no AD group {name!r}", system="ad", code="noSuchObject")
            if len(hits) > 1:
                raise ConflictError(f"group name {name!r} matches {len(hits)} groups; give its DN",
                                    system="ad", code="ambiguous")
            if not any(v.same_dn(hits[0].dn, g.dn) for g in resolved):
                resolved.append(hits[0])
        return resolved

    def _membership(self, verb: str, username: str, groups: Sequence[str], *, add: bool,
                    plan: bool) -> Outcome:
        names = [groups] if isinstance(groups, str) else list(groups)
        if not names:
            return self._done(verb, [], plan)
        (entry,), found = self._lookup([username], extra=group_filter(names))
        if entry is None:
            raise NotFoundError(f"no AD user {username!r}", system="ad", code="noSuchObject")
        member_of = entry.attrs.get("memberOf") or ()
        primary = entry.get("primaryGroupID") if add else None   # a primary group cannot be removed
        todo = [g.dn for g in self._resolve_groups(names, found) if already_member(member_of, primary, g) != add]
        changes: list[Change] = []
        for group in todo:
            if plan or self._write_member(entry, group, add, changes):
                changes.append(Change(entry.username, "memberOf", None if add else group, group if add else None))
        return self._done(verb, changes, plan, dn=entry.dn)

    def _write_member(self, entry: v.Entry, group: str, add: bool, done: list[Change]) -> bool:
        """True if the membership changed; False if AD says it already was as wanted."""
        operation = MODIFY_ADD if add else MODIFY_DELETE
        try:
            self.session.modify(group, {"member": [(operation, [entry.dn])]},
                                action=f"{'add' if add else 'remove'} {entry.username} "
                                       f"{'to' if add else 'from'} {group}")
            return True
        except DirectoryError as exc:
            if add and isinstance(exc, ConflictError):    # 68/20: already a member (or primary group)
                return False
            if not add and (exc.code or "").startswith("53 "):  # unwillingToPerform: not a member
                return False
            exc.partial_changes = tuple(done)  # what this call changed before the failure
            raise
