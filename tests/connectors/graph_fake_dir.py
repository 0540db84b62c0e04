"""The directory behind the Graph fake: users, groups, memberships, manager, licences, auth methods, TAP.

``FakeDirectory.handle(method, url, body)`` answers one (non-batch) Graph request as Graph documents it;
``graph_fake.GraphFake`` adds the HTTP transport, ``$batch``, throttling and the MSAL endpoints.
"""
from __future__ import annotations

import re
import secrets
import uuid
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

from tests.connectors.graph_csdl import load

DEFAULT_USER = ("businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation",
                "preferredLanguage", "surname", "userPrincipalName", "id")
CLOUD_ONLY = {"usageLocation"}
PASSWORD_METHOD_ID = "28c10230-6103-485e-b985-444c60001490"


def err(status: int, code: str, message: str, details: list | None = None) -> tuple[int, dict, dict]:
    body = {"error": {"code": code, "message": message,
                      "innerError": {"date": "2026-11-22T12:00:00", "request-id": str(uuid.uuid4())}}}
    if details:
        body["error"]["details"] = details
    return status, body, {}


def not_found(what: str) -> tuple[int, dict, dict]:
    return err(404, "Request_ResourceNotFound", f"Resource '{what}' does not exist or one of its queried "
               f"reference-property objects are not present.")


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _select(obj: dict, url: str, default: tuple[str, ...] | None) -> dict:
    chosen = parse_qs(urlsplit(url).query).get("$select")
    names = chosen[0].split(",") if chosen else default
    out = {k: v for k, v in obj.items() if names is None or k in names or k == "@odata.type"}
    return out


