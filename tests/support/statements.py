"""Counting the SQL statements a piece of code sends, to show that it does not grow with the data."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from sqlalchemy import event


@contextmanager
def statements_sent(engine: Any) -> Iterator[list[str]]:
    """The SQL text of every statement ``engine`` sends inside the ``with`` block, in order."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
