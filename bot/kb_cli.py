"""`itbot kb eval FILE.jsonl` and `itbot kb calibrate FILE.jsonl`: check a knowledge-base change on labelled
questions (`{"text": ..., "article": "<id>" | "none"}`), and derive config/answers.yaml's threshold and margin."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from bot.triage_cli import TriageInputError, bot_decision, read_rows
from workflows.triage.answers import Score, calibrate, score

VERDICTS = (("right", "right"), ("wrong_article", "wrong article"), ("no_answer", "no answer"))


def add_kb_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    actions = parser.add_subparsers(dest="kb_action", required=True)
    ev = actions.add_parser("eval", help="score labelled questions: right / wrong article / no answer")
    ev.add_argument("file", type=Path, help='JSON lines: {"text": ..., "article": "<article id>" or "none"}')
    ev.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    ev.add_argument("--misses", action="store_true", help="also list every question not decided right")
    cal = actions.add_parser("calibrate", help="the threshold and margin that decide best on labelled questions")
    cal.add_argument("file", type=Path, help='JSON lines: {"text": ..., "article": "<article id>" or "none"}')
    parser.set_defaults(func=_run)
    return parser


def _run(args: argparse.Namespace) -> int:
    from bot.settings import Settings

    try:
        return run_kb(args, Settings.from_env(require_slack=False).config_dir)
    except TriageInputError as exc:
        print(f"itbot: error: {exc}", file=sys.stderr)
        return 2


def run_kb(args: argparse.Namespace, config_dir: Path, out: TextIO | None = None) -> int:
    from connectors.services import load_helpdesk_config

    out = out or sys.stdout
    config = load_helpdesk_config(config_dir)
    rows = read_labelled(args.file, config["kb"])
    if args.kb_action == "calibrate":
        model, kb = config["model"], config["kb"]
        ranked = [(expected, kb.rank(text, model.classify(text).topic)) for text, expected in rows]
        policy = calibrate(ranked, articles=kb.policy.articles if kb.policy else None)
        print(f"threshold: {policy.threshold}\nmargin: {policy.margin}\n"
              f"# from {len(rows)} labelled questions in {args.file}; put these in config/answers.yaml", file=out)
        return 0
    result = score(rows, lambda text: bot_decision(text, config))
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False), file=out)
    else:
        print(render(result, args.file, misses=args.misses), file=out)
    return 0


def render(result: Score, path: Path, *, misses: bool = False) -> str:
    lines = [f"{result.total} labelled questions from {path}"]
    lines += [f"  {label:<14} {result.count(v):>4}  {result.rate(v):6.1%}" for v, label in VERDICTS]
    lines.append(f"  (of the no answers, {result.clarified} asked \"did you mean A or B?\", "
                 f"{result.clarified_right} with the right article among the two)")
    if misses:
        for o in result.outcomes:
            if o.verdict != "right":
                shown = "/".join(a.id for a in o.decision.choices) if o.decision.choices else o.got
                lines.append(f"  {o.verdict:<14} {o.text!r}: expected {o.expected}, got {shown}")
    return "\n".join(lines)


def read_labelled(path: Path, kb: Any) -> list[tuple[str, str]]:
    rows = []
    for number, row in read_rows(path, ("text", "article")):
        if row["article"] != "none" and kb.get(row["article"]) is None:
            raise TriageInputError(f"{path}:{number}: no article {row['article']!r} in the knowledge base")
        rows.append((row["text"], row["article"]))
    if not rows:
        raise TriageInputError(f"{path}: no labelled questions")
    return rows
