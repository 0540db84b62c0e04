"""Plans for onboarding and offboarding, composed from stand-in directories (no LDAP, no Graph here)."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from workflows.config import ConfigError
from workflows.directory import Change, DirectoryUser, NewUser, Outcome
from workflows.directory_plans import (ADPolicy, Assignments, DirectoryPlan, DirectoryPolicy, Person, PersonError,
                                       PlanError, PlanStep, choose_username, load_directory_policy,
                                       parse_person, plan_offboarding, plan_onboarding, read_person,
                                       render_plan)
from workflows.naming import NamingError, NamingPolicy

REPO = Path(__file__).resolve().parents[2]
PERSON = {"given_name": "José", "surname": "Núñez", "department": "Sales", "title": "Account Executive",
          "office": "London", "employee_id": "E1042", "manager": "jane.doe", "start_date": "2026-03-02",
          "usage_location": "gb"}


class Stub:
    """A directory that answers from a dict of users and records every call (all plan-only)."""

    def __init__(self, system: str, users: dict[str, DirectoryUser] | None = None, *, domain: str = "example.com",
                 disabled_ou: str | None = "OU=Disabled,DC=example,DC=com"):
        self.system, self.label, self.upn_domain, self.disabled_ou = system, f"{system}-host", domain, disabled_ou
        self.users = users or {}
        self.calls: list[tuple] = []

    def find_user(self, username: str) -> DirectoryUser | None:
        return self.users.get(username.split("@")[0])

    def name_in_use(self, username: str) -> bool:
        return username in self.users

    def plan_new_hire(self, user: NewUser, *, groups=(), licenses=(), expires=None) -> list[Outcome]:
        self.calls.append(("plan_new_hire", user, tuple(groups), tuple(licenses), expires))
        return [Outcome(self.system, "onboard", (Change(user.username, "account", None, "created"),), planned=True)]

    def plan_after_sync(self, user: NewUser, *, groups=(), licenses=()) -> list[Outcome]:
        self.calls.append(("plan_after_sync", user, tuple(groups), tuple(licenses)))
        return [Outcome(self.system, "assign_licenses", (Change(user.upn, "licenses", [], list(licenses)),),
                        planned=True, details={"predicted": True})]

    def removable_groups(self, username: str, keep=()):
        user = self.users[username.split("@")[0]]
        return [g for g in user.groups if g not in keep], [f"{g} is kept (keep_groups)" for g in keep]

    def _verb(self, verb: str, username: str, *changes: tuple, plan: bool) -> Outcome:
        assert plan, "a plan must never ask for a real change"
        self.calls.append((verb, username))
        return Outcome(self.system, verb, tuple(Change(username, *c) for c in changes), planned=True)

    def disable_user(self, username, *, plan=False):
        return self._verb("disable_user", username, ("enabled", True, False), plan=plan)

    def remove_from_groups(self, username, groups, *, plan=False):
        return self._verb("remove_from_groups", username, *[("memberOf", g, None) for g in groups], plan=plan)

    def move_to_ou(self, username, ou=None, *, plan=False):
        return self._verb("move_to_ou", username, ("distinguishedName", "old", "new"), plan=plan)

    def revoke_sessions(self, username, *, plan=False):
        return self._verb("revoke_sessions", username, ("signInSessionsValidFromDateTime", "then", "now"), plan=plan)

    def remove_licenses(self, username, skus, *, plan=False):
        return self._verb("remove_licenses", username, ("licenses", list(skus), []), plan=plan)

    def remove_mfa_methods(self, username, *, plan=False):
        return self._verb("remove_mfa_methods", username, plan=plan)


def account(username: str, *, employee_id: str | None = None, given: str = "Someone", surname: str = "Else",
            groups: tuple[str, ...] = (), synced: bool = False, licenses: tuple[str, ...] = ()) -> DirectoryUser:
    attributes = {"given_name": given, "surname": surname, "licenses": list(licenses)}
    if employee_id:
        attributes["employee_id"] = employee_id
    return DirectoryUser(id=username, username=username, upn=f"{username}@example.com", display_name=f"{given} {surname}",
                         enabled=True, groups=groups, attributes=attributes, synced_from_ad=synced)


def person(**changes) -> Person:
    return parse_person({**PERSON, **changes})


def policy_from(tmp_path: Path, text: str) -> DirectoryPolicy:
    (tmp_path / "directory.yaml").write_text(text)
    return load_directory_policy(tmp_path)


# --- the person -----------------------------------------------------------------------------------

def test_a_complete_person_is_read_and_normalised():
    got = person(employee_id=1042, contractor=True, end_date="2026-09-30", preferred_given_name="Pepe")
    assert got.employee_id == "1042" and got.usage_location == "GB" and got.contractor
    assert (got.start_date, got.end_date) == (date(2026, 3, 2), date(2026, 9, 30))
    assert got.display_name == "Pepe Núñez" and got.person_name().preferred_given_name == "Pepe"


def test_every_problem_is_listed_at_once():
    with pytest.raises(PersonError) as info:
        parse_person({"surname": "  ", "start_date": "2026-03-02", "end_date": "2026-01-01", "contractor": 1,
                      "title": "x" * 129, "username": "bad name,", "manager": ["boss"], "nickname": "J"})
    problems = info.value.problems
    assert [p.split(":")[0] for p in problems] == ["nickname", "given_name", "surname", "title", "manager",
                                                   "contractor", "username", "end_date"]
    assert "end_date: 2026-01-01 is before start_date 2026-03-02" in problems
    assert str(info.value).startswith("person: 8 problems: nickname: unknown field")


def test_read_person_from_the_example_file():
    got = read_person(REPO / "config" / "examples" / "person.json")
    assert got.given_name == "José" and got.start_date == date(2026, 3, 2)


@pytest.mark.parametrize("data", [[], "José", None])
def test_a_person_must_be_an_object(data):
    with pytest.raises(PersonError, match="expected a JSON object"):
        parse_person(data)


# --- config/directory.yaml ------------------------------------------------------------------------

def test_the_shipped_directory_yaml_is_valid_and_assigns_nothing():
    policy = load_directory_policy(REPO / "config")
    assert policy == DirectoryPolicy()


def test_assignments_combine_everyone_kind_and_department_without_repeats(tmp_path):
    policy = policy_from(tmp_path, """
