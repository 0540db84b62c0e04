"""The HR webhook through the real HTTP server: signed events start runs once; forged ones start nothing."""
from __future__ import annotations

import json
import time
from datetime import date, timedelta
from pathlib import Path

EVENT = json.loads((Path(__file__).resolve().parents[2] / "config/examples/hr-event.json").read_text())


def _event(**changes):
    return {**EVENT, "start_date": (date.today() + timedelta(days=10)).isoformat(), **changes}


def test_a_signed_event_starts_one_run_and_a_resend_starts_nothing_new(harness):
    status, body = harness.post_hr_event(_event())
    assert status == 202 and body["created"] is True
    status, replay = harness.post_hr_event(_event(), timestamp=int(time.time()))
    status_replay = status
    status, again = harness.post_hr_event(_event(), timestamp=int(time.time()) - 5)  # re-sent later, signed anew
    assert status_replay in (200, 401), "an exact copy is either refused as a replay or harmless"
    assert status == 200 and again == {"run_id": body["run_id"], "created": False}
    assert len(harness.services.store.list_runs()) == 1


def test_forged_and_stale_events_are_refused_and_start_nothing(harness):
    status, body = harness.post_hr_event(_event(event_id="x-1"), secret="f" * 64)
    assert status == 401 and "bad signature" in body["error"]
    status, body = harness.post_hr_event(_event(event_id="x-2"), timestamp=int(time.time()) - 600)
    assert status == 401 and "stale" in body["error"]
    assert harness.services.store.list_runs() == []


def test_an_invalid_event_lists_every_field_error(harness):
    status, body = harness.post_hr_event(_event(event_id="x-3", start_date="soon", timezone="Mars/Base",
                                                surname=""))
    assert status == 400
    text = " ".join(body["errors"])
    assert "start_date" in text and "timezone" in text and "surname" in text
    assert harness.services.store.list_runs() == []


def test_an_accepted_event_is_logged_without_the_secret(harness):
    import io
    import logging

    from bot.logs import configure_logging
    stream = io.StringIO()
    configure_logging("INFO", "json", secrets=harness.settings.secrets(), stream=stream)
    try:
        status, body = harness.post_hr_event(_event(event_id="x-log-1"))
    finally:
        logging.getLogger().handlers.clear()
    assert status == 202, body
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    accepted = [l for l in lines if l["msg"] == "HR webhook event accepted"]
    assert accepted and accepted[0]["event_id"] == "x-log-1" and accepted[0]["new_run"] is True
    assert harness.hr_secret not in stream.getvalue()


def test_a_username_that_belongs_to_someone_else_is_a_400_on_username_and_starts_nothing(harness):
    """sam.reed is a colleague (the sandbox's): an HR event must not make his account the new hire's."""
    status, body = harness.post_hr_event(_event(event_id="x-4", username="sam.reed"))
    assert status == 400 and len(body["errors"]) == 1
    assert body["errors"][0].startswith("username: sam.reed (Active Directory) already belongs to someone else")
    assert harness.services.store.list_runs() == []
    status, body = harness.post_hr_event(_event(event_id="x-5", username="pepe.nunez"))
    assert status == 202 and harness.services.store.get_run(body["run_id"]).person["username"] == "pepe.nunez"
