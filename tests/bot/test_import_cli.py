"""`itbot import people.csv`: the whole file is checked before any run starts; importing again is harmless."""
from __future__ import annotations

import io
from pathlib import Path

from bot.import_cli import run_import
from workflows.hr import HrEvent, StartedRun
from workflows.ports import StoreError

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "examples" / "people.csv"


class FakeStarter:
    """One run per idempotency key, numbered from 14; ``fail_on`` keys raise (the store is down)."""

    def __init__(self, fail_on: tuple[str, ...] = ()):
        self.runs: dict[str, int] = {}
        self.calls: list[HrEvent] = []
        self.fail_on = set(fail_on)

    def start_run(self, event: HrEvent) -> StartedRun:
        self.calls.append(event)
        if event.idempotency_key in self.fail_on:
            raise StoreError("cannot reach the database at postgresql://itbot:***@db/itbot: timeout")
        known = event.idempotency_key in self.runs
        run_id = self.runs.setdefault(event.idempotency_key, 14 + len(self.runs))
        return StartedRun(run_id, created=not known)


def run(path, starter) -> tuple[int, list[str], str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_import(path, starter, out, err)
    return code, out.getvalue().splitlines(), err.getvalue()


def test_the_example_file_starts_one_run_per_row_and_a_second_import_starts_none():
    starter = FakeStarter()
    code, lines, err = run(EXAMPLE, starter)
    assert (code, err) == (0, "")
    assert lines == ["row 2: onboarding José Núñez → run 14 (new)",
                     "row 3: onboarding Ingrid Ødegård → run 15 (new)",
                     "row 4: offboarding tom.baker → run 16 (new)",
                     "row 5: role-change amy.chan → run 17 (new)"]
    assert {e.source for e in starter.calls} == {"csv"}
    code, lines, _ = run(EXAMPLE, starter)
    assert code == 0 and lines[0] == "row 2: onboarding José Núñez → run 14 (already started)"
    assert all(line.endswith("(already started)") for line in lines) and len(starter.runs) == 4


def test_a_file_with_mistakes_starts_nothing_and_prints_every_one(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("event_id,kind,given_name,surname,employee_id,start_date,username,last_day\n"
                    "d1,onboarding,José,Núñez,E1,2026-03-02,,\n"
                    "d2,onboarding,Ana,Ruiz,,2026-03-32,,\n"
                    "d1,offboarding,,,,,tom.baker,\n", encoding="utf-8")
    starter = FakeStarter()
    code, lines, err = run(path, starter)
    assert code == 2 and lines == [] and starter.calls == []
    assert err.splitlines() == [
        f"itbot: error: {path}: 4 problems; nothing was started:",
        "  row 3: start_date: expected a date as YYYY-MM-DD, got '2026-03-32'",
        "  row 3: employee_id: required",
        "  row 4: event_id: 'd1' is also on row 2",
        "  row 4: last_day: required",
    ]


def test_an_excel_utf8_file_with_a_bom_and_semicolons(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes("event_id;kind;username;last_day;terminate_now\r\ne1;offboarding;tom.baker;2026-03-13;Yes\r\n"
                     .encode("utf-8-sig"))
    starter = FakeStarter()
    code, lines, _ = run(path, starter)
    assert (code, lines) == (0, ["row 2: offboarding tom.baker → run 14 (new)"])
    assert starter.calls[0].person.terminate_now is True


def test_a_file_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "legacy.csv"
    path.write_bytes("event_id,kind,given_name,surname,employee_id,start_date\n"
                     "f1,onboarding,José,Núñez,E1,2026-03-02\n".encode("cp1252"))
    code, lines, err = run(path, FakeStarter())
    assert code == 2 and lines == []
    assert "not UTF-8 text" in err and 'save it as "CSV UTF-8 (Comma delimited)"' in err


def test_a_missing_file(tmp_path):
    code, _, err = run(tmp_path / "nope.csv", FakeStarter())
    assert code == 2 and "nope.csv: cannot read: No such file or directory" in err


def test_when_a_run_cannot_be_started_the_import_stops_and_can_be_run_again():
    starter = FakeStarter(fail_on=("hris-2026-000150",))
    code, lines, err = run(EXAMPLE, starter)
    assert code == 1 and [line.split(" →")[0] for line in lines] == ["row 2: onboarding José Núñez",
                                                                    "row 3: onboarding Ingrid Ødegård"]
    assert "row 4: could not start the run: cannot reach the database" in err
    assert "import the file again to finish" in err
    starter.fail_on.clear()
    code, lines, _ = run(EXAMPLE, starter)
    assert code == 0 and [line.rsplit("(", 1)[1] for line in lines] == \
        ["already started)", "already started)", "new)", "new)"]


def test_itbot_import_starts_real_runs_once_through_the_engine(tmp_path):
    """The command as an operator runs it: every row becomes a run in the store, and a re-import adds none."""
    import os
    import subprocess
    import sys

    from connectors.store import build_store

    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'import.db'}", "ITBOT_DIRECTORY": "sandbox",
           "ITBOT_CONFIG_DIR": str(repo / "config")}
    command = [sys.executable, "-m", "bot", "import", str(repo / "config/examples/people.csv")]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout.count("(new)") == 4 and second.stdout.count("(already started)") == 4
    store = build_store(env["DATABASE_URL"])
    assert sorted(r.kind for r in store.list_runs()) == ["offboarding", "onboarding", "onboarding", "role-change"]
    store.close()
