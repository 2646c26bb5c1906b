"""RedisDict while its Redis is killed, restarted empty or from an old snapshot,
flushed or paused. Each test runs its own redis-server on a free port.

Clients use the recommended options with 0.25 s timeouts (tests/redis_helpers.py).
Costs are asserted by counting round trips; elapsed time is only bounded loosely,
as a safety net.
"""

import logging
import time

import pytest
import redis

from django_durabledict.backends import redis_scripts
from django_durabledict.backends.redis import RedisDict
from django_durabledict.backends.redis_scripts import SEED_LOW
from tests import servers
from tests.redis_helpers import (
    CommandLog,
    counter,
    counting_client,
    fast_fail_options,
    make_dict,
    new_keyspace,
    private_client,
)

pytestmark = [pytest.mark.services("redis-server"), pytest.mark.slow]


@pytest.fixture
def server():
    with servers.start_redis() as server:
        yield server


@pytest.fixture
def client(server):
    client = private_client(server)
    yield client
    client.close()


@pytest.fixture
def keyspace():
    return new_keyspace()


def warnings_about(caplog, durable, text):
    return sum(
        1
        for record in caplog.records
        if str(durable) in record.getMessage() and text in record.getMessage()
    )


def test_killed_reads_serve_the_snapshot_and_writes_raise(
    server, client, keyspace, caplog
):
    caplog.set_level(logging.WARNING, "django_durabledict")
    writer = make_dict(client, keyspace)
    writer.update(a=1, b=2)
    reader = make_dict(client, keyspace, name="reader")
    server.kill()
    for _ in range(20):
        assert reader["a"] == 1 and reader.get("b") == 2 and len(reader) == 2
    assert reader.stale_since is not None
    assert warnings_about(caplog, reader, "cannot be reached") == 1

    for write in (
        lambda: reader.__setitem__("c", 3),
        lambda: reader.__setitem__("a", 9),
        lambda: reader.pop("a"),
        lambda: reader.__delitem__("b"),
        lambda: reader.setdefault("c", 3),
    ):
        with pytest.raises(redis.ConnectionError):
            write()
    assert reader.copy() == {"a": 1, "b": 2}  # nothing changed locally

    server.start()  # with its data gone
    reader.sync()
    assert reader == {} and reader.stale_since is None
    assert warnings_about(caplog, reader, "can be reached again") == 1
    writer["c"] = 3
    assert reader["c"] == 3 and counter(client, keyspace) >= SEED_LOW


def test_restarted_empty_readers_converge_within_one_sync(server, client, keyspace):
    writer = make_dict(client, keyspace)
    writer["old"] = 1
    sleeper = make_dict(client, keyspace, autosync=False)  # syncs only after
    watcher = make_dict(client, keyspace, autosync=False)  # syncs throughout
    server.kill()
    watcher.sync()
    server.start()
    watcher.sync()
    assert watcher == {}
    for i in range(5):
        writer[f"new{i}"] = i
    for reader in (sleeper, watcher):
        reader.sync()
        assert reader == {f"new{i}": i for i in range(5)}


def loaded(client) -> bool:
    try:
        return client.info("persistence")["loading"] == 0
    except redis.ConnectionError:  # BusyLoadingError included
        return False


def test_restarted_from_an_old_snapshot_the_counter_goes_back(server, keyspace):
    """A restart from an RDB file older than the last writes (as a failover to a
    lagging replica): the counter goes back, and the next writes must not bring
    it onto the token a reader holds for the lost data."""
    client = private_client(server)
    writer = make_dict(client, keyspace)
    reader = make_dict(client, keyspace, autosync=False)
    for round_ in range(3):
        writer["a"] = f"kept {round_}"
        client.save()  # dump.rdb in the server's directory
        for lost in range(round_ + 1):
            writer["a"] = f"lost {lost}"
        reader.sync()
        server.restart()  # loads dump.rdb: the "lost" writes are gone
        assert servers.wait_until(lambda: loaded(client), 10)
        for new in range(round_ + 1):
            writer["a"] = f"new {new}"
        reader.sync()
        assert reader["a"] == f"new {round_}"
    client.close()


