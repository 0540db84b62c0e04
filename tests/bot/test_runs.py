"""Onboarding through Slack: HR's /onboard modal, IT's approval card with the plan, tasks in team channels."""
from __future__ import annotations

import json
from datetime import date, timedelta

from bot.ids import RunActionId, RunCallbackId

HR, APPROVER = "U0HR1", "U0IT2"


def _values(**fields) -> dict:
    out = {}
    for key, value in fields.items():
        if key in ("start_date", "last_day", "end_date"):
            out[key] = {"value": {"type": "datepicker", "selected_date": value}}
        elif key == "contractor":
            out[key] = {"value": {"type": "checkboxes", "selected_options": [{"value": "yes"}] if value else []}}
        else:
            out[key] = {"value": {"type": "plain_text_input", "value": value}}
    return out


def _hire(start: date) -> dict:
    return _values(given_name="Zoë", surname="Ødegård", employee_id="E7001", department="Sales",
                   title="Account Manager", manager="jane.doe", start_date=start.isoformat(), usage_location="GB",
                   timezone="Europe/London")


def _submit(h, user, values, view_id="V0HIRE"):
    mark = len(h.fake.calls)
    payload = {"type": "view_submission", "user": {"id": user}, "trigger_id": "t",
               "view": {"id": view_id, "type": "modal", "callback_id": RunCallbackId.ONBOARD_MODAL.value,
                        "private_metadata": "", "state": {"values": values}}}
    reply = h.driver.interact(payload)
    return reply, h.settle(after=mark) if reply.body == "" else []


def _posts(calls, channel):
    return [c for c in calls if c.method == "chat.postMessage" and c.response.get("channel") == channel]


def _click(h, user, action, value, call):
    mark = len(h.fake.calls)
    h.driver.click(user, action.value, str(value), channel=call.response["channel"], message_ts=call.response["ts"])
    return h.settle(after=mark)


def test_only_hr_may_open_the_onboarding_form(harness):
    reply = harness.driver.command("U0ANA", "/onboard")
    assert reply.status == 200 and "Only HR" in reply.body
    assert not harness.fake.calls_to("views.open")
    harness.driver.command(HR, "/onboard")
    view = harness.fake.wait_for("views.open").args["view"]
    assert view["callback_id"] == RunCallbackId.ONBOARD_MODAL.value and len(view["blocks"]) > 8


def test_an_invalid_form_lists_every_field_error_and_starts_nothing(harness):
    values = _values(given_name="Zoë", surname="", employee_id="", department="Sales", title="x", manager="jane.doe",
                     start_date="2027-02-30", timezone="Mars/Base")
    reply, _ = _submit(harness, HR, values)
    body = reply.json()
    assert body["response_action"] == "errors"
    assert {"surname", "employee_id", "start_date", "timezone"} <= set(body["errors"])
    assert harness.services.store.list_runs() == []


def test_onboarding_from_slack_to_accounts_with_a_checked_approval(harness):
    policy = harness.services.run_policy
    reply, calls = _submit(harness, HR, _hire(date.today() + timedelta(days=3)))
    assert reply.status == 200 and reply.body == ""
    [run] = harness.services.store.list_runs()
    [card] = _posts(calls, policy.approvals_channel)
    text = json.dumps(card.args["blocks"])
    assert "sAMAccountName" in text and run.person["username"] in text, "the card shows the exact directory plan"
    assert _posts(calls, policy.progress_channel), "the progress card is posted"
    ad = harness.services.directories["ad"]
    assert ad.find_user(run.person["username"]) is None
    approval_id = next(e["value"] for b in card.args["blocks"] if b["type"] == "actions" for e in b["elements"]
                       if e["action_id"] == RunActionId.APPROVE.value)
    refused = _click(harness, HR, RunActionId.APPROVE, approval_id, card)
    assert "cannot approve your own request" in [c for c in refused if c.method == "chat.postEphemeral"][0].args["text"]
    refused = _click(harness, "U0ANA", RunActionId.APPROVE, approval_id, card)
    assert "Only IT approvers" in [c for c in refused if c.method == "chat.postEphemeral"][0].args["text"]
    assert ad.find_user(run.person["username"]) is None, "refused clicks change nothing"
    calls = _click(harness, APPROVER, RunActionId.APPROVE, approval_id, card)
    [update] = [c for c in calls if c.method == "chat.update" and c.args["channel"] == policy.approvals_channel]
    assert f"Approved by <@{APPROVER}>" in json.dumps(update.args["blocks"])
    assert not [b for b in update.args["blocks"] if b["type"] == "actions"], "the card cannot be clicked twice"
    again = _click(harness, "U0IT3", RunActionId.APPROVE, approval_id, card)
    assert "already decided" in [c for c in again if c.method == "chat.postEphemeral"][0].args["text"]
    user = ad.find_user(run.person["username"])
    assert user is not None and any("Sales" in g for g in user.groups)
    audit = [e.action for e in harness.services.store.audit_trail(f"run:{run.id}")]
    assert "approval.approved" in audit and "step.done" in audit


