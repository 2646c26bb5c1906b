"""RedisDict built from DURABLEDICTS entries, its configuration checks, import
without redis installed, and Redis Cluster slots."""

import subprocess
import sys

import pytest
import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot

from django_durabledict.backends.redis import RedisDict, recommended_client_options
from django_durabledict.encoding import JSONEncoding
from tests import servers
from tests.redis_helpers import drop, new_keyspace, start_cluster_node

BASE = {"AUTOSYNC": False, "ENCODING": JSONEncoding}


def shared_url():
    return "redis://{}:{}/0".format(*servers.address("redis"))


# -- import ----------------------------------------------------------------------


def test_importing_the_module_does_not_import_redis():
    code = (
        "import sys, django_durabledict.backends.redis as m; "
        "assert 'redis' not in sys.modules, 'redis imported'; "
        "assert m.RedisDict.config_keys"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_without_redis_installed_building_a_dict_says_what_to_install(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ImproperlyConfigured) as info:
        RedisDict("keyspace", object())
    assert str(info.value) == (
        "RedisDict needs redis: pip install django-durabledict[redis]"
    )
    assert info.value.__suppress_context__


# -- check_config ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({}, "exactly one of CONNECTION"),
        ({"CONNECTION": "redis", "LOCATION": "redis://h"}, "exactly one of"),
        ({"CONNECTION": "nope"}, "'nope' is not an alias in CACHES"),
        ({"CONNECTION": "default"}, "must be a django-redis cache"),
        ({"LOCATION": "127.0.0.1:6379"}, "must be a redis://"),
        ({"LOCATION": "redis://h", "KEYSPACE": ""}, "KEYSPACE must be a non-empty"),
    ],
)
def test_check_config_names_each_problem(entry, problem):
    problems = RedisDict.check_config("flags", {**BASE, **entry})
    assert any(problem in sentence for sentence in problems), problems
    assert all(sentence.endswith(".") for sentence in problems)


@pytest.mark.parametrize(
    "entry",
    [
        {"LOCATION": "redis://127.0.0.1:6379/0"},
        {"LOCATION": "unix:///run/redis.sock", "KEYSPACE": "x"},
        {"CONNECTION": "redis"},
    ],
)
def test_check_config_accepts_good_entries(entry, settings):
    settings.CACHES = {
        **settings.CACHES,
        "redis": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://"},
    }
    assert RedisDict.check_config("flags", {**BASE, **entry}) == []


# -- from_config ---------------------------------------------------------------------


def test_from_config_refuses_a_bad_entry_with_the_check_sentences():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match=r"DURABLEDICTS\['flags'\]: Give"):
        RedisDict.from_config("flags", BASE)


@pytest.mark.services("redis")
def test_from_config_location_owns_a_client_with_the_recommended_options():
    name = new_keyspace("flags")
    d = RedisDict.from_config(name, {**BASE, "LOCATION": shared_url()})
    try:
        assert d.keyspace == f"durabledict:{name}" and d.name == name
        assert d.autosync is False and d.encoding is JSONEncoding
        kwargs = d.connection.connection_pool.connection_kwargs
        assert kwargs["socket_timeout"] == 0.5
        assert kwargs["socket_connect_timeout"] == 0.5
        assert kwargs["health_check_interval"] == 15
        assert kwargs["retry"].get_retries() == 1
        d["a"] = 1
        assert d.connection.hget(d.keyspace, "a") in ("1", b"1")
    finally:
        drop(d.connection, d.keyspace)
        d.close()


@pytest.mark.services("redis")
def test_from_config_url_parameters_win_and_options_reach_the_constructor():
    keyspace = new_keyspace()
    entry = {
        **BASE,
        "LOCATION": shared_url() + "?socket_timeout=2",
        "KEYSPACE": keyspace,
        "DEFAULTS": {"limit": 5},
        "OPTIONS": {"counter_key": keyspace + ":version"},
    }
    d = RedisDict.from_config("flags", entry)
    try:
        assert d.connection.connection_pool.connection_kwargs["socket_timeout"] == 2
        assert d.counter_key == keyspace + ":version" and d["limit"] == 5
    finally:
        d.connection.delete(keyspace + ":version")
        d.close()


