"""Code run in other OS processes (multiprocessing "spawn") by the Redis tests.

Each worker process holds one long-lived RedisDict and answers requests sent
over a pipe, so a test can check that *that* instance converges, not a new one.
"""

from __future__ import annotations

import multiprocessing
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
