"""A stateful Microsoft Graph v1.0 (and MSAL endpoints) fake on ``responses``.

It answers as Graph documents (CONTRACTS.md section 2): ``POST /users`` 201, PATCH/`$ref` 204,
``assignLicense`` 200, ``revokeSignInSessions`` 200 ``{"value": true}``, a taken UPN 400 with
``details[].code == "ObjectConflict"``, an existing member 400 ``Request_BadRequest``, missing objects
404 ``Request_ResourceNotFound``, and ``$batch`` with inner answers in shuffled order, ``dependsOn`` →
424, per-request 429 + ``Retry-After``. Every request (inner ones too) is checked against Microsoft's CSDL;
a request the schema does not describe answers 400 and is listed in ``violations``.

Knobs: ``replication_lag`` (the next N requests touching a just-created user answer 404), ``throttle(...)``
(429/503 for the n-th request or for requests matching a predicate), ``revoke_status`` (200 or 204),
``timeout_on`` (raise a read timeout for matching requests). Records: ``sent`` (every logical request),
``round_trips`` (HTTP requests to Graph), ``token_requests``.
"""
from __future__ import annotations

import json
import random
import re
import uuid
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import parse_qs

import pytest
import requests
import responses

from connectors.graph import GraphConfig, GraphConnector
from connectors.graph_auth import forget_apps
from tests.connectors.graph_csdl import load
from tests.connectors.graph_fake_dir import FakeDirectory, err
from workflows.directory import NewUser

GRAPH = "https://graph.microsoft.com/v1.0"
LOGIN = "https://login.microsoftonline.com"
TENANT = "contoso.onmicrosoft.com"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
CLIENT_SECRET = "s3cr3t~Client.Value_42"


@dataclass
class Sent:
    method: str
    url: str
    body: Any
    batched: bool
    status: int = 0


@dataclass
class Rule:
    status: int
    code: str
    retry_after: str | None
    times: int
    nth: int | None = None
    match: Callable[[str, str], bool] | None = None


