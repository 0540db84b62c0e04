"""Nothing stuck, nothing twice: the worker takes only work that can move, and a person has one live run.

On SQLite and PostgreSQL (``any_services``): hundreds of onboardings waiting on people do not delay a
terminate-now offboarding; steps waiting on another step are not touched until it finishes; concurrent HR
events for one person make one run; two hires of the same name get two usernames.
"""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from tests.integration.test_engine import START, _services, approve_all, hire_event
from tests.integration.test_engine import clock, directories, services  # noqa: F401 (fixtures)
from tests.support.statements import statements_sent
from workflows.engine import RunError
from workflows.hr import parse_hr_event
from workflows.models import Run, RunStep

LEAVER = "sam.leaver"


@pytest.fixture
def any_services(database_url, clock, directories):
    s = _services(database_url, clock, directories)
    yield s
    s.close()


def seed_waiting_onboardings(store, count: int, now) -> list[int]:
    """``count`` live onboardings, each with its manager's task open and a step that requires it (due long ago,
    so that a worker looking at the oldest due steps first meets these); the ids of the waiting steps."""
    waiting = []
    for n in range(count):
        run = Run(kind="onboarding", requested_by="U0HR1", effective_date=now.date().isoformat(),
                  idempotency_key=f"seed-{n}", source="webhook",
                  person={"given_name": "Hire", "surname": f"Number{n}", "employee_id": f"E9{n:04d}",
                          "username": f"hire.n{n}"})
        steps = [RunStep(run_id=0, step_key="manager_welcome", title="Plan the first week", team="helpdesk_l1",
                         status="task", position=0, due_at=now - timedelta(days=3)),
                 RunStep(run_id=0, step_key="laptop", title="Prepare the laptop", team="helpdesk_l1", position=1,
                         requires=("manager_welcome",), due_at=now - timedelta(days=2))]
        saved, _ = store.create_run(run, steps)
        waiting.append(store.list_steps(saved.id)[1].id)
    return waiting


def terminate_now(services, clock, directories):
    for system in ("ad", "entra"):
        directories[system]._seed([{"username": LEAVER, "display_name": "Sam Leaver", "employee_id": "E0100",
                                    "groups": ["Sales"]}])
    event = parse_hr_event({"event_id": "hris-fire-fair", "kind": "offboarding", "username": LEAVER,
                            "last_day": (clock.now + timedelta(days=30)).date().isoformat(), "terminate_now": True,
                            "timezone": "Europe/London"}, "webhook")
    return services.engine.start_run(event)


def test_a_terminate_now_offboarding_cuts_access_in_one_pass_whatever_waits_on_people(any_services, clock,
                                                                                       directories):
    services = any_services
    waiting = seed_waiting_onboardings(services.store, 300, clock.now)
    before = {i: services.store.get_step(i).updated_at for i in waiting}
    started = terminate_now(services, clock, directories)
    clock.now += timedelta(seconds=30)
    with statements_sent(services.store.engine) as sent:
        services.engine.tick("w1", clock.now)
    steps = {s.step_key: s.status for s in services.store.list_steps(started.run_id)}
    assert (steps["ad_disable"], steps["entra_disable"], steps["entra_revoke_sessions"]) == ("done",) * 3
    assert not directories["ad"].find_user(LEAVER).enabled and not directories["entra"].find_user(LEAVER).enabled
    assert {i: services.store.get_step(i).updated_at for i in waiting} == before, \
        "steps waiting on a person's task are neither claimed nor re-saved"
    writes = [s for s in sent if s.lstrip().upper().startswith("UPDATE CHECKLIST_STEPS")]
    assert len(writes) < 60, f"the pass wrote {len(writes)} times: it grows with the 300 waiting runs"


def test_protective_steps_go_first_even_behind_hundreds_of_due_steps(any_services, clock, directories):
    services = any_services
    for n in range(60):   # due long ago, and movable: they would come first by age
        run = Run(kind="onboarding", requested_by="U0HR1", effective_date=clock.now.date().isoformat(),
                  idempotency_key=f"due-{n}", person={"given_name": "Due", "surname": f"N{n}", "employee_id": f"E8{n}"})
        services.store.create_run(run, [RunStep(run_id=0, step_key="manager_welcome", title="Plan", team="helpdesk_l1",
                                                due_at=clock.now - timedelta(days=5))])
    started = terminate_now(services, clock, directories)
    order: list[str] = []
    claim = services.store.claim_step

    def recording_claim(step_id, *args):
        step = claim(step_id, *args)
        if step is not None:
            order.append(step.step_key)
        return step

    services.store.claim_step = recording_claim
    try:
        services.engine.tick("w1", clock.now + timedelta(seconds=30))
    finally:
        del services.store.claim_step
    assert order[:2] == ["ad_disable", "entra_disable"] and order.index("entra_revoke_sessions") < 10
    assert services.store.get_step(next(s.id for s in services.store.list_steps(started.run_id)
                                         if s.step_key == "entra_revoke_sessions")).status == "done"


