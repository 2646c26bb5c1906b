"""(d) and (e): another process writes one key; this one keeps serving requests.

Each round: read the key, have the writer change it and wait for its
acknowledgement, then run requests (paced, so background threads such as kazoo's
get the interpreter) until one returns the new value. Recorded: the time from the
acknowledgement to the end of that request, how many requests it took, and how
long that request was: for systems that sync per request it is the request that
reloads. One more round is run with the counters on, for its round trips.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from typing import Any

from benchmarks.counting import summarize
from benchmarks.measure import build_request, stats
from benchmarks.systems.base import System

PACE_SECONDS = 0.0005


class RemoteWriter:
    """A writer in another OS process: ``python -m benchmarks.worker write``."""

    def __init__(self, system: System, timeout: float) -> None:
        self.timeout = timeout
        argv = [sys.executable, "-m", "benchmarks.worker", "write", system.name]
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            env=os.environ.copy(),
        )
        if self._line(60) != "ready":
            raise RuntimeError(f"the writer of {system.name} did not start")

    def _line(self, timeout: float) -> str:
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError("the writer process did not answer")
        return self.process.stdout.readline().strip()

    def __call__(self, key: str, value: Any) -> int:
        """Write; return the writer's monotonic clock (ns) at acknowledgement."""
        self.process.stdin.write(json.dumps([key, value]) + "\n")
        return int(self._line(self.timeout))

    def close(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class LocalWriter:
    """A writer in this process, for stores that cannot be shared (locmem)."""

    def __init__(self, system: System) -> None:
        self.write = system.writer()

    def __call__(self, key: str, value: Any) -> int:
        self.write(key, value)
        return time.monotonic_ns()

    def close(self) -> None:
        pass


def one_round(request, writer, key, new, timeout, counter=None) -> dict[str, Any]:
    acked = writer(key, new)
    if counter is not None:  # a writer in this process must not be counted
        counter.start()
    deadline = time.monotonic() + timeout
    requests = 0
    while True:
        start = time.monotonic_ns()
        value = request()
        end = time.monotonic_ns()
        requests += 1
        if value == new:
            return {
                "latency_ns": max(0, end - acked),
                "requests": requests,
                "request_ns": end - start,
            }
        if time.monotonic() > deadline:
            return {"latency_ns": None, "requests": requests, "request_ns": None}
        time.sleep(PACE_SECONDS)


def change_rounds(system: System, size: int, options: dict[str, Any], counter):
    """Run the rounds for a store of *size* keys; JSON-ready summary."""
    if not system.reads:
        return None
    from benchmarks.scenarios import request_keys

    remote = system.cross_process
    writer = RemoteWriter(system, options["timeout"]) if remote else LocalWriter(system)
    reader = system.open()
    keys = request_keys(size)
    request = build_request(reader, keys, system.signals)
    try:
        rounds = []
        for number in range(options["change_rounds"] + 1):
            new = system.new_value(number, request())
            if number == options["change_rounds"]:  # the counted round
                counted = one_round(
                    request, writer, keys[-1], new, options["timeout"], counter
                )
                counts = summarize([counter.take()], system.database)
            else:
                timeout = options["timeout"]
                rounds.append(one_round(request, writer, keys[-1], new, timeout))
    finally:
        writer.close()
        reader.close()
    return summarize_rounds(rounds, counted, counts, size, remote)


def summarize_rounds(rounds, counted, counts, size, remote) -> dict[str, Any]:
    seen = [r for r in rounds if r["latency_ns"] is not None]
    result: dict[str, Any] = {
        "size": size,
        "writer": "another process" if remote else "this process",
        "propagated": len(seen) == len(rounds),
        "requests": [r["requests"] for r in rounds],
        "counts": counts,
        "counted_requests": counted["requests"],
    }
    if seen:
        latencies = sorted(r["latency_ns"] for r in seen)
        p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
        result["latency"] = stats(latencies, p99=p99)
        result["first_request"] = stats([r["request_ns"] for r in seen])
    return result
