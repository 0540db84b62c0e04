"""Prometheus metrics (`GET /metrics`) and readiness (`GET /readyz`) for every process type.

Two kinds of numbers, each with bounded labels:
- counted in this process: HTTP requests by route and status class, Slack events received and acked,
  Slack's 429s by Web API method (methods the code calls: a short fixed list);
- read from the store at each scrape (so every replica reports the same truth, whichever answers):
  requests opened by team and priority, SLA breaches by team, checklist steps by state and the outbox
  backlog. Teams come from teams.yaml and priorities are P1–P4, so the series stay few.
"""
from __future__ import annotations

import logging
import re
from typing import Any, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

log = logging.getLogger(__name__)
REGISTRY = CollectorRegistry()
_METHOD = re.compile(r"[a-z]+(\.[A-Za-z]+){1,3}")
ROUTES = ("/slack/events", "/hooks/hr", "/healthz", "/readyz", "/metrics")

HTTP_REQUESTS = Counter("itbot_http_requests", "HTTP requests answered, by route and status class",
                        ["route", "status"], registry=REGISTRY)
EVENTS_RECEIVED = Counter("itbot_slack_requests_received", "Requests from Slack to /slack/events (events, "
                          "commands, actions)", registry=REGISTRY)
ACKS = Counter("itbot_slack_acks", "Requests from Slack answered 2xx (acknowledged)", registry=REGISTRY)
SLACK_RATE_LIMITED = Counter("itbot_slack_rate_limited", "Slack Web API answers 429 (Retry-After), by method",
                             ["method"], registry=REGISTRY)


SLACK_CALLS = Counter("itbot_slack_calls", "Slack Web API calls made (replies, cards, updates, …), by method and "
                      "outcome (ok, or error once slack_sdk's own retries were spent)", ["method", "outcome"],
                      registry=REGISTRY)
DIRECTORY_SECONDS = Histogram("itbot_directory_call_seconds", "Directory calls (AD, Entra ID) made by checklist "
                              "steps and their approval plans, by system and verb", ["system", "verb"],
                              buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300), registry=REGISTRY)
DIRECTORY_ERRORS = Counter("itbot_directory_errors", "Directory calls that failed, by system, verb and kind of "
                           "error (NotFoundError, ConflictError, TransientError, …)", ["system", "verb", "kind"],
                           registry=REGISTRY)
_NAME = re.compile(r"[A-Za-z_]{1,40}")


def _label(value: str) -> str:
    return value if _NAME.fullmatch(value or "") else "other"


def observe_directory(system: str, verb: str, seconds: float, error: str | None) -> None:
    DIRECTORY_SECONDS.labels(_label(system), _label(verb)).observe(seconds)
    if error:
        DIRECTORY_ERRORS.labels(_label(system), _label(verb), _label(error)).inc()


def count_slack_call(method: str, ok: bool) -> None:
    SLACK_CALLS.labels(method if _METHOD.fullmatch(method or "") else "other", "ok" if ok else "error").inc()


class CountedRateLimits(RateLimitErrorRetryHandler):
    """slack_sdk's 429 handler (waits Retry-After, tries again), counting each 429 by Web API method."""

    def _can_retry(self, *, state: Any, request: Any, response: Any = None, error: Any = None) -> bool:
        if response is not None and response.status_code == 429:
            method = request.url.rsplit("/", 1)[-1]
            SLACK_RATE_LIMITED.labels(method if _METHOD.fullmatch(method) else "other").inc()
        return super()._can_retry(state=state, request=request, response=response, error=error)


def route_of(path: str) -> str:
    return path if path in ROUTES else "other"


def observe_http(path: str, status: str) -> None:
    route = route_of(path)
    HTTP_REQUESTS.labels(route, status[:1] + "xx").inc()
    if route == "/slack/events":
        EVENTS_RECEIVED.inc()
        if status.startswith("2"):
            ACKS.inc()


class StoreCollector:
    """What the store knows, read at scrape time in a handful of grouped queries."""

    def __init__(self, store: Any):
        self.store = store

    def collect(self) -> Iterator[Any]:
        from sqlalchemy import func, select

        from connectors.store.tables import checklist_steps, requests
        try:
            with self.store.engine.connect() as conn:
                opened = list(conn.execute(select(requests.c.team, requests.c.priority, func.count())
                                           .group_by(requests.c.team, requests.c.priority)))
                breached = list(conn.execute(select(requests.c.team, func.count())
                                             .where(requests.c.sla_breached_at.is_not(None))
                                             .group_by(requests.c.team)))
                steps = list(conn.execute(select(checklist_steps.c.status, func.count())
                                          .group_by(checklist_steps.c.status)))
            backlog = self.store.outbox.backlog()
        except Exception as exc:   # a scrape reports what it can; readiness says the store is away
            log.warning("metrics could not read the store", extra={"error": type(exc).__name__})
            return
        family = CounterMetricFamily("itbot_requests_opened", "IT requests opened, by owning team and priority",
                                     labels=["team", "priority"])
        for team, priority, n in opened:
            family.add_metric([team, priority], n)
        yield family
        family = CounterMetricFamily("itbot_sla_breaches", "IT requests whose SLA was breached, by team",
                                     labels=["team"])
        for team, n in breached:
            family.add_metric([team], n)
        yield family
        family = GaugeMetricFamily("itbot_checklist_steps", "Checklist steps by state", labels=["state"])
        for state, n in steps:
            family.add_metric([state], n)
        yield family
        family = GaugeMetricFamily("itbot_outbox_messages", "Outbox messages not sent yet, by state",
                                   labels=["state"])
        for state in ("pending", "sending", "failed"):
            family.add_metric([state], getattr(backlog, state))
        yield family
        yield GaugeMetricFamily("itbot_outbox_oldest_age_seconds", "Age of the oldest unsent outbox message",
                                value=backlog.oldest_pending_seconds or 0.0)


def exposition(store: Any | None) -> tuple[bytes, str]:
    """This process's counters, then the store's numbers (when this process has a store)."""
    body = generate_latest(REGISTRY)
    if store is not None:
        scraped = CollectorRegistry()
        scraped.register(StoreCollector(store))
        body += generate_latest(scraped)
    return body, CONTENT_TYPE_LATEST


def readiness(store: Any) -> tuple[bool, dict[str, str]]:
    """Ready: the store answers and its schema is at the head revision this code expects."""
    from connectors.store import current_revision, head_revision
    try:
        store.ping()
    except Exception as exc:
        return False, {"status": "not ready", "store": "unreachable", "error": type(exc).__name__}
    try:
        current, head = current_revision(store.engine), head_revision()
    except Exception as exc:
        return False, {"status": "not ready", "store": "ok", "migrations": f"unknown ({type(exc).__name__})"}
    if current != head:
        return False, {"status": "not ready", "store": "ok", "migrations": f"at {current}, expected {head}"}
    return True, {"status": "ready", "store": "ok", "migrations": "at head"}
