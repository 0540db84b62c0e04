"""kill -9 in the middle of a run, then a restart finishes it: no step lost, none done twice.

Real worker processes share a SQLite file store. The directory is a small double kept in its own SQLite
file (so what was written survives the process), with the ensure-semantics of the real connectors: a verb
whose state is already there changes nothing and reports "already done". A hook in the double SIGKILLs the
worker right after the directory write of a chosen step is committed, before the engine can record the step
as done: the worst moment. A second worker, started once the first one's lease on that step has run out,
must finish the run: the interrupted step is found already done (not redone), every step is done exactly
once in the audit trail, every directory write happened exactly once, and the run is done.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import pytest

from bot.settings import Settings
from connectors.services import build_services
from workflows.directory import Change, DirectoryUser, NewUser, NotFoundError, Outcome
from workflows.hr import parse_hr_event

REPO = Path(__file__).resolve().parents[2]
APPROVER = "U0IT2"
CHILD_TIMEOUT = 60

# Four automated steps: three change access (so IT approves them first), one does not.
CHECKLIST = """\
anchor: start_date
steps:
  - id: ad_account
    title: Create the account
    responsibility: add_remove_network_users
    action: ad.create_user
    due: immediately
  - id: ad_groups
    title: Add to the staff groups
    responsibility: add_remove_network_users
    action: ad.add_to_groups
    args: {groups: [All Staff, Sales]}
    requires: [ad_account]
    due: immediately
  - id: ad_title
    title: Set the job title and department
    responsibility: add_remove_network_users
    action: ad.set_attributes
    args: {attributes: [title, department]}
    requires: [ad_account]
    due: immediately
  - id: ad_enable
    title: Enable the account
    responsibility: add_remove_network_users
    action: ad.enable_user
    requires: [ad_groups, ad_title]
    due: immediately
"""
STEPS = ("ad_account", "ad_groups", "ad_title", "ad_enable")
VERB_OF = {"ad_account": "create_user", "ad_groups": "add_to_groups", "ad_title": "set_attributes",
           "ad_enable": "enable_user"}

# A worker process: the services as `itbot worker` builds them, with the ledger directory, and an Engine with
# a one-second lease; it ticks until nothing more happens and prints what it was told.
WORKER = r"""
import json, sys
from dataclasses import replace
from datetime import timedelta
from bot.settings import Settings
from connectors.services import build_services
from workflows.engine import Engine
from tests.integration.test_worker_crash import LedgerDirectory

config_dir, database_url, ledger, crash_after, name = sys.argv[1:6]
settings = replace(Settings.from_env({"ITBOT_CONFIG_DIR": config_dir}, require_slack=False),
                   database_url=database_url)
directories = {"ad": LedgerDirectory(ledger, crash_after=crash_after or None)}
services = build_services(settings, directories=directories)
built = services.engine
engine = Engine(store=services.store, checklists=built.checklists, teams=built.teams, policy=built.policy,
                directories=directories, default_timezone=built.default_timezone,
                choose_username=built.choose_username, lease=timedelta(seconds=1))
told = []
for _ in range(10):
    notices = engine.tick(name)
    told += [n.kind for n in notices]
    if not notices:
        break
