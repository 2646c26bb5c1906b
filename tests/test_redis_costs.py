"""What RedisDict costs, in round trips counted on a real client (the server's
own count is in test_redis_faults.py)."""

import pytest

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
    reader.sync()
    assert log.round_trips == [["GET"], ["MULTI", "GET", "HGETALL", "EXEC"]]

    log.clear()
    for _ in range(10):
        assert reader["b"] == 2 and reader.get("a") == 1 and "b" in reader
    assert log.round_trips == []  # autosync off: reads never touch Redis

    writer.sync()  # the writer's own change moved the token: one reload
    log.clear()
    for _ in range(10):
        assert writer["b"] == 2
    assert log.round_trips == [["GET"]] * 10  # autosync on: one GET per read


def test_pop_and_setdefault_are_one_round_trip(log, counted):
    client, keyspace = counted
    d = RedisDict(keyspace, client, autosync=False)
    d["a"] = 1
    for operation in (
        lambda: d.setdefault("a", 2),
        lambda: d.setdefault("b", 2),
        lambda: d.pop("a"),
        lambda: d.pop("a", None),
    ):
        log.clear()
        operation()
        assert log.round_trips == [["EVALSHA"]]
