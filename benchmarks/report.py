"""Results: rows for the JSON file and a table for the terminal."""
from __future__ import annotations

import json
import shutil
import textwrap
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, TextIO

from benchmarks.registry import Measurement


@dataclass(frozen=True)
class Row:
    benchmark: str
    metric: str
    value: float | None
    unit: str
    target: str | None
    ok: bool | None
    notes: str

    @classmethod
    def measured(cls, benchmark: str, m: Measurement) -> "Row":
        value = None if m.value is None else float(m.value)
        return cls(benchmark, m.metric, value, m.unit, None if m.target is None else str(m.target), m.ok, m.notes)

    @classmethod
    def skipped(cls, benchmark: str, reason: str) -> "Row":
        return cls(benchmark, "skipped", None, "", None, None, f"skipped: {reason}")

    @classmethod
    def crashed(cls, benchmark: str, error: BaseException) -> "Row":
        return cls(benchmark, "error", None, "", None, False, f"crashed: {type(error).__name__}: {error}")

    @property
    def verdict(self) -> str:
        if self.metric == "error":
            return "ERROR"
        if self.metric == "skipped":
            return "skip"
        if self.ok is None:
            return "info"
        return "PASS" if self.ok else "FAIL"


def write_json(rows: Iterable[Row], path: Path) -> None:
    path.write_text(json.dumps([asdict(r) for r in rows], indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def format_value(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit == "fraction":
        return f"{value:.3f}"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def print_table(rows: list[Row], out: TextIO) -> None:
    """Aligned columns; each distinct note is printed once below the table and referenced by number."""
    note_ids: dict[str, int] = {}
    body = []
    for row in rows:
        ref = ""
        if row.notes:
            ref = f"[{note_ids.setdefault(row.notes, len(note_ids) + 1)}]"
        body.append([row.benchmark, row.metric, format_value(row.value, row.unit), row.unit or "", row.target or "",
                     row.verdict, ref])
    header = ["benchmark", "metric", "value", "unit", "target", "result", "note"]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    right = {2}  # numbers line up on the right

    def line(cells: list[str]) -> str:
        padded = (c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * w for w in widths)
    print(line(header), file=out)
    print(rule, file=out)
    previous = None
    for cells in body:
        if previous is not None and cells[0] != previous:
            print(file=out)  # a blank line between benchmarks
        print(line(cells if cells[0] != previous else ["", *cells[1:]]), file=out)
        previous = cells[0]
    print(rule, file=out)

    counts = {v: sum(1 for r in rows if r.verdict == v) for v in ("PASS", "FAIL", "info", "skip", "ERROR")}
    print("  ".join(f"{k}: {v}" for k, v in counts.items() if v) or "no results", file=out)
    if note_ids:
        width = max(60, min(shutil.get_terminal_size((100, 24)).columns, 120))
        print("\nNotes", file=out)
        for text, number in note_ids.items():
            prefix = f"[{number}] "
            print(textwrap.fill(text, width=width, initial_indent=prefix, subsequent_indent=" " * len(prefix)),
                  file=out)
