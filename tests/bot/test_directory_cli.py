"""`itbot directory plan-onboarding PERSON.json` and `plan-offboarding USER`, end to end.

The command runs in this process (``bot.cli.main``) with settings from the environment, against the real
Samba AD DC (``samba`` marker) and against the Graph fake (``tests/connectors/graph_fake.py``). After each
plan the directory is read back: nothing may have changed.
"""
from __future__ import annotations

import json
import logging
import shutil
import uuid
from pathlib import Path

import pytest
from ldap3 import BASE

from bot.cli import main
from bot.settings import ENTRA_VARIABLES, LDAP_VARIABLES
from connectors.ad import ADConnector
from tests.connectors.graph_fake import (CLIENT_ID, CLIENT_SECRET, TENANT, connector, fake, org,  # noqa: F401
                                         sleeps, writes)
from workflows.directory import NewUser

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "Initial-Pass-42!"


def uid() -> str:
    return uuid.uuid4().hex[:6]


@pytest.fixture(autouse=True)
def keep_logging():
    """The command configures logging for itself; give the root logger back as it was."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A clean environment and a config dir (itbot.yaml and naming.yaml from the repo); returns a setter."""
    for name in (*LDAP_VARIABLES, *ENTRA_VARIABLES, "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "config"
    config.mkdir()
    for name in ("itbot.yaml", "naming.yaml"):
        shutil.copy(REPO / "config" / name, config / name)
    monkeypatch.setenv("ITBOT_CONFIG_DIR", str(config))

    def setenv(**values: str) -> Path:
        for key, value in values.items():
            monkeypatch.setenv(key, value)
        return config
    return setenv


def directory_yaml(config: Path, text: str) -> None:
    (config / "directory.yaml").write_text(text)


def person_file(tmp_path: Path, **fields) -> Path:
    data = {"given_name": "José", "surname": "Núñez", "department": "Sales", "title": "Account Executive",
            "office": "London", "employee_id": "E1042", "start_date": "2026-03-02", "usage_location": "GB"}
    data.update(fields)
    path = tmp_path / f"person-{uid()}.json"
    path.write_text(json.dumps(data, ensure_ascii=False))
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["directory", *argv])
    out, err = capsys.readouterr()
    return code, out, err


# ==================================================================================================
# Input and configuration mistakes
# ==================================================================================================

def test_every_bad_field_of_the_person_is_listed_with_exit_2(env, tmp_path, capsys):
    env(AZURE_TENANT_ID=TENANT, AZURE_CLIENT_ID=CLIENT_ID, AZURE_CLIENT_SECRET=CLIENT_SECRET,
        ENTRA_UPN_DOMAIN="contoso.com")
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"given_name": "", "surname": "Doe", "start_date": "2026-13-01",
                                "usage_location": "GBR", "contractor": "yes", "employee_id": "E" * 17,
                                "shoe_size": 42}))
    code, out, err = run(capsys, "plan-onboarding", str(path))
    assert code == 2 and out == ""
    line, = err.strip().splitlines()
    assert line.startswith(f"itbot: error: {path}: 6 problems: ")
    for needle in ("shoe_size: unknown field", "given_name: required", "start_date: expected a date",
                   "usage_location: expected a two-letter", "contractor: expected true or false",
                   "employee_id: 17 characters; at most 16"):
        assert needle in line


def test_unreadable_json_is_exit_2(env, tmp_path, capsys):
    env(AZURE_TENANT_ID=TENANT, AZURE_CLIENT_ID=CLIENT_ID, AZURE_CLIENT_SECRET=CLIENT_SECRET,
        ENTRA_UPN_DOMAIN="contoso.com")
    path = tmp_path / "broken.json"
    path.write_text('{"given_name": "Jo",\n "surname": }')
    code, _, err = run(capsys, "plan-onboarding", str(path))
    assert code == 2 and "invalid JSON at line 2" in err
    code, _, err = run(capsys, "plan-onboarding", str(tmp_path / "missing.json"))
    assert code == 2 and "file not found" in err


@pytest.mark.parametrize("argv", [["plan-onboarding", "PERSON"], ["plan-offboarding", "jdoe"]])
def test_without_a_configured_directory_it_says_so_with_exit_2(env, tmp_path, capsys, argv):
    env()
    if argv[1] == "PERSON":
        argv = [argv[0], str(person_file(tmp_path))]
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert "no directory is configured: set LDAP_URL" in err and "AZURE_TENANT_ID" in err


