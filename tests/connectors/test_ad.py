"""The Active Directory connector against the real Samba AD DC (tests/support/samba.py).

Each test works in its own OU (``samba_ou``) holding Users, Disabled and Groups OUs; the connector
is pointed at them. What a verb wrote is checked with a separate admin connection (``admin``),
not only through the connector under test.
"""
from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import threading
import uuid
from datetime import date, datetime, timezone

import pytest
from ldap3 import BASE, NONE
from ldap3.core.exceptions import LDAPInvalidCredentialsResult
from ldap3.utils.dn import escape_rdn
from ldap3.utils.log import EXTENDED, OFF, set_library_log_detail_level

from connectors.ad import ADConnector
from connectors.ad_values import same_dn, to_filetime
from workflows.directory import (
    ConflictError, DirectoryError, InvalidInputError, NewUser, NotFoundError, PermissionDeniedError,
    TransientError,
)
from workflows.naming import NamingPolicy, PersonName, generate_username

pytestmark = pytest.mark.samba
GOOD_PASSWORD = "Initial-Pass-42!"


def make_connector(samba_dc, ous, **overrides) -> ADConnector:
    settings = dict(ca_file=samba_dc.ca_file, tls_name=samba_dc.tls_name, base_dn=samba_dc.base_dn,
                    users_ou=ous.users, disabled_ou=ous.disabled, groups_base=ous.groups,
                    upn_domain=samba_dc.dns_domain, page_size=10, connect_timeout=5, receive_timeout=10)
    settings.update(overrides)
    url = settings.pop("url", samba_dc.ldaps_url)
    return ADConnector(url, samba_dc.admin_dn, samba_dc.admin_password, **settings)


@pytest.fixture
def ad(samba_dc, ous):
    connector = make_connector(samba_dc, ous)
    yield connector
    connector.close()


def uid() -> str:
    return uuid.uuid4().hex[:6]


def person(username: str, samba_dc, **kw) -> NewUser:
    """A new hire; as in every HR onboarding event, with an employee ID (by default one of its own)."""
    fields = dict(given_name="Jane", surname="Doe", display_name=f"Jane Doe {username}",
                  upn=f"{username}@{samba_dc.dns_domain}", employee_id="E" + username[-15:])
    fields.update(kw)
    return NewUser(username=username, **fields)


def read(admin, dn: str, *attributes: str) -> dict:
    admin.search(dn, "(objectClass=*)", BASE, attributes=list(attributes) or ["*"])
    return dict(admin.response[0]["attributes"])


def value(admin, dn: str, attribute: str):
    values = read(admin, dn, attribute).get(attribute) or [None]
    return values[0]


def make_group(admin, ous, name: str) -> str:
    dn = f"CN={name},{ous.groups}"
    admin.add(dn, ["top", "group"], {"sAMAccountName": name})
    return dn


def hire(ad, samba_dc, username: str, *, must_change: bool = True, **kw):
    outcome = ad.create_user(person(username, samba_dc, **kw))
    ad.set_initial_credential(username, GOOD_PASSWORD, must_change=must_change)
    ad.enable_user(username)
    return outcome


# --- create, password, enable --------------------------------------------------------------------

def test_create_disabled_then_password_then_enable(ad, admin, samba_dc, ous):
    name = "jdoe" + uid()
    created = ad.create_user(person(name, samba_dc, title="Engineer", department="R&D",
                                    office="London", employee_id="E1001"))
    dn = created.details["dn"]
    assert dn == f"CN=Jane Doe {name},{ous.users}"
    assert not created.already_done and ("account", None, dn) in {(c.attribute, c.old, c.new) for c in created.changes}
    attrs = read(admin, dn, "userAccountControl", "title", "department", "physicalDeliveryOfficeName", "employeeID")
    assert attrs["userAccountControl"] == ["546"]
    assert (attrs["title"], attrs["physicalDeliveryOfficeName"], attrs["employeeID"]) == (["Engineer"], ["London"], ["E1001"])

    credential = ad.set_initial_credential(name, GOOD_PASSWORD)
    assert {(c.attribute, c.old, c.new) for c in credential.changes} >= {("userAccountControl", 546, 514)}
    assert read(admin, dn, "userAccountControl", "pwdLastSet") == {"userAccountControl": ["514"], "pwdLastSet": ["0"]}

    enabled = ad.enable_user(name)
    assert [(c.attribute, c.old, c.new) for c in enabled.changes] == [("userAccountControl", 514, 512)]
    assert value(admin, dn, "userAccountControl") == "512"
    user = ad.find_user(name)
    assert user.enabled and user.id == dn and user.upn == f"{name}@{samba_dc.dns_domain}"
    assert user.attributes["office"] == "London" and user.attributes["employee_id"] == "E1001"


def test_every_step_twice_is_already_done(ad, samba_dc):
    name = "twice" + uid()
    hire(ad, samba_dc, name)
    assert ad.create_user(person(name, samba_dc)).already_done
    assert ad.set_initial_credential(name, "Another-Pass-43!").already_done  # never overwrites
    assert ad.enable_user(name).already_done


def test_user_binds_with_the_initial_password_only_once_enabled(ad, samba_dc):
    name = "bind" + uid()
    dn = ad.create_user(person(name, samba_dc)).details["dn"]
    ad.set_initial_credential(name, GOOD_PASSWORD, must_change=False)
    with pytest.raises(LDAPInvalidCredentialsResult, match="data 533"):  # still disabled
        samba_dc.connect(dn, GOOD_PASSWORD, get_info=NONE)
    ad.enable_user(name)
    user_conn = samba_dc.connect(f"{name}@{samba_dc.dns_domain}", GOOD_PASSWORD, get_info=NONE)
    assert user_conn.bound
    user_conn.unbind()

    # must_change (pwdLastSet=0): the password is right (773, not 52e) but has to be changed first.
    other = "chg" + uid()
    hire(ad, samba_dc, other)
    with pytest.raises(LDAPInvalidCredentialsResult, match="data 773"):
        samba_dc.connect(f"{other}@{samba_dc.dns_domain}", GOOD_PASSWORD, get_info=NONE)
    with pytest.raises(LDAPInvalidCredentialsResult, match="data 52e"):
        samba_dc.connect(f"{other}@{samba_dc.dns_domain}", GOOD_PASSWORD + "x", get_info=NONE)


