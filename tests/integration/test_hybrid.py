"""A hybrid tenant: AD Connect, not itbot, creates the Entra ID accounts (directory.yaml entra.accounts).

The engine runs the shipped checklists with the in-memory AD and the Entra connector on the Graph fake,
wrapped as build_services wraps it in a hybrid tenant. "The sync" is the test adding the synced user to the
fake (or flipping what AD owns), as AD Connect would at its next cycle.
"""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.settings import Settings
from connectors.directories import EntraDirectory
from connectors.graph_auth import GraphConfig
from connectors.services import build_services, hybrid_directories, sandbox_directories
from tests.connectors.graph_fake import CLIENT_ID, CLIENT_SECRET, TENANT, fake  # noqa: F401 (fixture)
from workflows.checklist import load_checklists
from workflows.directory_plans import DirectoryPolicy, EntraPolicy
from workflows.hr import parse_hr_event
from workflows.hybrid import SyncedEntra
from workflows.teams import load_teams
from tests.support.clock import Clock

CONFIG = Path(__file__).resolve().parents[2] / "config"
HIRE = json.loads((CONFIG / "examples" / "hr-event.json").read_text())
START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
DOMAIN = "contoso.com"
ENTRA_DUE = START - timedelta(days=4)   # the shipped checklist's Entra steps are due 4 days before the start


@pytest.fixture
def world(tmp_path, fake):  # noqa: F811 (fake is a fixture)
    clock = Clock(START - timedelta(days=5))
    fake.clock = clock
    sandbox = sandbox_directories(load_checklists(CONFIG, load_teams(CONFIG)))
    fake.add_user(f"jane.doe@{DOMAIN}", synced=True, displayName="Jane Doe")
    for name in ("All Staff", "Sales", "CRM Users"):
        fake.add_group(name)
    for part in ("SPE_E3", "POWER_BI_PRO"):
        fake.add_sku(part)
    entra = EntraDirectory(GraphConfig(tenant_id=TENANT, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                       upn_domain=DOMAIN), sleep=lambda seconds: None, now=clock)
    directories = hybrid_directories({"ad": sandbox["ad"], "entra": entra}, DirectoryPolicy())
    settings = replace(Settings.from_env({}, require_slack=False), database_url=f"sqlite:///{tmp_path / 'h.db'}")
    services = build_services(settings, clock=clock, directories=directories)
    yield services, clock, fake, directories
    services.close()


def _steps(services, run_id):
    return {s.step_key: s for s in services.store.list_steps(run_id)}


def _tick_until(services, clock, until, step=timedelta(minutes=10)):
    notices = []
    while clock.now <= until:
        notices += services.engine.tick("w1", clock.now)
        clock.now += step
    return notices


def _start_and_approve(services, clock):
    started = services.engine.start_run(parse_hr_event(HIRE, "webhook"))
    notices = services.engine.tick("w1", clock.now)
    [ask] = [n for n in notices if n.kind == "approval_needed"]
    services.engine.decide(ask.approval.id, "U0IT2", True)
    return started.run_id, ask


def test_in_a_hybrid_tenant_the_approval_card_says_ad_connect_brings_the_account(world):
    services, clock, fake, directories = world
    assert isinstance(directories["entra"], SyncedEntra)
    run_id, ask = _start_and_approve(services, clock)
    entra_account = next(e for e in ask.approval.plan["steps"] if e["system"] == "Entra ID"
                         and "Entra ID account" in e["step"])
    assert entra_account["changes"][0]["new"] == "synchronised from Active Directory by AD Connect"
    assert not [s for s in fake.sent if s.method == "POST" and s.url.endswith("/users")]


def test_itbot_waits_for_the_sync_then_adds_only_the_cloud_parts(world):
    services, clock, fake, _ = world
    run_id, _ = _start_and_approve(services, clock)
    notices = _tick_until(services, clock, ENTRA_DUE + timedelta(minutes=30))
    waiting = [n for n in notices if n.kind == "step_waiting"]
    assert [n.step.step_key for n in waiting] == ["entra_account"], "the first wait is shown once, not every poll"
    steps = _steps(services, run_id)
    username = services.store.get_run(run_id).person["username"]
    assert steps["ad_account"].status == "done"
    assert steps["entra_account"].status == "pending" and "waiting for AD Connect" in steps["entra_account"].last_error
    assert steps["entra_groups"].status == "pending", "nothing cloud-side before the account arrives"
    assert not [s for s in fake.sent if s.method == "POST" and s.url.endswith("/users")], \
        "itbot never creates the cloud account in a hybrid tenant"

    # AD Connect's next cycle: the account arrives, disabled (as it is in AD until day 1), no usage location.
    upn = f"{username}@{DOMAIN}"
    user = fake.add_user(upn, synced=True, accountEnabled=False, displayName="Pepe Núñez")
    _tick_until(services, clock, clock.now + timedelta(minutes=20))
    steps = _steps(services, run_id)
    for key in ("entra_account", "entra_groups", "entra_usage_location", "entra_licenses"):
        assert steps[key].status == "done", (key, steps[key].status, steps[key].last_error)
    assert user["usageLocation"] == "GB"
    assert {fake.skus[s["skuId"]] for s in user["assignedLicenses"]} == {"SPE_E3", "POWER_BI_PRO"}
    assert {g["displayName"] for g in fake.groups.values() if user["id"] in fake.members.get(g["id"], set())} \
        >= {"All Staff", "Sales", "CRM Users"}
    patched = [s.body for s in fake.sent if s.method == "PATCH" and user["id"] in s.url]
    assert patched and all(set(body) <= {"usageLocation"} for body in patched), \
        f"only cloud-owned attributes are written to a synced user: {patched}"

    # Day 1: AD enables the account; Entra waits until the sync carries that over, then the step is done.
    _tick_until(services, clock, START - timedelta(hours=1) + timedelta(minutes=30))
    steps = _steps(services, run_id)
    assert steps["ad_enable"].status == "done"
    assert steps["entra_enable"].status == "pending" and "enabled" in steps["entra_enable"].last_error
    user["accountEnabled"] = True
    _tick_until(services, clock, clock.now + timedelta(minutes=20))
    assert _steps(services, run_id)["entra_enable"].status == "done"
    assert not [s for s in fake.sent if s.method == "PATCH" and "accountEnabled" in (s.body or {})]


