"""The checklist engine end to end on the sandbox directories: approvals, tasks, retries, crashes, replicas."""
from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.settings import Settings
from connectors.services import build_services, sandbox_directories
from workflows.checklist import load_checklists
from workflows.directory import InvalidInputError, TransientError
from workflows.directory_plans import PersonError
from workflows.engine import RunError
from workflows.hr import parse_hr_event
from workflows.teams import load_teams
from tests.support.clock import Clock

CONFIG = Path(__file__).resolve().parents[2] / "config"
HIRE = json.loads((CONFIG / "examples" / "hr-event.json").read_text())
START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def _services(database_url: str, clock: Clock, directories=None):
    settings = replace(Settings.from_env({}, require_slack=False), database_url=database_url)
    return build_services(settings, clock=clock, directories=directories)


@pytest.fixture
def clock():
    return Clock(START - timedelta(days=5))


@pytest.fixture
def directories():
    return sandbox_directories(load_checklists(CONFIG, load_teams(CONFIG)))


@pytest.fixture
def services(tmp_path, clock, directories):
    s = _services(f"sqlite:///{tmp_path / 'engine.db'}", clock, directories)
    yield s
    s.close()


def hire_event(**changes):
    return parse_hr_event({**HIRE, **changes}, "webhook")


def run_until_quiet(engine, clock, until: datetime, step=timedelta(hours=6)):
    notices = []
    while clock.now <= until:
        notices += engine.tick("w1", clock.now)
        clock.now += step
    return notices


def approve_all(services, notices, approver="U0IT2"):
    for n in notices:
        if n.kind == "approval_needed" and services.store.get_approval(n.approval.id).status == "pending":
            services.engine.decide(n.approval.id, approver, True)


def finish_tasks(services, run_id):
    for step in services.store.list_steps(run_id):
        if step.status == "task":
            member = services.teams.team(step.team).members[0]
            services.engine.complete_task(step.id, member)


def test_onboarding_waits_for_approval_shows_the_plan_and_then_creates_the_accounts(services, clock, directories):
    started = services.engine.start_run(hire_event())
    assert started.created
    notices = services.engine.tick("w1", clock.now)
    [ask] = [n for n in notices if n.kind == "approval_needed"]
    creates = [e for e in ask.approval.plan["steps"] if e["system"] == "Active Directory" and e.get("changes")]
    assert creates and any(c["attribute"] == "sAMAccountName" or "account" in c["attribute"].lower()
                           for c in creates[0]["changes"])
    assert directories["ad"].find_user("pepe.nunez") is None and directories["ad"].find_user("jose.nunez") is None, \
        "nothing may change before approval"
    run = services.store.get_run(started.run_id)
    username = run.person["username"]
    with pytest.raises(RunError, match="own request"):
        services.engine.decide(ask.approval.id, run.requested_by, True)
    with pytest.raises(RunError, match="Only IT approvers"):
        services.engine.decide(ask.approval.id, "U0ANA", True)
    services.engine.decide(ask.approval.id, "U0IT2", True)
    with pytest.raises(RunError, match="already decided"):
        services.engine.decide(ask.approval.id, "U0IT3", True)
    notices = run_until_quiet(services.engine, clock, START + timedelta(days=2))
    approve_all(services, notices)
    run_until_quiet(services.engine, clock, START + timedelta(days=3))
    user = directories["ad"].find_user(username)
    assert user is not None and user.enabled
    assert "Sales" in " ".join(user.groups)
    assert directories["entra"].find_user(username) is not None
    tasks = [s for s in services.store.list_steps(started.run_id) if s.status == "task"]
    assert {"laptop", "security_training"} <= {s.step_key for s in tasks}
    assert services.store.get_run(started.run_id).status != "done", "open tasks keep the run open"
    for _ in range(4):  # each finished task lets the next ones fall due
        finish_tasks(services, started.run_id)
        run_until_quiet(services.engine, clock, clock.now + timedelta(days=3))
    assert services.store.get_run(started.run_id).status == "done"
    assert all(s.status == "done" for s in services.store.list_steps(started.run_id))


