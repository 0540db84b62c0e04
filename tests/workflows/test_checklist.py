"""Checklists as data: the shipped checklists, who gets which step, order, due times, and one file:line
error for every kind of mistake."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from workflows.checklist import ACTIONS, KINDS, load_checklist, load_checklists
from workflows.checklist_due import (action_arguments, anchor_date, due_at, parse_due, ready_steps, steps_for,
                                     topological_order)
from workflows.config import ConfigError
from workflows.teams import load_teams

CONFIG = Path(__file__).resolve().parents[2] / "config"
UTC = timezone.utc

TEAMS = """\
teams:
  helpdesk_l1: &team
    name: Help desk
    channel: C0HELPDESK1
    channel_name: "#it-helpdesk"
    members: [U0IT1]
    lead: U0IT1
    business_hours: mon-fri 08:00-18:00
    timezone: Europe/London
    sla:
      P1: {first_response: 15m, resolution: 4h}
      P2: {first_response: 1h, resolution: 1d}
      P3: {first_response: 4h, resolution: 3d}
      P4: {first_response: 1d, resolution: 5d}
  helpdesk_l2: *team
  security: *team
responsibilities:
  add_remove_network_users: helpdesk_l2
  setup_laptops: helpdesk_l1
  security_awareness_training: security
"""

# Line numbers matter: the error tests below name them.
MINIMAL = """\
anchor: start_date
default_time: "09:00"
department_groups:
  Sales: [Sales, CRM Users]
  Finance: [Finance]
steps:
  - id: account
    title: Create the account
    responsibility: add_remove_network_users
    action: ad.create_user
    requires: []
    due: -5 days
  - id: groups
    title: Department groups
    team: helpdesk_l2
    action: ad.add_to_groups
    args: {groups: [All Staff], groups_from: department}
    requires: [account]
    when: {contractor: false}
    due: -5 days
  - id: laptop
    title: Prepare the laptop
    team: helpdesk_l1
    task: Prepare a laptop.
    requires: [account]
    due: day 1 08:00 local
