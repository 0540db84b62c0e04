"""The in-memory sandbox directories: the real connectors' verbs and semantics, fault injection, no secrets."""
from __future__ import annotations

import inspect
import logging
import pickle
import re
import threading
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from connectors.directories import ADDirectory, EntraDirectory
from connectors.sandbox import SandboxAD, SandboxEntra, TemporaryAccessPass
from tests.connectors import graph_fake
from tests.connectors.graph_fake import fake, graph, sleeps  # noqa: F401  (fixtures)
from tests.connectors.test_ad import make_connector, make_group
from workflows.directory import (ConflictError, InvalidInputError, NewUser, NotFoundError, PermissionDeniedError,
                                 TransientError)

PASSWORD = "Corr3ct-Horse-Battery"
DISABLED = "OU=Disabled,DC=example,DC=com"
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now


def seeds():
    return [{"username": "ben", "display_name": "Ben Okafor", "groups": ["Staff"], "title": "Lead",
             "usage_location": "GB", "licenses": ["ENTERPRISEPACK"], "mfa_methods": ["phone: +44 7700 900123"]},
            {"username": "cio", "display_name": "Grace Kim"},
            {"username": "newbie", "display_name": "New Bie", "enabled": False, "has_password": False}]


def make(system, clock=None):
    common = dict(groups=["Staff", "VPN"], protected_groups=["Domain Admins"])
    if system == "ad":
        return SandboxAD(seeds(), disabled_ou=DISABLED, **common)
    return SandboxEntra(seeds(), licenses=["EMS"], now=clock or Clock(), **common)


@pytest.fixture(params=["ad", "entra"])
def d(request):
    return make(request.param)


@pytest.fixture
def ad():
    return make("ad")


@pytest.fixture
def entra():
    return make("entra")


def hire(**kw):
    fields = dict(username="ana", given_name="Ana", surname="Lima", display_name="Ana Lima", upn="ana@example.com",
                  department="Sales", manager="ben", usage_location="PT", employee_id="E1")
    return NewUser(**{**fields, **kw})


def ensure(d, name, *args, **kw):
    """Plan (nothing written), apply (the planned changes), apply again (already done)."""
    before = d.snapshot()
    planned = getattr(d, name)(*args, plan=True, **kw)
    planned = planned[0] if isinstance(planned, tuple) else planned
    assert planned.planned and planned.changes and d.snapshot() == before
    done = getattr(d, name)(*args, **kw)
    done = done[0] if isinstance(done, tuple) else done
    assert not done.planned and done.changes == planned.changes
    assert getattr(d, name)(*args, **kw).already_done
    return done


# -- the verbs both systems share -------------------------------------------------------------------
def test_signatures_match_the_real_connectors():
    for sandbox, real in ((SandboxAD, ADDirectory), (SandboxEntra, EntraDirectory)):
        for name in ("find_user", "create_user", "set_initial_credential", "enable_user", "disable_user",
                     "add_to_groups", "remove_from_groups", "set_manager", "set_attributes", "onboard",
                     "name_in_use", "close", *(("move_to_ou", "set_account_expiry") if sandbox is SandboxAD else
                     ("assign_licenses", "remove_licenses", "revoke_sessions", "remove_mfa_methods", "reset_mfa",
                      "issue_temporary_access_pass"))):
            shape = [[(p.name, p.kind, p.default) for p in inspect.signature(getattr(cls, name)).parameters.values()]
                     for cls in (sandbox, real)]
            assert shape[0] == shape[1], (sandbox.__name__, name)


def test_groups_membership_and_manager(d):
    done = ensure(d, "add_to_groups", "ben", ["VPN", "staff", "VPN"])
    assert [c.attribute for c in done.changes] == ["memberOf"] and "VPN" in d.snapshot()["users"]["ben"]["groups"]
    ensure(d, "remove_from_groups", "ben", ["Staff", "VPN"])
    assert d.snapshot()["users"]["ben"]["groups"] == []
    done = ensure(d, "set_manager", "cio", "ben")
    assert (done.changes[0].attribute, done.changes[0].old) == ("manager", None)
    assert d.snapshot()["users"]["cio"]["manager"] == "ben"
    ensure(d, "set_manager", "cio", None)
    with pytest.raises(InvalidInputError):
        d.set_manager("ben", "ben")