def test_a_broken_directory_yaml_names_file_and_line(env, tmp_path, capsys):
    config = env(AZURE_TENANT_ID=TENANT, AZURE_CLIENT_ID=CLIENT_ID, AZURE_CLIENT_SECRET=CLIENT_SECRET,
                 ENTRA_UPN_DOMAIN="contoso.com")
    directory_yaml(config, "entra:\n  licenses:\n    everybody: [E3]\n")
    code, _, err = run(capsys, "plan-offboarding", "jdoe")
    assert code == 2 and f"{config / 'directory.yaml'}:3: unknown key 'everybody'" in err


# ==================================================================================================
# Entra ID, against the Graph fake
# ==================================================================================================

ENTRA_CLOUD = """
entra:
  accounts: cloud
  groups:
    everyone: [All Staff]
    departments:
      sales: [Sales]
  licenses:
    everyone: [ENTERPRISEPACK]
"""


@pytest.fixture
def entra_env(env, fake):
    config = env(AZURE_TENANT_ID=TENANT, AZURE_CLIENT_ID=CLIENT_ID, AZURE_CLIENT_SECRET=CLIENT_SECRET,
                 ENTRA_UPN_DOMAIN="contoso.com")
    directory_yaml(config, ENTRA_CLOUD)
    return config


def snapshot(fake) -> str:
    return json.dumps([fake.users, {k: sorted(v) for k, v in fake.members.items()}, fake.managers,
                       fake.methods], sort_keys=True, default=str)


def test_entra_onboarding_plan_names_every_attribute_and_changes_nothing(entra_env, fake, org, tmp_path, capsys):
    fake.add_user("jose.nunez@contoso.com", givenName="Joseph", surname="Nunez", employeeId="E7")   # someone else
    before = snapshot(fake)
    code, out, err = run(capsys, "plan-onboarding", str(person_file(tmp_path, manager="boss")))
    assert (code, err) == (0, "")
    assert writes(fake) == [] and snapshot(fake) == before
    assert fake.user("jnunez@contoso.com") is None
    lines = [line.strip() for line in out.splitlines()]
    assert "Onboarding José Núñez (employee E1042), starting 2026-03-02: username jnunez" in lines
    assert "This is a plan: nothing has been changed." in lines
    assert f"Entra ID (tenant {TENANT})" in lines
    for expected in ("account: (none) → created, enabled", "userPrincipalName: (none) → jnunez@contoso.com",
                     "mailNickname: (none) → jnunez", "displayName: (none) → José Núñez",
                     "jobTitle: (none) → Account Executive", "department: (none) → Sales",
                     "officeLocation: (none) → London", "employeeId: (none) → E1042",
                     "usageLocation: (none) → GB", "password: (none) → random, not disclosed",
                     "manager: (none) → boss@contoso.com", "memberOf: (none) → All Staff",
                     "memberOf: (none) → Sales", "licenses: (none) → ENTERPRISEPACK"):
        assert expected in lines, expected
    assert any("Temporary Access Pass" in line for line in lines)


def test_entra_onboarding_replanned_after_it_was_carried_out_is_already_done(entra_env, fake, org, tmp_path,
                                                                            capsys, sleeps):
    path = person_file(tmp_path, manager="boss")
    code, first, _ = run(capsys, "plan-onboarding", str(path), "--json")
    plan = json.loads(first)
    assert code == 0 and plan["username"] == "jose.nunez" and writes(fake) == []
    step, = plan["steps"]
    assert step["system"] == "entra" and step["verb"] == "onboard" and not step["already_done"]
    assert {"target": "jose.nunez@contoso.com", "attribute": "licenses", "old": [], "new": ["ENTERPRISEPACK"]} \
        in step["changes"]

    hire = NewUser(username="jose.nunez", given_name="José", surname="Núñez", display_name="José Núñez",
                   upn="jose.nunez@contoso.com", department="Sales", title="Account Executive", office="London",
                   employee_id="E1042", manager="boss", usage_location="GB")
    connector(sleeps).onboard(hire, groups=["All Staff", "Sales"], licenses=["ENTERPRISEPACK"])
    done = writes(fake)

    code, again, _ = run(capsys, "plan-onboarding", str(path), "--json")
    plan = json.loads(again)
    assert code == 0 and plan["username"] == "jose.nunez"   # the account is theirs: not a collision
    assert [s["already_done"] for s in plan["steps"]] == [True] and writes(fake) == done


