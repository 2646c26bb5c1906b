"""What one changeset costs on each backend, counted on real servers: one
transaction, one script, one multi-op; and a Memory changeset's atomicity
between threads (a MemoryStore cannot be shared between processes)."""

from __future__ import annotations

import threading

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from django_durabledict.backends.memory import MemoryDict, MemoryStore
from django_durabledict.changeset import ChangesetConflict
from django_durabledict.models import DurableNamespace
from tests import servers
from tests.changeset_workers import KEYS, generation_of
from tests.modelsupport import ModelDictFactory, combo


def edit(d, generation, read=False):
    """One changeset: every KEY to *generation*, plus "odd" on odd ones."""
    with d.changeset(check=read) as change:
        if read:
            assert change.get("k0", 0) == generation - 1
        for key in KEYS:
            change[key] = generation
        if generation % 2:
            change["odd"] = generation
        else:
            change.pop("odd", None)


# -- ModelDict: one transaction, one version bump ---------------------------------


@pytest.mark.parametrize(
    "combination",
    [
        combo("default", "default"),
        combo("postgresql", "redis"),
        combo("mariadb", "memcached"),
    ],
)
def test_model_changeset_is_one_transaction_with_one_bump(combination):
    factory = ModelDictFactory(*combination)
    d = factory(autosync=False)
    edit(d, 1)
    database = connections[factory.database]
    versions = DurableNamespace.objects.using(factory.database)
    before = versions.version(factory.namespace)
    statements = {}
    for generation, read in [(2, False), (3, True)]:
        with CaptureQueriesContext(database) as queries:
            edit(d, generation, read)
        sql = [
            q["sql"].lstrip("(").split()[0].upper() for q in queries.captured_queries
        ]
        statements[read] = sql
    # No reload first: the last changeset replaced the version this dict held,
    # so it adopted the new one (a writer's own view). Then one transaction: the
    # namespace's version bump first (MariaDB reads it back: no RETURNING), the
    # rows' upsert, the removal of "odd" (Django's delete reads the rows it
    # deletes) and its tombstone, for incremental readers; a checked one reads
    # the rows it read, locked, instead of removing.
    # A checked changeset syncs first: after this dict's own write the cache hint
    # moved (by a step the writer cannot know), so that is one query for the
    # changes since the version the write reported: none.
    if statements[True][:1] == ["SELECT"]:
        statements[True] = statements[True][1:]
    for read, sql in statements.items():
        assert sql[0] == "BEGIN" and sql[-1] == "COMMIT", sql  # nothing outside
        assert sql.count("BEGIN") == 1 and sql[1] == "INSERT", sql
        assert sql.count("DELETE") == (0 if read else 1), sql
        assert len(sql) <= (6 if read else 9), sql
    assert versions.version(factory.namespace) == before + 2
    assert factory() == {**dict.fromkeys(KEYS, 3), "odd": 3}


def test_model_conflict_rolls_back_only_the_changeset():
    from django.db import transaction

    factory = ModelDictFactory("postgresql", "redis")
    d = factory(autosync=False)
    d["a"] = 1
    versions = DurableNamespace.objects.using("postgresql")
    with transaction.atomic(using="postgresql"):
        with pytest.raises(ChangesetConflict), d.changeset(check=True) as change:
            change["b"] = change["a"]
            other_write(factory, "a", 2)  # commits before the changeset
        before = versions.version(factory.namespace)
        d["mine"] = 1  # the caller's transaction goes on: only a savepoint was lost
        assert versions.version(factory.namespace) == before + 1
    assert factory() == {"a": 2, "mine": 1}


def other_write(factory, key, value):
    """A write committed by another connection (another thread), at once."""

    def write():
        try:
            factory()[key] = value
        finally:
            connections.close_all()

    thread = threading.Thread(target=write)
    thread.start()
    thread.join(30)


test_model_conflict_rolls_back_only_the_changeset = pytest.mark.django_db(
    transaction=True, databases=["default", "postgresql"]
)(
    pytest.mark.services("postgresql", "redis")(
        test_model_conflict_rolls_back_only_the_changeset
    )
)


# -- RedisDict: one EVALSHA ---------------------------------------------------------


@pytest.mark.services("redis")
def test_redis_changeset_is_one_script():
    from django_durabledict.backends.redis import RedisDict
    from tests.redis_helpers import CommandLog, counting_client, drop, new_keyspace

    log = CommandLog()
    client = counting_client(log, *servers.address("redis"))
    keyspace = new_keyspace()
    try:
        d, other = (
            RedisDict(keyspace, client, autosync=False),
            RedisDict(keyspace, client),
        )
        edit(d, 1)
        d.sync()
        log.clear()
        edit(d, 2)
        assert log.round_trips == [["GET"], ["EVALSHA"]]  # sync, then one script
        d.sync()
        log.clear()
        edit(d, 3, read=True)  # checked, nothing else changed: still one script
        assert log.round_trips == [["GET"], ["EVALSHA"]]
        d.sync()
        log.clear()
        with d.changeset(check=True) as change:
            change["k0"] = change["k0"] + 1
            other["unrelated"] = 1  # moves the counter, not what was read
        # The other write's script, and its read of the changes it had missed
        # (a writer's own view); then the changeset's first script finds the
        # counter moved and returns k0, which is as read: the second applies, and
        # d reads the change it had missed, so it shows a state the store held.
        assert log.round_trips == [["GET"], *[["EVALSHA"]] * 5]
        assert RedisDict(keyspace, client)["k0"] == 4
    finally:
        drop(client, keyspace)
        client.close()


