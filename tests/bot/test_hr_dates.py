"""Dates HR could not mean (before 1970, after 2100) are refused with the field named on every path:
the webhook (400), the Slack form (a form error), the CSV import (a row error); no run starts."""
from __future__ import annotations

import io
import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from bot.ids import RunCallbackId
from bot.import_cli import run_import
from workflows.hr import HrEventError, parse_hr_event

ROOT = Path(__file__).resolve().parents[2]
EVENT = json.loads((ROOT / "config/examples/hr-event.json").read_text())
SOON = (date.today() + timedelta(days=10)).isoformat()


def _says(field: str, value: str) -> str:
    return f"{field}: {value} is not a date HR could mean: expected one between 1970-01-01 and 2100-12-31"


@pytest.mark.parametrize("changes, field, value", [
    ({"start_date": "1900-01-01"}, "start_date", "1900-01-01"),
    ({"start_date": "9999-12-31"}, "start_date", "9999-12-31"),
    ({"start_date": SOON, "end_date": "2101-01-01"}, "end_date", "2101-01-01"),
    ({"kind": "offboarding", "username": "tom.baker", "last_day": "1969-12-31"}, "last_day", "1969-12-31"),
    ({"kind": "role-change", "username": "amy.chan", "effective_date": "9999-12-31", "department": "Sales"},
     "effective_date", "9999-12-31"),
])
def test_the_rule_lives_in_hr_validation_and_names_the_field(changes, field, value):
    if changes.get("kind") in ("offboarding", "role-change"):
        payload = {"event_id": "e-1", **changes}
    else:
        payload = {**EVENT, **changes}
    with pytest.raises(HrEventError) as caught:
        parse_hr_event(payload, "webhook")
    assert _says(field, value) in caught.value.problems


def test_the_first_and_last_dates_allowed_are_accepted():
    assert parse_hr_event({**EVENT, "start_date": "1970-01-01"}, "webhook").effective_date == date(1970, 1, 1)
    assert parse_hr_event({**EVENT, "start_date": "2100-12-31"}, "webhook").effective_date == date(2100, 12, 31)


def test_it_is_listed_with_the_other_problems():
    with pytest.raises(HrEventError) as caught:
        parse_hr_event({**EVENT, "start_date": "0001-01-01", "surname": ""}, "webhook")
    assert _says("start_date", "0001-01-01") in caught.value.problems and len(caught.value.problems) == 2


@pytest.mark.parametrize("start", ["1900-01-01", "9999-12-31"])
def test_the_webhook_answers_400_naming_the_field(harness, start):
    status, body = harness.post_hr_event({**EVENT, "event_id": f"d-{start}", "start_date": start})
    assert (status, body) == (400, {"errors": [_says("start_date", start)]})
    assert harness.services.store.list_runs() == []


def test_the_slack_form_shows_it_under_the_date(harness):
    values = {k: {"value": {"type": "plain_text_input", "value": v}} for k, v in
              dict(given_name="Zoë", surname="Ødegård", employee_id="E7001", department="Sales", title="AM",
                   manager="jane.doe").items()}
    values["start_date"] = {"value": {"type": "datepicker", "selected_date": "9999-12-31"}}
    reply = harness.driver.submit_view("U0HR1", RunCallbackId.ONBOARD_MODAL.value, values)
    assert reply.status == 200
    assert reply.json() == {"response_action": "errors", "errors": {
        "start_date": "9999-12-31 is not a date HR could mean: expected one between 1970-01-01 and 2100-12-31"}}
    assert harness.services.store.list_runs() == []


def test_the_csv_import_reports_the_row_and_starts_nothing(tmp_path):
    class Starter:
        calls: list = []

        def start_run(self, event):
            self.calls.append(event)

    text = (ROOT / "config/examples/people.csv").read_text(encoding="utf-8").replace("2026-03-02", "1900-01-01")
    path = tmp_path / "people.csv"
    path.write_text(text, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    starter = Starter()
    assert run_import(path, starter, out, err) == 2
    assert f"  row 2: {_says('start_date', '1900-01-01')}" in err.getvalue().splitlines()
    assert starter.calls == []
