"""ModelDict races between OS processes, on every database with a shared cache.

Every test checks the invariant of docs/consistency.rst: once a write is
acknowledged, every reader that syncs afterwards sees it (or a later value).
"""

import os
import random
import tempfile
import threading
import time
import uuid

import pytest
from django.db import connections

from django_durabledict.models import DurableSetting
from tests import servers
from tests.model_workers import start_workers
from tests.modelsupport import DATABASES, combo, db_marks

pytestmark = pytest.mark.slow

#: Every database with every shared cache, for the main race ...
ALL_COMBOS = [combo(db, cache) for db in DATABASES for cache in ("memcached", "redis")]
ALL_COMBOS.append(combo("postgresql", "redis_builtin"))
#: ... and each database and each cache once for the others, to keep CI short.
COMBOS = [
    combo("default", "memcached"),
    combo("postgresql", "redis"),
    combo("mariadb", "redis_builtin"),
]


@pytest.fixture(params=COMBOS)
def race(request):
    database, cache = request.param
    return Race(database, cache)


@pytest.fixture(params=ALL_COMBOS)
def full_race(request):
    database, cache = request.param
    return Race(database, cache)


class Race:
    """One test's namespace, database and cache, and the workers it started."""

    def __init__(self, database, cache, caches_config=None):
        self.database, self.cache = database, cache
        self.namespace = f"race-{uuid.uuid4().hex[:10]}"
        self.setup = {
            "databases": {database: connections[database].settings_dict["NAME"]},
            "caches": caches_config or {},
        }
        self.workers = []
        self.tmp = tempfile.mkdtemp(prefix="durabledict-race-")

    def start(self, count, **options):
        options = {
            "cache": self.cache,
            "namespace": self.namespace,
            "database": self.database,
            "autosync": False,
            **options,
        }
        workers = start_workers(self.setup, count, **options)
        self.workers += workers
        return workers

    def stored(self):
        """The namespace as the database holds it, decoded."""
        rows = DurableSetting.objects.using(self.database).namespace(self.namespace)
        import json

        return {
            key: json.loads(value) for key, value in rows.values_list("key", "value")
        }

    def path(self, name):
        return os.path.join(self.tmp, name)

    def close(self):
        for worker in self.workers:
            worker.close()


@pytest.fixture(autouse=True)
def _close_workers(request):
    yield
    for name in ("race", "full_race"):
        race = request.node.funcargs.get(name)
        if race is not None:
            race.close()


def test_writers_and_readers_on_overlapping_keys(full_race):
    """4 writers and 4 readers, 25 rounds. After each acknowledged write a random
    reader syncs and must see it (or a later value); at the end every reader's
    next sync equals the database."""
    race = full_race
    writers = race.start(4)
    readers = race.start(4)
    rounds, checks = 25, 0
    for round_number in range(rounds):
        for w in writers:  # all four write at once, on overlapping keys
            w.send(
                "write",
                {
                    f"k{round_number % 3}": [round_number, w.process.pid],
                    f"own{w.process.pid}": round_number,
                },
            )
        for _index, w in enumerate(writers):
            w.receive()
            reader = random.choice(readers)
            assert reader.call("get", f"own{w.process.pid}") == round_number
            checks += 1
    expected = race.stored()
    assert len(expected) == 3 + len(writers)
    for reader in readers:
        assert reader.call("snapshot") == expected
    print(f"\nrace: {rounds * len(writers) * 2} writes, {checks} read-after-ack checks")


def test_write_in_a_long_transaction_is_seen_after_commit_and_not_before(race):
    writer = race.start(1)[0]
    readers = race.start(3)
    for reader in readers:
        reader.call("snapshot")
    hold = race.path("commit")
    writer.send("long_transaction", "slow", "value", hold)
    time.sleep(0.3)  # let the write happen inside the open transaction
    for reader in readers:
        assert reader.call("get", "slow") is None  # not before commit
    open(hold, "w").close()
    assert writer.receive() == "committed"
    for reader in readers:
        assert reader.call("get", "slow") == "value"  # the first sync after commit


def test_rolled_back_write_is_never_seen(race):
    writer = race.start(1)[0]
    readers = race.start(2)
    hold = race.path("end")
    open(hold + ".rollback", "w").close()
    writer.send("long_transaction", "doomed", 1, hold)
    time.sleep(0.3)
    assert [r.call("get", "doomed") for r in readers] == [None, None]
    open(hold, "w").close()
    assert writer.receive() == "rolled back"
    assert [r.call("get", "doomed") for r in readers] == [None, None]
    assert writer.call("peek") == {}  # the writer itself, after the rollback
    assert race.stored() == {}