# -- ZookeeperDict: one multi-op --------------------------------------------------


@pytest.mark.services("zookeeper")
def test_zookeeper_changeset_is_one_multi_op():
    from tests.zookeeper_helpers import ZookeeperFactory, count_requests, unique_root

    factory = ZookeeperFactory(
        "{}:{}".format(*servers.address("zookeeper")), unique_root()
    )
    try:
        d, other = factory(autosync=False), factory()
        edit(d, 1)
        d.sync()
        sent = count_requests(d.connection)
        # Each changeset: which keys exist, one multi; then (a writer's own view)
        # the reads of what the watches say changed.
        edit(d, 2)
        assert sent[:2] == ["GetChildren", "Transaction"]
        assert "Transaction" not in sent[2:]
        d.sync()
        sent.clear()
        edit(d, 3, read=True)  # checked: the key read, then one multi checking it
        assert sent[:3] == ["GetChildren", "GetData", "Transaction"]
        assert "Transaction" not in sent[3:]
        d.sync()
        sent.clear()
        with pytest.raises(ChangesetConflict), d.changeset(check=True) as change:
            change["k1"] = change["k0"] + 1
            other["k0"] = "changed"
        # The other write, then the listing and the read: refused, no multi.
        assert sent[-2:] == ["GetChildren", "GetData"]
    finally:
        factory.close()


# -- MemoryDict: one lock, seen whole by every thread -----------------------------


def test_memory_changesets_are_seen_whole_by_reader_threads():
    store = MemoryStore()
    writer = MemoryDict(store=store, autosync=False)
    edit(writer, 1)
    stop, bad = threading.Event(), []

    def read():
        reader = MemoryDict(store=store, autosync=False)
        while not stop.is_set():
            reader.sync()
            generation = generation_of(reader.copy())
            if isinstance(generation, str):
                bad.append(generation)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for thread in readers:
        thread.start()
    version = store.version
    for generation in range(2, 400):
        edit(writer, generation, read=generation % 3 == 0)
    stop.set()
    for thread in readers:
        thread.join(30)
    assert bad == []
    assert store.version == version + 398  # one version change per changeset


@pytest.mark.services("zookeeper")
def test_zookeeper_reload_that_always_meets_a_write_keeps_its_snapshot(monkeypatch):
    """A reload whose every read met a write (a watch fired) never publishes what
    it read, which could be half of a multi-op: after ``operation_timeout`` the
    sync keeps the last snapshot, as when ZooKeeper cannot be reached."""
    from django_durabledict.backends import zookeeper_ops
    from tests.zookeeper_helpers import ZookeeperFactory, unique_root

    factory = ZookeeperFactory(
        "{}:{}".format(*servers.address("zookeeper")), unique_root()
    )
    try:
        d = factory(autosync=False, operation_timeout=0.3)
        d["a"] = 1
        d.sync()
        factory()["a"] = 2  # the next sync reloads
        reads = []

        def meeting_a_write(real):
            def read(link, root, watch, *args):
                reads.append(real.__name__)
                result = real(link, root, watch, *args)
                watch(None)  # as if a write landed during this read
                return result

            return read

        # Both the read of the changed keys and the full read meet a write.
        for name in ("read_all", "read_changed"):
            real = getattr(zookeeper_ops, name)
            monkeypatch.setattr(zookeeper_ops, name, meeting_a_write(real))
        d.sync()
        assert d == {"a": 1} and d.stale_since is not None
        assert "read_changed" in reads  # tried the changes first
        assert reads.count("read_all") > 5  # backed off and read again, gave up
        monkeypatch.undo()
        d._retry_now()
        d.sync()
        assert d == {"a": 2} and d.stale_since is None
    finally:
        factory.close()


@pytest.mark.django_db(transaction=True, databases=["default"])
def test_model_changeset_with_return_instances():
    factory = ModelDictFactory("default", "default")
    d, other = factory(return_instances=True), factory()
    d["a"] = 1
    with d.changeset(check=True) as change:
        change["b"] = json_value(change["a"]) + 1
    assert other.copy() == {"a": 1, "b": 2}
    assert json_value(d["b"]) == 2  # shown as a row, as its own writes are
    with pytest.raises(ChangesetConflict), d.changeset(check=True) as change:
        change["c"] = json_value(change["a"])
        other["a"] = 5
    assert factory().copy() == {"a": 5, "b": 2}


def json_value(row):
    import json

    return json.loads(row.value)


def test_the_package_exports_the_changeset_names():
    import django_durabledict
    from django_durabledict import changeset

    assert django_durabledict.Changeset is changeset.Changeset
    assert django_durabledict.ChangesetConflict is changeset.ChangesetConflict
