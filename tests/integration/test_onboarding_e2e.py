"""Onboarding, then offboarding, of one person end to end: the real app, a real Samba AD DC, the Graph fake.

HR submits /onboard in Slack (signed requests to the real Bolt app over HTTP); IT approves on the card that
shows the directory plan (the requester's own click is refused); the accounts appear in Samba AD and in
Entra ID (the Graph fake); manual tasks land in the owning teams' channels and their members press Done;
time is moved on (an injected clock) and the engine ticks until the run is done. Then HR's system posts the
leaver event to /hooks/hr (signed), IT approves, and when the last day is over every access is gone: the AD
account disabled, out of every group, moved to the disabled-users OU; the Entra account blocked, signed
out, without groups, licences or MFA methods.

The shipped checklists (config/checklists) are used as they are. Directory connectors are the production
ones (``ADDirectory``, ``EntraDirectory``) handed to the Harness in place of its sandbox directories.
"""
from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timezone
from typing import Any

import pytest
from ldap3 import MODIFY_ADD, NONE, SUBTREE

from bot.app import make_client
from bot.devtools.harness import Harness
from bot.ids import RunActionId, RunCallbackId
from bot.run_notify import deliver
from connectors.directories import ADDirectory, EntraDirectory
from connectors.graph_auth import GraphConfig
from tests.connectors.graph_fake import CLIENT_ID, CLIENT_SECRET, TENANT, fake  # noqa: F401 (fixture)
from tests.support.clock import Clock

pytestmark = pytest.mark.samba

HR, APPROVER, OTHER_APPROVER, NOT_AN_APPROVER, MANAGER_SLACK = "U0HR1", "U0IT2", "U0IT3", "U0ANA", "U0BEN"
ENTRA_DOMAIN = "contoso.com"
START = date(2027, 2, 1)        # a Monday; Europe/London is on GMT all through this test
LAST_DAY = date(2027, 3, 5)     # a Friday
TZ = "Europe/London"
UAC_DISABLED = 0x2
SETTLE = 20.0                   # seconds to wait for the app to finish handling one request


class _World:
    """What the test works with: the app (harness), the clock, the directories' fixtures and connectors' data."""

    def __init__(self, **kw: Any):
        self.__dict__.update(kw)

    @property
    def services(self):
        return self.harness.services

    @property
    def policy(self):
        return self.harness.services.run_policy


def uid() -> str:
    return uuid.uuid4().hex[:6]


# ------------------------------------------------------------------------------------------------ fixtures

@pytest.fixture
def clock():
    return Clock(datetime(2027, 1, 29, 10, 0, tzinfo=timezone.utc))   # start date - 3 days


@pytest.fixture
def world(samba_dc, samba_ou, fake, clock, monkeypatch, tmp_path):  # noqa: F811 (fake is a fixture)
    """Samba and the Graph fake seeded with the manager, the checklists' groups and licences; the connectors;
    and the real app (Harness) using them. Yields a namespace of everything the test needs."""
    tag = uid()
    ous = {name: f"OU={name},{samba_ou}" for name in ("Users", "Groups", "Disabled")}
    admin = samba_dc.connect(get_info=NONE)
    for dn in ous.values():
        admin.add(dn, ["top", "organizationalUnit"])
    # The groups the shipped onboarding checklist names for a Sales hire (All Staff + department_groups
    # Sales), and one more a person might be put in by hand. CNs as the checklist names them; the
    # sAMAccountNames are made unique because the whole domain (shared by the session) is searched.
    groups = {}
    for name in ("All Staff", "Sales", "CRM Users", "Project Falcon"):
        dn = f"CN={name},{ous['Groups']}"
        admin.add(dn, ["top", "group"], {"sAMAccountName": f"{name.replace(' ', '')}-{tag}"})
        groups[name] = dn
    manager = f"mgr.{tag}"
    admin.add(f"CN=Morgan Grey {tag},{ous['Users']}", ["top", "person", "organizationalPerson", "user"],
              {"sAMAccountName": manager, "userPrincipalName": f"{manager}@{samba_dc.dns_domain}",
               "givenName": "Morgan", "sn": "Grey", "displayName": "Morgan Grey"})
    admin.unbind()

    fake.add_user(f"{manager}@{ENTRA_DOMAIN}", displayName="Morgan Grey")
    cloud_groups = {name: fake.add_group(name) for name in ("All Staff", "Sales", "CRM Users")}
    skus = {part: fake.add_sku(part) for part in ("SPE_E3", "POWER_BI_PRO", "VISIOCLIENT")}

    ad = ADDirectory(samba_dc.ldaps_url, samba_dc.admin_dn, samba_dc.admin_password, base_dn=samba_dc.base_dn,
                     users_ou=ous["Users"], disabled_ou=ous["Disabled"], groups_base=ous["Groups"],
                     upn_domain=samba_dc.dns_domain, ca_file=samba_dc.ca_file, tls_name=samba_dc.tls_name,
                     timezone=TZ)
    entra = EntraDirectory(GraphConfig(tenant_id=TENANT, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                       upn_domain=ENTRA_DOMAIN), sleep=lambda seconds: None, now=clock)
    directories = {"ad": ad, "entra": entra}
    # The Harness builds its services with directory_mode="sandbox"; give it these directories instead.
    monkeypatch.setattr("connectors.services.sandbox_directories", lambda checklists: directories)
    harness = Harness(database_url=f"sqlite:///{tmp_path / 'itbot.db'}", clock=clock).start()
    try:
        assert harness.services.directories is directories
        yield _World(harness=harness, clock=clock, samba=samba_dc, ous=ous, groups=groups,
                     manager=manager, fake=fake, cloud_groups=cloud_groups, skus=skus,
                     client=make_client(harness.settings), landed={})
    finally:
        harness.stop()   # closes the services, and with them both connectors