def test_enable_disable_and_attributes(d):
    ensure(d, "disable_user", "ben")
    assert d.snapshot()["users"]["ben"]["enabled"] is False and d.find_user("ben").enabled is False
    ensure(d, "enable_user", "ben")
    done = ensure(d, "set_attributes", "ben", {"title": "Head of Sales", "department": "Sales"})
    assert len(done.changes) == 2 and d.find_user("ben").attributes["title"] == "Head of Sales"
    ensure(d, "set_attributes", "ben", {"title": None})
    assert "title" not in d.find_user("ben").attributes
    with pytest.raises(InvalidInputError):
        d.set_attributes("ben", {"shoe_size": "44"})


def test_find_user_and_name_in_use(d):
    user = d.find_user("BEN")
    assert (user.username, user.upn, user.display_name) == ("ben", "ben@example.com", "Ben Okafor")
    assert d.find_user(user.id) == user and d.find_user("ben@example.com") == user
    assert d.find_user("nobody") is None
    assert d.name_in_use("ben") and not d.name_in_use("nobody")


def test_unknown_users_and_groups_are_not_found(d):
    for call in (lambda: d.disable_user("ghost"), lambda: d.add_to_groups("ghost", ["Staff"]),
                 lambda: d.add_to_groups("ben", ["No Such Group"]), lambda: d.set_manager("ben", "ghost"),
                 lambda: d.set_attributes("ghost", {"title": "x"}), lambda: d.onboard(hire(manager="ghost"))):
        with pytest.raises(NotFoundError) as caught:
            call()
        assert caught.value.system == d.system and caught.value.code


def test_protected_groups_are_refused_before_anything_changes(d):
    before = d.snapshot()
    for call in (lambda: d.add_to_groups("ben", ["VPN", "Domain Admins"]),
                 lambda: d.remove_from_groups("ben", ["Staff", "domain admins"]),
                 lambda: d.onboard(hire(), groups=["Domain Admins"])):
        with pytest.raises(PermissionDeniedError):
            call()
    assert d.snapshot() == before


def test_a_taken_username_held_by_someone_else_is_a_conflict(d):
    d.onboard(hire(), password=PASSWORD)
    before = d.snapshot()
    for other in (hire(given_name="Anabel", display_name="Anabel Lopes", employee_id="E2", upn="al@example.com"),
                  hire(username="alima", upn="ana@example.com", given_name="Anna", surname="Lim")):
        with pytest.raises(ConflictError):
            d.create_user(other)
        with pytest.raises(ConflictError):
            d.onboard(other)
    assert d.snapshot() == before


@pytest.mark.parametrize("bad", ["Short1!", "alllowercaseletters", "lowercase123456", "", None])
def test_passwords_must_meet_the_policy(d, bad):
    with pytest.raises(InvalidInputError) as caught:
        d.set_initial_credential("newbie", bad)
    if bad:
        assert bad not in str(caught.value)
        with pytest.raises(InvalidInputError):
            d.onboard(hire(), password=bad)
    assert "ana" not in d.snapshot()["users"] and d.snapshot()["users"]["newbie"]["has_password"] is False


def test_onboard_plans_creates_and_reruns(d):
    before = d.snapshot()
    planned = d.onboard(hire(), groups=["VPN"], password=PASSWORD, plan=True)
    assert planned.planned and planned.details["created"] and d.snapshot() == before
    done = d.onboard(hire(), groups=["VPN"], password=PASSWORD)
    assert done.changes == planned.changes and done.details["created"]
    again = d.onboard(hire(), groups=["VPN"], password=PASSWORD)
    assert again.already_done and not again.details["created"]
    ana = d.snapshot()["users"]["ana"]
    assert (ana["enabled"], ana["has_password"], ana["groups"], ana["manager"]) == (True, True, ["VPN"], "ben")
    changed = d.onboard(hire(department="Marketing"), groups=["VPN", "Staff"])   # a re-run writes only the difference
    assert sorted(c.attribute for c in changed.changes) == ["department", "memberOf"]


