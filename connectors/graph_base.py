"""The machinery the Entra verbs share: reading users, resolving names to ids, planning and applying.

A verb reads the state it needs, turns the difference into ``Step``s (the ``Change``s an approver sees
plus the Graph call that makes them) and either returns them as a plan or applies them: one call is
sent as is, several go in one ``$batch``. A step whose call Graph answers "already so" (an accepted
status) drops out of the outcome, so a second run reports ``already_done``.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Sequence
from urllib.parse import quote

import requests

from connectors.graph_auth import SYSTEM, GraphConfig, TokenSource
from connectors.graph_batch import run_batch
from connectors.graph_http import Call, GraphHttp, Reply, RetryPolicy
from workflows.directory import (Change, ConflictError, InvalidInputError, NotFoundError, Outcome,
                                 PermissionDeniedError)

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
USER_FIELDS = ("id", "userPrincipalName", "mailNickname", "displayName", "givenName", "surname",
               "accountEnabled", "onPremisesSyncEnabled", "usageLocation", "assignedLicenses", "jobTitle",
               "department", "officeLocation", "employeeId", "signInSessionsValidFromDateTime")
GROUP_FIELDS = ("id", "displayName", "groupTypes", "mailEnabled", "securityEnabled", "onPremisesSyncEnabled")
ABSENT = ((404, None),)
FRESH_SECONDS = 300.0   # how long after a create a 404 on that user is taken for replication delay
CACHE_SECONDS = 3600.0  # group, manager and SKU ids resolved from names are kept this long
_MANAGER_CACHE = 512
CLOUD_ONLY = {"usageLocation"}   # of the properties we write, the only one AD Connect does not own


@dataclass(frozen=True)
class Step:
    changes: tuple[Change, ...]
    call: Call


def synced_refusal(upn: str, what: str) -> PermissionDeniedError:
    return PermissionDeniedError(
        f"{upn} is synchronised from on-premises Active Directory: change {what} in Active Directory "
        f"(Entra ID takes it from there at the next sync)", system=SYSTEM, code="OnPremisesSyncEnabled")


class GraphBase:
    system = SYSTEM

    def __init__(self, config: GraphConfig, *, session: requests.Session | None = None,
                 sleep: Callable[[float], None] | None = None, clock: Callable[[], float] = time.monotonic,
                 retry: RetryPolicy | None = None, tokens: Any = None,
                 now: Callable[[], datetime] | None = None):
        self.config = config
        self.now = now or (lambda: datetime.now(timezone.utc))
        self.tokens = tokens or TokenSource(config)
        self.http = GraphHttp(config.base_url, self.tokens.token, session=session, timeout=config.timeout,
                              sleep=sleep, retry=retry)
        self._clock = clock
        self._fresh: dict[str, float] = {}
        self._groups: dict[str, dict] = {}
        self._managers: dict[str, str] = {}
        self._skus: dict[str, str] | None = None   # skuPartNumber (upper) -> skuId
        self._cached_at = clock()

    def close(self) -> None:
        self.http.session.close()

    # -- addressing ----------------------------------------------------------------------------
    def upn(self, username: str) -> str:
        if "@" in username or GUID.match(username):
            return username
        if not self.config.upn_domain:
            raise InvalidInputError(f"{username!r} is not a user principal name and ENTRA_UPN_DOMAIN is not set",
                                    system=SYSTEM, code="upn_domain")
        return f"{username}@{self.config.upn_domain}"

    @staticmethod
    def path(key: str) -> str:
        return quote(key, safe="@")

    def odata_id(self, kind: str, object_id: str) -> str:
        return f"{self.config.base_url}/{kind}/{object_id}"

    def mark_fresh(self, *keys: str) -> None:
        now = self._clock()
        self._fresh = {k: t for k, t in self._fresh.items() if now - t < FRESH_SECONDS}
        for key in keys:
            self._fresh[key.lower()] = now

    def is_fresh(self, key: str) -> bool:
        seen = self._fresh.get(key.lower())
        return seen is not None and self._clock() - seen < FRESH_SECONDS

    # -- running calls -------------------------------------------------------------------------
    def run(self, calls: Sequence[Call]) -> list[Reply]:
        if not calls:
            return []
        if len(calls) == 1 and not calls[0].depends_on:
            return [self.http.send(calls[0])]
        return run_batch(self.http, calls)

    def finish(self, verb: str, steps: Sequence[Step], *, plan: bool, details: dict | None = None,
               on_reply: Callable[[Step, Reply], None] | None = None) -> Outcome:
        """A plan of ``steps``, or their application: changes whose call was accepted as already done drop out."""
        if plan or not steps:
            changes = tuple(c for s in steps for c in s.changes)
            return Outcome(SYSTEM, verb, changes, planned=plan, details=dict(details or {}))
        replies = self.run([s.call for s in steps])
        applied = []
        for step, reply in zip(steps, replies):
            if on_reply:
                on_reply(step, reply)
            if reply.ok:
                applied.extend(step.changes)
        self._confirm_memberships([s.call for s, r in zip(steps, replies) if r.status == 400 and _adds_member(s.call)])
        return Outcome(SYSTEM, verb, tuple(applied), details=dict(details or {}))

    def _confirm_memberships(self, refused: Sequence[Call]) -> None:
        """Graph answers 400 Request_BadRequest both when the member is already there and for other bad
        requests; the code alone cannot tell them apart, so the memberships are read again: a group the
        user is not in after all is an error, never "already done"."""
        if not refused:
            return
        user_id = refused[0].body["@odata.id"].rsplit("/", 1)[-1]
        listing = Call("GET", f"/users/{user_id}/memberOf?$top=999", accept=ABSENT, id="memberOf")
        member_of = {g.get("id") for g in self.http.get_pages(self.http.send(listing), listing)}
        missing = [c.url.split("/")[2] for c in refused if c.url.split("/")[2] not in member_of]
        if missing:
            raise InvalidInputError(f"Graph refused adding the user to group(s) {', '.join(missing)} "
                                    f"(400 Request_BadRequest), and they are not members", system=SYSTEM,
                                    code="Request_BadRequest")

    # -- reading users -------------------------------------------------------------------------
    def user_calls(self, username: str, *, groups: bool = False, manager: bool = False) -> list[Call]:
        key = self.path(self.upn(username))
        fresh = self.is_fresh(self.upn(username))
        calls = [Call("GET", f"/users/{key}?$select={','.join(USER_FIELDS)}", accept=ABSENT, fresh=fresh, id="user")]
        if groups:   # no cast to microsoft.graph.group: casts need ConsistencyLevel=eventual, a lagging index
            calls.append(Call("GET", f"/users/{key}/memberOf?$top=999", accept=ABSENT,
                              fresh=fresh, id="memberOf"))
        if manager:
            calls.append(Call("GET", f"/users/{key}/manager", accept=ABSENT,
                              fresh=fresh, id="manager"))
        return calls

    def read_user(self, username: str, *, groups: bool = False, manager: bool = False,
                  extra: Sequence[Call] = ()) -> tuple[dict | None, list[Reply]]:
        """The user (None when absent) with ``_groups``/``_manager`` filled on request, in one round trip;
        ``extra`` calls ride along in the same batch and their replies are returned."""
        calls = self.user_calls(username, groups=groups, manager=manager)
        replies = self.run([*calls, *extra])
        return self.user_from(calls, replies[:len(calls)]), replies[len(calls):]

    def user_from(self, calls: Sequence[Call], replies: Sequence[Reply]) -> dict | None:
        by_id = {c.id: (c, r) for c, r in zip(calls, replies)}
        call, reply = by_id["user"]
        if reply.status == 404:
            return None
        user = dict(reply.body or {})
        if "memberOf" in by_id:
            call, reply = by_id["memberOf"]
            items = self.http.get_pages(reply, call) if reply.ok else []
            user["_groups"] = [g for g in items if g.get("@odata.type", "#microsoft.graph.group")
                               == "#microsoft.graph.group"]
        if "manager" in by_id:
            user["_manager"] = by_id["manager"][1].body if by_id["manager"][1].ok else None
        return user

    def require_user(self, username: str, **kw: Any) -> dict:
        user, _ = self.read_user(username, **kw)
        return self.found(user, username)

    def found(self, user: dict | None, username: str) -> dict:
        if user is None:
            raise NotFoundError(f"no Entra ID user {self.upn(username)}", system=SYSTEM,
                                code="Request_ResourceNotFound")
        return user

    # -- resolving names -----------------------------------------------------------------------
    def expire_caches(self) -> None:
        """Forget the ids resolved from names once they are older than ``CACHE_SECONDS``."""
        if self._clock() - self._cached_at >= CACHE_SECONDS:
            self._groups, self._managers, self._skus = {}, {}, None
            self._cached_at = self._clock()

    def group_calls(self, refs: Sequence[str]) -> list[Call]:
        self.expire_caches()
        calls = []
        for n, ref in enumerate(dict.fromkeys(r for r in refs if r.lower() not in self._groups)):
            if GUID.match(ref):
                url = f"/groups/{ref}?$select={','.join(GROUP_FIELDS)}"
            else:
                literal = quote(ref.replace("'", "''"), safe="")
                url = f"/groups?$filter=displayName%20eq%20'{literal}'&$select={','.join(GROUP_FIELDS)}"
            calls.append(Call("GET", url, accept=ABSENT, id=f"group{n}"))
        return calls

    def remember_groups(self, calls: Sequence[Call], replies: Sequence[Reply], refs: Sequence[str]) -> None:
        pending = [r for r in dict.fromkeys(refs) if r.lower() not in self._groups]
        for ref, call, reply in zip(pending, calls, replies):
            found = [reply.body] if GUID.match(ref) and reply.ok else (reply.body or {}).get("value", [])
            if reply.status == 404 or not found:
                raise NotFoundError(f"no Entra ID group {ref!r}", system=SYSTEM, code="Request_ResourceNotFound")
            if len(found) > 1:
                raise ConflictError(f"{len(found)} Entra ID groups are named {ref!r}: use the group's object id",
                                    system=SYSTEM, code="AmbiguousGroupName")
            self._groups[ref.lower()] = found[0]

    def groups(self, refs: Sequence[str]) -> list[dict]:
        calls = self.group_calls(refs)
        if calls:
            self.remember_groups(calls, self.run(calls), refs)
        return [self._groups[r.lower()] for r in refs]

    @staticmethod
    def check_group_writable(group: dict) -> None:
        name = group.get("displayName") or group["id"]
        if group.get("onPremisesSyncEnabled"):
            raise PermissionDeniedError(f"group {name!r} is synchronised from on-premises Active Directory: "
                                        f"change its members in Active Directory", system=SYSTEM,
                                        code="OnPremisesSyncEnabled")
        types = group.get("groupTypes") or []
        if "DynamicMembership" in types:
            raise InvalidInputError(f"group {name!r} has rule-based (dynamic) membership", system=SYSTEM,
                                    code="DynamicMembership")
        if group.get("mailEnabled") and "Unified" not in types:
            raise InvalidInputError(f"group {name!r} is a distribution or mail-enabled security group: "
                                    f"manage it in Exchange Online", system=SYSTEM, code="MailEnabledGroup")

    def manager_call(self, manager: str) -> Call | None:
        self.expire_caches()
        if manager.lower() in self._managers:
            return None
        return Call("GET", f"/users/{self.path(self.upn(manager))}?$select=id", accept=ABSENT, id="managerLookup")

    def remember_manager(self, manager: str, reply: Reply) -> str:
        if reply.status == 404:
            raise NotFoundError(f"manager {self.upn(manager)} is not in Entra ID", system=SYSTEM,
                                code="Request_ResourceNotFound")
        if len(self._managers) >= _MANAGER_CACHE:
            self._managers.clear()
        self._managers[manager.lower()] = reply.body["id"]
        return reply.body["id"]

    def manager_id(self, manager: str) -> str:
        call = self.manager_call(manager)
        if call is not None:
            self.remember_manager(manager, self.http.send(call))
        return self._managers[manager.lower()]

    def sku_call(self, refs: Sequence[str]) -> Call | None:
        """The subscribedSkus read, when a part number must be resolved and it was not read yet."""
        self.expire_caches()
        if self._skus is None and any(not GUID.match(r) for r in refs):
            return Call("GET", "/subscribedSkus", id="skus")
        return None

    def remember_skus(self, reply: Reply) -> None:
        self._skus = {s["skuPartNumber"].upper(): s["skuId"] for s in (reply.body or {}).get("value", [])}

    def sku_ids(self, refs: Sequence[str]) -> list[str]:
        """Licence SKUs by id or part number (``ENTERPRISEPACK``); subscribedSkus is read once."""
        call = self.sku_call(refs)
        if call is not None:
            self.remember_skus(self.http.send(call))
        out = []
        for ref in refs:
            if GUID.match(ref):
                out.append(ref.lower())
            elif ref.upper() in (self._skus or {}):
                out.append(self._skus[ref.upper()].lower())
            else:
                raise NotFoundError(f"the tenant has no licence {ref!r}", system=SYSTEM, code="UnknownSku")
        return out

    def sku_label(self, sku_id: str) -> str:
        names = {v.lower(): k for k, v in (self._skus or {}).items()}
        return names.get(sku_id.lower(), sku_id)

    def attributes_step(self, user: dict, wanted: dict[str, Any], *, also: dict | None = None) -> Step | None:
        """One PATCH for every property of ``wanted`` that differs (plus ``also``, already decided)."""
        upn = user["userPrincipalName"]
        diff = {p: v for p, v in wanted.items() if (user.get(p) or None) != (v or None)}
        diff.update(also or {})
        synced = sorted(p for p in diff if p not in CLOUD_ONLY)
        if synced and user.get("onPremisesSyncEnabled"):
            raise synced_refusal(upn, ", ".join(synced))
        if not diff:
            return None
        changes = tuple(Change(upn, p, user.get(p), v) for p, v in diff.items())
        return Step(changes, self.patch_call(user, diff))

    def patch_call(self, user: dict, body: dict, *, redact: tuple[str, ...] = ()) -> Call:
        return Call("PATCH", f"/users/{user['id']}", body, fresh=self.is_fresh(user["id"]), redact=redact,
                    id="patch")


def _adds_member(call: Call) -> bool:
    return call.method == "POST" and call.url.startswith("/groups/") and call.url.endswith("/members/$ref")