def test_the_same_event_twice_starts_one_run(services):
    first = services.engine.start_run(hire_event())
    second = services.engine.start_run(hire_event())
    assert (first.created, second.created) == (True, False) and first.run_id == second.run_id
    assert len(services.store.list_runs()) == 1


def test_a_transient_failure_is_retried_and_a_persistent_one_becomes_a_task_not_done(services, clock, directories):
    started = services.engine.start_run(hire_event())
    approve_all(services, services.engine.tick("w1", clock.now))
    directories["ad"].fail_next("create_user", TransientError("DC busy", system="ad", code="51 busy"), times=1)
    run_until_quiet(services.engine, clock, clock.now + timedelta(hours=1), step=timedelta(minutes=5))
    steps = {s.step_key: s for s in services.store.list_steps(started.run_id)}
    assert steps["ad_account"].status == "done" and steps["ad_account"].attempts == 1
    directories["entra"].fail_next("create_user", InvalidInputError("bad UPN", system="entra", code="Request_BadRequest"),
                                   times=10)
    run_until_quiet(services.engine, clock, clock.now + timedelta(days=1), step=timedelta(hours=1))
    steps = {s.step_key: s for s in services.store.list_steps(started.run_id)}
    assert steps["entra_account"].status == "task" and "bad UPN" in steps["entra_account"].last_error
    run = services.store.get_run(started.run_id)
    assert run.status == "blocked" and "bad UPN" in run.blocked_reason


def test_a_step_interrupted_mid_way_is_finished_once_by_another_worker(services, clock, directories):
    started = services.engine.start_run(hire_event())
    approve_all(services, services.engine.tick("w1", clock.now))
    step = next(s for s in services.store.list_steps(started.run_id) if s.step_key == "ad_account")
    claimed = services.store.claim_step(step.id, "doomed", clock.now, timedelta(minutes=5))
    assert claimed.status == "running"
    # The worker made the change, then died before recording it.
    from workflows.run_actions import perform
    spec = services.engine.checklists["onboarding"].step("ad_account")
    run = services.store.get_run(started.run_id)
    perform(spec.action, directories["ad"], run.person, services.engine._args(run, spec), plan=False)
    services.engine.tick("w2", clock.now)
    assert services.store.get_step(step.id).status == "running", "its lease still holds: nobody else takes it"
    clock.now += timedelta(minutes=6)
    services.engine.tick("w2", clock.now)
    done = services.store.get_step(step.id)
    assert done.status == "done" and done.result["already_done"] is True, "re-checked, found done, not redone"
    users = [u for u in directories["ad"].snapshot()["users"] if "nunez" in str(u)]
    assert len(users) == 1


def test_the_leaver_flow_removes_every_access_after_approval(services, clock, directories):
    hired = services.engine.start_run(hire_event())
    approve_all(services, services.engine.tick("w1", clock.now))
    approve_all(services, run_until_quiet(services.engine, clock, START + timedelta(days=2)))
    run_until_quiet(services.engine, clock, START + timedelta(days=2))
    username = services.store.get_run(hired.run_id).person["username"]
    assert directories["ad"].find_user(username).enabled
    last_day = (START + timedelta(days=30)).date()
    clock.now = START + timedelta(days=25)
    leaver = parse_hr_event({"event_id": "hris-leave-1", "kind": "offboarding", "username": username,
                             "last_day": last_day.isoformat(), "manager": "jane.doe", "timezone": "Europe/London"},
                            "webhook")
    started = services.engine.start_run(leaver)
    for _ in range(60):  # approve each request for approval as soon as it is posted
        approve_all(services, services.engine.tick("w1", clock.now))
        clock.now += timedelta(hours=3)
    run_until_quiet(services.engine, clock, START + timedelta(days=40), step=timedelta(hours=3))
    ad_user, entra_user = directories["ad"].find_user(username), directories["entra"].find_user(username)
    assert not ad_user.enabled and not entra_user.enabled
    assert [g for g in ad_user.groups if g.casefold() != "domain users"] == []
    assert list(entra_user.groups) == []
    steps = {s.step_key: s.status for s in services.store.list_steps(started.run_id)}
    assert steps["entra_revoke_sessions"] == "done" and steps["ad_disable"] == "done"


