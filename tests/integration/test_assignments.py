"""config/directory.yaml and the onboarding checklist give a hire one set of groups, licences and OU: runs
and `itbot directory plan-onboarding` both use the union of the two."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.settings import Settings
from connectors.sandbox import SandboxAD, SandboxEntra
from connectors.services import SANDBOX_PEOPLE, build_services
from workflows.assignments import checklist_assignments
from workflows.checklist import load_checklists
from workflows.directory_plans import parse_directory_policy
from workflows.config import parse_yaml
from workflows.hr import parse_hr_event
from workflows.teams import load_teams
from tests.support.clock import Clock

CONFIG = Path(__file__).resolve().parents[2] / "config"
HIRE = json.loads((CONFIG / "examples" / "hr-event.json").read_text())     # Sales, an employee
START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
SALES_OU = "OU=Sales,OU=Staff,DC=example,DC=com"
POLICY = """
ad:
  groups:
    everyone: [VPN Users]
    contractors: [Contractors]
  ou_by_department:
    Sales: "OU=Sales,OU=Staff,DC=example,DC=com"
entra:
  accounts: cloud
  groups:
    departments:
      Sales: [Marketing]
  licenses:
    departments:
      sales: [VISIOCLIENT]
"""


@pytest.fixture
def checklists():
    return load_checklists(CONFIG, load_teams(CONFIG))


@pytest.fixture
def world(tmp_path, checklists):
    groups = ["All Staff", "Sales", "CRM Users", "VPN Users", "Contractors", "Marketing", "IT Admins"]
    directories = {"ad": SandboxAD(users=SANDBOX_PEOPLE, groups=groups, ous=[SALES_OU]),
                   "entra": SandboxEntra(users=SANDBOX_PEOPLE, groups=groups,
                                         licenses=["SPE_E3", "POWER_BI_PRO", "VISIOCLIENT"])}
    policy = parse_directory_policy(parse_yaml(POLICY, "directory.yaml"))
    settings = replace(Settings.from_env({}, require_slack=False), database_url=f"sqlite:///{tmp_path / 'a.db'}",
                       directory=policy)
    clock = Clock(START - timedelta(days=5))
    services = build_services(settings, clock=clock, directories=directories)
    yield services, clock, directories
    services.close()


def test_a_run_gives_the_hire_the_checklists_and_directory_yamls_groups_licences_and_ou(world):
    services, clock, directories = world
    started = services.engine.start_run(parse_hr_event(HIRE, "webhook"))
    notices = services.engine.tick("w1", clock.now)
    [ask] = [n for n in notices if n.kind == "approval_needed"]
    shown = json.dumps(ask.approval.plan, ensure_ascii=False)
    for name in ("VPN Users", "Marketing", "VISIOCLIENT", SALES_OU):
        assert name in shown, f"the approval card shows directory.yaml's {name!r}"
    services.engine.decide(ask.approval.id, "U0IT2", True)
    while clock.now < START:
        services.engine.tick("w1", clock.now)
        clock.now += timedelta(hours=6)
    username = services.store.get_run(started.run_id).person["username"]
    ad, entra = directories["ad"].find_user(username), directories["entra"].find_user(username)
    assert ad.id.endswith(SALES_OU), "created in directory.yaml's OU for Sales"
    ad_groups = {g.split(",")[0].removeprefix("CN=") for g in ad.groups}
    assert {"All Staff", "Sales", "CRM Users", "VPN Users"} <= ad_groups and "Contractors" not in ad_groups
    assert {"All Staff", "Sales", "CRM Users", "Marketing"} <= set(entra.groups)
    assert {"SPE_E3", "POWER_BI_PRO", "VISIOCLIENT"} <= set(entra.attributes["licenses"])


def test_the_preview_counts_what_the_checklist_adds(checklists):
    employee = {**HIRE}
    contractor = {**HIRE, "contractor": True, "department": "Engineering"}
    assert checklist_assignments(checklists["onboarding"], employee) == {
        "ad": {"groups": ["All Staff", "Sales", "CRM Users"]},
        "entra": {"groups": ["All Staff", "Sales", "CRM Users"], "licenses": ["SPE_E3", "POWER_BI_PRO"]}}
    found = checklist_assignments(checklists["onboarding"], contractor)
    assert found["ad"]["groups"] == ["Contractors", "Engineering", "VPN Users", "GitHub Users"]
    assert "groups" not in found.get("entra", {}), "the shipped checklist gives contractors no cloud groups"
