"""Code run in other OS processes (multiprocessing "spawn") by the Redis tests.

Each worker process holds one long-lived RedisDict and answers requests sent
over a pipe, so a test can check that *that* instance converges, not a new one.
"""

from __future__ import annotations

import multiprocessing
import time
from typing import Any

import redis

from django_durabledict.backends.redis import RedisDict

_TIMEOUT = 60


def serve(pipe: Any, host: str, port: int, keyspace: str, autosync: bool) -> None:
    client = redis.Redis(host=host, port=port, decode_responses=True, socket_timeout=5)
    durable = RedisDict(keyspace, client, autosync=autosync)
    while True:
        request = pipe.recv()
        if request is None:
            break
        operation, args = request
        pipe.send(OPERATIONS[operation](durable, *args))
    client.close()


def _write(durable: RedisDict, prefix: str, count: int) -> None:
    for i in range(count):
        durable[f"{prefix}{i}"] = i
        durable["shared"] = f"{prefix}{i}"


def _pop(durable: RedisDict, keys: list[str]) -> list[str]:
    return [key for key in keys if durable.pop(key, None) is not None]


def _setdefault(durable: RedisDict, keys: list[str], value: Any) -> dict:
    return {key: durable.setdefault(key, value) for key in keys}


def _snapshot(durable: RedisDict) -> dict:
    durable.sync()
    return durable.copy()


def _read(durable: RedisDict, key: str) -> Any:
    return durable.get(key)  # with autosync on: one GET, a reload if changed


OPERATIONS = {
    "write": _write,
    "pop": _pop,
    "setdefault": _setdefault,
    "snapshot": _snapshot,
    "read": _read,
}


class Worker:
    """One spawned process holding one RedisDict on *keyspace*."""

    def __init__(self, host: str, port: int, keyspace: str, autosync=False) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipe, child = context.Pipe()
        self.process = context.Process(
            target=serve, args=(child, host, port, keyspace, autosync), daemon=True
        )
        self.process.start()

    def send(self, operation: str, *args: Any) -> None:
        self.pipe.send((operation, args))

    def receive(self) -> Any:
        if not self.pipe.poll(_TIMEOUT):
            raise TimeoutError(f"worker {self.process.pid} did not answer")
        return self.pipe.recv()

    def call(self, operation: str, *args: Any) -> Any:
        self.send(operation, *args)
        return self.receive()

    def stop(self) -> None:
        if self.process.is_alive():
            self.pipe.send(None)
            self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


# -- Sentinel failover: a writer and readers going through redis-py's Sentinel --


def sentinel_dict(sentinel_port: int, keyspace: str, autosync: bool) -> RedisDict:
    """A RedisDict on the Sentinel primary "primary", with the recommended
    options and short timeouts; unreachable stores are retried at every sync."""
    from redis.sentinel import Sentinel

    from django_durabledict.backends.redis import recommended_client_options

    options = {
        **recommended_client_options(),
        "socket_timeout": 0.25,
        "socket_connect_timeout": 0.25,
        "decode_responses": True,
    }
    sentinel = Sentinel([("127.0.0.1", sentinel_port)], socket_timeout=0.25)
    durable = RedisDict(keyspace, sentinel.master_for("primary", **options), autosync)
    durable.retry_interval = 0.0
    return durable


def sentinel_writer(port, keyspace, stop, acked_count, results) -> None:
    """Write k<i> = i for i = 1, 2, ... until *stop*, about 100 a second; report
    which i were acknowledged and which failed (outcome unknown), with times."""
    durable = sentinel_dict(port, keyspace, autosync=False)
    acked, failed, i = [], [], 0
    while not stop.is_set():
        i += 1
        try:
            durable[f"k{i}"] = i
        except redis.RedisError:
            failed.append((i, time.monotonic()))
            time.sleep(0.02)
        else:
            acked.append((i, time.monotonic()))
            acked_count.value = len(acked)
            time.sleep(0.01)
    results.put(("writer", {"acked": acked, "failed": failed}))


def sentinel_reader(port, keyspace, name, final, results) -> None:
    """Sync in a loop, recording (time, newest i in the snapshot) at each change;
    once *final* is set, sync exactly once more and report the snapshot."""
    durable = sentinel_dict(port, keyspace, autosync=False)
    seen, syncs = [], 0
    while not final.is_set():
        durable.sync()
        syncs += 1
        newest = max((v for v in durable.values() if isinstance(v, int)), default=0)
        if not seen or seen[-1][1] != newest:
            seen.append((time.monotonic(), newest))
        time.sleep(0.01)
    # The first sync that reaches Redis after the final write was acknowledged.
    # A sync within retry_interval of a failed one does not try the server (the
    # documented retry schedule), so sync until one has reached it.
    # Reconnect through Sentinel first: a connection opened before the failover
    # may still point at the demoted primary (docs/backends/redis.rst).
    durable.connection.connection_pool.disconnect()
    deadline = time.monotonic() + 10
    durable.sync()
    while durable.stale_since is not None and time.monotonic() < deadline:
        time.sleep(0.05)
        durable.sync()
    report = {"seen": seen, "syncs": syncs, "snapshot": durable.copy()}
    results.put((name, report))
