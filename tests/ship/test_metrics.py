"""/metrics in Prometheus text format, and /readyz, on every process type."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def scrape(url: str) -> dict[str, dict[tuple, float]]:
    """name → {sorted labels: value} for every sample."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as reply:
        assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/plain")
        text = reply.read().decode()
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def total(samples: dict, name: str, **labels: str) -> float:
    return sum(v for key, v in samples.get(name, {}).items() if set(labels.items()) <= set(key))


def test_a_dm_through_the_real_app_moves_the_counters(harness):
    url = harness.server.url
    before = scrape(url)
    harness.driver.dm("U0ANA", "The VPN is down for everyone in the office and nobody can work")
    harness.settle()
    after = scrape(url)
    assert total(after, "itbot_slack_requests_received_total") == total(before, "itbot_slack_requests_received_total") + 1
    assert total(after, "itbot_slack_acks_total") == total(before, "itbot_slack_acks_total") + 1
    assert total(after, "itbot_http_requests_total", route="/slack/events", status="2xx") >= 1
    opened = harness.services.store.list_requests()
    assert opened, "the DM opened a request"
    r = opened[-1]
    assert total(after, "itbot_requests_opened_total", team=r.team, priority=r.priority) == \
        total(before, "itbot_requests_opened_total", team=r.team, priority=r.priority) + 1
    assert "itbot_outbox_oldest_age_seconds" in after
    assert {dict(k)["state"] for k in after["itbot_outbox_messages"]} == {"pending", "sending", "failed"}


def test_labels_stay_bounded(harness):
    for path in ("/a", "/b", "/c?x=1"):
        try:
            urllib.request.urlopen(harness.server.url + path, timeout=10)
        except urllib.error.HTTPError:
            pass
    routes = {dict(k)["route"] for k in scrape(harness.server.url)["itbot_http_requests_total"]}
    assert routes <= {"/slack/events", "/hooks/hr", "/healthz", "/readyz", "/metrics", "other"}


def test_readyz_says_the_store_answers_and_the_schema_is_at_head(harness):
    with urllib.request.urlopen(harness.server.url + "/readyz", timeout=10) as reply:
        assert reply.status == 200
        assert json.loads(reply.read()) == {"status": "ready", "store": "ok", "migrations": "at head"}


def test_readyz_is_503_when_the_schema_is_behind(harness):
    from sqlalchemy import text
    with harness.services.store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    try:
        urllib.request.urlopen(harness.server.url + "/readyz", timeout=10)
        raise AssertionError("ready with an old schema")
    except urllib.error.HTTPError as exc:
        assert exc.code == 503
        assert json.loads(exc.read())["migrations"].startswith("at 0001, expected ")


def test_replies_and_directory_calls_are_counted(harness):
    from datetime import date

    from workflows.hr import parse_hr_event

    url = harness.server.url
    before = scrape(url)
    harness.driver.dm("U0ANA", "The VPN is down for everyone in the office and nobody can work")
    harness.settle()
    event = parse_hr_event({"event_id": "hris-metrics-1", "kind": "onboarding", "given_name": "Mia",
                            "surname": "Metric", "employee_id": "E4242", "department": "Sales",
                            "start_date": date.today().isoformat(), "timezone": "UTC"}, "webhook")
    harness.services.engine.start_run(event)
    harness.services.wake()
    harness.settle(timeout=60)   # the worker plans the run's account changes: directory reads, then cards
    after = scrape(url)
    assert total(after, "itbot_slack_calls_total", method="chat.postMessage", outcome="ok") > \
        total(before, "itbot_slack_calls_total", method="chat.postMessage", outcome="ok"), "the reply was counted"
    assert total(after, "itbot_directory_call_seconds_count", system="ad") > \
        total(before, "itbot_directory_call_seconds_count", system="ad"), "the plan's AD calls were timed"