def test_enable_before_a_password_is_refused(ad, admin, samba_dc):
    # Samba would enable a password-less account (AD would not): the connector refuses itself.
    name = "nopw" + uid()
    dn = ad.create_user(person(name, samba_dc)).details["dn"]
    with pytest.raises(ConflictError, match="initial credential") as info:
        ad.enable_user(name)
    assert info.value.code == "PASSWD_NOTREQD"
    assert value(admin, dn, "userAccountControl") == "546"


@pytest.mark.parametrize("password,reason", [("Ab1!", "too short"), ("alllowercaseletters", "complexity")])
def test_password_policy_rejection_leaves_the_account_disabled(ad, admin, samba_dc, password, reason):
    name = "pol" + uid()
    dn = ad.create_user(person(name, samba_dc)).details["dn"]
    with pytest.raises(InvalidInputError) as info:
        ad.set_initial_credential(name, password)
    assert "0000052D" in info.value.code and info.value.code.startswith("19 ")
    assert reason in str(info.value)
    assert value(admin, dn, "userAccountControl") == "546"   # nothing half-done: one atomic modify
    with pytest.raises(ConflictError):
        ad.enable_user(name)
    assert ad.set_initial_credential(name, GOOD_PASSWORD).changes   # a later good password still works


def test_password_never_appears_in_errors_outcomes_or_logs(ad, samba_dc, caplog):
    name = "leak" + uid()
    ad.create_user(person(name, samba_dc))
    secret = "leakyPASSWORD"   # upper and lower case only: fails complexity (3 of 4 classes)
    caplog.set_level(logging.DEBUG)
    set_library_log_detail_level(EXTENDED)
    try:
        with pytest.raises(InvalidInputError) as info:
            ad.set_initial_credential(name, secret)
        planned = ad.set_initial_credential(name, GOOD_PASSWORD, plan=True)
        done = ad.set_initial_credential(name, GOOD_PASSWORD)
    finally:
        set_library_log_detail_level(OFF)
    exc = info.value
    surfaces = [str(exc), repr(exc), repr(exc.args), exc.code or "", repr(planned), repr(done), caplog.text,
                repr(vars(exc)), str(exc.__cause__ or ""), str(exc.__context__ or "")]
    for text in surfaces:
        flat = text.replace("\\x00", "").replace("\x00", "")
        for needle in (secret, GOOD_PASSWORD):
            assert needle not in text and needle not in flat
            assert needle.encode("utf-16-le").hex() not in text
    assert "0000052D" in exc.code


# --- names and conflicts -------------------------------------------------------------------------

def test_a_different_person_with_the_same_username_is_a_conflict(ad, admin, samba_dc, ous):
    name = "dup" + uid()
    ad.create_user(person(name, samba_dc, employee_id="E1"))
    other = person(name, samba_dc, given_name="John", display_name="John Other", employee_id="E2")
    with pytest.raises(ConflictError, match="already belongs to someone else") as info:
        ad.create_user(other)
    assert "sAMAccountName" in info.value.code
    admin.search(ous.users, "(displayName=John Other)", attributes=["cn"])
    assert admin.entries == []


def _untouched(admin, dn: str) -> dict:
    """What would show any write to the account: uSNChanged moves with every modify."""
    return read(admin, dn, "uSNChanged", "userAccountControl", "pwdLastSet", "memberOf", "employeeID", "manager",
                "title", "department")


def test_a_colleagues_username_given_for_a_new_hire_is_a_conflict_and_their_account_is_untouched(
        ad, admin, samba_dc, ous):
    staff, sales = make_group(admin, ous, "fin" + uid()), make_group(admin, ous, "sal" + uid())
    sam = "sam" + uid()
    hire(ad, samba_dc, sam, must_change=False, given_name="Sam", surname="Reed", display_name=f"Sam Reed {sam}",
         employee_id="E0007")
    ad.add_to_groups(sam, [staff])
    dn = ad.find_user(sam).id
    before = _untouched(admin, dn)
    newcomer = person(sam, samba_dc, given_name="Ann", surname="Hill", display_name="Ann Hill", employee_id="E0042",
                      title="Analyst")
    for attempt in (lambda: ad.create_user(newcomer), lambda: ad.create_user(newcomer, plan=True),
                    lambda: ad.onboard(newcomer, groups=[sales], password=GOOD_PASSWORD),
                    lambda: ad.onboard(newcomer, groups=[sales], plan=True)):
        with pytest.raises(ConflictError) as info:
            attempt()
        assert f"{sam} ({dn}) already belongs to someone else (employeeID E0007; the new hire's is E0042)" \
            in str(info.value) and "sAMAccountName" in info.value.code
    assert _untouched(admin, dn) == before and members(admin, sales) == []
    samba_dc.connect(user=dn, password=GOOD_PASSWORD).unbind()   # Sam's password still works