# ------------------------------------------------------------------------------------------------ Slack side

def _form(**fields: Any) -> dict:
    """The onboarding modal's state.values, as Slack sends it."""
    values = {}
    for key, value in fields.items():
        if key in ("start_date", "end_date"):
            element = {"type": "datepicker", "selected_date": value}
        elif key == "manager_slack_id":
            element = {"type": "users_select", "selected_user": value}
        elif key == "contractor":
            element = {"type": "checkboxes", "selected_options": [{"value": "yes"}] if value else []}
        else:
            element = {"type": "plain_text_input", "value": value}
        values[key] = {"value": element}
    return values


def _after_tick(w: _World, send) -> list:
    """Send one request that ends with the worker advancing the run (the listener records and wakes it); wait
    until the listener and the worker's pass are through, return the Slack calls made meanwhile."""
    mark = len(w.harness.fake.calls)
    reply = send()
    assert reply.status == 200, reply
    return w.harness.settle(after=mark, timeout=SETTLE)


def _refused(w: _World, user: str, action: RunActionId, value: Any, card) -> str:
    """Click as someone who may not; the ephemeral answer's text."""
    mark = len(w.harness.fake.calls)
    w.harness.driver.click(user, action.value, str(value), channel=card.response["channel"],
                           message_ts=card.response["ts"])
    return w.harness.fake.wait_for("chat.postEphemeral", after=mark, timeout=SETTLE).args["text"]


def _click(w: _World, user: str, action: RunActionId, value: Any, card) -> list:
    return _after_tick(w, lambda: w.harness.driver.click(user, action.value, str(value),
                                                         channel=card.response["channel"],
                                                         message_ts=card.response["ts"]))


def _button(card, action: RunActionId) -> str:
    return next(e["value"] for b in card.args["blocks"] if b["type"] == "actions" for e in b["elements"]
                if e["action_id"] == action.value)


def _approval_card(w: _World, calls) -> Any:
    [card] = [c for c in calls
              if c.method == "chat.postMessage" and c.response.get("channel") == w.policy.approvals_channel]
    return card


def _task_card(w: _World, step) -> Any:
    cards = [c for c in w.harness.fake.calls_to("chat.postMessage") if c.response.get("ok")
             and any(e.get("action_id") == RunActionId.TASK_DONE.value and e.get("value") == str(step.id)
                     for b in c.args.get("blocks") or [] if b.get("type") == "actions" for e in b["elements"])]
    team_cards = [c for c in cards if not c.response["channel"].startswith("D")]
    assert len(team_cards) == 1, f"one team card for task {step.step_key!r}, got {len(team_cards)}"
    assert len(cards) - len(team_cards) <= 1, "at most one copy in the manager's DM"
    return team_cards[0]


