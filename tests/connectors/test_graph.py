"""The Entra ID connector against a stateful Graph fake that answers as Graph documents.

Every request the connector sends (inner ``$batch`` requests included) is checked against Microsoft's
own v1.0 CSDL by the fake; the ``fake`` fixture fails a test that sent anything the schema does not
describe.
"""
from __future__ import annotations

import inspect
from types import SimpleNamespace

import pytest

from connectors.graph import GraphConfig, GraphConnector
from connectors.graph_auth import forget_apps
from connectors.graph_batch import run_batch
from connectors.graph_http import Call, RetryPolicy
from tests.connectors.graph_fake import (CLIENT_ID, CLIENT_SECRET, TENANT, connector, fake, graph, hire,  # noqa: F401
                                         org, sleeps, writes)
from workflows.directory import (ConflictError, Directory, InvalidInputError, NotFoundError, PermissionDeniedError,
                                 TransientError)

PASSWORD = "Corr3ct-Horse-Battery!"


# -- tokens ---------------------------------------------------------------------------------------
def test_token_is_fetched_once_per_process_from_the_tenant_authority(fake, sleeps):
    fake.add_user("a@contoso.com")
    first, second = connector(sleeps), connector(sleeps)
    for c in (first, second, first):
        assert c.find_user("a") is not None
    assert fake.token_requests == 1
    discovery = [c.request.url for c in fake.rsps.calls if "openid-configuration" in c.request.url]
    assert discovery == [f"https://login.microsoftonline.com/{TENANT}/v2.0/.well-known/openid-configuration"]


def test_bad_secret_is_permission_denied_with_the_aad_code_and_without_the_secret(fake, sleeps):
    wrong = "wrong-secret-value-123"
    with pytest.raises(PermissionDeniedError) as caught:
        connector(sleeps, client_secret=wrong).find_user("a")
    assert caught.value.code == "AADSTS7000215" and caught.value.system == "entra"
    assert wrong not in str(caught.value) and CLIENT_SECRET not in str(caught.value)
    assert fake.round_trips == 0


def test_token_endpoint_trouble_is_transient(fake, sleeps):
    fake.token_failure = (400, {"error": "temporarily_unavailable", "error_description": "AADSTS50196: busy",
                                "error_codes": [50196]})
    with pytest.raises(TransientError) as caught:
        connector(sleeps).find_user("a")
    assert caught.value.code == "AADSTS50196"
    forget_apps()   # msal caches failures: a retry needs a fresh app
    fake.token_failure = (503, {})
    with pytest.raises(TransientError):
        connector(sleeps).find_user("a")


