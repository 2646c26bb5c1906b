"""The first sync after 1 and after 100 changes: ModelDict against the original's.

    python -m benchmarks.incremental_model [--size N] [--rounds N]

As in paired.py, our ModelDict (PostgreSQL, memcached) and the original
durabledict 0.9.4's ModelDict live in one process, on the same database and cache,
and take turns: a second instance of each changes *n* keys of a store of
``--size`` keys, one write each, then the reader's ``sync()`` is timed. Ours reads
the changed rows and tombstones only; the original reloads every row. The ratio is
the median of the per-pair ratios; the queries of each of our syncs are counted.
Needs ``durabledict==0.9.4`` importable, PostgreSQL and memcached (see README.md).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from benchmarks import djangoenv, services
from benchmarks.systems import by_name
from benchmarks.systems.base import key_name

CHANGES = (1, 100)


def _pair(ours: tuple, theirs: tuple, changes: int, rounds: int) -> dict[str, Any]:
    """Each side is ``(reader, write)``; returns the medians and the ratio."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    samples: list[list[float]] = [[], []]
    queries = []
    for number in range(rounds + 2):  # two warm-up pairs
        for side, (reader, write) in enumerate((ours, theirs)):
            for i in range(changes):
                write(key_name(i * 7 % 1000), number * 1000 + i)
            with CaptureQueriesContext(connection) as captured:
                start = time.perf_counter_ns()
                reader.sync()
                elapsed = time.perf_counter_ns() - start
            if number >= 2:
                samples[side].append(elapsed)
                if side == 0:
                    queries.append(len(captured))
    ratios = [mine / other for mine, other in zip(*samples, strict=True)]
    return {
        "changes": changes,
        "ours_ms": statistics.median(samples[0]) / 1e6,
        "original_ms": statistics.median(samples[1]) / 1e6,
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "queries": sorted(set(queries)),
        "rounds": rounds,
    }


def model_pairs(context: dict[str, Any], size: int, rounds: int) -> list[dict]:
    from django.core.management import call_command

    ours = by_name("ours-model-pg-memcached")(context)
    djangoenv.configure(context, ours)
    call_command("migrate", run_syncdb=True, verbosity=0)
    original = by_name("original-model-pg-memcached")(context)
    ours.populate(size)
    original.populate(size)
    reader, writer = ours.build(), ours.build()
    theirs, theirs_writer = original._make(False), original._make(False)
    return [
        _pair(
            (reader, writer.__setitem__),
            (theirs, theirs_writer.__setitem__),
            changes,
            rounds,
        )
        | {"size": size}
        for changes in CHANGES
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.incremental_model")
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=15)
    options = parser.parse_args(argv)
    with services.started({"postgresql", "memcached"}) as context:
        if not (context["postgresql"] and context["memcached"]):
            raise SystemExit("needs PostgreSQL and memcached (see README.md)")
        rows = model_pairs(context, options.size, options.rounds)
        from django.db import connections

        connections.close_all()  # before the run's database is dropped
    for row in rows:
        print(
            f"ModelDict {row['size']:>6,} keys, {row['changes']:>3} changed: "
            f"ours {row['ours_ms']:.2f} ms ({row['queries']} queries), original "
            f"{row['original_ms']:.2f} ms, ratio {row['ratio']:.3f} "
            f"({row['ratio_min']:.3f}–{row['ratio_max']:.3f}, {row['rounds']} pairs)"
        )


if __name__ == "__main__":
    main()
