"""RedisDict and stores of the original durabledict (0.9.4): read in place, and
shared by old and new processes during an upgrade.

``OriginalRedisDict`` below does, command for command, what the original's
RedisDict did on Redis (spec section 3.2), with its pickle-in-base64 values and
its ``>`` comparison of the counter.
"""

import base64
import datetime
import pickle

import pytest

from django_durabledict.backends.redis import RedisDict
from django_durabledict.encoding import JSONEncoding, PickleEncoding
from tests import servers
from tests.redis_helpers import drop, new_keyspace, shared_client

pytestmark = pytest.mark.services("redis")

VALUES = {
    "flag": True,
    "limit": 10,
    "name": "caf\u00e9",
    "nested": {"a": [1, 2, None]},
    "when": datetime.date(2015, 3, 30),
    "long": "x" * 200,  # base64 wrapped over several lines
}


def original_encode(value, protocol=2):
    # base64.encodestring(pickle.dumps(value, HIGHEST_PROTOCOL)) on Python 2.
    return base64.encodebytes(pickle.dumps(value, protocol))


class OriginalRedisDict:
    """The original's RedisDict, reduced to the Redis commands it sent."""

    def __init__(self, keyspace, client):
        self.keyspace, self.client = keyspace, client
        self.counter_key = keyspace + "last_updated"
        self.last_synced, self.data = 0, {}
        self.sync()
        client.incr(self.counter_key)  # the constructor's bump

    def last_updated(self):
        return int(self.client.get(self.counter_key) or 0)

    def sync(self):
        version = self.last_updated()
        if not self.last_synced or version > self.last_synced:
            stored = self.client.hgetall(self.keyspace)
            self.data = {
                _text(k): pickle.loads(base64.decodebytes(_bytes(v)))
                for k, v in stored.items()
            }
            self.last_synced = version

    def __setitem__(self, key, value):
        with self.client.pipeline(transaction=True) as pipe:
            pipe.incr(self.counter_key)
            pipe.hset(self.keyspace, key, original_encode(value))
            pipe.execute()
        self.sync()


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


def plant_original_store(client, keyspace):
    for key, value in VALUES.items():
        client.hset(keyspace, key, original_encode(value))
    client.set(keyspace + "last_updated", 7)


def test_reads_a_store_written_by_the_original(client, keyspace):
    plant_original_store(client, keyspace)
    assert RedisDict(keyspace, client, encoding=PickleEncoding) == VALUES
    assert int(client.get(keyspace + "last_updated")) == 7  # reading bumps nothing


def test_moves_an_original_store_to_json_through_old_encoding(client, keyspace):
    plant_original_store(client, keyspace)
    d = RedisDict(keyspace, client, encoding=JSONEncoding, old_encoding=PickleEncoding)
    assert d == VALUES
    d["limit"] = 20  # written as JSON; the other values stay pickles
    assert _text(client.hget(keyspace, "limit")) == "20"
    assert RedisDict(keyspace, client, old_encoding=PickleEncoding) == {
        **VALUES,
        "limit": 20,
    }


def test_old_and_new_processes_share_one_store(client, keyspace):
    old = OriginalRedisDict(keyspace, client)
    new = RedisDict(keyspace, client, autosync=False, encoding=PickleEncoding)
    old["a"] = 1
    new.sync()
    assert new["a"] == 1
    new["a"] = 2
    new["b"] = [1, 2]
    old.sync()  # the counter grew, so the old ">" comparison reloads
    assert old.data == {"a": 2, "b": [1, 2]}
    old["a"] = 3
    new.sync()
    assert dict(new) == {"a": 3, "b": [1, 2]}


def test_old_readers_see_a_counter_the_new_code_recreated(client, keyspace):
    old = OriginalRedisDict(keyspace, client)
    new = RedisDict(keyspace, client, encoding=PickleEncoding)
    new["a"] = 1
    old.sync()
    client.delete(keyspace + "last_updated")  # FLUSHDB, eviction, a failover
    new["a"] = 2  # re-created at 2**32 or more: above any old counter
    old.sync()
    assert old.data == {"a": 2}


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def _bytes(value):
    return value.encode("ascii") if isinstance(value, str) else value
