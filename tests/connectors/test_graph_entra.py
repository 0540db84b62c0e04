"""Entra-only verbs, the new-hire composite, secrets, and the connector checked against Graph's CSDL."""
from __future__ import annotations

import json
import logging
import pickle
from datetime import datetime, timedelta, timezone

import pytest

from connectors.graph import ATTRIBUTES
from connectors.graph_entra import METHOD_SETS, PASSWORD_METHOD
from connectors.graph_onboard import OnboardVerbs
from tests.connectors.graph_csdl import load
from tests.connectors.graph_fake import (CLIENT_SECRET, connector, fake, graph, hire, org, sleeps,  # noqa: F401
                                         writes)
from workflows.directory import ConflictError, InvalidInputError, PermissionDeniedError

PASSWORD = "Corr3ct-Horse-Battery!"


def batches_with_depends_on(fake) -> list[list[str]]:
    """For each $batch sent: the inner requests' dependsOn, to see how a batch was sequenced."""
    out = []
    for call in fake.rsps.calls:
        if call.request.url.endswith("/$batch"):
            out.append([",".join(r.get("dependsOn", [])) for r in json.loads(call.request.body)["requests"]])
    return out


# -- licences -------------------------------------------------------------------------------------
def test_assign_licenses_by_part_number_and_id(fake, graph, org):
    user = fake.add_user("a@contoso.com", usageLocation="GB")
    planned = graph.assign_licenses("a", ["ENTERPRISEPACK", org["ems"]], plan=True)
    assert [(c.attribute, c.old, c.new) for c in planned.changes] == [("licenses", [], ["EMS", "ENTERPRISEPACK"])]
    assert writes(fake) == []
    assert graph.assign_licenses("a", ["ENTERPRISEPACK", org["ems"]]).changes == planned.changes
    assert writes(fake)[0].body == {"addLicenses": [{"skuId": org["e3"], "disabledPlans": []},
                                                    {"skuId": org["ems"], "disabledPlans": []}], "removeLicenses": []}
    assert {a["skuId"] for a in user["assignedLicenses"]} == {org["e3"], org["ems"]}
    assert graph.assign_licenses("a", ["ENTERPRISEPACK"]).already_done


def test_assign_licenses_sets_usage_location_first_in_one_sequential_batch(fake, graph, org):
    user = fake.add_user("a@contoso.com")
    with pytest.raises(InvalidInputError) as caught:
        graph.assign_licenses("a", ["EMS"])
    assert caught.value.code == "UsageLocationMissing" and writes(fake) == []
    outcome = graph.assign_licenses("a", ["EMS"], usage_location="GB")
    assert [c.attribute for c in outcome.changes] == ["usageLocation", "licenses"]
    assert user["usageLocation"] == "GB" and user["assignedLicenses"][0]["skuId"] == org["ems"]
    assert batches_with_depends_on(fake)[-1] == ["", "patch"]


def test_remove_licenses(fake, graph, org):
    user = fake.add_user("a@contoso.com", usageLocation="GB",
                         assignedLicenses=[{"skuId": org["e3"], "disabledPlans": []}])
    planned = graph.remove_licenses("a", ["ENTERPRISEPACK", "EMS"], plan=True)
    assert [(c.old, c.new) for c in planned.changes] == [(["ENTERPRISEPACK"], [])] and writes(fake) == []
    assert graph.remove_licenses("a", ["ENTERPRISEPACK", "EMS"]).changes == planned.changes
    assert writes(fake)[0].body == {"addLicenses": [], "removeLicenses": [org["e3"]]}
    assert user["assignedLicenses"] == []
    assert graph.remove_licenses("a", ["ENTERPRISEPACK"]).already_done


