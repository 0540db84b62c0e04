"""itbot's benchmarks: ``python -m benchmarks`` (``make bench``).

Each benchmark is a function registered with ``@benchmark(name, description)`` in a module
listed in ``registry.BENCHMARK_MODULES``. It receives a ``Context`` and returns a list of
``Measurement``; a target (``at_most``, ``below``, ``at_least``) turns a measurement into a
pass/fail row. Raise ``Skip(reason)`` when something it needs is not there yet.

Speed and memory targets live here, never in timed unit tests.
"""
from benchmarks.registry import (Context, Measurement, Skip, Target, at_least, at_most, below,  # noqa: F401
                                 benchmark)