def test_a_former_namesakes_disabled_account_without_employee_id_is_not_adopted(ad, admin, samba_dc, ous):
    from workflows.directory_plans import Person, choose_username
    group = make_group(admin, ous, "old" + uid())
    surname = "Smith" + "".join(chr(ord("a") + int(c, 16) % 26) for c in uid())
    former = f"john.{surname.lower()}"
    hire(ad, samba_dc, former, given_name="John", surname=surname, display_name=f"John {surname}", employee_id=None)
    ad.add_to_groups(former, [group])
    ad.disable_user(former)
    dn = ad.find_user(former).id
    before = _untouched(admin, dn)
    newcomer = Person(given_name="John", surname=surname, start_date=date(2026, 3, 2), employee_id="E0042")
    chosen = choose_username(newcomer, NamingPolicy(), {"ad": ad})
    assert chosen != former and not ad.name_in_use(chosen), "the generator skips the namesake's name"
    with pytest.raises(ConflictError, match=r"already belongs to someone else \(it has no employeeID"):
        ad.onboard(person(former, samba_dc, given_name="John", surname=surname, display_name=f"John {surname}",
                          employee_id="E0042"), password=GOOD_PASSWORD)
    assert _untouched(admin, dn) == before and not ad.find_user(former).enabled
    made = ad.onboard(person(chosen, samba_dc, given_name="John", surname=surname, display_name=f"John {surname}",
                             employee_id="E0042"), password=GOOD_PASSWORD)
    assert made.details["created"] and ad.find_user(chosen).enabled and ad.find_user(chosen).groups == ()
    assert _untouched(admin, dn) == before


def test_the_hires_own_half_made_account_is_adopted_and_finished(ad, admin, samba_dc, ous):
    """A crash after the add left the account disabled, without a password, with the hire's employeeID."""
    group = make_group(admin, ous, "own" + uid())
    name = "own" + uid()
    new = person(name, samba_dc, employee_id="E0042")
    dn = ad.create_user(new).details["dn"]
    assert value(admin, dn, "employeeID") == "E0042" and int(value(admin, dn, "userAccountControl")) == 546
    assert ad.create_user(new).already_done
    finished = ad.onboard(new, groups=[group], password=GOOD_PASSWORD)
    assert not finished.details["created"] and finished.details["password"] == "set"
    assert int(value(admin, dn, "userAccountControl")) == 512 and [same_dn(m, dn) for m in members(admin, group)] == [True]
    assert ad.onboard(new, groups=[group]).already_done


def test_a_taken_upn_is_a_conflict(ad, samba_dc):
    first = "upn" + uid()
    ad.create_user(person(first, samba_dc))
    with pytest.raises(ConflictError) as info:
        ad.create_user(person("x" + first, samba_dc, upn=f"{first}@{samba_dc.dns_domain}"))
    assert "userPrincipalName" in info.value.code


def test_a_namesake_in_the_same_ou_gets_a_distinct_cn(ad, samba_dc, ous):
    a, b = "jd" + uid(), "jd" + uid()
    first = ad.create_user(person(a, samba_dc, display_name="Jane Doe"))
    second = ad.create_user(person(b, samba_dc, display_name="Jane Doe"))
    assert first.details["dn"] == f"CN=Jane Doe,{ous.users}"
    assert second.details["dn"] == f"CN=Jane Doe ({b}),{ous.users}"


@pytest.mark.parametrize("bad", ["a" * 21, "semi;colon", "star*name", "ends.with.dot."])
def test_usernames_ad_would_refuse_are_refused_before_any_write(ad, admin, samba_dc, ous, bad):
    with pytest.raises(InvalidInputError) as info:
        ad.create_user(person(bad, samba_dc, upn=f"ok{uid()}@{samba_dc.dns_domain}"))
    assert info.value.code == "sAMAccountName"
    admin.search(ous.root, "(objectClass=user)", attributes=["cn"])
    assert admin.entries == []


def test_missing_ou_or_manager_fail_before_any_write(ad, samba_dc, ous):
    with pytest.raises(NotFoundError, match="OU"):
        ad.create_user(person("ou" + uid(), samba_dc, ou=f"OU=Nowhere,{ous.root}"))
    with pytest.raises(NotFoundError, match="manager"):
        ad.create_user(person("mg" + uid(), samba_dc, manager="nobody-" + uid()))
    assert ad.list_users(ous.root) == []


def test_username_generator_checks_the_directory(ad, samba_dc):
    policy = NamingPolicy(max_length=20)
    suffix = uid()
    name = PersonName("José", "Núñez" + suffix)
    first = generate_username(policy, name, ad.name_in_use)
    assert first == f"jose.nunez{suffix}"
    ad.create_user(person(first, samba_dc))
    assert generate_username(policy, name, ad.name_in_use) == f"jnunez{suffix}"


# --- groups, disable, move, expiry, manager, attributes --------------------------------------------

def test_groups_add_and_remove_are_idempotent(ad, admin, samba_dc, ous):
    name = "grp" + uid()
    dn = ad.create_user(person(name, samba_dc)).details["dn"]
    staff, vpn = make_group(admin, ous, "staff" + uid()), make_group(admin, ous, "vpn" + uid())
    vpn_name = vpn.split(",")[0][3:]

    added = ad.add_to_groups(name, [staff, vpn_name])     # by DN and by name
    assert [(c.attribute, c.old, c.new) for c in added.changes] == [("memberOf", None, staff), ("memberOf", None, vpn)]
    assert read(admin, staff, "member")["member"] == [dn]
    assert ad.add_to_groups(name, [staff, vpn_name]).already_done
    assert set(ad.find_user(name).groups) == {staff, vpn}

    removed = ad.remove_from_groups(name, [vpn_name, staff])
    assert [(c.old, c.new) for c in removed.changes] == [(vpn, None), (staff, None)]
    assert read(admin, staff, "member")["member"] == []
    assert ad.remove_from_groups(name, [vpn_name, staff]).already_done


def test_primary_group_membership_counts_as_already_done(ad, samba_dc):
    name = "prim" + uid()
    ad.create_user(person(name, samba_dc))
    # Domain Users holds every user through primaryGroupID, not memberOf: AD answers 68.
    assert ad.add_to_groups(name, [f"CN=Domain Users,CN=Users,{samba_dc.base_dn}"]).already_done


