"""Code run in other OS processes (multiprocessing "spawn") by the changeset
tests: one long-lived dict per process, of any backend, answering requests sent
over a pipe (see tests/model_workers.py for the model setup)."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import time
from typing import Any

_TIMEOUT = 120
KEYS = [f"k{i}" for i in range(8)]


def build(spec: dict) -> Any:
    kind = spec["kind"]
    if kind == "model":
        from tests.model_workers import _configure

        _configure(spec["databases"], {})
        from django_durabledict.backends.model import ModelDict

        return ModelDict(None, **spec["options"])
    if kind == "redis":
        import redis

        from django_durabledict.backends.redis import RedisDict

        client = redis.Redis(host=spec["host"], port=spec["port"], socket_timeout=10)
        return RedisDict(spec["keyspace"], client, autosync=False)
    from django_durabledict.backends.zookeeper import ZookeeperDict
    from tests.zookeeper_helpers import started

    return ZookeeperDict(spec["root"], started(spec["hosts"]), autosync=False)


def serve(pipe: Any, spec: dict) -> None:
    durable = build(spec)
    pipe.send("ready")
    while True:
        request = pipe.recv()
        if request is None:
            break
        operation, args = request
        try:
            pipe.send(OPERATIONS[operation](durable, *args))
        except Exception as exc:  # reported to the test, which fails on it
            pipe.send(("error", f"{type(exc).__name__}: {exc}"))


def generation_of(snapshot: dict) -> Any:
    """The generation every key of *snapshot* carries, or a description of the
    half-applied state it shows. Generation g sets KEYS to g, and holds "odd"
    exactly when g is odd (added and removed by alternate changesets)."""
    values = {snapshot.get(key) for key in KEYS}
    if len(values) != 1:
        return f"mixed: {snapshot}"
    (generation,) = values
    if generation is None:
        return None if not snapshot else f"partial: {snapshot}"
    if ("odd" in snapshot) != (generation % 2 == 1):
        return f"odd key out of step: {snapshot}"
    return generation


def _write_generations(durable: Any, start: int, count: int, pause: float) -> int:
    for generation in range(start, start + count):
        time.sleep(pause)
        with durable.changeset() as change:
            for key in KEYS:
                change[key] = generation
            if generation % 2:
                change["odd"] = generation
            else:
                change.pop("odd", None)
    return count


def _read_until(durable: Any, stop: str) -> dict:
    """Sync and check every snapshot until the file *stop* exists."""
    reads, seen, bad = 0, set(), []
    while True:
        last = os.path.exists(stop)  # one more read after the writer finished
        durable.sync()
        generation = generation_of(durable.copy())
        if isinstance(generation, str):
            bad.append(generation)
        else:
            seen.add(generation)
        reads += 1
        if last:
            break
    return {
        "reads": reads,
        "generations": len(seen),
        "bad": bad[:3],
        "last": generation,
    }


def _increment(durable: Any, count: int, tag: str) -> int:
    """Add one to "counter" *count* times with checked changesets, retrying
    each conflict; returns how many conflicts there were."""
    from django_durabledict.changeset import ChangesetConflict

    conflicts = 0
    for i in range(count):
        while True:
            try:
                with durable.changeset(check=True) as change:
                    change["counter"] = change.get("counter", 0) + 1
                    change[f"{tag}-{i}"] = change["counter"]
                break
            except ChangesetConflict:
                conflicts += 1
    return conflicts


OPERATIONS = {
    "write_generations": _write_generations,
    "read_until": _read_until,
    "increment": _increment,
}


class Worker:
    """One spawned process holding one dict built from *spec*."""

    def __init__(self, spec: dict) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipe, child = context.Pipe()
        self.process = context.Process(target=serve, args=(child, spec), daemon=True)
        self.process.start()

    def send(self, operation: str, *args: Any) -> None:
        self.pipe.send((operation, args))

    def receive(self) -> Any:
        if not self.pipe.poll(_TIMEOUT):
            raise TimeoutError(f"worker {self.process.pid} did not answer")
        answer = self.pipe.recv()
        if isinstance(answer, tuple) and answer and answer[0] == "error":
            raise AssertionError(f"worker {self.process.pid}: {answer[1]}")
        return answer

    def call_result(self, operation: str, *args: Any) -> Any:
        self.send(operation, *args)
        return self.receive()

    def close(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(OSError):
                self.pipe.send(None)
            self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(10)


def start(spec: dict, count: int) -> list[Worker]:
    workers = [Worker(spec) for _ in range(count)]
    for worker in workers:
        assert worker.receive() == "ready"
    return workers