def test_entra_offboarding_plan_and_nothing_changes(entra_env, fake, org, tmp_path, capsys):
    user = fake.add_user("leaver@contoso.com", displayName="Lee Ver", usageLocation="GB",
                         assignedLicenses=[{"skuId": org["e3"], "disabledPlans": []}])
    for group in (org["sales"], org["synced"], org["dynamic"]):
        fake.members[group["id"]].add(user["id"])
    fake.add_method(user, "microsoftAuthenticatorAuthenticationMethod", displayName="Pixel 8")
    before = snapshot(fake)
    code, out, err = run(capsys, "plan-offboarding", "leaver")
    assert (code, err) == (0, "")
    assert writes(fake) == [] and snapshot(fake) == before
    lines = [line.strip() for line in out.splitlines()]
    assert "Offboarding Lee Ver (leaver)" in lines
    steps = [line for line in lines if line[:1].isdigit()]
    assert steps == ["1. disable_user", "2. revoke_sessions", "3. remove_from_groups", "4. remove_licenses"]
    for expected in ("accountEnabled: true → false", "signInSessionsValidFromDateTime: 2026-01-01T00:00:00Z → now",
                     "memberOf: Sales → (none)", "licenses: ENTERPRISEPACK → (none)"):
        assert expected in lines, expected
    assert "- Entra ID: Finance is synchronised from Active Directory: the membership is removed there" in lines
    assert "- Entra ID: Everyone has rule-based membership: the rule drops the account" in lines


def test_entra_offboarding_of_an_unknown_user(entra_env, fake, capsys):
    code, out, err = run(capsys, "plan-offboarding", "nobody")
    assert code == 2 and out == "" and "no account 'nobody' in Entra ID" in err


# ==================================================================================================
# Active Directory, against the real Samba DC
# ==================================================================================================

@pytest.fixture
def ad_env(env, samba_dc, ous):
    return env(LDAP_URL=samba_dc.ldaps_url, LDAP_CA_FILE=samba_dc.ca_file, LDAP_TLS_NAME=samba_dc.tls_name,
               LDAP_BIND_DN=samba_dc.admin_dn, LDAP_BIND_PASSWORD=samba_dc.admin_password,
               LDAP_BASE_DN=samba_dc.base_dn, LDAP_USERS_OU=ous.users, LDAP_DISABLED_OU=ous.disabled,
               LDAP_GROUPS_BASE=ous.groups, LDAP_UPN_DOMAIN=samba_dc.dns_domain)


@pytest.fixture
def ad(samba_dc, ous):
    connector = ADConnector(samba_dc.ldaps_url, samba_dc.admin_dn, samba_dc.admin_password,
                            base_dn=samba_dc.base_dn, users_ou=ous.users, disabled_ou=ous.disabled,
                            groups_base=ous.groups, upn_domain=samba_dc.dns_domain, ca_file=samba_dc.ca_file,
                            tls_name=samba_dc.tls_name)
    yield connector
    connector.close()


def make_group(admin, ous, name: str) -> str:
    dn = f"CN={name},{ous.groups}"
    admin.add(dn, ["top", "group"], {"sAMAccountName": name})
    return dn


def highest_usn(admin) -> int:
    """The DC's highest committed update number: it moves with every write anywhere in the directory."""
    admin.search("", "(objectClass=*)", BASE, attributes=["highestCommittedUSN"])
    return int(admin.response[0]["attributes"]["highestCommittedUSN"][0])


def members(admin, dn: str) -> list[str]:
    admin.search(dn, "(objectClass=*)", BASE, attributes=["member"])
    return sorted(admin.response[0]["attributes"].get("member") or [])


def new_user(samba_dc, username: str, given: str, surname: str, **kw) -> NewUser:
    return NewUser(username=username, given_name=given, surname=surname, display_name=f"{given} {surname}",
                   upn=f"{username}@{samba_dc.dns_domain}", **kw)


def ad_groups_yaml(config: Path, staff: str, sales: str, contractors: str) -> None:
    directory_yaml(config, f"""
ad:
  groups:
    everyone: [{staff}]
    contractors: [{contractors}]
    departments:
      Sales: [{sales}]
""")