def test_a_missing_group_fails_before_any_membership_changes(ad, admin, samba_dc, ous):
    name = "miss" + uid()
    ad.create_user(person(name, samba_dc))
    staff = make_group(admin, ous, "staff" + uid())
    with pytest.raises(NotFoundError, match="no AD group"):
        ad.add_to_groups(name, [staff, "no-such-group-" + uid()])
    assert read(admin, staff, "member")["member"] == []


def test_disable_twice_and_move_to_the_disabled_ou(ad, admin, samba_dc, ous):
    name = "leaver" + uid()
    dn = hire(ad, samba_dc, name).details["dn"]
    group = make_group(admin, ous, "team" + uid())
    ad.add_to_groups(name, [group])

    disabled = ad.disable_user(name)
    assert [(c.old, c.new) for c in disabled.changes] == [(512, 514)]
    assert value(admin, dn, "userAccountControl") == "514"
    assert ad.disable_user(name).already_done

    moved = ad.move_to_ou(name)
    new_dn = f"CN=Jane Doe {name},{ous.disabled}"
    assert [(c.attribute, c.old, c.new) for c in moved.changes] == [("distinguishedName", dn, new_dn)]
    assert ad.find_user(name).id == new_dn and not ad.find_user(name).enabled
    assert read(admin, group, "member")["member"] == [new_dn]     # membership follows the move
    assert ad.move_to_ou(name, ous.disabled).already_done
    with pytest.raises(NotFoundError, match="does not exist"):
        ad.move_to_ou(name, f"OU=Nowhere,{ous.root}")


def test_account_expiry_is_the_end_of_the_last_day_and_can_be_cleared(samba_dc, ous, admin):
    ad = make_connector(samba_dc, ous, timezone="Europe/London")
    name = "exp" + uid()
    dn = ad.create_user(person(name, samba_dc)).details["dn"]
    assert value(admin, dn, "accountExpires") == str(0x7FFFFFFFFFFFFFFF)

    outcome = ad.set_account_expiry(name, date(2031, 7, 31))   # BST: ends 2031-07-31 23:00 UTC
    expected = to_filetime(datetime(2031, 7, 31, 23, 0, tzinfo=timezone.utc))
    assert value(admin, dn, "accountExpires") == str(expected)
    assert [(c.old, c.new) for c in outcome.changes] == [("never", "2031-07-31T23:00:00Z")]
    assert ad.set_account_expiry(name, date(2031, 7, 31)).already_done
    assert ad.find_user(name).attributes["account_expires"] == datetime(2031, 7, 31, 23, 0, tzinfo=timezone.utc)

    cleared = ad.set_account_expiry(name, None)
    assert [(c.old, c.new) for c in cleared.changes] == [("2031-07-31T23:00:00Z", "never")]
    assert value(admin, dn, "accountExpires") == "0"
    assert ad.set_account_expiry(name, None).already_done
    ad.close()


def test_manager_set_changed_and_cleared(ad, admin, samba_dc):
    boss1, boss2, name = "boss" + uid(), "boss" + uid(), "emp" + uid()
    dn1 = ad.create_user(person(boss1, samba_dc)).details["dn"]
    dn2 = ad.create_user(person(boss2, samba_dc)).details["dn"]
    dn = ad.create_user(person(name, samba_dc, manager=boss1)).details["dn"]   # set on create
    assert value(admin, dn, "manager") == dn1
    assert ad.set_manager(name, boss1).already_done

    changed = ad.set_manager(name, dn2)                                       # by DN
    assert [(c.attribute, c.old, c.new) for c in changed.changes] == [("manager", dn1, dn2)]
    assert value(admin, dn, "manager") == dn2
    assert value(admin, dn2, "directReports") == dn

    assert [(c.old, c.new) for c in ad.set_manager(name, None).changes] == [(dn2, None)]
    assert value(admin, dn, "manager") is None
    assert ad.set_manager(name, None).already_done
    with pytest.raises(InvalidInputError, match="own manager"):
        ad.set_manager(name, name)


def test_attributes_are_set_cleared_and_checked(ad, admin, samba_dc):
    name = "attr" + uid()
    dn = ad.create_user(person(name, samba_dc, title="Intern", employee_id=None)).details["dn"]
    outcome = ad.set_attributes(name, {"title": "Engineer", "department": "IT", "office": "Leeds",
                                       "employeeID": "E42", "company": None})
    assert {(c.attribute, c.old, c.new) for c in outcome.changes} == {
        ("title", "Intern", "Engineer"), ("department", None, "IT"),
        ("physicalDeliveryOfficeName", None, "Leeds"), ("employeeID", None, "E42")}
    assert read(admin, dn, "title", "department", "physicalDeliveryOfficeName", "employeeID") == {
        "title": ["Engineer"], "department": ["IT"], "physicalDeliveryOfficeName": ["Leeds"], "employeeID": ["E42"]}
    assert ad.set_attributes(name, {"title": "Engineer", "office": "Leeds"}).already_done
    assert [(c.old, c.new) for c in ad.set_attributes(name, {"department": ""}).changes] == [("IT", None)]
    assert value(admin, dn, "department") is None
    with pytest.raises(InvalidInputError, match="cannot be set"):
        ad.set_attributes(name, {"userAccountControl": "512"})
    with pytest.raises(InvalidInputError, match="at most 16"):
        ad.set_attributes(name, {"employee_id": "E" * 17})