def test_config_refuses_multi_tenant_authorities_and_hides_the_secret():
    with pytest.raises(ValueError):
        GraphConfig(tenant_id="common", client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    config = GraphConfig(tenant_id=TENANT, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                         authority_host="https://login.microsoftonline.us", graph_url="https://graph.microsoft.us/v1.0")
    assert CLIENT_SECRET not in repr(config)
    assert config.authority == f"https://login.microsoftonline.us/{TENANT}"
    assert config.scope == "https://graph.microsoft.us/.default"


# -- transport ------------------------------------------------------------------------------------
def test_timeout_becomes_transient_error(fake, graph):
    fake.timeout_on = lambda method, url: True
    with pytest.raises(TransientError) as caught:
        graph.find_user("jdoe")
    assert caught.value.code == "timeout"


def test_429_waits_retry_after_then_succeeds(fake, graph, sleeps):
    fake.add_user("a@contoso.com", accountEnabled=True)
    fake.throttle(match=lambda m, u: m == "PATCH", times=2, retry_after="7")
    assert graph.disable_user("a").changes
    assert sleeps == [7.0, 7.0]


def test_503_without_retry_after_backs_off_exponentially_with_a_cap_and_gives_up(fake, sleeps):
    fake.add_user("a@contoso.com")
    graph = GraphConnector(GraphConfig(TENANT, CLIENT_ID, CLIENT_SECRET, upn_domain="contoso.com"),
                           sleep=sleeps.append, retry=RetryPolicy(attempts=5, base=1.0, cap=3.0))
    fake.throttle(match=lambda m, u: True, times=10, retry_after=None, status=503)
    with pytest.raises(TransientError) as caught:
        graph.find_user("a")
    assert caught.value.code == "ServiceUnavailable"
    assert sleeps == [1.0, 2.0, 3.0, 3.0]


def test_graph_error_codes_are_kept_and_mapped(fake, graph):
    fake.add_user("a@contoso.com")
    fake.fault(403, "Authorization_RequestDenied", match=lambda m, u: m == "PATCH")
    with pytest.raises(PermissionDeniedError) as caught:
        graph.disable_user("a")
    assert caught.value.code == "Authorization_RequestDenied" and "request-id" in str(caught.value)
    with pytest.raises(NotFoundError) as missing:
        graph.disable_user("nobody")
    assert missing.value.code == "Request_ResourceNotFound"


# -- $batch ---------------------------------------------------------------------------------------
def test_batch_of_25_goes_in_two_round_trips_and_retries_only_the_throttled_inner_request(fake, graph, sleeps):
    user = fake.add_user("a@contoso.com")
    groups = [fake.add_group(f"G{n:02d}") for n in range(25)]
    fake.throttle(match=lambda m, u: u == f"/groups/{groups[3]['id']}/members/$ref", retry_after="4")
    before = fake.round_trips
    outcome = graph.add_to_groups("a", [g["id"] for g in groups])
    assert len(outcome.changes) == 25 and fake.groups_of(user) == sorted(g["displayName"] for g in groups)
    # reads: user + memberOf + 25 lookups = 27 calls = 2 batches; writes: 20 + 5, the throttled one
    # riding along with the last 5
    assert fake.round_trips - before == 4
    retried = [s for s in fake.sent if s.url == f"/groups/{groups[3]['id']}/members/$ref"]
    assert [s.status for s in retried] == [429, 204] and sleeps == [4.0]


def test_batch_dependency_failing_for_good_fails_its_dependants(fake, graph):
    user = fake.add_user("a@contoso.com")
    calls = [Call("PATCH", f"/users/{user['id']}", {"usageLocation": "GB"}, id="loc"),
             Call("POST", f"/users/{user['id']}/assignLicense",
                  {"addLicenses": [{"skuId": "9aaf7827-d63c-4b61-89c3-182f06f82e5c", "disabledPlans": []}],
                   "removeLicenses": []}, id="lic", depends_on=("loc",))]
    fake.fault(400, "Request_BadRequest", match=lambda m, u: m == "PATCH")
    with pytest.raises(InvalidInputError) as caught:
        run_batch(graph.http, calls)
    assert caught.value.code == "Request_BadRequest"
    assert [s.status for s in fake.sent if "assignLicense" in s.url] == []   # 424 never reaches the directory


def test_failed_dependency_424_is_resent_once_its_dependency_succeeds(fake, graph, org, sleeps):
    user = fake.add_user("a@contoso.com")
    fake.throttle(match=lambda m, u: m == "PATCH", retry_after="2")
    outcome = graph.assign_licenses("a", ["EMS"], usage_location="GB")
    assert [c.attribute for c in outcome.changes] == ["usageLocation", "licenses"]
    assert [s.status for s in fake.sent if s.method != "GET"] == [429, 204, 200]   # the 424 never reached it
    assert user["assignedLicenses"][0]["skuId"] == org["ems"] and sleeps == [2.0]


def test_the_nth_request_can_be_throttled(fake, graph, sleeps):
    fake.add_user("a@contoso.com", accountEnabled=True)
    fake.throttle(nth=2, retry_after="1")          # the GET is the first, the PATCH the second
    assert graph.disable_user("a").changes
    assert [(s.method, s.status) for s in fake.sent] == [("GET", 200), ("PATCH", 429), ("PATCH", 204)]
    assert sleeps == [1.0]


def test_a_throttled_batch_envelope_is_sent_again_whole(fake, graph, org, sleeps):
    user = fake.add_user("a@contoso.com")
    fake.throttle(match=lambda m, u: u == "/$batch", retry_after="6")
    assert graph.add_to_groups("a", ["Sales", "All Staff"]).changes
    assert fake.groups_of(user) == ["All Staff", "Sales"] and sleeps == [6.0]


def test_body_less_post_in_a_batch_carries_an_empty_body_and_content_type(fake, graph):
    user = fake.add_user("a@contoso.com")
    replies = run_batch(graph.http, [Call("POST", f"/users/{user['id']}/revokeSignInSessions"),
                                     Call("GET", f"/users/{user['id']}?$select=id")])
    assert [r.status for r in replies] == [200, 200]   # the fake rejects a body without Content-Type


def test_the_connector_has_every_directory_verb_with_the_same_parameters():
    for name, member in vars(Directory).items():
        if callable(member) and not name.startswith("_"):
            assert inspect.signature(getattr(GraphConnector, name)).parameters.keys() == \
                inspect.signature(member).parameters.keys(), name
    assert GraphConnector.system == "entra"


# -- find and create ------------------------------------------------------------------------------
def test_find_user_reads_state_in_one_round_trip(fake, graph, org):
    user = fake.add_user("a@contoso.com", displayName="A", accountEnabled=False, jobTitle="CFO", synced=True)
    fake.members[org["sales"]["id"]].add(user["id"])
    found = graph.find_user("a")
    assert (found.upn, found.enabled, found.groups, found.synced_from_ad) == ("a@contoso.com", False, ("Sales",), True)
    assert found.attributes["title"] == "CFO"
    assert graph.find_user("nobody") is None


def test_memberships_beyond_one_page_are_followed(fake, graph):
    user = fake.add_user("a@contoso.com")
    for n in range(5):
        fake.members[fake.add_group(f"G{n}")["id"]].add(user["id"])
    fake.page_size = 2
    assert sorted(graph.find_user("a").groups) == ["G0", "G1", "G2", "G3", "G4"]
    assert sum(1 for s in fake.sent if "$skiptoken" in s.url) >= 2


def test_built_from_settings_with_a_secret_holder(fake):
    class Held:
        def reveal(self):
            return CLIENT_SECRET
    settings = SimpleNamespace(azure_tenant_id=TENANT, azure_client_id=CLIENT_ID, azure_client_secret=Held(),
                               azure_authority_host=None, graph_url=None, entra_upn_domain="contoso.com",
                               http_timeout=5.0)
    fake.add_user("a@contoso.com")
    built = GraphConnector.from_settings(settings)
    assert built.find_user("a").upn == "a@contoso.com" and built.http.timeout == 5.0
    built.close()


def test_create_user_plans_creates_disabled_and_is_idempotent(fake, graph, org):
    planned = graph.create_user(hire(), plan=True)
    assert planned.planned and writes(fake) == []
    assert [c.describe() for c in planned.changes[:2]] == [
        "jdoe@contoso.com: account None → 'created, disabled'",
        "jdoe@contoso.com: userPrincipalName None → 'jdoe@contoso.com'"]
    assert ("manager", "boss@contoso.com") in [(c.attribute, c.new) for c in planned.changes]
    done = graph.create_user(hire())
    assert [c.describe() for c in done.changes] == [c.describe() for c in planned.changes]
    user = fake.user("jdoe@contoso.com")
    assert user["accountEnabled"] is False and fake.managers[user["id"]] == org["boss"]["id"]
    assert graph.create_user(hire()).already_done


def test_create_user_conflict_with_another_person(fake, graph, org):
    fake.add_user("jdoe@contoso.com", mailNickname="jdoe", givenName="John", surname="Doe", displayName="John Doe")
    with pytest.raises(ConflictError) as caught:
        graph.create_user(hire(employee_id=None))
    assert caught.value.code == "ObjectConflict" and "John Doe" in str(caught.value)
    assert [s.method for s in writes(fake)] == ["POST"]   # the refused create, nothing else
    fake.deleted_upns.add("jane@contoso.com")
    with pytest.raises(ConflictError, match="recycle bin"):
        graph.create_user(hire(username="jane", upn="jane@contoso.com"))


def test_create_user_validates_before_sending(fake, graph):
    with pytest.raises(InvalidInputError):
        graph.create_user(hire(upn="josé@contoso.com"))
    assert fake.sent == []


# -- credential, enable, disable ------------------------------------------------------------------
def test_set_initial_credential(fake, graph):
    fake.add_user("a@contoso.com")
    planned = graph.set_initial_credential("a", PASSWORD, plan=True)
    assert planned.planned and writes(fake) == []
    done = graph.set_initial_credential("a", PASSWORD)
    assert [(c.attribute, c.new) for c in done.changes] == [("password", "set (hidden), must change at next sign-in")]
    body = writes(fake)[0].body
    assert body == {"passwordProfile": {"password": PASSWORD, "forceChangePasswordNextSignIn": True}}
    with pytest.raises(InvalidInputError) as weak:
        graph.set_initial_credential("a", "short")
    assert "short" not in str(weak.value) and weak.value.code == "Request_BadRequest"


@pytest.mark.parametrize("verb, start, end", [("disable_user", True, False), ("enable_user", False, True)])
def test_enable_and_disable(fake, graph, verb, start, end):
    user = fake.add_user("a@contoso.com", accountEnabled=start)
    planned = getattr(graph, verb)("a", plan=True)
    assert [(c.attribute, c.old, c.new) for c in planned.changes] == [("accountEnabled", start, end)]
    assert writes(fake) == [] and user["accountEnabled"] is start
    assert getattr(graph, verb)("a").changes == planned.changes and user["accountEnabled"] is end
    assert getattr(graph, verb)("a").already_done


@pytest.mark.parametrize("call", [
    lambda g: g.disable_user("ad"), lambda g: g.set_initial_credential("ad", PASSWORD),
    lambda g: g.set_attributes("ad", {"title": "CEO"}), lambda g: g.set_manager("ad", "boss")])
def test_synced_users_are_refused_for_attributes_ad_owns(fake, graph, org, call):
    fake.add_user("ad@contoso.com", synced=True, accountEnabled=True)
    with pytest.raises(PermissionDeniedError, match="Active Directory") as caught:
        call(graph)
    assert caught.value.code == "OnPremisesSyncEnabled" and writes(fake) == []


def test_synced_user_cloud_only_attributes_still_change(fake, graph):
    user = fake.add_user("ad@contoso.com", synced=True)
    assert graph.set_attributes("ad", {"usage_location": "FR"}).changes and user["usageLocation"] == "FR"


# -- groups ---------------------------------------------------------------------------------------
def test_add_to_groups(fake, graph, org):
    user = fake.add_user("a@contoso.com")
    planned = graph.add_to_groups("a", ["Sales", org["staff"]["id"]], plan=True)
    assert [(c.attribute, c.new) for c in planned.changes] == [("memberOf", "Sales"), ("memberOf", "All Staff")]
    assert writes(fake) == []
    assert graph.add_to_groups("a", ["Sales", org["staff"]["id"]]).changes == planned.changes
    assert fake.groups_of(user) == ["All Staff", "Sales"]
    assert graph.add_to_groups("a", ["Sales", "All Staff"]).already_done


def test_add_when_someone_else_added_meanwhile_is_already_done(fake, graph, org):
    user = fake.add_user("a@contoso.com")
    fake.before(lambda m, u: m == "POST", lambda: fake.members[org["sales"]["id"]].add(user["id"]))
    assert graph.add_to_groups("a", ["Sales"]).already_done
    assert [s.status for s in writes(fake)] == [400]


def test_a_400_that_is_not_an_existing_membership_is_an_error_not_already_done(fake, graph, org):
    user = fake.add_user("a@contoso.com")
    fake.fault(400, "Request_BadRequest", match=lambda m, u: m == "POST" and u.endswith("/members/$ref"))
    with pytest.raises(InvalidInputError) as caught:
        graph.add_to_groups("a", ["Sales"])
    assert caught.value.code == "Request_BadRequest" and org["sales"]["id"] in str(caught.value)
    assert fake.groups_of(user) == []


def test_group_names_with_quotes_and_unknown_or_unwritable_groups(fake, graph, org):
    fake.add_user("a@contoso.com")
    fake.add_group("O'Brien's team")
    assert graph.add_to_groups("a", ["O'Brien's team"]).changes
    with pytest.raises(NotFoundError):
        graph.add_to_groups("a", ["No Such Group"])
    with pytest.raises(PermissionDeniedError, match="Active Directory"):
        graph.add_to_groups("a", ["Finance"])
    with pytest.raises(InvalidInputError, match="dynamic"):
        graph.add_to_groups("a", ["Everyone"])


def test_remove_from_groups_uses_the_ref_url(fake, graph, org):
    user = fake.add_user("a@contoso.com")
    fake.members[org["sales"]["id"]].add(user["id"])
    planned = graph.remove_from_groups("a", ["Sales", "All Staff"], plan=True)
    assert [(c.attribute, c.old, c.new) for c in planned.changes] == [("memberOf", "Sales", None)]
    assert graph.remove_from_groups("a", ["Sales", "All Staff"]).changes == planned.changes
    assert [(s.method, s.url) for s in writes(fake)] == [
        ("DELETE", f"/groups/{org['sales']['id']}/members/{user['id']}/$ref")]
    assert fake.user("a@contoso.com") is not None and fake.deleted_users == []
    assert graph.remove_from_groups("a", ["Sales"]).already_done


def test_remove_when_already_removed_meanwhile_is_already_done(fake, graph, org):
    user = fake.add_user("a@contoso.com")
    fake.members[org["sales"]["id"]].add(user["id"])
    fake.before(lambda m, u: m == "DELETE", lambda: fake.members[org["sales"]["id"]].discard(user["id"]))
    assert graph.remove_from_groups("a", ["Sales"]).already_done


def test_the_fake_knows_that_delete_without_ref_deletes_the_user(fake, graph, org):
    user = fake.add_user("a@contoso.com")
    graph.http.send(Call("DELETE", f"/groups/{org['sales']['id']}/members/{user['id']}"))
    assert fake.deleted_users == [user["id"]]


# -- manager and attributes -----------------------------------------------------------------------
def test_set_manager_change_and_clear(fake, graph, org):
    user = fake.add_user("a@contoso.com")
    other = fake.add_user("other@contoso.com")
    planned = graph.set_manager("a", "boss", plan=True)
    assert [(c.attribute, c.old, c.new) for c in planned.changes] == [("manager", None, "boss@contoso.com")]
    assert writes(fake) == []
    graph.set_manager("a", "boss")
    assert fake.managers[user["id"]] == org["boss"]["id"]
    assert graph.set_manager("a", "boss").already_done
    moved = graph.set_manager("a", "other")
    assert [(c.old, c.new) for c in moved.changes] == [("boss@contoso.com", "other@contoso.com")]
    assert fake.managers[user["id"]] == other["id"]
    assert graph.set_manager("a", None).changes and user["id"] not in fake.managers
    assert graph.set_manager("a", None).already_done
    with pytest.raises(NotFoundError):
        graph.set_manager("a", "ghost")


def test_set_attributes(fake, graph):
    user = fake.add_user("a@contoso.com", jobTitle="Rep", department="Sales")
    planned = graph.set_attributes("a", {"title": "Manager", "department": "Sales", "office": "London"}, plan=True)
    assert [(c.attribute, c.old, c.new) for c in planned.changes] == [("jobTitle", "Rep", "Manager"),
                                                                      ("officeLocation", None, "London")]
    assert writes(fake) == []
    graph.set_attributes("a", {"title": "Manager", "department": "Sales", "office": "London"})
    assert writes(fake)[0].body == {"jobTitle": "Manager", "officeLocation": "London"}
    assert (user["jobTitle"], user["officeLocation"]) == ("Manager", "London")
    assert graph.set_attributes("a", {"jobTitle": "Manager", "office": "London"}).already_done
    assert graph.set_attributes("a", {"office": None}).changes and user["officeLocation"] is None
    with pytest.raises(InvalidInputError):
        graph.set_attributes("a", {"shoe_size": "9"})