def test_an_account_that_never_arrives_becomes_a_task_and_blocks_the_run(world):
    services, clock, fake, _ = world
    run_id, _ = _start_and_approve(services, clock)
    notices = _tick_until(services, clock, ENTRA_DUE + timedelta(hours=5))
    step = _steps(services, run_id)["entra_account"]
    assert step.status == "task"
    [failed] = [n for n in notices if n.kind == "step_failed" and n.step.step_key == "entra_account"]
    assert "AD Connect" in failed.text and "by hand" in failed.text
    run = services.store.get_run(run_id)
    assert run.status == "blocked" and "AD Connect" in run.blocked_reason
    assert _steps(services, run_id)["entra_groups"].status == "pending", "later steps wait; nothing is marked done"


def test_a_cloud_account_in_the_way_is_a_clear_conflict_not_a_silent_match(world):
    services, clock, fake, _ = world
    run_id, _ = _start_and_approve(services, clock)
    username = services.store.get_run(run_id).person["username"]
    fake.add_user(f"{username}@{DOMAIN}", displayName="Someone else")   # created in the cloud, not synced
    notices = _tick_until(services, clock, ENTRA_DUE + timedelta(minutes=30))
    [failed] = [n for n in notices if n.kind == "step_failed" and n.step.step_key == "entra_account"]
    assert "cloud account, not synchronised from AD" in failed.text


def test_which_tenants_are_treated_as_hybrid():
    ad, entra = object(), object()
    synced = DirectoryPolicy(entra=EntraPolicy(accounts="synced"))
    cloud = DirectoryPolicy(entra=EntraPolicy(accounts="cloud"))
    assert isinstance(hybrid_directories({"ad": ad, "entra": entra}, DirectoryPolicy())["entra"], SyncedEntra), \
        "auto with AD configured: synced"
    assert hybrid_directories({"entra": entra}, DirectoryPolicy())["entra"] is entra, "auto, Entra only: cloud"
    assert hybrid_directories({"ad": ad, "entra": entra}, cloud)["entra"] is entra
    assert isinstance(hybrid_directories({"entra": entra}, synced)["entra"], SyncedEntra)


def test_terminate_now_in_a_hybrid_tenant_signs_out_at_once_and_waits_for_the_disable_to_sync(world):
    services, clock, fake, directories = world
    jane = next(u for u in fake.users.values() if u["userPrincipalName"] == f"jane.doe@{DOMAIN}")
    before = jane["signInSessionsValidFromDateTime"]
    leaver = parse_hr_event({"event_id": "hris-fire-9", "kind": "offboarding", "username": "jane.doe",
                             "last_day": (START + timedelta(days=60)).date().isoformat(), "terminate_now": True,
                             "timezone": "Europe/London"}, "webhook")
    started = services.engine.start_run(leaver)
    clock.now += timedelta(seconds=30)
    services.engine.tick("w1", clock.now)
    steps = _steps(services, started.run_id)
    assert not directories["ad"].find_user("jane.doe").enabled and steps["ad_disable"].status == "done"
    assert jane["signInSessionsValidFromDateTime"] != before, "signed out at once, not after the sync"
    assert steps["entra_disable"].status == "pending" and "disabled" in steps["entra_disable"].last_error, \
        "Entra's accountEnabled is AD's: itbot waits for the sync rather than claim it is done"
    jane["accountEnabled"] = False                      # AD Connect's next cycle
    revoked = len([s for s in fake.sent if s.url.endswith("/revokeSignInSessions")])
    clock.now += timedelta(minutes=11)
    services.engine.tick("w1", clock.now)
    steps = _steps(services, started.run_id)
    assert steps["entra_disable"].status == "done" and steps["entra_revoke_sessions"].status == "done"
    assert len([s for s in fake.sent if s.url.endswith("/revokeSignInSessions")]) == revoked + 1, \
        "signed out once more after the disable arrived, so no session from the sync's delay survives"
    assert not [s for s in fake.sent if s.method == "PATCH" and "accountEnabled" in (s.body or {})]