def test_flushdb_never_leaves_a_reader_stale(server, client, keyspace):
    writer = make_dict(client, keyspace)
    writer["a"] = 1
    readers = [make_dict(client, keyspace, autosync=False) for _ in range(2)]
    client.flushdb()
    readers[0].sync()
    assert readers[0] == {}
    writer["a"] = 2
    assert counter(client, keyspace) >= SEED_LOW  # never restarted from 1
    for reader in readers:
        reader.sync()
        assert reader == {"a": 2}


def read_a(reader):
    assert reader["a"] in (1, 2)
    return True


def test_paused_no_call_blocks_past_the_socket_timeout(server, keyspace):
    reads, writes = CommandLog(), CommandLog()
    options = fast_fail_options()
    reader_client = counting_client(reads, server.host, server.port, **options)
    writer_client = counting_client(writes, server.host, server.port, **options)
    writer = RedisDict(keyspace, writer_client, autosync=False)
    writer["a"] = 1
    reader = RedisDict(keyspace, reader_client)  # retries every retry_interval (1 s)
    reads.clear()
    writes.clear()
    server.pause()
    try:
        started = time.monotonic()
        for _ in range(50):
            assert reader["a"] == 1
        assert reads.round_trips == [["GET"]]  # one attempt, not retried, not 50
        with pytest.raises(redis.TimeoutError):
            writer["a"] = 2
        assert writes.round_trips == [["EVALSHA"]]  # sent once, not retried
        assert writer["a"] == 1  # unchanged locally
        # After retry_interval the next read tries again (a new connection's
        # HELLO, timed out); the reads in between cost nothing.
        assert servers.wait_until(
            lambda: read_a(reader) and len(reads.round_trips) > 1, 5
        )
        assert len(reads.round_trips) == 2 and reads.round_trips[0] == ["GET"]
        # Three calls of one socket timeout each, plus slack for a loaded machine.
        elapsed = time.monotonic() - started
        assert elapsed < 3 * options["socket_timeout"] + reader.retry_interval + 5
    finally:
        server.resume()
    assert servers.wait_until(lambda: read_a(reader) and reader.stale_since is None, 5)
    # The write that timed out may still have been applied: its outcome is
    # unknown, but every reader agrees with the store.
    assert reader == RedisDict(keyspace, private_client(server))
    reader_client.close()
    writer_client.close()


def test_a_read_only_user_reads_without_creating_the_counter(server, keyspace):
    admin = private_client(server)
    admin.execute_command(
        "ACL", "SETUSER", "reader", "on", ">pw", "~*", "+@read", "+multi", "+exec"
    )
    writer = make_dict(admin, keyspace)
    writer["a"] = 1
    admin.delete(keyspace + "last_updated")
    reader_client = private_client(server, username="reader", password="pw")
    reader = make_dict(reader_client, keyspace, autosync=False)
    assert reader == {"a": 1} and reader.last_synced is None
    writer["a"] = 2
    reader.sync()
    assert reader == {"a": 2} and reader.last_synced == str(counter(admin, keyspace))
    with pytest.raises(redis.exceptions.NoPermissionError):
        reader["b"] = 1
    admin.close()
    reader_client.close()


def test_server_side_command_counts(server, client, keyspace):
    """The same costs as test_redis.py's, counted by the server itself."""
    writer = make_dict(client, keyspace)
    writer["a"] = 1
    reader = make_dict(client, keyspace, autosync=False)
    for source in redis_scripts.SOURCES:
        client.script_load(source)  # a first EVALSHA on a fresh server fails
    client.config_resetstat()
    for _ in range(10):
        reader.sync()
    writer["b"] = 2
    reader.sync()
    stats = client.info("commandstats")
    calls = {name[len("cmdstat_") :]: stat["calls"] for name, stat in stats.items()}
    calls.pop("info", None)
    calls.pop("config|resetstat", None)
    # GET: ten unchanged syncs, then the changed sync's GET; inside the write's
    # script two (the counter before and after INCRBY), inside the sync's one.
    # The sync reads the change log and HMGETs the one key: no HGETALL. The
    # write also PUBLISHes the change (push invalidation, issue 13).
    assert calls == {
        "publish": 1,
        "get": 14,
        "evalsha": 2,
        "incrby": 1,
        "hset": 1,
        "xadd": 1,
        "xrange": 1,
        "hmget": 1,
    }