def test_plan_lists_the_exact_changes_and_writes_nothing(ad, admin, samba_dc, ous):
    name = "plan" + uid()
    new = person(name, samba_dc, title="Analyst", employee_id="E7")
    planned = ad.create_user(new, plan=True)
    assert planned.planned and ad.find_user(name) is None
    dn = f"CN=Jane Doe {name},{ous.users}"
    assert {(c.attribute, c.new) for c in planned.changes} == {
        ("account", dn), ("userAccountControl", 546), ("sAMAccountName", name), ("userPrincipalName", new.upn),
        ("givenName", "Jane"), ("sn", "Doe"), ("displayName", new.display_name), ("title", "Analyst"),
        ("employeeID", "E7")}
    assert ad.create_user(new).changes == planned.changes

    group = make_group(admin, ous, "plan" + uid())
    usn = value(admin, dn, "uSNChanged")
    plans = [
        ad.set_initial_credential(name, GOOD_PASSWORD, plan=True),
        ad.add_to_groups(name, [group], plan=True),
        ad.set_attributes(name, {"title": "Lead"}, plan=True),
        ad.set_manager(name, "Administrator", plan=True),
        ad.move_to_ou(name, plan=True),
        ad.set_account_expiry(name, date(2030, 1, 1), plan=True),
        ad.disable_user(name, plan=True),   # already disabled: nothing to plan
    ]
    assert value(admin, dn, "uSNChanged") == usn and ad.find_user(name).groups == ()
    assert all(p.planned for p in plans) and [p.already_done for p in plans] == [False] * 6 + [True]
    assert [(c.attribute, c.old, c.new) for c in plans[1].changes] == [("memberOf", None, group)]
    assert [(c.attribute, c.old, c.new) for c in plans[2].changes] == [("title", "Analyst", "Lead")]
    assert plans[3].changes[0].new == f"CN=Administrator,CN=Users,{samba_dc.base_dn}"
    assert plans[4].changes[0].new == f"CN=Jane Doe {name},{ous.disabled}"
    assert ("unicodePwd", "(none)", "(initial password, not shown)") in {
        (c.attribute, c.old, c.new) for c in plans[0].changes}


# --- hostile names ---------------------------------------------------------------------------------

@pytest.mark.parametrize("display,username", [
    ("Robert *)( Tables", "bob)(t{u}"),
    ('Doe, John "JJ" <QA>; +1 \\ ops#', "jj-qa{u}"),
])
def test_names_with_filter_and_dn_special_characters(ad, admin, samba_dc, ous, display, username):
    username = username.format(u=uid())
    decoy = ad.create_user(person(username[:3] + "decoy" + uid(), samba_dc))   # what a wildcard would hit
    upn = f"{username.replace('(', '').replace(')', '')}*)(x@{samba_dc.dns_domain}"
    created = ad.create_user(person(username, samba_dc, display_name=display, upn=upn))
    dn = created.details["dn"]
    assert read(admin, dn, "cn")["cn"] == [display]             # the RDN was escaped, not mangled

    # Samba answers with its own escaping (\3B for ';', '\#'): compare DNs, not strings.
    assert same_dn(ad.find_user(username).id, dn) and same_dn(ad.find_user(upn).id, dn)
    assert ad.find_user(username[:3] + "*") is None              # '*' is a character, not a wildcard
    assert ad.create_user(person(username, samba_dc, display_name=display, upn=upn)).already_done

    group = make_group(admin, ous, "odd" + uid())
    assert ad.add_to_groups(username, [group]).changes
    assert ad.add_to_groups(upn, [group]).already_done            # memberOf compared as DNs
    moved = ad.move_to_ou(upn).details["dn"]
    assert same_dn(ad.find_user(username).id, moved) and read(admin, moved, "cn")["cn"] == [display]
    assert [same_dn(m, moved) for m in read(admin, group, "member")["member"]] == [True]
    assert ad.move_to_ou(username).already_done
    assert ad.find_user(decoy.details["dn"]).groups == ()


# --- transport: TLS only, certificate validation, reconnect, paging --------------------------------

def test_plain_ldap_is_refused_and_starttls_works(samba_dc, ous):
    with pytest.raises(ValueError, match="refusing plain LDAP"):
        make_connector(samba_dc, ous, url=samba_dc.ldap_url)
    ad = make_connector(samba_dc, ous, url=samba_dc.ldap_url, starttls=True)
    admin_user = ad.find_user("Administrator")
    assert admin_user.id == samba_dc.admin_dn
    conn = ad.session.connection()
    assert conn.tls_started and not conn.server.ssl and conn.server.port == 389
    ad.close()


@pytest.fixture
def other_ca(tmp_path) -> str:
    """A CA that did not sign the DC's certificate."""
    if not shutil.which("openssl"):
        return "/etc/ssl/certs/ca-certificates.crt"   # the public CAs: none of them signed Samba's
    key, cert = tmp_path / "ca.key", tmp_path / "ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=Not the Samba CA"],
                   check=True, capture_output=True, timeout=60)
    return str(cert)


@pytest.mark.parametrize("url_attr,starttls", [("ldaps_url", False), ("ldap_url", True)])
def test_an_unknown_ca_or_wrong_name_is_a_certificate_error(samba_dc, ous, other_ca, url_attr, starttls):
    url = getattr(samba_dc, url_attr)
    for overrides in ({"ca_file": other_ca}, {"tls_name": "wrong.example.test"}):
        ad = make_connector(samba_dc, ous, url=url, starttls=starttls, **overrides)
        with pytest.raises(DirectoryError) as info:
            ad.find_user("Administrator")
        assert info.value.code == "TLS_CERTIFICATE" and not isinstance(info.value, TransientError)
    with pytest.raises(ValueError, match="does not exist"):
        make_connector(samba_dc, ous, ca_file="/nonexistent/ca.pem")


def test_a_wrong_service_password_is_permission_denied_without_echoing_it(samba_dc, ous):
    ad = ADConnector(samba_dc.ldaps_url, samba_dc.admin_dn, "Wrong-Secret-99", ca_file=samba_dc.ca_file,
                     tls_name=samba_dc.tls_name, base_dn=samba_dc.base_dn, users_ou=ous.users)
    with pytest.raises(PermissionDeniedError) as info:
        ad.find_user("Administrator")
    assert info.value.code.startswith("49 invalidCredentials")
    assert "Wrong-Secret-99" not in str(info.value) + repr(info.value) + repr(ad)


