"""`itbot report --since 30d [--json] [--html FILE]`: the department's numbers as a table, JSON or a page.

The page is one self-contained file: inline CSS and SVG bar charts drawn here, no scripts, nothing fetched.
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence, TextIO

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from workflows.report import (DEFLECTION_DEFINITION, DURATION_DEFINITION, Durations, Report, ReportError,
                              build_report, business_duration, human_duration, parse_since, percent)

TEMPLATES = Path(__file__).resolve().parent / "templates"
BAR_HEIGHT, BAR_GAP, LABEL_WIDTH, BAR_AREA = 22, 8, 260, 380


def add_report_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--since", default="30d", metavar="WHEN",
                        help="window start: 30d, 12h, 2w, or an ISO date such as 2026-01-31 (default 30d)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.add_argument("--html", metavar="FILE", help="also write a self-contained HTML page with charts")
    return parser


def run_report(args: argparse.Namespace | Sequence[str], out: TextIO | None = None, *, settings: Any = None,
               now: datetime | None = None, err: TextIO | None = None) -> int:
    """Exit 0 with the report printed; 2 (one line on ``err``) for a bad --since or an unwritable --html."""
    out, err = out or sys.stdout, err or sys.stderr
    if not isinstance(args, argparse.Namespace):
        args = add_report_arguments(argparse.ArgumentParser(prog="itbot report")).parse_args(list(args))
    now = now or datetime.now(timezone.utc).replace(microsecond=0)
    try:
        since = parse_since(args.since, now)
    except ReportError as exc:
        print(f"itbot: error: {exc}", file=err)
        return 2
    report = load_report(settings, since, now)
    if args.html:
        path = Path(args.html)
        try:
            path.write_text(render_html(report), encoding="utf-8")
        except OSError as exc:
            print(f"itbot: error: cannot write {path}: {exc.strerror}", file=err)
            return 2
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, ensure_ascii=False), file=out)
    else:
        print(render_text(report), file=out)
    if args.html:
        print(f"report page written to {path.resolve()}", file=err if args.json else out)
    return 0


def load_report(settings: Any, since: datetime, now: datetime) -> Report:
    from bot.settings import Settings
    from connectors.store import build_store
    from workflows.teams import load_teams

    settings = settings or Settings.from_env(require_slack=False)
    teams = load_teams(settings.config_dir)
    gaps = gap_finder(settings.config_dir, teams)
    store = build_store(settings.database_url)
    try:
        return report_for(store, teams, since, now, gaps=gaps)
    finally:
        store.close()


def gap_finder(config_dir: Any, teams: Any) -> Any:
    """Knowledge gaps read through config/lexicon.yaml and owned as config/routing.yaml routes."""
    from workflows.gaps import GapFinder
    from workflows.routing import load_routing
    from workflows.triage.lexicon import Lexicon

    return GapFinder.from_rules(Lexicon.from_config(Path(config_dir)), teams, load_routing(config_dir, teams))


def report_for(store: Any, teams: Any, since: datetime, now: datetime, *, gaps: Any = None) -> Report:
    """The report over an open store (the clock's weekly summary and the demo use this); ``gaps`` a
    ``workflows.gaps.GapFinder`` for the knowledge gaps."""
    from connectors.store.reports import report_rows

    rows = report_rows(store, since)
    return build_report(requests=rows.requests, answers=rows.answers, runs=rows.runs, steps=rows.steps,
                        teams=teams, now=now, since=since, run_done_at=rows.run_done_at, gaps=gaps)


# ------------------------------------------------------------------ text

def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    cells = [header] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def fmt(row: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))

    return [fmt(cells[0]), "  ".join("-" * w for w in widths)] + [fmt(r) for r in cells[1:]]


def _span(report: Report) -> str:
    return f"{report.since:%Y-%m-%d %H:%M} to {report.until:%Y-%m-%d %H:%M} UTC"


def render_text(report: Report) -> str:
    names, prios = report.team_names, list(report.by_priority)
    lines = [f"IT report, {_span(report)}", "", f"Requests opened: {report.requests_opened}"]
    if report.by_team:
        rows = [[names[t]] + [m[p] for p in prios] + [report.by_team[t]] for t, m in report.by_team_priority.items()]
        rows.append(["all teams"] + [report.by_priority[p] for p in prios] + [report.requests_opened])
        lines += _table(["team"] + prios + ["total"], rows)
    lines += ["", "Response and resolution times, in business hours", f"  {DURATION_DEFINITION}"]
    rows = [_time_row(names[t], report.first_response_by_team[t], report.resolution_by_team[t])
            for t in report.by_team]
    rows.append(_time_row("all teams", report.first_response, report.resolution))
    lines += _table(["team", "responded", "median", "p90", "resolved", "median", "p90"], rows)
    lines += ["", f"SLA breaches: {_numbers(report.sla_breaches)}",
              f"First response late: {_numbers(report.first_response_late)}", "",
              f"Deflection: {percent(report.deflection_rate)} = {report.solved} solved / "
              f"({report.answered} answered questions + {report.requests_opened} requests opened)",
              f"  defined as {DEFLECTION_DEFINITION}", "", "Top unanswered questions"]
    lines += [f"  {n:>4}  {q}" for q, n in report.unanswered] or ["  (none)"]
    lines += ["", "Knowledge gaps by team (unanswered questions grouped by meaning), biggest first"]
    for team in dict.fromkeys(g.team for g in report.knowledge_gaps):
        lines.append(f"  {report.team_names.get(team, team)}")
        lines += [f"    {g.count:>4}×  {g.question}  ({g.askers} asker{'s' if g.askers != 1 else ''}, last "
                  f"{g.last_asked:%Y-%m-%d})" if g.last_asked else f"    {g.count:>4}×  {g.question}"
                  for g in report.knowledge_gaps if g.team == team]
    if not report.knowledge_gaps:
        lines.append("  (none)")
    lead = report.onboarding_lead_time
    lines += ["", "Onboarding",
              f"  lead time (run created to done, calendar time): median {human_duration(lead.median)}, "
              f"p90 {human_duration(lead.p90)}, over {lead.count} finished run(s)",
              f"  steps automated: {report.steps_automated} of {report.steps_done} done steps "
              f"({percent(report.automated_share)})"]
    return "\n".join(lines)


def _time_row(name: str, first: Durations, resolved: Durations) -> list[Any]:
    return [name, first.count, business_duration(first.median), business_duration(first.p90),
            resolved.count, business_duration(resolved.median), business_duration(resolved.p90)]


def _numbers(numbers: tuple[str, ...]) -> str:
    return f"{len(numbers)}" + (f" ({', '.join(numbers)})" if numbers else "")


# ------------------------------------------------------------------ HTML

def bar_chart(title: str, items: list[tuple[str, float, str]], colour: str = "#3b6ea8") -> dict[str, Any]:
    """Geometry for one horizontal bar chart: (label, value, text shown at the bar's end) per bar."""
    top = max((v for _, v, _ in items), default=0) or 1
    bars = [{"label": label, "text": text, "y": i * (BAR_HEIGHT + BAR_GAP),
             "width": round(BAR_AREA * value / top, 1) if value > 0 else 0}
            for i, (label, value, text) in enumerate(items)]
    return {"title": title, "bars": bars, "colour": colour, "label_width": LABEL_WIDTH, "bar_area": BAR_AREA,
            "bar_height": BAR_HEIGHT, "width": LABEL_WIDTH + BAR_AREA + 90,
            "height": max(len(bars), 1) * (BAR_HEIGHT + BAR_GAP)}


def _charts(report: Report) -> list[dict[str, Any]]:
    names = report.team_names

    def medians(by_team: Mapping[str, Durations]) -> list[tuple[str, float, str]]:
        return [(names[t], d.median.total_seconds() / 3600 if d.median else 0, business_duration(d.median))
                for t, d in by_team.items()]

    charts = [
        bar_chart("Requests by team", [(names[t], n, str(n)) for t, n in report.by_team.items()]),
        bar_chart("Requests by priority", [(p, n, str(n)) for p, n in report.by_priority.items()], "#c0703a"),
        bar_chart("Median time to first response by team (business hours)", medians(report.first_response_by_team),
                  "#4f8f5b"),
        bar_chart("Median time to resolution by team (business hours)", medians(report.resolution_by_team), "#7a5aa6"),
        bar_chart("Top unanswered questions", [(_clip(q), n, str(n)) for q, n in report.unanswered], "#a84b4b"),
        bar_chart("Knowledge gaps (team: question)",
                  [(_clip(f"{names.get(g.team, g.team)}: {g.question}"), g.count, str(g.count))
                   for g in report.knowledge_gaps[:10]], "#8a6d3b"),
    ]
    return [c for c in charts if c["bars"]]


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_html(report: Report) -> str:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    return env.get_template("report.html.j2").render(
        r=report, span=_span(report), charts=_charts(report), duration=human_duration, business=business_duration,
        percent=percent, deflection_definition=DEFLECTION_DEFINITION, duration_definition=DURATION_DEFINITION)
