"""``python -m benchmarks --profile SYSTEM``: where a system's time goes.

Runs pyinstrument over a steady stream of requests (store of ``--size`` keys),
then over hot reads, then over the request that follows a change made by
another instance in this process, and writes the three profiles as text.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.measure import build_reads, build_request
from benchmarks.scenarios import request_keys
from benchmarks.systems.base import System

SECONDS = 2.0


def _profile(func, seconds: float) -> str:
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0002)
    deadline = time.perf_counter() + seconds
    profiler.start()
    while time.perf_counter() < deadline:
        func()
    profiler.stop()
    return profiler.output_text(unicode=True, color=False, show_all=False)


def profile(system: System, size: int) -> str:
    """The three profiles of *system* over a store of *size* keys, as text."""
    system.populate(size)
    reader = system.open()
    keys = request_keys(size)
    request = build_request(reader, keys, system.signals)
    request()
    parts = [f"# {system.label}: {size:,} keys", "", "## Requests, nothing changed"]
    parts.append(_profile(request, SECONDS))
    if system.reads:
        reads = build_reads(reader, keys)
        parts += ["## Hot reads", _profile(lambda: reads(1000), SECONDS)]
        parts += ["## The request after a change", _after_change(system, request)]
    reader.close()
    return "\n".join(parts)


def _after_change(system: System, request) -> str:
    write = system.writer()
    rounds: list[Any] = [0]

    def changed_request() -> None:
        rounds[0] += 1
        write(request_keys(1)[0], system.new_value(rounds[0]))
        request()

    return _profile(changed_request, SECONDS)