def test_create_user_makes_a_disabled_account_once(d):
    ensure(d, "create_user", hire(manager=None))
    assert d.snapshot()["users"]["ana"]["enabled"] is False and not d.find_user("ana").enabled


# -- Active Directory ------------------------------------------------------------------------------
def test_ad_account_lifecycle_matches_the_connector(ad):
    done = ensure(ad, "create_user", hire())
    assert [c.attribute for c in done.changes][:3] == ["account", "userAccountControl", "sAMAccountName"]
    assert done.details["dn"] == "CN=Ana Lima,OU=Users,DC=example,DC=com"
    with pytest.raises(ConflictError) as caught:
        ad.enable_user("ana")
    assert caught.value.code == "PASSWD_NOTREQD"
    done = ensure(ad, "set_initial_credential", "ana", PASSWORD)
    assert [(c.attribute, c.new) for c in done.changes] == [("unicodePwd", "(initial password, not shown)"),
                                                            ("userAccountControl", 514)]
    done = ensure(ad, "enable_user", "ana")
    assert [(c.old, c.new) for c in done.changes] == [(514, 512)]
    assert ad.find_user("ana").groups == () and ad.find_user("ana").attributes["manager"].startswith("CN=Ben Okafor")


@pytest.mark.parametrize("username", ["a" * 21, "ana/lima", "ana*", "ana."])
def test_ad_refuses_bad_sam_account_names(ad, username):
    with pytest.raises(InvalidInputError) as caught:
        ad.onboard(hire(username=username))
    assert caught.value.code == "sAMAccountName" and "ana" not in "".join(ad.snapshot()["users"])


def test_ad_groups_by_dn_and_onboard_of_a_namesake(ad):
    dn = "CN=VPN,OU=Groups,DC=example,DC=com"
    assert ad.add_to_groups("ben", [dn]).changes[0].new == dn
    assert ad.remove_from_groups("ben", ["cn=vpn,ou=groups,dc=example,dc=com"]).changes[0].old == dn
    ad.onboard(hire(), password=PASSWORD)
    other = ad.onboard(hire(username="ana2", upn="ana2@example.com", employee_id="E9"))
    assert other.details["dn"] == "CN=Ana Lima (ana2),OU=Users,DC=example,DC=com"
    assert other.details["password"] == "random" and ad.snapshot()["users"]["ana2"]["must_change"]


def test_ad_move_to_ou_and_account_expiry(ad):
    done = ensure(ad, "move_to_ou", "ben")
    assert done.changes[0].new == f"CN=Ben Okafor,{DISABLED}" and ad.snapshot()["users"]["ben"]["ou"] == DISABLED
    with pytest.raises(NotFoundError):
        ad.move_to_ou("ben", "OU=Nowhere,DC=example,DC=com")
    assert ad.find_user(f"CN=Ben Okafor,{DISABLED}").username == "ben"
    done = ensure(ad, "set_account_expiry", "cio", date(2025, 6, 30))
    assert (done.changes[0].old, done.changes[0].new) == ("never", "2025-07-01T00:00:00Z")
    assert ad.snapshot()["users"]["cio"]["expiry"] == "2025-07-01T00:00:00+00:00"
    ensure(ad, "set_account_expiry", "cio", None)
    assert SandboxAD(["x"]).move_to_ou("x", "OU=Users,DC=example,DC=com").already_done
    assert SandboxAD(["x"]).move_to_ou("x").changes[0].new == "CN=x,OU=Disabled,DC=example,DC=com"
    with pytest.raises(InvalidInputError):
        SandboxAD(["x"], disabled_ou="").move_to_ou("x")


