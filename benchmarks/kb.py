"""The knowledge base: right decisions on the held-out KB evaluation set, as the bot would take them.

Scores ``benchmarks/data/kb-eval.jsonl`` (questions written from the articles' subjects, a quarter with no
answer, in English with typos, German, French, Spanish and Portuguese; never tuned on) through the same
decision `itbot kb eval` and the help desk use: right (the right article, or nothing when none answers),
confident wrong answers, no answer; and the time per message of triage plus the article decision.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from benchmarks.registry import Context, Measurement, Skip, at_least, at_most, below, benchmark
from benchmarks.stats import mean, percentile

RIGHT_TARGET = 0.85
WRONG_TARGET = 0.03
LATENCY_TARGET_MS = 20.0
MAX_MISSES_IN_NOTES = 8


def eval_file(ctx: Context) -> Path:
    override = os.environ.get("ITBOT_KB_EVAL_FILE")
    return Path(override) if override else ctx.repo_root / "benchmarks" / "data" / "kb-eval.jsonl"


@benchmark("kb", "knowledge-base answers on the held-out KB eval set: right / wrong article / no answer; latency")
def run(ctx: Context) -> list[Measurement]:
    from bot.kb_cli import read_labelled
    from bot.triage_cli import bot_decision
    from connectors.services import load_helpdesk_config
    from workflows.triage.answers import score

    path = eval_file(ctx)
    if not path.is_file():
        raise Skip(f"no KB evaluation file at {path} (set ITBOT_KB_EVAL_FILE)")
    started = time.perf_counter()
    config = load_helpdesk_config(ctx.repo_root / "config")
    load_ms = (time.perf_counter() - started) * 1000
    rows = read_labelled(path, config["kb"])
    result = score(rows, lambda text: bot_decision(text, config))

    misses = [f"{o.text[:50]!r}: {o.verdict} ({o.got}, expected {o.expected})"
              for o in result.outcomes if o.verdict != "right"]
    shown = "; ".join(misses[:MAX_MISSES_IN_NOTES]) + (f"; and {len(misses) - MAX_MISSES_IN_NOTES} more"
                                                      if len(misses) > MAX_MISSES_IN_NOTES else "")
    note = (f"{result.total} labelled questions from {path}; {result.count('no_answer')} without an answer "
            f"({result.clarified} of them asked \"did you mean A or B?\", {result.clarified_right} with the right "
            f"article among the two)" + (f". Misses: {shown}" if misses else "."))

    texts = [text for text, _ in rows]
    for text in texts:   # untimed pass
        bot_decision(text, config)
    passes = 2 if ctx.quick else 10
    latencies = []
    for _ in range(passes):
        for text in texts:
            t0 = time.perf_counter()
            bot_decision(text, config)
            latencies.append((time.perf_counter() - t0) * 1000)
    latency_note = (f"Wall time per message of triage (classify, rank the articles, decide) and routing, as "
                    f"`itbot kb eval` takes it; {passes} passes over the {len(texts)} questions.")
    return [
        Measurement("right decisions", result.rate("right"), "fraction", at_least(RIGHT_TARGET), notes=note),
        Measurement("confident wrong answers", result.rate("wrong_article"), "fraction", at_most(WRONG_TARGET),
                    notes=note),
        Measurement("no answer", result.rate("no_answer"), "fraction", notes=note),
        Measurement("decision mean", mean(latencies), "ms", below(LATENCY_TARGET_MS), notes=latency_note),
        Measurement("decision p99", percentile(latencies, 99), "ms", below(LATENCY_TARGET_MS), notes=latency_note),
        Measurement("load config/ (model, KB, lexicon)", load_ms, "ms", notes="Once, at start-up; no target."),
    ]
