"""Runs, steps and approvals in the store (SQLite and PostgreSQL): idempotent starts, exclusive claims."""
from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from connectors.store import build_store
from tests.support.statements import statements_sent
from workflows.models import Approval, Run, RunStep

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def store(database_url):
    s = build_store(database_url)
    yield s
    s.close()


def _run(key: str = "hr-1") -> Run:
    """A live onboarding; each key a hire of its own (a live run holds its username)."""
    return Run(kind="onboarding", person={"given_name": "Zoë", "surname": "Ødegård", "username": f"zoe.{key}"},
               requested_by="U0HR1", effective_date="2027-03-01", idempotency_key=key, source="webhook")


def _steps(n: int = 3) -> list[RunStep]:
    return [RunStep(run_id=0, step_key=f"s{i}", title=f"Step {i}", team="helpdesk_l1", position=i,
                    requires=(f"s{i - 1}",) if i else (), due_at=NOW) for i in range(n)]


def test_a_run_is_stored_once_per_idempotency_key(store):
    run, created = store.create_run(_run(), _steps())
    again, created_again = store.create_run(_run(), _steps())
    assert created and not created_again and again.id == run.id
    assert [s.step_key for s in store.list_steps(run.id)] == ["s0", "s1", "s2"]
    assert store.list_steps(run.id)[1].requires == ("s0",)
    assert run.person["surname"] == "Ødegård" and run.display_name == "Zoë Ødegård"


def test_only_one_of_many_workers_claims_a_step(store):
    run, _ = store.create_run(_run(), _steps(1))
    [step_id] = store.due_step_ids(NOW)
    winners: list[int] = []
    barrier = threading.Barrier(8)

    def claim(n: int) -> None:
        barrier.wait()
        if store.claim_step(step_id, f"w{n}", NOW, timedelta(minutes=5)):
            winners.append(n)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    assert store.due_step_ids(NOW) == [], "a claimed step is not due again while its lease holds"
    assert store.due_step_ids(NOW + timedelta(minutes=6)) == [step_id], "an expired lease makes it claimable again"


def test_steps_not_yet_due_or_waiting_to_retry_are_not_offered(store):
    run, _ = store.create_run(_run(), [replace(s, requires=()) for s in _steps(2)])   # (neither waits on the other)
    first, second = store.list_steps(run.id)
    store.save_step(replace(first, due_at=NOW + timedelta(days=1)))
    store.save_step(replace(second, next_attempt_at=NOW + timedelta(minutes=2)))
    assert store.due_step_ids(NOW) == []
    assert store.due_step_ids(NOW + timedelta(minutes=3)) == [second.id]


def test_an_approval_is_decided_once_even_when_two_clicks_race(store):
    run, _ = store.create_run(_run(), _steps(1))
    approval = store.create_approval(Approval(subject="step:1", requested_by="U0HR1", run_id=run.id,
                                              plan={"changes": []}, summary="Create account"))
    results = []
    barrier = threading.Barrier(2)

    def click(user: str) -> None:
        barrier.wait()
        results.append(store.save_approval(replace(approval, status="approved", decided_by=user),
                                           expect={"status": "pending"}))

    threads = [threading.Thread(target=click, args=(u,)) for u in ("U0IT2", "U0IT3")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is not None for r in results) == 1
    assert store.get_approval(approval.id).status == "approved"


def test_runs_with_steps_reads_every_live_run_and_its_steps_in_one_statement(store):
    first, _ = store.create_run(_run("hr-1"), list(reversed(_steps(3))))  # stored out of order
    bare, _ = store.create_run(_run("hr-2"), [])
    done, _ = store.create_run(_run("hr-3"), _steps(2))
    store.save_run(replace(done, status="done"))
    blocked, _ = store.create_run(_run("hr-4"), _steps(1))
    store.save_run(replace(blocked, status="blocked", blocked_reason="DC down"))
    with statements_sent(store.engine) as statements:
        found = store.runs_with_steps(("active", "blocked"))
    assert len(statements) == 1
    assert [(run.id, run.status) for run, _ in found] == [(first.id, "active"), (bare.id, "active"),
                                                          (blocked.id, "blocked")]
    assert found[0][0] == store.get_run(first.id) and found[2][0].blocked_reason == "DC down"
    assert [s.step_key for s in found[0][1]] == ["s0", "s1", "s2"] and found[1][1] == []
    assert found[0][1] == store.list_steps(first.id) and found[2][1] == store.list_steps(blocked.id)


def test_a_run_and_its_approval_keep_an_hr_systems_long_sender_name(store):
    """HR events accept requested_by up to 200 characters (an e-mail address, a system name)."""
    sender = "people-operations-integration@hr.example-holdings.com"   # 53 characters
    run, _ = store.create_run(replace(_run(), requested_by=sender), _steps(1))
    approval = store.create_approval(Approval(subject=f"run:{run.id}", requested_by=sender, run_id=run.id,
                                              summary="Onboarding of Zoë Ødegård: 1 account change(s)"))
    assert store.get_run(run.id).requested_by == sender and store.get_approval(approval.id).requested_by == sender