@pytest.mark.parametrize("operation", ["burst", "apply_burst"])
def test_fifty_writes_in_a_burst_from_three_processes(race, operation):
    """50 writes from 3 processes started together: one key per transaction
    ("burst"), or one transaction per process ("apply_burst", whose three commits
    land within a few milliseconds). A clock-based token would miss some; every
    one must be seen by the next sync."""
    writers = race.start(3)
    readers = race.start(2)
    for reader in readers:
        reader.call("snapshot")
    start_at = time.time() + 1.0
    for index, w in enumerate(writers):
        w.send(operation, f"p{index}-", 17 if index < 2 else 16, start_at)
    spans = [w.receive() for w in writers]
    for reader in readers:
        assert len(reader.call("snapshot")) == 50
    first, last = min(s[0] for s in spans), max(s[1] for s in spans)
    print(
        f"\n{operation}: 50 writes from 3 processes in {(last - first) * 1000:.1f} ms"
    )


def test_concurrent_pops_across_processes(race):
    keys = [f"k{i}" for i in range(20)]
    DurableSetting.objects.using(race.database).set_many(
        race.namespace, dict.fromkeys(keys, "1")
    )
    workers = race.start(3)
    for w in workers:
        w.send("pop", keys)
    popped = [key for w in workers for key in w.receive()]
    assert sorted(popped) == sorted(keys)  # each key popped exactly once


def test_writer_killed_between_commit_and_bump_is_seen_at_the_backstop(race):
    readers = race.start(2, backstop_interval=1.0)
    for reader in readers:
        reader.call("snapshot")
    writer = race.start(1)[0]
    writer.send("die_after_commit", "orphan", 1)
    writer.process.join(30)
    assert race.stored() == {"orphan": 1}  # committed, but no bump
    seen_by = {}
    deadline = time.monotonic() + 10
    while len(seen_by) < len(readers) and time.monotonic() < deadline:
        for index, reader in enumerate(readers):
            if index not in seen_by and reader.call("get", "orphan") == 1:
                seen_by[index] = True
        time.sleep(0.05)
    assert len(seen_by) == len(readers)


@pytest.mark.services("memcached-server")
@pytest.mark.parametrize(
    "database", [pytest.param(db, marks=db_marks(db)) for db in DATABASES]
)
def test_token_flushed_deleted_or_evicted_at_random_moments(database):
    """A private memcached with 2 MB of memory, filled with junk so it evicts,
    flushed and the token deleted at random moments, while 2 writers and 3
    readers run; after every acknowledged write every reader syncs and must see
    it, and at the end every reader's next sync equals the database."""
    with servers.start_memcached(memory_mb=2) as server:
        cache = {
            "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
            "LOCATION": server.address,
            "OPTIONS": {"connect_timeout": 0.5, "timeout": 0.5},
        }
        race = Race(database, "tiny", {"tiny": cache})
        try:
            _run_chaos(race, server)
        finally:
            race.close()


def _run_chaos(race, server):
    import pymemcache

    writers = race.start(2)
    readers = race.start(3)
    stop = threading.Event()
    events = {"flush": 0, "delete": 0, "junk": 0}
    client = pymemcache.Client(server.address, connect_timeout=1, timeout=1)
    # Django's key function: ":<version>:<key>" with no KEY_PREFIX.
    token_key = (
        f":1:durabledict:{race.database}:django_durabledict_durablesetting:"
        f"{race.namespace}:version"
    )

    def chaos():
        # Small junk lands in the token's slab class, so its LRU evicts the token.
        while not stop.is_set():
            action = random.choice(["flush", "delete", "junk", "junk", "junk"])
            if action == "flush":
                client.flush_all()
            elif action == "delete":
                client.delete(token_key)
            else:
                junk = {uuid.uuid4().hex: b"x" * 40 for _ in range(3000)}
                client.set_many(junk, noreply=True)
            events[action] += 1
            time.sleep(random.uniform(0, 0.02))

    thread = threading.Thread(target=chaos)
    thread.start()
    checks = 0
    try:
        for round_number in range(20):
            for index, w in enumerate(writers):
                w.send("write", {f"w{index}": round_number, "shared": round_number})
            for index, w in enumerate(writers):
                w.receive()
                for reader in readers:
                    assert reader.call("get", f"w{index}") == round_number
                    checks += 1
    finally:
        stop.set()
        thread.join(10)
    expected = race.stored()
    for reader in readers:
        assert reader.call("snapshot") == expected
    evictions = int(client.stats()[b"evictions"])
    client.close()
    print(f"\nchaos: {checks} read-after-ack checks, {events}, {evictions} evictions")
    assert events["flush"] and events["junk"]
