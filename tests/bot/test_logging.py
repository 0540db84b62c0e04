"""Structured logs: one JSON object per line, with a request id, and never a secret."""
from __future__ import annotations

import io
import json
import logging

import pytest

from bot.devtools.harness import BOT_TOKEN
from bot.logs import configure_logging


@pytest.fixture
def log_stream():
    stream = io.StringIO()
    yield stream
    logging.getLogger().handlers.clear()


def test_each_log_line_is_json_and_secrets_are_masked(log_stream):
    configure_logging("INFO", "json", secrets=["s3cr3t-signing-value"], stream=log_stream)
    log = logging.getLogger("itbot.test")
    log.info("calling with %s", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abc", extra={"password": "hunter2"})
    log.warning("leak attempt xoxb-111-222-secret and s3cr3t-signing-value and password=Passw0rd!")
    try:
        raise RuntimeError("bind failed for password=Passw0rd!")
    except RuntimeError:
        log.exception("ldap error")
    lines = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    assert [l["level"] for l in lines] == ["info", "warning", "error"]
    text = log_stream.getvalue()
    for secret in ("eyJhbGciOiJIUzI1NiJ9", "hunter2", "xoxb-111-222-secret", "s3cr3t-signing-value", "Passw0rd!"):
        assert secret not in text
    assert lines[0]["password"] == "***"


def test_a_request_through_the_app_logs_one_line_with_a_request_id_and_no_token(harness, log_stream):
    configure_logging("INFO", "json", secrets=harness.settings.secrets(), stream=log_stream)
    harness.driver.dm("U0ANA", "hi")
    harness.fake.wait_for("chat.postMessage")
    records = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    requests = [r for r in records if r["msg"] == "slack request"]
    assert len(requests) == 1
    assert requests[0]["kind"] == "event:message" and requests[0]["status"] == 200 and requests[0]["request_id"]
    assert BOT_TOKEN not in log_stream.getvalue() and harness.signing_secret not in log_stream.getvalue()


def test_a_refused_request_is_logged_with_its_real_status(harness, log_stream):
    configure_logging("INFO", "json", secrets=harness.settings.secrets(), stream=log_stream)
    harness.driver.dm("U0ANA", "hi", signature="v0=" + "0" * 64)
    harness.driver.command("U0ANA", "/nonexistent")
    records = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    statuses = [r["status"] for r in records if r["msg"] == "slack request"]
    assert statuses == [401, 404]
