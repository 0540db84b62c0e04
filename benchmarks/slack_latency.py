"""Ack latency of a signed Slack event through the real itbot app vs a bare Bolt app, and itbot's RSS.

Three serving processes (see serve_child): the Slack Web API double, itbot (wired by Harness:
SQLite store in a temp dir, the real Bolt app, waitress on loopback) and a bare Bolt app that
only acks, behind the same HttpServer and SlackRequestHandler. This process is only the client:
it sends signed DM events one at a time and times each POST until the HTTP 200.
"""
from __future__ import annotations

import json
import os
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from benchmarks.children import ServingChild
from benchmarks.registry import Context, Measurement, at_most, benchmark
from benchmarks.stats import percentile, read_rss_mb
from bot.devtools.driver import Reply, SlackDriver  # light: slack_sdk's signature helper and urllib

RATIO_TARGET = 1.5
RSS_TARGET_MB = 200.0
DRAIN_TIMEOUT_S = 60  # the longest wait for itbot's after-the-ack work between blocks

MESSAGES = (
    "hi",
    "how do I reset my password?",
    "my vpn won't connect since this morning",
    "can I get access to the finance shared drive?",
    "the printer on the 2nd floor is jammed again",
    "thanks!",
)
EMPLOYEES = ("U0ANA", "U0BEN", "U0CHLOE", "U0DEV")  # Harness's sandbox employees send the DMs


@dataclass(frozen=True)
class Sizes:
    events: int   # measured events per app
    warmup: int   # unmeasured events per app first
    block: int    # events sent to one app before switching to the other
    isolated: int  # extra itbot events, each sent once the previous one's listener work is done
    burst: int    # extra events per app sent back to back (reported without a target)


FULL = Sizes(events=2000, warmup=100, block=100, isolated=200, burst=500)
QUICK = Sizes(events=200, warmup=20, block=50, isolated=40, burst=100)
# The measured events arrive at this steady rate, six times the most Slack ever delivers: its Events API
# rate-limits an app at 30,000 events per workspace per hour, about 8.3 a second (docs.slack.dev,
# reference/events/app_rate_limited).
PACED_RATE = 50.0


class TimedDriver(SlackDriver):
    """SlackDriver that signs first, then times only the HTTP exchange (request out, response read)."""

    last_ms: float = 0.0

    def post(self, body: str, content_type: str, *, timestamp: int | None = None, signature: str | None = None,
             headers: dict[str, str] | None = None) -> Reply:
        ts = int(time.time()) if timestamp is None else timestamp
        signature = signature or self.verifier.generate_signature(timestamp=str(ts), body=body)
        started = time.perf_counter()
        reply = super().post(body, content_type, timestamp=ts, signature=signature, headers=headers)
        self.last_ms = (time.perf_counter() - started) * 1000
        return reply


@dataclass
class Side:
    """One app under test, as the client sees it."""
    name: str
    tag: str
    child: ServingChild
    users: tuple[str, ...]  # who sends the DMs, in turn
    driver: TimedDriver = field(init=False)
    sent: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.driver = TimedDriver(self.child.url, self.child.ready["signing_secret"])

    def send(self, count: int, *, record: bool, rate: float | None = None, into: list[float] | None = None) -> None:
        """Send ``count`` DMs, ``rate`` per second (None: back to back); latencies go to ``into``."""
        into = self.latencies_ms if into is None else into
        interval = 1.0 / rate if rate else 0.0
        due = time.perf_counter()
        for _ in range(count):
            if interval:
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                due += interval
            n = self.sent
            self.sent += 1
            user, text = self.users[n % len(self.users)], MESSAGES[n % len(MESSAGES)]
            reply = self.driver.dm(user, text, event_id=f"Ev{self.tag}{n:07d}")
            if reply.status != 200:
                raise RuntimeError(f"{self.name} answered event #{n} with HTTP {reply.status}: {reply.body[:200]!r}")
            if record:
                into.append(self.driver.last_ms)


