"""python -m benchmarks [--only NAME ...] [--json PATH] [--quick]

Runs the registered benchmarks, prints a table and writes the rows as JSON. Exits 0 when every
benchmark ran (whether or not it met its targets: the table says), 1 when one crashed.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from pathlib import Path

from benchmarks.registry import BENCHMARK_MODULES, REGISTRY, Context, Skip
from benchmarks.report import Row, print_table, write_json


def load_modules() -> list[Row]:
    """Import every benchmark module (which registers its benchmarks); one that fails becomes an error row."""
    broken = []
    for module in BENCHMARK_MODULES:
        try:
            importlib.import_module(module)
        except Exception as exc:
            print(f"cannot import {module}:", file=sys.stderr)
            traceback.print_exc(file=sys.stderr)
            broken.append(Row.crashed(module.rpartition(".")[2], exc))
    return broken


def main(argv: list[str] | None = None) -> int:
    broken = load_modules()
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description="Run itbot's benchmarks.")
    known = sorted({*REGISTRY, *(row.benchmark for row in broken)})
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=known,
                        help="run only these benchmarks (choices: %(choices)s)")
    parser.add_argument("--json", type=Path, default=Path("bench-results.json"), metavar="PATH",
                        help="where to write the results (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="smaller counts: a smoke run, not a measurement")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)

    if args.list:
        for bench in REGISTRY.values():
            print(f"{bench.name:20} {bench.description}")
        return 0

    ctx = Context(quick=args.quick)
    wanted = set(args.only or known)
    rows: list[Row] = [row for row in broken if row.benchmark in wanted]
    crashed = bool(rows)
    for bench in (b for b in REGISTRY.values() if b.name in wanted):
        quick = " (quick)" if args.quick else ""
        print(f"running {bench.name}{quick}: {bench.description}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            rows.extend(Row.measured(bench.name, m) for m in bench.run(ctx))
        except Skip as skip:
            rows.append(Row.skipped(bench.name, str(skip)))
        except Exception as exc:  # a crash is reported, and the remaining benchmarks still run
            crashed = True
            traceback.print_exc(file=sys.stderr)
            rows.append(Row.crashed(bench.name, exc))
        print(f"  {bench.name} took {time.perf_counter() - started:.1f}s", file=sys.stderr, flush=True)

    print(file=sys.stderr)
    print_table(rows, sys.stdout)
    write_json(rows, args.json)
    print(f"\nresults written to {args.json}")
    if args.quick:
        print("(--quick: small counts, for a smoke run only)")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
