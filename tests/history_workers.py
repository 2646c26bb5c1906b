"""Programs run in other OS processes by the ModelDict history test.

A *writer* makes random writes (set, pop, setdefault, a bulk apply, clear), now and
then deletes the cache token (a cache flush) and, through its own writes, prunes
tombstones. For each write it records the namespace version the write's
transaction set (from ``versioning.collecting``) with exactly what it changed, and
the snapshot it shows right after (no sync). A *reader* syncs in a loop, sometimes
after a pause long enough to fall behind the pruning horizon, and records the
snapshot it shows with the highest version acknowledged to any writer before the
sync began (a shared counter).
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

from tests.model_workers import _configure

DELETED = "<deleted>"
KEYS = [f"k{i}" for i in range(8)]


def canonical(values: dict) -> str:
    return json.dumps(values, sort_keys=True)


def run(pipe: Any, setup: dict, role: str, options: dict, acked: Any, seed: int):
    _configure(setup["databases"], setup.get("caches", {}))
    from django.db import connections

    from django_durabledict.backends.model import ModelDict

    durable = ModelDict(None, **options)
    loads = _count_loads(durable)
    pipe.send("ready")
    count = pipe.recv()
    rng = random.Random(seed)
    if role == "writer":
        records = [_write_once(durable, rng, acked) for _ in range(count)]
    else:
        records = [_read_once(durable, rng, acked, i) for i in range(count)]
    pipe.send({"records": records, **loads})
    pipe.recv()  # every process is done: the last sync must show the last state
    durable.sync()
    pipe.send(canonical(durable.copy()))
    connections.close_all()


def _count_loads(durable: Any) -> dict:
    counts = {"full": 0, "incremental": 0}
    load, load_changes = durable._load, durable._load_changes

    def counting_load(token: Any) -> Any:
        counts["full"] += 1
        return load(token)

    def counting_changes(since: Any) -> Any:
        changes = load_changes(since)
        counts["incremental"] += changes is not None
        return changes

    durable._load, durable._load_changes = counting_load, counting_changes
    return counts


def _write_once(durable: Any, rng: random.Random, acked: Any) -> tuple:
    from django_durabledict import versioning

    if rng.random() < 0.02:
        durable.token.cache.delete(durable.token.key)  # a cache flush
    with versioning.collecting() as seen:
        changes = _random_write(durable, rng)
    notice = seen.get((durable.using, durable.namespace))
    version = notice.version if notice is not None and notice.ran else None
    if version is not None:
        with acked.get_lock():
            acked.value = max(acked.value, version)
    return version, changes, canonical(durable.copy())


def _random_write(durable: Any, rng: random.Random) -> dict:
    """One write; returns what it changed in the store, if it changed anything."""
    key, value = rng.choice(KEYS), rng.randrange(4)
    kind = rng.choices(["set", "pop", "setdefault", "apply", "clear"], [5, 3, 2, 2, 1])
    if kind[0] == "set":
        durable[key] = value
        return {key: value}
    if kind[0] == "pop":
        found = durable.pop(key, DELETED) != DELETED
        return {key: DELETED} if found else {}
    if kind[0] == "setdefault":
        durable.setdefault(key, value)
        return {key: value}  # recorded only if the key was created (a version)
    if kind[0] == "apply":
        removals = rng.sample(KEYS, 2)
        updates = {rng.choice(KEYS): value}
        durable._apply(updates, removals)
        return {**dict.fromkeys(removals, DELETED), **updates}
    durable.sync()  # as clear() does, with the keys it deletes known to us
    keys = list(durable._stored)
    durable._apply({}, keys)
    return dict.fromkeys(keys, DELETED)


def _read_once(durable: Any, rng: random.Random, acked: Any, index: int) -> tuple:
    # Fall behind the pruning horizon (TOMBSTONE_MAX_AGE 0.3) now and then, and
    # once before the first sync, while the writers write and prune.
    if index == 0 or rng.random() < 0.006:
        time.sleep(1.0)
    lower = acked.value  # acknowledged before this sync starts
    durable.sync()
    return lower, canonical(durable.copy())
