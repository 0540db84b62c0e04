"""`itbot import people.csv`: start onboarding, offboarding and role-change runs from HR's spreadsheet.

The whole file is checked before anything starts: one mistake anywhere and every problem is printed (exit 2),
with no run started. Then one line per row: ``row 2: onboarding José Núñez → run 14 (new)``, or ``(already
started)`` for a row whose event_id started a run before, so importing the same file again is harmless.
Exit 0: every row has its run · 1: a run could not be started, e.g. its username belongs to someone else
(the rows before it were; fix that row and import the file again to finish) · 2: fix the file.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from workflows.directory_plans import PersonError
from workflows.hr import HrEventError, RunStarter, parse_people_rows
from workflows.ports import StoreError
from workflows.redact import scrub_text


def run_import(path: Path | str, starter: RunStarter, out: TextIO | None = None,
               err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        print(f"itbot: error: {path}: cannot read: {exc.strerror or exc}", file=err)
        return 2
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        print(f"itbot: error: {path}: not UTF-8 text (byte {exc.start + 1}); in Excel, save it as "
              f"\"CSV UTF-8 (Comma delimited)\"", file=err)
        return 2
    try:
        rows = parse_people_rows(text)
    except HrEventError as exc:
        count = len(exc.problems)
        print(f"itbot: error: {path}: {count} problem{'s' if count != 1 else ''}; nothing was started:", file=err)
        for problem in exc.problems:
            print(f"  {problem}", file=err)
        return 2
    for number, event in rows:
        try:
            started = starter.start_run(event)
        except Exception as exc:   # noqa: BLE001 - reported, and the import can simply be run again
            why = "; ".join(exc.problems) if isinstance(exc, PersonError) else \
                str(exc) if isinstance(exc, StoreError) else f"{type(exc).__name__}: {exc}"
            print(f"itbot: error: row {number}: could not start the run: {scrub_text(why)}", file=err)
            print(f"itbot: the rows before row {number} were started; import the file again to finish "
                  f"(rows already started are recognised by their event_id)", file=err)
            return 1
        state = "new" if started.created else "already started"
        print(f"row {number}: {event.describe()} → run {started.run_id} ({state})", file=out, flush=True)
    return 0