class FakeDirectory:
    def now_iso(self) -> str:
        return self.clock().strftime("%Y-%m-%dT%H:%M:%SZ") if self.clock else now_iso()

    def __init__(self, graph_url: str):
        self.graph_url = graph_url
        self.users: dict[str, dict] = {}
        self.groups: dict[str, dict] = {}
        self.members: dict[str, set[str]] = {}
        self.managers: dict[str, str] = {}
        self.methods: dict[str, list[dict]] = {}
        self.skus: dict[str, str] = {}            # skuId -> skuPartNumber
        self.deleted_upns: set[str] = set()      # in the recycle bin: still conflict, GET 404
        self.deleted_users: list[str] = []       # objects deleted through /groups/{g}/members/{id} (no $ref)
        self.replication_lag = 0
        self.clock: Callable[[], datetime] | None = None   # what "now" is for revocations (default: real time)
        self.lagging: dict[str, int] = {}
        self.revoke_status = 200
        self.page_size = 100
        nav = load().types["microsoft.graph.authentication"].navs
        self.method_sets = {"#microsoft.graph." + t[len("Collection(graph."):-1]: name for name, t in nav.items()}

    # -- seeding ---------------------------------------------------------------------------------
    def add_user(self, upn: str, *, synced: bool = False, **props: Any) -> dict:
        nick = upn.split("@")[0]
        user = {"id": str(uuid.uuid4()), "userPrincipalName": upn, "mailNickname": nick, "displayName": nick,
                "givenName": None, "surname": None, "accountEnabled": True, "assignedLicenses": [],
                "usageLocation": None, "onPremisesSyncEnabled": True if synced else None, "jobTitle": None,
                "department": None, "officeLocation": None, "employeeId": None, "mail": upn,
                "signInSessionsValidFromDateTime": "2026-01-01T00:00:00Z", **props}
        self.users[user["id"]] = user
        self.methods[user["id"]] = [{"@odata.type": "#microsoft.graph.passwordAuthenticationMethod",
                                     "id": PASSWORD_METHOD_ID, "password": None}]
        return user

    def add_group(self, name: str, **props: Any) -> dict:
        group = {"id": str(uuid.uuid4()), "displayName": name, "groupTypes": [], "mailEnabled": False,
                 "securityEnabled": True, "onPremisesSyncEnabled": None, **props}
        self.groups[group["id"]] = group
        self.members[group["id"]] = set()
        return group

    def add_sku(self, part: str, sku_id: str | None = None) -> str:
        sku_id = sku_id or str(uuid.uuid4())
        self.skus[sku_id] = part
        return sku_id

    def add_method(self, user: dict, kind: str, **props: Any) -> dict:
        method = {"@odata.type": f"#microsoft.graph.{kind}", "id": str(uuid.uuid4()), **props}
        self.methods[user["id"]].append(method)
        return method

    def user(self, key: str) -> dict | None:
        key = key.lower()
        return next((u for u in self.users.values() if u["id"] == key or u["userPrincipalName"].lower() == key), None)

    def groups_of(self, user: dict) -> list[str]:
        return sorted(self.groups[g]["displayName"] for g, m in self.members.items() if user["id"] in m)

    # -- routing ---------------------------------------------------------------------------------
    def handle(self, method: str, url: str, body: Any) -> tuple[int, Any, dict]:
        path = [unquote(s) for s in urlsplit(url).path.strip("/").split("/")]
        lag = self._lagging(path, body)
        if lag:
            return lag
        handler = getattr(self, f"_{method.lower()}_{path[0]}", None)
        if handler is None:
            return err(405, "Request_BadRequest", f"{method} /{path[0]} is not supported by the fake")
        return handler(path[1:], url, body)

    def _lagging(self, path: list[str], body: Any) -> tuple | None:
        text = "/".join(path).lower() + str(body or "").lower()
        for key, left in list(self.lagging.items()):
            if left > 0 and key in text:
                self.lagging[key] = left - 1
                return not_found(key)
        return None

    # -- users -----------------------------------------------------------------------------------
    def _get_users(self, rest: list[str], url: str, body: Any):
        user = self.user(rest[0]) if rest else None
        if user is None:
            return not_found(rest[0] if rest else "users")
        if len(rest) == 1:
            return 200, _select(user, url, DEFAULT_USER), {}
        if rest[1] == "memberOf":
            return self._member_of(user, url)
        if rest[1] == "manager":
            manager = self.users.get(self.managers.get(user["id"], ""))
            if manager is None:
                return not_found("manager")
            return 200, {"@odata.type": "#microsoft.graph.user", **_select(manager, url, DEFAULT_USER)}, {}
        if rest[1:3] == ["authentication", "methods"]:
            return 200, {"value": [dict(m) for m in self.methods[user["id"]]]}, {}
        if rest[1:3] == ["authentication", "temporaryAccessPassMethods"]:
            return 200, {"value": self._taps(user)}, {}
        return err(400, "Request_BadRequest", f"fake cannot GET {url}")

    def _member_of(self, user: dict, url: str):
        query = parse_qs(urlsplit(url).query)
        start = int(query.get("$skiptoken", ["0"])[0])
        size = min(int(query.get("$top", ["100"])[0]), self.page_size)
        groups = [{"@odata.type": "#microsoft.graph.group", **self.groups[g]}
                  for g, m in sorted(self.members.items()) if user["id"] in m]
        page = {"value": groups[start:start + size]}
        if start + size < len(groups):
            page["@odata.nextLink"] = (f"{self.graph_url}/users/{user['id']}/memberOf"
                                       f"?$top={size}&$skiptoken={start + size}")
        return 200, page, {}

    def _post_users(self, rest: list[str], url: str, body: Any):
        if not rest:
            return self._create_user(body)
        user = self.user(rest[0])
        if user is None:
            return not_found(rest[0])
        action = "/".join(rest[1:])
        if action == "assignLicense":
            return self._assign_license(user, body)
        if action == "revokeSignInSessions":
            user["signInSessionsValidFromDateTime"] = self.now_iso()
            return (204, None, {}) if self.revoke_status == 204 else (200, {"value": True}, {})
        if action == "authentication/temporaryAccessPassMethods":
            return self._issue_tap(user, body)
        return err(400, "Request_BadRequest", f"fake cannot POST {url}")

    def _create_user(self, body: dict):
        missing = [k for k in ("accountEnabled", "displayName", "mailNickname", "userPrincipalName", "passwordProfile")
                   if body.get(k) in (None, "")]
        if missing:
            return err(400, "Request_BadRequest", f"Property '{missing[0]}' is required.")
        upn = body["userPrincipalName"]
        if self.user(upn) or upn.lower() in self.deleted_upns:
            return err(400, "Request_BadRequest", "Another object with the same value for property "
                       "userPrincipalName already exists.",
                       [{"code": "ObjectConflict", "message": "Another object with the same value for property "
                         "userPrincipalName already exists.", "target": "userPrincipalName"}])
        if not _complex_enough(body["passwordProfile"].get("password") or ""):
            return err(400, "Request_BadRequest", "The specified password does not comply with password "
                       "complexity requirements. Please provide a different password.")
        props = {k: v for k, v in body.items() if k != "passwordProfile"}
        user = self.add_user(upn, **props)
        user["signInSessionsValidFromDateTime"] = self.now_iso()
        for key in (user["id"], upn.lower()):
            self.lagging[key] = self.replication_lag
        return 201, {"@odata.context": f"{self.graph_url}/$metadata#users/$entity",
                     **_select(user, "", DEFAULT_USER)}, {"Location": f"{self.graph_url}/users/{user['id']}"}

    def _patch_users(self, rest: list[str], url: str, body: dict):
        user = self.user(rest[0])
        if user is None:
            return not_found(rest[0])
        if user.get("onPremisesSyncEnabled") and set(body) - CLOUD_ONLY:
            return err(400, "Request_BadRequest", "Unable to update the specified properties for on-premises "
                       "mastered Directory Sync objects or objects currently undergoing migration.")
        if "passwordProfile" in body and not _complex_enough(body["passwordProfile"].get("password") or ""):
            return err(400, "Request_BadRequest", "The specified password does not comply with password "
                       "complexity requirements. Please provide a different password.")
        user.update({k: v for k, v in body.items() if k != "passwordProfile"})
        return 204, None, {}

    def _put_users(self, rest: list[str], url: str, body: dict):
        user = self.user(rest[0])
        if user is None or rest[1:] != ["manager", "$ref"]:
            return not_found(rest[0])
        manager = self.user(body["@odata.id"].rstrip("/").rsplit("/", 1)[-1])
        if manager is None:
            return not_found(body["@odata.id"])
        self.managers[user["id"]] = manager["id"]
        return 204, None, {}

    def _delete_users(self, rest: list[str], url: str, body: Any):
        user = self.user(rest[0])
        if user is None:
            return not_found(rest[0])
        if rest[1:] == ["manager", "$ref"]:
            return (204, None, {}) if self.managers.pop(user["id"], None) else not_found("manager")
        if rest[1] == "authentication" and len(rest) == 4:
            return self._delete_method(user, rest[2], rest[3])
        return err(400, "Request_BadRequest", f"fake cannot DELETE {url}")

    # -- licences, methods, TAP ------------------------------------------------------------------
    def _assign_license(self, user: dict, body: dict):
        if body.get("addLicenses") is None or body.get("removeLicenses") is None:
            return err(400, "Request_BadRequest", "addLicenses and removeLicenses are required and non-nullable.")
        if body["addLicenses"] and not user.get("usageLocation"):
            return err(400, "Request_BadRequest",
                       "License assignment cannot be done for user with invalid usage location.")
        have = {a["skuId"] for a in user["assignedLicenses"]}
        for sku in [a["skuId"] for a in body["addLicenses"]] + body["removeLicenses"]:
            if sku not in self.skus:
                return err(400, "Request_BadRequest", f"License {sku} does not correspond to a valid company License.")
        if set(body["removeLicenses"]) - have:
            return err(400, "Request_BadRequest", "User does not have a corresponding license.")
        kept = [a for a in user["assignedLicenses"] if a["skuId"] not in body["removeLicenses"]]
        added = [{"skuId": a["skuId"], "disabledPlans": a.get("disabledPlans", [])} for a in body["addLicenses"]
                 if a["skuId"] not in have]
        user["assignedLicenses"] = kept + added
        return 200, _select(user, "", DEFAULT_USER), {}

    def _taps(self, user: dict) -> list[dict]:
        kind = "#microsoft.graph.temporaryAccessPassAuthenticationMethod"
        return [m for m in self.methods[user["id"]] if m["@odata.type"] == kind]

    def _delete_method(self, user: dict, collection: str, method_id: str):
        method = next((m for m in self.methods[user["id"]] if m["id"] == method_id), None)
        if method is None or self.method_sets.get(method["@odata.type"]) != collection:
            return not_found(method_id)
        if not load().capabilities.get(f"microsoft.graph.authentication/{collection}", {}).get(
                "DeleteRestrictions.Deletable", True):
            return err(405, "Request_BadRequest", f"{collection} cannot be deleted")
        self.methods[user["id"]].remove(method)
        return 204, None, {}

    def _issue_tap(self, user: dict, body: dict):
        if self._taps(user):
            return err(400, "Request_BadRequest", "User already has a Temporary Access Pass.")
        method = {"@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethod", "id": str(uuid.uuid4()),
                  "startDateTime": now_iso(), "lifetimeInMinutes": body.get("lifetimeInMinutes", 60),
                  "isUsableOnce": body.get("isUsableOnce", False), "isUsable": True,
                  "methodUsabilityReason": "EnabledByPolicy"}
        self.methods[user["id"]].append(method)
        return 201, {**method, "temporaryAccessPass": "TAP-" + secrets.token_urlsafe(9)}, {}

    # -- groups ----------------------------------------------------------------------------------
    def _get_groups(self, rest: list[str], url: str, body: Any):
        if rest:
            group = self.groups.get(rest[0])
            return (200, _select(group, url, None), {}) if group else not_found(rest[0])
        wanted = re.fullmatch(r"displayName eq '(.*)'", parse_qs(urlsplit(url).query).get("$filter", [""])[0])
        if not wanted:
            return err(400, "Request_UnsupportedQuery", "fake supports only displayName eq filters")
        name = wanted.group(1).replace("''", "'")
        return 200, {"value": [_select(g, url, None) for g in self.groups.values() if g["displayName"] == name]}, {}

    def _get_subscribedSkus(self, rest: list[str], url: str, body: Any):
        return 200, {"value": [{"skuId": k, "skuPartNumber": v, "capabilityStatus": "Enabled"}
                               for k, v in self.skus.items()]}, {}

    def _post_groups(self, rest: list[str], url: str, body: dict):
        group = self.groups.get(rest[0])
        if group is None or rest[1:] != ["members", "$ref"]:
            return not_found(rest[0])
        member = self.user(body["@odata.id"].rstrip("/").rsplit("/", 1)[-1])
        if member is None:
            return not_found(body["@odata.id"])
        if member["id"] in self.members[group["id"]]:
            return err(400, "Request_BadRequest", "One or more added object references already exist for the "
                       "following modified properties: 'members'.")
        if "DynamicMembership" in group["groupTypes"] or group.get("onPremisesSyncEnabled"):
            return err(400, "Request_BadRequest", "Insufficient privileges to complete the operation.")
        self.members[group["id"]].add(member["id"])
        return 204, None, {}

    def _delete_groups(self, rest: list[str], url: str, body: Any):
        group = self.groups.get(rest[0])
        if group is None or len(rest) < 3 or rest[1] != "members":
            return not_found(rest[0])
        if rest[3:] != ["$ref"]:   # DELETE /groups/{g}/members/{id}: Graph deletes the object itself
            self.deleted_users.append(rest[2])
            self.users.pop(rest[2], None)
            return 204, None, {}
        if rest[2] not in self.members[group["id"]]:
            return not_found(rest[2])
        self.members[group["id"]].discard(rest[2])
        return 204, None, {}


def _complex_enough(password: str) -> bool:
    kinds = [any(c.islower() for c in password), any(c.isupper() for c in password),
             any(c.isdigit() for c in password), any(not c.isalnum() for c in password)]
    return len(password) >= 8 and sum(kinds) >= 3