services.close()
print(json.dumps(told))
"""


class LedgerDirectory:
    """The verbs the test checklist uses, on users kept in a SQLite file, each write logged in ``writes``.

    ``crash_after`` names a verb: right after that verb's write is committed the process SIGKILLs itself.
    """

    system = "ad"
    upn_domain = "corp.example.test"

    def __init__(self, path: str | Path, *, crash_after: str | None = None):
        self.crash_after = crash_after
        self.db = sqlite3.connect(str(path), isolation_level=None, timeout=30)
        self.db.executescript("""
            CREATE TABLE IF NOT EXISTS users (username TEXT PRIMARY KEY, upn TEXT, display_name TEXT,
                given_name TEXT, surname TEXT, employee_id TEXT, enabled INTEGER, groups TEXT, attributes TEXT);
            CREATE TABLE IF NOT EXISTS writes (id INTEGER PRIMARY KEY AUTOINCREMENT, pid INTEGER, verb TEXT,
                username TEXT, changes TEXT);
        """)

    def close(self) -> None:
        self.db.close()

    # reading ------------------------------------------------------------------------------------
    def _row(self, username: str) -> dict | None:
        cur = self.db.execute("SELECT * FROM users WHERE username = ?", (username,))
        row = cur.fetchone()
        return None if row is None else dict(zip([c[0] for c in cur.description], row))

    def _existing(self, username: str) -> dict:
        row = self._row(username)
        if row is None:
            raise NotFoundError(f"no user {username!r}", system="ad", code="noSuchObject")
        return row

    def find_user(self, username: str) -> DirectoryUser | None:
        row = self._row(username)
        if row is None:
            return None
        attributes = {"given_name": row["given_name"], "surname": row["surname"],
                      "employee_id": row["employee_id"], **json.loads(row["attributes"])}
        return DirectoryUser(id=row["username"], username=row["username"], upn=row["upn"],
                             display_name=row["display_name"], enabled=bool(row["enabled"]),
                             groups=tuple(json.loads(row["groups"])), attributes=attributes)

    def name_in_use(self, username: str) -> bool:
        return self._row(username) is not None

    def writes(self) -> list[tuple[str, str]]:
        return list(self.db.execute("SELECT verb, username FROM writes ORDER BY id"))

    # writing ------------------------------------------------------------------------------------
    def _apply(self, verb: str, username: str, changes: list[Change], plan: bool, sql: str, args: tuple) -> Outcome:
        if changes and not plan:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(sql, args)
            self.db.execute("INSERT INTO writes (pid, verb, username, changes) VALUES (?, ?, ?, ?)",
                            (os.getpid(), verb, username, json.dumps([c.describe() for c in changes])))
            self.db.execute("COMMIT")
            if verb == self.crash_after:   # the change is made; the engine has not recorded it yet
                os.kill(os.getpid(), signal.SIGKILL)
        return Outcome("ad", verb, tuple(changes), planned=plan)

    def create_user(self, user: NewUser, *, plan: bool = False) -> Outcome:
        if self._row(user.username) is not None:
            return Outcome("ad", "create_user", (), planned=plan)
        changes = [Change(user.username, "account", None, user.upn)]
        return self._apply("create_user", user.username, changes, plan,
                           "INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, 0, '[]', '{}')",
                           (user.username, user.upn, user.display_name, user.given_name, user.surname,
                            user.employee_id))

    def add_to_groups(self, username: str, groups: Sequence[str], *, plan: bool = False) -> Outcome:
        have = json.loads(self._existing(username)["groups"])
        missing = [g for g in dict.fromkeys(groups) if g not in have]
        changes = [Change(username, "memberOf", None, g) for g in missing]
        return self._apply("add_to_groups", username, changes, plan, "UPDATE users SET groups = ? WHERE username = ?",
                           (json.dumps(have + missing), username))

    def set_attributes(self, username: str, attributes: dict[str, Any], *, plan: bool = False) -> Outcome:
        have = json.loads(self._existing(username)["attributes"])
        changes = [Change(username, k, have.get(k), v) for k, v in attributes.items() if have.get(k) != v]
        return self._apply("set_attributes", username, changes, plan,
                           "UPDATE users SET attributes = ? WHERE username = ?",
                           (json.dumps({**have, **attributes}), username))

    def enable_user(self, username: str, *, plan: bool = False) -> Outcome:
        row = self._existing(username)
        changes = [] if row["enabled"] else [Change(username, "enabled", False, True)]
        return self._apply("enable_user", username, changes, plan, "UPDATE users SET enabled = 1 WHERE username = ?",
                           (username,))


# ------------------------------------------------------------------------------------------------ helpers

@pytest.fixture
def setup(tmp_path):
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    (config / "checklists" / "onboarding.yaml").write_text(CHECKLIST)
    database_url = f"sqlite:///{tmp_path / 'itbot.db'}"
    ledger = tmp_path / "directory.db"
    settings = replace(Settings.from_env({"ITBOT_CONFIG_DIR": str(config)}, require_slack=False),
                       database_url=database_url)
    directory = LedgerDirectory(ledger)
    services = build_services(settings, directories={"ad": directory})
    yield services, directory, (str(config), database_url, str(ledger))
    services.close()


def _worker(paths: tuple[str, str, str], name: str, crash_after: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WORKER, *paths, crash_after, name], cwd=REPO, capture_output=True,
                          text=True, timeout=CHILD_TIMEOUT, env={**os.environ, "LOG_LEVEL": "WARNING"})


def _approved_run(services) -> int:
    """HR's event, and IT's approval of its account changes (given before any worker runs)."""
    event = parse_hr_event({"event_id": "hris-crash-1", "kind": "onboarding", "given_name": "Ada",
                            "surname": "Lovelace", "employee_id": "E2001", "department": "Sales",
                            "title": "Account Executive", "start_date": date.today().isoformat(),
                            "timezone": "UTC"}, "webhook")
    run_id = services.engine.start_run(event).run_id
    [ask] = [n for n in services.engine.tick("parent") if n.kind == "approval_needed"]
    covered = {s.step_key for s in services.store.list_steps(run_id) if s.approval_id == ask.approval.id}
    assert covered == {"ad_account", "ad_groups", "ad_enable"}, "one approval for the access changes"
    services.engine.decide(ask.approval.id, APPROVER, True)
    return run_id


# ------------------------------------------------------------------------------------------------ the test

@pytest.mark.parametrize("crash_in", ["ad_account", "ad_groups", "ad_enable"])
def test_a_worker_killed_after_a_directory_write_is_finished_once_by_the_next(setup, crash_in):
    services, directory, paths = setup
    store = services.store
    run_id = _approved_run(services)
    username = store.get_run(run_id).person["username"]
    assert directory.writes() == [], "planning and approving wrote nothing"

    # ---- the first worker dies (SIGKILL) just after its directory write for `crash_in` ----------------------
    first = _worker(paths, "w1", crash_after=VERB_OF[crash_in])
    assert first.returncode == -signal.SIGKILL, first.stderr[-2000:]
    assert first.stdout == "", "it died before finishing its tick"
    before = STEPS[:STEPS.index(crash_in)]
    steps = {s.step_key: s for s in store.list_steps(run_id)}
    assert steps[crash_in].status == "running", "claimed, changed in the directory, never recorded"
    assert all(steps[k].status == "done" for k in before)
    assert [v for v, _ in directory.writes()][-1] == VERB_OF[crash_in], "its write was made"
    assert store.get_run(run_id).status == "active"

    # ---- once its lease has run out, a second worker finishes the run ----------------------------------------
    lease_until = steps[crash_in].lease_until
    time.sleep(max(0.0, (lease_until - datetime.now(timezone.utc)).total_seconds()) + 0.2)
    second = _worker(paths, "w2")
    assert second.returncode == 0, second.stderr[-2000:]
    assert "run_done" in json.loads(second.stdout.strip().splitlines()[-1])

    run = store.get_run(run_id)
    steps = {s.step_key: s for s in store.list_steps(run_id)}
    assert run.status == "done" and all(s.status == "done" for s in steps.values())
    assert steps[crash_in].result["already_done"] is True and steps[crash_in].result["changes"] == [], \
        "the interrupted step was checked again and found done, not redone"
    assert all(steps[k].result["already_done"] is False for k in STEPS if k != crash_in)
    trail = store.audit_trail(f"run:{run_id}")
    assert sorted(e.detail["step"] for e in trail if e.action == "step.done") == sorted(STEPS), \
        "every step done exactly once"
    assert [e.action for e in trail].count("run.done") == 1
    assert Counter(v for v, _ in directory.writes()) == Counter(VERB_OF.values()), "each write applied once"
    assert {u for _, u in directory.writes()} == {username}
    user = directory.find_user(username)
    assert user.enabled and user.groups == ("All Staff", "Sales")
    assert (user.attributes["title"], user.attributes["department"]) == ("Account Executive", "Sales")
