"""Code run in other OS processes ("spawn") by the push tests.

* :func:`writer`: writes ``v = 1, 2, ...`` to a RedisDict (without push: writers
  never need it) and reports each acknowledged value with its monotonic time.
* :func:`serve_reader`: holds one pushed RedisDict and answers "read" requests
  with the value of ``v`` after a sync, so a test can pause that process.

CLOCK_MONOTONIC is one clock for every process of the machine, so times taken in
different processes compare.
"""

from __future__ import annotations

import multiprocessing
import time
from typing import Any

import redis

from django_durabledict.backends.redis import RedisDict


def _client(host: str, port: int) -> redis.Redis:
    return redis.Redis(
        host=host,
        port=port,
        decode_responses=True,
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
    )


def writer(host, port, keyspace, count, pause, results) -> None:
    """Write v = 1..count, *pause* seconds apart; put [(v, acked_at)] and
    [(v, failed_at)] (outcome unknown) on *results*."""
    durable = RedisDict(keyspace, _client(host, port), autosync=False)
    durable.retry_interval = 0.0
    acked, failed = [], []
    for value in range(1, count + 1):
        try:
            durable["v"] = value
        except redis.RedisError:
            failed.append((value, time.monotonic()))
        else:
            acked.append((value, time.monotonic()))
        time.sleep(pause)
    results.put({"acked": acked, "failed": failed})


def start_writer(host, port, keyspace, count, pause) -> tuple[Any, Any]:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(
        target=writer, args=(host, port, keyspace, count, pause, results), daemon=True
    )
    process.start()
    return process, results


def serve_reader(pipe, host, port, keyspace, backstop) -> None:
    durable = RedisDict(
        keyspace, _client(host, port), autosync=False, push=True, push_backstop=backstop
    )
    durable.retry_interval = 0.0
    while True:
        request = pipe.recv()
        if request is None:
            break
        if request == "status":
            pipe.send(durable._push_status())
            continue
        started = time.monotonic()
        durable.sync()
        pipe.send((started, durable.get("v")))
    durable.close()


class Reader:
    """A spawned process holding one pushed RedisDict."""

    def __init__(self, host, port, keyspace, backstop) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipe, child = context.Pipe()
        self.process = context.Process(
            target=serve_reader,
            args=(child, host, port, keyspace, backstop),
            daemon=True,
        )
        self.process.start()

    def call(self, request: str) -> Any:
        self.pipe.send(request)
        if not self.pipe.poll(30):
            raise TimeoutError(f"reader {self.process.pid} did not answer")
        return self.pipe.recv()

    def stop(self) -> None:
        if self.process.is_alive():
            self.pipe.send(None)
            self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def stale_reads(reads, acked, bound: float) -> list:
    """Reads ``(started, value)`` older than a value acknowledged at least
    *bound* seconds before the read started."""
    stale = []
    for started, value in reads:
        due = [v for v, at in acked if at <= started - bound]
        if due and (value or 0) < max(due):
            stale.append((started, value, max(due)))
    return stale