# -- Entra ID --------------------------------------------------------------------------------------
def test_entra_licences(entra):
    with pytest.raises(InvalidInputError) as caught:
        entra.assign_licenses("cio", ["EMS"])
    assert caught.value.code == "UsageLocationMissing"
    done = ensure(entra, "assign_licenses", "cio", [entra.sku_id("EMS")], usage_location="GB")
    assert [(c.attribute, c.new) for c in done.changes] == [("usageLocation", "GB"), ("licenses", ["EMS"])]
    done = ensure(entra, "remove_licenses", "ben", ["enterprisepack", "EMS"])
    assert (done.changes[0].old, done.changes[0].new) == (["ENTERPRISEPACK"], [])
    with pytest.raises(NotFoundError) as caught:
        entra.assign_licenses("ben", ["SPE_E5"])
    assert caught.value.code == "UnknownSku"


def test_entra_sessions_mfa_and_credential():
    clock = Clock()
    entra = make("entra", clock)
    done = ensure(entra, "revoke_sessions", "ben")
    assert (done.changes[0].attribute, done.changes[0].new) == ("signInSessionsValidFromDateTime", "now")
    clock.now = T0 + timedelta(hours=1)
    assert entra.revoke_sessions("ben").changes[0].old == "2025-03-03T09:00:00Z"
    done = ensure(entra, "reset_mfa", "ben")
    assert done.verb == "remove_mfa_methods" and done.changes[0].old == "phone: +44 7700 900123"
    once = entra.set_initial_credential("newbie", PASSWORD, must_change=False)
    assert once.changes[0].new == "set (hidden)" and entra.set_initial_credential("newbie", PASSWORD).changes


def test_entra_temporary_access_pass(entra):
    before = entra.snapshot()
    outcome, tap = entra.issue_temporary_access_pass("ben", plan=True)
    assert tap is None and outcome.planned and entra.snapshot() == before
    outcome, tap = entra.issue_temporary_access_pass("ben", lifetime_minutes=120)
    assert isinstance(tap, TemporaryAccessPass) and len(tap.reveal()) >= 12 and outcome.details["method_id"]
    assert tap.reveal() not in repr(tap) + str(tap) + repr(outcome) + repr(entra.snapshot())
    with pytest.raises(TypeError):
        pickle.dumps(tap)
    with pytest.raises(ConflictError):
        entra.issue_temporary_access_pass("ben", replace=False)
    again, second = entra.issue_temporary_access_pass("ben")
    assert [c.attribute for c in again.changes] == ["authenticationMethod", "temporaryAccessPass"]
    assert second.reveal() != tap.reveal()
    with pytest.raises(InvalidInputError):
        entra.issue_temporary_access_pass("ben", lifetime_minutes=5)


def test_entra_groups_by_id_and_onboard_validation(entra):
    assert entra.add_to_groups("cio", [entra.group_id("VPN")]).changes[0].new == "VPN"
    for bad in (hire(upn="ana@localhost"), hire(username="ana lima")):
        with pytest.raises(InvalidInputError):
            entra.onboard(bad)
    with pytest.raises(InvalidInputError):
        entra.onboard(hire(usage_location=None), licenses=["EMS"])


# -- engine-test hooks -----------------------------------------------------------------------------
def test_fail_next_raises_then_succeeds_and_calls_are_recorded(d):
    error = TransientError("throttled", system=d.system, code="429")
    d.fail_next("add_to_groups", error, times=2)
    for _ in range(2):
        with pytest.raises(TransientError) as caught:
            d.add_to_groups("ben", ["VPN"])
        assert caught.value is error
    assert "VPN" not in d.snapshot()["users"]["ben"]["groups"]
    assert d.add_to_groups(username="ben", groups=["VPN"]).changes
    d.onboard(hire())
    assert d.calls == [("add_to_groups", "ben")] * 3 + [("onboard", "ana")]
    with pytest.raises(ValueError):
        d.fail_next("add_to_group", error)
    with pytest.raises(TypeError):
        d.fail_next("disable_user", RuntimeError("no"))


def test_fail_next_through_an_alias(entra):
    entra.fail_next("reset_mfa", TransientError("busy", system="entra"))
    with pytest.raises(TransientError):
        entra.remove_mfa_methods("ben")
    assert entra.remove_mfa_methods("ben").changes


