"""A run's live keys: what makes it the one live run of its kind for its person, and its username's holder.

``live_key`` ("kind:employee id") and ``live_username`` ("kind:username", case-folded as the directories
compare names) are unique columns of ``checklist_runs``, set while the run is live and NULL once it ended
(NULLs never collide), written by the same statement that writes its status. So two HR events for one person
at once, or two hires given one username at once, cannot both make a live run: the database refuses the
second, whatever the timing and however many replicas there are.
"""
from __future__ import annotations

from typing import Any, Mapping

from workflows.models import LIVE_RUNS

KEY_LENGTH, USERNAME_LENGTH = 120, 150   # the columns' sizes (tables.py)


def live_keys(kind: str, status: str, person: Mapping[str, Any]) -> dict[str, str | None]:
    """The values of ``live_key`` and ``live_username`` for a run in ``status``."""
    if status not in LIVE_RUNS:
        return {"live_key": None, "live_username": None}
    employee = str(person.get("employee_id") or "").strip()
    username = str(person.get("username") or "").strip().casefold()
    return {"live_key": f"{kind}:{employee}"[:KEY_LENGTH] if employee else None,
            "live_username": f"{kind}:{username}"[:USERNAME_LENGTH] if username else None}