@pytest.mark.samba
def test_ad_onboarding_plan_against_the_dc_changes_nothing(ad_env, admin, ad, samba_dc, ous, tmp_path, capsys):
    suffix = uid()
    staff, sales, contractors = (make_group(admin, ous, f"{n}{suffix}") for n in ("staff", "sales", "contr"))
    ad_groups_yaml(ad_env, f"staff{suffix}", f"sales{suffix}", f"contr{suffix}")
    boss = ad.create_user(new_user(samba_dc, "boss" + suffix, "Bo", "Ss" + suffix)).details["dn"]
    ad.create_user(new_user(samba_dc, f"jose.nunez{suffix}", "Joseph", "Nunez"))   # a namesake holds the name
    path = person_file(tmp_path, surname="Núñez" + suffix, manager="boss" + suffix, contractor=True,
                       end_date="2026-08-31")
    before = highest_usn(admin)

    code, out, err = run(capsys, "plan-onboarding", str(path))
    assert (code, err) == (0, "")
    assert highest_usn(admin) == before                      # nothing written anywhere in the DC
    name = f"jnunez{suffix}"
    assert ad.find_user(name) is None and members(admin, staff) == members(admin, sales) == []
    lines = [line.strip() for line in out.splitlines()]
    assert f"Onboarding José Núñez{suffix} (employee E1042), starting 2026-03-02: username {name}" in lines
    assert f"Active Directory ({samba_dc.ldaps_url})" in lines
    steps = [line for line in lines if line[:1].isdigit()]
    assert steps == ["1. onboard", "2. set_account_expiry"]
    dn = f"CN=José Núñez{suffix},{ous.users}"
    for expected in (f"account: (none) → {dn}", "userAccountControl: (none) → 546",
                     f"sAMAccountName: (none) → {name}", f"userPrincipalName: (none) → {name}@{samba_dc.dns_domain}",
                     "givenName: (none) → José", f"sn: (none) → Núñez{suffix}", "title: (none) → Account Executive",
                     "department: (none) → Sales", "physicalDeliveryOfficeName: (none) → London",
                     "employeeID: (none) → E1042", f"manager: (none) → {boss}",
                     f"memberOf: (none) → {staff}", f"memberOf: (none) → {contractors}",
                     f"memberOf: (none) → {sales}", "unicodePwd: (none) → (random, not disclosed)",
                     "userAccountControl: 546 → 512",
                     "accountExpires: never → 2026-08-31T23:00:00Z"):   # the end of 31 August in London
        assert expected in lines, expected


@pytest.mark.samba
def test_ad_onboarding_carried_out_then_planned_again_is_already_done(ad_env, admin, ad, samba_dc, ous, tmp_path,
                                                                     capsys):
    suffix = uid()
    staff, sales, _ = (make_group(admin, ous, f"{n}{suffix}") for n in ("staff", "sales", "contr"))
    ad_groups_yaml(ad_env, f"staff{suffix}", f"sales{suffix}", f"contr{suffix}")
    path = person_file(tmp_path, surname="Ødegård" + suffix)
    code, out, _ = run(capsys, "plan-onboarding", str(path), "--json")
    plan = json.loads(out)
    name = f"jose.odegard{suffix}"
    assert code == 0 and plan["username"] == name and ad.find_user(name) is None

    # carry it out, as the approved plan would
    hire = new_user(samba_dc, name, "José", "Ødegård" + suffix, department="Sales", title="Account Executive",
                    office="London", employee_id="E1042")
    done = ad.onboard(hire, groups=[f"staff{suffix}", f"sales{suffix}"], password=PASSWORD)
    assert [(c.attribute, c.new) for c in done.changes if c.attribute == "memberOf"] == [
        ("memberOf", staff), ("memberOf", sales)]
    # what the run did is what the plan said (the password wording differs: this run was given one)
    assert {(c.attribute, str(c.new)) for c in done.changes if c.attribute != "unicodePwd"} == {
        (c["attribute"], str(c["new"])) for c in plan["steps"][0]["changes"] if c["attribute"] != "unicodePwd"}

    before = highest_usn(admin)
    code, out, _ = run(capsys, "plan-onboarding", str(path), "--json")
    plan = json.loads(out)
    assert code == 0 and plan["username"] == name      # recognised as theirs, not a collision
    assert [(s["verb"], s["already_done"]) for s in plan["steps"]] == [("onboard", True)]
    assert highest_usn(admin) == before