def _finish_tasks(w: _World, run_id: int, landed: dict[str, str]) -> None:
    """Every open task: its card is in the owning team's channel; a member of the team (or, for the manager's
    own tasks, the manager) presses Done."""
    while True:
        run = w.services.store.get_run(run_id)
        tasks = [s for s in w.services.store.list_steps(run_id) if s.status == "task"]
        if not tasks:
            return
        step = tasks[0]
        team = w.services.teams.team(step.team)
        card = _task_card(w, step)
        landed[step.step_key] = card.response["channel"]
        assert card.response["channel"] == team.channel, f"{step.step_key} went to the wrong channel"
        spec = w.services.engine.checklists[run.kind].step(step.step_key)
        who = run.person.get("manager_slack_id") if spec.assignee == "manager" and run.person.get(
            "manager_slack_id") else team.members[0]
        if who == run.person.get("manager_slack_id"):
            assert any(c.response.get("channel", "").startswith("D") and step.title in c.args.get("text", "")
                       for c in w.harness.fake.calls_to("chat.postMessage")), "the manager got their task directly"
        _click(w, who, RunActionId.TASK_DONE, step.id, card)
        assert w.services.store.get_step(step.id).status == "done", f"{step.step_key} was not marked done"


def _tick(w: _World) -> None:
    """What the worker process does: advance every due step, tell people."""
    deliver(w.services, w.client, w.services.engine.tick("test-worker", w.clock.now))


def _drive(w: _World, run_id: int, *, until: datetime | None = None) -> None:
    """Tick at each moment a step falls due, finishing the tasks that come up, until the run is done (or
    ``until``). Fails if the run stops moving."""
    for _ in range(200):
        _tick(w)
        _finish_tasks(w, run_id, w.landed)
        steps = w.services.store.list_steps(run_id)
        if w.services.store.get_run(run_id).status == "done":
            return
        later = [s.due_at for s in steps if s.status == "pending" and s.due_at > w.clock.now]
        if not later:
            states = {s.step_key: s.status for s in steps}
            raise AssertionError(f"the run stopped moving at {w.clock.now}: {states}")
        if until is not None and min(later) > until:
            w.clock.now = until
            _tick(w)
            return
        w.clock.now = min(later)
    raise AssertionError("the run did not finish")


# ------------------------------------------------------------------------------------------------ reading back

def _ad_user(w: _World, username: str) -> dict | None:
    conn = w.samba.connect(get_info=NONE)
    try:
        conn.search(w.samba.base_dn, f"(sAMAccountName={username})", SUBTREE,
                    attributes=["userAccountControl", "memberOf", "primaryGroupID", "accountExpires", "manager",
                                "department", "title", "employeeID", "pwdLastSet"])
        found = [e for e in conn.response if e.get("type") == "searchResEntry"]
    finally:
        conn.unbind()
    if not found:
        return None
    assert len(found) == 1
    attrs = dict(found[0]["attributes"])

    def one(name: str) -> Any:   # read without a schema: every value is a list
        values = attrs.get(name) or [None]
        return values[0]

    return {"dn": found[0]["dn"], "uac": int(one("userAccountControl")),
            "member_of": sorted(attrs.get("memberOf") or []), "primary": int(one("primaryGroupID")),
            "expires": one("accountExpires"), "manager": one("manager"), "department": one("department"),
            "title": one("title"), "employee_id": one("employeeID")}


def _entra_user(w: _World, username: str) -> dict | None:
    user = w.fake.user(f"{username}@{ENTRA_DOMAIN}")
    if user is None:
        return None
    return {"enabled": user["accountEnabled"], "groups": w.fake.groups_of(user),
            "licenses": sorted(w.fake.skus[a["skuId"]] for a in user["assignedLicenses"]),
            "usage_location": user.get("usageLocation"), "manager": w.fake.managers.get(user["id"]),
            "methods": [m["@odata.type"] for m in w.fake.methods[user["id"]]], "raw": user}


def _same_dns(left, right) -> bool:
    return sorted(d.casefold() for d in left) == sorted(d.casefold() for d in right)


# ------------------------------------------------------------------------------------------------ the test

