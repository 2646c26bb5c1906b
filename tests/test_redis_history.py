"""Multi-process histories of one RedisDict on a private Redis: no process ever
shows a phantom, stale or regressing snapshot (see tests/history.py).

Three writers (one keeping a change log of 4 entries, so readers often find it
truncated; one with autosync on) and two readers run as OS processes over 8 keys,
so keys are deleted and re-created all the time, while this process resets the
counter (deleted, or set past the re-seed limit), deletes the change log and
flushes the server (FLUSHALL). Every store version is recorded by the scripts
themselves (redis_history_workers.py); every snapshot a process shows, after each
sync or write, must equal the version its token names, be no older than what was
acknowledged before it started, and no older than its previous one. A writer's
snapshot must include its own write: the writer's own view (issue 15).
"""

import random
import secrets
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import pytest
import redis

from tests import servers
from tests.history import History, Observation
from tests.redis_helpers import new_keyspace
from tests.redis_history_workers import history_key, parse_entry, run

pytestmark = [pytest.mark.services("redis-server"), pytest.mark.slow]

WRITES, SYNCS = 1800, 2500  # per writer (3) and reader (2): 10,400 operations
ROLES = [
    ("writer", {"autosync": False}),
    ("writer", {"autosync": False, "changelog_length": 4}),
    ("writer", {"autosync": True}),
    ("reader", {"autosync": False}),
    ("reader", {"autosync": True}),
]


@pytest.fixture
def server():
    with servers.start_redis() as server:
        yield server


class Faults:
    """What this process does to the store while the others run."""

    def __init__(self, admin: redis.Redis, keyspace: str) -> None:
        self.admin, self.keyspace = admin, keyspace
        self.epochs: list[list[str]] = []  # each flushed epoch's history
        self.done = {"counter deleted": 0, "counter past limit": 0}
        self.done |= {"log deleted": 0, "flushall": 0}

    def one(self, rng: random.Random) -> None:
        counter, log = self.keyspace + "last_updated", self.keyspace + "changelog"
        roll = rng.random()
        if roll < 0.35:
            self.admin.delete(counter)
            self.done["counter deleted"] += 1
        elif roll < 0.55:
            self.admin.set(counter, 2**62 + secrets.randbelow(2**40))
            self.done["counter past limit"] += 1
        elif roll < 0.8:
            self.admin.delete(log)
            self.done["log deleted"] += 1
        else:
            with self.admin.pipeline(transaction=True) as pipe:
                pipe.lrange(history_key(self.keyspace), 0, -1)
                pipe.flushall()
                pipe.set("epoch", len(self.epochs) + 1)
                self.epochs.append(pipe.execute()[0])
            self.done["flushall"] += 1

    def history(self) -> tuple[History, list[int]]:
        """The versions, and the index of each epoch's first (empty) version."""
        epochs = [*self.epochs, self.admin.lrange(history_key(self.keyspace), 0, -1)]
        history, offsets = History(), [0]
        for number, entries in enumerate(epochs):
            if number:
                offsets.append(history.add(None, {}))  # just flushed: empty
            for raw in entries:
                before, after, state = parse_entry(raw)
                history.add(after, state, before)
        return history, offsets


def test_no_phantom_stale_or_regressing_snapshot(server):
    keyspace = new_keyspace()
    admin = redis.Redis(host=server.host, port=server.port, decode_responses=True)
    faults, rng = Faults(admin, keyspace), random.Random(15)
    pool = ProcessPoolExecutor(len(ROLES), mp_context=get_context("spawn"))
    with pool:
        futures = [
            pool.submit(
                run,
                role,
                server.host,
                server.port,
                keyspace,
                seed,
                WRITES if role == "writer" else SYNCS,
                **options,
            )
            for seed, (role, options) in enumerate(ROLES)
        ]
        while not all(future.done() for future in futures):
            time.sleep(0.05)
            faults.one(rng)
        results = [future.result() for future in futures]
    history, offsets = faults.history()
    observations, loads = [], {"incremental": 0, "full": 0}
    for number, (seen, counted) in enumerate(results):
        for epoch, length, own, token, state in seen:
            floor = offsets[epoch] + length if epoch >= 0 else 0
            if own is not None:
                floor = max(floor, history.tokens[own])  # its own write
            observations.append(Observation(f"p{number}", floor, token, state))
        for kind, count in counted.items():
            loads[kind] += count
    counts = history.check(observations)
    assert len(observations) == 3 * WRITES + 2 * SYNCS
    assert counts["phantom"] == counts["stale"] == counts["regressing"] == 0, (
        history.problems[:5]
    )
    # Every fault happened, and both kinds of reload were exercised.
    assert min(faults.done.values()) > 0, faults.done
    assert loads["incremental"] > 1000 and loads["full"] > 50, loads
    admin.close()