@pytest.mark.samba
def test_ad_offboarding_plan_against_the_dc_changes_nothing(ad_env, admin, ad, samba_dc, ous, capsys):
    suffix = uid()
    staff, sales = make_group(admin, ous, "staff" + suffix), make_group(admin, ous, "sales" + suffix)
    name = "leaver" + suffix
    dn = ad.create_user(new_user(samba_dc, name, "Lee", "Ver" + suffix)).details["dn"]
    ad.set_initial_credential(name, PASSWORD)
    ad.enable_user(name)
    ad.add_to_groups(name, [staff, sales])
    before = highest_usn(admin)

    code, out, err = run(capsys, "plan-offboarding", name)
    assert (code, err) == (0, "")
    assert highest_usn(admin) == before
    user = ad.find_user(name)
    assert user.enabled and user.id == dn and set(user.groups) == {staff, sales}
    lines = [line.strip() for line in out.splitlines()]
    assert f"Offboarding Lee Ver{suffix} ({name})" in lines
    assert [line for line in lines if line[:1].isdigit()] == ["1. disable_user", "2. remove_from_groups",
                                                              "3. move_to_ou"]
    for expected in ("userAccountControl: 512 → 514", f"memberOf: {staff} → (none)", f"memberOf: {sales} → (none)",
                     f"distinguishedName: {dn} → CN=Lee Ver{suffix},{ous.disabled}"):
        assert expected in lines, expected


@pytest.mark.samba
def test_hybrid_ad_and_entra_plans(ad_env, admin, ad, samba_dc, ous, fake, org, tmp_path, capsys, monkeypatch):
    """Both configured, Entra accounts synced from AD: AD creates; Entra adds licences and cloud groups."""
    for key, value in dict(AZURE_TENANT_ID=TENANT, AZURE_CLIENT_ID=CLIENT_ID, AZURE_CLIENT_SECRET=CLIENT_SECRET,
                           ENTRA_UPN_DOMAIN="contoso.com").items():
        monkeypatch.setenv(key, value)
    suffix = uid()
    staff = make_group(admin, ous, "staff" + suffix)
    directory_yaml(ad_env, f"ad:\n  groups:\n    everyone: [staff{suffix}]\n"
                           f"entra:\n  groups:\n    everyone: [All Staff]\n  licenses:\n    everyone: [EMS]\n")
    before = highest_usn(admin)
    code, out, err = run(capsys, "plan-onboarding", str(person_file(tmp_path, surname="Doe" + suffix)))
    assert (code, err) == (0, "")
    assert highest_usn(admin) == before and writes(fake) == []
    lines = [line.strip() for line in out.splitlines()]
    assert [line for line in lines if line[:1].isdigit()] == [
        "1. onboard", "2. add_to_groups", "3. assign_licenses"]
    assert "(after the account arrives from Active Directory (AD Connect sync))" in lines
    for expected in (f"memberOf: (none) → {staff}", "memberOf: (none) → All Staff", "usageLocation: (none) → GB",
                     "licenses: (none) → EMS"):
        assert expected in lines, expected

    # offboarding a synced user: disabled in AD; in Entra sessions are revoked and licences removed
    name = "hy" + suffix
    ad.create_user(new_user(samba_dc, name, "Hy", "Brid" + suffix))
    ad.set_initial_credential(name, PASSWORD)
    ad.enable_user(name)
    fake.add_user(f"{name}@contoso.com", synced=True, displayName="Hy Brid", usageLocation="GB",
                  assignedLicenses=[{"skuId": org["ems"], "disabledPlans": []}])
    before = highest_usn(admin)
    code, out, err = run(capsys, "plan-offboarding", name)
    assert (code, err) == (0, "") and highest_usn(admin) == before and writes(fake) == []
    lines = [line.strip() for line in out.splitlines()]
    assert [line for line in lines if line[:1].isdigit()] == [
        "1. disable_user", "2. remove_from_groups  (already done)", "3. move_to_ou", "4. revoke_sessions",
        "5. remove_from_groups  (already done)", "6. remove_licenses"]
    assert "licenses: EMS → (none)" in lines
    assert any("synchronised from Active Directory, so it is disabled there" in line for line in lines)