"""


@pytest.fixture(scope="module")
def shipped_teams():
    return load_teams(CONFIG)


@pytest.fixture(scope="module")
def shipped(shipped_teams):
    return load_checklists(CONFIG, shipped_teams)


@pytest.fixture
def teams(tmp_path):
    folder = tmp_path / "teams"
    folder.mkdir()
    (folder / "teams.yaml").write_text(TEAMS, encoding="utf-8")
    return load_teams(folder)


def load_text(tmp_path, teams, text, name="onboarding.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_checklist(path, teams)


def error_for(tmp_path, teams, *edits):
    """The error message for MINIMAL with each (old, new) replaced once, with the file name cut to 'F'."""
    text = MINIMAL
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, teams, text)
    return str(caught.value).replace(str(tmp_path / "onboarding.yaml"), "F")


def ids(steps):
    return [s.id for s in steps]


def person(**kw):
    base = dict(department="Sales", location="London", contractor=False, privileged=False,
                timezone="Europe/London", start_date=date(2027, 3, 29))
    return {**base, **kw}


# ------------------------------------------------------------------ the shipped checklists

def test_shipped_checklists_load_and_every_step_has_an_existing_team(shipped, shipped_teams):
    assert list(shipped) == list(KINDS) == ["onboarding", "offboarding", "role-change"]
    assert [c.anchor for c in shipped.values()] == ["start_date", "last_day", "effective_date"]
    for checklist in shipped.values():
        assert len(checklist.steps) >= 10
        for step in checklist.steps:
            assert shipped_teams.team(step.team).id == step.team
            if step.responsibility:
                assert shipped_teams.team_for(step.responsibility).id == step.team
            assert (step.action in ACTIONS) != bool(step.task)
            if step.action and ACTIONS[step.action].access:
                assert step.needs_approval, step.id  # every account add and removal is approved


def test_onboarding_covers_the_seed_domain(shipped):
    onboarding = shipped["onboarding"]
    actions = {s.action for s in onboarding.steps if s.action}
    assert {"ad.create_user", "ad.set_initial_credential", "ad.enable_user", "ad.add_to_groups",
            "entra.create_user", "entra.assign_licenses", "entra.issue_temporary_access_pass"} <= actions
    assert onboarding.step("security_training").team == "security"
    assert onboarding.step("laptop").team == "helpdesk_l1" and onboarding.step("laptop").manual
    assert onboarding.step("building_access").responsibility == "access_control"
    assert onboarding.step("manager_welcome").assignee == "manager"
    tap = onboarding.step("temporary_access_pass")
    assert tap.args == {"lifetime_minutes": 480, "usable_once": True}
    assert "temporary_access_pass" in onboarding.step("mfa_registration").requires
    assert onboarding.department_groups["engineering"] == ("Engineering", "VPN Users", "GitHub Users")


def test_offboarding_disables_and_revokes_before_removing_and_hands_over_before_licences_go(shipped):
    offboarding = shipped["offboarding"]
    order = ids(steps_for(offboarding, person(privileged=True, last_day=date(2027, 6, 30))))
    assert order.index("ad_disable") < order.index("ad_remove_groups") < order.index("ad_move_disabled")
    assert order.index("entra_disable") < order.index("entra_revoke_sessions") < order.index("entra_remove_groups")
    assert order.index("mail_handover") < order.index("entra_remove_licenses")
    assert order.index("transfer_files") < order.index("entra_remove_licenses")
    assert {"recover_hardware", "building_access_removed", "rotate_shared_secrets", "ad_expiry"} <= set(order)
    assert offboarding.step("recover_hardware").responsibility == "hardware_inventory"


# ------------------------------------------------------------------ who gets which steps

def test_contractor_and_employee_get_different_steps(shipped):
    onboarding = shipped["onboarding"]
    employee = ids(steps_for(onboarding, person()))
    contractor = ids(steps_for(onboarding, person(contractor=True)))
    assert "ad_groups" in employee and "ad_groups_contractor" not in employee
    assert "ad_contractor_expiry" not in employee
    assert {"ad_groups_contractor", "ad_contractor_expiry"} <= set(contractor) and "ad_groups" not in contractor


def test_department_location_and_privilege_select_steps(shipped):
    onboarding = shipped["onboarding"]
    engineer = ids(steps_for(onboarding, person(department="engineering", location="Remote")))
    assert "developer_tools" in engineer and "finance_system" not in engineer
    assert "ship_equipment" in engineer and "building_access" not in engineer
    finance = ids(steps_for(onboarding, person(department="Finance", location="Manchester")))
    assert "finance_system" in finance and "developer_tools" not in finance and "building_access" in finance
    admin = steps_for(onboarding, person(privileged=True))
    step = next(s for s in admin if s.id == "ad_admin_groups")
    assert step.needs_approval and step.needs_security_approval
    assert "ad_admin_groups" not in ids(steps_for(onboarding, person()))


def test_role_change_applies_only_what_changed(shipped):
    role = shipped["role-change"]
    moved = person(previous_department="Sales", department="Engineering", previous_manager="amy", manager="amy")
    chosen = ids(steps_for(role, moved))
    moves = {"ad_new_groups", "ad_old_groups", "entra_new_licenses", "entra_old_licenses", "app_accounts"}
    assert moves | {"ad_attributes", "entra_attributes", "access_review"} <= set(chosen)
    assert chosen.index("ad_old_groups") > chosen.index("ad_new_groups")
    assert "ad_manager" not in chosen and "building_access" not in chosen
    promoted = ids(steps_for(role, person(previous_manager="amy", manager="bo", previous_department="Sales")))
    assert "ad_manager" in promoted and "entra_manager" in promoted and "ad_new_groups" not in promoted


def test_action_arguments_resolve_departments_and_differences(shipped):
    onboarding, role, off = shipped["onboarding"], shipped["role-change"], shipped["offboarding"]
    args = action_arguments(onboarding, onboarding.step("ad_groups"), person(department=" engineering "))
    assert args == {"groups": ["All Staff", "Engineering", "VPN Users", "GitHub Users"]}
    moved = person(previous_department="Sales", department="Marketing")
    assert action_arguments(role, role.step("ad_old_groups"), moved) == {
        "groups": ["Sales"], "keep": ["Marketing", "CRM Users"]}
    assert action_arguments(role, role.step("ad_new_groups"), moved) == {"groups": ["Marketing", "CRM Users"]}
    assert action_arguments(off, off.step("ad_remove_groups"), person()) == {"groups": [], "all_groups": True,
                                                                             "keep": []}
    assert action_arguments(onboarding, onboarding.step("entra_licenses"), person(department="Unknown")) == {
        "licenses": ["SPE_E3"]}
    assert action_arguments(onboarding, onboarding.step("ad_credential"), person()) == {"must_change": True}


# ------------------------------------------------------------------ order

def test_order_respects_requires_and_otherwise_keeps_file_order(tmp_path, teams):
    text = MINIMAL.replace("  - id: account", "  - id: training\n    title: Training\n"
                           "    responsibility: security_awareness_training\n    task: Enrol.\n"
                           "    requires: [laptop]\n    due: day 2\n  - id: account")
    checklist = load_text(tmp_path, teams, text)
    assert ids(checklist.steps) == ["training", "account", "groups", "laptop"]
    assert ids(topological_order(checklist.steps)) == ["account", "groups", "laptop", "training"]
    chosen = steps_for(checklist, person())
    assert ids(chosen) == ["account", "groups", "laptop", "training"]
    assert ids(ready_steps(chosen, [])) == ["account"]
    assert ids(ready_steps(chosen, ["account"])) == ["groups", "laptop"]
    assert ids(ready_steps(chosen, ["account", "laptop"])) == ["groups", "training"]
    assert ready_steps(chosen, ["account", "groups", "laptop", "training"]) == []


def test_a_step_that_does_not_apply_passes_its_requirements_on(tmp_path, teams):
    # laptop requires groups (employees only), which requires account
    checklist = load_text(tmp_path, teams, MINIMAL.replace("task: Prepare a laptop.\n    requires: [account]",
                                                           "task: Prepare a laptop.\n    requires: [groups]"))
    contractor = steps_for(checklist, person(contractor=True))
    assert ids(contractor) == ["account", "laptop"]
    assert contractor[1].requires == ("account",)
    assert ids(ready_steps(contractor, [])) == ["account"]
    assert checklist.step("laptop").requires == ("groups",)  # the loaded checklist is untouched


def test_topological_order_names_a_cycle(tmp_path, teams):
    checklist = load_text(tmp_path, teams, MINIMAL)
    account, groups, laptop = checklist.steps
    looped = [replace(account, requires=("laptop",)), groups, laptop]
    with pytest.raises(ValueError, match="^dependency cycle: account → laptop → account$"):
        topological_order(looped)


# ------------------------------------------------------------------ due times

@pytest.mark.parametrize("text, days, at", [
    ("immediately", 0, time(9)),
    ("day 1 09:00 local", 0, time(9)),
    ("Day 3", 2, time(9)),
    ("-3 days", -3, time(9)),
    ("+0 days 17:00", 0, time(17)),
    ("2 days 7:30", 2, time(7, 30)),
    ("-1 day 18:00 local", -1, time(18)),
])
def test_due_expressions(text, days, at):
    due = parse_due(text, time(9))
    assert (due.days, due.at, due.immediate) == (days, at, text == "immediately")


@pytest.mark.parametrize("bad", ["", "tomorrow", "day 0", "-3", "+2 weeks", "day 1 25:00", "-1 days 9", 3, None])
def test_bad_due_expressions(bad):
    with pytest.raises(ValueError, match="bad due|days are counted|bad time"):
        parse_due(bad, time(9))


def test_due_times_follow_the_persons_time_zone_across_daylight_saving():
    london = "Europe/London"
    # British Summer Time starts on 2027-03-28: day 1 09:00 on 2027-03-29 is 08:00 UTC
    assert due_at(parse_due("day 1 09:00 local", time(9)), date(2027, 3, 29), london).astimezone(UTC) == \
        datetime(2027, 3, 29, 8, 0, tzinfo=UTC)
    # three days earlier is still winter time: 09:00 local is 09:00 UTC
    assert due_at(parse_due("-3 days", time(9)), date(2027, 3, 29), london).astimezone(UTC) == \
        datetime(2027, 3, 26, 9, 0, tzinfo=UTC)
    # autumn: summer time ends on 2027-10-31
    assert due_at(parse_due("-1 days 17:00", time(9)), date(2027, 11, 1), london).astimezone(UTC) == \
        datetime(2027, 10, 31, 17, 0, tzinfo=UTC)
    assert due_at(parse_due("-2 days 17:00", time(9)), date(2027, 11, 1), london).astimezone(UTC) == \
        datetime(2027, 10, 30, 16, 0, tzinfo=UTC)
    # a wall time the clocks skip moves on by the gap (01:30 on 2027-03-28 does not exist in London)
    skipped = due_at(parse_due("day 1 01:30", time(9)), date(2027, 3, 28), ZoneInfo(london))
    assert skipped.astimezone(UTC) == datetime(2027, 3, 28, 1, 30, tzinfo=UTC) and skipped.hour == 2
    # another zone: New York's summer time started 2027-03-14
    assert due_at(parse_due("day 1 09:00", time(9)), date(2027, 3, 15), "America/New_York").astimezone(UTC) == \
        datetime(2027, 3, 15, 13, 0, tzinfo=UTC)


def test_immediately_is_now_or_the_anchor_moment():
    due = parse_due("immediately", time(9))
    now = datetime(2027, 3, 1, 15, 4, tzinfo=UTC)
    assert due_at(due, date(2027, 3, 29), "Europe/London", now=now) == now
    assert due_at(due, now, "Europe/London") == now
    assert due_at(due, date(2027, 3, 29), "Europe/London") == datetime(2027, 3, 29, tzinfo=ZoneInfo("Europe/London"))
    # an aware anchor (terminate now): relative days count from its date in the person's zone
    late = datetime(2027, 3, 28, 23, 30, tzinfo=UTC)  # 00:30 on the 29th in London
    assert due_at(parse_due("+0 days 17:00", time(9)), late, "Europe/London").date() == date(2027, 3, 29)


def test_shipped_steps_due_on_the_right_days(shipped):
    onboarding = shipped["onboarding"]
    hire = person(start_date="2027-03-29")
    start = anchor_date(onboarding, hire)
    assert start == date(2027, 3, 29)
    enable = due_at(onboarding.step("ad_enable"), start, hire["timezone"])
    assert enable.astimezone(UTC) == datetime(2027, 3, 29, 6, 0, tzinfo=UTC)
    assert due_at(onboarding.step("ad_account"), start, "Europe/London") == \
        datetime(2027, 3, 24, 9, 0, tzinfo=ZoneInfo("Europe/London"))
    off = shipped["offboarding"]
    assert off.default_time == time(17, 30)
    assert due_at(off.step("ad_disable"), date(2027, 6, 30), "Europe/London").astimezone(UTC) == \
        datetime(2027, 6, 30, 16, 30, tzinfo=UTC)


# ------------------------------------------------------------------ validation: one error, file and line

def test_minimal_checklist_loads(tmp_path, teams):
    checklist = load_text(tmp_path, teams, MINIMAL)
    assert checklist.kind == "onboarding" and checklist.default_time == time(9)
    account, groups, laptop = checklist.steps
    assert (account.team, account.responsibility, account.needs_approval, account.line) == \
        ("helpdesk_l2", "add_remove_network_users", True, 7)
    assert groups.args == {"groups": ("All Staff",), "groups_from": "department"}
    assert (laptop.manual, laptop.task, laptop.needs_approval) == (True, "Prepare a laptop.", False)
    assert checklist.department_groups == {"sales": ("Sales", "CRM Users"), "finance": ("Finance",)}


@pytest.mark.parametrize("edits, message", [
    ([("anchor: start_date", "anchor: start_date\nowner: me")],
     "F:2: unknown key 'owner' in onboarding.yaml (known: description, anchor, default_time, department_groups, "
     "department_licenses, steps)"),
    ([("anchor: start_date", "anchor: first_day")],
     "F:1: anchor must be one of start_date, last_day, effective_date"),
    ([('default_time: "09:00"', "default_time: 17:00")],
     "F:2: default_time: bad time 1020 (YAML reads an unquoted 17:00 as a number; write HH:MM in quotes, "
     'e.g. "09:00")'),
    ([("    due: -5 days\n  - id: groups", "    owner: me\n  - id: groups")],
     "F:12: unknown key 'owner' in step 'account' (known: id, title, team, responsibility, action, args, task, "
     "requires, when, due, approval, privileged, assignee)"),
    ([("    title: Department groups\n", "")],
     "F:13: step 'groups' is missing 'title'"),
    ([("team: helpdesk_l2", "team: helpdesk_l4")],
     "F:15: step 'groups': unknown team 'helpdesk_l4' (known: helpdesk_l1, helpdesk_l2, security)"),
    ([("responsibility: add_remove_network_users", "responsibility: add_remove_users")],
     "F:9: step 'account': unknown responsibility 'add_remove_users' (did you mean 'add_remove_network_users'?)"),
    ([("responsibility: add_remove_network_users", "responsibility: make_coffee")],
     "F:9: step 'account': unknown responsibility 'make_coffee' (see responsibilities in teams.yaml)"),
    ([("team: helpdesk_l2", "responsibility: setup_laptops\n    team: helpdesk_l2")],
     "F:15: step 'groups': give exactly one of team and responsibility"),
    ([("action: ad.add_to_groups", "action: ad.add_to_group")],
     "F:16: step 'groups': unknown action 'ad.add_to_group' (did you mean 'ad.add_to_groups'?)"),
    ([("action: ad.create_user", "action: ad.add_to_groups")],
     "F:10: step 'account': ad.add_to_groups needs groups or groups_from in args"),
    ([("args: {groups: [All Staff], groups_from: department}", "args: {groups: [All Staff], ou: Staff}")],
     "F:17: step 'groups': ad.add_to_groups does not take 'ou' (it takes: groups, groups_from)"),
    ([("args: {groups: [All Staff], groups_from: department}", "args: {groups_from: office}")],
     "F:17: step 'groups': ad.add_to_groups groups_from: must be one of department"),
    ([("args: {groups: [All Staff], groups_from: department}", "args: {groups: All Staff}")],
     "F:17: step 'groups': ad.add_to_groups groups: must be a non-empty list of names"),
    ([("action: ad.create_user", "action: entra.issue_temporary_access_pass\n    args: {lifetime_minutes: 5}")],
     "F:11: step 'account': entra.issue_temporary_access_pass lifetime_minutes: must be a whole number of minutes "
     "from 10 to 43200"),
    ([("action: ad.create_user", "action: entra.set_attributes\n    args: {attributes: [salary]}")],
     "F:11: step 'account': entra.set_attributes attributes: must name some of title, department, office, "
     "employee_id, display_name, given_name, surname, usage_location"),
    ([("department_groups:\n  Sales: [Sales, CRM Users]\n  Finance: [Finance]\n", "")],
     "F:14: step 'groups': ad.add_to_groups groups_from: department needs department_groups in this file"),
    ([("task: Prepare a laptop.", "task: Prepare a laptop.\n    args: {groups: [x]}")],
     "F:25: step 'laptop': args belong to an action; a task has none"),
    ([("task: Prepare a laptop.", "task: Prepare a laptop.\n    action: ad.enable_user")],
     "F:24: step 'laptop': give exactly one of action and task"),
    ([("    task: Prepare a laptop.\n", "")],
     "F:21: step 'laptop': give exactly one of action and task"),
    ([("requires: [account]", "requires: [acount]")],
     "F:18: step 'groups': unknown step 'acount' in requires"),
    ([("requires: [account]", "requires: account")],
     "F:18: step 'groups': requires must be a list of step ids"),
    ([("  - id: laptop", "  - id: groups")],
     "F:21: duplicate step id 'groups' (first at line 13)"),
    ([("  - id: laptop", "  - id: Laptop")],
     "F:21: step 'Laptop': the id must be lower_snake_case, e.g. ad_account"),
    ([("due: day 1 08:00 local", "due: first thing")],
     "F:26: step 'laptop': bad due 'first thing' (use \"immediately\", \"day 1 09:00 local\", \"-3 days\" or "
     "\"+0 days 17:00\")"),
    ([("due: day 1 08:00 local", "due: day 1 8:61")],
     "F:26: step 'laptop': bad time '8:61' (write HH:MM in quotes, e.g. \"09:00\")"),
    ([("when: {contractor: false}", "when: {contractor: no, office: London}")],
     "F:19: unknown key 'office' in step 'groups' when (known: department, location, contractor, privileged, "
     "changed)"),
    ([("when: {contractor: false}", "when: {contractor: maybe}")],
     "F:19: step 'groups': when contractor must be true or false"),
    ([("when: {contractor: false}", "when: {department: []}")],
     "F:19: step 'groups': when department must be a name or a list of names"),
    ([("when: {contractor: false}", "when: {changed: [salary]}")],
     "F:19: step 'groups': when changed must list some of department, manager, location, title, office"),
    ([("when: {contractor: false}", "approval: none")],
     "F:19: step 'groups': approval cannot be none: ad.add_to_groups adds access"),
    ([("task: Prepare a laptop.", "task: Prepare a laptop.\n    privileged: true\n    approval: none")],
     "F:26: step 'laptop': approval cannot be none: it is privileged"),
    ([("department_groups:\n  Sales", "department_groups:\n  Sales: []\n  Other")],
     "F:4: department_groups Sales: must be a non-empty list of names"),
    ([("  Finance: [Finance]", "  sales: [Finance]")],
     "F:5: department_groups: 'sales' must be a department name, once"),
])
def test_each_mistake_is_one_error_with_file_and_line(tmp_path, teams, edits, message):
    assert error_for(tmp_path, teams, *edits) == message


def test_a_cycle_is_named(tmp_path, teams):
    two = [("requires: [account]", "requires: [laptop]"), ("requires: [account]", "requires: [groups]")]
    assert error_for(tmp_path, teams, *two) == "F:18: dependency cycle: groups → laptop → groups"
    # reported at the requires of the cycle's first step in the file, whichever step closes it
    assert error_for(tmp_path, teams, ("requires: []", "requires: [laptop]")) == \
        "F:11: dependency cycle: account → laptop → account"
    three = [("requires: []", "requires: [groups]"), ("requires: [account]", "requires: [laptop]")]
    assert error_for(tmp_path, teams, *three) == "F:11: dependency cycle: account → groups → laptop → account"
    assert error_for(tmp_path, teams, ("requires: []", "requires: [account]")) == \
        "F:11: dependency cycle: account → account"


def test_the_checklists_folder_is_checked_as_a_whole(tmp_path, teams):
    with pytest.raises(ConfigError, match="checklists: folder not found"):
        load_checklists(tmp_path, teams)
    folder = tmp_path / "checklists"
    folder.mkdir()
    for kind in ("onboarding", "offboarding"):
        (folder / f"{kind}.yaml").write_text(MINIMAL, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_checklists(tmp_path, teams)
    assert str(caught.value) == f"{folder / 'role-change.yaml'}: file not found"
    (folder / "role-change.yaml").write_text(MINIMAL.replace("start_date", "effective_date"), encoding="utf-8")
    assert set(load_checklists(tmp_path, teams)) == {"onboarding", "offboarding", "role-change"}
    (folder / "onbaording.yaml").write_text(MINIMAL, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_checklists(tmp_path, teams)
    assert str(caught.value) == (f"{folder / 'onbaording.yaml'}: unknown checklist "
                                 "(known: onboarding.yaml, offboarding.yaml, role-change.yaml)")


def test_an_invalid_shipped_file_points_at_its_line(tmp_path, shipped_teams):
    text = (CONFIG / "checklists" / "offboarding.yaml").read_text(encoding="utf-8")
    line = text.splitlines().index("    action: entra.revoke_sessions") + 1
    path = tmp_path / "offboarding.yaml"
    path.write_text(text.replace("action: entra.revoke_sessions", "action: entra.revoke_session"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_checklist(path, shipped_teams)
    assert str(caught.value) == (f"{path}:{line}: step 'entra_revoke_sessions': unknown action "
                                 "'entra.revoke_session' (did you mean 'entra.revoke_sessions'?)")