def test_a_task_is_done_only_by_its_team_and_the_progress_card_follows(harness):
    _, calls = _submit(harness, HR, _hire(date.today() + timedelta(days=3)))
    [run] = harness.services.store.list_runs()
    task = next(s for s in harness.services.store.list_steps(run.id) if s.status == "task")
    team = harness.services.teams.team(task.team)
    [card] = [c for c in _posts(harness.fake.calls, team.channel) if task.title in c.args["text"]]
    refused = _click(harness, "U0ANA", RunActionId.TASK_DONE, task.id, card)
    assert [c for c in refused if c.method == "chat.postEphemeral"]
    assert harness.services.store.get_step(task.id).status == "task"
    member = team.members[0]
    calls = _click(harness, member, RunActionId.TASK_CLAIM, task.id, card)
    [claimed] = [c for c in calls if c.method == "chat.update" and c.args["channel"] == team.channel]
    assert f"Claimed by <@{member}>" in json.dumps(claimed.args["blocks"])
    assert harness.services.store.get_step(task.id).owner_slack_id == member
    calls = _click(harness, member, RunActionId.TASK_DONE, task.id, card)
    assert harness.services.store.get_step(task.id).status == "done"
    progress = [c for c in calls if c.method == "chat.update" and c.args["channel"] == harness.services.run_policy.progress_channel]
    assert progress and "✅" in json.dumps(progress[-1].args["blocks"], ensure_ascii=False)


def test_the_progress_card_says_what_a_retried_step_is_waiting_for(harness):
    from dataclasses import replace

    from bot.run_notify import progress_blocks

    start = date.today() + timedelta(days=21)
    reply, _ = _submit(harness, HR, _hire(start))
    assert reply.status == 200
    store = harness.services.store
    [run] = store.list_runs()
    step = next(s for s in store.list_steps(run.id) if s.step_key == "entra_account")
    store.save_step(replace(step, status="pending", attempts=1,
                            last_error="waiting for AD Connect to bring <zoe.odegard> over from Active Directory"))
    text = json.dumps(progress_blocks(harness.services, store.get_run(run.id)), ensure_ascii=False)
    assert "waiting for AD Connect to bring &lt;zoe.odegard&gt; over" in text, "shown, and escaped for Slack"


def test_hr_is_told_why_when_a_valid_form_cannot_start_a_run(harness, monkeypatch):
    from workflows.directory import ConflictError

    def refuse(event):
        raise ConflictError("zoe.odegard already belongs to someone else (employeeID E0007)", system="ad")

    monkeypatch.setattr(harness.services.engine, "start_run", refuse)
    reply, calls = _submit(harness, HR, _hire(date.today() + timedelta(days=21)))
    assert reply.status == 200
    [told] = [c for c in calls if c.method == "chat.postMessage"]
    assert "could not start onboarding" in told.args["text"] and "already belongs to someone else" in told.args["text"]
    assert harness.services.store.list_runs() == []


def test_the_progress_card_has_a_stop_button_for_it_approvers_only(harness):
    start = date.today() + timedelta(days=21)
    reply, calls = _submit(harness, HR, _hire(start))
    [card] = _posts(calls, harness.services.run_policy.progress_channel)
    stop = next(e for b in card.args["blocks"] if b["type"] == "actions" for e in b["elements"]
                if e["action_id"] == RunActionId.STOP.value)
    assert "confirm" in stop, "a stop is confirmed before it happens"
    refused = _click(harness, HR, RunActionId.STOP, stop["value"], card)
    assert any(c.method == "chat.postEphemeral" and "Only IT approvers" in c.args["text"] for c in refused)
    calls = _click(harness, APPROVER, RunActionId.STOP, stop["value"], card)
    [run] = harness.services.store.list_runs()
    assert run.status == "failed"
    [update] = [c for c in calls if c.method == "chat.update" and c.args["ts"] == card.response["ts"]]
    shown = json.dumps(update.args["blocks"])
    assert "Stopped" in shown and RunActionId.STOP.value not in shown
    assert _posts(calls, harness.services.run_policy.approvals_channel)
