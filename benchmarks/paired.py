"""(e), paired: our full reload against the original's, in one process.

Two processes measured minutes apart on a shared machine can differ by more than
the effect being measured. Here our dict and the original's live in one process,
on the same database and cache, and take turns: a second instance of each writes
one key, then the reader's ``sync()`` is timed, which reloads the whole store.
The ratio is the median of the per-pair ratios.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from benchmarks.systems import by_name
from benchmarks.systems.base import key_name

#: (our system, the original's system on the same stores).
PAIRS = [
    ("ours-model-pg-memcached", "original-model-pg-memcached"),
    ("ours-redis", "original-redis"),
]


def _reload_timer(system, reader_dict, write, key: str):
    def one(number: int) -> float:
        write(key, system.new_value(number))
        start = time.perf_counter_ns()
        reader_dict.sync()
        return time.perf_counter_ns() - start

    return one


def _timers(ours, original) -> list[Any]:
    from benchmarks.systems.original import OriginalModelDict, OriginalRedisDict

    key = key_name(1)
    ours_timer = _reload_timer(ours, ours.build(), ours.build().__setitem__, key)
    if isinstance(original, OriginalModelDict):
        reader, writer = original._make(False), original._make(False)
    else:
        assert isinstance(original, OriginalRedisDict)
        reader, writer = original._make(), original._make()
    original_timer = _reload_timer(original, reader, writer.__setitem__, key)
    return [ours_timer, original_timer]


def run(ours, original_name: str, size: int, rounds: int) -> dict[str, Any]:
    """Time *rounds* pairs of reloads of *size* keys; ns and the ratio."""
    original = by_name(original_name)(ours.context)
    ours.populate(size)
    original.populate(size)
    timers = _timers(ours, original)
    for number in range(2):  # warm-up: connections, first loads
        for timer in timers:
            timer(number)
    samples: list[list[float]] = [[], []]
    for number in range(rounds):
        for sample, timer in zip(samples, timers, strict=True):
            sample.append(timer(1000 + number))
    ratios = [mine / theirs for mine, theirs in zip(*samples, strict=True)]
    return {
        "original": original_name,
        "size": size,
        "ours": statistics.median(samples[0]),
        "theirs": statistics.median(samples[1]),
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "rounds": rounds,
    }