def test_a_service_account_without_rights_gets_permission_denied(ad, admin, samba_dc, ous):
    clerk, target = "clerk" + uid(), "target" + uid()
    hire(ad, samba_dc, clerk, must_change=False)
    dn = ad.create_user(person(target, samba_dc)).details["dn"]
    weak = ADConnector(samba_dc.ldaps_url, f"{clerk}@{samba_dc.dns_domain}", GOOD_PASSWORD,
                       ca_file=samba_dc.ca_file, tls_name=samba_dc.tls_name, base_dn=samba_dc.base_dn,
                       users_ou=ous.users)
    assert weak.find_user(target).id == dn              # reading is allowed…
    with pytest.raises(PermissionDeniedError) as info:  # …changing is not
        weak.set_attributes(target, {"title": "Hacked"})
    assert info.value.code.startswith("50 insufficientAccessRights")
    assert value(admin, dn, "title") is None
    weak.close()


class DroppingProxy:
    """A TCP relay to the DC whose connections can be cut, as a DC does to an idle client."""

    def __init__(self, port: int):
        self.target, self.pairs = ("127.0.0.1", port), []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.pairs.append((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def drop_all(self):
        for client, upstream in self.pairs:
            for s in (client, upstream):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.drop_all()
        self.listener.close()


def test_reconnects_once_when_the_server_drops_the_connection(samba_dc, ous):
    proxy = DroppingProxy(636)
    ad = make_connector(samba_dc, ous, url=f"ldaps://127.0.0.1:{proxy.port}")
    try:
        name = "drop" + uid()
        ad.create_user(person(name, samba_dc))
        proxy.drop_all()                               # the DC hangs up on the idle connection
        assert ad.disable_user(name).already_done      # …and the next verb still works
        assert ad.session.reconnects == 1 and len(proxy.pairs) == 2
        ad.session.connection().unbind()               # closed under the connector
        assert ad.set_attributes(name, {"title": "Back"}).changes
        assert ad.session.reconnects == 1 and len(proxy.pairs) == 3   # a closed one is just reopened
    finally:
        ad.close()
        proxy.close()


def test_an_unreachable_dc_is_transient(samba_dc, ous):
    spare = socket.create_server(("127.0.0.1", 0))
    port = spare.getsockname()[1]
    spare.close()
    ad = make_connector(samba_dc, ous, url=f"ldaps://127.0.0.1:{port}", connect_timeout=2)
    with pytest.raises(TransientError):
        ad.find_user("Administrator")


def test_paged_search_returns_every_user_beyond_the_page_size(ad, admin, samba_dc, ous):
    names = {f"page{i:02d}{uid()}" for i in range(30)}
    for name in names:
        admin.add(f"CN={name},{ous.users}", ["top", "person", "organizationalPerson", "user"],
                  {"sAMAccountName": name})
    before = ad.round_trips
    users = ad.list_users(ous.users)
    assert {u.username for u in users} == names and len(users) == 30
    assert ad.round_trips - before == 1 + 3 + 1    # bind, then 3 full pages of 10 and an empty last one


def test_round_trips_per_hire(ad, admin, samba_dc, ous, record_property):
    groups = [make_group(admin, ous, f"h{i}" + uid()) for i in range(3)]
    boss = "boss" + uid()
    ad.create_user(person(boss, samba_dc))
    name = "hire" + uid()
    start = ad.round_trips
    ad.create_user(person(name, samba_dc))
    ad.set_initial_credential(name, GOOD_PASSWORD)
    ad.enable_user(name)
    ad.add_to_groups(name, groups)
    ad.set_manager(name, boss)
    ad.set_attributes(name, {"title": "Engineer", "department": "IT", "office": "Leeds", "employee_id": "E9"})
    used = ad.round_trips - start
    record_property("ad_round_trips_per_hire", used)
    # create 2 (check + add) · password 2 · enable 2 · groups 1 + 3 · manager 2 · attributes 2
    assert used == 14
    ad.set_attributes(name, {"employee_id": person(name, samba_dc).employee_id})   # theirs again, for the re-run
    again = ad.round_trips
    hire(ad, samba_dc, name)            # a re-run only reads
    assert ad.round_trips - again == 3


# --- onboard: the whole hire in the fewest round trips ----------------------------------------------

def members(admin, group: str) -> list[str]:
    return read(admin, group, "member").get("member") or []


def test_onboard_a_new_hire_costs_the_floor_and_ends_enabled(ad, admin, samba_dc, ous):
    staff, vpn = make_group(admin, ous, "staff" + uid()), make_group(admin, ous, "vpn" + uid())
    domain_users = f"CN=Domain Users,CN=Users,{samba_dc.base_dn}"   # held through primaryGroupID
    boss = "boss" + uid()
    boss_dn = ad.create_user(person(boss, samba_dc)).details["dn"]   # also opens the connection
    name = "new" + uid()
    new = person(name, samba_dc, manager=boss, title="Engineer", department="IT", office="Leeds",
                 employee_id="E77")
    wanted = [staff, vpn.split(",")[0][3:], domain_users]            # by DN and by name

    start = ad.round_trips
    planned = ad.onboard(new, groups=wanted, password=GOOD_PASSWORD, must_change=False, plan=True)
    assert ad.round_trips - start == 1 and planned.planned
    assert ad.find_user(name) is None and members(admin, staff) == [] and members(admin, vpn) == []

    start = ad.round_trips
    done = ad.onboard(new, groups=wanted, password=GOOD_PASSWORD, must_change=False)
    # the floor: 1 search + 1 add + 1 modify per group (Domain Users is not one) + 1 modify
    assert ad.round_trips - start == 1 + 1 + 2 + 1
    dn = done.details["dn"]
    assert done.changes == planned.changes and not done.planned
    assert done.details == {"dn": dn, "created": True, "password": "set"}
    triples = [(c.attribute, c.old, c.new) for c in done.changes]
    assert triples[:2] == [("account", None, dn), ("userAccountControl", None, 546)]
    assert triples[-4:] == [("memberOf", None, staff), ("memberOf", None, vpn),
                            ("unicodePwd", "(none)", "(initial password, not shown)"),
                            ("userAccountControl", 546, 512)]
    attrs = read(admin, dn, "userAccountControl", "manager", "title", "department", "physicalDeliveryOfficeName",
                 "employeeID", "memberOf")
    assert attrs["userAccountControl"] == ["512"] and attrs["manager"] == [boss_dn]
    assert (attrs["title"], attrs["department"], attrs["physicalDeliveryOfficeName"], attrs["employeeID"]) == (
        ["Engineer"], ["IT"], ["Leeds"], ["E77"])
    assert sorted(attrs["memberOf"]) == sorted([staff, vpn])
    conn = samba_dc.connect(new.upn, GOOD_PASSWORD, get_info=NONE)   # the password works
    assert conn.bound
    conn.unbind()


def test_onboard_twice_is_already_done_and_never_resets_the_password(ad, admin, samba_dc, ous):
    group = make_group(admin, ous, "team" + uid())
    name = "again" + uid()
    new = person(name, samba_dc, title="Analyst")
    first = ad.onboard(new, groups=[group], password=GOOD_PASSWORD)
    dn = first.details["dn"]
    assert value(admin, dn, "pwdLastSet") == "0"        # must change at first sign-in
    with pytest.raises(LDAPInvalidCredentialsResult, match="data 773"):   # right password, must change
        samba_dc.connect(new.upn, GOOD_PASSWORD, get_info=NONE)
    usn = value(admin, dn, "uSNChanged")

    start = ad.round_trips
    again = ad.onboard(new, groups=[group], password="Another-Pass-43!")
    assert again.already_done and ad.round_trips - start == 1
    assert again.details["password"] == "kept" and "never set twice" in again.details["reason"]
    assert value(admin, dn, "uSNChanged") == usn
    with pytest.raises(LDAPInvalidCredentialsResult, match="data 773"):   # still the first password
        samba_dc.connect(new.upn, GOOD_PASSWORD, get_info=NONE)

    cold = make_connector(samba_dc, ous)                  # a fresh process: bind + search
    assert cold.onboard(new, groups=[group], password=GOOD_PASSWORD, plan=True).already_done
    assert cold.onboard(new, groups=[group]).already_done and cold.round_trips == 1 + 2
    cold.close()


def test_onboard_finishes_a_half_done_hire_keeping_other_uac_bits(ad, admin, samba_dc, ous):
    group = make_group(admin, ous, "half" + uid())
    name = "half" + uid()
    dn = ad.create_user(person(name, samba_dc, title="Intern")).details["dn"]
    admin.modify(dn, {"userAccountControl": [("MODIFY_REPLACE", [66082])]})   # + DONT_EXPIRE_PASSWORD
    start = ad.round_trips
    outcome = ad.onboard(person(name, samba_dc, title="Engineer"), groups=[group], password=GOOD_PASSWORD)
    assert ad.round_trips - start == 1 + 1 + 1             # search, the group, one modify for the rest
    assert [(c.attribute, c.old, c.new) for c in outcome.changes] == [
        ("memberOf", None, group), ("title", "Intern", "Engineer"),
        ("unicodePwd", "(none)", "(initial password, not shown)"), ("userAccountControl", 66082, 66048)]
    assert outcome.details["created"] is False
    assert read(admin, dn, "userAccountControl", "title") == {"userAccountControl": ["66048"], "title": ["Engineer"]}

    # Has a password but was left disabled: only enabled, the password untouched.
    other = "dis" + uid()
    odn = ad.create_user(person(other, samba_dc)).details["dn"]
    ad.set_initial_credential(other, GOOD_PASSWORD, must_change=False)
    outcome = ad.onboard(person(other, samba_dc), password="Another-Pass-43!")
    assert [(c.attribute, c.old, c.new) for c in outcome.changes] == [("userAccountControl", 514, 512)]
    assert value(admin, odn, "userAccountControl") == "512"
    samba_dc.connect(odn, GOOD_PASSWORD, get_info=NONE).unbind()


def test_onboard_without_a_password_or_enable(ad, admin, samba_dc):
    name, off = "rnd" + uid(), "off" + uid()
    outcome = ad.onboard(person(name, samba_dc), password=None, must_change=False)
    assert outcome.details["password"] == "random"
    assert ("unicodePwd", "(none)", "(random, not disclosed)") in {(c.attribute, c.old, c.new) for c in outcome.changes}
    # nobody knows a random password, so it must be changed whatever must_change said
    assert read(admin, outcome.details["dn"], "userAccountControl", "pwdLastSet") == {
        "userAccountControl": ["512"], "pwdLastSet": ["0"]}
    kept_off = ad.onboard(person(off, samba_dc), password=GOOD_PASSWORD, enable=False)
    assert value(admin, kept_off.details["dn"], "userAccountControl") == "514"
    assert ad.onboard(person(off, samba_dc), enable=False).already_done
    with pytest.raises(InvalidInputError, match="empty"):
        ad.onboard(person("e" + uid(), samba_dc), password="")


def test_onboard_checks_everything_before_the_first_write(ad, admin, samba_dc, ous):
    staff = make_group(admin, ous, "staff" + uid())
    with pytest.raises(NotFoundError, match="no AD group"):
        ad.onboard(person("mg" + uid(), samba_dc), groups=[staff, "no-such-group-" + uid()])
    with pytest.raises(NotFoundError, match="manager"):
        ad.onboard(person("mg" + uid(), samba_dc, manager="nobody-" + uid()), groups=[staff])
    name = "dup" + uid()
    ad.onboard(person(name, samba_dc, employee_id="E1"), password=GOOD_PASSWORD)
    with pytest.raises(ConflictError, match="already belongs to someone else"):
        ad.onboard(person(name, samba_dc, given_name="John", display_name="John Other", employee_id="E2"),
                   groups=[staff])
    assert [u.username for u in ad.list_users(ous.root)] == [name] and members(admin, staff) == []


def test_onboard_refused_password_leaves_it_disabled_and_says_so(ad, admin, samba_dc, ous, caplog):
    group = make_group(admin, ous, "pol" + uid())
    name, secret = "pol" + uid(), "Ab1!"                  # too short
    new = person(name, samba_dc)
    caplog.set_level(logging.DEBUG)
    set_library_log_detail_level(EXTENDED)
    try:
        with pytest.raises(InvalidInputError) as info:
            ad.onboard(new, groups=[group], password=secret)
    finally:
        set_library_log_detail_level(OFF)
    exc = info.value
    dn = f"CN=Jane Doe {name},{ous.users}"
    assert "0000052D" in exc.code and exc.code.startswith("19 ") and exc.dn == dn
    message = str(exc)
    for fact in (f"{dn} was created", "disabled (userAccountControl 546)", "without a password",
                 f"added it to {group}", "not applied: unicodePwd, userAccountControl", "too short",
                 "running onboard again finishes it",
                 f"Cause: AD update of {name} (unicodePwd, pwdLastSet, userAccountControl) failed"):
        assert fact in message
    assert [c.attribute for c in exc.partial_changes][-1] == "memberOf"
    assert read(admin, dn, "userAccountControl", "pwdLastSet") == {"userAccountControl": ["546"], "pwdLastSet": ["0"]}
    assert members(admin, group) == [dn]
    for text in (message, repr(exc), repr(vars(exc)), caplog.text, str(exc.__cause__)):
        assert secret not in text.replace("\x00", "") and secret.encode("utf-16-le").hex() not in text

    start = ad.round_trips
    finished = ad.onboard(new, groups=[group], password=GOOD_PASSWORD)
    assert ad.round_trips - start == 2                    # search + the one modify
    assert [(c.attribute, c.old, c.new) for c in finished.changes] == [
        ("unicodePwd", "(none)", "(initial password, not shown)"), ("userAccountControl", 546, 512)]


@pytest.mark.parametrize("display,username,group", [
    ('Doe, John "JJ" <QA>; +1 \\ ops#', "jj-qa{u}", 'Ops, "QA" <R+D>; \\ #1'),
    ("Robert *)( Tables", "bob)(t{u}", "grp *)( all"),
])
def test_onboard_names_with_filter_and_dn_special_characters(ad, admin, samba_dc, ous, display, username, group):
    username = username.format(u=uid())
    odd = f"CN={escape_rdn(group)},{ous.groups}"
    admin.add(odd, ["top", "group"], {"sAMAccountName": "odd" + uid()})
    decoy = make_group(admin, ous, group[:3] + "decoy" + uid())   # what a wildcard would also hit
    boss_upn = f"boss{uid()}*)(x@{samba_dc.dns_domain}"
    boss = ad.onboard(person("boss" + uid(), samba_dc, display_name=display + " boss", upn=boss_upn),
                      password=GOOD_PASSWORD).details["dn"]
    upn = f"{username.replace('(', '').replace(')', '')}*)(x@{samba_dc.dns_domain}"
    new = person(username, samba_dc, display_name=display, upn=upn, manager=boss_upn)
    done = ad.onboard(new, groups=[group], password=GOOD_PASSWORD)
    dn = done.details["dn"]
    assert read(admin, dn, "cn")["cn"] == [display]
    assert value(admin, dn, "userAccountControl") == "512" and same_dn(value(admin, dn, "manager"), boss)
    assert [same_dn(m, dn) for m in members(admin, odd)] == [True] and members(admin, decoy) == []
    assert ad.onboard(new, groups=[group], password=GOOD_PASSWORD).already_done


def test_onboard_a_failed_group_is_reported_with_the_state_left(ad, admin, samba_dc, ous, monkeypatch):
    first, second = make_group(admin, ous, "one" + uid()), make_group(admin, ous, "two" + uid())
    real = ad.session.modify

    def refuse_second(dn, changes, **kw):
        if dn == second:
            raise PermissionDeniedError("AD add to group failed: no rights", system="ad",
                                        code="50 insufficientAccessRights")
        return real(dn, changes, **kw)

    monkeypatch.setattr(ad.session, "modify", refuse_second)
    name = "grpfail" + uid()
    with pytest.raises(PermissionDeniedError) as info:
        ad.onboard(person(name, samba_dc), groups=[first, second], password=GOOD_PASSWORD)
    dn = info.value.dn
    assert info.value.code == "50 insufficientAccessRights"
    for fact in (f"when adding it to {second} failed", "disabled (userAccountControl 546), without a password",
                 f"added it to {first}; it is not in {second}", "not attempted: unicodePwd, userAccountControl"):
        assert fact in str(info.value)
    assert value(admin, dn, "userAccountControl") == "546" and members(admin, first) == [dn]

    monkeypatch.setattr(ad.session, "modify", real)
    finished = ad.onboard(person(name, samba_dc), groups=[first, second], password=GOOD_PASSWORD)
    assert [c.attribute for c in finished.changes] == ["memberOf", "unicodePwd", "userAccountControl"]
    assert value(admin, dn, "userAccountControl") == "512" and members(admin, second) == [dn]