def test_a_leaver_has_no_access_left(d):
    d.disable_user("ben")
    d.remove_from_groups("ben", d.find_user("ben").groups)
    if d.system == "entra":
        d.remove_licenses("ben", d.find_user("ben").attributes["licenses"])
        d.revoke_sessions("ben")
        d.remove_mfa_methods("ben")
    else:
        d.move_to_ou("ben")
    ben = d.snapshot()["users"]["ben"]
    assert not ben["enabled"] and ben["groups"] == ben["licenses"] == ben["mfa_methods"] == []


def test_concurrent_verbs_lose_no_update(d):
    names = [f"user{n}" for n in range(40)]
    for name in names:
        d.create_user(hire(username=name, upn=f"{name}@example.com", manager=None, display_name=f"User {name}"))

    def work(name):
        d.add_to_groups(name, ["Staff", "VPN"])
        d.remove_from_groups(name, ["VPN"])

    threads = [threading.Thread(target=work, args=(name,)) for name in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    users = d.snapshot()["users"]
    assert all(users[name]["groups"] == ["Staff"] for name in names)
    assert len([c for c in d.calls if c[0] in ("add_to_groups", "remove_from_groups")]) == 80


def test_no_password_in_outcomes_reprs_snapshots_or_logs(d, caplog):
    caplog.set_level(logging.DEBUG)
    seen = [d.onboard(hire(), password=PASSWORD, plan=True), d.onboard(hire(), password=PASSWORD),
            d.set_initial_credential("newbie", PASSWORD), d.onboard(hire(), password=PASSWORD)]
    with pytest.raises(InvalidInputError) as caught:
        d.onboard(hire(username="bob", upn="bob@example.com"), password="weakpassword")
    text = repr(seen) + repr(d) + repr(d.snapshot()) + repr(d.find_user("ana")) + str(caught.value) + caplog.text
    assert PASSWORD not in text and "weakpassword" not in text and "sandbox" in caplog.text
    if d.system == "ad":   # an account that has a password keeps it
        assert seen[-1].details["password"] == "kept" and seen[-1].details["reason"]


# -- the same script against the real connectors and the sandbox gives the same outcomes -------------
def _shape(result, ids=("id", "method_id", "starts")):
    outcome = result[0] if isinstance(result, tuple) else result
    plain = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>",
                   repr([(c.target, c.attribute, c.old, c.new) for c in outcome.changes]))
    details = {k: ("<id>" if k in ids else v) for k, v in outcome.details.items()}
    return outcome.verb, outcome.planned, plain, details


def _run(d, script) -> list:
    """Each step three times (plan, apply, apply again) unless marked once; errors as (class, code)."""
    out = []
    for step in script:
        name, args, kw, once = (*step, False)[:4]
        for plan in ((False,) if once else (True, False, False)):
            try:
                out.append(_shape(getattr(d, name)(*args, **({**kw, "plan": True} if plan else kw))))
            except Exception as exc:   # noqa: BLE001 - compared, not swallowed
                out.append((name, type(exc).__name__, getattr(exc, "code", None)))
    return out


