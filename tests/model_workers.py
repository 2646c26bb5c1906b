"""Code run in other OS processes (multiprocessing "spawn") by the ModelDict race
and fault tests.

Each worker configures Django like the test run (same settings module, and the
test databases' real names, which only exist after the parent created them), holds
one long-lived ModelDict and answers requests sent over a pipe, so a test checks
that *that* instance converges, not a fresh one.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import time
from typing import Any

_TIMEOUT = 120


def _configure(databases: dict[str, str], caches: dict[str, dict]) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    from django.conf import settings

    for alias, name in databases.items():
        settings.DATABASES[alias]["NAME"] = name
    settings.CACHES.update(caches)
    import django

    django.setup()


class _Counting(logging.Handler):
    """Counts this process's outage warnings and recovery lines."""

    counts = {"outage": 0, "recovered": 0}

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "cannot read its version token" in message:
            self.counts["outage"] += 1
        elif "answers again" in message:
            self.counts["recovered"] += 1


def serve(pipe: Any, setup: dict, options: dict) -> None:
    _configure(setup["databases"], setup.get("caches", {}))
    logging.getLogger("django_durabledict").addHandler(_Counting())
    from django_durabledict.backends.model import ModelDict

    durable = ModelDict(None, **options)
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
    from django.db import connections

    connections.close_all()


def _write(durable: Any, items: dict) -> None:
    for key, value in items.items():
        durable[key] = value


def _get(durable: Any, key: str) -> Any:
    durable.sync()
    return durable.get(key)


def _one_sync(durable: Any, key: str) -> Any:
    """Exactly one sync, then a read that does not sync again."""
    autosync, durable.autosync = durable.autosync, False
    try:
        durable.sync()
        return durable.get(key)
    finally:
        durable.autosync = autosync


def _snapshot(durable: Any) -> dict:
    durable.sync()
    return durable.copy()


def _peek(durable: Any) -> dict:
    return durable.copy()  # no sync (autosync off): what this process holds


def _pop(durable: Any, keys: list) -> list:
    absent = object()
    return [key for key in keys if durable.pop(key, absent) is not absent]


def _burst(durable: Any, prefix: str, count: int, start_at: float) -> tuple:
    while time.time() < start_at:  # all processes start together
        pass
    first = time.time()
    for i in range(count):
        durable[f"{prefix}{i}"] = i
    return first, time.time()


def _apply_burst(durable: Any, prefix: str, count: int, start_at: float) -> tuple:
    """All *count* keys in one transaction (the bulk hook durabledict_load uses)."""
    while time.time() < start_at:
        pass
    first = time.time()
    durable._apply({f"{prefix}{i}": i for i in range(count)}, [])
    return first, time.time()


def _long_transaction(durable: Any, pipe_key: str, value: Any, hold: Any) -> str:
    """Write inside a transaction and keep it open until the file *hold* exists."""
    from django.db import transaction

    with transaction.atomic(using=durable.using):
        durable[pipe_key] = value
        _wait_for(hold)
        if os.path.exists(hold + ".rollback"):
            transaction.set_rollback(True, using=durable.using)
            return "rolled back"
    return "committed"


def _die_after_commit(durable: Any, key: str, value: Any) -> None:
    """Commit a write, then die before the on-commit hook that bumps the token:
    hooks run in registration order, and this one is registered first."""
    from django.db import transaction

    with transaction.atomic(using=durable.using):
        transaction.on_commit(lambda: os._exit(0), using=durable.using)
        durable[key] = value


def _wait_for(path: str, timeout: float = _TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(path)
        time.sleep(0.01)


def _read_loop(durable: Any, key: str, stop: str, slow: float) -> dict:
    """Autosync reads until the file *stop* exists: the longest read, how many
    took longer than *slow* seconds, the count, and any read that raised."""
    longest, count, slow_reads, failures = 0.0, 0, 0, []
    while not os.path.exists(stop):
        started = time.monotonic()
        try:
            durable.get(key)
        except Exception as exc:
            failures.append(repr(exc))
        elapsed = time.monotonic() - started
        longest = max(longest, elapsed)
        slow_reads += elapsed > slow
        count += 1
        time.sleep(0.002)
    return {
        "longest": longest,
        "reads": count,
        "slow_reads": slow_reads,
        "failures": failures,
        "outage_warnings": _Counting.counts["outage"],
    }


OPERATIONS = {
    "write": _write,
    "get": _get,
    "one_sync": _one_sync,
    "snapshot": _snapshot,
    "peek": _peek,
    "pop": _pop,
    "burst": _burst,
    "apply_burst": _apply_burst,
    "long_transaction": _long_transaction,
    "die_after_commit": _die_after_commit,
    "read_loop": _read_loop,
}


class Worker:
    """One spawned process holding one ModelDict built with *options*."""

    def __init__(self, setup: dict, **options: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipe, child = context.Pipe()
        self.process = context.Process(
            target=serve, args=(child, setup, options), daemon=True
        )
        self.process.start()

    def wait_ready(self) -> Worker:
        assert self.receive() == "ready"
        return self

    def send(self, operation: str, *args: Any) -> None:
        self.pipe.send((operation, args))

    def receive(self) -> Any:
        if not self.pipe.poll(_TIMEOUT):
            raise TimeoutError(f"worker {self.process.pid} did not answer")
        answer = self.pipe.recv()
        if isinstance(answer, tuple) and answer and answer[0] == "error":
            raise AssertionError(f"worker {self.process.pid}: {answer[1]}")
        return answer

    def call(self, operation: str, *args: Any) -> Any:
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


def start_workers(setup: dict, count: int, **options: Any) -> list[Worker]:
    """Start *count* workers in parallel, then wait until each has loaded."""
    workers = [Worker(setup, **options) for _ in range(count)]
    for worker in workers:
        worker.wait_ready()
    return workers
