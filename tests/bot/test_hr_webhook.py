"""POST /hooks/hr, called as a WSGI app with a hand-made environ (no server needed)."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bot.hooks import MAX_HR_BODY, make_hr_hook
from workflows.directory import ConflictError, TransientError
from workflows.engine import RunError
from workflows.hr import HrEvent, StartedRun, sign

SECRET = "hr-shared-secret-0123456789"
NOW = 1_767_225_600
EXAMPLE = (Path(__file__).resolve().parents[2] / "config" / "examples" / "hr-event.json").read_bytes()


class FakeStarter:
    """Like the engine: one run per idempotency key; a known key gives its run back with created=False."""

    def __init__(self, fail: int = 0, error: Exception | None = None):
        self.runs: dict[str, int] = {}
        self.calls: list[HrEvent] = []
        self.fail = fail
        self.error = error or RuntimeError("database is locked")

    def start_run(self, event: HrEvent) -> StartedRun:
        self.calls.append(event)
        if self.fail:
            self.fail -= 1
            raise self.error
        if event.idempotency_key in self.runs:
            return StartedRun(self.runs[event.idempotency_key], created=False)
        self.runs[event.idempotency_key] = 13 + len(self.runs) + 1
        return StartedRun(self.runs[event.idempotency_key], created=True)


class Clock:
    def __init__(self, now: float = NOW):
        self.now = now

    def __call__(self) -> float:
        return self.now


def call(hook, body: bytes = b"", headers: dict | None = None, method: str = "POST", length: str | None = None):
    stream = io.BytesIO(body)
    environ = {"REQUEST_METHOD": method, "PATH_INFO": "/hooks/hr", "CONTENT_LENGTH": str(len(body)) if length is None
               else length, "CONTENT_TYPE": "application/json", "wsgi.input": stream}
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    seen = {}

    def start_response(status, response_headers):
        seen["status"], seen["headers"] = status, dict(response_headers)

    raw = b"".join(hook(environ, start_response))
    assert seen["headers"]["Content-Type"].startswith("application/json")
    assert int(seen["headers"]["Content-Length"]) == len(raw)
    assert SECRET.encode() not in raw
    return int(seen["status"].split()[0]), json.loads(raw), stream


def signed(body: bytes, timestamp: int = NOW, secret: str = SECRET) -> dict:
    return {"X-Itbot-Timestamp": str(timestamp), "X-Itbot-Signature": sign(secret, timestamp, body)}


@pytest.fixture
def starter():
    return FakeStarter()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def hook(starter, clock):
    return make_hr_hook(SECRET, starter, clock)


def test_a_valid_event_starts_a_run(hook, starter):
    status, body, _ = call(hook, EXAMPLE, signed(EXAMPLE))
    assert (status, body) == (202, {"run_id": 14, "created": True})
    [event] = starter.calls
    assert (event.kind, event.source, event.idempotency_key) == ("onboarding", "webhook", "hris-2026-000142")
    assert event.person.surname == "Núñez"


def test_a_re_sent_event_signed_afresh_gives_the_same_run_and_creates_nothing(hook, starter, clock):
    assert call(hook, EXAMPLE, signed(EXAMPLE))[:2] == (202, {"run_id": 14, "created": True})
    clock.now += 60
    assert call(hook, EXAMPLE, signed(EXAMPLE, NOW + 60))[:2] == (200, {"run_id": 14, "created": False})
    assert starter.runs == {"hris-2026-000142": 14} and len(starter.calls) == 2


@pytest.mark.parametrize("headers, reason", [
    ({}, "missing signature"),
    ({"X-Itbot-Signature": "v1=" + "ab" * 32}, "missing timestamp"),
    ({"X-Itbot-Timestamp": str(NOW), "X-Itbot-Signature": "v1=" + "ab" * 32}, "bad signature"),
    (signed(EXAMPLE, secret="a-guess"), "bad signature"),
    (signed(EXAMPLE + b"\n"), "bad signature"),                 # the body is not what was signed
    (signed(EXAMPLE, NOW - 301), "stale timestamp"),            # over five minutes old
    (signed(EXAMPLE, NOW + 301), "stale timestamp"),
])
def test_forged_or_stale_requests_are_refused_and_start_nothing(hook, starter, headers, reason):
    status, body, _ = call(hook, EXAMPLE, headers)
    assert (status, body) == (401, {"error": reason})
    assert starter.calls == []


def test_an_exact_replay_is_refused(hook, starter, clock):
    headers = signed(EXAMPLE)
    assert call(hook, EXAMPLE, headers)[0] == 202
    clock.now += 30
    assert call(hook, EXAMPLE, headers)[:2] == (401, {"error": "replayed request"})
    clock.now += 300                                            # past the window: too old to pass at all
    assert call(hook, EXAMPLE, headers)[:2] == (401, {"error": "stale timestamp"})
    assert len(starter.calls) == 1


def test_a_body_over_the_limit_is_refused_unread(hook, starter):
    big = b" " * (MAX_HR_BODY + 1)
    status, body, stream = call(hook, big, signed(big))
    assert (status, body) == (413, {"error": f"body too large: at most {MAX_HR_BODY} bytes"})
    assert stream.tell() == 0 and starter.calls == []
    padded = EXAMPLE + b" " * (MAX_HR_BODY - len(EXAMPLE))     # exactly at the limit is fine
    assert call(hook, padded, signed(padded))[0] == 202


def test_an_invalid_payload_lists_every_problem_and_starts_nothing(hook, starter):
    payload = json.loads(EXAMPLE)
    payload.update(start_date="2026-02-30", timezone="Mars/Base", employee_id=None, shoe_size=44)
    raw = json.dumps(payload).encode()
    status, body, _ = call(hook, raw, signed(raw))
    assert status == 400
    assert body["errors"] == [
        "shoe_size: unknown field",
        "start_date: expected a date as YYYY-MM-DD, got '2026-02-30'",
        "timezone: unknown time zone 'Mars/Base' (use an IANA name such as Europe/London)",
        "employee_id: required",
    ]
    assert starter.calls == []


@pytest.mark.parametrize("raw, error", [(b'{"event_id": ', "body: not valid JSON"),
                                        (b'{"event_id": "\xff"}', "body: not UTF-8"),
                                        (b"[" * 50_000, "body: nested too deeply (at most 48 levels)"),
                                        (b"[" * 60 + b"]" * 60, "body: nested too deeply (at most 48 levels)"),
                                        (b"", "body: not valid JSON")])
def test_a_body_that_is_not_json_is_a_400(hook, starter, raw, error):
    assert call(hook, raw, signed(raw))[:2] == (400, {"errors": [error]})
    assert starter.calls == []


def test_a_bad_content_length_is_a_400(hook, starter):
    assert call(hook, EXAMPLE, signed(EXAMPLE), length="12x")[:2] == \
        (400, {"errors": ["Content-Length: not a number of bytes"]})


def test_without_a_secret_every_request_is_a_503(starter):
    hook = make_hr_hook(None, starter)
    status, body, _ = call(hook, EXAMPLE, signed(EXAMPLE))
    assert (status, body) == (503, {"error": "HR webhook not configured: set HR_WEBHOOK_SECRET"})
    assert starter.calls == []


def test_only_post(hook, starter):
    assert call(hook, b"", {}, method="GET")[:2] == (405, {"error": "POST only"})


def test_when_the_run_cannot_be_started_the_same_request_may_be_sent_again(clock):
    starter = FakeStarter(fail=1)
    hook = make_hr_hook(SECRET, starter, clock)
    headers = signed(EXAMPLE)
    assert call(hook, EXAMPLE, headers)[:2] == (503, {"error": "could not start the run: try again later"})
    assert call(hook, EXAMPLE, headers)[:2] == (202, {"run_id": 14, "created": True})
    assert call(hook, EXAMPLE, headers)[:2] == (401, {"error": "replayed request"})


@pytest.mark.parametrize("error, status", [
    (ConflictError("pepe.nunez already belongs to someone else (employeeID E0007)", system="ad"), 409),
    (RunError("That run cannot be moved any more."), 400),
])
def test_an_event_that_cannot_start_a_run_as_it_is_says_why_instead_of_try_again(clock, error, status):
    hook = make_hr_hook(SECRET, FakeStarter(fail=1, error=error), clock)
    got_status, body = call(hook, EXAMPLE, signed(EXAMPLE))[:2]
    assert (got_status, body) == (status, {"errors": [str(error)]})


def test_an_unreachable_directory_is_a_503_to_retry(clock):
    hook = make_hr_hook(SECRET, FakeStarter(fail=1, error=TransientError("LDAP server unreachable", system="ad")),
                        clock)
    status, body = call(hook, EXAMPLE, signed(EXAMPLE))[:2]
    assert status == 503 and "try again later" in body["error"]