# -- sessions -------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [200, 204])
def test_revoke_sessions_accepts_200_and_204_and_a_rerun_is_already_done(fake, graph, status):
    fake.revoke_status = status
    user = fake.add_user("a@contoso.com")
    planned = graph.revoke_sessions("a", plan=True)
    assert [(c.attribute, c.new) for c in planned.changes] == [("signInSessionsValidFromDateTime", "now")]
    assert writes(fake) == []
    assert graph.revoke_sessions("a").changes == planned.changes
    assert [(s.method, s.url, s.status) for s in writes(fake)] == [
        ("POST", f"/users/{user['id']}/revokeSignInSessions", status)]
    assert graph.revoke_sessions("a").already_done
    later = connector([], now=lambda: datetime.now(timezone.utc) + timedelta(hours=1))
    assert later.revoke_sessions("a").changes   # an hour on, a new offboarding revokes again


# -- MFA ------------------------------------------------------------------------------------------
def test_remove_mfa_methods_deletes_each_through_its_own_collection(fake, graph):
    user = fake.add_user("a@contoso.com")
    phone = fake.add_method(user, "phoneAuthenticationMethod", phoneType="mobile", phoneNumber="+44 7700 900123")
    app = fake.add_method(user, "microsoftAuthenticatorAuthenticationMethod", displayName="Pixel 8")
    key = fake.add_method(user, "fido2AuthenticationMethod", displayName="YubiKey 5")
    planned = graph.remove_mfa_methods("a", plan=True)
    assert sorted(c.old for c in planned.changes) == ["fido2: YubiKey 5", "microsoftAuthenticator: Pixel 8",
                                                      "phone: mobile"]
    assert writes(fake) == [] and "+44" not in repr(planned)
    assert graph.remove_mfa_methods("a").changes == planned.changes
    assert sorted(s.url for s in writes(fake)) == sorted([
        f"/users/{user['id']}/authentication/phoneMethods/{phone['id']}",
        f"/users/{user['id']}/authentication/microsoftAuthenticatorMethods/{app['id']}",
        f"/users/{user['id']}/authentication/fido2Methods/{key['id']}"])
    assert [m["@odata.type"] for m in fake.methods[user["id"]]] == [PASSWORD_METHOD]
    assert graph.reset_mfa("a").already_done


def test_unknown_method_types_are_kept_and_reported(fake, graph):
    user = fake.add_user("a@contoso.com")
    fake.methods[user["id"]].append({"@odata.type": "#microsoft.graph.qrCodePinAuthenticationMethod", "id": "q1"})
    outcome = graph.remove_mfa_methods("a")
    assert outcome.already_done and outcome.details == {"kept": ["#microsoft.graph.qrCodePinAuthenticationMethod"]}


# -- Temporary Access Pass ------------------------------------------------------------------------
def test_temporary_access_pass_is_returned_apart_and_masked(fake, graph):
    user = fake.add_user("a@contoso.com")
    outcome, none = graph.issue_temporary_access_pass("a", lifetime_minutes=120, plan=True)
    assert none is None and writes(fake) == []
    assert [(c.attribute, c.new) for c in outcome.changes] == [("temporaryAccessPass", "issued (120 min, single use)")]
    outcome, tap = graph.issue_temporary_access_pass("a", lifetime_minutes=120)
    secret = tap.reveal()
    assert secret.startswith("TAP-") and (tap.lifetime_minutes, tap.usable_once) == (120, True)
    for shown in (repr(tap), str(tap), repr(outcome), str(outcome.details), f"{tap}"):
        assert secret not in shown
    with pytest.raises(TypeError):
        pickle.dumps(tap)
    with pytest.raises(TypeError):
        json.dumps({"tap": tap})
    assert writes(fake)[0].body == {"lifetimeInMinutes": 120, "isUsableOnce": True}
    assert any(m["@odata.type"].endswith("temporaryAccessPassAuthenticationMethod") for m in fake.methods[user["id"]])


