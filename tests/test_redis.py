"""RedisDict on the shared Redis: the contract, the store layout, the token, and
what each operation costs in round trips (counted, not timed)."""

import itertools

import pytest

from django_durabledict.backends.redis import RedisDict
from django_durabledict.backends.redis_scripts import SEED_HIGH, SEED_LOW
from django_durabledict.encoding import JSONEncoding, NoOpEncoding, PickleEncoding
from tests import servers
from tests.contract import DictContract, DictFactory
from tests.redis_helpers import (
    counter,
    drop,
    new_keyspace,
    shared_client,
)

pytestmark = pytest.mark.services("redis")


class RedisFactory(DictFactory):
    def __init__(self, client, encoding):
        self.client = client
        self.encoding = encoding
        self.keyspace = new_keyspace()

    def __call__(self, **kwargs):
        kwargs.setdefault("encoding", self.encoding)
        return RedisDict(self.keyspace, self.client, **kwargs)

    def write_raw(self, key, stored):
        # As the original durabledict wrote: HSET and INCR in one MULTI.
        with self.client.pipeline(transaction=True) as pipe:
            pipe.incr(self.keyspace + "last_updated")
            pipe.hset(self.keyspace, key, stored)
            pipe.execute()


@pytest.fixture(scope="module", params=[True, False], ids=["str", "bytes"])
def client(request):
    if not servers.shared_available("redis"):
        pytest.skip("the shared Redis is not available")
    client = shared_client(decode_responses=request.param)
    yield client
    client.close()


@pytest.fixture(params=[JSONEncoding, PickleEncoding], ids=["json", "pickle"])
def make_dict(client, request):
    factory = RedisFactory(client, request.param)
    yield factory
    drop(client, factory.keyspace)


@pytest.fixture
def keyspace(client):
    keyspace = new_keyspace()
    yield keyspace
    drop(client, keyspace)


class TestRedisDict(DictContract):
    pass


# -- construction and layout ------------------------------------------------------


def test_positional_and_keyword_construction(client, keyspace):
    positional = RedisDict(keyspace, client, False, PickleEncoding, JSONEncoding)
    assert (positional.autosync, positional.encoding) == (False, PickleEncoding)
    assert positional.old_encoding is JSONEncoding
    keyword = RedisDict(
        keyspace=keyspace,
        connection=client,
        autosync=False,
        encoding=JSONEncoding,
        old_encoding=None,
        counter_key=keyspace + ":version",
        defaults={"d": 1},
        name="settings",
    )
    assert keyword.counter_key == keyspace + ":version"
    assert keyword["d"] == 1 and str(keyword) == "RedisDict 'settings'"
    assert RedisDict(keyspace, client).counter_key == keyspace + "last_updated"
    client.delete(keyspace + ":version")


def test_store_layout_is_the_originals(client, keyspace):
    d = RedisDict(keyspace, client)
    d["limit"] = {"max": 10}
    d["name"] = "ü"
    stored = {_text(k): _text(v) for k, v in client.hgetall(keyspace).items()}
    assert stored == {"limit": '{"max": 10}', "name": '"ü"'}
    assert client.type(keyspace + "last_updated") in ("string", b"string")
    assert SEED_LOW <= counter(client, keyspace) < SEED_HIGH + 2 * 2**31


def test_keys_are_str_whatever_the_client_decodes(client, keyspace):
    d = RedisDict(keyspace, client)
    d["key"] = 1
    d.sync()
    assert list(d) == ["key"] and type(next(iter(RedisDict(keyspace, client)))) is str
    assert d.last_synced == str(counter(client, keyspace))


def test_non_str_keys_raise_type_error_and_write_nothing(client, keyspace):
    d = RedisDict(keyspace, client)
    before = counter(client, keyspace)
    for operation in (
        lambda: d.__setitem__(1, "x"),
        lambda: d.setdefault(b"k", 1),
        lambda: d.pop(2),
    ):
        with pytest.raises(TypeError, match="keys must be str"):
            operation()
    assert client.exists(keyspace) == 0 and counter(client, keyspace) == before