class GraphFake(FakeDirectory):
    def __init__(self, rsps: responses.RequestsMock, *, seed: int = 7):
        super().__init__(GRAPH)
        self.rsps, self.rng, self.csdl = rsps, random.Random(seed), load()
        self.sent: list[Sent] = []
        self.violations: list[str] = []
        self.rules: list[Rule] = []
        self.hooks: list[list] = []
        self.timeout_on: Callable[[str, str], bool] | None = None
        self.round_trips = self.token_requests = self.logical = 0
        self.access_token = "eyJ0eXAiOiJKV1QifQ.eyJhdWQiOiJncmFwaCJ9.fake-signature-" + uuid.uuid4().hex
        self.token_failure: tuple[int, dict] | None = None
        pattern = re.compile(re.escape(GRAPH) + r"/.*")
        for method in ("GET", "POST", "PATCH", "PUT", "DELETE"):
            rsps.add_callback(method, pattern, self._graph)
        rsps.add_callback("GET", f"{LOGIN}/{TENANT}/v2.0/.well-known/openid-configuration", self._openid)
        rsps.add_callback("POST", f"{LOGIN}/{TENANT}/oauth2/v2.0/token", self._token)

    # -- knobs -----------------------------------------------------------------------------------
    def throttle(self, *, nth: int | None = None, match: Callable[[str, str], bool] | None = None,
                 times: int = 1, retry_after: str | None = "3", status: int = 429) -> None:
        """Answer 429 (or 503/504) to the n-th logical request from now, or to the next ``times`` matching ones."""
        code = {429: "TooManyRequests", 503: "ServiceUnavailable", 504: "GatewayTimeout"}[status]
        self.fault(status, code, nth=nth, match=match, times=times, retry_after=retry_after)

    def fault(self, status: int, code: str, *, nth: int | None = None,
              match: Callable[[str, str], bool] | None = None, times: int = 1, retry_after: str | None = None) -> None:
        self.rules.append(Rule(status, code, retry_after, times, None if nth is None else self.logical + nth, match))

    def before(self, match: Callable[[str, str], bool], action: Callable[[], None]) -> None:
        """Run ``action`` (once) just before the first request matching ``match`` is answered."""
        self.hooks.append([match, action])

    def graph_sent(self, method: str | None = None) -> list[Sent]:
        return [s for s in self.sent if method is None or s.method == method]

    # -- MSAL ------------------------------------------------------------------------------------
    def _openid(self, request):
        base = f"{LOGIN}/{TENANT}"
        return 200, {}, json.dumps({"token_endpoint": f"{base}/oauth2/v2.0/token", "issuer": f"{base}/v2.0",
                                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize"})

    def _token(self, request):
        self.token_requests += 1
        form = {k: v[0] for k, v in parse_qs(request.body if isinstance(request.body, str)
                                             else request.body.decode()).items()}
        if self.token_failure:
            status, body = self.token_failure
            return status, {}, json.dumps(body)
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return 401, {}, json.dumps({"error": "invalid_client", "error_codes": [7000215],
                                        "error_description": "AADSTS7000215: Invalid client secret provided. "
                                        "Ensure the secret being sent in the request is the client secret value.\r\n"
                                        "Trace ID: 0000\r\nCorrelation ID: 0000"})
        assert form.get("grant_type") == "client_credentials"
        assert form.get("scope") == "https://graph.microsoft.com/.default"
        return 200, {}, json.dumps({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                                    "access_token": self.access_token})

    # -- Graph transport -------------------------------------------------------------------------
    def _graph(self, request):
        self.round_trips += 1
        if request.headers.get("Authorization") != f"Bearer {self.access_token}":
            return _wire(*err(401, "InvalidAuthenticationToken", "Access token is empty or invalid."))
        url = request.url[len(GRAPH):]
        body = json.loads(request.body) if request.body else None
        if self.timeout_on and self.timeout_on(request.method, url):
            return requests.ReadTimeout("fake read timeout")
        if url.split("?")[0] == "/$batch" and request.method == "POST":
            throttled = self._throttled(request.method, url)
            return _wire(*(throttled or self._batch(body)))
        return _wire(*self.dispatch(request.method, url, body, batched=False))

    def dispatch(self, method: str, url: str, body: Any, *, batched: bool) -> tuple[int, Any, dict]:
        record = Sent(method, url, body, batched)
        self.sent.append(record)
        for hook in [h for h in self.hooks if h[0](method, url)]:
            self.hooks.remove(hook)
            hook[1]()
        answer = self._throttled(method, url) or self._checked(method, url, body) or self.handle(method, url, body)
        record.status = answer[0]
        return answer

    def _throttled(self, method: str, url: str):
        self.logical += 1
        for rule in self.rules:
            hit = rule.nth == self.logical if rule.nth is not None else rule.match and rule.match(method, url)
            if hit and rule.times > 0:
                rule.times -= 1
                status, body, _ = err(rule.status, rule.code, f"fault injected by the test ({rule.code})")
                return status, body, {"Retry-After": rule.retry_after} if rule.retry_after else {}
        return None

    def _checked(self, method: str, url: str, body: Any):
        problems = self.csdl.check(method, url, body)
        if problems:
            self.violations += [f"{method} {url}: {p}" for p in problems]
            return err(400, "Request_BadRequest", "; ".join(problems))
        return None

    def _batch(self, payload: Any) -> tuple[int, Any, dict]:
        items = (payload or {}).get("requests")
        problem = _batch_problem(items)
        if problem:
            self.violations.append(f"$batch: {problem}")
            return err(400, "BadRequest", problem)
        status: dict[str, int] = {}
        answers = []
        for item in _dependency_order(items):
            failed = [d for d in item.get("dependsOn", []) if not 200 <= status[d.lower()] < 300]
            if failed:
                code, body, headers = err(424, "FailedDependency", f"depends on failed request {failed[0]}")
            else:
                code, body, headers = self.dispatch(item["method"], "/" + item["url"].lstrip("/"), item.get("body"),
                                                    batched=True)
            status[item["id"].lower()] = code
            answers.append({"id": item["id"], "status": code, "headers": {"Content-Type": "application/json",
                                                                          **headers}, "body": body})
        self.rng.shuffle(answers)
        return 200, {"responses": answers}, {}


def _wire(status: int, body: Any, headers: dict):
    return status, {"Content-Type": "application/json", **headers}, "" if body is None else json.dumps(body)


def _batch_problem(items: Any) -> str | None:
    if not isinstance(items, list) or not 1 <= len(items) <= 20:
        return "a batch holds 1 to 20 requests"
    ids = [str(i.get("id", "")).lower() for i in items]
    if len(set(ids)) != len(ids) or "" in ids:
        return "request ids must be present and unique"
    for item in items:
        if item.get("url", "").startswith("http"):
            return f"url must be relative: {item['url']}"
        if "body" in item and "content-type" not in {k.lower() for k in item.get("headers") or {}}:
            return f"request {item['id']} has a body but no Content-Type header"
        if any(d.lower() not in ids for d in item.get("dependsOn", [])):
            return f"request {item['id']} depends on an id not in the batch"
    with_deps = sum(1 for i in items if i.get("dependsOn"))
    if with_deps and with_deps != len(items) - 1:
        return "a batch should be fully sequential or fully parallel"
    return None


def _dependency_order(items: list[dict]) -> list[dict]:
    done, out, rest = set(), [], list(items)
    while rest:
        ready = [i for i in rest if all(d.lower() in done for d in i.get("dependsOn", []))]
        assert ready, "dependsOn cycle"
        for item in ready:
            out.append(item)
            done.add(item["id"].lower())
            rest.remove(item)
    return out


# -- fixtures and helpers shared by the Graph test modules ------------------------------------------
@pytest.fixture
def fake():
    """The fake on a fresh ``responses`` mock; fails the test if anything sent breaks Graph's CSDL."""
    forget_apps()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        f = GraphFake(rsps)
        yield f
        assert f.violations == [], "requests Graph's CSDL does not describe"
    forget_apps()


@pytest.fixture
def sleeps():
    return []


def connector(sleeps: list, *, now=None, retry=None, **overrides) -> GraphConnector:
    config = dict(tenant_id=TENANT, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, upn_domain="contoso.com")
    config.update(overrides)
    return GraphConnector(GraphConfig(**config), sleep=sleeps.append, now=now, retry=retry)


@pytest.fixture
def graph(fake, sleeps):
    return connector(sleeps)


@pytest.fixture
def org(fake):
    """A small tenant: a manager, two cloud groups, a synced group, a dynamic group, two SKUs."""
    return {
        "boss": fake.add_user("boss@contoso.com", displayName="Bo Ss"),
        "sales": fake.add_group("Sales"), "staff": fake.add_group("All Staff"),
        "synced": fake.add_group("Finance", onPremisesSyncEnabled=True),
        "dynamic": fake.add_group("Everyone", groupTypes=["DynamicMembership"]),
        "e3": fake.add_sku("ENTERPRISEPACK"), "ems": fake.add_sku("EMS"),
    }


def hire(**kw) -> NewUser:
    base = dict(username="jdoe", given_name="Jane", surname="Doe", display_name="Jane Doe", upn="jdoe@contoso.com",
                department="Sales", title="Account Executive", employee_id="E100", manager="boss",
                usage_location="GB")
    base.update(kw)
    return NewUser(**base)


def writes(fake) -> list:
    return [s for s in fake.sent if s.method != "GET"]
