"""RedisDict's bulk hooks (used by durabledict_dump/load) and clear(): one script,
one token change, nothing changed when nothing would change."""

import pytest

from django_durabledict.backends.redis import RedisDict
from django_durabledict.encoding import EncodingError, PickleEncoding
from tests import servers
from tests.redis_helpers import (
    CommandLog,
    counter,
    counting_client,
    drop,
    new_keyspace,
    shared_client,
)

pytestmark = pytest.mark.services("redis")


@pytest.fixture(params=[True, False], ids=["str", "bytes"])
def client(request):
    if not servers.shared_available("redis"):
        pytest.skip("the shared Redis is not available")
    client = shared_client(decode_responses=request.param)
    yield client
    client.close()


@pytest.fixture
def keyspace(client):
    keyspace = new_keyspace()
    yield keyspace
    drop(client, keyspace)


def test_apply_is_one_change(client, keyspace):
    d = RedisDict(keyspace, client)
    d.update(a=1, b=2, c=3)
    reader = RedisDict(keyspace, client, autosync=False)
    before = counter(client, keyspace)
    d._apply({"a": 10, "d": [4]}, ["b", "missing", "d"])
    after = counter(client, keyspace)
    assert after != before
    assert d.copy() == {"a": 10, "c": 3, "d": [4]}  # an update beats a removal
    reader.sync()
    assert reader.copy() == d.copy()
    d._apply({}, ["missing", "also missing"])
    assert counter(client, keyspace) == after  # nothing to do: no bump


def test_apply_writes_nothing_when_a_value_cannot_be_encoded(client, keyspace):
    d = RedisDict(keyspace, client)
    d["a"] = 1
    before = counter(client, keyspace)
    with pytest.raises(EncodingError):
        d._apply({"a": 2, "bad": object()}, ["a"])
    with pytest.raises(TypeError):
        d._apply({1: 2}, [])
    assert counter(client, keyspace) == before
    assert RedisDict(keyspace, client) == {"a": 1}


def test_raw_snapshot_is_the_stored_text(client, keyspace):
    d = RedisDict(keyspace, client, encoding=PickleEncoding)
    d.update(a={"x": 1}, b="text")
    raw = d._raw_snapshot()
    assert raw == {
        "a": PickleEncoding.encode({"x": 1}),
        "b": PickleEncoding.encode("text"),
    }


def test_clear_deletes_the_hash_as_one_change(client, keyspace):
    d = RedisDict(keyspace, client, autosync=False)
    d.update(a=1, b=2)
    RedisDict(keyspace, client)["unseen"] = 3  # d has not synced it
    before = counter(client, keyspace)
    d.clear()
    assert len(d) == 0 and client.exists(keyspace) == 0
    after = counter(client, keyspace)
    assert after != before
    d.clear()
    assert counter(client, keyspace) == after  # already empty: no bump


def test_apply_and_clear_are_one_round_trip():
    log = CommandLog()
    host, port = servers.address("redis")
    client = counting_client(log, host, port)
    keyspace = new_keyspace()
    d = RedisDict(keyspace, client, autosync=False)
    d["warm"] = 1  # the server may need the scripts loaded once
    d._apply({"a": 1}, [])
    d.clear()
    log.clear()
    d._apply({f"k{i}": i for i in range(100)}, ["x", "y"])
    d.clear()
    assert log.round_trips == [["EVALSHA"], ["EVALSHA"]]
    drop(client, keyspace)
    client.close()