def test_an_existing_pass_is_replaced_in_one_sequential_batch_or_refused(fake, graph):
    user = fake.add_user("a@contoso.com")
    old = fake.add_method(user, "temporaryAccessPassAuthenticationMethod", lifetimeInMinutes=60)
    with pytest.raises(ConflictError):
        graph.issue_temporary_access_pass("a", replace=False)
    outcome, tap = graph.issue_temporary_access_pass("a")
    assert [c.attribute for c in outcome.changes] == ["authenticationMethod", "temporaryAccessPass"]
    assert [s.method for s in writes(fake)] == ["DELETE", "POST"]
    assert batches_with_depends_on(fake)[-1] == ["", "drop0"]
    assert old not in fake.methods[user["id"]] and tap.method_id in [m["id"] for m in fake.methods[user["id"]]]
    with pytest.raises(InvalidInputError):
        graph.issue_temporary_access_pass("a", lifetime_minutes=5)


# -- onboarding -----------------------------------------------------------------------------------
def test_onboarding_round_trips_cold_and_warm(fake, graph, org):
    outcome = graph.onboard(hire(), groups=["Sales", "All Staff"], licenses=["ENTERPRISEPACK"], password=PASSWORD)
    assert outcome.details["created"] and fake.token_requests == 1
    assert fake.round_trips == 3          # resolve names (1 batch) + POST /users + follow-ups (1 batch)
    fake.add_user("mgr2@contoso.com")
    before = fake.round_trips
    graph.onboard(hire(username="rroe", upn="rroe@contoso.com", given_name="Rick", surname="Roe",
                       display_name="Rick Roe", employee_id="E101"),
                  groups=["Sales", "All Staff"], licenses=["ENTERPRISEPACK"])
    assert fake.round_trips - before == 2 and fake.token_requests == 1   # the floor: create + one batch
    user = fake.user("rroe@contoso.com")
    assert fake.groups_of(user) == ["All Staff", "Sales"] and fake.managers[user["id"]] == org["boss"]["id"]
    assert user["usageLocation"] == "GB" and user["assignedLicenses"][0]["skuId"] == org["e3"]


def test_onboarding_plan_writes_nothing_and_lists_every_change(fake, graph, org):
    planned = graph.onboard(hire(), groups=["Sales"], licenses=["EMS"], password=PASSWORD, plan=True)
    assert planned.planned and writes(fake) == [] and fake.round_trips == 1
    assert [(c.attribute, c.new) for c in planned.changes] == [
        ("account", "created, enabled"), ("userPrincipalName", "jdoe@contoso.com"), ("mailNickname", "jdoe"),
        ("displayName", "Jane Doe"), ("givenName", "Jane"), ("surname", "Doe"), ("jobTitle", "Account Executive"),
        ("department", "Sales"), ("employeeId", "E100"), ("usageLocation", "GB"), ("password", "set (hidden)"),
        ("manager", "boss@contoso.com"), ("memberOf", "Sales"), ("licenses", ["EMS"])]
    applied = graph.onboard(hire(), groups=["Sales"], licenses=["EMS"], password=PASSWORD)
    assert applied.changes == planned.changes
    assert graph.onboard(hire(), groups=["Sales"], licenses=["EMS"], plan=True).already_done


def test_onboarding_throttled_midway_completes_with_only_the_failed_requests_resent(fake, graph, org, sleeps):
    fake.throttle(match=lambda m, u: u.endswith("/members/$ref") and fake.groups_of(fake.user("jdoe@contoso.com"))
                  == ["All Staff"], retry_after="5")
    fake.throttle(match=lambda m, u: u.endswith("/assignLicense"), retry_after="2")
    outcome = graph.onboard(hire(), groups=["All Staff", "Sales"], licenses=["ENTERPRISEPACK"])
    user = fake.user("jdoe@contoso.com")
    assert fake.groups_of(user) == ["All Staff", "Sales"] and len(user["assignedLicenses"]) == 1
    assert fake.managers[user["id"]] == org["boss"]["id"] and len(outcome.changes) == 15
    assert fake.round_trips == 4 and sleeps == [5.0]   # resolve, create, follow-ups, one retry of the two
    assert [s.status for s in fake.sent if s.url.endswith("/assignLicense")] == [429, 200]
    assert graph.onboard(hire(), groups=["All Staff", "Sales"], licenses=["ENTERPRISEPACK"]).already_done


