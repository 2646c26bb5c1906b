"""Timing: generated loops, calibrated rounds, medians with min and max.

The loops are generated from one template per read spelling so that every system
runs the very same bytecode around its reads: the plain dict's ``d[k]`` and ours
differ only in the object read, never in the loop around it.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.systems.base import Reader

READ = {
    "subscript": "target[key]",
    "call": "target(key)",
    "getattr": "getattr(target, key)",
    "registry": "registry[alias][key]",
}

REQUEST = """
def request():
    {started}
    {hook}
    value = None
    for key in keys:
        value = {read}
    {finished}
    return value
"""

READS = """
def reads(loops):
    for _ in range(loops):
        for key in keys:
            {read}
"""


def _compile(source: str, name: str, namespace: dict[str, Any]) -> Callable:
    exec(compile(source, f"<benchmark {name}>", "exec"), namespace)
    return namespace[name]


def build_request(reader: Reader, keys: Sequence[str], signals: bool) -> Callable:
    """One request: Django's request signals (if *signals*), the system's hook,
    then one read of each of *keys*; returns the value of the last key."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.signals import request_finished, request_started

    environ: dict[str, Any] = {}
    names = {"keys": list(keys), "target": reader.target, "hook_": reader.hook}
    names |= {"rs": request_started, "rf": request_finished, "H": WSGIHandler}
    names["environ"] = environ
    read = READ.get(reader.read_kind, "None")
    source = REQUEST.format(
        started="rs.send(sender=H, environ=environ)" if signals else "pass",
        hook="hook_()" if reader.hook else "pass",
        read=read if reader.read_kind != "none" else "None",
        finished="rf.send(sender=H)" if signals else "pass",
    )
    if reader.read_kind == "none":
        source = source.replace("for key in keys:", "for key in ():")
    return _compile(source, "request", names)


def build_reads(reader: Reader, keys: Sequence[str], registry: bool = False):
    """``reads(loops)``: *loops* passes of one read of each of *keys*."""
    names: dict[str, Any] = {"keys": list(keys), "target": reader.target}
    kind = reader.read_kind
    if registry:
        names["registry"], names["alias"] = reader.registry
        kind = "registry"
    return _compile(READS.format(read=READ[kind]), "reads", names)


def timed(func: Callable[[int], Any], loops: int) -> int:
    start = time.perf_counter_ns()
    func(loops)
    return time.perf_counter_ns() - start


def measure(
    func: Callable[[int], Any],
    units_per_loop: int,
    rounds: int,
    round_seconds: float,
    warmup_seconds: float,
) -> dict[str, Any]:
    """Time ``func(loops)``; return ns per unit: median, min, max over *rounds*.

    *loops* is calibrated so that one round lasts about *round_seconds*. The
    garbage collector is off inside a round, as in :mod:`timeit`."""
    once = max(timed(func, 1), 1)
    loops = max(1, int(round_seconds * 1e9 / once))
    deadline = time.perf_counter() + warmup_seconds
    while time.perf_counter() < deadline:
        func(max(1, loops // 4))
    samples = []
    gc.collect()
    for _ in range(rounds):
        gc.disable()
        try:
            samples.append(timed(func, loops) / (loops * units_per_loop))
        finally:
            gc.enable()
    return stats(samples, loops=loops)


def measure_against(
    func: Callable[[int], Any],
    control: Callable[[int], Any],
    units_per_loop: int,
    rounds: int,
    round_seconds: float,
    warmup_seconds: float,
) -> dict[str, Any]:
    """Time *func* and *control* in alternate rounds of the same process.

    Returns the stats of both, in ns per unit, and of their ratio round by round:
    a ratio taken a few milliseconds apart does not drift with the machine's load
    the way two measurements taken minutes apart in two processes can."""
    calibrated = []
    for f in (func, control):
        once = max(timed(f, 1), 1)
        calibrated.append((f, max(1, int(round_seconds * 1e9 / once))))
    deadline = time.perf_counter() + warmup_seconds
    while time.perf_counter() < deadline:
        for f, loops in calibrated:
            f(max(1, loops // 4))
    samples: list[list[float]] = [[], []]
    gc.collect()
    for _ in range(rounds):
        gc.disable()
        try:
            for sample, (f, loops) in zip(samples, calibrated, strict=True):
                sample.append(timed(f, loops) / (loops * units_per_loop))
        finally:
            gc.enable()
    ratios = [mine / theirs for mine, theirs in zip(*samples, strict=True)]
    return {
        **stats(samples[0], loops=calibrated[0][1]),
        "control": stats(samples[1]),
        "ratio": stats(ratios),
    }


def stats(samples: Sequence[float], **extra: Any) -> dict[str, Any]:
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "rounds": len(samples),
        **extra,
    }


def repeat_request(request: Callable[[], Any]) -> Callable[[int], None]:
    def run(loops: int) -> None:
        for _ in range(loops):
            request()

    return run
