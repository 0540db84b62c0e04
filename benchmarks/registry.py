"""The benchmark registry and the small vocabulary benchmarks report in.

Adding a benchmark::

    # benchmarks/directory_onboarding.py
    from benchmarks.registry import Context, Measurement, at_most, benchmark

    @benchmark("directory_onboarding", "onboarding through the directory port vs bare ldap3")
    def run(ctx: Context) -> list[Measurement]:
        ...
        return [Measurement("ratio p50 (itbot/bare)", ratio, "x", at_most(1.5), notes="...")]

and add ``"benchmarks.directory_onboarding"`` to ``BENCHMARK_MODULES`` below.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

# Modules imported by `python -m benchmarks`; importing one registers its benchmarks.
BENCHMARK_MODULES: tuple[str, ...] = (
    "benchmarks.slack_latency",
    "benchmarks.triage",
    "benchmarks.kb",
    "benchmarks.directory",
    "benchmarks.digest",
    "benchmarks.worker",
)

REPO_ROOT = Path(__file__).resolve().parents[1]


class Skip(Exception):
    """Raised by a benchmark that cannot run here yet (missing module, data, service)."""


@dataclass(frozen=True)
class Target:
    op: str        # "<=", "<" or ">="
    limit: float

    def met_by(self, value: float) -> bool:
        if self.op == "<=":
            return value <= self.limit
        if self.op == "<":
            return value < self.limit
        if self.op == ">=":
            return value >= self.limit
        raise ValueError(f"unknown comparison {self.op!r}")

    def __str__(self) -> str:
        return f"{self.op} {self.limit:g}"


def at_most(limit: float) -> Target:
    return Target("<=", limit)


def below(limit: float) -> Target:
    return Target("<", limit)


def at_least(limit: float) -> Target:
    return Target(">=", limit)


@dataclass(frozen=True)
class Measurement:
    """One number a benchmark measured; with a target it passes or fails, without one it is information."""
    metric: str
    value: float | None
    unit: str
    target: Target | None = None
    notes: str = ""

    @property
    def ok(self) -> bool | None:
        if self.target is None or self.value is None:
            return None
        return self.target.met_by(self.value)


@dataclass
class Context:
    quick: bool = False
    repo_root: Path = REPO_ROOT

    def progress(self, message: str) -> None:
        """A line on stderr so a long run shows it is alive (stdout is kept for the table)."""
        print(f"  .. {message}", file=sys.stderr, flush=True)


BenchmarkFn = Callable[[Context], "list[Measurement]"]


@dataclass(frozen=True)
class Benchmark:
    name: str
    description: str
    run: BenchmarkFn = field(repr=False)


REGISTRY: dict[str, Benchmark] = {}


def benchmark(name: str, description: str = "") -> Callable[[BenchmarkFn], BenchmarkFn]:
    def register(fn: BenchmarkFn) -> BenchmarkFn:
        if name in REGISTRY and REGISTRY[name].run is not fn:
            raise ValueError(f"benchmark {name!r} is registered twice")
        summary = description or next(iter((fn.__doc__ or "").strip().splitlines()), "")
        REGISTRY[name] = Benchmark(name, summary, fn)
        return fn

    return register