def test_onboarding_retries_404_right_after_the_create(fake, graph, org, sleeps):
    fake.replication_lag = 3
    graph.onboard(hire(), groups=["Sales"], licenses=["EMS"])
    user = fake.user("jdoe@contoso.com")
    assert fake.groups_of(user) == ["Sales"] and fake.managers[user["id"]] == org["boss"]["id"]
    assert [s.status for s in fake.sent if s.status == 404] == [404, 404, 404]
    assert sleeps and all(s <= 30 for s in sleeps)


def test_a_404_on_an_old_user_is_not_retried(fake, graph, sleeps):
    assert graph.find_user("ghost") is None and sleeps == []


def _state(fake, upn: str) -> tuple:
    user = fake.user(upn)
    return json.dumps(user, sort_keys=True), fake.groups_of(user), fake.managers.get(user["id"])


@pytest.mark.parametrize("holder, why", [
    ({"displayName": "Sam Reed", "employeeId": "E0007"}, "(employeeID E0007; the new hire's is E100)"),   # a colleague
    ({"displayName": "Jane Doe", "givenName": "Jane", "surname": "Doe", "accountEnabled": False},      # a namesake
     "(it has no employeeID, so it is not the new hire's (E100) account from an earlier attempt)"),
])
def test_a_upn_held_by_someone_else_is_a_conflict_not_already_done(fake, graph, org, holder, why):
    user = fake.add_user("jdoe@contoso.com", **holder)
    fake.members[org["sales"]["id"]].add(user["id"])
    before = _state(fake, "jdoe@contoso.com")
    for attempt in (lambda: graph.create_user(hire()), lambda: graph.create_user(hire(), plan=True),
                    lambda: graph.onboard(hire(), groups=["All Staff"], licenses=["ENTERPRISEPACK"], password=PASSWORD),
                    lambda: graph.onboard(hire(), groups=["All Staff"], plan=True)):
        with pytest.raises(ConflictError) as caught:
            attempt()
        assert caught.value.code == "ObjectConflict"
        assert f"jdoe@contoso.com ({holder['displayName']!r}) already belongs to someone else {why}" in str(caught.value)
    assert {s.method for s in writes(fake)} == {"POST"} and all(s.url.endswith("/users") for s in writes(fake)), \
        "only the creates Entra refused: nothing written to their account"
    assert _state(fake, "jdoe@contoso.com") == before


def test_the_hires_own_half_made_account_is_adopted_and_finished(fake, graph, org):
    graph.create_user(hire())   # an earlier attempt: disabled, with the hire's employeeId, then a crash
    assert fake.user("jdoe@contoso.com")["accountEnabled"] is False
    outcome = graph.onboard(hire(), groups=["Sales"])
    user = fake.user("jdoe@contoso.com")
    assert outcome.details["created"] is False and user["accountEnabled"] is True and fake.groups_of(user) == ["Sales"]


def test_onboarding_rerun_on_an_existing_account_fixes_only_the_difference(fake, graph, org):
    user = fake.add_user("jdoe@contoso.com", givenName="Jane", surname="Doe", displayName="Jane Doe",
                         employeeId="E100", accountEnabled=False, jobTitle="Intern", department="Sales")
    fake.members[org["sales"]["id"]].add(user["id"])
    outcome = graph.onboard(hire(), groups=["Sales"], licenses=["EMS"])
    assert [(c.attribute, c.new) for c in outcome.changes] == [
        ("jobTitle", "Account Executive"), ("usageLocation", "GB"), ("accountEnabled", True),
        ("manager", "boss@contoso.com"), ("licenses", ["EMS"])]
    assert outcome.details["created"] is False and user["accountEnabled"] is True
    assert batches_with_depends_on(fake)[-1] == ["", "patch", "2"]   # licences after usageLocation: sequential