def test_noop_encoding_round_trips_str_values_on_a_str_client(keyspace):
    """NoOpEncoding is valid on Redis only where Redis gives back what was
    stored: str values, on a client with decode_responses=True."""
    client = shared_client(decode_responses=True)
    d = RedisDict(keyspace, client, encoding=NoOpEncoding)
    d.update(a="text", b="ü✓")
    assert RedisDict(keyspace, client, encoding=NoOpEncoding) == {
        "a": "text",
        "b": "ü✓",
    }
    drop(client, keyspace)
    client.close()


def test_bad_keyspace_or_counter_key(client):
    with pytest.raises(ValueError, match="non-empty str"):
        RedisDict("", client)
    with pytest.raises(ValueError, match="must differ"):
        RedisDict("k", client, counter_key="k")


# -- the token -------------------------------------------------------------------


def test_no_bump_for_construction_or_changes_that_change_nothing(client, keyspace):
    writer = RedisDict(keyspace, client)
    writer["a"] = 1
    token = counter(client, keyspace)
    RedisDict(keyspace, client)
    RedisDict(keyspace, client, autosync=False)
    assert writer.setdefault("a", 2) == 1
    assert writer.pop("missing", None) is None
    with pytest.raises(KeyError):
        del writer["missing"]
    writer.depersist("missing")
    assert counter(client, keyspace) == token
    assert dict(RedisDict(keyspace, client)) == {"a": 1}


def test_every_change_moves_the_token(client, keyspace):
    d = RedisDict(keyspace, client)
    tokens = [counter(client, keyspace)]
    for change in (
        lambda: d.__setitem__("a", 1),
        lambda: d.__setitem__("a", 1),  # even an equal value: one script, no read
        lambda: d.setdefault("b", 2),
        lambda: d.pop("a"),
        lambda: d.__delitem__("b"),
    ):
        change()
        tokens.append(counter(client, keyspace))
    assert all(b != a for a, b in itertools.pairwise(tokens))


def test_a_deleted_counter_is_recreated_large_and_readers_reload(client, keyspace):
    writer, reader = RedisDict(keyspace, client), RedisDict(keyspace, client, False)
    writer["a"] = 1
    reader.sync()
    client.delete(keyspace + "last_updated")
    writer["a"] = 2
    assert counter(client, keyspace) >= SEED_LOW
    reader.sync()
    assert reader["a"] == 2


def test_a_reader_finds_the_counter_missing_and_seeds_it(client, keyspace):
    writer, reader = RedisDict(keyspace, client), RedisDict(keyspace, client, False)
    writer["a"] = 1
    client.delete(keyspace + "last_updated")
    reader.sync()  # a reload, which re-creates the counter in the same MULTI
    assert reader["a"] == 1 and counter(client, keyspace) >= SEED_LOW
    assert reader.last_synced == str(counter(client, keyspace))
    loads = []
    reader._load = lambda token: loads.append(token)
    reader.sync()
    assert loads == []  # the seeded counter ends the reloads


def test_a_counter_that_goes_back_never_lands_on_a_readers_token(client, keyspace):
    """A failover to a replica that missed writes, or a restart from an old
    snapshot, puts the counter back; the next changes must not reach the token a
    reader holds for the lost data (with steps of 1 they would)."""
    writer, reader = RedisDict(keyspace, client), RedisDict(keyspace, client, False)
    for attempt in range(20):
        writer["a"] = f"kept {attempt}"
        kept_token = client.get(keyspace + "last_updated")
        writer["a"] = "lost"
        reader.sync()
        assert reader["a"] == "lost"
        client.set(keyspace + "last_updated", kept_token)  # the store goes back
        client.hset(keyspace, "a", f'"kept {attempt}"')
        writer["a"] = f"new {attempt}"
        reader.sync()
        assert reader["a"] == f"new {attempt}"


def test_a_counter_near_overflow_or_garbage_is_reseeded(client, keyspace):
    d = RedisDict(keyspace, client)
    for bad in (2**62, 2**63 - 1, "not a number", "-5"):
        client.set(keyspace + "last_updated", bad)
        d["a"] = 1
        assert SEED_LOW <= counter(client, keyspace) < SEED_HIGH


def _text(value):
    return value.decode() if isinstance(value, bytes) else value