def test_sandbox_entra_answers_like_the_graph_connector(fake, graph):
    fake.add_user("boss@contoso.com", displayName="Bo Ss")
    for name in ("Sales", "All Staff", "Locked"):
        fake.add_group(name, onPremisesSyncEnabled=True if name == "Locked" else None)
    for part in ("ENTERPRISEPACK", "EMS"):
        fake.add_sku(part)
    sandbox = SandboxEntra([{"username": "boss", "display_name": "Bo Ss"}], ["Sales", "All Staff"],
                           ["ENTERPRISEPACK", "EMS"], protected_groups=["Locked"], upn_domain="contoso.com")
    jane, other = graph_fake.hire(), graph_fake.hire(given_name="Janet", employee_id="E999")
    script = [("onboard", (jane,), dict(groups=["Sales"], licenses=["ENTERPRISEPACK"], password=PASSWORD)),
              ("onboard", (other,), {}, True), ("add_to_groups", ("jdoe", ["Nope"]), {}, True),
              ("add_to_groups", ("jdoe", ["Locked"]), {}, True), ("assign_licenses", ("jdoe", ["NOPE"]), {}, True),
              ("add_to_groups", ("jdoe", ["All Staff"]), {}), ("remove_from_groups", ("jdoe", ["Sales"]), {}),
              ("set_manager", ("jdoe", None), {}), ("set_manager", ("jdoe", "boss"), {}),
              ("set_attributes", ("jdoe", {"title": "Lead", "office": "Lisbon"}), {}),
              ("disable_user", ("jdoe",), {}), ("enable_user", ("jdoe",), {}), ("find_user", ("ghost",), {}, True),
              ("assign_licenses", ("jdoe", ["EMS"]), {}), ("remove_licenses", ("jdoe", ["ENTERPRISEPACK"]), {}),
              ("revoke_sessions", ("jdoe",), {}, True), ("issue_temporary_access_pass", ("jdoe",), {}, True),
              ("issue_temporary_access_pass", ("jdoe",), dict(replace=False), True),
              ("remove_mfa_methods", ("jdoe",), {}), ("set_initial_credential", ("jdoe", PASSWORD), {}, True),
              ("create_user", (graph_fake.hire(username="kim", upn="kim@contoso.com", manager=None),), {})]
    synced = ("add_to_groups", "PermissionDeniedError", "OnPremisesSyncEnabled")   # a protected group, the real way
    assert _run(sandbox, script) == [(*synced[:2], "Authorization_RequestDenied") if r == synced else r
                                     for r in _run(graph, script)]
    real, mine = graph.find_user("jdoe"), sandbox.find_user("jdoe")
    assert (mine.username, mine.upn, mine.display_name, mine.enabled, mine.attributes) == \
        (real.username, real.upn, real.display_name, real.enabled, {**real.attributes, "licenses": ["EMS"]})
    assert sorted(mine.groups) == sorted(real.groups)


@pytest.mark.samba
def test_sandbox_ad_answers_like_the_ad_connector(samba_dc, ous, admin):
    tag = uuid.uuid4().hex[:6]
    groups = [f"g{n}{tag}" for n in range(3)]
    for group in groups:
        make_group(admin, ous, group)
    real = make_connector(samba_dc, ous)
    sandbox = SandboxAD(groups=groups, base_dn=samba_dc.base_dn, users_ou=ous.users, disabled_ou=ous.disabled,
                        groups_ou=ous.groups, upn_domain=samba_dc.dns_domain)
    boss, jane = f"boss{tag}", f"jane{tag}"

    def person(name, **kw):
        return NewUser(**{**dict(username=name, given_name="Jo", surname="Doe", display_name=f"Jo Doe {name}",
                                 upn=f"{name}@{samba_dc.dns_domain}"), **kw})
    script = [("create_user", (person(boss),), {}), ("set_initial_credential", (boss, PASSWORD), {}),
              ("enable_user", (boss,), {}),
              ("onboard", (person(jane, title="Engineer", department="R&D", office="London", employee_id="E1",
                                  manager=boss),), dict(groups=groups[:2], password=PASSWORD)),
              ("onboard", (person(jane, employee_id="E2"),), {}, True),
              ("add_to_groups", (jane, ["nope" + tag]), {}, True), ("enable_user", ("ghost" + tag,), {}, True),
              ("create_user", (person("x" * 21),), {}, True),
              ("add_to_groups", (jane, groups[2:]), {}), ("remove_from_groups", (jane, groups[:1]), {}),
              ("set_manager", (jane, None), {}), ("set_manager", (jane, boss), {}),
              ("set_attributes", (jane, {"title": "Lead", "office": None}), {}),
              ("disable_user", (jane,), {}), ("enable_user", (jane,), {}),
              ("set_account_expiry", (jane, date(2030, 6, 30)), {}), ("set_account_expiry", (jane, None), {}),
              ("move_to_ou", (jane,), {}), ("set_initial_credential", (jane, PASSWORD), {}, True)]
    try:
        assert _run(sandbox, script) == _run(real, script)
        theirs, mine = real.find_user(jane), sandbox.find_user(jane)
    finally:
        real.close()
    assert (mine.id, mine.upn, mine.enabled, mine.attributes) == (theirs.id, theirs.upn, theirs.enabled,
                                                                 theirs.attributes)
    assert sorted(mine.groups) == sorted(theirs.groups)