def test_onboarding_refuses_unwritable_groups_before_creating_anyone(fake, graph, org):
    for group, error in (("Finance", PermissionDeniedError), ("Everyone", InvalidInputError)):
        with pytest.raises(error):
            graph.onboard(hire(), groups=[group])
    with pytest.raises(InvalidInputError):
        graph.onboard(hire(usage_location=None), licenses=["EMS"])
    assert writes(fake) == [] and fake.user("jdoe@contoso.com") is None


def test_onboarding_an_existing_synced_user_names_active_directory(fake, graph, org):
    fake.add_user("jdoe@contoso.com", synced=True, givenName="Jane", surname="Doe", employeeId="E100",
                  displayName="Jane Doe", department="Sales", jobTitle="Intern")
    with pytest.raises(PermissionDeniedError, match="Active Directory"):
        graph.onboard(hire())


# -- secrets --------------------------------------------------------------------------------------
def test_no_secret_reaches_logs_errors_or_outcomes(fake, graph, org, caplog):
    caplog.set_level(logging.DEBUG)
    user = fake.add_user("a@contoso.com")
    shown: list[str] = []
    outcomes = [graph.onboard(hire(), groups=["Sales"], password=PASSWORD),
                graph.set_initial_credential("a", PASSWORD)]
    tap_outcome, tap = graph.issue_temporary_access_pass("a")
    outcomes.append(tap_outcome)
    fake.fault(400, "Request_BadRequest", match=lambda m, u: m == "PATCH")
    for failing in (lambda: graph.set_initial_credential("a", PASSWORD),
                    lambda: connector([], client_secret="Wr0ng-" + CLIENT_SECRET).find_user("a")):
        with pytest.raises(Exception) as caught:
            failing()
        shown += [str(caught.value), repr(caught.value)]
    shown += [repr(o) for o in outcomes] + [c.describe() for o in outcomes for c in o.changes]
    shown += [caplog.text, repr(graph.config), repr(graph.http.session.__dict__.get("headers"))]
    for secret in (CLIENT_SECRET, PASSWORD, tap.reveal(), fake.access_token):
        assert not any(secret in text for text in shown), secret
    assert user["id"]


# -- the connector against Graph's schema ---------------------------------------------------------
def test_every_user_property_written_exists_on_microsoft_graph_user():
    csdl = load()
    body = OnboardVerbs._create_body(hire(office="London"), PASSWORD, True, True)
    written = set(body) | set(ATTRIBUTES.values()) | {"accountEnabled", "usageLocation"}
    assert {p for p in written if csdl.prop("microsoft.graph.user", p) is None} == set()
    assert csdl.check_object("microsoft.graph.user", body) == []
    assert csdl.check("POST", "/users", {"nickname": "x"}) != []      # the checker does reject


def test_actions_and_method_collections_exist_as_called():
    csdl = load()
    assign = csdl.action("microsoft.graph.user", "assignLicense")
    assert set(assign.params) == {"addLicenses", "removeLicenses"}
    assert csdl.action("microsoft.graph.user", "revokeSignInSessions").params == {}
    for odata_type, collection in METHOD_SETS.items():
        nav = csdl.nav("microsoft.graph.authentication", collection)
        assert nav == f"Collection(graph.{odata_type.rsplit('.', 1)[-1]})"
        assert csdl.capabilities.get(f"microsoft.graph.authentication/{collection}", {}).get(
            "DeleteRestrictions.Deletable", True)
    assert csdl.capabilities["microsoft.graph.authentication/methods"]["DeleteRestrictions.Deletable"] is False
    assert csdl.capabilities["microsoft.graph.authentication/passwordMethods"]["DeleteRestrictions.Deletable"] is False
    tap = "microsoft.graph.temporaryAccessPassAuthenticationMethod"
    assert csdl.prop(tap, "lifetimeInMinutes") == "Edm.Int32" and csdl.prop(tap, "isUsableOnce") == "Edm.Boolean"