def test_a_claim_is_fenced_by_its_lease(store):
    run, _ = store.create_run(_run(), _steps(1))
    [step_id] = store.due_step_ids(NOW)
    old = store.claim_step(step_id, "w1", NOW, timedelta(minutes=5))
    assert old.status == "running" and old.lease_until == NOW + timedelta(minutes=5)
    assert store.claim_step(step_id, "w2", NOW + timedelta(minutes=4), timedelta(minutes=5)) is None
    new = store.claim_step(step_id, "w2", NOW + timedelta(minutes=6), timedelta(minutes=5))
    assert new is not None and new.lease_until > old.lease_until
    assert store.renew_lease(old, NOW + timedelta(minutes=20)) is None, "w1 cannot renew a lease it lost"
    done = store.save_step(replace(new, status="done", lease_until=None), expect_status="running",
                           expect_lease=new.lease_until)
    assert done is not None and done.status == "done"
    stale = store.save_step(replace(old, status="pending", last_error="throttled", lease_until=None),
                            expect_status="running", expect_lease=old.lease_until)
    assert stale is None, "the stale worker's write is dropped"
    assert store.get_step(step_id).status == "done" and store.get_step(step_id).last_error is None


def test_renewing_a_lease_keeps_the_claim_and_moves_its_token(store):
    run, _ = store.create_run(_run(), _steps(1))
    [step_id] = store.due_step_ids(NOW)
    claim = store.claim_step(step_id, "w1", NOW, timedelta(minutes=5))
    renewed = store.renew_lease(claim, NOW + timedelta(minutes=9))
    assert renewed.lease_until == NOW + timedelta(minutes=9) == store.get_step(step_id).lease_until
    assert store.claim_step(step_id, "w2", NOW + timedelta(minutes=6), timedelta(minutes=5)) is None
    assert store.save_step(replace(claim, status="done"), expect_status="running",
                           expect_lease=claim.lease_until) is None, "the old token is spent"
    assert store.save_step(replace(renewed, status="done"), expect_status="running",
                           expect_lease=renewed.lease_until).status == "done"


def test_two_halves_of_an_approval_written_from_one_read_both_stay(store):
    run, _ = store.create_run(_run(), _steps(1))
    approval = store.create_approval(Approval(subject=f"run:{run.id}", requested_by="U0HR1", run_id=run.id,
                                              needs_security=True, summary="Admin groups"))
    it = store.save_approval(replace(approval, decided_by="U0IT2", decided_at=NOW),
                             expect={"status": "pending", "decided_by": None}, columns=("decided_by", "decided_at"))
    sec = store.save_approval(replace(approval, security_status="approved", security_decided_by="U0SEC1"),
                              expect={"status": "pending", "security_decided_by": None},
                              columns=("security_status", "security_decided_by"))
    assert it is not None and sec is not None
    both = store.get_approval(approval.id)
    assert (both.decided_by, both.decided_at, both.security_decided_by, both.security_status) == (
        "U0IT2", NOW, "U0SEC1", "approved")


def test_due_steps_come_urgent_first_then_fairly_across_runs_and_waiting_ones_not_at_all(store):
    busy, _ = store.create_run(_run("hr-busy"), [replace(s, requires=(), due_at=NOW - timedelta(days=1))
                                                 for s in _steps(3)])
    other, _ = store.create_run(_run("hr-other"), _steps(2))            # s1 waits on s0
    urgent, _ = store.create_run(_run("hr-urgent"), [replace(_steps(1)[0], priority=1)])
    ids = {(r.id, s.step_key): s.id for r in (busy, other, urgent) for s in store.list_steps(r.id)}
    assert store.due_step_ids(NOW) == [ids[urgent.id, "s0"], ids[busy.id, "s0"], ids[other.id, "s0"],
                                       ids[busy.id, "s1"], ids[busy.id, "s2"]]
    first = store.get_step(ids[other.id, "s0"])
    store.save_step(replace(first, status="done"))
    assert ids[other.id, "s1"] in store.due_step_ids(NOW), "released by the write that finished what it waited on"


def test_a_live_run_holds_its_person_and_username_until_it_ends(store):
    from workflows.ports import LiveRunExists, UsernameHeld
    hire = {"given_name": "Zoë", "surname": "Ødegård", "employee_id": "E1", "username": "zoe"}
    run, _ = store.create_run(replace(_run("hr-a"), person=hire), _steps(1))
    with pytest.raises(LiveRunExists) as same:
        store.create_run(replace(_run("hr-b"), person={**hire, "username": "zoe2"}), _steps(1))
    assert same.value.run.id == run.id
    with pytest.raises(UsernameHeld):
        store.create_run(replace(_run("hr-c"), person={**hire, "employee_id": "E2", "username": "ZOE"}), _steps(1))
    with statements_sent(store.engine) as statements:
        assert store.find_live_run("onboarding", {"employee_id": "E1"}).id == run.id
    assert len(statements) == 1
    store.save_run(replace(run, status="done"))
    assert store.find_live_run("onboarding", {"employee_id": "E1"}) is None
    again, created = store.create_run(replace(_run("hr-d"), person=hire), _steps(1))
    assert created and again.id != run.id