ad:
  groups:
    everyone: [All Staff, VPN]
    employees: [Employees]
    contractors: Contractors
    departments:
      Sales: [Sales, VPN]
  ou_by_department:
    sales: "OU=Sales,DC=example,DC=com"
entra:
  accounts: cloud
  licenses:
    everyone: [SPE_E3]
""")
    assert policy.ad.groups.for_person(person()) == ["All Staff", "VPN", "Employees", "Sales"]
    assert policy.ad.groups.for_person(person(contractor=True, department="sALES")) == [
        "All Staff", "VPN", "Contractors", "Sales"]
    assert policy.ad.groups.for_person(person(department=None)) == ["All Staff", "VPN", "Employees"]
    assert policy.ad.ou_by_department == {"sales": "OU=Sales,DC=example,DC=com"}
    assert policy.entra.accounts == "cloud" and policy.entra.licenses.everyone == ("SPE_E3",)


@pytest.mark.parametrize("text,line,needle", [
    ("ad:\n  group:\n    everyone: []\n", 2, "unknown key 'group' in ad"),
    ("entra:\n  accounts: hybrid\n", 2, "entra.accounts must be one of auto, cloud, synced"),
    ("ad:\n  groups:\n    everyone: [1, 2]\n", 3, "ad.groups.everyone must be a list of names"),
    ("ad:\n  groups:\n    departments:\n      Sales: [A]\n      sales: [B]\n", 5, "listed twice"),
    ("ad:\n  ou_by_department:\n    Sales: Sales OU\n", 3, "must be an OU's distinguished name"),
    ("ad:\n  offboarding:\n    remove_groups: 'yes'\n", 3, "ad.offboarding.remove_groups must be true or false"),
    ("entra:\n  offboarding:\n    wipe: true\n", 3, "unknown key 'wipe' in entra.offboarding"),
    ("ad: [groups]\n", 1, "ad must be a mapping"),
    ("okta: {}\n", 1, "unknown key 'okta'"),
    ("ad:\n  groups: [\n", 3, "invalid YAML"),
])
def test_policy_mistakes_name_the_file_and_line(tmp_path, text, line, needle):
    with pytest.raises(ConfigError) as info:
        policy_from(tmp_path, text)
    assert info.value.line == line and str(info.value).startswith(f"{tmp_path / 'directory.yaml'}:{line}: ")
    assert needle in info.value.message


# --- usernames --------------------------------------------------------------------------------------

def test_username_skips_names_taken_in_any_directory():
    ad = Stub("ad", {"jose.nunez": account("jose.nunez")})
    entra = Stub("entra", {"jnunez": account("jnunez")})
    assert choose_username(person(), NamingPolicy(), {"ad": ad, "entra": entra}) == "jose.nunez2"


def test_the_persons_own_account_from_an_earlier_run_is_not_a_collision():
    ad = Stub("ad", {"jose.nunez": account("jose.nunez", employee_id="E1042")})
    assert choose_username(person(), NamingPolicy(), {"ad": ad}) == "jose.nunez"


def test_a_namesakes_account_without_the_employee_id_is_someone_elses():
    """Same given name and surname prove nothing (a former John Smith's disabled account): the next name."""
    namesake = account("jose.nunez", given="José", surname="Núñez")
    assert choose_username(person(), NamingPolicy(), {"ad": Stub("ad", {"jose.nunez": namesake})}) == "jnunez"
    assert choose_username(person(employee_id=None), NamingPolicy(),
                           {"ad": Stub("ad", {"jose.nunez": namesake})}) == "jnunez"
    other = account("jose.nunez", employee_id="E0007", given="José", surname="Núñez")
    assert choose_username(person(), NamingPolicy(), {"entra": Stub("entra", {"jose.nunez": other})}) == "jnunez"


def test_a_hand_chosen_username_taken_by_someone_else_is_refused():
    ad = Stub("ad", {"pepe": account("pepe", employee_id="E0007"), "jose": account("jose")})
    with pytest.raises(PersonError) as caught:
        choose_username(person(username="pepe"), NamingPolicy(), {"ad": ad})
    assert caught.value.problems == [
        "username: pepe (Active Directory) already belongs to someone else (employeeID E0007; the new hire's is "
        "E1042): choose another, or leave it out to have one generated"]
    with pytest.raises(PersonError, match=r"jose \(Active Directory\) already belongs to someone else \(it has no "
                                          r"employeeID"):
        choose_username(person(username="jose", given_name="Pepe", surname="Nunez"), NamingPolicy(), {"ad": ad})
    assert choose_username(person(username="pepe2"), NamingPolicy(), {"ad": ad}) == "pepe2"
    mine = Stub("ad", {"pepe": account("pepe", employee_id="E1042")})   # an earlier attempt's: theirs
    assert choose_username(person(username="pepe"), NamingPolicy(), {"ad": mine}) == "pepe"


def test_a_name_with_no_latin_spelling_and_no_employee_id_cannot_be_planned():
    with pytest.raises(NamingError, match="no Latin spelling"):
        choose_username(person(given_name="李", surname="王", employee_id=None), NamingPolicy(), {"ad": Stub("ad")})


# --- onboarding -------------------------------------------------------------------------------------

def test_onboarding_asks_each_directory_with_the_policy_groups_ou_licences_and_expiry(tmp_path):
    policy = policy_from(tmp_path, """
ad:
  groups: {everyone: [Staff], departments: {Sales: [Sales]}}
  ou_by_department: {Sales: "OU=Sales,DC=example,DC=com"}
entra:
  accounts: cloud
  groups: {contractors: [Guests]}
  licenses: {everyone: [SPE_E3]}
""")
    ad, entra = Stub("ad", domain="corp.example.com"), Stub("entra", domain="example.com")
    plan = plan_onboarding(person(contractor=True, end_date="2026-09-30"), NamingPolicy(), {"ad": ad, "entra": entra},
                           policy)
    (_, ad_user, ad_groups, _, expires), = ad.calls
    assert ad_user.upn == "jose.nunez@corp.example.com" and ad_user.ou == "OU=Sales,DC=example,DC=com"
    assert ad_groups == ("Staff", "Sales") and expires == date(2026, 9, 30)
    (verb, entra_user, entra_groups, licenses, _), = entra.calls
    assert verb == "plan_new_hire" and entra_user.upn == "jose.nunez@example.com" and entra_user.ou is None
    assert (entra_groups, licenses) == (("Guests",), ("SPE_E3",)) and entra_user.usage_location == "GB"
    assert [(s.system, s.verb) for s in plan.steps] == [("ad", "onboard"), ("entra", "onboard")]
    assert plan.username == "jose.nunez" and list(plan.systems) == ["ad", "entra"]
    assert any("Entra ID has no account expiry" in n for n in plan.notes)
    assert any("Temporary Access Pass" in n for n in plan.notes)


def test_with_both_directories_entra_accounts_come_from_sync_by_default(tmp_path):
    policy = policy_from(tmp_path, "entra:\n  licenses:\n    everyone: [SPE_E3]\n")
    ad, entra = Stub("ad"), Stub("entra")
    plan = plan_onboarding(person(), NamingPolicy(), {"ad": ad, "entra": entra}, policy)
    assert [c[0] for c in entra.calls] == ["plan_after_sync"]
    assert plan.steps[-1].note == "after the account arrives from Active Directory (AD Connect sync)"
    # entra alone: cloud accounts
    entra = Stub("entra")
    plan_onboarding(person(), NamingPolicy(), {"entra": entra}, policy)
    assert [c[0] for c in entra.calls] == ["plan_new_hire"]


def test_licences_without_a_usage_location_are_a_person_problem(tmp_path):
    policy = policy_from(tmp_path, "entra:\n  licenses:\n    everyone: [SPE_E3]\n")
    entra = Stub("entra")
    with pytest.raises(PersonError, match="usage_location: required, because Entra ID licences"):
        plan_onboarding(person(usage_location=None), NamingPolicy(), {"entra": entra}, policy)
    assert entra.calls == []


def test_without_directories_there_is_no_plan():
    with pytest.raises(PlanError, match="no directory is configured"):
        plan_onboarding(person(), NamingPolicy(), {})
    with pytest.raises(PlanError, match="no directory is configured"):
        plan_offboarding("jdoe", {})


# --- offboarding ------------------------------------------------------------------------------------

def test_offboarding_in_both_directories_in_order():
    ad = Stub("ad", {"jdoe": account("jdoe", groups=("CN=Sales,DC=x", "CN=VPN,DC=x"))})
    entra = Stub("entra", {"jdoe": account("jdoe", groups=("g1",), licenses=("SPE_E3",))})
    plan = plan_offboarding("jdoe", {"ad": ad, "entra": entra}, DirectoryPolicy())
    assert [(s.system, s.verb) for s in plan.steps] == [
        ("ad", "disable_user"), ("ad", "remove_from_groups"), ("ad", "move_to_ou"),
        ("entra", "disable_user"), ("entra", "revoke_sessions"), ("entra", "remove_from_groups"),
        ("entra", "remove_licenses")]
    assert [(c.old, c.new) for c in plan.steps[1].changes] == [("CN=Sales,DC=x", None), ("CN=VPN,DC=x", None)]
    assert ("remove_licenses", "jdoe@example.com") in entra.calls
    assert plan.summary == "Offboarding Someone Else (jdoe)"


def test_a_synced_entra_account_is_disabled_through_ad_and_the_policy_can_turn_steps_off(tmp_path):
    policy = policy_from(tmp_path, """
ad:
  offboarding: {remove_groups: false, move_to_disabled_ou: false}
entra:
  offboarding: {revoke_sessions: true, remove_groups: false, remove_licenses: false, remove_mfa_methods: true}
""")
    ad = Stub("ad", {"jdoe": account("jdoe")})
    entra = Stub("entra", {"jdoe": account("jdoe", synced=True)})
    plan = plan_offboarding("jdoe", {"ad": ad, "entra": entra}, policy)
    assert [(s.system, s.verb) for s in plan.steps] == [
        ("ad", "disable_user"), ("entra", "revoke_sessions"), ("entra", "remove_mfa_methods")]
    assert plan.steps[-1].already_done
    assert any("synchronised from Active Directory, so it is disabled there" in n for n in plan.notes)


def test_offboarding_notes_what_it_cannot_do():
    ad = Stub("ad", {"jdoe": account("jdoe", groups=("CN=Hold,DC=x",))}, disabled_ou=None)
    entra = Stub("entra")
    plan = plan_offboarding("jdoe", {"ad": ad, "entra": entra},
                            DirectoryPolicy(ad=ADPolicy(keep_groups=("CN=Hold,DC=x",))))
    assert "Active Directory: CN=Hold,DC=x is kept (keep_groups)" in plan.notes
    assert "Active Directory: LDAP_DISABLED_OU is not set, so the account stays in its OU" in plan.notes
    assert "Entra ID: no account 'jdoe'" in plan.notes
    with pytest.raises(PlanError, match="no account 'ghost' in Active Directory or Entra ID"):
        plan_offboarding("ghost", {"ad": ad, "entra": entra})


# --- showing a plan ----------------------------------------------------------------------------------

def test_render_names_every_attribute_old_and_new():
    plan = DirectoryPlan("offboarding", "jdoe", "Jane Doe", {"ad": "ldaps://dc1", "entra": "tenant t"}, (
        PlanStep("ad", "disable_user", (Change("jdoe", "userAccountControl", 512, 514),)),
        PlanStep("ad", "move_to_ou"),
        PlanStep("entra", "remove_licenses", (Change("jdoe@x.com", "licenses", ["E3", "EMS"], []),),
                 note="a note"),
        PlanStep("entra", "set_attributes", (Change("a@x.com", "enabled", True, False),
                                             Change("b@x.com", "title", "", "Lead"))),
    ), ("keep an eye",), "Offboarding Jane Doe (jdoe)")
    text = render_plan(plan)
    assert text.splitlines() == [
        "Offboarding Jane Doe (jdoe)", "This is a plan: nothing has been changed.", "",
        "Active Directory (ldaps://dc1)", "  1. disable_user", "       userAccountControl: 512 → 514",
        "  2. move_to_ou  (already done)", "",
        "Entra ID (tenant t)", "  3. remove_licenses", "       (a note)", "       licenses: E3, EMS → (none)",
        "  4. set_attributes", "       a@x.com enabled: true → false", "       b@x.com title: (none) → Lead", "",
        "Notes", "  - keep an eye", "", "In all: 4 changes planned, none made."]
    data = json.loads(json.dumps(plan.as_dict()))
    assert data["steps"][2]["changes"] == [{"target": "jdoe@x.com", "attribute": "licenses", "old": ["E3", "EMS"],
                                            "new": []}]
    assert data["steps"][1]["already_done"] and data["systems"][1] == {"system": "entra", "name": "Entra ID",
                                                                        "where": "tenant t"}


def test_assignments_know_departments_case_insensitively():
    groups = Assignments(departments={"sales": ("S",)})
    assert groups.knows("SALES") and not groups.knows("Legal") and not groups.knows(None)
