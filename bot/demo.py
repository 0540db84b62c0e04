"""`itbot demo`: a scripted, non-interactive tour through the real app, printed as a person reads it.

Signed requests go in over HTTP, replies come out through a local fake of the Slack Web API,
and state lives in a throw-away SQLite file. It needs no credential and no network, and it exits
0 only if every scripted expectation held.
"""
from __future__ import annotations

import logging
import sys
import time
from datetime import datetime, timedelta, timezone
from typing import Callable, TextIO

from bot.devtools.fake_slack import Call
from bot.devtools.harness import Harness
from bot.devtools.transcript import render
from bot.logs import configure_logging


class DemoClock:
    """The demo's "now": real time, moved forward when a scene needs a later day."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


class Tour:
    def __init__(self, harness: Harness, out: TextIO, clock: DemoClock):
        self.h = harness
        self.out = out
        self.clock = clock
        self.failures: list[str] = []
        self.checks = 0

    def scene(self, title: str) -> None:
        print(f"\n── {title}", file=self.out)

    def note(self, text: str) -> None:
        print(f"   ({text})", file=self.out)

    def person_says(self, user: str, where: str, text: str, send: Callable[[], object]) -> list[Call]:
        print(f"  {self.h.name_of(user)} → {where}: {text}", file=self.out)
        mark = len(self.h.fake.calls)
        send()
        calls = self.h.settle(after=mark)
        self.show(calls)
        return calls

    def show(self, calls: list[Call]) -> None:
        for call in calls:
            if call.method in ("chat.postMessage", "chat.update") and call.response.get("ok"):
                where = self.where(call.response.get("channel", ""), call.args.get("thread_ts"))
                verb = "updates the card in" if call.method == "chat.update" else "→"
                body = render(call.args, self.h.name_of).replace("\n", "\n" + " " * 6)
                print(f"  {self.h.settings.org.bot_name} {verb} {where}: {body}", file=self.out)
            elif call.method == "chat.postEphemeral":
                print(f"  ({self.h.settings.org.bot_name}, only to {self.h.name_of(call.args['user'])}: "
                      f"{call.args.get('text')})", file=self.out)

    def where(self, channel: str, thread_ts: str | None) -> str:
        names = {t.channel: t.channel_name for t in self.h.services.teams.teams.values()}
        if channel.startswith("D"):
            place = f"DM with {self.h.name_of('U' + channel[1:])}"
        else:
            place = names.get(channel, "#" + channel.lower().lstrip("c0"))
        return place + (" (thread)" if thread_ts else "")

    def click(self, user: str, label: str, call: Call) -> list[Call]:
        """Press the button labelled ``label`` on the message ``call`` posted or updated."""
        for block in call.args.get("blocks") or []:
            for element in block.get("elements", []) if block.get("type") == "actions" else []:
                if element.get("text", {}).get("text") == label:
                    print(f"  {self.h.name_of(user)} clicks [{label}]", file=self.out)
                    mark = len(self.h.fake.calls)
                    self.h.driver.click(user, element["action_id"], element.get("value", ""),
                                        channel=call.response["channel"], message_ts=call.response["ts"])
                    calls = self.h.settle(after=mark)
                    self.show(calls)
                    return calls
        raise AssertionError(f"no [{label}] button on that message")

    def expect(self, what: str, ok: bool) -> None:
        self.checks += 1
        print(f"   {'✓' if ok else '✗'} {what}", file=self.out)
        if not ok:
            self.failures.append(what)


def _posts(calls: list[Call]) -> list[Call]:
    return [c for c in calls if c.method == "chat.postMessage" and c.response.get("ok")]


def scene_greeting(t: Tour) -> None:
    t.scene("A greeting in a direct message")
    calls = t.person_says("U0ANA", "itbot (DM)", "hi", lambda: t.h.driver.dm("U0ANA", "hi"))
    posts = _posts(calls)
    t.expect("itbot answered the greeting in Ana's DM", len(posts) == 1 and posts[0].args["channel"] == "D0ANA"
             and "Hi <@U0ANA>" in posts[0].args.get("text", ""))


def scene_mention(t: Tour) -> None:
    t.scene("A mention in a channel is answered in a thread")
    calls = t.person_says("U0BEN", "#general", "@itbot what can you do?",
                          lambda: t.h.driver.mention("U0BEN", "C0GENERAL", "what can you do?"))
    posts = _posts(calls)
    t.expect("the answer went to the mention's thread in #general",
             len(posts) == 1 and posts[0].args["channel"] == "C0GENERAL" and posts[0].args.get("thread_ts"))


def scene_retry_and_forgery(t: Tour) -> None:
    t.scene("Slack retries and forged requests")
    d = t.h.driver
    mark = len(t.h.fake.calls)
    first = d.dm("U0CHLOE", "hello", event_id="EvDEMO1")
    retry = d.dm("U0CHLOE", "hello", event_id="EvDEMO1", retry_num=1)
    t.show(t.h.settle(after=mark))
    t.note("Slack delivered the same event twice (X-Slack-Retry-Num: 1)")
    t.expect("the retry was acknowledged and answered once, not twice",
             first.status == retry.status == 200 and len(_posts(t.h.fake.calls[mark:])) == 1)
    mark = len(t.h.fake.calls)
    forged = d.dm("U0DEV", "hi", signature="v0=" + "0" * 64)
    stale = d.dm("U0DEV", "hi", timestamp=int(time.time()) - 600)
    time.sleep(0.3)
    t.note(f"a request with a bad signature got HTTP {forged.status}; one signed 10 minutes ago got HTTP {stale.status}")
    t.expect("forged and stale requests were refused (401) and reached no listener",
             forged.status == stale.status == 401 and not _posts(t.h.fake.calls[mark:]))


def scene_how_to(t: Tour) -> None:
    t.scene("A \"how do I\" question answered from the knowledge base")
    calls = t.person_says("U0ANA", "itbot (DM)", "how do I set up an out of office reply in outlook?",
                          lambda: t.h.driver.dm("U0ANA", "how do I set up an out of office reply in outlook?"))
    answers = [c for c in _posts(calls) if c.args.get("blocks")]
    t.expect("itbot answered with a knowledge-base article, no request opened",
             len(answers) == 1 and not t.h.services.store.list_requests())
    if answers:
        t.click("U0ANA", "That solved it", answers[0])
        t.expect("Ana's \"That solved it\" was recorded as a deflection",
                 [a.outcome for a in t.h.services.store.list_answers()] == ["solved"])


def scene_broken_laptop(t: Tour) -> None:
    t.scene("\"It doesn't work\": a request routed, worked and resolved")
    text = "my laptop won't turn on since this morning, the screen stays black"
    calls = t.person_says("U0DEV", "itbot (DM)", text, lambda: t.h.driver.dm("U0DEV", text))
    requests = t.h.services.store.list_requests(requester_slack_id="U0DEV")
    l1 = t.h.services.teams.team("helpdesk_l1")
    cards = [c for c in _posts(calls) if c.response["channel"] == l1.channel]
    t.expect(f"a request was opened and its card posted in {l1.channel_name}", len(requests) == 1 and len(cards) == 1)
    if not cards:
        return
    r = requests[0]
    t.note(f"{r.number}: {r.intent}/{r.topic}, {r.priority}, team {l1.name}")
    agent = l1.lead
    t.click(agent, "Claim", cards[0])
    question = "Is it plugged in to the charger? Does the power light come on?"
    t.person_says(agent, f"{l1.channel_name} (thread)", question,
                  lambda: t.h.driver.channel_message(agent, l1.channel, question, thread_ts=t.h.services.store.get_request(r.id).team_ts))
    answer = "Plugged in, no light at all."
    t.person_says("U0DEV", "itbot (DM thread)", answer, lambda: t.h.driver.dm("U0DEV", answer, thread_ts=r.thread_ts))
    relayed = [c for c in t.h.fake.calls if c.method == "chat.postMessage" and answer in c.args.get("text", "")
               and c.response.get("channel") == l1.channel]
    t.expect("the team's question reached Dev's thread and his answer reached the team's thread",
             bool(relayed) and any(question in m["text"] for m in t.h.fake.messages("D0DEV")))
    t.click(agent, "Resolve", cards[0])
    t.expect("the request is resolved and Dev was told in his thread",
             t.h.services.store.get_request(r.id).status == "resolved"
             and any("resolved" in m["text"] for m in t.h.fake.messages("D0DEV")))


def scene_phishing(t: Tour) -> None:
    t.scene("A security incident goes straight to Security at P1")
    text = "I clicked a link in an email that looked like it was from our bank and entered my password"
    t.person_says("U0CHLOE", "itbot (DM)", text, lambda: t.h.driver.dm("U0CHLOE", text))
    [r] = t.h.services.store.list_requests(requester_slack_id="U0CHLOE") or [None]
    told = " ".join(str(m.get("blocks")) for m in t.h.fake.messages("D0CHLOE"))
    t.expect("routed to Security at P1, with safety steps for Chloé at once",
             r is not None and (r.team, r.priority) == ("security", "P1") and "Do this now" in told)


def _modal_values(fields: dict[str, str]) -> dict:
    kinds = {"start_date": "datepicker", "last_day": "datepicker"}
    return {k: {"value": ({"type": "datepicker", "selected_date": v} if kinds.get(k)
                          else {"type": "plain_text_input", "value": v})} for k, v in fields.items()}


def _approval_card(t: Tour, calls: list[Call]) -> Call | None:
    channel = t.h.services.run_policy.approvals_channel
    return next((c for c in _posts(calls) if c.response["channel"] == channel), None)


def scene_onboarding(t: Tour) -> None:
    t.scene("Onboarding: HR starts it, IT approves the exact changes, teams get their tasks")
    t.note("directories: itbot's built-in SANDBOX Active Directory and Entra ID (in memory), not a real tenant")
    start = (t.clock() + timedelta(days=3)).date().isoformat()
    fields = {"given_name": "Zoë", "surname": "Ødegård", "employee_id": "E7001", "department": "Sales",
              "title": "Account Manager", "manager": "jane.doe", "start_date": start, "usage_location": "GB",
              "timezone": "Europe/London"}
    payload = {"type": "view_submission", "user": {"id": "U0HR1"}, "trigger_id": "t.1",
               "view": {"id": "V0DEMOHIRE", "type": "modal", "callback_id": "onboard_modal", "private_metadata": "",
                        "state": {"values": _modal_values(fields)}}}
    calls = t.person_says("U0HR1", "the /onboard form", f"Zoë Ødegård, Sales, starts {start}",
                          lambda: t.h.driver.interact(payload))
    card = _approval_card(t, calls)
    runs = t.h.services.store.list_runs()
    t.expect("a run was started and IT got an approval card with the directory plan",
             len(runs) == 1 and card is not None and "sAMAccountName" in str(card.args.get("blocks")))
    if not card:
        return
    username = runs[0].person["username"]
    t.click("U0HR1", "Approve", card)
    t.expect("HR could not approve its own request", t.h.services.directories["ad"].find_user(username) is None)
    t.click("U0IT2", "Approve", card)
    user = t.h.services.directories["ad"].find_user(username)
    t.expect(f"after IT's approval the sandbox AD has {username}, enabled later on day 1, in the Sales groups",
             user is not None and any("Sales" in g for g in user.groups))
    task = next((c for c in t.h.fake.calls if c.method == "chat.postMessage" and "Prepare the laptop" in c.args.get("text", "")), None)
    if task:
        t.click(t.h.services.teams.team("helpdesk_l1").members[0], "Done", task)
    t.expect("the help desk marked the laptop task done and the progress card shows it",
             any(s.step_key == "laptop" and s.status == "done" for s in t.h.services.store.list_steps(runs[0].id)))


def scene_offboarding(t: Tour) -> None:
    t.scene("Offboarding from the HR system's signed webhook: every access removed")
    username = t.h.services.store.list_runs()[0].person["username"]
    t.clock.advance(days=30)
    last_day = t.clock().date().isoformat()
    event = {"event_id": "hris-demo-leave-1", "kind": "offboarding", "username": username, "last_day": last_day,
             "manager": "jane.doe", "timezone": "Europe/London"}
    print(f"  HR system → POST /hooks/hr (HMAC-signed): offboard {username}, last day {last_day}", file=t.out)
    status, body = t.h.post_hr_event(event)
    forged, _ = t.h.post_hr_event({**event, "event_id": "forged-1"}, secret="0" * 64)
    t.note(f"itbot answered {status} {body}; a forged copy got {forged}")
    t.expect("the signed event started one run; the forged one was refused", status == 202 and forged == 401)
    t.clock.advance(hours=12)
    mark = len(t.h.fake.calls)
    from bot.run_notify import deliver
    from bot.app import make_client
    client = make_client(t.h.settings)
    deliver(t.h.services, client, t.h.services.engine.tick("demo-worker"))
    calls = t.h.settle(after=mark)
    t.show(calls)
    card = _approval_card(t, calls)
    if card:
        t.click("U0IT3", "Approve", card)
    t.clock.advance(days=3)
    deliver(t.h.services, client, t.h.services.engine.tick("demo-worker"))
    ad, entra = t.h.services.directories["ad"].find_user(username), t.h.services.directories["entra"].find_user(username)
    t.expect(f"{username} is disabled in AD and Entra, signed out, and in no groups",
             ad is not None and not ad.enabled and entra is not None and not entra.enabled
             and not [g for g in ad.groups if "domain users" not in g.casefold()] and not list(entra.groups))


def scene_digest(t: Tour) -> None:
    t.scene("The next working morning: each owner's daily digest")
    from bot.app import make_client
    from bot.digests import Digests
    from workflows.digest import load_reminder_policy

    policy = load_reminder_policy(t.h.settings.config_dir)
    policy = policy.__class__(**{**policy.__dict__, "messages_per_second": 0})
    now = t.clock()
    morning = (now + timedelta(days=1)).replace(hour=10, minute=0)
    while morning.weekday() >= 5:
        morning += timedelta(days=1)
    t.clock.advance(seconds=(morning - now).total_seconds())
    mark = len(t.h.fake.calls)
    sent = Digests(t.h.services, policy).send(make_client(t.h.settings), t.clock())
    t.show(t.h.settle(after=mark) if sent else [])
    again = Digests(t.h.services, policy).send(make_client(t.h.settings), t.clock() + timedelta(hours=2))
    t.expect(f"{sent} digest(s) went out, one per person with something due, and none twice", sent > 0 and again == 0)


def scene_report(t: Tour) -> None:
    t.scene("The report IT leadership reads (itbot report --since 60d)")
    from bot.jobs import post_weekly_summary
    from bot.report_cli import render_text, report_for

    report = report_for(t.h.services.store, t.h.services.teams, t.clock() - timedelta(days=60), t.clock())
    for line in render_text(report).splitlines()[:24]:
        print(f"   | {line}", file=t.out)
    mark = len(t.h.fake.calls)
    from bot.app import make_client
    post_weekly_summary(t.h.services, make_client(t.h.settings), t.clock())
    t.show(t.h.settle(after=mark))
    posted = [c for c in t.h.fake.calls[mark:] if c.method == "chat.postMessage"
              and c.args.get("channel") == t.h.services.teams.team("cio").channel]
    t.expect("the report counts this tour's requests, answers and runs, and the weekly summary was posted",
             report.requests_opened >= 2 and report.solved >= 1 and report.steps_done > 0 and len(posted) == 1)


SCENES = [scene_greeting, scene_mention, scene_retry_and_forgery, scene_how_to, scene_broken_laptop, scene_phishing,
          scene_onboarding, scene_offboarding, scene_digest, scene_report]


def run_demo(*, verbose: bool = False, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    configure_logging("INFO" if verbose else "ERROR", "text", stream=sys.stderr)
    logging.getLogger("slack_bolt").setLevel(logging.CRITICAL)  # the forged requests would log warnings
    print("itbot demo: the real Slack app, driven by signed HTTP requests, answering through a local fake\n"
          "Slack Web API, with a throw-away SQLite store. No credentials and no network are used.", file=out)
    clock = DemoClock()
    with Harness(clock=clock) as harness:
        tour = Tour(harness, out, clock)
        for scene in SCENES:
            scene(tour)
    verdict = "every expectation held" if not tour.failures else f"{len(tour.failures)} expectation(s) failed"
    print(f"\n{tour.checks - len(tour.failures)}/{tour.checks} checks passed: {verdict}.", file=out)
    return 0 if not tour.failures else 1
