"""HR intake events: every field problem at once, signatures, and whole-file CSV imports."""
from __future__ import annotations

import json
from datetime import date, time
from pathlib import Path

import pytest

from workflows import hr
from workflows.checklist import Checklist
from workflows.checklist_due import Condition, anchor_date
from workflows.directory_plans import Person
from workflows.hr import (HrEventError, Leaver, Mover, NewHire, SignatureError, parse_hr_event, parse_people_csv,
                          parse_people_rows, sign, verify_signature)

EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples"
HIRE = {"event_id": "ev-1", "kind": "onboarding", "given_name": "José", "surname": "Núñez",
        "employee_id": "E1042", "start_date": "2026-03-02"}
LEAVER = {"event_id": "ev-2", "kind": "offboarding", "username": "tom.baker", "last_day": "2026-03-13"}
MOVER = {"event_id": "ev-3", "kind": "role-change", "username": "amy.chan", "effective_date": "2026-04-01",
         "department": "Marketing", "previous_department": "Sales"}


def problems(payload, source="webhook") -> list[str]:
    with pytest.raises(HrEventError) as caught:
        parse_hr_event(payload, source)
    return caught.value.problems


# ------------------------------------------------------------------------------------------ events

def test_the_example_event_is_a_new_hire_that_the_directory_plans_accept():
    event = parse_hr_event(json.loads((EXAMPLES / "hr-event.json").read_text(encoding="utf-8")), "webhook")
    assert (event.kind, event.source, event.idempotency_key) == ("onboarding", "webhook", "hris-2026-000142")
    assert event.effective_date == date(2026, 3, 2) == event.person.start_date
    assert isinstance(event.person, NewHire) and isinstance(event.person, Person)
    assert (event.person.timezone, event.person.location, event.person.usage_location) == \
        ("Europe/London", "London", "GB")
    assert event.person.manager_slack_id == "U01JANEDOE" and event.person.privileged is False
    assert event.requested_by == "people-team@example.com"
    assert event.describe() == "onboarding Pepe Núñez"


def test_every_problem_is_listed_at_once_and_nothing_is_returned():
    bad = {**HIRE, "start_date": "02/03/2026", "timezone": "Mars/Base", "employee_id": "", "contractor": "maybe",
           "slack_user_id": "jose", "surname": "  "}
    found = problems(bad)
    assert found == [
        "surname: required",
        "start_date: expected a date as YYYY-MM-DD, got '02/03/2026'",
        "contractor: expected true or false, got 'maybe'",
        "timezone: unknown time zone 'Mars/Base' (use an IANA name such as Europe/London)",
        "slack_user_id: expected a Slack user id such as U012AB3CD, got 'jose'",
        "employee_id: required",
    ]
    with pytest.raises(HrEventError) as caught:
        parse_hr_event(bad, "webhook")
    assert str(caught.value) == "; ".join(found)


def test_unknown_keys_are_refused_and_fields_of_another_kind_only_when_they_carry_a_value():
    found = problems({**HIRE, "start_dat": "2026-03-02", "salary": 1, "last_day": "2026-09-30"})
    assert found == ["start_dat: unknown field (did you mean start_date?)", "salary: unknown field",
                     "last_day: not a field of onboarding events"]
    event = parse_hr_event({**HIRE, "last_day": "", "terminate_now": None}, "csv")   # blank: as if absent
    assert event.source == "csv"


@pytest.mark.parametrize("payload, expected", [
    ({}, ["kind: required (onboarding, offboarding or role-change)",
          "event_id: required (HR's id for this event, used to recognise it if it is sent again)"]),
    ({"kind": "hire", "event_id": "x"}, ["kind: expected onboarding, offboarding or role-change, got 'hire'"]),
    ({**HIRE, "event_id": "k" * 201}, ["event_id: 201 characters; at most 200"]),
    ({**HIRE, "event_id": "a\nb"}, ["event_id: contains control characters"]),
    ({"kind": "offboarding", "event_id": "x"}, ["username: required: the directory username of who is leaving (employee_id alone is not enough: itbot does not look accounts up by employee id)",
                                                "last_day: required"]),
    ({**LEAVER, "terminate_now": "yes"}, ["terminate_now: expected true or false, got 'yes'"]),
    ({**MOVER, "department": None, "previous_department": None},
     ["role-change: nothing changes: give at least one new department, manager, location, title, office"]),
    ({**MOVER, "username": "amy chan", "effective_date": "soon"},
     ["username: 'amy chan' contains characters a username cannot have:  ",
      "effective_date: expected a date as YYYY-MM-DD, got 'soon'"]),
])
def test_each_kind_checks_its_own_fields(payload, expected):
    assert problems(payload) == expected