@pytest.mark.postgres
def test_two_workers_on_postgresql_never_run_the_same_step_twice(postgres_url, clock, directories):
    from tests.support.postgres import empty_database
    empty_database(postgres_url)
    one, two = _services(postgres_url, clock, directories), _services(postgres_url, clock, directories)
    try:
        started = one.engine.start_run(hire_event())
        approve_all(one, one.engine.tick("w1", clock.now))
        clock.now = START + timedelta(days=2)
        barrier = threading.Barrier(2)

        def work(services, name):
            barrier.wait()
            for _ in range(5):
                services.engine.tick(name, clock.now)

        threads = [threading.Thread(target=work, args=(s, n)) for s, n in ((one, "w1"), (two, "w2"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        done = [s for s in one.store.list_steps(started.run_id) if s.status == "done"]
        ran = [e.detail["step"] for e in one.store.audit_trail(f"run:{started.run_id}") if e.action == "step.done"]
        assert len(done) >= 5 and sorted(ran) == sorted(s.step_key for s in done), "each step ran exactly once"
        assert {s.done_by for s in done} == {"itbot"}
    finally:
        one.close()
        two.close()


def test_a_privileged_hire_needs_it_and_security_two_different_people(services, clock, directories):
    started = services.engine.start_run(hire_event(privileged=True, event_id="hris-priv-1"))
    approve_all(services, services.engine.tick("w1", clock.now))  # the ordinary account changes
    clock.now = START - timedelta(days=2)  # the admin-group step falls due two days before the start
    services.engine.tick("w1", clock.now)
    asks = [n for n in services.store.list_approvals() if n.needs_security]
    assert len(asks) == 1, "admin groups get their own approval, which needs Security"
    ask = asks[0]
    services.engine.decide(ask.id, "U0IT2", True)
    assert services.store.get_approval(ask.id).status == "pending", "IT alone is not enough"
    with pytest.raises(RunError):
        services.engine.decide(ask.id, "U0IT2", True)
    security = services.teams.team("security").members[0]
    services.engine.decide(ask.id, security, True)
    assert services.store.get_approval(ask.id).status == "approved"
    services.engine.tick("w1", clock.now)
    step = next(s for s in services.store.list_steps(started.run_id) if s.step_key == "ad_admin_groups")
    assert step.status == "done"


def test_an_undecided_approval_expires_the_cio_is_told_and_itbot_asks_again(services, clock, directories):
    started = services.engine.start_run(hire_event())
    [ask] = [n for n in services.engine.tick("w1", clock.now) if n.kind == "approval_needed"]
    clock.now += services.run_policy.expire_after + timedelta(minutes=1)
    notices = services.engine.tick("w1", clock.now)
    assert [n.kind for n in notices if n.approval] == ["approval_expired"]
    assert services.store.get_approval(ask.approval.id).status == "expired"
    with pytest.raises(RunError, match="already decided"):
        services.engine.decide(ask.approval.id, "U0IT2", True)
    [again] = [n for n in services.engine.tick("w1", clock.now) if n.kind == "approval_needed"]
    assert again.approval.id != ask.approval.id and again.approval.plan == ask.approval.plan
    services.engine.decide(again.approval.id, "U0IT2", True)
    services.engine.tick("w1", clock.now)
    username = services.store.get_run(started.run_id).person["username"]
    assert directories["ad"].find_user(username) is not None, "the run went on once the new card was approved"


def test_without_a_directory_access_changes_are_approved_then_handed_to_their_team(tmp_path, clock):
    services = _services(f"sqlite:///{tmp_path / 'nodir.db'}", clock, directories={})
    try:
        started = services.engine.start_run(hire_event())
        notices = services.engine.tick("w1", clock.now)
        [ask] = [n for n in notices if n.kind == "approval_needed"]
        [entry] = [e for e in ask.approval.plan["steps"] if e["step"] == "Create the Active Directory account"]
        assert "not connected" in entry["note"] and "by hand" in entry["note"]
        assert services.store.get_step(ask.step.id).status == "awaiting_approval", "not handed out unapproved"
        services.engine.decide(ask.approval.id, "U0IT2", True)
        services.engine.tick("w1", clock.now)
        steps = {s.step_key: s for s in services.store.list_steps(started.run_id)}
        assert steps["ad_account"].status == "task" and "not connected" in steps["ad_account"].result["task"]
    finally:
        services.close()


def test_a_moved_start_date_replans_the_steps_still_to_come(services, clock):
    started = services.engine.start_run(hire_event())
    before = {s.step_key: s.due_at for s in services.store.list_steps(started.run_id)}
    moved = services.engine.start_run(hire_event(event_id="hris-moved-1", start_date="2026-03-09"))
    assert moved == type(moved)(started.run_id, False), "the same person's new date moves the run, no second run"
    after = {s.step_key: s.due_at for s in services.store.list_steps(started.run_id)}
    assert after["laptop"] - before["laptop"] == timedelta(days=7)
    assert services.store.get_run(started.run_id).effective_date == "2026-03-09"


def _onboarded(services, clock) -> str:
    """The example hire, onboarded and three days in; their username."""
    approve_all(services, services.engine.tick("w1", clock.now) if services.engine.start_run(hire_event()) else [])
    clock.now = START + timedelta(days=3)
    approve_all(services, services.engine.tick("w1", clock.now))
    services.engine.tick("w1", clock.now)
    return services.store.list_runs()[0].person["username"]


def test_terminate_now_disables_and_signs_out_at_once_and_the_rest_waits_for_approval(services, clock, directories):
    username = _onboarded(services, clock)
    assert directories["ad"].find_user(username).enabled
    leaver = parse_hr_event({"event_id": "hris-fire-1", "kind": "offboarding", "username": username,
                             "last_day": (START + timedelta(days=60)).date().isoformat(), "terminate_now": True,
                             "timezone": "Europe/London"}, "webhook")
    started = services.engine.start_run(leaver)
    clock.now += timedelta(seconds=30)
    services.engine.tick("w1", clock.now)
    assert not directories["ad"].find_user(username).enabled and not directories["entra"].find_user(username).enabled
    steps = {s.step_key: s.status for s in services.store.list_steps(started.run_id)}
    assert steps["ad_disable"] == "done" and steps["entra_revoke_sessions"] == "done"
    assert steps["ad_remove_groups"] in ("awaiting_approval", "pending"), "removing groups still needs approval"
    assert services.store.get_run(started.run_id).effective_date == clock.now.date().isoformat()


def test_one_person_cannot_give_both_halves_of_a_privileged_approval(services, clock):
    started = services.engine.start_run(hire_event(privileged=True, event_id="hris-priv-2"))
    approve_all(services, services.engine.tick("w1", clock.now))
    clock.now = START - timedelta(days=2)
    services.engine.tick("w1", clock.now)
    [ask] = [a for a in services.store.list_approvals() if a.needs_security]
    both = services.teams.team("security").members[0]
    services.engine.policy = replace(services.engine.policy, it_approvers=services.engine.policy.it_approvers | {both})
    services.engine.decide(ask.id, both, True)          # counted as one half
    with pytest.raises(RunError):
        services.engine.decide(ask.id, both, True)      # the other half needs someone else
    assert services.store.get_approval(ask.id).status == "pending"
    assert started.created


def test_with_only_active_directory_connected_onboarding_asks_for_approval_and_runs(tmp_path, clock, directories):
    services = _services(f"sqlite:///{tmp_path / 'ad-only.db'}", clock, directories={"ad": directories["ad"]})
    try:
        started = services.engine.start_run(hire_event())
        notices = services.engine.tick("w1", clock.now)
        [ask] = [n for n in notices if n.kind == "approval_needed"]
        entra = [e for e in ask.approval.plan["steps"] if e["system"] == "Entra ID"]
        assert entra and all("not connected" in e["note"] for e in entra)
        services.engine.decide(ask.approval.id, "U0IT2", True)
        services.engine.tick("w1", clock.now)
        steps = {s.step_key: s for s in services.store.list_steps(started.run_id)}
        assert steps["ad_account"].status == "done", "AD is done by itbot; nothing is stuck 'running'"
    finally:
        services.close()


def test_the_manager_may_finish_their_own_tasks_only(services, clock):
    started = services.engine.start_run(hire_event())
    approve_all(services, services.engine.tick("w1", clock.now))
    clock.now = START + timedelta(days=1)
    services.engine.tick("w1", clock.now)
    manager = services.store.get_run(started.run_id).person["manager_slack_id"]
    tasks = [s for s in services.store.list_steps(started.run_id) if s.status == "task"]
    theirs = [s for s in tasks if services.engine.manager_of_task(services.store.get_run(started.run_id), s)]
    others = [s for s in tasks if s not in theirs]
    assert theirs and others
    with pytest.raises(RunError):
        services.engine.complete_task(others[0].id, manager)
    with pytest.raises(RunError):
        services.engine.claim_task(others[0].id, manager)
    services.engine.complete_task(theirs[0].id, manager)
    assert services.store.get_step(theirs[0].id).status == "done"


def test_the_person_gaining_admin_rights_in_a_role_change_cannot_approve_them(services, clock):
    mover = parse_hr_event({"event_id": "hris-move-adm", "kind": "role-change", "username": "sam.reed",
                            "slack_user_id": "U0IT2", "effective_date": (START + timedelta(days=7)).date().isoformat(),
                            "title": "IT Administrator", "privileged": True}, "webhook")
    services.engine.start_run(mover)
    clock.now = START + timedelta(days=7)
    asks = [n for n in services.engine.tick("w1", clock.now) if n.kind == "approval_needed"]
    assert asks
    for ask in asks:
        with pytest.raises(RunError, match="your own"):
            services.engine.decide(ask.approval.id, "U0IT2", True)
        assert services.store.get_approval(ask.approval.id).status == "pending"


def test_terminate_now_sent_for_a_leaver_already_scheduled_cuts_access_at_once(services, clock, directories):
    username = _onboarded(services, clock)
    leaver = {"kind": "offboarding", "username": username, "timezone": "Europe/London",
              "last_day": (START + timedelta(days=60)).date().isoformat()}
    planned = services.engine.start_run(parse_hr_event({**leaver, "event_id": "hris-leave-9"}, "webhook"))
    services.engine.tick("w1", clock.now)
    assert directories["ad"].find_user(username).enabled, "a normal leaver keeps access until the last day"
    urgent = services.engine.start_run(parse_hr_event({**leaver, "event_id": "hris-fire-9", "terminate_now": True},
                                                      "webhook"))
    assert urgent == type(urgent)(planned.run_id, False), "the same run, now an emergency"
    clock.now += timedelta(seconds=30)
    services.engine.tick("w1", clock.now)
    steps = {s.step_key: s.status for s in services.store.list_steps(planned.run_id)}
    assert not directories["ad"].find_user(username).enabled and steps["ad_disable"] == "done"
    assert steps["entra_revoke_sessions"] == "done"
    assert steps["ad_remove_groups"] in ("awaiting_approval", "pending"), "removals still wait for approval"
    assert services.store.get_run(planned.run_id).effective_date == clock.now.date().isoformat()


def test_a_second_event_that_changes_more_than_the_date_is_refused_not_dropped(services, clock):
    started = services.engine.start_run(hire_event())
    with pytest.raises(RunError, match="also changes department, title"):
        services.engine.start_run(hire_event(event_id="hris-fix-1", department="Finance", title="Analyst"))
    run = services.store.get_run(started.run_id)
    assert run.person["department"] == "Sales", "nothing half-applied"
    moved = services.engine.start_run(hire_event(event_id="hris-fix-2", start_date="2026-03-09"))
    assert moved.run_id == started.run_id and services.store.get_run(started.run_id).effective_date == "2026-03-09"


# ---- leases and simultaneous decisions, on SQLite and PostgreSQL ---------------------------------------------------
@pytest.fixture
def any_services(database_url, clock, directories):
    """The services on each store: a SQLite file and the real PostgreSQL server (see ``database_url``)."""
    s = _services(database_url, clock, directories)
    yield s
    s.close()


@contextmanager
def _w1_held_up_in_ad_account(services, clock, ad, error=None):
    """A hire whose AD account step is due; worker w1 ticks in a thread and its account creation waits (as a
    throttled Graph call would) until the block ends, then raises ``error`` if given. Yields (run, step,
    what w1 was told)."""
    started = services.engine.start_run(hire_event())
    approve_all(services, services.engine.tick("w1", clock.now))
    step = next(s for s in services.store.list_steps(started.run_id) if s.step_key == "ad_account")
    create_user, inside, go_on = ad.create_user, threading.Event(), threading.Event()

    def held_up(user, *, plan=False):
        if not plan and not inside.is_set():
            inside.set()
            assert go_on.wait(30)
            if error is not None:
                raise error
        return create_user(user, plan=plan)

    ad.create_user = held_up
    told: list = []
    w1 = threading.Thread(target=lambda: told.extend(services.engine.tick("w1", clock.now)))
    try:
        w1.start()
        assert inside.wait(30)
        assert services.store.get_step(step.id).status == "running"
        yield started, step, told
    finally:
        go_on.set()
        w1.join(30)
        del ad.create_user


def test_a_worker_whose_lease_ran_out_cannot_overwrite_the_new_owners_result(any_services, clock, directories):
    services, ad = any_services, directories["ad"]
    # w1's call is kept waiting past its lease, then ends with a hard error
    with _w1_held_up_in_ad_account(services, clock, ad, InvalidInputError("the stale worker's view", system="ad",
                                                                          code="stale")) as (started, step, told_w1):
        clock.now += timedelta(minutes=6)            # w1's lease has run out: w2 takes the step and does it
        services.engine.tick("w2", clock.now)
        assert services.store.get_step(step.id).status == "done"
    after = services.store.get_step(step.id)
    assert after.status == "done" and after.done_by == "itbot" and after.last_error is None, \
        "the late worker's failure did not overwrite the new owner's result"
    assert services.store.get_run(started.run_id).status == "active", "nor block a run whose step succeeded"
    assert not [n for n in told_w1 if n.step is not None and n.step.id == step.id], "nobody is told of it"
    trail = [e.action for e in services.store.audit_trail(f"run:{started.run_id}")]
    assert "step.failed" not in trail
    assert len([u for u in ad.snapshot()["users"] if "nunez" in str(u)]) == 1


def test_a_long_directory_call_keeps_its_lease(any_services, clock, directories):
    """While a directory call runs, the lease is renewed: nobody else takes the step meanwhile."""
    services = any_services
    services.engine.lease = timedelta(seconds=0.3)   # renewed every 0.1 s of real time
    with _w1_held_up_in_ad_account(services, clock, directories["ad"]) as (started, step, _):
        first = services.store.get_step(step.id).lease_until
        clock.now += timedelta(seconds=1)           # past the first lease; the renewals follow the clock
        deadline = datetime.now(timezone.utc) + timedelta(seconds=10)
        while services.store.get_step(step.id).lease_until <= clock.now:
            assert datetime.now(timezone.utc) < deadline, "the lease was not renewed"
        assert services.store.get_step(step.id).lease_until > first
        services.engine.tick("w2", clock.now)
        assert services.store.get_step(step.id).status == "running", "w2 did not take a step still held"
    after = services.store.get_step(step.id)
    assert after.status == "done" and after.lease_until is None


def test_it_and_security_deciding_at_the_same_moment_both_count(any_services, clock):
    services = any_services
    services.engine.start_run(hire_event(privileged=True, event_id="hris-priv-3"))
    approve_all(services, services.engine.tick("w1", clock.now))
    clock.now = START - timedelta(days=2)
    services.engine.tick("w1", clock.now)
    [ask] = [a for a in services.store.list_approvals() if a.needs_security]
    security = services.teams.team("security").members[0]
    # Both decisions read the approval before either writes: the worst interleaving, every time.
    read, both_read, first_read = services.store.get_approval, threading.Barrier(2), threading.local()

    def get_approval(approval_id):
        found = read(approval_id)
        if not getattr(first_read, "done", False):
            first_read.done = True
            both_read.wait(10)
        return found

    services.store.get_approval = get_approval
    errors: list = []

    def decide(user):
        try:
            services.engine.decide(ask.id, user, True)
        except Exception as exc:  # pragma: no cover - shown in the assertion
            errors.append(exc)

    threads = [threading.Thread(target=decide, args=(u,)) for u in ("U0IT2", security)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    del services.store.get_approval
    assert errors == []
    decided = services.store.get_approval(ask.id)
    assert (decided.decided_by, decided.security_decided_by, decided.security_status) == ("U0IT2", security,
                                                                                          "approved")
    assert decided.status == "approved", "with both halves in, the approval is complete"
    covered = [s for s in services.store.list_steps(decided.run_id) if s.approval_id == ask.id]
    assert covered and {s.status for s in covered} == {"pending"}


# --- someone else's account is never adopted as the new hire's ------------------------------------------------

def test_a_username_hr_gives_that_a_colleague_holds_is_refused_at_start(services, directories):
    before = {system: d.snapshot() for system, d in directories.items()}
    with pytest.raises(PersonError) as caught:
        services.engine.start_run(hire_event(username="sam.reed"))
    [problem] = caught.value.problems
    assert problem.startswith("username: sam.reed (Active Directory) already belongs to someone else")
    assert services.store.list_runs() == [] and {s: d.snapshot() for s, d in directories.items()} == before
    mine = services.engine.start_run(hire_event(username="pepe.n"))   # a free one is kept as given
    assert services.store.get_run(mine.run_id).person["username"] == "pepe.n"


@pytest.mark.parametrize("system, step", [("ad", "ad_account"), ("entra", "entra_account")])
@pytest.mark.parametrize("holder", [
    {"employee_id": "E0007", "enabled": True, "has_password": True, "groups": ["Finance"]},   # a colleague
    {"enabled": False, "has_password": True, "groups": ["Sales"]},   # a former namesake: disabled, no employeeID
])
def test_an_account_someone_else_got_meanwhile_stops_the_run_before_anything_touches_it(
        services, clock, directories, holder, system, step):
    started = services.engine.start_run(hire_event())
    username = services.store.get_run(started.run_id).person["username"]
    # Between the start and the create (days later), the name was given to somebody else.
    directories[system]._seed([{"username": username, "display_name": "Pepe Núñez", **holder}])
    before = directories[system].snapshot()["users"][username]
    approve_all(services, services.engine.tick("w1", clock.now))
    notices = run_until_quiet(services.engine, clock, START + timedelta(days=1), step=timedelta(hours=1))
    steps = {s.step_key: s for s in services.store.list_steps(started.run_id)}
    assert steps[step].status == "denied", "no task with a Done button that would let later steps go on"
    why = "employeeID E0007; the new hire's is E1042" if holder.get("employee_id") else "it has no employeeID"
    assert "already belongs to someone else" in steps[step].last_error and why in steps[step].last_error
    assert any(n.kind == "run_stopped" and "another username" in n.text for n in notices)
    run = services.store.get_run(started.run_id)
    assert run.status == "failed" and "already belongs to someone else" in run.blocked_reason
    assert not any(s.status == "done" and s.action and s.action.startswith(system) for s in steps.values()), \
        "nothing was done to their account"
    assert directories[system].snapshot()["users"][username] == before
    again = services.engine.start_run(hire_event(event_id="hris-again-1", username="pepe.nunez2"))
    assert again.created and again.run_id != started.run_id, "HR can send the hire again at once"


def test_the_hires_own_half_made_account_from_an_earlier_attempt_is_finished(services, clock, directories):
    started = services.engine.start_run(hire_event())
    run = services.store.get_run(started.run_id)
    from workflows.run_actions import new_user
    directories["ad"].create_user(new_user(run.person, directories["ad"]))   # disabled, no password, employeeID set
    approve_all(services, services.engine.tick("w1", clock.now))
    run_until_quiet(services.engine, clock, START + timedelta(days=1), step=timedelta(hours=1))
    steps = {s.step_key: s for s in services.store.list_steps(started.run_id)}
    assert steps["ad_account"].status == "done" and steps["ad_account"].result["already_done"] is True
    account = directories["ad"].snapshot()["users"][run.person["username"]]
    assert account["enabled"] and account["has_password"] and account["attributes"]["employeeID"] == "E1042"


def test_a_denied_onboarding_ends_and_hr_can_send_the_corrected_hire(services, clock, directories):
    started = services.engine.start_run(hire_event())
    [ask] = [n for n in services.engine.tick("w1", clock.now) if n.kind == "approval_needed"]
    approval, notices = services.engine.decide(ask.approval.id, "U0IT2", False)
    assert approval.status == "denied" and [n.kind for n in notices] == ["run_denied"]
    run = services.store.get_run(started.run_id)
    assert run.status == "denied" and "<@U0IT2>" in run.blocked_reason
    later = run_until_quiet(services.engine, clock, START + timedelta(days=2))
    assert not [n for n in later if n.run.id == started.run_id], "nothing more is posted or done for it"
    username = run.person["username"]
    assert directories["ad"].find_user(username) is None and directories["entra"].find_user(username) is None
    corrected = services.engine.start_run(hire_event(event_id="hris-corrected-1", department="Marketing"))
    assert corrected.created and corrected.run_id != started.run_id


def test_it_can_stop_a_run_and_hr_can_then_send_the_corrected_hire(services, clock):
    started = services.engine.start_run(hire_event())
    services.engine.tick("w1", clock.now)
    with pytest.raises(RunError, match="Only IT approvers"):
        services.engine.stop_run(started.run_id, "U0ANA")
    [notice] = services.engine.stop_run(started.run_id, "U0IT2")
    assert notice.kind == "run_stopped"
    run = services.store.get_run(started.run_id)
    assert run.status == "failed" and "<@U0IT2>" in run.blocked_reason
    assert {s.status for s in services.store.list_steps(run.id)} <= {"cancelled", "done"}
    assert not run_until_quiet(services.engine, clock, START + timedelta(days=2)), "nothing more happens"
    with pytest.raises(RunError, match="already failed"):
        services.engine.stop_run(started.run_id, "U0IT2")
    again = services.engine.start_run(hire_event(event_id="hris-corrected-2", department="Marketing"))
    assert again.created
