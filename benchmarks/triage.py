"""Triage: intent and topic accuracy on the labelled dev set, and how long classify() takes.

Runs against the public API of ``workflows.triage``: ``TriageModel.from_config(config_dir)``
returning a model whose ``classify(text)`` gives an object with ``.intent``, ``.topic`` and
``.confidence``. Until that module exists the benchmark reports itself skipped.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

from benchmarks.registry import Context, Measurement, Skip, at_least, below, benchmark
from benchmarks.stats import mean, percentile

INTENT_TARGET = 0.97
TOPIC_TARGET = 0.94
LATENCY_TARGET_MS = 5.0
LONG_CHARS = 40_000
MAX_MISSES_IN_NOTES = 6


def eval_file(ctx: Context) -> Path:
    override = os.environ.get("ITBOT_EVAL_FILE")
    return Path(override) if override else ctx.repo_root.parent / "shared" / "eval" / "triage-dev.jsonl"


def config_dir(ctx: Context) -> Path:
    return ctx.repo_root / "config"  # the repository's own triage.yaml is what is measured


def load_model_class() -> Any:
    """workflows.triage.TriageModel, or Skip when it is not there yet (a broken module still raises)."""
    try:
        spec = importlib.util.find_spec("workflows.triage")
    except ModuleNotFoundError:
        spec = None
    if spec is None:
        raise Skip("workflows.triage not available")
    module = importlib.import_module("workflows.triage")
    model_class = getattr(module, "TriageModel", None)
    if model_class is None:
        raise Skip("workflows.triage not available (it does not export TriageModel yet)")
    return model_class


def load_examples(path: Path) -> list[dict[str, str]]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                row = json.loads(line)
                if not all(isinstance(row.get(k), str) for k in ("text", "intent", "topic")):
                    raise ValueError(f"{path}:{number}: expected text, intent and topic strings")
                rows.append(row)
    if not rows:
        raise ValueError(f"{path} holds no examples")
    return rows


def long_messages() -> dict[str, str]:
    """Three shapes of a 40,000-character message: a pasted log, rambling prose, one unbroken blob."""
    log_line = ("2024-05-02 09:14:{s:02d} ERROR [OUTLOOK.EXE] MAPI_E_NETWORK_ERROR 0x80040115 while syncing "
                "folder 'Inbox/Projects' on exchange-01.corp.example; retry {n} of 5\n")
    log = "Outlook keeps crashing when I open the shared mailbox, here's the log:\n"
    n = 0
    while len(log) < LONG_CHARS:
        log += log_line.format(s=n % 60, n=n % 5 + 1)
        n += 1
    prose_unit = ("So basically since the update last week my laptop is really slow and the vpn drops whenever "
                  "I join a Teams call, and I can't print to the 3rd floor printer either, not sure if related. ")
    prose = (prose_unit * (LONG_CHARS // len(prose_unit) + 1))
    blob = "my certificate: " + ("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODkw" * (LONG_CHARS // 44 + 1))
    return {"pasted log": log[:LONG_CHARS], "prose": prose[:LONG_CHARS], "unbroken blob": blob[:LONG_CHARS]}


def timed_ms(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


@benchmark("triage", "intent/topic accuracy on the dev set; classify() latency incl. 40,000-char messages")
def run(ctx: Context) -> list[Measurement]:
    model_class = load_model_class()
    path = eval_file(ctx)
    if not path.is_file():
        raise Skip(f"no evaluation file at {path} (set ITBOT_EVAL_FILE)")
    examples = load_examples(path)

    started = time.perf_counter()
    model = model_class.from_config(config_dir(ctx))
    load_ms = (time.perf_counter() - started) * 1000

    # accuracy -------------------------------------------------------------------------
    intent_hits = topic_hits = 0
    misses = []
    for row in examples:
        got = model.classify(row["text"])
        intent_ok, topic_ok = got.intent == row["intent"], got.topic == row["topic"]
        intent_hits += intent_ok
        topic_hits += topic_ok
        if not (intent_ok and topic_ok):
            misses.append(f"{row['text'][:60]!r}: got {got.intent}/{got.topic}, "
                          f"expected {row['intent']}/{row['topic']}")
    total = len(examples)
    shown = "; ".join(misses[:MAX_MISSES_IN_NOTES]) + (f"; and {len(misses) - MAX_MISSES_IN_NOTES} more"
                                                      if len(misses) > MAX_MISSES_IN_NOTES else "")
    accuracy_note = (f"{total} labelled messages from {path}; {len(misses)} with a wrong intent or topic"
                     + (f": {shown}" if misses else "."))

    # latency --------------------------------------------------------------------------
    passes = 3 if ctx.quick else 20
    texts = [row["text"] for row in examples]
    for text in texts:  # one untimed pass so caches and lazy set-up are not billed to the first calls
        model.classify(text)
    latencies = [timed_ms(lambda t=text: model.classify(t)) for _ in range(passes) for text in texts]
    long_runs = 3 if ctx.quick else 20
    long_times = {shape: sorted(timed_ms(lambda t=text: model.classify(t)) for _ in range(long_runs))
                  for shape, text in long_messages().items()}
    long_worst = {shape: times[-1] for shape, times in long_times.items()}
    worst_shape = max(long_worst, key=long_worst.get)
    latency_note = (f"Wall time of model.classify(text) in this process, {passes} passes over the "
                    f"{total} dev-set messages ({len(latencies)} calls) after one untimed pass.")
    long_note = (f"Worst of {long_runs} calls for each of three {LONG_CHARS:,}-character messages (median in "
                 f"brackets): " + ", ".join(f"{shape} {times[-1]:.2f} ms ({percentile(times, 50):.2f})"
                                            for shape, times in long_times.items()) + ".")

    return [
        Measurement("intent accuracy", intent_hits / total, "fraction", at_least(INTENT_TARGET), notes=accuracy_note),
        Measurement("topic accuracy", topic_hits / total, "fraction", at_least(TOPIC_TARGET), notes=accuracy_note),
        Measurement("classify mean", mean(latencies), "ms", below(LATENCY_TARGET_MS), notes=latency_note),
        Measurement("classify p99", percentile(latencies, 99), "ms", below(LATENCY_TARGET_MS), notes=latency_note),
        Measurement(f"classify {LONG_CHARS:,}-char msg (worst: {worst_shape})", long_worst[worst_shape], "ms",
                    below(LATENCY_TARGET_MS), notes=long_note),
        Measurement("model load (from_config)", load_ms, "ms",
                    notes=f"TriageModel.from_config({config_dir(ctx)}) once, at start-up; no target."),
    ]