@pytest.mark.services("redis")
def test_from_config_connection_shares_the_django_redis_client():
    from django_redis import get_redis_connection

    keyspace = new_keyspace()
    d = RedisDict.from_config(
        "flags", {**BASE, "CONNECTION": "redis", "KEYSPACE": keyspace}
    )
    assert d.connection is get_redis_connection("redis")
    d["a"] = 1
    d.close()  # not ours to close: the cache keeps using it
    assert d.connection.hget(keyspace, "a") == b"1"
    drop(d.connection, keyspace)


@pytest.mark.services("redis")
def test_recommended_options_through_a_django_redis_cache(settings):
    settings.CACHES = {
        **settings.CACHES,
        "durable": {
            "BACKEND": "django_redis.cache.RedisCache",
            # django-redis keeps one pool per URL for the whole process, made with
            # the options of the first alias that used it: a URL of its own here.
            "LOCATION": shared_url() + "?db=0",
            "OPTIONS": {"CONNECTION_POOL_KWARGS": recommended_client_options()},
        },
    }
    keyspace = new_keyspace()
    entry = {**BASE, "CONNECTION": "durable", "KEYSPACE": keyspace}
    d = RedisDict.from_config("flags", entry)
    kwargs = d.connection.connection_pool.connection_kwargs
    assert (kwargs["socket_timeout"], kwargs["health_check_interval"]) == (0.5, 15)
    assert kwargs["retry"].get_retries() == 1
    drop(d.connection, keyspace)


@pytest.mark.services("redis-server")
def test_close_disconnects_a_client_made_from_location():
    with servers.start_redis() as server:
        admin = redis.Redis(host=server.host, port=server.port)
        url = f"redis://{server.address}/0"
        d = RedisDict.from_config("flags", {**BASE, "LOCATION": url})
        d["a"] = 1
        assert admin.info("clients")["connected_clients"] == 2
        d.close()
        assert servers.wait_until(
            lambda: admin.info("clients")["connected_clients"] == 1, 10
        )
        admin.close()


# -- Redis Cluster -----------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster():
    if not servers.have("redis-server"):
        pytest.skip("redis-server is not installed")
    server = start_cluster_node()
    client = RedisCluster(host=server.host, port=server.port, decode_responses=True)
    yield client
    client.close()
    server.stop()


@pytest.mark.services("redis-server")
def test_cluster_refuses_a_hash_and_counter_in_two_slots(cluster):
    hash_slot, counter_slot = key_slot(b"plain"), key_slot(b"plainlast_updated")
    assert hash_slot != counter_slot
    with pytest.raises(ValueError, match=rf"\({hash_slot}, {counter_slot}, \d+\)"):
        RedisDict("plain", cluster)
    with pytest.raises(ValueError, match="hash tag"):
        RedisDict("{plain}", cluster, counter_key="plain:version")


@pytest.mark.services("redis-server")
def test_cluster_with_a_hash_tag(cluster):
    keyspace = "{" + new_keyspace() + "}"
    assert key_slot(keyspace.encode()) == key_slot(f"{keyspace}last_updated".encode())
    writer, reader = RedisDict(keyspace, cluster), RedisDict(keyspace, cluster, False)
    writer["a"] = 1
    assert writer.setdefault("a", 2) == 1
    reader.sync()
    assert reader == {"a": 1}
    cluster.delete(keyspace + "last_updated")
    reader.sync()  # reloads and re-creates the counter in one MULTI
    assert int(cluster.get(keyspace + "last_updated")) >= 2**32
    assert writer.pop("a") == 1
    reader.sync()
    assert reader == {}
