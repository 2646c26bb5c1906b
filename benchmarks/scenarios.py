"""The scenarios, run inside one worker process per system.

(a) hot read, (b) one request at several store sizes, (c) counts per request,
(d) propagation of another process's write, (e) the first request after that
write, (f) memory held for the large store. See benchmarks/README.md.
"""

from __future__ import annotations

import gc
import tracemalloc
from importlib.util import find_spec
from typing import Any

from benchmarks import paired
from benchmarks.counting import RoundTripCounter, per_request, summarize
from benchmarks.measure import (
    build_reads,
    build_request,
    measure_against,
    repeat_request,
)
from benchmarks.propagation import change_rounds
from benchmarks.systems.base import Reader, System, key_name

READS_PER_REQUEST = 100


def request_keys(size: int) -> list[str]:
    """100 different keys spread over a store of *size* keys."""
    step = max(1, size // READS_PER_REQUEST)
    return [key_name(i * step) for i in range(min(size, READS_PER_REQUEST))]


def run(system: System, options: dict[str, Any], counter: RoundTripCounter):
    """Every scenario for *system*; returns the JSON-ready result."""
    timing = {k: options[k] for k in ("rounds", "round_seconds", "warmup_seconds")}
    result: dict[str, Any] = {"requests": {}, "counts": {}}
    populated = None
    for size in options["sizes"]:
        system.populate(size)
        populated = size
        reader = system.open()
        keys = request_keys(size)
        request = build_request(reader, keys, system.signals)
        request()  # the first request loads; the steady state is what we time
        result["requests"][size] = measure_against(
            repeat_request(request), repeat_request(plain_request(keys)), 1, **timing
        )
        samples = per_request(counter, request, options["count_requests"])
        result["counts"][size] = summarize(samples, system.database)
        if size == options["sizes"][0] and system.reads:
            result |= hot_reads(reader, keys, timing)
        reader.close()
    large = options["large"]
    if populated != large:
        system.populate(large)
    result["memory"] = memory(system, large)
    change_size = options.get("change_size") or large
    if change_size != large:
        system.populate(change_size)
    result["change"] = change_rounds(system, change_size, options, counter)
    if change_size != large:
        system.populate(large)
    original = dict(paired.PAIRS).get(system.name)
    if original and find_spec("durabledict") is not None:
        result["paired"] = paired.run(system, original, large, options["rounds"] + 1)
    return result


def plain_request(keys: list[str]):
    """The control of a request: the plain dict's 100 reads, nothing else."""
    plain = {(key + ".")[:-1]: 0 for key in keys}  # see hot_reads
    return build_request(Reader(plain), keys, signals=False)


def hot_reads(reader, keys, timing) -> dict[str, Any]:
    """(a): one read outside any request, after the request hook has run, timed
    in alternate rounds with the same read of a plain dict (the control) holding
    the same keys; and ``dicts[alias][key]`` against a plain nested dict."""
    if reader.hook:
        reader.hook()
    # Equal keys but other objects, as in every store: a dict lookup with the
    # very key object it holds skips the string comparison and looks faster.
    plain = {(key + ".")[:-1]: 0 for key in keys}
    control = Reader(plain, registry=({"features": plain}, "features"))
    reads, plain_reads = build_reads(reader, keys), build_reads(control, keys)
    result = {"hot_read": measure_against(reads, plain_reads, len(keys), **timing)}
    if reader.registry is not None:
        reads = build_reads(reader, keys, registry=True)
        plain_reads = build_reads(control, keys, registry=True)
        result["registry_read"] = measure_against(
            reads, plain_reads, len(keys), **timing
        )
    return result


def memory(system: System, size: int) -> dict[str, Any]:
    """(f): bytes allocated and still held after a fresh reader served one
    request over a store of *size* keys (tracemalloc: Python allocations)."""
    warm = system.open()  # imports and one-time set-up are not the dict's cost
    warm.close()
    del warm
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    reader = system.open()
    build_request(reader, request_keys(size), system.signals)()
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    reader.close()
    return {"size": size, "bytes": held}