@pytest.mark.parametrize("zone", ["Mars/Base", "../../etc/passwd", "localtime", "Europe", "", 5])
def test_only_iana_time_zones_are_accepted(zone):
    payload = {**HIRE, "timezone": zone}
    if zone == "":
        assert parse_hr_event(payload, "webhook").person.timezone is None
    else:
        assert [p for p in problems(payload) if p.startswith("timezone: ")]


def test_not_an_object_and_an_unknown_source():
    assert problems(["onboarding"]) == ["expected a JSON object with event_id, kind and the person's fields"]
    with pytest.raises(ValueError, match="source must be one of webhook, csv, slack"):
        parse_hr_event(HIRE, "email")


def test_a_leaver_terminated_now():
    event = parse_hr_event({"event_id": 9, "kind": "Offboarding", "username": "tom.baker", "employee_id": "E0871",
                            "last_day": "2026-03-13", "terminate_now": True, "privileged": True}, "slack")
    assert isinstance(event.person, Leaver) and event.kind == "offboarding" and event.idempotency_key == "9"
    assert event.person.terminate_now and event.person.privileged
    assert event.effective_date == date(2026, 3, 13)
    assert event.describe() == "offboarding tom.baker"


def test_a_leaver_known_only_by_employee_id_is_refused_rather_than_never_offboarded():
    with pytest.raises(HrEventError) as caught:
        parse_hr_event({"event_id": 10, "kind": "offboarding", "employee_id": "E0871", "last_day": "2026-03-13"},
                       "webhook")
    assert caught.value.problems == ["username: required: the directory username of who is leaving (employee_id alone is not enough: itbot does not look accounts up by employee id)"]


def test_a_role_change_knows_what_changed_for_the_checklist_conditions():
    event = parse_hr_event(MOVER, "webhook")
    assert isinstance(event.person, Mover) and event.describe() == "role-change amy.chan"
    assert Condition(changed=("department",)).matches(event.person)
    assert not Condition(changed=("manager",)).matches(event.person)


@pytest.mark.parametrize("payload, anchor", [(HIRE, "start_date"), (LEAVER, "last_day"), (MOVER, "effective_date")])
def test_the_checklist_anchor_is_the_events_date_and_the_payload_round_trips(payload, anchor):
    event = parse_hr_event({**payload, "requested_by": "hr", "timezone": "Asia/Kolkata"}, "webhook")
    checklist = Checklist(event.kind, "x.yaml", anchor, time(9), ())
    assert anchor_date(checklist, event.person) == event.effective_date
    stored = json.loads(json.dumps(event.to_payload()))
    assert parse_hr_event(stored, "webhook") == event


# ------------------------------------------------------------------------------------------ signatures

SECRET = "s3cr3t-shared-with-hr"
BODY = b'{"event_id": "ev-1"}'


def test_a_signature_made_with_sign_verifies():
    signature = sign(SECRET, "1767225600", BODY)
    assert signature.startswith("v1=") and len(signature) == 67
    verify_signature(SECRET, "1767225600", BODY, signature, now=1767225600 + 300)
    verify_signature(SECRET, "1767225600", BODY, signature.upper().replace("V1=", "v1="), now=1767225600 - 300)


@pytest.mark.parametrize("timestamp, body, signature, now, reason", [
    ("1767225600", BODY, "", 1767225600, "missing signature"),
    ("", BODY, "v1=00", 1767225600, "missing timestamp"),
    ("12:00", BODY, "v1=00", 1767225600, "bad timestamp: expected unix seconds"),
    ("1767225600", BODY, None, 1767225901, "stale timestamp"),      # 301 s old
    ("1767225600", BODY, None, 1767225299, "stale timestamp"),      # from the future
    ("1767225600", BODY + b" ", None, 1767225600, "bad signature"),  # body changed after signing
    ("1767225601", BODY, None, 1767225600, "bad signature"),        # timestamp changed after signing
    ("1767225600", BODY, "v1=" + "0" * 64, 1767225600, "bad signature"),
    ("1767225600", BODY, "v0=abc", 1767225600, "bad signature"),
])
def test_signature_problems_have_a_reason(timestamp, body, signature, now, reason):
    signature = sign(SECRET, "1767225600", BODY) if signature is None else signature
    with pytest.raises(SignatureError) as caught:
        verify_signature(SECRET, timestamp, body, signature, now=now)
    assert caught.value.reason == reason and SECRET not in str(caught.value)


def test_a_signature_made_with_another_secret_is_bad_and_compared_in_constant_time(monkeypatch):
    compared = []
    real = hr.hmac.compare_digest
    monkeypatch.setattr(hr.hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b))
    with pytest.raises(SignatureError, match="bad signature"):
        verify_signature(SECRET, "100", BODY, sign("another-secret", "100", BODY), now=100)
    assert len(compared) == 1


