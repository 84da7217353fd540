"""flowgen's benchmark suite: flowgen against raw Dramatiq, measured in the same run.

Run it with ``python -m benchmarks`` (see docs/performance.md). It starts its own
``redis-server`` on a free port with persistence off, its own worker processes (raw
``dramatiq`` workers for the baseline, ``flowgen worker`` for the engine), measures every
figure several times, prints one table with each median and its ratio to the baseline, and
writes the results as JSON under ``benchmarks/results/``.
"""