def test_hr_onboards_it_approves_accounts_and_tasks_complete_then_the_leaver_loses_every_access(world):
    w = world
    store, policy = w.services.store, w.policy

    # ---- HR opens /onboard and submits the form ---------------------------------------------------------
    mark = len(w.harness.fake.calls)
    assert w.harness.driver.command(HR, "/onboard").status == 200
    view = w.harness.fake.wait_for("views.open", after=mark).args["view"]
    employee_id = "E" + uid().upper()
    form = _form(given_name="Zoë", surname="Ødegård", employee_id=employee_id, department="Sales",
                 title="Account Manager", manager=w.manager, manager_slack_id=MANAGER_SLACK,
                 start_date=START.isoformat(), office="London", usage_location="GB", timezone=TZ)
    calls = _after_tick(w, lambda: w.harness.driver.interact({
        "type": "view_submission", "user": {"id": HR}, "trigger_id": "trig.onboard",
        "view": {"id": "V" + uid().upper(), "type": "modal", "callback_id": view["callback_id"],
                 "private_metadata": "", "state": {"values": form}}}))
    assert view["callback_id"] == RunCallbackId.ONBOARD_MODAL.value
    [run] = store.list_runs()
    username = run.person["username"]
    assert run.kind == "onboarding" and run.requested_by == HR and username

    # ---- the approval card, with the directory plan, in the approvals channel ---------------------------
    card = _approval_card(w, calls)
    shown = json.dumps(card.args["blocks"], ensure_ascii=False)
    for needle in ("Active Directory", "Entra ID", "sAMAccountName", username, w.ous["Users"], "All Staff",
                   "CRM Users", "SPE_E3", "POWER_BI_PRO"):
        assert needle in shown, f"the approval card does not show {needle!r}"
    assert _ad_user(w, username) is None and _entra_user(w, username) is None, "nothing before approval"
    assert any(c.method == "chat.postMessage" and c.response.get("channel") == policy.progress_channel for c in calls)

    approval = _button(card, RunActionId.APPROVE)
    assert "cannot approve your own request" in _refused(w, HR, RunActionId.APPROVE, approval, card)
    assert "Only IT approvers" in _refused(w, NOT_AN_APPROVER, RunActionId.APPROVE, approval, card)
    assert _ad_user(w, username) is None, "refused clicks change nothing"

    calls = _click(w, APPROVER, RunActionId.APPROVE, approval, card)
    [update] = [c for c in calls if c.method == "chat.update" and c.args["channel"] == policy.approvals_channel]
    assert f"Approved by <@{APPROVER}>" in json.dumps(update.args["blocks"])
    assert not [b for b in update.args["blocks"] if b["type"] == "actions"], "the card cannot be clicked twice"
    assert "already decided" in _refused(w, OTHER_APPROVER, RunActionId.APPROVE, approval, card)

    # ---- accounts exist, before day 1: AD disabled with a password, Entra blocked, groups and licences ------
    ad = _ad_user(w, username)
    assert ad is not None and ad["dn"].casefold().endswith(w.ous["Users"].casefold())
    assert ad["uac"] & UAC_DISABLED and not ad["uac"] & 0x20, "disabled, but with a password"
    assert _same_dns(ad["member_of"], [w.groups[g] for g in ("All Staff", "Sales", "CRM Users")])
    assert ad["primary"] == 513 and ad["department"] == "Sales" and ad["employee_id"] == employee_id
    assert ad["manager"] and ad["manager"].casefold().startswith("cn=morgan grey")
    entra = _entra_user(w, username)
    assert entra is not None and entra["enabled"] is False, "no sign-in before the first morning"
    assert entra["licenses"] == ["POWER_BI_PRO", "SPE_E3"] and entra["usage_location"] == "GB"
    assert entra["manager"] == w.fake.user(f"{w.manager}@{ENTRA_DOMAIN}")["id"]
    assert entra["groups"] == sorted(w.cloud_groups), "the department's cloud groups (Teams, SharePoint)"

    # ---- time passes until just before the first morning: tasks land in the teams' channels ------------------
    _drive(w, run.id, until=datetime(2027, 2, 1, 6, 0, tzinfo=timezone.utc))
    assert _ad_user(w, username)["uac"] & UAC_DISABLED and _entra_user(w, username)["enabled"] is False

    # ---- day 1 and after: the accounts are enabled, the rest of the tasks are done, the run is done -------
    _drive(w, run.id)
    ad = _ad_user(w, username)
    assert ad["uac"] == 512, "enabled on day 1: a normal account, nothing else set"
    assert _entra_user(w, username)["enabled"] is True
    steps = {s.step_key: s for s in store.list_steps(run.id)}
    assert all(s.status == "done" for s in steps.values())
    manual = {k for k, s in steps.items() if s.done_by != "itbot"}
    assert {"laptop", "mailbox", "app_accounts", "building_access", "security_training", "mfa_registration",
            "temporary_access_pass", "manager_welcome", "manager_access_check"} <= manual
    assert set(w.landed) == manual, "every manual task had a card"
    for key, channel in w.landed.items():
        assert channel == w.services.teams.team(steps[key].team).channel
    assert {steps[k].done_by for k in ("manager_welcome", "manager_access_check")} == {MANAGER_SLACK}
    automated = {"ad_account", "ad_credential", "ad_groups", "ad_enable", "entra_account", "entra_groups", "entra_enable",
                 "entra_usage_location", "entra_licenses"}
    assert {k for k, s in steps.items() if s.done_by == "itbot"} == automated
    trail = store.audit_trail(f"run:{run.id}")
    assert sorted(e.detail["step"] for e in trail if e.action == "step.done") == sorted(automated), \
        "each automated step ran exactly once"
    assert store.get_run(run.id).status == "done"
    progress = w.harness.fake.messages(policy.progress_channel)
    assert progress and "Done" in json.dumps(progress[0].get("blocks"), ensure_ascii=False)

    # ---- in the weeks after, the person gains more access: another AD group, cloud groups, an MFA method ----
    admin = w.samba.connect(get_info=NONE)
    admin.modify(w.groups["Project Falcon"], {"member": [(MODIFY_ADD, [ad["dn"]])]})
    admin.unbind()
    entra_user = w.fake.user(f"{username}@{ENTRA_DOMAIN}")
    w.fake.add_method(entra_user, "microsoftAuthenticatorAuthenticationMethod", displayName="Pixel 8")
    assert len(_ad_user(w, username)["member_of"]) == 4 and len(_entra_user(w, username)["groups"]) == 3

    # ---- the leaver event arrives from the HR system (signed webhook) --------------------------------------
    w.clock.now = datetime(2027, 3, 2, 10, 0, tzinfo=timezone.utc)       # last day - 3, after 09:00
    status, body = w.harness.post_hr_event({
        "event_id": f"hris-leave-{uid()}", "kind": "offboarding", "requested_by": "people-team@example.com",
        "username": username, "last_day": LAST_DAY.isoformat(), "manager": w.manager, "timezone": TZ,
        "location": "London"})
    assert status == 202 and body["created"] is True, body
    leaver = store.get_run(body["run_id"])
    assert leaver.kind == "offboarding" and leaver.person["username"] == username
    mark = len(w.harness.fake.calls)
    _tick(w)
    card = _approval_card(w, w.harness.fake.calls[mark:])
    shown = json.dumps(card.args["blocks"], ensure_ascii=False)
    for needle in ("accountExpires", "userAccountControl", "accountEnabled", "memberOf", "Project Falcon",
                   "licenses"):
        assert needle in shown, f"the offboarding approval card does not show {needle!r}"
    assert _ad_user(w, username)["uac"] == 512, "nothing removed before approval"

    approval = _button(card, RunActionId.APPROVE)
    assert "Only IT approvers" in _refused(w, NOT_AN_APPROVER, RunActionId.APPROVE, approval, card)
    _click(w, OTHER_APPROVER, RunActionId.APPROVE, approval, card)
    assert _ad_user(w, username)["expires"] not in (None, "0", "9223372036854775807"), "expires after the last day"
    assert _ad_user(w, username)["uac"] == 512, "still working until the end of the last day"

    # ---- the last day ends, the days after pass --------------------------------------------------------------
    w.landed = {}
    _drive(w, leaver.id)
    assert store.get_run(leaver.id).status == "done"
    ad = _ad_user(w, username)
    assert ad["uac"] & UAC_DISABLED, "disabled in AD"
    assert ad["member_of"] == [] and ad["primary"] == 513, "no group left but the primary one"
    assert ad["dn"].casefold().endswith(w.ous["Disabled"].casefold()), "moved to the disabled-users OU"
    entra = _entra_user(w, username)
    assert entra["enabled"] is False and entra["groups"] == [] and entra["licenses"] == []
    assert entra["methods"] == ["#microsoft.graph.passwordAuthenticationMethod"], "MFA methods deleted"
    assert any(s.method == "POST" and s.url.endswith("/revokeSignInSessions") and s.status == 200
               for s in w.fake.sent), "sessions revoked"
    steps = {s.step_key: s for s in store.list_steps(leaver.id)}
    assert all(s.status == "done" for s in steps.values())
    assert {"recover_hardware", "mail_handover", "transfer_files", "building_access_removed",
            "manager_handover"} <= set(w.landed)
    for key, channel in w.landed.items():
        assert channel == w.services.teams.team(steps[key].team).channel
    done = [e.detail["step"] for e in store.audit_trail(f"run:{leaver.id}") if e.action == "step.done"]
    assert sorted(done) == sorted(k for k, s in steps.items() if s.done_by == "itbot"), "each ran once"
    assert {"ad_disable", "ad_remove_groups", "ad_move_disabled", "entra_disable", "entra_revoke_sessions",
            "entra_remove_groups", "entra_remove_licenses", "entra_remove_mfa", "ad_expiry"} <= set(done)