# ------------------------------------------------------------------------------------------ CSV

def test_the_example_csv_holds_every_kind():
    rows = parse_people_rows((EXAMPLES / "people.csv").read_text(encoding="utf-8"))
    assert [(n, e.describe()) for n, e in rows] == [
        (2, "onboarding José Núñez"), (3, "onboarding Ingrid Ødegård"), (4, "offboarding tom.baker"),
        (5, "role-change amy.chan")]
    hire, contractor, leaver, mover = (e.person for _, e in rows)
    assert hire.contractor is False and contractor.contractor is True and contractor.end_date == date(2026, 9, 30)
    assert leaver.terminate_now is False and leaver.last_day == date(2026, 3, 13)
    assert mover.previous_department == "Sales" and {e.source for _, e in rows} == {"csv"}


def test_a_half_valid_file_returns_nothing_and_lists_every_row():
    text = ("event_id,kind,given_name,surname,employee_id,start_date,timezone,username,last_day\n"
            "a1,onboarding,José,Núñez,E1,2026-03-02,Europe/Madrid,,\n"
            "a2,onboarding,Ana,,E2,2026-13-01,Mars/Base,,\n"
            "\n"
            "a1,offboarding,,,,,,tom.baker,2026-03-13\n"
            ",offboarding,,,,,,,\n")
    with pytest.raises(HrEventError) as caught:
        parse_people_csv(text)
    assert caught.value.problems == [
        "row 3: surname: required",
        "row 3: start_date: expected a date as YYYY-MM-DD, got '2026-13-01'",
        "row 3: timezone: unknown time zone 'Mars/Base' (use an IANA name such as Europe/London)",
        "row 5: event_id: 'a1' is also on row 2",
        "row 6: event_id: required (HR's id for this event, used to recognise it if it is sent again)",
        "row 6: username: required: the directory username of who is leaving (employee_id alone is not enough: itbot does not look accounts up by employee id)",
        "row 6: last_day: required",
    ]


def test_excel_files_with_a_bom_and_semicolons_are_read():
    text = ("\ufeffevent_id;kind;given_name;surname;employee_id;start_date;contractor;title\r\n"
            "b1;Onboarding;José;Núñez;E1042;2026-03-02;YES;\r\n")
    text += 'b2;onboarding;Zoë;Müller;E1043;2026-03-09;0;"Head of Sales; EMEA"\r\n'
    events = parse_people_csv(text)
    assert [e.idempotency_key for e in events] == ["b1", "b2"]
    assert events[0].person.given_name == "José" and events[0].person.contractor is True
    assert events[1].person.contractor is False and events[1].person.title == "Head of Sales; EMEA"


def test_tab_separated_files_and_stray_spaces():
    events = parse_people_csv("event_id\tkind\tusername\tlast_day \n c1 \toffboarding\t tom.baker \t2026-03-13\n")
    assert events[0].idempotency_key == "c1" and events[0].person.username == "tom.baker"


@pytest.mark.parametrize("text, expected", [
    ("", ["the file is empty: expected a header row (event_id, kind, given_name, …)"]),
    ("event_id,kind\n", ["no rows after the header: nothing to import"]),
    ("event_id,kind,salary,kind\nx,onboarding,1,onboarding\n",
     ["header: unknown column 'salary'", "header: column 'kind' appears twice"]),
    ("kind,username,last_day\noffboarding,tom.baker,2026-03-13\n", ["header: column 'event_id' is required"]),
    ("event_id,kind,username,last_day\nx,offboarding,tom.baker,2026-03-13,extra\n",
     ["row 2: 5 cells, but the header has 4 columns"]),
    ("event_id,kind,username,last_day,\nx,offboarding,tom.baker,2026-03-13,oops\n",
     ["row 2: a value under a column with no name in the header"]),
])
def test_file_level_problems(text, expected):
    with pytest.raises(HrEventError) as caught:
        parse_people_csv(text)
    assert caught.value.problems == expected


def test_an_empty_trailing_column_from_excel_is_ignored():
    events = parse_people_csv("event_id,kind,username,last_day,\nx,offboarding,tom.baker,2026-03-13,\n")
    assert events[0].person.last_day == date(2026, 3, 13)


def test_a_privileged_role_change_names_the_person_in_slack_so_they_cannot_approve_it():
    assert problems({**MOVER, "privileged": True}) == [
        "slack_user_id: required for a privileged role change, so that the person gaining admin rights can never "
        "approve them"]
    event = parse_hr_event({**MOVER, "privileged": True, "slack_user_id": "U0IT2"}, "webhook")
    assert event.person.privileged
