"""What RedisDict costs, in round trips counted on a real client (the server's
own count is in test_redis_faults.py)."""

import pytest

from django_durabledict.backends import redis_scripts
from django_durabledict.backends.redis import RedisDict
from tests import servers
from tests.redis_helpers import CommandLog, counting_client, drop, new_keyspace

pytestmark = pytest.mark.services("redis")


@pytest.fixture
def log():
    return CommandLog()


@pytest.fixture(params=[True, False], ids=["str", "bytes"])
def counted(log, request):
    """A client whose round trips go to ``log``, and a keyspace of its own."""
    host, port = servers.address("redis")
    client = counting_client(log, host, port, decode_responses=request.param)
    for source in redis_scripts.SOURCES:
        client.script_load(source)  # a first call would load it: 2 more round trips
    log.clear()
    keyspace = new_keyspace()
    yield client, keyspace
    drop(client, keyspace)
    client.close()


def test_round_trips_per_operation(log, counted):
    client, keyspace = counted
    RedisDict(keyspace, client)["a"] = 1  # loads the scripts if the server lacks them
    log.clear()
    reader = RedisDict(keyspace, client, autosync=False)
    assert log.round_trips == [["GET"], ["MULTI", "GET", "HGETALL", "EXEC"]]

    log.clear()
    reader.sync()
    assert log.round_trips == [["GET"]]  # unchanged: one round trip

    writer = RedisDict(keyspace, client)
    log.clear()
    writer["b"] = 2
    assert log.round_trips == [["EVALSHA"]]  # a change: one round trip

    log.clear()
    reader.sync()  # incremental: the change log and an HMGET in one script
    assert log.round_trips == [["GET"], ["EVALSHA"]]

    log.clear()
    for _ in range(10):
        assert reader["b"] == 2 and reader.get("a") == 1 and "b" in reader
    assert log.round_trips == []  # autosync off: reads never touch Redis

    writer.sync()  # its own write replaced its token: it holds the new one
    assert log.round_trips == [["GET"]]
    log.clear()
    for _ in range(10):
        assert writer["b"] == 2
    assert log.round_trips == [["GET"]] * 10  # autosync on: one GET per read


def test_pop_and_setdefault_are_one_round_trip(log, counted):
    client, keyspace = counted
    d = RedisDict(keyspace, client, autosync=False)
    d["a"] = 1
    log.clear()
    d.sync()
    assert log.round_trips == [["GET"]]  # the write left d at the store's token
    for operation in (
        lambda: d.setdefault("a", 2),
        lambda: d.setdefault("b", 2),
        lambda: d.pop("a"),
        lambda: d.pop("a", None),
    ):
        log.clear()
        operation()
        assert log.round_trips == [["EVALSHA"]]


def test_a_write_after_another_process_wrote_loads_just_the_changes(log, counted):
    """Issue 15's reproduction: another process writes ``theirs``, this instance
    (autosync off) writes ``mine``; it must show {theirs, mine}, a state the store
    held, not {mine}."""
    client, keyspace = counted
    mine, other = RedisDict(keyspace, client, False), RedisDict(keyspace, client)
    other["theirs"] = "1"
    log.clear()
    mine["mine"] = "2"
    assert mine.copy() == {"theirs": "1", "mine": "2"}
    # The script says the counter it replaced is not mine: one more script reads
    # the changes since my token.
    assert log.round_trips == [["EVALSHA"], ["EVALSHA"]]
    log.clear()
    mine.sync()
    assert log.round_trips == [["GET"]]
    for operation in (
        lambda: mine.pop("theirs"),
        lambda: mine.setdefault("theirs", "3"),
        lambda: mine.update({"mine": "4"}),
        lambda: mine.clear(),
    ):
        other["x"] = "5"
        log.clear()
        operation()
        assert log.round_trips == [["EVALSHA"], ["EVALSHA"]]
        assert mine.copy() == RedisDict(keyspace, client).copy()


def test_an_incremental_sync_reads_only_the_changed_keys(log, counted):
    client, keyspace = counted
    writer = RedisDict(keyspace, client)
    writer.update({f"k{i}": i for i in range(1000)})
    reader = RedisDict(keyspace, client, autosync=False)
    reader["k1"] = [1]
    kept = reader["k1"]  # an object the next syncs keep
    for i in range(10):
        writer[f"k{i + 2}"] = -i
    del writer["k999"]
    log.clear()
    reader.sync()
    assert log.round_trips == [["GET"], ["EVALSHA"]]
    assert reader.copy() == writer.copy() and reader["k1"] is kept
    hmget = [c for c in client.info("commandstats") if "hmget" in c]
    assert hmget  # the script's HMGET, counted by the server too