def test_a_finished_task_makes_its_dependents_due_in_the_same_transaction(any_services, clock, monkeypatch):
    services, store = any_services, any_services.store
    [waiting_id] = seed_waiting_onboardings(store, 1, clock.now)
    task = store.list_steps(store.get_step(waiting_id).run_id)[0]
    assert waiting_id not in store.due_step_ids(clock.now)
    member = services.teams.team("helpdesk_l1").members[0]

    import connectors.store.runs as runs

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away mid-way")

    real = runs.release_waiting
    monkeypatch.setattr(runs, "release_waiting", broken)
    with pytest.raises(RuntimeError):
        services.engine.complete_task(task.id, member)
    assert store.get_step(task.id).status == "task", "a task is not done without its dependents being released"
    monkeypatch.setattr(runs, "release_waiting", real)
    services.engine.complete_task(task.id, member)
    assert store.get_step(task.id).status == "done" and waiting_id in store.due_step_ids(clock.now)


def test_a_step_finished_by_the_worker_lets_its_dependents_run_in_the_same_pass(any_services, clock):
    services = any_services
    started = services.engine.start_run(hire_event())
    approve_all(services, services.engine.tick("w1", clock.now))
    services.engine.tick("w1", clock.now)
    steps = {s.step_key: s.status for s in services.store.list_steps(started.run_id)}
    assert steps["ad_account"] == steps["ad_credential"] == "done", "ad_credential requires ad_account"


def at_once(count: int, start_run) -> tuple[list, list]:
    """``start_run(n)`` in ``count`` threads released together; (what they returned, what they raised)."""
    barrier, results, errors = threading.Barrier(count), [], []

    def call(n: int) -> None:
        barrier.wait(30)
        try:
            results.append(start_run(n))
        except Exception as exc:  # pragma: no cover - shown in the assertion
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a start did not finish within a minute"
    return results, errors


def test_ten_events_for_one_person_at_once_make_one_run_and_one_approval(any_services, clock):
    services = any_services
    results, errors = at_once(10, lambda n: services.engine.start_run(hire_event(event_id=f"hris-race-{n}")))
    assert errors == [] and len(results) == 10
    assert len({r.run_id for r in results}) == 1 and sum(r.created for r in results) == 1
    assert len(services.store.list_runs()) == 1
    services.engine.tick("w1", clock.now)
    assert len(services.store.list_approvals()) == 1


def test_two_hires_of_the_same_name_at_once_get_two_usernames(any_services):
    services = any_services
    choose, both_chose = services.engine.choose_username, threading.Barrier(2)
    first_choice = threading.local()

    def racing_choice(person):
        chosen = choose(person)
        if not getattr(first_choice, "made", False):   # both have chosen before either stores its run
            first_choice.made = True
            both_chose.wait(30)
        return chosen

    services.engine.choose_username = racing_choice
    results, errors = at_once(2, lambda n: services.engine.start_run(hire_event(event_id=f"hris-twin-{n}",
                                                                                 employee_id=f"E20{n}")))
    assert errors == [] and all(r.created for r in results) and len(results) == 2
    names = [services.store.get_run(r.run_id).person["username"] for r in results]
    assert len(set(names)) == 2, names


def test_a_username_held_by_a_live_onboarding_is_skipped(services):
    first = services.engine.start_run(hire_event(event_id="hris-a", employee_id="E3001"))
    second = services.engine.start_run(hire_event(event_id="hris-b", employee_id="E3002"))
    one, two = (services.store.get_run(r.run_id).person["username"] for r in (first, second))
    assert second.created and one != two
    services.engine.stop_run(first.run_id, "U0IT2")
    third = services.engine.start_run(hire_event(event_id="hris-c", employee_id="E3003"))
    assert services.store.get_run(third.run_id).person["username"] == one, "a run that ended holds no name"


def test_an_hr_given_username_another_live_hire_holds_is_refused(services):
    services.engine.start_run(hire_event(event_id="hris-d", employee_id="E3004", username="pepe.n"))
    with pytest.raises(RunError, match="already has a onboarding run under way"):
        services.engine.start_run(hire_event(event_id="hris-e", employee_id="E3005", username="pepe.n"))


def test_a_second_event_for_a_live_person_still_moves_their_run(services):
    """The indexed lookup finds the live run by employee id, and an offboarding by username alone."""
    started = services.engine.start_run(hire_event())
    moved = services.engine.start_run(hire_event(event_id="hris-move-x", start_date="2026-03-09"))
    assert moved.run_id == started.run_id and not moved.created
    assert services.store.get_run(started.run_id).effective_date == "2026-03-09"
    assert START.date().isoformat() != "2026-03-09"


def test_a_step_stored_without_its_wait_is_put_back_once_then_left_alone(services, clock):
    """A row an older version wrote (no ``waiting_on``): taken once, found waiting, and from then on skipped."""
    from sqlalchemy import update

    from connectors.store.tables import checklist_steps
    [waiting_id] = seed_waiting_onboardings(services.store, 1, clock.now)
    with services.store.engine.begin() as conn:
        conn.execute(update(checklist_steps).where(checklist_steps.c.id == waiting_id).values(waiting_on=None))
    assert waiting_id in services.store.due_step_ids(clock.now)
    services.engine.tick("w1", clock.now)
    assert services.store.get_step(waiting_id).status == "pending"
    assert waiting_id not in services.store.due_step_ids(clock.now), "it now waits without being taken"