def wait_for_listeners(itbot: ServingChild) -> bool:
    """Block until itbot's listener executor has nothing running or queued (twice in a row); False on timeout."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    idle_polls = 0
    while time.monotonic() < deadline:
        idle_polls = idle_polls + 1 if itbot.ask("stats")["pending"] == 0 else 0
        if idle_polls >= 2:
            return True
        time.sleep(0.01)
    return False


def describe_work(work: dict[str, Any], web_api: dict[str, Any], events: int) -> str:
    """What itbot did after the acks: listener tasks, errors it logged, Web API calls (so a fast ack
    that came from a failing listener is visible)."""
    calls = ", ".join(f"{method} {count}" for method, count in sorted(web_api["by_method"].items()))
    text = f"For {events} DMs itbot ran {work['submitted']} listener tasks and made Web API calls: {calls or 'none'}."
    if web_api["not_ok"]:
        text += " Answered with an error: " + ", ".join(f"{k} ({v})" for k, v in web_api["not_ok"].items()) + "."
    errors = sum(work["errors"].values())
    if errors:
        first = next(iter(work["errors"]))
        text += f" itbot logged {errors} errors, e.g. {first!r}."
    else:
        text += " itbot logged no errors."
    return text


@benchmark("slack_latency", "ack latency of signed DM events, itbot vs a bare Bolt app; itbot's RSS")
def run(ctx: Context) -> list[Measurement]:
    sizes = QUICK if ctx.quick else FULL
    blocks = max(1, sizes.events // sizes.block)
    with ExitStack() as stack:
        ctx.progress("starting the fake Slack, itbot and bare Bolt processes")
        fake = stack.enter_context(ServingChild("fake", repo_root=ctx.repo_root))
        bare_child = stack.enter_context(ServingChild("bare", repo_root=ctx.repo_root))
        itbot_child = stack.enter_context(ServingChild("itbot", "--slack-api-url", fake.url, repo_root=ctx.repo_root))
        fake.ask("seed " + json.dumps(itbot_child.ready["fake_state_calls"]))  # Harness's people, on the fake
        people = itbot_child.ready["people"]
        users = tuple(u for u in EMPLOYEES if u in people) or tuple(people)
        itbot, bare = Side("itbot", "IT", itbot_child, users), Side("bare", "BB", bare_child, users)
        rss_start, _ = read_rss_mb(itbot_child.pid)

        ctx.progress(f"warm-up: {sizes.warmup} events to each")
        timed_out: list[bool] = []  # one entry per wait for itbot's listener work: did it time out?
        itbot.send(sizes.warmup, record=False)
        timed_out.append(not wait_for_listeners(itbot_child))
        bare.send(sizes.warmup, record=False)

        ctx.progress(f"measuring: {blocks} blocks of {sizes.block} events to each at {PACED_RATE:g}/s, alternating")
        for i in range(blocks):
            for side in ((itbot, bare) if i % 2 == 0 else (bare, itbot)):  # ABBA: neither always goes first
                side.send(sizes.block, record=True, rate=PACED_RATE)
                if side is itbot:
                    timed_out.append(not wait_for_listeners(itbot_child))
            if (i + 1) % 5 == 0 or i + 1 == blocks:
                ctx.progress(f"  {i + 1}/{blocks} blocks")
        ctx.progress(f"burst: {sizes.burst} events to each, back to back (no target)")
        burst = {"itbot": [], "bare": []}
        for side in (itbot, bare):
            side.send(sizes.burst, record=True, into=burst[side.name])
            if side is itbot:
                timed_out.append(not wait_for_listeners(itbot_child))

        rss_end, rss_peak = read_rss_mb(itbot_child.pid)
        events_rss, _ = read_rss_mb(itbot_child.ready["event_pid"])
        bare_rss, _ = read_rss_mb(bare_child.pid)
        work, web_api = itbot_child.ask("stats"), fake.ask("stats")

        ctx.progress(f"diagnostic: {sizes.isolated} itbot events one at a time, nothing else in flight")
        isolated = Side("itbot", "IS", itbot_child, users)
        for _ in range(sizes.isolated):
            isolated.send(1, record=True)
            timed_out.append(not wait_for_listeners(itbot_child))

    it50, it99 = percentile(itbot.latencies_ms, 50), percentile(itbot.latencies_ms, 99)
    b50, b99 = percentile(bare.latencies_ms, 50), percentile(bare.latencies_ms, 99)
    n = len(itbot.latencies_ms)
    method = (
        f"Ack latency: client-side wall time of each signed POST /slack/events (a DM message event with a fresh "
        f"event_id) until the HTTP 200, one request at a time, each on a new loopback connection (urllib), "
        f"sent at a steady {PACED_RATE:g} events a second: six times Slack's own ceiling (the Events API "
        f"rate-limits an app above 30,000 events per workspace per hour, about 8.3 a second). "
        f"{n} measured events per app after {sizes.warmup} warm-up, in alternating blocks of {sizes.block} "
        f"(ABBA order). Each app runs in its own process on the same waitress HttpServer (8 threads) + "
        f"SlackRequestHandler; the fake Slack Web API runs in a third process. itbot's listener work "
        f"(everything after the ack: deciding what to say, store writes, its Web API calls) overlaps the later "
        f"requests of its own block; after each itbot block the run waits until itbot's listener executor is "
        f"idle, so none of that work spills into the bare app's blocks. itbot runs as "
        f"`itbot serve` does: the serving process verifies the signature, logs one JSON line (here to /dev/null), "
        f"acks and hands the event to itbot's event process, which runs the listeners (triage, store, Web API). {os.cpu_count()} CPUs.")
    burst_note = (f"No target, for honesty: {sizes.burst} events to each app sent back to back (about a thousand a "
                  f"second, far beyond what Slack delivers), so itbot's own after-the-ack work (in its event "
                  f"process, the fake Slack's process) saturates the {os.cpu_count()} CPUs the serving process shares.")
    alone = (f"Diagnostic, no target: {len(isolated.latencies_ms)} further itbot events measured the same way "
             f"but each sent only once the previous one's listener work had finished, so the ack path runs with "
             f"nothing else in flight. Compared with the main figures it shows how much of itbot's ack latency "
             f"comes from its own after-the-ack work competing for the CPU, the GIL and the database.")
    baseline = ("Baseline: slack_bolt.App with a signing secret, authorize= returning a fixed AuthorizeResult "
                "(no auth.test) and one no-op app.event('message') listener.")
    memory = (f"VmRSS of the itbot serving process (Harness wiring with SQLite; the fake Slack is in another "
              f"process) after {itbot.sent} events ({sizes.warmup} warm-up + {n}) and their listener work: "
              f"{rss_start:.1f} MB right after start-up, peak (VmHWM) {rss_peak:.1f} MB. "
              + describe_work(work, web_api, itbot.sent))
    if any(timed_out):
        method += (f" WARNING: {sum(timed_out)} of {len(timed_out)} waits for itbot's listener work timed out "
                   f"({DRAIN_TIMEOUT_S}s); some of it may have overlapped the bare app's blocks.")
    return [
        Measurement("itbot ack p50", it50, "ms", notes=method),
        Measurement("itbot ack p99", it99, "ms", notes=method),
        Measurement("itbot ack p50, one at a time", percentile(isolated.latencies_ms, 50), "ms", notes=alone),
        Measurement("itbot ack p99, one at a time", percentile(isolated.latencies_ms, 99), "ms", notes=alone),
        Measurement("bare Bolt ack p50", b50, "ms", notes=baseline),
        Measurement("bare Bolt ack p99", b99, "ms", notes=baseline),
        Measurement("ratio p50 itbot/bare", it50 / b50, "x", at_most(RATIO_TARGET), notes=method),
        Measurement("ratio p99 itbot/bare", it99 / b99, "x", at_most(RATIO_TARGET), notes=method),
        Measurement("burst ratio p50 itbot/bare", percentile(burst["itbot"], 50) / percentile(burst["bare"], 50), "x",
                    notes=burst_note),
        Measurement("burst ratio p99 itbot/bare", percentile(burst["itbot"], 99) / percentile(burst["bare"], 99), "x",
                    notes=burst_note),
        Measurement(f"itbot RSS after {itbot.sent} events", rss_end, "MB", at_most(RSS_TARGET_MB), notes=memory),
        Measurement("itbot event process RSS", events_rss, "MB",
                    notes="VmRSS of itbot's event process (the listeners' work), beside the serving process."),
        Measurement(f"bare Bolt RSS after {bare.sent} events", bare_rss, "MB",
                    notes="VmRSS of the bare Bolt process, for comparison."),
    ]
